// `npm run build`, last step: V8's code cache for the CLI bundle (see bin/cli-loader.cjs).
//
// The cache holds the bytecode of every function compiled when it is made. Made right after
// loading, that is only the bundle's top level; so the one-object commands are run first on a small
// repository (made with git, in a temporary directory, when git is there), and their functions
// are in the cache too: a short command then compiles nothing lazily (about 5 ms less per call);
// so are `write` (with `--bitmap` too), `verify`, `repack`, `expire`, `rev-list` and the batch
// forms of `cat-file`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { OWN_BUNDLES, filesOf, loadCli } = createRequire(import.meta.url)('../bin/cli-loader.cjs');
// The whole CLI, warmed with every command, then each bundle of one command with its own.
for (const command of [undefined, ...OWN_BUNDLES]) {
  const { cli, script } = loadCli(false, command);
  try {
    await warmUp(cli, command);
  } catch {
    // No git, or anything else: the cache holds the top level only.
  }
  writeFileSync(filesOf(command).cacheFile, script.createCachedData());
}

/** Runs `command`'s calls below (all of them without one) on a small repository made with git. */
async function warmUp(cli, command) {
  const home = process.cwd();
  const dir = mkdtempSync(join(tmpdir(), 'git-midx-cache-'));
  try {
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: join(dir, 'no-config'),
      GIT_AUTHOR_NAME: 'Build',
      GIT_AUTHOR_EMAIL: 'build@example.com',
      GIT_COMMITTER_NAME: 'Build',
      GIT_COMMITTER_EMAIL: 'build@example.com',
      GIT_AUTHOR_DATE: '2005-04-07T22:13:13Z',
      GIT_COMMITTER_DATE: '2005-04-07T22:13:13Z',
      LC_ALL: 'C',
    };
    const git = (...args) =>
      execFileSync('git', ['-c', 'gc.auto=0', ...args], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim();
    git('init', '-q', '.');
    writeFileSync(join(dir, 'a.txt'), 'line\n'.repeat(200));
    git('add', 'a.txt');
    git('commit', '-qm', 'one');
    writeFileSync(join(dir, 'a.txt'), `${'line\n'.repeat(200)}more\n`);
    git('commit', '-qam', 'two');
    git('tag', '-a', '-m', 'tag', 'v1');
    git('repack', '-adq');
    git('multi-pack-index', 'write');
    const blob = git('rev-parse', 'HEAD:a.txt');
    // The commands resolve the repository's paths against the process's directory, as the CLI
    // does: run them from inside the temporary repository, never from the one being built.
    process.chdir(dir);
    const io = { ...cli.nodeIO(), stdout() {}, stderr() {}, cwd: dir, env, inlineWrite: () => true };
    const lines = Buffer.from(`${blob}\nHEAD\nHEAD^{tree}\nv1\nmissing\n`);
    // Without a stdinSource, a command reads its whole input from readStdinBytes.
    const batchIO = {
      ...io,
      stdinSource: undefined,
      readStdinBytes: () => lines,
      readStdin: () => lines.toString(),
    };
    const mine = (name) => command === undefined || command === name;
    if (mine('cat-file')) {
      for (const mode of ['--batch-check', '--batch']) await cli.main(['cat-file', mode], batchIO);
    }
    for (const args of [
      ['write'],
      ['verify'],
      ['cat-file', '-t', blob],
      ['cat-file', '-s', blob],
      ['cat-file', '-e', blob],
      ['cat-file', '-p', blob],
      ['cat-file', '-p', 'HEAD'],
      ['cat-file', '-p', 'HEAD^{tree}'],
      ['cat-file', '-p', 'v1'],
      ['lookup', blob],
      ['show'],
      ['rev-list', '--count', '--objects', '--all'],
      ['cat-file', '--batch-check=%(objectname) %(objectsize:disk) %(deltabase)', '--batch-all-objects'],
      ['cat-file', '--batch', '--batch-all-objects'],
      ['write', '--bitmap'],
      ['rev-list', '--count', '--objects', '--use-bitmap-index', '--all'],
      ['verify'],
      ['repack', '--batch-size=0'],
      ['expire'],
    ]) {
      if (mine(args[0])) await cli.main(args, io);
    }
    // A bare repository (what servers hold) is found by another path of the discovery.
    git('clone', '-q', '--bare', '.', 'bare.git');
    const bare = join(dir, 'bare.git');
    process.chdir(bare);
    const bareIO = { ...io, cwd: bare };
    for (const args of [
      ['cat-file', '-t', 'HEAD'],
      ['cat-file', '-p', 'HEAD'],
      ['cat-file', '-p', 'HEAD^{tree}'],
      ['verify'],
      ['lookup', blob],
      ['show'],
      ['rev-list', '--count', '--objects', '--all'],
    ]) {
      if (mine(args[0])) await cli.main(args, bareIO);
    }
  } finally {
    process.chdir(home);
    rmSync(dir, { recursive: true, force: true });
  }
}
