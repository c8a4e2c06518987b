// Loads the CLI bundle (dist/cli/git-midx.cjs, one file: loading one file instead of ~30 saves
// start-up time on every call) through V8's code cache (dist/cli/git-midx.cache, made by
// `npm run build`): compiling the bundle from scratch is most of what a short command costs after
// Node's own start-up. A missing or rejected cache (another Node version) only costs that time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli');
export const bundleFile = join(dist, 'git-midx.cjs');
export const cacheFile = join(dist, 'git-midx.cache');

/** Compiles the bundle (with `cachedData` when given) and runs its top level; returns its exports and the script. */
export function loadCli(cachedData) {
  const source = readFileSync(bundleFile, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundleFile,
    cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundleFile), module, bundleFile, dist);
  return { cli: module.exports, script };
}
