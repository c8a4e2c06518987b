// `npm run build`, last step: V8's code cache for the CLI bundle (see bin/cli-loader.cjs).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { cacheFile, loadCli } = createRequire(import.meta.url)('../bin/cli-loader.cjs');
const { script } = loadCli(false);
writeFileSync(cacheFile, script.createCachedData());
