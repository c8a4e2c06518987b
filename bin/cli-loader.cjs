// Loads the CLI bundle (dist/cli/git-midx.cjs, one file: loading one file instead of ~30 saves
// start-up time on every call) through V8's code cache (dist/cli/git-midx.cache, made by
// `npm run build`): compiling the bundle from scratch is most of what a short command costs after
// Node's own start-up. A missing or rejected cache (another Node version) only costs that time.
// CommonJS on purpose (bin/package.json): an ES module entry point costs several milliseconds of
// module loading per call, most of it before the first line of the CLI runs.
//
// The read-only commands also have bundles of their own (dist/cli/git-midx-<command>.cjs, from
// src/cli/bundles/): reading and deserializing a bundle and its cache takes time in proportion to
// their size, and a one-object `cat-file` needs about half of the CLI. `runCli` picks one by the
// command line; the whole CLI serves anything else, and whatever a bundle of one command declines.
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const vm = require('node:vm');

const dist = join(__dirname, '..', 'dist', 'cli');
const bundleFile = join(dist, 'git-midx.cjs');
const cacheFile = join(dist, 'git-midx.cache');

/** The commands that have a bundle of their own (src/cli/bundles/<command>.ts). */
const OWN_BUNDLES = ['cat-file', 'verify', 'lookup', 'show', 'rev-list'];

/** The bundle and code cache files of `command`'s own bundle, or of the whole CLI. */
function filesOf(command) {
  if (command === undefined) return { bundleFile, cacheFile };
  return { bundleFile: join(dist, `git-midx-${command}.cjs`), cacheFile: join(dist, `git-midx-${command}.cache`) };
}

/**
 * Compiles a bundle (through its code cache unless `useCache` is false) and runs its top level;
 * returns its exports and the script. `command` names a bundle of one command; by default, the
 * whole CLI.
 */
function loadCli(useCache = true, command = undefined) {
  const files = filesOf(command);
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(files.cacheFile);
    } catch {
      // no cache: compile from source
    }
  }
  const source = readFileSync(files.bundleFile, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: files.bundleFile,
    cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, require, module, files.bundleFile, dist);
  return { cli: module.exports, script };
}

/**
 * The command `argv` names, as the CLI's own parser finds it (src/cli/options.ts): the first word
 * that is not an option, `--object-dir` and `--git-dir` taking the next word as their value.
 * Undefined when in doubt (`--`): the whole CLI then decides.
 */
function commandOf(argv) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return undefined;
    if (a === '--object-dir' || a === '--git-dir') i++;
    else if (a === '-' || !a.startsWith('-')) return a;
  }
  return undefined;
}

/** Runs the process's command line: in the command's own bundle if it has one, else the whole CLI. */
async function runCli() {
  const command = commandOf(process.argv.slice(2));
  if (command !== undefined && OWN_BUNDLES.includes(command)) {
    let own;
    try {
      own = loadCli(true, command);
    } catch (e) {
      // Not built (a partial build): the whole CLI has every command.
      if (e?.code !== 'ENOENT') throw e;
    }
    if (own !== undefined && (await own.cli.run()) !== false) return;
  }
  await loadCli().cli.run();
}

module.exports = { bundleFile, cacheFile, OWN_BUNDLES, commandOf, filesOf, loadCli, runCli };
