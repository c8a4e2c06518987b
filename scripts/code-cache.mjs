// `npm run build`, last step: V8's code cache for the CLI bundle (see bin/cli-loader.mjs).
import { writeFileSync } from 'node:fs';
import { cacheFile, loadCli } from '../bin/cli-loader.mjs';

const { script } = loadCli(undefined);
writeFileSync(cacheFile, script.createCachedData());
