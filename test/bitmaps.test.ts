/**
 * `write --bitmap`: the MIDX with its RIDX and BTMP chunks (byte-identical to current Git's on the
 * git-2.55 fixtures) and a reachability bitmap that git accepts: `rev-list --test-bitmap` on every
 * tip, and the same counts with and without `--use-bitmap-index`, SHA-1 and SHA-256, on histories
 * with merges, tags and several branches.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../src/bytes.js';
import { SHA1, SHA256 } from '../src/hash.js';
import { openReachBitmap } from '../src/node/bitmaps.js';
import { ObjectStore } from '../src/node/index.js';
import { openMidxFile } from '../src/node/midx.js';
import { type BitmapSettings, writeMidxBitmap } from '../src/node/midx-bitmap.js';
import { countReachable } from '../src/store/reach.js';
import { makeManyPacks, makeTempDir, removeDir, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');
const FIXTURES = path.resolve(root, '..', 'shared', 'fixtures', 'git-2.55');
const repos: TestRepo[] = [];
const temps: string[] = [];
after(() => {
  for (const r of repos) r.cleanup();
  for (const t of temps) removeDir(t);
});

function build(format: 'sha1' | 'sha256'): TestRepo {
  const r = TestRepo.create({ objectFormat: format });
  repos.push(r);
  let text = '';
  for (let i = 0; i < 40; i++) {
    text += `line ${i}\n`;
    r.commitFiles({ 'a.txt': text, [`d${i % 3}/f${i % 5}.txt`]: `${i}\n` }, `main ${i}`);
    if (i === 12) r.git(['tag', '-a', '-m', 'annotated', 'v1']);
    if (i === 15) r.git(['branch', 'side']);
    if (i === 20) r.git(['repack', '-dq']);
  }
  r.git(['checkout', '-q', 'side']);
  for (let i = 0; i < 6; i++) r.commitFiles({ [`side${i}.txt`]: `side ${i}\n` }, `side ${i}`);
  r.git(['tag', 'light-side']);
  r.git(['checkout', '-q', 'main']);
  r.git(['merge', '-q', '--no-ff', '-m', 'merge side', 'side']);
  r.git(['repack', '-dq']);
  r.commitFiles({ 'last.txt': 'last\n' }, 'last');
  r.git(['repack', '-dq']);
  return r;
}

for (const format of ['sha1', 'sha256'] as const) {
  test(`${format}: git accepts our MIDX bitmap (--test-bitmap on every tip, equal counts)`, () => {
    const r = build(format);
    execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: r.dir, env: r.env });
    const bitmaps = readdirSync(r.packDir).filter((f) => f.endsWith('.bitmap'));
    assert.equal(bitmaps.length, 1);
    assert.equal(r.git(['multi-pack-index', 'verify']).status, 0);
    for (const tip of ['main', 'side', 'v1^{}', 'HEAD~3']) {
      const t = r.git(['rev-list', '--test-bitmap', tip], { allowFail: true });
      if (tip === 'HEAD~3' && t.status !== 0) continue; // an untipped commit may have no bitmap
      assert.equal(t.status, 0, `${tip}: ${t.stderr}`);
      assert.match(t.stdout.toString() + t.stderr, /OK!/, tip);
    }
    for (const q of [['--all'], ['main'], ['side', '^v1'], ['HEAD~5..HEAD']]) {
      const plain = r.gitText(['rev-list', '--count', '--objects', ...q]);
      const bitmap = r.gitText(['rev-list', '--count', '--objects', '--use-bitmap-index', ...q]);
      assert.equal(bitmap, plain, q.join(' '));
    }
    // Our own count agrees.
    const ours = execFileSync(process.execPath, [bin, 'rev-list', '--count', '--objects', '--all'], {
      cwd: r.dir,
      env: r.env,
    });
    assert.equal(ours.toString().trim(), r.gitText(['rev-list', '--count', '--objects', '--all']));
  });
}

test('write --bitmap over an unchanged MIDX keeps its bitmap; a plain write drops it, as git does', () => {
  const r = TestRepo.create();
  repos.push(r);
  for (let i = 0; i < 4; i++) {
    r.commitFiles({ 'a.txt': `${i}\n` }, `c ${i}`);
    r.git(['repack', '-dq']);
  }
  const bitmaps = () => readdirSync(r.packDir).filter((f) => f.endsWith('.bitmap'));
  const ours = (...args: string[]) =>
    execFileSync(process.execPath, [bin, ...args], { cwd: r.dir, env: r.env });
  const gits = (...args: string[]) => r.git(['multi-pack-index', ...args]);
  for (const first of [ours, gits]) {
    for (const second of [ours, gits]) {
      rmSync(path.join(r.packDir, 'multi-pack-index'), { force: true });
      for (const b of bitmaps()) rmSync(path.join(r.packDir, b));
      first('write', '--bitmap');
      const made = bitmaps();
      assert.equal(made.length, 1);
      second('write', '--bitmap');
      assert.deepEqual(bitmaps(), made, 'kept by a second write --bitmap');
      second('write');
      assert.deepEqual(bitmaps(), [], 'dropped by a plain write');
    }
  }
});

/** A repository of `n` commits, one file each, repacked after each (one pack per commit). */
function onePackPerCommit(n: number): TestRepo {
  const r = TestRepo.create();
  repos.push(r);
  for (let i = 1; i <= n; i++) {
    r.commitFiles({ [`f${i}`]: `${i}\n` }, `c${i}`);
    r.git(['repack', '-dq']);
  }
  return r;
}

