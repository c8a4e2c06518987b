/**
 * `expire` against `git multi-pack-index expire` on identical copies of a repository: the same files
 * deleted and a byte-identical MIDX (spec §12, §17.12).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SHA1, SHA256 } from '../src/hash.js';
import { expireMidx, planExpire } from '../src/node/expire.js';
import { TestRepo } from './helpers/git.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'git-midx');
const repos: TestRepo[] = [];
const dirs: string[] = [];
after(() => {
  for (const r of repos) r.cleanup();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** §17.12: PA{X} (2000, with .rev/.promisor/.bitmap), PB{X,Y} (2010), PK{Y} (2000, kept), PC{Z}. */
function setup(format: 'sha1' | 'sha256') {
  const r = TestRepo.create({ objectFormat: format, bare: true });
  repos.push(r);
  const [x, y, z] = r.writeBlobs(['expire x\n', 'expire y\n', 'expire z\n']);
  const pa = r.packObjects([x], { mtime: 946684800 });
  for (const ext of ['.rev', '.promisor', '.bitmap']) fs.writeFileSync(path.join(r.packDir, pa + ext), 'x');
  const pb = r.packObjects([x, y], { mtime: 1262304000 });
  const pk = r.packObjects([y], { mtime: 946684800 });
  fs.writeFileSync(path.join(r.packDir, `${pk}.keep`), '');
  const pc = r.packObjects([z], { mtime: 1262304000 });
  r.git(['multi-pack-index', 'write']);
  return { r, pa, pb, pk, pc };
}

function copyOf(r: TestRepo): string {
  const dir = fs.mkdtempSync(path.join(path.dirname(r.dir), 'expire-copy-'));
  dirs.push(dir);
  const res = spawnSync('cp', ['-a', `${r.dir}/.`, dir]);
  assert.equal(res.status, 0);
  return dir;
}

function listing(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'objects', 'pack')).sort();
}

for (const format of ['sha1', 'sha256'] as const) {
  test(`expire, ${format}: same files deleted as git, byte-identical MIDX, new packs picked up`, () => {
    const { r, pa, pk } = setup(format);
    const hash = format === 'sha1' ? SHA1 : SHA256;
    // a pack added after the MIDX was written is indexed by the rewrite, as git does
    const [w] = r.writeBlobs(['expire w\n']);
    r.packObjects([w], { mtime: 1262304000 });
    const plan = planExpire({ objectDir: r.objectDir, hash });
    assert.deepEqual(
      plan.drop.map((d) => d.name),
      [`${pa}.idx`],
    );
    assert.deepEqual(plan.kept, [{ name: `${pk}.idx`, reason: 'keep' }]);
    const before = listing(r.dir);
    const theirs = copyOf(r);
    const g = spawnSync('git', ['multi-pack-index', 'expire'], { cwd: theirs, env: r.env, encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    assert.deepEqual(listing(r.dir), before, 'the dry run touched nothing');
    const res = expireMidx({ objectDir: r.objectDir, hash });
    assert.deepEqual(listing(r.dir), listing(theirs));
    assert.ok(
      r.readMidx()!.equals(fs.readFileSync(path.join(theirs, 'objects', 'pack', 'multi-pack-index'))),
    );
    assert.deepEqual([...res.deleted].sort(), [
      `${pa}.bitmap`,
      `${pa}.idx`,
      `${pa}.pack`,
      `${pa}.promisor`,
      `${pa}.rev`,
    ]);
    assert.equal(r.git(['multi-pack-index', 'verify'], { allowFail: true }).status, 0);
    assert.equal(r.git(['fsck', '--no-progress'], { allowFail: true }).status, 0);
    // nothing more to drop: nothing touched
    const st = fs.statSync(r.midxPath);
    const again = expireMidx({ objectDir: r.objectDir, hash });
    assert.equal(again.deleted.length, 0);
    assert.equal(fs.statSync(r.midxPath).mtimeMs, st.mtimeMs);
  });
}

test('expire CLI: --dry-run lists, touches nothing; no MIDX is a clean no-op', () => {
  const { r, pa } = setup('sha1');
  const before = listing(r.dir);
  const dry = spawnSync(bin, ['expire', '--dry-run'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^would drop ${pa}\\.idx: ${pa}\\.idx ${pa}\\.pack ${pa}\\.rev`, 'm'));
  assert.match(dry.stdout, /^would keep pack-[0-9a-f]+\.idx: unreferenced but keep$/m);
  assert.match(dry.stdout, /^1 pack\(s\) to drop, \d+ bytes to free$/m);
  assert.deepEqual(listing(r.dir), before);
  const real = spawnSync(bin, ['expire'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
  assert.equal(real.status, 0, real.stderr);
  assert.equal(real.stdout + real.stderr, '');
  assert.ok(!fs.existsSync(path.join(r.packDir, `${pa}.pack`)));
  fs.rmSync(r.midxPath);
  const none = spawnSync(bin, ['expire'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
  assert.equal(none.status, 0);
  assert.equal(none.stdout + none.stderr, '');
  const noneDry = spawnSync(bin, ['expire', '--dry-run'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
  assert.equal(noneDry.status, 0);
  assert.equal(noneDry.stdout + noneDry.stderr, 'nothing to expire: no multi-pack-index\n');
});
