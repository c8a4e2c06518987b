/**
 * `repack` against `git multi-pack-index repack` (spec/midx-format.md §13, §17.13) on identical
 * copies of a repository: the same packs selected for every batch size, the same objects in the
 * new pack, and a pack of our own writing that git's `verify-pack`, `index-pack`, `fsck` and
 * `multi-pack-index verify` accept (spec/objects-format.md §8). Pack bytes differ from git's (zlib
 * and delta choices), which is expected.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as zlib from 'node:zlib';
import { parseBatchSize } from '../src/cli/commands/repack.js';
import { isGitMidxError } from '../src/errors.js';
import { type HashAlgorithm, SHA1, SHA256 } from '../src/hash.js';
import { openFileReader } from '../src/node/fs.js';
import { nodeHash } from '../src/node/hash.js';
import { nodeCrc32, nodeDeflater } from '../src/node/pack-write.js';
import {
  planRepack,
  type RepackOptions,
  repackMidx,
  repackMidxAsync,
  setRepackArenaMax,
} from '../src/node/repack.js';
import { setDeltaMemoryMax } from '../src/node/repack-deltas.js';
import { deltaThreads, setDeltaHelperScript } from '../src/node/repack-threads.js';
import { nodeInflater } from '../src/node/zlib.js';
import { PackIndex } from '../src/pack/idx.js';
import { PackFile } from '../src/pack/pack.js';
import {
  crc32,
  encodeEntryHeader,
  encodeOfsDistance,
  packIndexSize,
  writePackIndex,
} from '../src/pack/writer.js';
import { gitEnv, makeTempDir, TestRepo } from './helpers/git.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'git-midx');
const repos: TestRepo[] = [];
const dirs: string[] = [];
after(() => {
  for (const r of repos) r.cleanup();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Fixtures

/** Deterministic text of `lines` lines, so that variants of it delta well against each other. */
function text(seed: number, lines: number): string {
  let x = seed * 2654435761;
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(
      `line ${i} of family ${seed}: ${x.toString(36)} ${(x * 7).toString(16)} ${(x % 9973).toString(2)}`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** A variant of `base`: some lines dropped (smaller, so git deltas it against the base). */
function variant(base: string, k: number): string {
  return `${base
    .split('\n')
    .filter((_, i) => i % (k + 3) !== 1)
    .join('\n')}variant ${k}\n`;
}

/** Bytes that do not compress, for a pack of some size. */
function noise(seed: number, n: number): string {
  let x = seed;
  let s = '';
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += String.fromCharCode(33 + (x % 90));
  }
  return s;
}

interface Fixture {
  r: TestRepo;
  hash: HashAlgorithm;
  /** Pack stems, oldest first. */
  packs: { pa: string; pb: string; pc: string; pd: string; pe: string };
}

/**
 * Five packs with distinct mtimes, oldest and smallest first:
 * - PA: two small blobs;
 * - PB (idx v1): family B (b0 + OFS deltas against it) and family F (f0 + deltas); b0 is also in PE;
 * - PC (`--no-delta-base-offset`): family C (c0 + REF deltas) and family G; c0 is also in PE;
 * - PD: incompressible blobs (larger);
 * - PE (newest, largest): b0, c0 and more noise, so the MIDX takes b0 and c0 from PE and the
 *   deltas of PB/PC against them have their base outside unless PE is repacked too.
 */
function build(format: 'sha1' | 'sha256'): Fixture {
  const r = TestRepo.create({ objectFormat: format, bare: true });
  repos.push(r);
  const hash = format === 'sha1' ? SHA1 : SHA256;
  const b = text(1, 120);
  const f = text(2, 100);
  const c = text(3, 140);
  const g = text(4, 110);
  const [a1, a2, b0, b1, b2, f0, f1, f2, c0, c1, c2, g0, g1, g2, d1, d2, e1] = r.writeBlobs([
    'small a1\n',
    'small a2\n',
    b,
    variant(b, 1),
    variant(b, 2),
    f,
    variant(f, 1),
    variant(f, 3),
    c,
    variant(c, 1),
    variant(c, 2),
    g,
    variant(g, 1),
    variant(g, 2),
    noise(5, 3000),
    noise(6, 2000),
    noise(7, 9000),
  ]);
  const t = 1_500_000_000;
  const pa = r.packObjects([a1, a2], { mtime: t });
  const pb = r.packObjects([b0, b1, b2, f0, f1, f2], { mtime: t + 10, indexVersion: '1' });
  const pc = r.packObjects([c0, c1, c2, g0, g1, g2], { mtime: t + 20, deltaBaseOffset: false });
  const pd = r.packObjects([d1, d2], { mtime: t + 30 });
  const pe = r.packObjects([b0, c0, e1], { mtime: t + 40 });
  r.git(['multi-pack-index', 'write']);
  return { r, hash, packs: { pa, pb, pc, pd, pe } };
}

function copyOf(dir: string): string {
  const to = fs.mkdtempSync(path.join(path.dirname(dir), 'repack-copy-'));
  dirs.push(to);
  const res = spawnSync('cp', ['-a', `${dir}/.`, to]);
  assert.equal(res.status, 0);
  return to;
}

function packDirOf(repoDir: string): string {
  return path.join(repoDir, 'objects', 'pack');
}

function listing(repoDir: string): string[] {
  return fs.readdirSync(packDirOf(repoDir)).sort();
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, input: string | Buffer = '') {
  const res = spawnSync(cmd, args, { cwd, env, input, maxBuffer: 1 << 28 });
  return { status: res.status ?? 129, stdout: res.stdout, stderr: res.stderr.toString('utf8') };
}

function gitOk(args: string[], cwd: string, env: NodeJS.ProcessEnv, input: string | Buffer = ''): Buffer {
  const res = run('git', args, cwd, env, input);
  assert.equal(res.status, 0, `git ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

/** Object ids in an idx, via `git show-index` (run in the repository for its hash). */
function idxObjects(repoDir: string, env: NodeJS.ProcessEnv, idxFile: string): string[] {
  const out = gitOk(['show-index'], repoDir, env, fs.readFileSync(idxFile)).toString('utf8');
  return out
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ')[1])
    .sort();
}

function stems(names: string[]): string[] {
  return names.filter((n) => n.endsWith('.idx')).map((n) => n.slice(0, -4));
}

/** Pack stems that appeared in `after` but not in `before`. */
function newPacks(before: string[], after: string[]): string[] {
  const b = new Set(stems(before));
  return stems(after).filter((s) => !b.has(s));
}

function showIdxBytes(repoDir: string, env: NodeJS.ProcessEnv, stem: string): string[] {
  return idxObjects(repoDir, env, path.join(packDirOf(repoDir), `${stem}.idx`));
}

/** Everything `cat-file --batch --batch-all-objects` prints: every object with its content. */
function allObjects(repoDir: string, env: NodeJS.ProcessEnv): Buffer {
  return gitOk(['cat-file', '--batch', '--batch-all-objects'], repoDir, env);
}

/** Entry types of a pack, counted: 1-4 whole, 6 OFS_DELTA, 7 REF_DELTA. */
function entryTypes(packDir: string, stem: string, hash: HashAlgorithm): Map<number, number> {
  const idx = PackIndex.fromBytes(fs.readFileSync(path.join(packDir, `${stem}.idx`)), { hash });
  const pack = new PackFile(openFileReader(path.join(packDir, `${stem}.pack`)), idx, {
    inflate: nodeInflater,
  });
  const counts = new Map<number, number>();
  try {
    for (let i = 0; i < idx.numObjects; i++) {
      const t = pack.entryAt(idx.offsetAt(i)).type;
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
  } finally {
    pack.close();
    idx.close();
  }
  return counts;
}

/** git's checks of a pack we wrote: verify-pack, index-pack on a copy (same idx bytes), fsck, MIDX verify. */
function assertGitAccepts(repoDir: string, env: NodeJS.ProcessEnv, stem: string, format: string): void {
  const pd = packDirOf(repoDir);
  const v = run('git', ['verify-pack', '-v', path.join(pd, `${stem}.idx`)], repoDir, env);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout.toString('utf8'), /: ok\n$/);
  const scratch = fs.mkdtempSync(path.join(path.dirname(repoDir), 'index-pack-'));
  dirs.push(scratch);
  fs.copyFileSync(path.join(pd, `${stem}.pack`), path.join(scratch, 'copy.pack'));
  gitOk(
    [
      `--git-dir=${repoDir}`,
      'index-pack',
      '-o',
      path.join(scratch, 'other.idx'),
      path.join(scratch, 'copy.pack'),
    ],
    repoDir,
    env,
  );
  assert.ok(
    fs.readFileSync(path.join(scratch, 'other.idx')).equals(fs.readFileSync(path.join(pd, `${stem}.idx`))),
    `${format}: git index-pack rebuilds our idx byte for byte`,
  );
  gitOk(['fsck', '--full', '--strict', '--no-progress'], repoDir, env);
  gitOk(['multi-pack-index', 'verify'], repoDir, env);
  for (const ext of ['.pack', '.idx']) {
    assert.equal(fs.statSync(path.join(pd, stem + ext)).mode & 0o777, 0o444, `${stem}${ext} is 0444`);
  }
  assert.deepEqual(
    fs.readdirSync(pd).filter((n) => n.startsWith('tmp_')),
    [],
    'no temporary files left',
  );
}

function opts(dir: string, hash: HashAlgorithm, env: NodeJS.ProcessEnv, extra: Partial<RepackOptions> = {}) {
  return { objectDir: path.join(dir, 'objects'), hash, env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Codecs

test('entry header, OFS distance and CRC-32 encodings (objects-format §2.2, §2.4)', () => {
  assert.deepEqual([...encodeEntryHeader(3, 6)], [0x36]);
  assert.deepEqual([...encodeEntryHeader(3, 16)], [0xb0, 0x01]);
  assert.deepEqual([...encodeEntryHeader(1, 165)], [0x95, 0x0a]);
  assert.deepEqual([...encodeEntryHeader(3, 70000)], [0xb0, 0x97, 0x22]);
  assert.deepEqual([...encodeEntryHeader(6, 7)], [0x67]);
  for (const [d, bytes] of [
    [127, [0x7f]],
    [128, [0x80, 0x00]],
    [341, [0x81, 0x55]],
    [16511, [0xff, 0x7f]],
    [16512, [0x80, 0x80, 0x00]],
  ] as const) {
    assert.deepEqual([...encodeOfsDistance(d)], bytes, `distance ${d}`);
  }
  const data = new TextEncoder().encode('The quick brown fox jumps over the lazy dog');
  assert.equal(crc32(data), 0x414fa339);
  assert.equal(crc32(data.subarray(10), crc32(data.subarray(0, 10))), 0x414fa339);
  assert.equal(nodeCrc32(data), 0x414fa339);
});

test('idx v2: offsets from 2^31 go to the 64-bit table in OID order; git show-index reads it', () => {
  const H = 20;
  const oids = new Uint8Array(4 * H);
  for (let i = 0; i < 4; i++) oids.fill(0x10 + i * 0x30, i * H, (i + 1) * H);
  const offsets = [2 ** 33 + 5, 12, 2 ** 31, 2 ** 31 - 1];
  const crcs = [1, 0xdeadbeef, 3, 0xffffffff];
  const chunks: Uint8Array[] = [];
  writePackIndex(
    { write: (b) => chunks.push(b.slice()) },
    { hash: SHA1, hashFn: nodeHash, oids, offsets, crcs, packChecksum: new Uint8Array(H).fill(7) },
  );
  const bytes = Buffer.concat(chunks);
  assert.equal(bytes.length, packIndexSize(SHA1, 4, 2));
  const idx = PackIndex.fromBytes(bytes, { hash: SHA1 });
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => idx.offsetAt(i)),
    offsets,
  );
  const scratch = makeTempDir();
  dirs.push(scratch);
  // outside any repository: SHA-1, as the idx is
  const out = gitOk(['show-index'], scratch, gitEnv(path.join(scratch, 'home')), bytes).toString('utf8');
  assert.deepEqual(
    out
      .trim()
      .split('\n')
      .map((l) => `${l.split(' ')[0]} ${l.split(' ')[2]}`),
    ['8589934597 (00000001)', '12 (deadbeef)', '2147483648 (00000003)', '2147483647 (ffffffff)'],
  );
});

test('--batch-size parses like git (k/m/g suffixes, C number syntax)', () => {
  for (const [v, n] of [
    ['0', 0],
    ['2k', 2048],
    ['2K', 2048],
    ['3m', 3 * 1024 * 1024],
    ['1g', 1024 ** 3],
    ['0x10', 16],
    ['010', 8],
    ['+5', 5],
    [' 7', 7],
    ['k', 0],
  ] as const) {
    assert.equal(parseBatchSize(v), n, v);
  }
  for (const v of ['', 'x', '-1', '1.5', '5t', '2kb', '0x', '99999999999999999999', '17179869184g']) {
    assert.equal(parseBatchSize(v), undefined, v);
  }
});

// ---------------------------------------------------------------------------------------------
// Against git

for (const format of ['sha1', 'sha256'] as const) {
  test(`repack, ${format}: same selection and objects as git for several batch sizes; git accepts our pack`, () => {
    const { r, hash, packs } = build(format);
    // Expected sizes, oldest first (every pack is eligible here).
    const all = planRepack(opts(r.dir, hash, r.env));
    assert.equal(all.status, 'ready');
    const order = [packs.pa, packs.pb, packs.pc, packs.pd, packs.pe].map((s) => `${s}.idx`);
    assert.deepEqual(
      all.packs.map((p) => p.name),
      [...order].sort(),
    );
    const exp = (stem: string) => all.packs.find((p) => p.name === `${stem}.idx`)!.expectedBytes;
    const [ea, eb, ec] = [exp(packs.pa), exp(packs.pb), exp(packs.pc)];
    assert.ok(ea < eb && eb < ec, `sizes grow with age: ${ea} ${eb} ${ec}`);
    const cases: { batch: string; selected: string[] }[] = [
      { batch: '0', selected: order },
      { batch: String(ea), selected: [] }, // PA alone is too large; PB too; nothing
      { batch: String(ea + 1), selected: [order[0]] }, // only PA is below the limit: one pack, nothing
      { batch: String(ea + eb), selected: [order[0], order[1]] },
      { batch: String(ea + eb + ec), selected: [order[0], order[1], order[2]] },
      // through the CLI, with a suffix: 2 KiB takes PA alone (nothing); 8 KiB takes PA to PD
      { batch: '2k', selected: [] },
      { batch: '8k', selected: [] },
    ];
    for (const { batch, selected } of cases) {
      const theirs = copyOf(r.dir);
      const ours = copyOf(r.dir);
      const before = listing(ours);
      const catBefore = allObjects(ours, r.env);
      const g = run('git', ['multi-pack-index', 'repack', `--batch-size=${batch}`], theirs, r.env);
      assert.equal(g.status, 0, g.stderr);
      let res: ReturnType<typeof repackMidx> | undefined;
      if (batch.endsWith('k')) {
        const c = run(bin, ['repack', `--batch-size=${batch}`], ours, r.env);
        assert.equal(c.status, 0, c.stderr);
        assert.equal(c.stdout.toString() + c.stderr, '');
      } else {
        res = repackMidx(opts(ours, hash, r.env, { batchSize: Number(batch) }));
        assert.deepEqual(
          res.plan.packs.map((p) => p.name).sort(),
          [...selected].sort(),
          `batch ${batch}: selection`,
        );
        assert.equal(res.status, selected.length >= 2 ? 'repacked' : 'nothing-to-do');
      }
      const gotTheirs = newPacks(before, listing(theirs));
      const gotOurs = newPacks(before, listing(ours));
      assert.equal(gotOurs.length, gotTheirs.length, `batch ${batch}: a new pack on both sides or neither`);
      if (batch === '8k') assert.equal(gotOurs.length, 1, 'batch 8k: a new pack');
      if (gotOurs.length === 0) {
        assert.deepEqual(listing(ours), before);
        continue;
      }
      assert.deepEqual(
        showIdxBytes(ours, r.env, gotOurs[0]),
        showIdxBytes(theirs, r.env, gotTheirs[0]),
        `batch ${batch}: the same objects in the new pack`,
      );
      assertGitAccepts(ours, r.env, gotOurs[0], format);
      assert.ok(
        allObjects(ours, r.env).equals(catBefore),
        `batch ${batch}: every object readable, unchanged`,
      );
      // The same old packs become unreferenced: git's expire leaves the same ones on both sides.
      gitOk(['multi-pack-index', 'expire'], theirs, r.env);
      gitOk(['multi-pack-index', 'expire'], ours, r.env);
      const left = (d: string, n: string) => stems(listing(d)).filter((s) => s !== n);
      assert.deepEqual(left(ours, gotOurs[0]), left(theirs, gotTheirs[0]), `batch ${batch}: packs left`);
      gitOk(['fsck', '--no-progress'], ours, r.env);
      if (res) {
        assert.ok(res.pack && res.write?.written);
        assert.equal(res.pack.objects, res.plan.objects);
        if (batch === '0') {
          // Every base is in the new pack: all deltas kept, OFS distances rewritten, nothing resolved.
          assert.equal(res.pack.resolved, 0);
          assert.ok(res.pack.reusedDeltas >= 8, `deltas reused: ${res.pack.reusedDeltas}`);
          const types = entryTypes(packDirOf(ours), gotOurs[0], hash);
          assert.ok((types.get(6) ?? 0) >= 8);
          assert.equal(types.get(7) ?? 0, 0);
        } else {
          // PE stays: b0/c0 come from it, so the deltas against them are resolved, then stored whole
          // or as new deltas found by the search, while the F and G families keep their deltas
          // (REF ones become OFS).
          assert.ok(
            res.pack.resolved + res.pack.deltified >= 2,
            `resolved: ${res.pack.resolved}, deltified: ${res.pack.deltified}`,
          );
          assert.ok(res.pack.reusedDeltas >= 2, `deltas reused: ${res.pack.reusedDeltas}`);
        }
      }
    }
  });
}

test('repack.useDeltaBaseOffset=false writes REF_DELTA; a CRC mismatch in a source idx falls back to a rewrite', () => {
  const { r, hash, packs } = build('sha1');
  const dir = copyOf(r.dir);
  gitOk(['config', 'repack.useDeltaBaseOffset', 'false'], dir, r.env);
  // Flip the CRC of PA's first object in its idx (the idx checksum goes stale; nobody checks it here).
  const idxFile = path.join(packDirOf(dir), `${packs.pa}.idx`);
  const bytes = fs.readFileSync(idxFile);
  const n = bytes.readUInt32BE(8 + 255 * 4);
  bytes[1032 + n * 20] ^= 0xff;
  fs.chmodSync(idxFile, 0o644);
  fs.writeFileSync(idxFile, bytes);
  const before = listing(dir);
  const catBefore = allObjects(dir, r.env);
  const diags: string[] = [];
  const res = repackMidx(
    opts(dir, hash, r.env, { onDiagnostic: (d) => diags.push(`${d.level}: ${d.message}`) }),
  );
  assert.equal(res.status, 'repacked');
  assert.equal(diags.length, 1);
  assert.match(diags[0], /^error: bad packed object CRC for [0-9a-f]{40}$/);
  const [stem] = newPacks(before, listing(dir));
  const types = entryTypes(packDirOf(dir), stem, hash);
  assert.ok((types.get(7) ?? 0) >= 8, `REF_DELTA entries: ${types.get(7)}`);
  assert.equal(types.get(6) ?? 0, 0);
  // fsck would flag PA's now-wrong idx: check our pack alone, and the objects.
  const v = run('git', ['verify-pack', path.join(packDirOf(dir), `${stem}.idx`)], dir, r.env);
  assert.equal(v.status, 0, v.stderr);
  assert.ok(allObjects(dir, r.env).equals(catBefore));
  gitOk(['multi-pack-index', 'verify'], dir, r.env);
});

test('CLI: a source object that cannot be read back ends repack as git ends it (its lines, exit 1); nothing is left behind', () => {
  const { r, packs } = build('sha1');
  const base = copyOf(r.dir);
  // PD's whole 3,000-byte blob: its entry header now claims 5 bytes more than its stream holds (the
  // idx's CRC-32 no longer matches, so the entry is read back, and that fails).
  const pd = path.join(packDirOf(base), `${packs.pd}.pack`);
  const listed = gitOk(['verify-pack', '-v', path.join(packDirOf(base), `${packs.pd}.idx`)], base, r.env)
    .toString('utf8')
    .split('\n')
    .map((l) => l.split(/\s+/))
    .find((f) => f.length === 5 && f[1] === 'blob' && f[2] === '3000');
  assert.ok(listed, 'the 3,000-byte blob is stored whole in PD');
  const [oid, , , , at] = listed;
  const header = (size: number) => {
    const out = [(3 << 4) | (size & 15)];
    for (let v = size >>> 4; v > 0; v >>>= 7) {
      out[out.length - 1] |= 0x80;
      out.push(v & 0x7f);
    }
    return Buffer.from(out);
  };
  const bytes = fs.readFileSync(pd);
  const offset = Number(at);
  assert.ok(bytes.subarray(offset, offset + 3).equals(header(3000)));
  header(3005).copy(bytes, offset);
  fs.chmodSync(pd, 0o644);
  fs.writeFileSync(pd, bytes);
  // Git's pack-objects then reads the object's other copy (the blob is still loose here), whose size
  // differs from what the entry declares; with no other copy, the packed one is corrupt.
  const expected = [
    `fatal: object ${oid} inconsistent object length (3000 vs 3005)\n`,
    `fatal: packed object ${oid} (stored in ./objects/pack/${packs.pd}.pack) is corrupt\n`,
  ];
  for (const line of expected) {
    if (line !== expected[0]) gitOk(['prune-packed'], base, r.env);
    const before = listing(base);
    const theirs = copyOf(base);
    const ours = copyOf(base);
    const g = run('git', ['multi-pack-index', 'repack', '--batch-size=0'], theirs, r.env);
    const o = run(bin, ['repack', '--batch-size=0'], ours, r.env);
    assert.equal(g.status, 1, g.stderr);
    assert.equal(
      g.stderr,
      `error: bad packed object CRC for ${oid}\n${line}error: could not finish pack-objects\n`,
    );
    assert.equal(o.status, g.status);
    assert.equal(o.stderr, g.stderr);
    assert.deepEqual(listing(ours), before);
    gitOk(['multi-pack-index', 'verify'], ours, r.env);
  }
});

test('CLI: a source object that cannot be read back is read as git reads it then: a loose copy of its size is written, a copy in another pack of the MIDX is not looked at', () => {
  const r = TestRepo.create({ bare: true });
  repos.push(r);
  const big = Array.from({ length: 200 }, (_, i) => `line ${(i * 7919) % 1000}\n`).join('');
  const [b0, n1, n2] = r.writeBlobs([big, 'other 1\n'.repeat(30), 'other 2\n'.repeat(40)]);
  r.packObjects([b0, n1], { mtime: 1_500_000_000 });
  const pb = r.packObjects([b0, n2], { mtime: 1_500_000_100 });
  r.git(['multi-pack-index', 'write']);
  const entry = gitOk(['verify-pack', '-v', path.join(packDirOf(r.dir), `${pb}.idx`)], r.dir, r.env)
    .toString('utf8')
    .split('\n')
    .map((l) => l.split(/\s+/))
    .find((f) => f[0] === b0);
  assert.ok(entry !== undefined && entry.length === 5, 'b0 is whole in the newer pack');
  // A byte in the middle of its zlib stream, in the copy the MIDX names (the newer pack's).
  const packFile = path.join(packDirOf(r.dir), `${pb}.pack`);
  const bytes = fs.readFileSync(packFile);
  bytes[Number(entry[4]) + Math.floor(Number(entry[3]) / 2)] ^= 0x55;
  fs.chmodSync(packFile, 0o644);
  fs.writeFileSync(packFile, bytes);
  const crcLine = `error: bad packed object CRC for ${b0}\n`;
  for (const loose of [true, false]) {
    // With the loose copy (still there), git writes it; without, the older pack's copy is not
    // looked at: the MIDX lists that pack.
    if (!loose) gitOk(['prune-packed'], r.dir, r.env);
    const theirs = copyOf(r.dir);
    const ours = copyOf(r.dir);
    const g = run('git', ['multi-pack-index', 'repack', '--batch-size=0'], theirs, r.env);
    const o = run(bin, ['repack', '--batch-size=0'], ours, r.env);
    assert.equal(
      g.stderr,
      loose
        ? crcLine.repeat(2)
        : `${crcLine}fatal: packed object ${b0} (stored in ./objects/pack/${pb}.pack) is corrupt\nerror: could not finish pack-objects\n`,
    );
    assert.equal(g.status, loose ? 0 : 1);
    // The same lines; git repeats the CRC line when the loose copy saves the object, we do not.
    assert.equal(o.stderr, loose ? crcLine : g.stderr);
    assert.equal(o.status, g.status);
    assert.equal(listing(ours).length, listing(theirs).length);
    gitOk(['multi-pack-index', 'verify'], ours, r.env);
    if (loose) {
      fs.rmSync(path.join(ours, 'objects', b0.slice(0, 2), b0.slice(2)));
      assert.equal(gitOk(['cat-file', 'blob', b0], ours, r.env).toString('utf8'), big);
    }
  }
});

test('CLI: a delta that cannot be read back is written from its loose copy, as git does', () => {
  const { r, packs } = build('sha1');
  const base = copyOf(r.dir);
  // PC's first delta (a REF_DELTA): a byte in the middle of its zlib stream. Its header gives the
  // delta's size, not the object's, so the loose copy's size has nothing to be compared with.
  const idxFile = path.join(packDirOf(base), `${packs.pc}.idx`);
  const delta = gitOk(['verify-pack', '-v', idxFile], base, r.env)
    .toString('utf8')
    .split('\n')
    .map((l) => l.split(/\s+/))
    .find((f) => f.length === 7 && /^[0-9a-f]{40}$/.test(f[0]));
  assert.ok(delta !== undefined, 'PC holds a delta');
  const [oid, , , inPack, at] = delta;
  const packFile = path.join(packDirOf(base), `${packs.pc}.pack`);
  const bytes = fs.readFileSync(packFile);
  bytes[Number(at) + Number(inPack) - 8] ^= 0x55;
  fs.chmodSync(packFile, 0o644);
  fs.writeFileSync(packFile, bytes);
  const theirs = copyOf(base);
  const ours = copyOf(base);
  const g = run('git', ['multi-pack-index', 'repack', '--batch-size=0'], theirs, r.env);
  const o = run(bin, ['repack', '--batch-size=0'], ours, r.env);
  assert.equal(g.status, 0, g.stderr);
  assert.equal(o.status, 0, o.stderr);
  assert.match(o.stderr, new RegExp(`^error: bad packed object CRC for ${oid}\n$`));
  gitOk(['multi-pack-index', 'verify'], ours, r.env);
  const content = gitOk(['cat-file', 'blob', oid], base, r.env);
  fs.rmSync(path.join(ours, 'objects', oid.slice(0, 2), oid.slice(2)));
  assert.ok(gitOk(['cat-file', 'blob', oid], ours, r.env).equals(content));
});

test('kept packs are left out unless repack.packKeptObjects; cruft packs always (as git)', () => {
  const { r, hash, packs } = build('sha1');
  fs.writeFileSync(path.join(r.packDir, `${packs.pb}.keep`), '');
  fs.writeFileSync(path.join(r.packDir, `${packs.pd}.mtimes`), '');
  for (const keptToo of [false, true]) {
    const theirs = copyOf(r.dir);
    const ours = copyOf(r.dir);
    if (keptToo) {
      for (const d of [theirs, ours]) gitOk(['config', 'repack.packKeptObjects', 'true'], d, r.env);
    }
    const before = listing(ours);
    gitOk(['multi-pack-index', 'repack', '--batch-size=0'], theirs, r.env);
    const res = repackMidx(opts(ours, hash, r.env));
    const names = res.plan.packs.map((p) => p.name);
    assert.equal(names.includes(`${packs.pb}.idx`), keptToo);
    assert.ok(!names.includes(`${packs.pd}.idx`));
    assert.deepEqual(res.plan.skipped.map((s) => s.reason).sort(), keptToo ? ['cruft'] : ['cruft', 'keep']);
    const [t] = newPacks(before, listing(theirs));
    const [o] = newPacks(before, listing(ours));
    assert.deepEqual(showIdxBytes(ours, r.env, o), showIdxBytes(theirs, r.env, t));
    gitOk(['multi-pack-index', 'verify'], ours, r.env);
  }
});

// ---------------------------------------------------------------------------------------------
// Delta search

/**
 * Five families of similar texts, six versions each, one version of every family per pack: each
 * pack stores its blobs whole (nothing in it to delta against), the similar ones are elsewhere.
 */
function buildSpread(format: 'sha1' | 'sha256') {
  const r = TestRepo.create({ objectFormat: format, bare: true });
  repos.push(r);
  const hash = format === 'sha1' ? SHA1 : SHA256;
  const t = 1_500_000_000;
  for (let v = 0; v < 6; v++) {
    const blobs = [10, 11, 12, 13, 14].map((seed) =>
      v === 0 ? text(seed, 150) : variant(text(seed, 150), v),
    );
    blobs.push(noise(100 + v, 500));
    r.packObjects(r.writeBlobs(blobs), { mtime: t + v });
  }
  r.git(['multi-pack-index', 'write']);
  return { r, hash };
}

/** Longest delta chain in a pack, from `git verify-pack -v`. */
function longestChain(repoDir: string, env: NodeJS.ProcessEnv, stem: string): number {
  const out = gitOk(['verify-pack', '-v', path.join(packDirOf(repoDir), `${stem}.idx`)], repoDir, env);
  let max = 0;
  for (const m of out.toString('utf8').matchAll(/^chain length = (\d+):/gm))
    max = Math.max(max, Number(m[1]));
  return max;
}

for (const format of ['sha1', 'sha256'] as const) {
  test(`repack, ${format}: similar objects stored whole in different packs become deltas; git accepts the pack`, () => {
    const { r, hash } = buildSpread(format);
    const before = allObjects(r.dir, r.env);
    const oldBytes = stems(listing(r.dir)).reduce(
      (a, st) => a + fs.statSync(path.join(packDirOf(r.dir), `${st}.pack`)).size,
      0,
    );
    // Without the search every object is copied whole: the new pack is about as large as the old.
    const plain = copyOf(r.dir);
    const p0 = repackMidx(opts(plain, hash, r.env, { window: 0 }));
    assert.equal(p0.pack?.deltified, 0);
    assert.equal(p0.pack?.reused, 36);
    assert.ok(p0.pack!.bytes > oldBytes * 0.9, `${p0.pack!.bytes} of ${oldBytes}`);

    let full = 0;
    for (const [ofs, extra] of [
      [true, {}],
      [false, { useDeltaBaseOffset: false }],
    ] as const) {
      const dir = copyOf(r.dir);
      const old = listing(dir);
      const res = repackMidx(opts(dir, hash, r.env, extra));
      assert.equal(res.status, 'repacked');
      const pack = res.pack!;
      const [stem] = newPacks(old, listing(dir));
      assert.equal(stem, pack.name);
      // Of each family one version at least stays whole; the search finds most of the others (by
      // size order some family members fall outside each other's window).
      assert.ok(pack.deltified >= 20 && pack.deltified <= 25, `deltified: ${pack.deltified}`);
      assert.equal(pack.resolved, 0);
      assert.ok(pack.bytes < oldBytes / 2, `${pack.bytes} bytes, the old packs ${oldBytes}`);
      const types = entryTypes(packDirOf(dir), stem, hash);
      assert.equal(types.get(ofs ? 6 : 7), pack.deltified);
      full = pack.deltified;
      assert.equal(types.get(ofs ? 7 : 6) ?? 0, 0);
      assertGitAccepts(dir, r.env, stem, format);
      assert.ok(allObjects(dir, r.env).equals(before), 'the same objects, byte for byte');
    }

    // pack.depth bounds the chains; pack.window=0 in the configuration turns the search off.
    const shallow = copyOf(r.dir);
    const rs = repackMidx(opts(shallow, hash, r.env, { depth: 1 }));
    assert.ok(rs.pack!.deltified > 0);
    assert.equal(longestChain(shallow, r.env, rs.pack!.name), 1);
    assertGitAccepts(shallow, r.env, rs.pack!.name, format);
    // A window memory of one byte: each object is tried against its predecessor alone.
    const narrow = copyOf(r.dir);
    const rn = repackMidx(opts(narrow, hash, r.env, { windowMemory: 1 }));
    assert.ok(rn.pack!.deltified <= full, `${rn.pack!.deltified} deltas, ${full} with the full window`);
    assertGitAccepts(narrow, r.env, rn.pack!.name, format);
    const off = copyOf(r.dir);
    gitOk(['config', 'pack.window', '0'], off, r.env);
    assert.equal(repackMidx(opts(off, hash, r.env)).pack?.deltified, 0);
  });
}

/**
 * Enough candidates for a threaded search (2,000 a thread): `families` texts in five versions (one
 * byte changed), each version in a pack of its own, so that every object is stored whole and four
 * in five can become deltas.
 */
function buildMany(families: number) {
  const r = TestRepo.create({ bare: true });
  repos.push(r);
  const t = 1_500_000_000;
  for (let v = 0; v < 5; v++) {
    const blobs: string[] = [];
    for (let f = 0; f < families; f++) {
      // 300 + f bytes: a family's versions are next to each other in the search's size order.
      const base = `${text(1000 + f, 20).slice(0, 299 + f)}\n`;
      const at = (v * 37) % 290;
      blobs.push(v === 0 ? base : `${base.slice(0, at)}#${base.slice(at + 1)}`);
    }
    r.packObjects(r.writeBlobs(blobs), { mtime: t + v });
  }
  r.git(['multi-pack-index', 'write']);
  return r;
}