/** Our `write --bitmap` in `r`, as a user runs it. */
function oursWriteBitmap(r: TestRepo) {
  return spawnSync(process.execPath, [bin, 'write', '--bitmap'], {
    cwd: r.dir,
    env: r.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('a commit whose parent is stored as a blob: Git’s error lines and exit status', () => {
  const r = TestRepo.create();
  repos.push(r);
  for (let i = 1; i <= 3; i++) r.commitFiles({ [`f${i}`]: `${i}\n` }, `c${i}`);
  const [c1, c2, c3] = ['HEAD~2', 'HEAD~1', 'HEAD'].map((n) => r.gitText(['rev-parse', n]).trim());
  // One pack per commit; the middle commit is the first entry of its pack (offset 12).
  const pack = (input: string) =>
    r.gitText(['pack-objects', '--revs', '-q', path.join(r.packDir, 'pack')], input).trim();
  pack(`${c1}\n`);
  const middle = pack(`${c2}\n^${c1}\n`);
  pack(`${c3}\n^${c2}\n`);
  r.git(['prune-packed']);
  const file = path.join(r.packDir, `pack-${middle}.pack`);
  const bytes = readFileSync(file);
  assert.equal((bytes[12] >> 4) & 7, 1, 'a commit at offset 12');
  // The type bits say blob; the size and the rest stay as they were.
  bytes[12] = (bytes[12] & 0x8f) | (3 << 4);
  rmSync(file);
  writeFileSync(file, bytes);
  const ours = spawnSync(process.execPath, [bin, 'write', '--bitmap'], {
    cwd: r.dir,
    env: r.env,
    encoding: 'utf8',
  });
  const written = () =>
    readdirSync(r.packDir).filter(
      (f) => f.endsWith('.bitmap') || f.endsWith('.lock') || f.startsWith('multi-pack-index'),
    );
  // Nothing written: the bitmap is made before the MIDX would be put in place, as in Git.
  assert.deepEqual(written(), []);
  const git = r.git(['multi-pack-index', 'write', '--bitmap'], { allowFail: true });
  assert.equal(git.status, 128);
  assert.equal(ours.status, git.status);
  assert.equal(ours.stderr, git.stderr.toString());
  assert.match(
    ours.stderr,
    new RegExp(`^error: Object ${c2} not a commit\nfatal: Failed to traverse parents of commit ${c3}\n$`),
  );
  assert.deepEqual(written(), []);
});

test('write --bitmap with a pack that cannot be read: git’s lines and exit status, nothing written', () => {
  const r = onePackPerCommit(4);
  // The pack of the second commit becomes a FIFO: its commit is missing to both walks.
  const second = r.gitText(['rev-parse', 'HEAD~2']).trim();
  const idx = readdirSync(r.packDir)
    .filter((f) => f.endsWith('.idx'))
    .find((f) => r.gitText(['show-index'], readFileSync(path.join(r.packDir, f))).includes(second))!;
  const pack = path.join(r.packDir, idx.replace(/\.idx$/, '.pack'));
  rmSync(pack);
  execFileSync('mkfifo', [pack]);
  const written = () => readdirSync(r.packDir).filter((f) => f.startsWith('multi-pack-index'));
  const ours = oursWriteBitmap(r);
  assert.deepEqual(written(), []);
  const git = r.git(['multi-pack-index', 'write', '--bitmap'], { allowFail: true });
  assert.equal(git.status, 128);
  assert.equal(ours.status, git.status);
  assert.equal(ours.stderr, git.stderr.toString());
  assert.match(ours.stderr, /^fatal: Failed to traverse parents of commit [0-9a-f]{40}$/m);
  assert.deepEqual(written(), []);
});

test('write --bitmap over a MIDX one of whose packs cannot be loaded: current git’s error, exit 1, nothing changed', () => {
  const r = onePackPerCommit(3);
  r.git(['multi-pack-index', 'write', '--bitmap']);
  const names = () => readdirSync(r.packDir).filter((f) => f.startsWith('multi-pack-index'));
  const before = names();
  const midx = readFileSync(path.join(r.packDir, 'multi-pack-index'));
  const pack = path.join(r.packDir, readdirSync(r.packDir).find((f) => f.endsWith('.pack'))!);
  rmSync(pack);
  execFileSync('mkfifo', [pack]);
  const ours = oursWriteBitmap(r);
  // Git 2.39 loads every pack of the MIDX before it finds that nothing changed; current Git names
  // the pack's position in the message.
  const git = r.git(['multi-pack-index', 'write', '--bitmap'], { allowFail: true });
  assert.equal(git.status, 1);
  assert.equal(git.stderr.toString(), 'error: could not load pack\n');
  assert.equal(ours.status, 1);
  assert.match(ours.stderr, /^error: could not load pack \d+\n$/);
  assert.deepEqual(names(), before);
  assert.deepEqual(readFileSync(path.join(r.packDir, 'multi-pack-index')), midx);
});

test('plain write with nothing new over a MIDX and bitmap one of whose packs is a FIFO or gone: git’s fatal, the bitmap kept', () => {
  const r = onePackPerCommit(3);
  r.git(['multi-pack-index', 'write', '--bitmap']);
  const names = () => readdirSync(r.packDir).filter((f) => f.startsWith('multi-pack-index'));
  const before = names();
  assert.ok(before.some((f) => f.endsWith('.bitmap')));
  const idx = readdirSync(r.packDir).find((f) => f.endsWith('.idx'))!;
  const pack = path.join(r.packDir, idx.replace(/\.idx$/, '.pack'));
  const saved = readFileSync(pack);
  rmSync(pack);
  for (const fifo of [true, false]) {
    if (fifo) execFileSync('mkfifo', [pack]);
    // Git loads the bitmap to see whether it is there, which opens every pack of the MIDX.
    const git = r.git(['multi-pack-index', 'write'], { allowFail: true });
    const ours = spawnSync(process.execPath, [bin, 'write'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
    assert.equal(git.status, 128);
    assert.equal(git.stderr.toString(), `fatal: could not open pack ${idx}\n`);
    assert.equal(ours.status, git.status);
    assert.equal(ours.stderr, git.stderr.toString());
    assert.deepEqual(names(), before);
    if (fifo) rmSync(pack);
  }
  // With the pack back, a plain write drops the bitmap, as git's does.
  writeFileSync(pack, saved);
  const ours = spawnSync(process.execPath, [bin, 'write'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
  assert.equal(ours.status, 0, ours.stderr);
  assert.deepEqual(
    names().filter((f) => f.endsWith('.bitmap')),
    [],
  );
});

test('a ref whose commits are outside the MIDX (loose): the MIDX commits below them get bitmaps, as with git', () => {
  const r = TestRepo.create();
  repos.push(r);
  for (let i = 0; i < 5; i++) r.commitFiles({ 'a.txt': `${i}\n` }, `packed ${i}`);
  r.git(['repack', '-adq']);
  r.commitFiles({ 'b.txt': 'loose\n' }, 'loose 1');
  r.commitFiles({ 'b.txt': 'loose 2\n' }, 'loose 2');
  execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: r.dir, env: r.env });
  // HEAD and HEAD~1 are loose; HEAD~2, the newest packed commit, is the tip the bitmap covers.
  const t = r.git(['rev-list', '--test-bitmap', 'HEAD~2'], { allowFail: true });
  assert.equal(t.status, 0, t.stderr.toString());
  assert.match(t.stdout.toString() + t.stderr, /OK!/);
  const plain = r.gitText(['rev-list', '--count', '--objects', '--all']);
  assert.equal(r.gitText(['rev-list', '--count', '--objects', '--use-bitmap-index', '--all']), plain);
});

for (const format of ['sha1', 'sha256'] as const) {
  test(`${format}: write --incremental --bitmap: the layer's bitmaps cover what each tip reaches, across the chain`, () => {
    const r = build(format);
    execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: r.dir, env: r.env });
    for (let i = 0; i < 8; i++)
      r.commitFiles({ 'a.txt': `after ${i}\n`, [`n${i % 2}.txt`]: `${i}\n` }, `after ${i}`);
    r.git(['checkout', '-q', '-b', 'topic', 'HEAD~3']);
    r.commitFiles({ 'topic.txt': 'topic\n' }, 'topic');
    r.git(['checkout', '-q', 'main']);
    r.git(['repack', '-dq']);
    execFileSync(process.execPath, [bin, 'write', '--incremental', '--bitmap'], { cwd: r.dir, env: r.env });
    const chainDir = path.join(r.packDir, 'multi-pack-index.d');
    const layers = readFileSync(path.join(chainDir, 'multi-pack-index-chain'), 'utf8').trim().split('\n');
    assert.equal(layers.length, 2);
    for (const l of layers) assert.ok(existsSync(path.join(chainDir, `multi-pack-index-${l}.bitmap`)), l);
    const store = ObjectStore.open({ objectDir: r.objectDir });
    try {
      const bitmap = openReachBitmap(r.objectDir, store.hash);
      assert.ok(bitmap, 'the chain has bitmaps');
      for (const tip of ['main', 'topic', 'side']) {
        const id = fromHex(r.gitText(['rev-parse', tip]))!;
        const bits = bitmap.commitBitmap(id);
        assert.ok(bits, `${tip} has a bitmap`);
        const listed = r
          .gitText(['rev-list', '--objects', tip])
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => fromHex(l.slice(0, 2 * store.hash.size))!);
        assert.equal(bits.count(), listed.length, tip);
        for (const o of listed) assert.ok(bits.has(bitmap.positionOf(o)), tip);
        const walked = countReachable(store, { include: [id], exclude: [] });
        assert.deepEqual(countReachable(store, { include: [id], exclude: [] }, { bitmap }), walked, tip);
      }
    } finally {
      store.close();
    }
  });
}

test('write --incremental --bitmap over a layer without a reverse index: current Git’s error, exit 255, nothing written', () => {
  const r = TestRepo.create();
  repos.push(r);
  for (let i = 0; i < 3; i++) r.commitFiles({ 'a.txt': `${i}\n` }, `c${i}`);
  r.git(['repack', '-adq']);
  execFileSync(process.execPath, [bin, 'write'], { cwd: r.dir, env: r.env });
  const flat = readFileSync(path.join(r.packDir, 'multi-pack-index'));
  const checksum = flat.subarray(flat.length - 20).toString('hex');
  r.commitFiles({ 'b.txt': 'b\n' }, 'more');
  r.git(['repack', '-dq']);
  const before = readdirSync(r.packDir).sort();
  const w = spawnSync(process.execPath, [bin, 'write', '--incremental', '--bitmap'], {
    cwd: r.dir,
    env: r.env,
    encoding: 'utf8',
  });
  assert.equal(w.status, 255, w.stderr);
  assert.equal(w.stderr, `error: could not load reverse index for MIDX ${checksum}\n`);
  assert.deepEqual(readdirSync(r.packDir).sort(), before);
});

test('write --incremental --bitmap over a layer that has no bitmap: the layer, without one, and a warning', () => {
  const r = TestRepo.create();
  repos.push(r);
  for (let i = 0; i < 3; i++) r.commitFiles({ 'a.txt': `${i}\n` }, `c${i}`);
  r.git(['repack', '-adq']);
  execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: r.dir, env: r.env });
  const flatBitmap = readdirSync(r.packDir).find((f) => f.endsWith('.bitmap'))!;
  rmSync(path.join(r.packDir, flatBitmap));
  r.commitFiles({ 'b.txt': 'b\n' }, 'more');
  r.git(['repack', '-dq']);
  const w = spawnSync(process.execPath, [bin, 'write', '--incremental', '--bitmap'], {
    cwd: r.dir,
    env: r.env,
    encoding: 'utf8',
  });
  assert.equal(w.status, 0, w.stderr);
  assert.match(
    w.stderr,
    /^warning: multi-pack-index [0-9a-f]{40} has no bitmap: not writing one for the new layer\n$/,
  );
  const chainDir = path.join(r.packDir, 'multi-pack-index.d');
  assert.equal(readdirSync(chainDir).filter((f) => f.endsWith('.midx')).length, 2);
  assert.equal(readdirSync(chainDir).filter((f) => f.endsWith('.bitmap')).length, 0);
  // Counts come from the walk, and equal git's.
  const ours = execFileSync(process.execPath, [bin, 'rev-list', '--count', '--objects', '--all'], {
    cwd: r.dir,
    env: r.env,
  });
  assert.equal(ours.toString().trim(), r.gitText(['rev-list', '--count', '--objects', '--all']));
});

