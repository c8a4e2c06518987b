/**
 * Where trust enters: files that are well formed and correctly checksummed but lie. A reused MIDX
 * with a pack-int-id or a large-offset index out of range, ids out of order (OIDL entries swapped),
 * an `.idx` and a MIDX that disagree on an offset, a stale `multi-pack-index.lock` before `repack`,
 * and library arguments of the wrong kind. Nothing may print one object's bytes under another's id,
 * write a file git's `verify` rejects, leave files behind, or leak a descriptor.
 *
 * Every repository is built by the real git; the only hand-made bytes are the lies, each with its
 * trailer recomputed so that only the content is wrong. CLI cases need `dist/` (`npm run build`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fsModule, * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { after, describe, mock, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../src/bytes.js';
import { type ErrorCode, GitMidxError } from '../src/errors.js';
import { SHA1, SHA256 } from '../src/hash.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import { expireMidx, planExpire } from '../src/node/expire.js';
import { openMidxFile, writeMidxFile, writeMidxFileAsync } from '../src/node/midx.js';
import { ObjectStore } from '../src/node/odb.js';
import { repackMidx } from '../src/node/repack.js';
import { verifyMidxFile } from '../src/node/verify.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

type Format = 'sha1' | 'sha256';
const FORMATS: readonly Format[] = ['sha1', 'sha256'];

function newRepo(format: Format, bare = true): TestRepo {
  const r = TestRepo.create({ objectFormat: format, bare });
  repos.push(r);
  return r;
}

function hashOf(format: Format) {
  return format === 'sha256' ? SHA256 : SHA1;
}

interface Run {
  status: number;
  stdout: Buffer;
  stderr: string;
}

function cli(r: TestRepo, args: string[], input = ''): Run {
  const res = spawnSync(bin, args, { cwd: r.dir, env: r.env, input, maxBuffer: 1 << 28 });
  return { status: res.status ?? 129, stdout: res.stdout, stderr: res.stderr.toString('utf8') };
}

function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at |TypeError|RangeError|node:internal/, `no stack trace: ${stderr}`);
}

function throwsCode(fn: () => unknown, code: ErrorCode): GitMidxError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof GitMidxError, `expected GitMidxError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

async function rejectsCode(p: Promise<unknown>, code: ErrorCode): Promise<GitMidxError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof GitMidxError, `expected GitMidxError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** Open descriptors of this process. */
function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Names in objects/pack, sorted. */
function packDirNames(r: TestRepo): string[] {
  return fs.readdirSync(r.packDir).sort();
}

// ---------------------------------------------------------------------------------------------
// MIDX surgery: every change recomputes the trailer, so only the content lies.

interface Chunk {
  offset: number;
  size: number;
}

function chunksOf(b: Buffer): Map<string, Chunk> {
  const count = b[6];
  const out = new Map<string, Chunk>();
  for (let i = 0; i < count; i++) {
    const o = 12 + 12 * i;
    const id = b.toString('latin1', o, o + 4);
    const offset = Number(b.readBigUInt64BE(o + 4));
    const next = Number(b.readBigUInt64BE(o + 16));
    out.set(id, { offset, size: next - offset });
  }
  return out;
}

function resum(b: Buffer, format: Format): Buffer {
  const H = hashOf(format).size;
  createHash(format)
    .update(b.subarray(0, b.length - H))
    .digest()
    .copy(b, b.length - H);
  return b;
}

/** Swaps OIDL entries i and j. */
function swapOids(good: Buffer, format: Format, i: number, j: number): Buffer {
  const H = hashOf(format).size;
  const b = Buffer.from(good);
  const oidl = chunksOf(b).get('OIDL')!.offset;
  const a = Buffer.from(b.subarray(oidl + i * H, oidl + i * H + H));
  b.copy(b, oidl + i * H, oidl + j * H, oidl + j * H + H);
  a.copy(b, oidl + j * H);
  return resum(b, format);
}

/** Sets the OOFF pack-int-id (or, with `word: 1`, the offset word) of entry k. */
function setOoff(good: Buffer, format: Format, k: number, value: number, word: 0 | 1 = 0): Buffer {
  const b = Buffer.from(good);
  const ooff = chunksOf(b).get('OOFF')!.offset;
  b.writeUInt32BE(value >>> 0, ooff + 8 * k + 4 * word);
  return resum(b, format);
}