test('repack: a threaded delta search (pack.threads) gives a pack git accepts; a helper thread that fails or dies half-way leaves its work to the others', async () => {
  const r = buildMany(1000);
  const before = allObjects(r.dir, r.env);
  const one = copyOf(r.dir);
  const single = await repackMidxAsync(opts(one, SHA1, r.env, { threads: 1 }));
  assert.equal(single.pack?.searchThreads, 1);
  // (From the sources, helpers run through a script that registers the TypeScript loader.)
  const shim = new URL('./helpers/delta-helper.mjs', import.meta.url);
  const runs: [string, URL, number?, number?][] = [
    ['helpers', shim],
    // Most candidates past the bytes copied out in advance: read from their packs; most decisions
    // past the bytes kept in memory: in the spill file.
    ['helpers, candidates read from their packs', shim, 64 * 1024],
    ['helpers, decisions in the spill file', shim, undefined, 16 * 1024],
    ['a helper that cannot start', pathToFileURL(path.join(path.dirname(bin), 'no-such-helper.js'))],
    ['a helper that dies', new URL('./helpers/delta-helper-exits.mjs', import.meta.url)],
  ];
  for (const [what, script, arena, memory] of runs) {
    const dir = copyOf(r.dir);
    const old = listing(dir);
    setDeltaHelperScript(script);
    setRepackArenaMax(arena);
    setDeltaMemoryMax(memory);
    let res: Awaited<ReturnType<typeof repackMidxAsync>>;
    try {
      res = await repackMidxAsync(opts(dir, SHA1, r.env, { threads: 2 }));
    } finally {
      setDeltaHelperScript(undefined);
      setRepackArenaMax(undefined);
      setDeltaMemoryMax(undefined);
    }
    const pack = res.pack!;
    assert.equal(pack.searchThreads, 2, what);
    // About as many deltas as one thread finds (a thread's window starts again where it takes
    // over, which costs a few); what a dead helper took and never reported is searched again.
    assert.ok(
      pack.deltified >= single.pack!.deltified - 20 && pack.deltified <= single.pack!.deltified,
      `${what}: ${pack.deltified} deltas, ${single.pack!.deltified} with one thread`,
    );
    const [stem] = newPacks(old, listing(dir));
    assertGitAccepts(dir, r.env, stem, 'sha1');
    assert.ok(allObjects(dir, r.env).equals(before), `${what}: the same objects, byte for byte`);
    assert.deepEqual(
      listing(dir).filter((f) => f.startsWith('tmp_')),
      [],
      what,
    );
  }
  // pack.threads: as set; 0 or unset, one per core up to four.
  assert.equal(deltaThreads(7), 7);
  assert.equal(deltaThreads(0), Math.max(1, Math.min(4, availableParallelism())));
  assert.equal(deltaThreads(undefined), deltaThreads(0));
  // The synchronous run searches on its own thread.
  const sync = copyOf(r.dir);
  assert.equal(repackMidx(opts(sync, SHA1, r.env, { threads: 2 })).pack?.searchThreads, 1);
});