test('with --bitmap, the MIDX (RIDX and BTMP included) is byte-identical to current Git’s', {
  skip: !existsSync(FIXTURES),
}, () => {
  for (const algo of ['sha1', 'sha256']) {
    const dir = makeTempDir();
    temps.push(dir);
    execFileSync('tar', ['-xzf', path.join(FIXTURES, `flat-bitmap-${algo}`, 'repo.tar.gz'), '-C', dir]);
    const repo = path.join(dir, 'repo.git');
    const pack = path.join(repo, 'objects', 'pack');
    const git = readFileSync(path.join(pack, 'multi-pack-index'));
    for (const f of readdirSync(pack)) if (f.startsWith('multi-pack-index')) rmSync(path.join(pack, f));
    execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: repo });
    assert.ok(readFileSync(path.join(pack, 'multi-pack-index')).equals(git), algo);
    const t = spawnSync('git', ['rev-list', '--test-bitmap', 'HEAD'], { cwd: repo, encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
  }
});

for (const format of ['sha1', 'sha256'] as const) {
  test(`${format}: counts read from bitmaps (git's MIDX bitmap, ours, a pack's) equal the walk's and git's`, () => {
    const r = build(format);
    const queries: { include: string[]; exclude: string[] }[] = [
      { include: ['main', 'side', 'v1'], exclude: [] },
      { include: ['main'], exclude: ['side'] },
      { include: ['HEAD'], exclude: ['HEAD~6'] },
    ];
    const check = (label: string) => {
      const store = ObjectStore.open({ objectDir: r.objectDir });
      try {
        const bitmap = openReachBitmap(r.objectDir, store.hash);
        assert.ok(bitmap, `${label}: a bitmap`);
        const head = fromHex(r.gitText(['rev-parse', 'HEAD']))!;
        assert.ok(bitmap.commitBitmap(head) !== undefined, `${label}: HEAD has a bitmap`);
        for (const q of queries) {
          const ids = (revs: string[]) =>
            revs.map((x) => fromHex(r.gitText(['rev-parse', `${x}^{commit}`]))!);
          const query = { include: ids(q.include), exclude: ids(q.exclude) };
          const walked = countReachable(store, query);
          const read = countReachable(store, query, { bitmap });
          assert.deepEqual(read, walked, `${label}: ${JSON.stringify(q)}`);
          const git = r.gitText([
            'rev-list',
            '--count',
            '--objects',
            ...q.include.map((x) => `${x}^{commit}`),
            ...q.exclude.map((x) => `^${x}^{commit}`),
          ]);
          assert.equal(read.objects, Number(git), `${label}: ${JSON.stringify(q)}`);
        }
      } finally {
        store.close();
      }
    };
    r.git(['multi-pack-index', 'write', '--bitmap']);
    check("git's MIDX bitmap");
    for (const f of readdirSync(r.packDir))
      if (f.startsWith('multi-pack-index')) rmSync(path.join(r.packDir, f));
    execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: r.dir, env: r.env });
    check('our MIDX bitmap');
    for (const f of readdirSync(r.packDir))
      if (f.startsWith('multi-pack-index')) rmSync(path.join(r.packDir, f));
    r.git(['repack', '-adbq']);
    check("git's pack bitmap");
  });
}

