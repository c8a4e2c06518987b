/**
 * The command line, as a user runs it: spawned processes, Git's messages and exit codes, and
 * `git midx` through PATH. Needs `dist/` (npm test builds first).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function newRepo(format: 'sha1' | 'sha256' = 'sha1', bare = false): TestRepo {
  const r = TestRepo.create({ objectFormat: format, bare });
  repos.push(r);
  return r;
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function cli(
  r: TestRepo,
  args: string[],
  opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Run {
  const res = spawnSync(bin, args, {
    cwd: opts.cwd ?? r.dir,
    env: opts.env ?? r.env,
    input: opts.input ?? '',
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return { status: res.status ?? 128 + 1, stdout: res.stdout, stderr: res.stderr };
}

function assertNoStack(r: Run): void {
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:|node:internal/, `no stack trace: ${r.stderr}`);
}

describe('cli', () => {
  test('--version and `version` print the package version, exit 0', () => {
    const r = newRepo();
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    for (const args of [['--version'], ['version']]) {
      const run = cli(r, args);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, `git-midx version ${pkg.version}\n`);
    }
  });

  test('write from a subdirectory finds the repository and matches git byte for byte', () => {
    for (const format of ['sha1', 'sha256'] as const) {
      const r = newRepo(format);
      makeManyPacks(r, 5, 10, { duplicateEvery: 3 });
      r.git(['multi-pack-index', 'write']);
      const gitBytes = r.readMidx()!;
      fs.rmSync(r.midxPath);
      const sub = path.join(r.dir, 'a', 'b');
      fs.mkdirSync(sub, { recursive: true });
      const w = cli(r, ['write'], { cwd: sub });
      assert.equal(w.status, 0, w.stderr);
      assert.equal(w.stdout, '');
      assert.equal(w.stderr, '');
      assert.ok(r.readMidx()!.equals(gitBytes));
    }
  });

  test('--object-dir, before or after the subcommand, and `git midx` through PATH', () => {
    const r = newRepo('sha1', true);
    makeManyPacks(r, 3, 4);
    const other = fs.mkdtempSync(path.join(r.dir, 'elsewhere-'));
    const w1 = cli(r, [`--object-dir=${r.objectDir}`, 'write'], { cwd: other });
    assert.equal(w1.status, 0, w1.stderr);
    const bytes = r.readMidx()!;
    fs.rmSync(r.midxPath);
    const w2 = cli(r, ['write', '--object-dir', r.objectDir], { cwd: other });
    assert.equal(w2.status, 0, w2.stderr);
    assert.ok(r.readMidx()!.equals(bytes));
    fs.rmSync(r.midxPath);
    const env = { ...r.env, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH}` };
    const g = spawnSync('git', ['midx', 'write'], { cwd: r.dir, env, encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    assert.ok(r.readMidx()!.equals(bytes));
  });

  test('show and show --json report what the file holds', () => {
    const r = newRepo('sha256');
    const { stems } = makeManyPacks(r, 3, 5);
    r.git(['multi-pack-index', 'write']);
    const s = cli(r, ['show']);
    assert.equal(s.status, 0, s.stderr);
    const lines = s.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'header: 4d494458 1 2 4 3');
    assert.equal(lines[1], 'chunks: pack-names oid-fanout oid-lookup object-offsets');
    assert.equal(lines[2], 'num_objects: 15');
    assert.equal(lines[3], 'packs:');
    assert.deepEqual(lines.slice(4, 7), stems.map((s) => `${s}.idx`).sort());
    assert.equal(lines[7], 'object-dir: .git/objects');
    const j = cli(r, ['show', '--json']);
    assert.equal(j.status, 0, j.stderr);
    const info = JSON.parse(j.stdout);
    assert.equal(info.numObjects, 15);
    assert.equal(info.hash, 'sha256');
    assert.deepEqual(
      info.chunks.map((c: { id: string }) => c.id),
      ['PNAM', 'OIDF', 'OIDL', 'OOFF'],
    );
    const size = fs.statSync(r.midxPath).size;
    assert.equal(info.fileSize, size);
    const last = info.chunks[3];
    assert.equal(last.offset + last.size, size - 32);
    assert.equal(
      info.checksum,
      r
        .readMidx()!
        .subarray(size - 32)
        .toString('hex'),
    );
  });

  test('lookup by arguments and from stdin agrees with git show-index; misses say missing', () => {
    const r = newRepo('sha1');
    const { oids } = makeManyPacks(r, 4, 6);
    r.git(['multi-pack-index', 'write']);
    const missing = 'f'.repeat(40);
    const byArgs = cli(r, ['lookup', oids[0], missing]);
    assert.equal(byArgs.status, 0, byArgs.stderr);
    const [hit, miss] = byArgs.stdout.trimEnd().split('\n');
    assert.equal(miss, `${missing} missing`);
    const [oid, pack, offset] = hit.split(' ');
    assert.equal(oid, oids[0]);
    const idx = fs.readFileSync(path.join(r.packDir, pack));
    const shown = r.git(['show-index'], { input: idx }).stdout.toString();
    assert.match(shown, new RegExp(`^${offset} ${oid} `, 'm'));
    const byStdin = cli(r, ['lookup', '--stdin'], { input: `${oids.join('\n')}\n` });
    assert.equal(byStdin.status, 0);
    const out = byStdin.stdout.trimEnd().split('\n');
    assert.equal(out.length, oids.length);
    out.forEach((l, i) => {
      assert.match(l, new RegExp(`^${oids[i]} pack-[0-9a-f]{40}\\.idx \\d+$`));
    });
    // CRLF, an empty line, a short one, and a last line without its newline.
    const odd = cli(r, ['lookup', '--stdin'], { input: `${oids[0]}\r\n\nabc\n${oids[1]}` });
    assert.equal(odd.status, 0, odd.stderr);
    const oddLines = odd.stdout.split('\n');
    assert.equal(oddLines.length, 5);
    assert.equal(oddLines[0], out[0]);
    assert.deepEqual(oddLines.slice(1, 3), [' missing', 'abc missing']);
    assert.equal(oddLines[3], out[1]);
    assert.equal(oddLines[4], '');
  });

  test('lookup resolves abbreviations in the MIDX as cat-file does, and rejects names that are not hex', () => {
    for (const format of ['sha1', 'sha256'] as const) {
      const r = newRepo(format);
      const { oids } = makeManyPacks(r, 3, 300);
      r.git(['multi-pack-index', 'write']);
      const full = cli(r, ['lookup', oids[7]]);
      assert.equal(full.status, 0, full.stderr);
      // A unique abbreviation answers under the full id, as git's batch modes name it.
      const abbrev = oids[7].slice(0, 12);
      const run = cli(r, ['lookup', abbrev, abbrev.toUpperCase()]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, full.stdout + full.stdout);
      // Two ids sharing their first 4 digits (900 ids: some do): ambiguous, as git says.
      const sorted = [...oids].sort();
      const i = sorted.findIndex((o, k) => k > 0 && o.slice(0, 4) === sorted[k - 1].slice(0, 4));
      assert.ok(i > 0, 'two ids share 4 digits');
      const short = sorted[i].slice(0, 4);
      const gitSays = r.git(['cat-file', '--batch-check'], { input: `${short}\n` }).stdout.toString();
      assert.equal(gitSays, `${short} ambiguous\n`);
      const amb = cli(r, ['lookup', '--stdin'], { input: `${short}\nzzzz\n${'0'.repeat(r.hexLength)}\n` });
      assert.equal(amb.stdout, `${short} ambiguous\nzzzz missing\n${'0'.repeat(r.hexLength)} missing\n`);
      // On the command line a name that cannot be an id is fatal, as git's object names are.
      for (const bad of ['zzzz', 'abc', '0'.repeat(r.hexLength + 1)]) {
        const b = cli(r, ['lookup', bad]);
        assert.equal(b.status, 128, bad);
        assert.equal(b.stderr, `fatal: Not a valid object name ${bad}\n`);
      }
    }
  });

  test('-h on every command prints its usage and options in git’s layout, exit 129', () => {
    const r = newRepo();
    const want: Record<string, string[]> = {
      write: ['--preferred-pack <preferred-pack>', '--stdin-packs'],
      verify: [],
      expire: ['--dry-run'],
      repack: ['--batch-size <n>', '--dry-run'],
      show: ['--json'],
      lookup: ['--stdin'],
      'cat-file': [
        '-e',
        '-p',
        '-t',
        '-s',
        '--batch[=<format>]',
        '--batch-check[=<format>]',
        '-z',
        '--max-object-size <n>',
      ],
    };
    for (const [cmd, flags] of Object.entries(want)) {
      const run = cli(r, [cmd, '-h']);
      assert.equal(run.status, 129, cmd);
      assert.match(
        run.stdout,
        new RegExp(`^usage: git-midx \\[<options>\\] ${cmd.replace('-', '\\-')}`),
        cmd,
      );
      for (const f of ['--object-dir <directory>', '--[no-]progress', ...flags]) {
        // Git's layout: four spaces, the option, its text from column 26 or on the next line.
        const esc = f.replace(/[[\]]/g, '\\$&');
        assert.match(run.stdout, new RegExp(`^    ${esc}(?: {2,}\\S|\\n {26}\\S)`, 'm'), `${cmd}: ${f}`);
      }
    }
  });

  test('`git midx --help` opens the man page the package installs (package.json "man")', {
    skip: spawnSync('man', ['--version']).status === 0 ? false : 'no man(1) on this machine',
  }, () => {
    const r = newRepo();
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.man, ['./man/git-midx.1']);
    // What `npm install -g` does: the page linked into <prefix>/share/man/man1.
    const manDir = path.join(r.scratchDir(), 'man');
    fs.mkdirSync(path.join(manDir, 'man1'), { recursive: true });
    fs.symlinkSync(path.join(root, 'man', 'git-midx.1'), path.join(manDir, 'man1', 'git-midx.1'));
    const run = spawnSync('git', ['midx', '--help'], {
      cwd: r.dir,
      env: {
        ...r.env,
        PATH: `${path.join(root, 'bin')}:${process.env.PATH}`,
        MANPATH: manDir,
        MANPAGER: 'cat',
        PAGER: 'cat',
        MANWIDTH: '100',
      },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /GIT-MIDX\(1\)/);
    for (const cmd of ['write', 'verify', 'expire', 'repack', 'show', 'lookup', 'cat-file']) {
      assert.match(run.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), `the page documents ${cmd}`);
    }
  });

  test('usage errors exit 129 with git-style messages', () => {
    const r = newRepo();
    const none = cli(r, []);
    assert.equal(none.status, 129);
    assert.match(none.stderr, /^error: need a subcommand\nusage: git-midx/);
    const unknown = cli(r, ['frobnicate']);
    assert.equal(unknown.status, 129);
    assert.match(unknown.stderr, /^error: unknown subcommand: `frobnicate'/);
    const opt = cli(r, ['write', '--bogus']);
    assert.equal(opt.status, 129);
    assert.match(opt.stderr, /^error: unknown option `bogus'/);
    const both = cli(r, ['lookup']);
    assert.equal(both.status, 129);
    for (const x of [none, unknown, opt, both]) assertNoStack(x);
  });

  test('errors: no packs, no repository, a corrupt MIDX — one clear line, Git exit codes', () => {
    const r = newRepo();
    const np = cli(r, ['write']);
    assert.equal(np.status, 1);
    assert.equal(np.stderr, 'error: no pack files to index.\n');
    const g = r.git(['multi-pack-index', 'write'], { allowFail: true });
    assert.equal(g.stderr, np.stderr);
    assert.equal(g.status, np.status);

    const outside = fs.mkdtempSync(path.join(path.dirname(r.dir), 'norepo-'));
    const env = { ...r.env, GIT_CEILING_DIRECTORIES: path.dirname(outside) };
    const nr = cli(r, ['show'], { cwd: outside, env });
    assert.equal(nr.status, 128);
    assert.equal(nr.stderr, 'fatal: not a git repository (or any of the parent directories): .git\n');
    fs.rmSync(outside, { recursive: true });

    makeManyPacks(r, 2, 3);
    r.git(['multi-pack-index', 'write']);
    const good = r.readMidx()!;
    const bad = Buffer.from(good);
    bad[0] = 0;
    fs.writeFileSync(r.midxPath, bad);
    for (const cmd of [['show'], ['lookup', '0'.repeat(40)]]) {
      const s = cli(r, cmd);
      assert.equal(s.status, 128);
      assert.equal(
        s.stderr,
        'fatal: multi-pack-index signature 0x00494458 does not match signature 0x4d494458\n',
      );
    }
    bad[0] = good[0];
    bad[5] = 3;
    fs.writeFileSync(r.midxPath, bad);
    const hv = cli(r, ['show']);
    assert.equal(hv.status, 1);
    assert.equal(hv.stderr, 'error: multi-pack-index hash version 3 does not match version 1\n');
    fs.writeFileSync(r.midxPath, good.subarray(0, 31));
    const small = cli(r, ['show']);
    assert.equal(small.status, 1);
    assert.equal(
      small.stderr,
      'error: multi-pack-index file .git/objects/pack/multi-pack-index is too small\n',
    );
  });

  test('--progress prints Git-style meters on stderr; none by default when not a terminal', () => {
    const r = newRepo();
    makeManyPacks(r, 3, 3);
    const quiet = cli(r, ['write']);
    assert.equal(quiet.stderr, '');
    fs.rmSync(r.midxPath);
    const env = { ...r.env, GIT_PROGRESS_DELAY: '0' };
    const p = cli(r, ['write', '--progress'], { env });
    assert.equal(p.status, 0);
    const g = spawnSync('git', ['multi-pack-index', 'write', '--progress'], {
      cwd: r.dir,
      env,
      encoding: 'utf8',
    });
    // git found the MIDX we just wrote: same meter, same final line
    const lastLine = (s: string) =>
      s
        .split(/[\r\n]/)
        .filter(Boolean)
        .pop();
    assert.equal(lastLine(p.stderr), 'Adding packfiles to multi-pack-index: 3, done.');
    assert.equal(lastLine(p.stderr), lastLine(g.stderr));
  });
});