/**
 * The same MIDX with a LOFF chunk appended after the others holding entry k's real offset as its
 * only large offset, and entry k's offset word pointing at LOFF entry `index` (0 is the truth).
 */
function withLoff(good: Buffer, format: Format, k: number, index: number): Buffer {
  const H = hashOf(format).size;
  const count = good[6];
  const ooff = chunksOf(good).get('OOFF')!.offset;
  const real = good.readUInt32BE(ooff + 8 * k + 4);
  const bodyEnd = good.length - H;
  const header = Buffer.from(good.subarray(0, 12));
  header[6] = count + 1;
  const toc = Buffer.alloc((count + 2) * 12);
  for (let i = 0; i < count; i++) {
    const o = 12 + 12 * i;
    good.copy(toc, 12 * i, o, o + 4);
    toc.writeBigUInt64BE(good.readBigUInt64BE(o + 4) + 12n, 12 * i + 4);
  }
  const loffAt = bodyEnd + 12;
  toc.write('LOFF', 12 * count, 'latin1');
  toc.writeBigUInt64BE(BigInt(loffAt), 12 * count + 4);
  toc.writeBigUInt64BE(BigInt(loffAt + 8), 12 * (count + 1) + 4);
  const chunkBytes = Buffer.from(good.subarray(12 + (count + 1) * 12, bodyEnd));
  const loff = Buffer.alloc(8);
  loff.writeBigUInt64BE(BigInt(real));
  const b = Buffer.concat([header, toc, chunkBytes, loff, Buffer.alloc(H)]);
  const newOoff = chunksOf(b).get('OOFF')!.offset;
  b.writeUInt32BE((0x80000000 | index) >>> 0, newOoff + 8 * k + 4);
  return resum(b, format);
}

// ---------------------------------------------------------------------------------------------
// cat-file --batch output

interface Record_ {
  oid: string;
  missing: boolean;
  type?: string;
  data?: Buffer;
}

function parseBatch(out: Buffer, withData: boolean): Record_[] {
  const recs: Record_[] = [];
  let at = 0;
  while (at < out.length) {
    const nl = out.indexOf(10, at);
    const line = out.toString('utf8', at, nl);
    at = nl + 1;
    const parts = line.split(' ');
    if (parts[1] === 'missing') {
      recs.push({ oid: parts[0], missing: true });
      continue;
    }
    const size = Number(parts[2]);
    const rec: Record_ = { oid: parts[0], missing: false, type: parts[1] };
    if (withData) {
      rec.data = out.subarray(at, at + size);
      at += size + 1;
    }
    recs.push(rec);
  }
  return recs;
}

/** The truth, from git reading the packs only. */
function truthOf(r: TestRepo, oids: string[]): Map<string, Record_> {
  const out = r.git(['-c', 'core.multiPackIndex=false', 'cat-file', '--batch'], {
    input: `${oids.join('\n')}\n`,
  });
  return new Map(parseBatch(out.stdout, true).map((x) => [x.oid, x]));
}

/** Every record is "missing" or the true object: never bytes under another object's id. */
function assertNeverWrong(recs: Record_[], truth: Map<string, Record_>, what: string): number {
  let missing = 0;
  for (const rec of recs) {
    if (rec.missing) {
      missing++;
      continue;
    }
    const t = truth.get(rec.oid);
    assert.ok(t && !t.missing, `${what}: ${rec.oid} exists`);
    assert.equal(rec.type, t.type, `${what}: type of ${rec.oid}`);
    if (rec.data !== undefined) assert.ok(rec.data.equals(t.data!), `${what}: content of ${rec.oid}`);
  }
  return missing;
}

/** Whether `data` of `type` hashes to `hex`. */
function hashesTo(format: Format, type: string, data: Uint8Array, hex: string): boolean {
  const h = createHash(format);
  h.update(`${type} ${data.length}\0`);
  h.update(data);
  return h.digest('hex') === hex;
}