/**
 * A history of 440 commits in three packs, made with fast-import: a main line, two branches merged
 * into it, an unmerged topic with old dates, annotated and lightweight tags, and commits that share
 * their committer date (ties decide the walk's order). More than 100 commits, so Git's selection
 * spaces its picks and prefers merges and `pack.preferBitmapTips` refs.
 */
function buildWide(format: 'sha1' | 'sha256'): TestRepo {
  const r = TestRepo.create({ objectFormat: format, bare: true });
  repos.push(r);
  let mark = 0;
  const marks = new Map<string, number>();
  const commit = (ref: string, name: string, time: number, opts: { from?: string; merge?: string } = {}) => {
    const m = ++mark;
    marks.set(name, m);
    const n = Number(name.replace(/\D/g, ''));
    const body = `${name}\n`;
    let s = `commit ${ref}\nmark :${m}\ncommitter C O Mitter <c@example.com> ${time} +0000\ndata ${body.length}\n${body}`;
    if (opts.from !== undefined) s += `from :${marks.get(opts.from)}\n`;
    if (opts.merge !== undefined) s += `merge :${marks.get(opts.merge)}\n`;
    const text = `${name} ${'x'.repeat(n % 40)}\n`.repeat(1 + (n % 9));
    s += `M 100644 inline f${n % 7}.txt\ndata ${text.length}\n${text}`;
    s += `M 100644 inline d${n % 3}/g${n % 5}.txt\ndata ${body.length}\n${body}`;
    return s;
  };
  const t0 = 1_700_000_000;
  // Every tenth commit has the date of the one before it.
  const at = (i: number) => t0 + 600 * (i - (i % 10 === 0 ? 1 : 0));
  const runs: string[] = ['', '', ''];
  for (let i = 1; i <= 350; i++) {
    const run = i <= 120 ? 0 : i <= 260 ? 1 : 2;
    if (i === 51)
      for (let k = 1; k <= 30; k++)
        runs[0] += commit('refs/heads/side', `s${k}`, at(50) + 17 * k, k === 1 ? { from: 'm50' } : {});
    if (i === 151)
      for (let k = 1; k <= 40; k++)
        runs[1] += commit('refs/heads/side2', `t${k}`, at(150) + 13 * k, k === 1 ? { from: 'm150' } : {});
    const merge = i === 120 ? 's30' : i === 260 ? 't40' : undefined;
    runs[run] += commit('refs/heads/main', `m${i}`, at(i), { from: i > 1 ? `m${i - 1}` : undefined, merge });
    if (i === 100)
      runs[0] += `tag v1\nfrom :${marks.get('m100')}\ntagger T <t@example.com> ${at(100)} +0000\ndata 3\nv1\n`;
  }
  // An unmerged topic from m200 with dates older than most of main: far down the date order.
  for (let k = 1; k <= 20; k++)
    runs[2] += commit('refs/heads/topic', `p${k}`, at(40) + k, k === 1 ? { from: 'm200' } : {});
  runs[2] += `reset refs/tags/light\nfrom :${marks.get('m300')}\n\n`;
  const marksFile = path.join(r.scratchDir(), 'marks');
  runs.forEach((run, k) => {
    const importMarks = k > 0 ? [`--import-marks=${marksFile}`] : [];
    r.git(['fast-import', '--quiet', ...importMarks, `--export-marks=${marksFile}`], {
      input: `${run}done\n`,
    });
  });
  return r;
}