test('repack: an abort during a threaded search stops the helpers and leaves nothing behind', async () => {
  const r = buildMany(1000);
  const before = listing(r.dir);
  const midx = r.readMidx()!;
  const ac = new AbortController();
  setDeltaHelperScript(new URL('./helpers/delta-helper.mjs', import.meta.url));
  await assert.rejects(
    repackMidxAsync(
      opts(r.dir, SHA1, r.env, {
        threads: 2,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.title === 'Compressing objects' && e.done > 1000) ac.abort();
        },
      }),
    ),
    (e) => isGitMidxError(e, 'ABORTED'),
  );
  setDeltaHelperScript(undefined);
  assert.deepEqual(listing(r.dir), before);
  assert.ok(r.readMidx()!.equals(midx));
});

// ---------------------------------------------------------------------------------------------
// Dry run, no-ops, abort, CLI

test('--dry-run touches nothing and lists exactly the packs the real repack combines', () => {
  const { r, hash, packs } = build('sha1');
  const plan = planRepack(opts(r.dir, hash, r.env));
  const exp = (stem: string) => plan.packs.find((p) => p.name === `${stem}.idx`)!.expectedBytes;
  const batch = String(exp(packs.pa) + exp(packs.pb) + 1);
  const before = listing(r.dir);
  const midx = r.readMidx()!;
  const dry = run(bin, ['repack', '--dry-run', `--batch-size=${batch}`], r.dir, r.env);
  assert.equal(dry.status, 0, dry.stderr);
  assert.deepEqual(listing(r.dir), before);
  assert.ok(r.readMidx()!.equals(midx));
  const out = dry.stdout.toString('utf8');
  const listed = [...out.matchAll(/^would repack (\S+) \((\d+) objects, (\d+) bytes\)$/gm)].map((m) => m[1]);
  assert.ok(listed.length >= 2, out);
  assert.match(
    out,
    new RegExp(`^${listed.length} pack\\(s\\) to repack, \\d+ objects, \\d+ bytes estimated$`, 'm'),
  );
  const res = repackMidx(opts(r.dir, hash, r.env, { batchSize: Number(batch) }));
  assert.equal(res.status, 'repacked');
  assert.deepEqual(
    res.plan.packs.map((p) => p.name),
    listed,
  );
  // the real run made those packs unreferenced: expire drops exactly them
  gitOk(['multi-pack-index', 'expire'], r.dir, r.env);
  const gone = stems(before).filter((s) => !fs.existsSync(path.join(r.packDir, `${s}.idx`)));
  assert.deepEqual(gone.map((s) => `${s}.idx`).sort(), [...listed].sort());
});

