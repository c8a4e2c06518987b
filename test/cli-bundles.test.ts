/**
 * The CLI's bundles (bin/cli-loader.cjs): a read-only command runs in a bundle of its own, and
 * answers exactly as the whole CLI does. Needs `dist/` (npm test builds first).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseCommon, simpleParse } from '../src/cli/options.js';
import { makeTempDir, removeDir, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');
const loader = createRequire(import.meta.url)(path.join(root, 'bin', 'cli-loader.cjs')) as {
  OWN_BUNDLES: string[];
  commandOf(argv: string[]): string | undefined;
  loadCli(
    useCache?: boolean,
    command?: string,
  ): { cli: { main(argv: string[], io: unknown): Promise<number> } };
};

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups) c();
});

describe('the command line is read the same way by the loader and by the CLI', () => {
  const samples: string[][] = [
    [],
    ['cat-file', '-p', 'HEAD'],
    ['--object-dir', 'objects', 'verify'],
    ['--object-dir=objects', 'verify'],
    ['--git-dir', 'x.git', '--no-progress', 'lookup', 'abcd'],
    ['--progress', 'show', '--json'],
    ['-h'],
    ['--', 'verify'],
    ['-', 'verify'],
    ['--object-dir', '--progress', 'verify'],
    ['--object-dir', 'objects', '--progress', 'rev-list', '--count', 'HEAD'],
    ['--bogus', 'verify'],
    ['write', '--bitmap'],
  ];
  for (const argv of samples) {
    test(JSON.stringify(argv), () => {
      let name: string | undefined;
      try {
        name = parseCommon(argv, true).rest[0];
      } catch {
        // A usage error: any bundle reports it as the whole CLI does (see the calls below).
        return;
      }
      const picked = loader.commandOf(argv);
      // The loader may decline (undefined: the whole CLI runs); when it picks, it picks the same.
      if (picked !== undefined) assert.equal(picked, name);
    });
  }
});

describe('simpleParse answers as parseArgs does, or leaves it to parseArgs', () => {
  const options = {
    'object-dir': { type: 'string' as const },
    progress: { type: 'boolean' as const },
    'no-progress': { type: 'boolean' as const },
    help: { type: 'boolean' as const, short: 'h' },
    'show-pretty': { type: 'boolean' as const, short: 'p' },
    'show-type': { type: 'boolean' as const, short: 't' },
    'max-object-size': { type: 'string' as const },
  };
  const samples: string[][] = [
    [],
    ['-p', 'HEAD'],
    ['HEAD', '-t'],
    ['-', '-p'],
    ['--progress', 'x', '--no-progress'],
    ['-h'],
    ['-pt', 'x'],
    ['--max-object-size', '10', 'x'],
    ['--max-object-size=10'],
    ['--', '-p'],
    ['-x'],
    ['--help=1'],
    ['-p', '-p', 'a', 'b'],
  ];
  for (const args of samples) {
    test(JSON.stringify(args), () => {
      const simple = simpleParse(args, options);
      if (simple === undefined) return;
      const full = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
      assert.deepEqual({ ...simple.values }, { ...full.values });
      assert.deepEqual(simple.positionals, full.positionals);
      assert.deepEqual(
        (simple.tokens ?? []).filter((t) => t.kind === 'option').map((t) => t.name),
        (full.tokens ?? []).filter((t) => t.kind === 'option').map((t) => t.name),
      );
    });
  }
  test('the simple forms are taken (no parseArgs for them)', () => {
    assert.notEqual(simpleParse(['-p', 'HEAD'], options), undefined);
    assert.notEqual(simpleParse(['--progress'], options), undefined);
    assert.equal(simpleParse(['-pt'], options), undefined);
    assert.equal(simpleParse(['--max-object-size', '1'], options), undefined);
  });
});

describe('a bundle of one command', () => {
  const r = TestRepo.create({ bare: false });
  cleanups.push(() => r.cleanup());
  r.commitFiles({ 'a.txt': 'one\n', 'b/c.txt': 'two\n' }, 'first');
  r.commitFiles({ 'a.txt': 'one\nmore\n' }, 'second');
  r.git(['tag', '-a', '-m', 'tag', 'v1']);
  r.git(['repack', '-adq']);
  r.git(['multi-pack-index', 'write']);
  const blob = r.gitText(['rev-parse', 'HEAD:a.txt']).trim();

  // The whole CLI, whatever the command: a script of our own, run as bin/git-midx is.
  const scratch = makeTempDir();
  cleanups.push(() => removeDir(scratch));
  const whole = path.join(scratch, 'whole.cjs');
  writeFileSync(
    whole,
    `require(${JSON.stringify(path.join(root, 'bin', 'cli-loader.cjs'))}).loadCli().cli.run();\n`,
  );

  const calls: string[][] = [
    ['cat-file', '-p', 'HEAD'],
    ['cat-file', '-t', 'HEAD^{tree}'],
    ['cat-file', '-s', blob],
    ['cat-file', '-p', 'nonsense'],
    ['cat-file', '--batch-check', '--batch-all-objects'],
    ['cat-file', '-x'],
    ['verify'],
    ['--object-dir', '.git/objects', 'verify'],
    ['lookup', blob, '0000'],
    ['show'],
    ['show', '--json'],
    ['rev-list', '--count', '--objects', '--all'],
    ['rev-list', '--count', 'v1', '^HEAD~1'],
    ['rev-list', '-h'],
    ['--bogus', 'verify'],
    ['--object-dir', '--progress', 'verify'],
    ['--version'],
  ];
  for (const args of calls) {
    test(`${args.join(' ')}: as the whole CLI answers`, () => {
      const run = (cmd: string[]) =>
        spawnSync(process.execPath, cmd, { cwd: r.dir, env: r.env, encoding: 'utf8' });
      const own = run([bin, ...args]);
      const all = run([whole, ...args]);
      assert.equal(own.stderr, all.stderr);
      assert.equal(own.stdout, all.stdout);
      assert.equal(own.status, all.status);
    });
  }

  test('declines a command it does not hold, having done nothing', async () => {
    for (const command of loader.OWN_BUNDLES) {
      const { cli } = loader.loadCli(true, command);
      const other = command === 'verify' ? 'show' : 'verify';
      const out: string[] = [];
      const io = {
        stdout: (s: string) => out.push(s),
        stderr: (s: string) => out.push(s),
        cwd: r.dir,
        env: r.env,
      };
      await assert.rejects(cli.main([other], io), (e: { command?: string }) => e.command === other);
      await assert.rejects(cli.main(['write'], io), (e: { command?: string }) => e.command === 'write');
      assert.deepEqual(out, []);
    }
  });
});