for (const format of ['sha1', 'sha256'] as const) {
  test(`${format}: our .bitmap for git's MIDX is git 2.39's, byte for byte (selection, XOR, EWAH, lookup table, hash cache)`, () => {
    const r = buildWide(format);
    assert.ok(r.listPackStems().length >= 3, 'several packs');
    const objectDir = r.objectDir;
    const hash = format === 'sha1' ? SHA1 : SHA256;
    const cases: { config: string[]; settings: BitmapSettings }[] = [
      { config: [], settings: {} },
      {
        config: ['-c', 'pack.preferBitmapTips=refs/heads/topic'],
        settings: { preferredTips: ['refs/heads/topic'] },
      },
      {
        config: ['-c', 'pack.writeBitmapLookupTable=true', '-c', 'pack.writeBitmapHashCache=false'],
        settings: { lookupTable: true, hashCache: false },
      },
    ];
    const written: Buffer[] = [];
    for (const { config, settings } of cases) {
      for (const f of readdirSync(r.packDir))
        if (f.startsWith('multi-pack-index')) rmSync(path.join(r.packDir, f));
      r.git([...config, 'multi-pack-index', 'write', '--bitmap']);
      const theirs = readdirSync(r.packDir).find((f) => f.endsWith('.bitmap'))!;
      const midx = openMidxFile(path.join(r.packDir, 'multi-pack-index'), { hash });
      const target = path.join(r.packDir, 'ours.bitmap');
      try {
        const w = writeMidxBitmap({ ...settings, objectDir, hash, midx, target, entryOrder: 'selection' });
        assert.ok(w.commits > 100 && w.commits < 440, `Git's selection spaces its picks (${w.commits})`);
      } finally {
        midx.close();
      }
      const gits = readFileSync(path.join(r.packDir, theirs));
      assert.ok(readFileSync(target).equals(gits), config.join(' '));
      rmSync(target, { force: true });
      written.push(gits);
    }
    // The preferred topic changed Git's choice (so the case tests something).
    assert.ok(
      !written[0].subarray(32).equals(written[1].subarray(32)),
      'pack.preferBitmapTips changes the selection',
    );
  });
}