/** A repository of 3 packs × 40 blobs (enough for the batch paths) and git's MIDX over them. */
function midxRepo(format: Format): { r: TestRepo; oids: string[]; sorted: string[]; good: Buffer } {
  const r = newRepo(format);
  const { oids } = makeManyPacks(r, 3, 40);
  r.git(['multi-pack-index', 'write', '--no-progress']);
  const good = r.readMidx()!;
  return { r, oids, sorted: [...oids].sort(), good };
}

// ---------------------------------------------------------------------------------------------

describe('the writer does not trust the MIDX it reuses (finding 8)', () => {
  for (const format of FORMATS) {
    test(`${format}: bad pack-int-id, LOFF index out of range, offset past the pack, ids out of order → fatal, nothing written`, async () => {
      const r = newRepo(format);
      makeManyPacks(r, 3, 8);
      r.git(['multi-pack-index', 'write', '--no-progress']);
      const good = r.readMidx()!;
      // A fourth pack the MIDX does not list: the write has something to do.
      makeManyPacks(r, 1, 4);
      const cases: { name: string; bytes: Buffer; code: ErrorCode; git: RegExp }[] = [
        {
          name: 'pack-int-id 99',
          bytes: setOoff(good, format, 5, 99),
          code: 'MIDX_BAD_PACK_ID',
          git: /^fatal: bad pack-int-id: 99 \(3 total packs\)$/m,
        },
        {
          name: 'pack-int-id 3 (= P)',
          bytes: setOoff(good, format, 23, 3),
          code: 'MIDX_BAD_PACK_ID',
          git: /^fatal: bad pack-int-id: 3 \(3 total packs\)$/m,
        },
        {
          name: 'LOFF index 5 of 1',
          bytes: withLoff(good, format, 7, 5),
          code: 'MIDX_LOFF_BOUNDS',
          git: /^fatal: multi-pack-index large offset out of bounds$/m,
        },
        {
          name: 'offset 0x80000005 (no LOFF): past the end of its pack',
          bytes: setOoff(good, format, 9, 0x80000005, 1),
          code: 'MIDX_BAD_OFFSET',
          git: /^fatal: multi-pack-index places oid\[9\] = [0-9a-f]+ at offset 2147483653, outside pack-[0-9a-f]+\.idx \(\d+ bytes\)$/m,
        },
        {
          name: 'OIDL entries 3 and 17 swapped',
          bytes: swapOids(good, format, 3, 17),
          code: 'MIDX_OID_ORDER',
          git: /^fatal: oid lookup out of order: oid\[\d+\] = [0-9a-f]+ >= [0-9a-f]+ = oid\[\d+\]$/m,
        },
      ];
      for (const c of cases) {
        fs.writeFileSync(r.midxPath, c.bytes);
        const before = packDirNames(r);
        const run = cli(r, ['write']);
        assert.equal(run.status, 128, `${c.name}: ${run.stderr}`);
        assert.match(run.stderr, c.git, c.name);
        assertNoStack(run.stderr);
        assert.deepEqual(packDirNames(r), before, `${c.name}: nothing written (no lock, no file)`);
        assert.ok(r.readMidx()!.equals(c.bytes), `${c.name}: the old MIDX is intact`);
        const fds = openFds();
        throwsCode(() => writeMidxFile({ objectDir: r.objectDir, hash: hashOf(format) }), c.code);
        await rejectsCode(writeMidxFileAsync({ objectDir: r.objectDir, hash: hashOf(format) }), c.code);
        assert.equal(openFds(), fds, `${c.name}: no descriptor left open`);
        assert.deepEqual(packDirNames(r), before);
      }
      // The control: a correct LOFF (entry 0 holds the true offset) is reused, and git accepts the result.
      fs.writeFileSync(r.midxPath, withLoff(good, format, 7, 0));
      assert.equal(
        r.git(['multi-pack-index', 'verify'], { allowFail: true }).status,
        0,
        'git accepts the LOFF file',
      );
      const ok = cli(r, ['write']);
      assert.equal(ok.status, 0, ok.stderr);
      const v = r.git(['multi-pack-index', 'verify'], { allowFail: true });
      assert.equal(v.status, 0, v.stderr);
      assert.equal(r.readMidx()!.readUInt32BE(8), 4, 'four packs now');
    });
  }

  test('an .idx whose ids are out of order stops the write (IDX_OID_ORDER), nothing written', () => {
    const format = 'sha1';
    const r = newRepo(format);
    makeManyPacks(r, 2, 8);
    const stem = r.listPackStems()[0];
    const file = path.join(r.packDir, `${stem}.idx`);
    const b = fs.readFileSync(file);
    const base = 8 + 1024;
    const a = Buffer.from(b.subarray(base + 2 * 20, base + 3 * 20));
    b.copy(b, base + 2 * 20, base + 5 * 20, base + 6 * 20);
    a.copy(b, base + 5 * 20);
    resum(b, format);
    fs.writeFileSync(file, b);
    const before = packDirNames(r);
    const run = cli(r, ['write']);
    assert.equal(run.status, 128, run.stderr);
    assert.match(run.stderr, /^fatal: index file .* lists object ids out of order/m);
    assertNoStack(run.stderr);
    assert.deepEqual(packDirNames(r), before);
    throwsCode(() => writeMidxFile({ objectDir: r.objectDir }), 'IDX_OID_ORDER');
  });

  test('the existing MIDX is closed when reading it for its checksum fails', () => {
    const r = newRepo('sha1');
    makeManyPacks(r, 2, 8);
    r.git(['multi-pack-index', 'write', '--no-progress']);
    const size = fs.statSync(r.midxPath).size;
    // The checksum is the only read of everything but the trailer (size − 20 bytes from 0).
    const real = fsModule.readSync;
    const fake = mock.method(fsModule, 'readSync', (...args: Parameters<typeof fs.readSync>) => {
      const [, , , length, position] = args as unknown as [number, Uint8Array, number, number, number];
      if (position === 0 && length === size - 20) {
        throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5 });
      }
      return (real as (...a: unknown[]) => number)(...args);
    });
    syncBuiltinESMExports();
    const fds = openFds();
    try {
      const e = throwsCode(() => writeMidxFile({ objectDir: r.objectDir }), 'IO_ERROR');
      assert.match(e.message, /multi-pack-index: Input\/output error/);
      assert.ok(fake.mock.callCount() > 0);
    } finally {
      fake.mock.restore();
      syncBuiltinESMExports();
    }
    assert.equal(openFds(), fds, 'the MIDX descriptor is closed');
  });
});

