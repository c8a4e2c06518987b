/**
 * Refs and revisions in `cat-file`: loose and packed refs, symbolic HEAD, ref names as `git
 * rev-parse` resolves them, `^{<type>}`, `^{}`, `~<n>`, `^<n>` and `<rev>:<path>`, compared with
 * git's own answers (`git cat-file --batch`) in SHA-1 and SHA-256 repositories built here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function build(format: 'sha1' | 'sha256'): TestRepo {
  const r = TestRepo.create({ objectFormat: format });
  repos.push(r);
  r.commitFiles({ 'README.md': 'hello\n', 'dir/a.txt': 'a\n' }, 'first');
  r.commitFiles({ 'README.md': 'hello again\n', 'dir/sub/b.txt': 'b\n' }, 'second');
  r.git(['tag', '-a', '-m', 'annotated', 'v1']);
  r.git(['tag', 'light', 'HEAD~1']);
  r.git(['tag', '-a', '-m', 'tag of a tag', 'v1-outer', 'v1']);
  r.git(['checkout', '-q', '-b', 'side', 'HEAD~1']);
  r.commitFiles({ 'side.txt': 'side\n' }, 'side');
  r.git(['checkout', '-q', '-']);
  r.git(['merge', '-q', '--no-ff', '-m', 'merge', 'side']);
  // Some refs packed, some loose, a packed one shadowed by a newer loose one; objects packed with a MIDX.
  r.git(['pack-refs', '--all']);
  r.git(['branch', 'loose-branch', 'HEAD~1']);
  r.git(['repack', '-adq']);
  r.commitFiles({ 'late.txt': 'late\n' }, 'late, loose');
  r.git(['multi-pack-index', 'write']);
  return r;
}

const REVS = [
  'HEAD',
  '@',
  'main',
  'master',
  'heads/side',
  'refs/heads/side',
  'side',
  'loose-branch',
  'v1',
  'tags/v1',
  'light',
  'v1-outer',
  'v1^{}',
  'v1-outer^{}',
  'v1^{commit}',
  'v1-outer^{tree}',
  'v1^{tag}',
  'v1^{object}',
  'HEAD^{tree}',
  'HEAD~1',
  'HEAD~2',
  'HEAD^',
  'HEAD^1',
  'HEAD~1^2',
  'HEAD~1^{tree}',
  'HEAD~',
  'HEAD^0',
  'side~1',
  'HEAD:README.md',
  'HEAD:dir',
  'HEAD:dir/sub/b.txt',
  'HEAD:',
  'v1:README.md',
  'HEAD~2:README.md',
  'side:side.txt',
  'HEAD:nope',
  'HEAD~99',
  'HEAD^3',
  'nosuchref',
  'v1^{blob}',
  'light^{tag}',
  'HEAD:dir/a.txt/x',
];

for (const format of ['sha1', 'sha256'] as const) {
  test(`${format}: cat-file --batch and -t resolve revisions as git does`, () => {
    const r = build(format);
    const input = `${REVS.join('\n')}\n`;
    const want = r.git(['cat-file', '--batch'], { input }).stdout;
    const ours = spawnSync(bin, ['cat-file', '--batch'], { cwd: r.dir, env: r.env, input });
    assert.equal(ours.status, 0, ours.stderr.toString());
    const a = ours.stdout.toString('latin1').split('\n');
    const b = want.toString('latin1').split('\n');
    for (let i = 0; i < Math.max(a.length, b.length); i++) assert.equal(a[i], b[i], `line ${i}`);
    // Single-object mode: the same ids as git rev-parse for the names that resolve.
    for (const rev of ['HEAD~1^2', 'v1-outer^{tree}', 'HEAD:dir/sub/b.txt', 'side']) {
      const id = r.gitText(['rev-parse', rev]);
      const t = spawnSync(bin, ['cat-file', '-t', rev], { cwd: r.dir, env: r.env, encoding: 'utf8' });
      assert.equal(t.stdout, `${r.gitText(['cat-file', '-t', id])}\n`, rev);
    }
    const bad = spawnSync(bin, ['cat-file', '-t', 'nosuchref'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
    assert.equal(bad.status, 128);
    assert.equal(bad.stderr, 'fatal: Not a valid object name nosuchref\n');
  });
}
