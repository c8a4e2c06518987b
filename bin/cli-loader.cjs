// Loads the CLI bundle (dist/cli/git-midx.cjs, one file: loading one file instead of ~30 saves
// start-up time on every call) through V8's code cache (dist/cli/git-midx.cache, made by
// `npm run build`): compiling the bundle from scratch is most of what a short command costs after
// Node's own start-up. A missing or rejected cache (another Node version) only costs that time.
// CommonJS on purpose (bin/package.json): an ES module entry point costs several milliseconds of
// module loading per call, most of it before the first line of the CLI runs.
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const vm = require('node:vm');

const dist = join(__dirname, '..', 'dist', 'cli');
const bundleFile = join(dist, 'git-midx.cjs');
const cacheFile = join(dist, 'git-midx.cache');

/**
 * Compiles the bundle (through the code cache unless `useCache` is false) and runs its top level;
 * returns its exports and the script.
 */
function loadCli(useCache = true) {
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // no cache: compile from source
    }
  }
  const source = readFileSync(bundleFile, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundleFile,
    cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, require, module, bundleFile, dist);
  return { cli: module.exports, script };
}

module.exports = { bundleFile, cacheFile, loadCli };