describe('never one object under another id (finding 9)', () => {
  for (const format of FORMATS) {
    test(`${format}: swapped OIDL entries: batch and single reads, CLI and library`, () => {
      const { r, oids, sorted, good } = midxRepo(format);
      const truth = truthOf(r, oids);
      const N = sorted.length;
      const pairs: [number, number][] = [
        [10, 11],
        [0, N - 1],
        [40, 77],
        [N - 2, N - 1],
      ];
      const hash = hashOf(format);
      for (const [i, j] of pairs) {
        const bad = swapOids(good, format, i, j);
        fs.writeFileSync(r.midxPath, bad);
        const input = `${oids.join('\n')}\n`;
        // git itself (2.39) reports the swapped ids missing through its MIDX.
        const g = parseBatch(r.git(['cat-file', '--batch'], { input }).stdout, true);
        assert.ok(
          g.some((x) => x.missing),
          'git reports some missing',
        );
        for (const args of [
          ['cat-file', '--batch'],
          ['cat-file', '--batch-check'],
        ]) {
          const run = cli(r, args, input);
          assert.equal(run.status, 0, run.stderr);
          assertNoStack(run.stderr);
          const recs = parseBatch(run.stdout, args[1] === '--batch');
          assert.equal(recs.length, oids.length);
          assertNeverWrong(recs, truth, `${args.join(' ')} swap ${i},${j}`);
          // One warning when a swapped id was found (then refused); none when both were missed.
          const warnings = run.stderr.split('\n').filter((l) => /ignoring multi-pack-index/.test(l));
          assert.ok(warnings.length <= 1, `at most one warning: ${run.stderr}`);
          for (const w of warnings) assert.match(w, /oid lookup out of order/);
          if (i + 1 === j) assert.equal(warnings.length, 1, `neighbours ${i}, ${j}: ${run.stderr}`);
        }
        // One id at a time through the CLI: the two swapped ids.
        for (const k of [i, j]) {
          const run = cli(r, ['cat-file', '-p', sorted[k]]);
          if (run.status === 0) assert.ok(run.stdout.equals(truth.get(sorted[k])!.data!), `-p ${sorted[k]}`);
          else assertNoStack(run.stderr);
        }

        // The library: every batch form, then id by id, on fresh stores.
        const ids = oids.map((h) => fromHex(h)!);
        const packed = Buffer.concat(ids);
        const check = (hex: string, o: { type: string; data: Uint8Array } | undefined, what: string) => {
          if (o !== undefined) assert.ok(hashesTo(format, o.type, o.data, hex), `${what}: ${hex}`);
        };
        const diags: string[] = [];
        let s = ObjectStore.open({
          objectDir: r.objectDir,
          hash,
          onDiagnostic: (d) => diags.push(d.message),
        });
        try {
          for (const [k, o] of s.readObjects(ids).entries()) check(oids[k], o, 'readObjects');
          s.readObjectsEach(packed, ids.length, (k, o) => check(oids[k], o, 'readObjectsEach'), {
            window: 50,
          });
          const infos = s.objectInfoPacked(packed, ids.length);
          ids.forEach((_, k) => {
            const t = truth.get(oids[k])!;
            if (infos.types[k] !== 0)
              assert.equal(infos.sizes[k], t.data!.length, `objectInfoPacked ${oids[k]}`);
          });
          assert.ok(diags.filter((m) => /ignoring multi-pack-index/.test(m)).length <= 1, diags.join('\n'));
        } finally {
          s.close();
        }
        for (const batch of [false, true]) {
          s = ObjectStore.open({ objectDir: r.objectDir, hash });
          try {
            if (batch) {
              s.objectInfos(ids).forEach((o, k) => {
                if (o) assert.equal(o.size, truth.get(oids[k])!.data!.length);
              });
              s.objectDetailsMany(ids).forEach((o, k) => {
                if (o) assert.equal(o.size, truth.get(oids[k])!.data!.length);
              });
            } else {
              for (const k of [i, j, 0, N - 1])
                check(sorted[k], s.readObject(fromHex(sorted[k])!), 'readObject');
            }
            assert.deepEqual(s.allObjectIdsHex(), sorted, 'listing stays sorted and complete');
          } finally {
            s.close();
          }
        }
        // The reader alone: a lookup of a swapped id is a typed error (when the search lands on it)
        // or a miss (when it does not), never a position paired with another object's offset.
        const m = MultiPackIndex.fromBytes(bad, { hash });
        try {
          for (const k of [i, j]) {
            try {
              assert.equal(m.lookup(fromHex(sorted[k])!), undefined, `lookup ${sorted[k]}`);
            } catch (e) {
              assert.ok(e instanceof GitMidxError && e.code === 'MIDX_OID_ORDER', String(e));
            }
          }
          try {
            const got = m.lookupMany(packed, ids.length);
            for (const k of [i, j]) assert.equal(got.positions[oids.indexOf(sorted[k])], -1);
          } catch (e) {
            assert.ok(e instanceof GitMidxError && e.code === 'MIDX_OID_ORDER', String(e));
          }
        } finally {
          m.close();
        }
      }
    });

    test(`${format}: MIDX and .idx disagree on an offset: the entry that hashes to the id answers`, () => {
      const { r, oids, sorted, good } = midxRepo(format);
      const truth = truthOf(r, oids);
      const hash = hashOf(format);
      const H = hash.size;
      // Target: one object of one pack that no REF_DELTA uses as its base (a base is looked up in
      // its pack's .idx, by git too, so a damaged entry breaks its deltas), and two other objects
      // of the same pack.
      const m = MultiPackIndex.fromBytes(good, { hash });
      const bases = new Set<string>();
      for (const name of m.packNames) {
        const vp = r.gitText(['verify-pack', '-v', path.join(r.packDir, name)]);
        for (const line of vp.split('\n')) {
          const f = line.split(/\s+/);
          if (f.length === 7 && /^[0-9a-f]+$/.test(f[6])) bases.add(f[6]);
        }
      }
      let target = 20;
      while (bases.has(m.oidHexAt(target))) target++;
      const packId = m.packIdAt(target);
      const stem = m.packNames[packId].slice(0, -4);
      const others: number[] = [];
      for (let n = 0; n < m.numObjects && others.length < 2; n++) {
        if (n !== target && m.packIdAt(n) === packId) others.push(n);
      }
      const offsets = [target, ...others].map((n) => m.offsetAt(n));
      m.close();
      const hex = sorted[target];
      const oid = fromHex(hex)!;
      const idxFile = path.join(r.packDir, `${stem}.idx`);
      const goodIdx = fs.readFileSync(idxFile);
      const n = goodIdx.readUInt32BE(8 + 255 * 4);
      // The target's position in its .idx, and its offset-table word.
      let pos = -1;
      for (let i = 0; i < n; i++) {
        if (goodIdx.subarray(8 + 1024 + i * H, 8 + 1024 + (i + 1) * H).toString('hex') === hex) pos = i;
      }
      assert.ok(pos >= 0);
      const idxWord = 8 + 1024 + n * H + n * 4 + pos * 4;
      assert.equal(goodIdx.readUInt32BE(idxWord), offsets[0]);
      const damagedIdx = (offset: number) => {
        const b = Buffer.from(goodIdx);
        b.writeUInt32BE(offset, idxWord);
        return resum(b, format);
      };
      const right = truth.get(hex)!;
      const scenarios: { name: string; midx: Buffer; idx: Buffer; mayMiss: boolean }[] = [
        { name: 'damaged .idx, correct MIDX', midx: good, idx: damagedIdx(offsets[1]), mayMiss: false },
        {
          name: 'correct .idx, lying MIDX',
          midx: setOoff(good, format, target, offsets[1], 1),
          idx: goodIdx,
          mayMiss: false,
        },
        {
          name: 'both lie, differently',
          midx: setOoff(good, format, target, offsets[1], 1),
          idx: damagedIdx(offsets[2]),
          mayMiss: true,
        },
      ];
      for (const sc of scenarios) {
        fs.writeFileSync(r.midxPath, sc.midx);
        fs.writeFileSync(idxFile, sc.idx);
        // CLI, one id.
        const run = cli(r, ['cat-file', '-p', hex]);
        assertNoStack(run.stderr);
        if (sc.mayMiss) {
          assert.ok(run.status !== 0 || run.stdout.equals(right.data!), `${sc.name}: -p`);
        } else {
          assert.equal(run.status, 0, `${sc.name}: ${run.stderr}`);
          assert.ok(run.stdout.equals(right.data!), `${sc.name}: -p prints the right object`);
        }
        if (sc.midx === good) {
          // CLI, batch: the MIDX path for everything (batches take the MIDX's offsets, as git does;
          // a MIDX whose offsets lie is only found where an id is read alone, or by verify).
          const b = cli(r, ['cat-file', '--batch'], `${oids.join('\n')}\n`);
          assert.equal(b.status, 0, b.stderr);
          const recs = parseBatch(b.stdout, true);
          assert.equal(assertNeverWrong(recs, truth, `${sc.name}: --batch`), 0);
        }
        // Library, one id.
        const s = ObjectStore.open({ objectDir: r.objectDir, hash });
        try {
          let o: { type: string; data: Uint8Array } | undefined;
          try {
            o = s.readObject(oid);
          } catch (e) {
            assert.ok(sc.mayMiss && e instanceof GitMidxError, `${sc.name}: ${String(e)}`);
          }
          if (!sc.mayMiss) assert.ok(o !== undefined, `${sc.name}: found`);
          if (o !== undefined) assert.ok(hashesTo(format, o.type, o.data, hex), `${sc.name}: right bytes`);
        } finally {
          s.close();
        }
      }
      fs.writeFileSync(idxFile, goodIdx);
    });
  }
});

