/**
 * Reachability counts (`countReachable`, `git-midx rev-list --count [--objects]`) against
 * `git rev-list` on repositories with merges, annotated tags and several branches, SHA-1 and
 * SHA-256, and on the git-2.55 fixtures' expected counts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../src/bytes.js';
import { openReachBitmap } from '../src/node/bitmaps.js';
import { ObjectStore } from '../src/node/index.js';
import { countReachable } from '../src/store/reach.js';
import { makeTempDir, removeDir, TestRepo } from './helpers/git.js';

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
  for (let i = 0; i < 8; i++) {
    text += `line ${i}\n`;
    r.commitFiles({ 'a.txt': text, [`d${i % 2}/b${i}.txt`]: `${i}\n` }, `main ${i}`);
    if (i === 2) r.git(['tag', '-a', '-m', 'annotated', 'v1']);
    if (i === 3) r.git(['branch', 'side']);
  }
  r.git(['checkout', '-q', 'side']);
  for (let i = 0; i < 4; i++)
    r.commitFiles({ [`side${i}.txt`]: `side ${i}\n`, 'a.txt': `side version ${i}\n` }, `side ${i}`);
  r.git(['tag', '-a', '-m', 'side tag', 'vside']);
  r.git(['checkout', '-q', 'main']);
  r.git(['merge', '-q', '--no-ff', '-X', 'ours', '-m', 'merge side', 'side']);
  r.commitFiles({ 'after.txt': 'after\n' }, 'after merge');
  r.git(['repack', '-adq']);
  r.commitFiles({ 'loose.txt': 'loose\n' }, 'loose');
  r.git(['multi-pack-index', 'write']);
  return r;
}

const QUERIES: string[][] = [
  ['--all'],
  ['HEAD'],
  ['side'],
  ['v1'],
  ['vside'],
  ['HEAD~2..HEAD'],
  ['side..main'],
  ['main..side'],
  ['HEAD', '^side'],
  ['HEAD', '^v1'],
];

for (const format of ['sha1', 'sha256'] as const) {
  test(`${format}: rev-list --count [--objects] equals git's for ranges, tags, merges and --all`, () => {
    const r = build(format);
    for (const q of QUERIES) {
      for (const objects of [true, false]) {
        const args = ['rev-list', '--count', ...(objects ? ['--objects'] : []), ...q];
        const want = r.gitText(args);
        const got = execFileSync(process.execPath, [bin, ...args], { cwd: r.dir, env: r.env })
          .toString()
          .trim();
        assert.equal(got, want, args.join(' '));
      }
    }
    // The library: the per-type counts add up to git's --objects count.
    const store = ObjectStore.open({ objectDir: r.objectDir });
    try {
      const head = fromHex(r.gitText(['rev-parse', 'HEAD']))!;
      const side = fromHex(r.gitText(['rev-parse', 'side']))!;
      const c = countReachable(store, { include: [head], exclude: [side] });
      assert.equal(c.objects, Number(r.gitText(['rev-list', '--count', '--objects', 'HEAD', '^side'])));
      assert.equal(c.commits, Number(r.gitText(['rev-list', '--count', 'HEAD', '^side'])));
      assert.equal(c.commits + c.trees + c.blobs + c.tags, c.objects);
    } finally {
      store.close();
    }
  });
}

test('the counts the git-2.55 fixtures expect (bitmapped repositories)', {
  skip: !existsSync(FIXTURES),
}, () => {
  for (const name of [
    'flat-bitmap-sha1',
    'flat-bitmap-sha256',
    'chain-3-bitmap-sha1',
    'chain-3-bitmap-sha256',
  ]) {
    const dir = makeTempDir();
    temps.push(dir);
    execFileSync('tar', ['-xzf', path.join(FIXTURES, name, 'repo.tar.gz'), '-C', dir]);
    const repo = path.join(dir, 'repo.git');
    const text = readFileSync(path.join(FIXTURES, name, 'expect', 'rev-list-count.txt'), 'utf8');
    for (const m of text.matchAll(
      /\$ git (rev-list --count --objects --all(?: --use-bitmap-index)?)\n--- stdout ---\n(\d+)\n/g,
    )) {
      const r = spawnSync(process.execPath, [bin, ...m[1].split(' ')], { cwd: repo, encoding: 'utf8' });
      assert.equal(r.stdout.trim(), m[2], `${name}: ${m[1]} (${r.stderr})`);
    }
    // The bitmaps Git wrote are the ones read (a chain's: every layer's), and answer as the walk.
    const objectDir = path.join(repo, 'objects');
    const store = ObjectStore.open({ objectDir });
    try {
      const bitmap = openReachBitmap(objectDir, store.hash);
      assert.ok(bitmap !== undefined, `${name}: a bitmap`);
      const head = fromHex(
        execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim(),
      )!;
      assert.ok(bitmap.commitBitmap(head) !== undefined, `${name}: HEAD has a bitmap`);
      const query = { include: [head], exclude: [] as Uint8Array[] };
      assert.deepEqual(countReachable(store, query, { bitmap }), countReachable(store, query), name);
    } finally {
      store.close();
    }
  }
});