test('write --bitmap --refs-snapshot: the tips and preferred tips of the file, byte for byte as git 2.39 chooses them; Git’s errors on bad lines, nothing written', () => {
  const r = buildWide('sha1');
  const tip = (ref: string) => r.gitText(['rev-parse', ref]);
  const snapshot = path.join(r.scratchDir(), 'snapshot');
  // A subset of the refs, out of name order, the topic preferred, a tag given unpeeled.
  const lines = [`+${tip('refs/heads/topic')}`, tip('refs/heads/side'), tip('refs/tags/v1'), tip('main~40')];
  writeFileSync(snapshot, `${lines.join('\n')}\n`);
  r.git(['multi-pack-index', 'write', '--bitmap', `--refs-snapshot=${snapshot}`]);
  const theirs = readdirSync(r.packDir).find((f) => f.endsWith('.bitmap'))!;
  const midx = openMidxFile(path.join(r.packDir, 'multi-pack-index'), { hash: SHA1 });
  const target = path.join(r.packDir, 'ours.bitmap');
  const refsSnapshot = lines.map((l) => ({
    oid: fromHex(l.replace(/^\+/, ''))!,
    preferred: l.startsWith('+'),
  }));
  try {
    writeMidxBitmap({
      objectDir: r.objectDir,
      hash: SHA1,
      midx,
      target,
      entryOrder: 'selection',
      refsSnapshot,
    });
  } finally {
    midx.close();
  }
  assert.ok(readFileSync(target).equals(readFileSync(path.join(r.packDir, theirs))));
  // Without the snapshot the refs decide: another file.
  const all = path.join(r.packDir, 'all.bitmap');
  const m2 = openMidxFile(path.join(r.packDir, 'multi-pack-index'), { hash: SHA1 });
  try {
    writeMidxBitmap({ objectDir: r.objectDir, hash: SHA1, midx: m2, target: all, entryOrder: 'selection' });
  } finally {
    m2.close();
  }
  assert.ok(!readFileSync(all).equals(readFileSync(target)));
  rmSync(target);
  rmSync(all);

  // Through the CLI: accepted by git; bad lines are Git's fatal errors, and nothing is written.
  for (const f of readdirSync(r.packDir))
    if (f.startsWith('multi-pack-index')) rmSync(path.join(r.packDir, f));
  const ours = spawnSync(process.execPath, [bin, 'write', '--bitmap', `--refs-snapshot=${snapshot}`], {
    cwd: r.dir,
    env: r.env,
    encoding: 'utf8',
  });
  assert.equal(ours.status, 0, ours.stderr);
  assert.equal(r.git(['multi-pack-index', 'verify']).status, 0);
  for (const q of [['--all'], ['side'], ['topic', '^main~100']]) {
    const plain = r.gitText(['rev-list', '--count', '--objects', ...q]);
    assert.equal(
      r.gitText(['rev-list', '--count', '--objects', '--use-bitmap-index', ...q]),
      plain,
      q.join(' '),
    );
  }
  for (const [text, message] of [
    ['zz\n', /^fatal: could not parse line: zz$/m],
    [`${tip('main')} extra\n`, /^fatal: malformed line: [0-9a-f]{40} extra$/m],
    [`${'1'.repeat(40)}\n`, /^fatal: unable to parse object: 1{40}$/m],
  ] as const) {
    for (const f of readdirSync(r.packDir))
      if (f.startsWith('multi-pack-index')) rmSync(path.join(r.packDir, f));
    writeFileSync(snapshot, text);
    const bad = spawnSync(process.execPath, [bin, 'write', '--bitmap', `--refs-snapshot=${snapshot}`], {
      cwd: r.dir,
      env: r.env,
      encoding: 'utf8',
    });
    assert.equal(bad.status, 128, bad.stderr);
    assert.match(bad.stderr, message);
    assert.deepEqual(
      readdirSync(r.packDir).filter((f) => f.startsWith('multi-pack-index')),
      [],
      'nothing written',
    );
  }
});