describe('repack takes the lock before it writes (finding 10)', () => {
  for (const format of FORMATS) {
    test(`${format}: a stale multi-pack-index.lock → fatal 128, no new pack, idx or tmp file`, () => {
      const r = newRepo(format);
      makeManyPacks(r, 3, 8);
      r.git(['multi-pack-index', 'write', '--no-progress']);
      const lock = `${r.midxPath}.lock`;
      fs.writeFileSync(lock, '');
      const before = packDirNames(r);
      const midx = r.readMidx()!;
      const run = cli(r, ['repack']);
      assert.equal(run.status, 128, run.stderr);
      assert.match(run.stderr, /^fatal: Unable to create '.*multi-pack-index\.lock': File exists\.$/m);
      assertNoStack(run.stderr);
      assert.deepEqual(packDirNames(r), before, 'no new pack, no tmp_pack_/tmp_idx_ file');
      assert.ok(r.readMidx()!.equals(midx));
      const fds = openFds();
      throwsCode(() => repackMidx({ objectDir: r.objectDir, hash: hashOf(format) }), 'LOCK_EXISTS');
      assert.equal(openFds(), fds);
      assert.deepEqual(packDirNames(r), before);
      assert.ok(fs.existsSync(lock), "someone else's lock is left alone");
      // Without the lock the same repack runs, and releases the lock it took.
      fs.rmSync(lock);
      const ok = cli(r, ['repack']);
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(packDirNames(r).filter((n) => n.endsWith('.pack')).length, 4);
      assert.ok(!fs.existsSync(lock));
      assert.equal(r.git(['multi-pack-index', 'verify'], { allowFail: true }).status, 0);
    });
  }
});