test('no MIDX, no packs, one pack: a clean no-op with a status, exit 0, nothing written', () => {
  // no packs at all (and so no MIDX)
  const empty = TestRepo.create({ bare: true });
  repos.push(empty);
  assert.equal(repackMidx(opts(empty.dir, SHA1, empty.env)).status, 'no-midx');
  let c = run(bin, ['repack'], empty.dir, empty.env);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.toString() + c.stderr, '');
  assert.deepEqual(listing(empty.dir), []);

  // packs but no MIDX
  const { r, hash } = build('sha1');
  fs.rmSync(r.midxPath);
  const before = listing(r.dir);
  assert.equal(planRepack(opts(r.dir, hash, r.env)).status, 'no-midx');
  assert.equal(repackMidx(opts(r.dir, hash, r.env)).status, 'no-midx');
  c = run(bin, ['repack', '--batch-size=0'], r.dir, r.env);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.toString() + c.stderr, '');
  assert.equal(
    run(bin, ['repack', '--dry-run'], r.dir, r.env).stdout.toString(),
    'nothing to repack: no multi-pack-index\n',
  );
  assert.deepEqual(listing(r.dir), before);

  // core.multiPackIndex=false: git does not see the MIDX, nor do we
  r.git(['multi-pack-index', 'write']);
  gitOk(['config', 'core.multiPackIndex', 'false'], r.dir, r.env);
  const withMidx = listing(r.dir);
  assert.equal(repackMidx(opts(r.dir, hash, r.env)).status, 'no-midx');
  assert.deepEqual(listing(r.dir), withMidx);

  // one pack
  const one = TestRepo.create({ objectFormat: 'sha256', bare: true });
  repos.push(one);
  one.packObjects(one.writeBlobs(['one\n', 'two\n']));
  one.git(['multi-pack-index', 'write']);
  const oneBefore = listing(one.dir);
  const midx = one.readMidx()!;
  const res = repackMidx(opts(one.dir, SHA256, one.env));
  assert.equal(res.status, 'nothing-to-do');
  assert.equal(res.plan.packs.length, 1);
  c = run(bin, ['repack'], one.dir, one.env);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.toString() + c.stderr, '');
  assert.match(
    run(bin, ['repack', '--dry-run'], one.dir, one.env).stdout.toString(),
    /^nothing to repack: 1 pack\(s\) selected, at least 2 needed$/m,
  );
  assert.deepEqual(listing(one.dir), oneBefore);
  assert.ok(one.readMidx()!.equals(midx));
});