test('a bitmap write past its deadline writes nothing, the MIDX it would replace stays; a second write completes', async () => {
  const r = build('sha1');
  const objectDir = path.join(r.dir, '.git', 'objects');
  const { writeMidxFileAsync } = await import('../src/node/midx.js');
  const { BitmapDeadlineError } = await import('../src/node/midx-bitmap.js');
  // The MIDX in place: git's, without a bitmap, over all but the newest pack.
  const packs = readdirSync(r.packDir)
    .filter((f) => f.endsWith('.idx'))
    .sort();
  r.git(['multi-pack-index', 'write', '--stdin-packs'], { input: `${packs.slice(1).join('\n')}\n` });
  const before = readFileSync(path.join(r.packDir, 'multi-pack-index'));
  await assert.rejects(
    writeMidxFileAsync({ objectDir, hash: SHA1, bitmap: true, bitmapSettings: { deadline: 0 } }),
    (e) => e instanceof BitmapDeadlineError,
  );
  const left = readdirSync(r.packDir);
  assert.deepEqual(
    left.filter((f) => f.endsWith('.bitmap') || f.endsWith('.lock') || f.startsWith('tmp_')),
    [],
  );
  assert.deepEqual(readFileSync(path.join(r.packDir, 'multi-pack-index')), before);
  assert.equal(r.git(['multi-pack-index', 'verify']).status, 0);
  // What the CLI's worker then does: the same write without a deadline, which sees the bitmap
  // missing and writes it.
  const w = await writeMidxFileAsync({ objectDir, hash: SHA1, bitmap: true });
  assert.equal(w.written, true);
  assert.equal(readdirSync(r.packDir).filter((f) => f.endsWith('.bitmap')).length, 1);
  const t = r.git(['rev-list', '--test-bitmap', 'HEAD']);
  assert.match(t.stdout.toString() + t.stderr, /OK!/);
});