describe('library traps (finding 11)', () => {
  test('ObjectStore.open without hash reads the repository’s object format', () => {
    for (const bare of [true, false]) {
      const r = newRepo('sha256', bare);
      const [hex] = r.writeBlobs(['hello sha256\n']);
      r.packObjects([hex]);
      // From another working directory: the object directory's own repository decides.
      const s = ObjectStore.open({ objectDir: r.objectDir, cwd: path.dirname(r.gitDir) });
      try {
        assert.equal(s.hash.name, 'sha256');
        const o = s.readObject(fromHex(hex)!);
        assert.equal(Buffer.from(o!.data).toString(), 'hello sha256\n');
      } finally {
        s.close();
      }
    }
    const r1 = newRepo('sha1');
    const s1 = ObjectStore.open({ objectDir: r1.objectDir });
    assert.equal(s1.hash.name, 'sha1');
    s1.close();
  });

  test('writeMidxFile without hash in a SHA-256 repository writes what git writes', () => {
    const r = newRepo('sha256');
    makeManyPacks(r, 3, 6);
    r.git(['multi-pack-index', 'write', '--no-progress']);
    const gitBytes = r.readMidx()!;
    fs.rmSync(r.midxPath);
    const res = writeMidxFile({ objectDir: r.objectDir });
    assert.equal(res.written, true);
    assert.ok(r.readMidx()!.equals(gitBytes));
  });

  test('verify, expire and repack without hash in a SHA-256 repository use its object format', () => {
    const r = newRepo('sha256');
    makeManyPacks(r, 4, 6, { duplicateEvery: 2 });
    r.git(['multi-pack-index', 'write', '--no-progress']);
    const v = verifyMidxFile({ objectDir: r.objectDir });
    assert.equal(v.status, 0, v.lines.join('\n'));
    assert.equal(planExpire({ objectDir: r.objectDir }).hasMidx, true);
    const before = r.gitText(['cat-file', '--batch-all-objects', '--batch-check']);
    repackMidx({ objectDir: r.objectDir, batchSize: 0 });
    expireMidx({ objectDir: r.objectDir });
    assert.equal(r.gitText(['cat-file', '--batch-all-objects', '--batch-check']), before);
    assert.equal(r.git(['multi-pack-index', 'verify'], { allowFail: true }).status, 0);
  });

  test('a missing object directory (or a file in its place) is OBJECT_DIR_NOT_FOUND naming it', () => {
    const r = newRepo('sha1');
    const fds = openFds();
    const missing = path.join(r.gitDir, 'no-such-objects');
    let e = throwsCode(() => ObjectStore.open({ objectDir: missing, hash: SHA1 }), 'OBJECT_DIR_NOT_FOUND');
    assert.ok(e.message.includes(missing));
    e = throwsCode(() => ObjectStore.open({ objectDir: missing }), 'OBJECT_DIR_NOT_FOUND');
    const file = path.join(r.gitDir, 'HEAD');
    e = throwsCode(() => ObjectStore.open({ objectDir: file, hash: SHA1 }), 'OBJECT_DIR_NOT_FOUND');
    assert.match(e.message, /is not a directory/);
    assert.equal(openFds(), fds);
  });

  for (const format of FORMATS) {
    test(`${format}: ids must be bytes of the hash's size (INVALID_ARGUMENT), never a silent miss`, () => {
      const { r, sorted, good } = midxRepo(format);
      const hash = hashOf(format);
      const hex = sorted[3];
      const s = ObjectStore.open({ objectDir: r.objectDir, hash });
      const m = MultiPackIndex.fromBytes(good, { hash });
      try {
        // The control: the same id as bytes is found.
        assert.ok(s.readObject(fromHex(hex)!));
        assert.ok(m.lookup(fromHex(hex)!));
        const bad: unknown[] = [
          hex,
          hex.toUpperCase(),
          Buffer.from(hex),
          new Uint8Array(hash.size - 1),
          [1, 2, 3],
          null,
          42,
        ];
        for (const id of bad) {
          const a = id as Uint8Array;
          for (const call of [
            () => s.readObject(a),
            () => s.objectInfo(a),
            () => s.objectDetails(a),
            () => s.hasObject(a),
            () => s.readObjects([a]),
            () => m.lookup(a),
            () => m.has(a),
            () => m.findPosition(a),
          ]) {
            const e = throwsCode(call, 'INVALID_ARGUMENT');
            if (typeof id === 'string')
              assert.match(e.message, /must be a Uint8Array of \d+ bytes.*got a string/);
          }
        }
        throwsCode(() => m.lookupMany(hex as unknown as Uint8Array, 1), 'INVALID_ARGUMENT');
        throwsCode(() => s.readObjects(hex as unknown as Uint8Array[]), 'INVALID_ARGUMENT');
        throwsCode(() => s.hasObjects(undefined as unknown as Uint8Array[]), 'INVALID_ARGUMENT');
        throwsCode(() => s.resolvePrefix(fromHex(hex) as unknown as string), 'INVALID_ARGUMENT');
        throwsCode(() => s.objectInfoPacked(hex as unknown as Uint8Array, 1), 'INVALID_ARGUMENT');
        throwsCode(() => m.findPosition(Buffer.alloc(hash.size * 2), hash.size + 1), 'INVALID_ARGUMENT');
        assert.equal(m.findPosition(Buffer.concat([Buffer.alloc(3), fromHex(hex)!]), 3), 3);
      } finally {
        s.close();
        m.close();
      }
    });
  }

  test('descriptors: error paths of open, write, lookups and store leave none open', () => {
    const { r, good } = midxRepo('sha1');
    makeManyPacks(r, 1, 4);
    const fds = openFds();
    // A MIDX that fails to open (bad signature), one that fails the write, one that fails lookups.
    const bad = Buffer.from(good);
    bad.write('XIDX', 0, 'latin1');
    fs.writeFileSync(r.midxPath, bad);
    throwsCode(() => openMidxFile(r.midxPath, { hash: SHA1 }), 'MIDX_BAD_SIGNATURE');
    throwsCode(() => writeMidxFile({ objectDir: r.objectDir }), 'MIDX_BAD_SIGNATURE');
    fs.writeFileSync(r.midxPath, setOoff(good, 'sha1', 1, 77));
    throwsCode(() => writeMidxFile({ objectDir: r.objectDir }), 'MIDX_BAD_PACK_ID');
    fs.writeFileSync(r.midxPath, swapOids(good, 'sha1', 5, 6));
    const s = ObjectStore.open({ objectDir: r.objectDir, hash: SHA1 });
    s.allObjectIdsHex();
    s.close();
    fs.writeFileSync(`${r.midxPath}.lock`, '');
    fs.writeFileSync(r.midxPath, good);
    throwsCode(() => repackMidx({ objectDir: r.objectDir }), 'LOCK_EXISTS');
    assert.equal(openFds(), fds);
  });
});