test('an abort before the renames removes the temporary files and changes nothing', async () => {
  const { r, hash } = build('sha1');
  const before = listing(r.dir);
  const midx = r.readMidx()!;
  const ac = new AbortController();
  assert.throws(
    () =>
      repackMidx(
        opts(r.dir, hash, r.env, {
          signal: ac.signal,
          onProgress: (e) => {
            if (e.title === 'Writing objects') ac.abort();
          },
        }),
      ),
    (e) => isGitMidxError(e, 'ABORTED'),
  );
  assert.deepEqual(listing(r.dir), before);
  assert.ok(r.readMidx()!.equals(midx));
  const ac2 = new AbortController();
  ac2.abort();
  await assert.rejects(repackMidxAsync(opts(r.dir, hash, r.env, { signal: ac2.signal })), (e) =>
    isGitMidxError(e, 'ABORTED'),
  );
  assert.deepEqual(listing(r.dir), before);
  // and the async run completes, MIDX rewrite included
  const progress: string[] = [];
  const res = await repackMidxAsync(
    opts(r.dir, hash, r.env, {
      onProgress: (e) => {
        if (e.end) progress.push(e.title);
      },
    }),
  );
  assert.equal(res.status, 'repacked');
  assert.ok(res.write?.written);
  assert.deepEqual(progress, [
    'Compressing objects',
    'Writing objects',
    'Adding packfiles to multi-pack-index',
  ]);
  gitOk(['multi-pack-index', 'verify'], r.dir, r.env);
});