test('the steps of a bitmap write: slices of the graph read and the phases yield; the file is the same as in one go; a stretch past stretchMs gives up, nothing written', async () => {
  const r = build('sha1');
  // Over 10,000 objects more (unreachable blobs): the graph read takes several slices.
  makeManyPacks(r, 2, 5000);
  const objectDir = path.join(r.dir, '.git', 'objects');
  const { writeMidxFile } = await import('../src/node/midx.js');
  const { BitmapDeadlineError, writeMidxBitmapSteps } = await import('../src/node/midx-bitmap.js');
  writeMidxFile({ objectDir, hash: SHA1, bitmap: true });
  const name = readdirSync(r.packDir).find((f) => f.endsWith('.bitmap'))!;
  const whole = readFileSync(path.join(r.packDir, name));
  rmSync(path.join(r.packDir, name), { force: true });

  const midx = openMidxFile(path.join(r.packDir, 'multi-pack-index'), { hash: SHA1 });
  try {
    assert.ok(midx.numObjects > 10_000);
    // A stretch of 0 ms: the first check gives up, before anything of the bitmap is written.
    const none = writeMidxBitmapSteps({ objectDir, hash: SHA1, midx, stretchMs: 0 });
    assert.throws(() => {
      while (!none.next().done);
    }, BitmapDeadlineError);
    assert.deepEqual(
      readdirSync(r.packDir).filter((f) => f.endsWith('.bitmap') || f.endsWith('.lock')),
      [],
    );
    // Stretches of a minute: done, in steps.
    const steps = writeMidxBitmapSteps({ objectDir, hash: SHA1, midx, stretchMs: 60_000 });
    let yields = 0;
    for (let s = steps.next(); !s.done; s = steps.next()) yields++;
    // Three slices of the graph read at least (4,096 objects each), then the three phases.
    assert.ok(yields >= 5, `${yields} yields`);
  } finally {
    midx.close();
  }
  assert.deepEqual(readFileSync(path.join(r.packDir, name)), whole);
  const t = r.git(['rev-list', '--test-bitmap', 'HEAD']);
  assert.match(t.stdout.toString() + t.stderr, /OK!/);
});

test('trees stored as deltas of trees read just before (their copied entries taken from the base tree): git accepts the bitmap, and counts equal a walk', () => {
  const r = TestRepo.create();
  repos.push(r);
  // One wide directory, one file changed per commit: each new tree is the last one with one entry
  // changed, which an aggressive repack stores as a delta copying the rest from it.
  const files: Record<string, string> = {};
  for (let i = 0; i < 300; i++) files[`wide/file-${String(i).padStart(3, '0')}.txt`] = `file ${i}\n`;
  r.commitFiles(files, 'wide');
  for (let c = 0; c < 40; c++) {
    r.commitFiles(
      { [`wide/file-${String((c * 7) % 300).padStart(3, '0')}.txt`]: `change ${c}\n` },
      `change ${c}`,
    );
  }
  r.git(['repack', '-adfq', '--window=50', '--depth=50']);
  execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: r.dir, env: r.env });
  const t = r.git(['rev-list', '--test-bitmap', 'HEAD']);
  assert.match(t.stdout.toString() + t.stderr, /OK!/);
  const plain = r.git(['rev-list', '--count', '--objects', '--all']).stdout.toString().trim();
  const bitmap = r
    .git(['rev-list', '--count', '--objects', '--use-bitmap-index', '--all'])
    .stdout.toString()
    .trim();
  assert.equal(bitmap, plain);
  for (const back of [5, 17, 33]) {
    const rev = `HEAD~${back}`;
    const a = r.git(['rev-list', '--count', '--objects', rev]).stdout.toString().trim();
    const b = r.git(['rev-list', '--count', '--objects', '--use-bitmap-index', rev]).stdout.toString().trim();
    assert.equal(b, a, rev);
  }
});