test('CLI: bad --batch-size is a usage error (129); progress titles as git', () => {
  const { r } = build('sha1');
  const before = listing(r.dir);
  for (const v of ['x', '-1', '1.5', '5t', '']) {
    const c = run(bin, ['repack', `--batch-size=${v}`], r.dir, r.env);
    assert.equal(c.status, 129, `--batch-size=${v}`);
    assert.match(
      c.stderr,
      /^error: option `batch-size' expects a non-negative integer value with an optional k\/m\/g suffix$/m,
    );
  }
  assert.equal(run(bin, ['repack', '--batch-size'], r.dir, r.env).status, 129);
  assert.equal(run(bin, ['repack', 'extra'], r.dir, r.env).status, 129);
  assert.deepEqual(listing(r.dir), before);
  const c = run(bin, ['repack', '--progress'], r.dir, { ...r.env, GIT_PROGRESS_DELAY: '0' });
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /Writing objects: 100% \(\d+\/\d+\), done\.\n/);
  assert.match(c.stderr, /Adding packfiles to multi-pack-index: 6, done\.\n$/);
  gitOk(['multi-pack-index', 'verify'], r.dir, r.env);
});

test('repack: pack.depth counts the copied deltas resting on an object the search deltifies', () => {
  // Each pack: version v of a family whole and a chain of deltas on it (git's own), the versions of
  // the other packs elsewhere. With pack.depth=3 no chain of the new pack may pass 3.
  const r = TestRepo.create({ bare: true });
  repos.push(r);
  const t = 1_500_000_000;
  for (let v = 0; v < 4; v++) {
    const base = text(20, 200 - v * 10);
    r.packObjects(r.writeBlobs([base, variant(base, 1), variant(variant(base, 1), 2)]), { mtime: t + v });
  }
  r.git(['multi-pack-index', 'write']);
  const dir = copyOf(r.dir);
  const res = repackMidx(opts(dir, SHA1, r.env, { depth: 3 }));
  assert.ok(res.pack!.reusedDeltas > 0);
  assert.ok(
    longestChain(dir, r.env, res.pack!.name) <= 3,
    `chain ${longestChain(dir, r.env, res.pack!.name)}`,
  );
  assertGitAccepts(dir, r.env, res.pack!.name, 'sha1');
});

test("nodeDeflater's one reused stream gives deflateSync's bytes (stored blocks at level 0: a valid stream), reset between objects", () => {
  const inputs: Uint8Array[] = [new Uint8Array(0), Buffer.from('x'), Buffer.from('hello, hello, hello\n')];
  let x = 12345;
  const random = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  };
  // Incompressible bytes larger than the stream's first output buffer (its room is grown), text,
  // and a run of zeros.
  inputs.push(
    random(70_000),
    random(300),
    Buffer.from('line of text\n'.repeat(20_000)),
    new Uint8Array(200_000),
  );
  // The stream does the work: deflateSync (node:zlib's CommonJS object, which ours calls) is not.
  const cjsZlib = createRequire(import.meta.url)('node:zlib') as { deflateSync: typeof zlib.deflateSync };
  const real = cjsZlib.deflateSync;
  let fallbacks = 0;
  cjsZlib.deflateSync = ((...a: Parameters<typeof zlib.deflateSync>) => {
    fallbacks++;
    return real(...a);
  }) as typeof zlib.deflateSync;
  try {
    const d = nodeDeflater();
    for (const input of inputs) d.deflate(input);
  } finally {
    cjsZlib.deflateSync = real;
  }
  assert.equal(fallbacks, 0);
  for (const level of [-1, 0, 1, 9]) {
    const d = nodeDeflater(level);
    // Twice over: the stream is reset between objects.
    for (let round = 0; round < 2; round++) {
      for (const input of inputs) {
        const ours = d.deflate(input);
        // At level 0, stored blocks are cut where the output room ends, which deflateSync gives in
        // chunks of its own: any cut is a valid stream of the same bytes.
        if (level !== 0) {
          const want = zlib.deflateSync(input, { level });
          assert.ok(Buffer.from(ours).equals(want), `level ${level}, ${input.length} bytes, round ${round}`);
        }
        assert.ok(
          Buffer.from(zlib.inflateSync(ours)).equals(Buffer.from(input)),
          `level ${level}: round trip`,
        );
      }
    }
  }
});
