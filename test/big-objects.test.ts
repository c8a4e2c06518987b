/**
 * Big objects: streamed output, the limit on objects built in memory, output order, owned bytes.
 *
 * - `cat-file --batch` (fast and general paths), `-p` and `<type> <object>` print byte for byte
 *   what git prints, on blobs of 0 B to a few MiB in random order (a small one followed by one of
 *   524,289 bytes among them), loose and then packed with deltas, SHA-1 and SHA-256.
 * - Delta bombs built here byte by byte (a tiny base; a delta whose header declares 4 GiB; two-level
 *   ones) give OBJECT_TOO_LARGE from the library and `fatal:` exit 128 from the CLI, with the
 *   child's peak RSS (`/usr/bin/time`) under 512 MiB; the limit can be raised (option, environment)
 *   and is honoured on both sides of a 2 MiB delta result.
 * - A 64 MiB blob printed by `cat-file -p` and `--batch` costs far less memory than its size.
 * - Returned objects own their bytes; `streamObject` equals `readObject` and reports corruption.
 *
 * Needs `dist/` (npm test builds first). Multi-GB objects are in test-long/big-blob.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { fromHex, toHex } from '../src/bytes.js';
import { GitMidxError, isGitMidxError } from '../src/errors.js';
import { type HashAlgorithm, SHA1, SHA256 } from '../src/hash.js';
import { nodeHash } from '../src/node/hash.js';
import { ObjectStore, type ObjectStream } from '../src/node/odb.js';
import { TestRepo } from './helpers/git.js';
import { entryHeader, leb, ofsBytes } from './helpers/pack-bytes.js';
import { prng } from './helpers/prng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');
const TIME = '/usr/bin/time';
const hasTime = fs.existsSync(TIME);
const MiB = 1024 * 1024;

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function newRepo(format: 'sha1' | 'sha256'): TestRepo {
  const r = TestRepo.create({ objectFormat: format });
  repos.push(r);
  return r;
}

function hashOf(format: 'sha1' | 'sha256'): HashAlgorithm {
  return format === 'sha1' ? SHA1 : SHA256;
}

/** Deterministic bytes: random-looking (`kind` 0) or a repeated text line (compressible). */
function content(seed: number, size: number, kind = 0): Buffer {
  const out = Buffer.alloc(size);
  if (kind === 0) {
    const next = prng(seed);
    let i = 0;
    for (; i + 4 <= size; i += 4) out.writeUInt32LE(Math.floor(next() * 2 ** 32), i);
    for (; i < size; i++) out[i] = Math.floor(next() * 256);
  } else {
    const line = Buffer.from(`line of blob ${seed}: the quick brown fox jumps over the lazy dog\n`);
    for (let i = 0; i < size; i += line.length) line.copy(out, i, 0, Math.min(line.length, size - i));
  }
  return out;
}

interface Run {
  status: number;
  stdout: Buffer;
  stderr: string;
  /** Peak resident set size of the child in KiB (undefined without /usr/bin/time). */
  maxRssKiB: number | undefined;
}

/**
 * bin/git-midx as a user runs it, under `/usr/bin/time` when there is one. With `outFile`, stdout
 * goes to that file (not through this process's memory).
 */
function cli(
  r: TestRepo,
  args: string[],
  opts: { input?: string; env?: Record<string, string>; outFile?: string } = {},
): Run {
  const rssFile = path.join(r.scratchDir(), 'rss');
  const env = { ...r.env, ...opts.env };
  const [cmd, argv] = hasTime ? [TIME, ['-f', '%M', '-o', rssFile, bin, ...args]] : [bin, args];
  const out = opts.outFile !== undefined ? fs.openSync(opts.outFile, 'w') : 'pipe';
  try {
    const res = spawnSync(cmd, argv, {
      cwd: r.dir,
      env,
      input: opts.input ?? '',
      stdio: ['pipe', out, 'pipe'],
      maxBuffer: 1 << 30,
    });
    const rss = hasTime
      ? Number.parseInt(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()!, 10)
      : NaN;
    return {
      status: res.status ?? 129,
      stdout: res.stdout ?? Buffer.alloc(0),
      stderr: (res.stderr ?? Buffer.alloc(0)).toString('utf8'),
      maxRssKiB: Number.isFinite(rss) ? rss : undefined,
    };
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
}

function assertClean(r: Run): void {
  assert.doesNotMatch(r.stderr, /\n\s+at |RangeError|out of range|node:internal|ERR_/, r.stderr);
}

function fileHash(file: string): string {
  const h = createHash('sha1');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function readAll(s: ObjectStream): Buffer {
  const parts: Buffer[] = [];
  for (let c = s.read(); c !== undefined; c = s.read()) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Hand-built packs (spec/objects-format.md §1.2, §2.2, §3)

/**
 * A delta from a base of `baseSize` bytes that copies its first 64 KiB `copies` times: its header
 * declares `copies` × 64 KiB, and it really produces that (one instruction byte per 64 KiB).
 */
function copyDelta(baseSize: number, copies: number): Buffer {
  const head = [...leb(baseSize), ...leb(copies * 0x10000)];
  const out = Buffer.alloc(head.length + copies, 0x80);
  Buffer.from(head).copy(out, 0);
  return out;
}

interface Entry {
  id: Uint8Array;
  type: 3 | 6 | 7;
  data: Uint8Array;
  /** OFS_DELTA: index of the base entry. REF_DELTA: the base id. */
  ofsTo?: number;
  ref?: Uint8Array;
}

/** Writes `entries` as a pack and its idx v2 into objects/pack; returns the pack's size. */
function writePack(r: TestRepo, hash: HashAlgorithm, entries: Entry[]): number {
  const H = hash.size;
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(entries.length, 8);
  parts.push(head);
  let pos = 12;
  const offsets: number[] = [];
  const crcs: number[] = [];
  for (const e of entries) {
    offsets.push(pos);
    const bytes = entryHeader(e.type, e.data.length);
    if (e.type === 6) bytes.push(...ofsBytes(pos - offsets[e.ofsTo!]));
    if (e.type === 7) bytes.push(...e.ref!);
    const raw = Buffer.concat([Buffer.from(bytes), zlib.deflateSync(e.data, { level: 9 })]);
    crcs.push(zlib.crc32(raw));
    parts.push(raw);
    pos += raw.length;
  }
  const body = Buffer.concat(parts);
  const ph = nodeHash(hash);
  ph.update(body);
  const trailer = Buffer.from(ph.digest());
  const pack = Buffer.concat([body, trailer]);
  const sorted = entries
    .map((e, i) => ({ oid: Buffer.from(e.id), offset: offsets[i], crc: crcs[i] }))
    .sort((a, b) => Buffer.compare(a.oid, b.oid));
  const n = sorted.length;
  const idx = Buffer.alloc(1032 + n * (H + 8) + 2 * H);
  idx.writeUInt32BE(0xff744f63, 0);
  idx.writeUInt32BE(2, 4);
  for (let b = 0; b < 256; b++) idx.writeUInt32BE(sorted.filter((o) => o.oid[0] <= b).length, 8 + 4 * b);
  sorted.forEach((o, i) => {
    o.oid.copy(idx, 1032 + i * H);
    idx.writeUInt32BE(o.crc >>> 0, 1032 + n * H + 4 * i);
    idx.writeUInt32BE(o.offset, 1032 + n * (H + 4) + 4 * i);
  });
  const end = idx.length - 2 * H;
  trailer.copy(idx, end);
  const ih = nodeHash(hash);
  ih.update(idx.subarray(0, end + H));
  idx.set(ih.digest(), end + H);
  const stem = path.join(r.packDir, `pack-${toHex(trailer)}`);
  fs.writeFileSync(`${stem}.idx`, idx);
  fs.writeFileSync(`${stem}.pack`, pack);
  return pack.length;
}

function objectId(hash: HashAlgorithm, type: string, data: Uint8Array): Uint8Array {
  const h = nodeHash(hash);
  h.update(Buffer.from(`${type} ${data.length}\0`));
  h.update(data);
  return h.digest();
}

function fakeId(hash: HashAlgorithm, seed: number): Uint8Array {
  return Uint8Array.from(content(seed, hash.size));
}

// ---------------------------------------------------------------------------------------------

for (const format of ['sha1', 'sha256'] as const) {
  describe(`cat-file output is git's, byte for byte (${format})`, () => {
    const r = newRepo(format);
    // Sizes around every buffer edge (512 B, 4 KiB, 64 KiB, 512 KiB, 1 MiB) up to a few MiB, a
    // few random ones, and one above the streaming threshold; some compressible.
    const sizes = [
      0,
      1,
      2,
      100,
      511,
      512,
      513,
      1000,
      4095,
      4096,
      4097,
      65535,
      65536,
      524287,
      524288,
      524289,
      524290,
      MiB,
      2 * MiB + 1,
      3 * MiB,
      6 * MiB + 7,
    ];
    const next = prng(format === 'sha1' ? 11 : 12);
    for (let i = 0; i < 6; i++) sizes.push(Math.floor(next() * 3 * MiB));
    const blobs = sizes.map((n, i) => content(1000 + i, n, i % 3 === 2 ? 1 : 0));
    // Versions of one file, for deltas once packed.
    const v0 = content(77, 3 * MiB, 1);
    for (let i = 1; i <= 3; i++) {
      const v = Buffer.from(v0);
      content(500 + i, 4096).copy(v, i * 100000);
      blobs.push(v);
    }
    const ids = r.writeBlobs(blobs);
    const small = ids[sizes.indexOf(100)];
    const after524289 = ids[sizes.indexOf(524289)];
    const order = [...ids];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const missing = '0123'.repeat(r.hexLength / 4);
    const lines = [small, after524289, ...order, missing, ids[0], small.toUpperCase(), after524289];
    const input = `${lines.join('\n')}\n`;
    const formats = ['--batch', '--batch=%(objectname) %(objecttype) %(objectsize) %(deltabase) %(rest)'];

    const compare = (what: string) => {
      for (const f of formats) {
        const ours = cli(r, ['cat-file', f], { input });
        const theirs = r.git(['cat-file', f], { input });
        assert.equal(ours.status, 0, ours.stderr);
        assert.equal(ours.stdout.length, theirs.stdout.length, `${what} ${f}: length`);
        assert.ok(ours.stdout.equals(theirs.stdout), `${what} ${f}: bytes differ`);
      }
      // A small object then one of 524,289 bytes: the order that used to come out scrambled.
      const pair = cli(r, ['cat-file', '--batch'], { input: `${small}\n${after524289}\n` });
      const pairGit = r.git(['cat-file', '--batch'], { input: `${small}\n${after524289}\n` });
      assert.ok(pair.stdout.equals(pairGit.stdout), `${what}: small then 524,289 bytes`);
      for (const id of [ids[0], small, after524289, ids[sizes.indexOf(6 * MiB + 7)], ids[ids.length - 1]]) {
        for (const args of [
          ['-p', id],
          ['blob', id],
        ]) {
          const ours = cli(r, ['cat-file', ...args]);
          assert.equal(ours.status, 0, ours.stderr);
          assert.ok(ours.stdout.equals(r.git(['cat-file', ...args]).stdout), `${what} ${args.join(' ')}`);
        }
      }
    };

    test('loose objects', () => compare('loose'));

    test('packed, with deltas, through a MIDX', () => {
      r.git(['pack-objects', '-q', '--window=10', path.join(r.packDir, 'pack')], {
        input: `${ids.join('\n')}\n`,
      });
      r.git(['prune-packed']);
      r.git(['multi-pack-index', 'write']);
      const check = r.git(['cat-file', '--batch-check=%(deltabase)'], { input }).stdout.toString();
      assert.match(check, /^(?!0+$)[0-9a-f]+$/m, 'some objects are deltas');
      compare('packed');
    });
  });
}

describe('delta bombs and the object size limit', () => {
  for (const format of ['sha1', 'sha256'] as const) {
    test(`a delta declaring 4 GiB, and two-level ones (${format})`, () => {
      const hash = hashOf(format);
      const r = newRepo(format);
      const zeros = new Uint8Array(0x10000);
      const baseId = objectId(hash, 'blob', zeros);
      const bomb = fakeId(hash, 1);
      const level1 = fakeId(hash, 2);
      const underBase = fakeId(hash, 3);
      const twoHuge = fakeId(hash, 4);
      // A small object built on the 4 GiB one: the base is too large, not the object.
      const small = Buffer.concat([
        Buffer.from([...leb(4 * 1024 * MiB), ...leb(0x10000)]),
        Buffer.from([0x80]),
      ]);
      const size = writePack(r, hash, [
        { id: baseId, type: 3, data: zeros },
        { id: bomb, type: 6, data: copyDelta(0x10000, 0x10000), ofsTo: 0 },
        { id: level1, type: 6, data: copyDelta(0x10000, 0x10000), ofsTo: 0 },
        { id: underBase, type: 7, data: small, ref: level1 },
        { id: twoHuge, type: 7, data: copyDelta(4 * 1024 * MiB, 0x20000), ref: level1 },
      ]);
      assert.ok(size < 2048, `a pack of ${size} bytes`);

      const before = process.resourceUsage().maxRSS;
      const store = ObjectStore.open({ objectDir: r.objectDir, hash });
      try {
        const cases: [Uint8Array, number, RegExp][] = [
          [bomb, 4 * 1024 * MiB, /is 4294967296 bytes/],
          [underBase, 4 * 1024 * MiB, /needs a delta base of 4294967296 bytes/],
          [twoHuge, 8 * 1024 * MiB, /is 8589934592 bytes/],
        ];
        for (const [id, declared, what] of cases) {
          assert.equal(store.objectInfo(id)?.size, id === underBase ? 0x10000 : declared);
          for (const read of [() => store.readObject(id), () => store.streamObject(id)]) {
            assert.throws(read, (e: unknown) => {
              assert.ok(isGitMidxError(e, 'OBJECT_TOO_LARGE'), String(e));
              assert.match(e.message, new RegExp(`^object ${toHex(id)} `));
              assert.match(e.message, what);
              assert.match(
                e.message,
                /more than the limit of 1073741824 bytes; raise the limit with the maxObjectSize option/,
              );
              return true;
            });
          }
        }
        // The whole objects still read.
        assert.deepEqual(store.readObject(baseId)?.data, zeros);
      } finally {
        store.close();
      }
      // Nothing of the declared sizes was allocated.
      assert.ok(process.resourceUsage().maxRSS - before < 256 * 1024, 'library memory stays small');

      for (const [id, shown] of [
        [bomb, '4294967296'],
        [underBase, '4294967296'],
        [twoHuge, '8589934592'],
      ] as const) {
        const hex = toHex(id);
        for (const run of [
          cli(r, ['cat-file', '-p', hex]),
          cli(r, ['cat-file', 'blob', hex]),
          cli(r, ['cat-file', '--batch'], { input: `${toHex(baseId)}\n${hex}\n` }),
          cli(r, ['cat-file', '--batch=%(objectname) %(rest)'], { input: `${hex} x\n` }),
        ]) {
          assert.equal(run.status, 128, run.stderr);
          assertClean(run);
          assert.match(
            run.stderr,
            new RegExp(`^fatal: object ${hex} \\(in [^)]+\\) (is|needs a delta base of) ${shown} bytes`),
          );
          assert.match(
            run.stderr,
            /raise the limit with --max-object-size=<n> or GIT_MIDX_MAX_OBJECT_SIZE\n$/,
          );
          if (run.maxRssKiB !== undefined)
            assert.ok(run.maxRssKiB < 512 * 1024, `peak RSS ${run.maxRssKiB} KiB`);
        }
        // Sizes come from headers, as git answers them.
        const s = cli(r, ['cat-file', '-s', hex]);
        assert.equal(s.stdout.toString(), `${id === underBase ? 65536 : shown}\n`);
      }
      // The batch prints what comes before the failing object, then dies.
      const batch = cli(r, ['cat-file', '--batch'], { input: `${toHex(baseId)}\n${toHex(bomb)}\n` });
      assert.equal(batch.stdout.length, `${toHex(baseId)} blob 65536\n`.length + 65536 + 1);
    });
  }

  test('the limit is the option, else the environment, else 1 GiB; clamped to a Buffer', () => {
    const hash = SHA1;
    const r = newRepo('sha1');
    const zeros = new Uint8Array(0x10000);
    const baseId = objectId(hash, 'blob', zeros);
    const result = new Uint8Array(2 * MiB);
    const id = objectId(hash, 'blob', result);
    const hugeId = fakeId(hash, 9);
    writePack(r, hash, [
      { id: baseId, type: 3, data: zeros },
      { id, type: 6, data: copyDelta(0x10000, 32), ofsTo: 0 },
      { id: hugeId, type: 6, data: copyDelta(0x10000, 0x20000), ofsTo: 0 },
    ]);
    const hex = toHex(id);
    // Library: 1 MiB refuses the 2 MiB result, 4 MiB gives it.
    const low = ObjectStore.open({ objectDir: r.objectDir, hash, maxObjectSize: MiB });
    try {
      assert.throws(
        () => low.readObject(id),
        (e: unknown) =>
          isGitMidxError(e, 'OBJECT_TOO_LARGE') &&
          /is 2097152 bytes, more than the limit of 1048576 bytes/.test(e.message) &&
          e.data.size === 2 * MiB &&
          e.data.limit === MiB,
      );
    } finally {
      low.close();
    }
    const high = ObjectStore.open({
      objectDir: r.objectDir,
      hash,
      maxObjectSize: 4 * MiB,
      verifyHashes: true,
    });
    try {
      assert.deepEqual(high.readObject(id)?.data, result);
      assert.deepEqual(readAll(high.streamObject(id)!), Buffer.from(result));
    } finally {
      high.close();
    }
    // Above what a Buffer holds: lowered, and the message says so.
    const huge = ObjectStore.open({ objectDir: r.objectDir, hash, maxObjectSize: 2 ** 40 });
    try {
      assert.throws(
        () => huge.readObject(hugeId),
        (e: unknown) =>
          isGitMidxError(e, 'OBJECT_TOO_LARGE') &&
          e.message.includes(
            'is 8589934592 bytes, more than the limit of 4294967296 bytes (1099511627776 was asked for',
          ),
      );
    } finally {
      huge.close();
    }

    // CLI: environment, option over environment, both sides of the limit.
    const expectFatal = (run: Run, limit: number) => {
      assert.equal(run.status, 128, run.stderr);
      assertClean(run);
      assert.match(
        run.stderr,
        new RegExp(`^fatal: object ${hex} .*is 2097152 bytes, more than the limit of ${limit} bytes`),
      );
    };
    const expectOk = (run: Run) => {
      assert.equal(run.status, 0, run.stderr);
      assert.ok(run.stdout.equals(Buffer.from(result)));
    };
    expectOk(cli(r, ['cat-file', '-p', hex]));
    expectFatal(cli(r, ['cat-file', '-p', hex], { env: { GIT_MIDX_MAX_OBJECT_SIZE: '1m' } }), MiB);
    expectOk(cli(r, ['cat-file', '-p', hex], { env: { GIT_MIDX_MAX_OBJECT_SIZE: '3m' } }));
    expectFatal(
      cli(r, ['cat-file', '--max-object-size=1024k', '-p', hex], { env: { GIT_MIDX_MAX_OBJECT_SIZE: '3m' } }),
      MiB,
    );
    expectOk(
      cli(r, ['cat-file', '--max-object-size=4M', 'blob', hex], { env: { GIT_MIDX_MAX_OBJECT_SIZE: '1m' } }),
    );
    expectFatal(cli(r, ['cat-file', '--max-object-size=2097151', '--batch'], { input: `${hex}\n` }), 2097151);
    const batch = cli(r, ['cat-file', '--max-object-size=2097152', '--batch'], { input: `${hex}\n` });
    assert.equal(batch.status, 0, batch.stderr);
    assert.equal(batch.stdout.length, `${hex} blob 2097152\n`.length + 2 * MiB + 1);
    // Values that are not sizes.
    const badOption = cli(r, ['cat-file', '--max-object-size=lots', '-p', hex]);
    assert.equal(badOption.status, 129);
    assert.match(badOption.stderr, /^error: option `max-object-size' expects a non-negative integer/);
    const badEnv = cli(r, ['cat-file', '-p', hex], { env: { GIT_MIDX_MAX_OBJECT_SIZE: '2x' } });
    assert.equal(badEnv.status, 128);
    assert.match(badEnv.stderr, /^fatal: bad numeric value '2x' for GIT_MIDX_MAX_OBJECT_SIZE/);
    // A loose object over the limit: refused by readObject, streamed by the CLI (whole objects
    // need no limit), in every mode.
    const looseBytes = content(5, 2 * MiB);
    const [loose] = r.writeBlobs([looseBytes]);
    const lowLoose = ObjectStore.open({ objectDir: r.objectDir, hash, maxObjectSize: MiB });
    try {
      assert.throws(
        () => lowLoose.readObject(fromHex(loose)!),
        (e: unknown) =>
          isGitMidxError(e, 'OBJECT_TOO_LARGE') &&
          new RegExp(
            `^object ${loose} \\(in [^)]*objects/${loose.slice(0, 2)}/${loose.slice(2)}\\) is 2097152 bytes, more than the limit of 1048576`,
          ).test(e.message),
      );
      assert.ok(readAll(lowLoose.streamObject(fromHex(loose)!)!).equals(looseBytes));
    } finally {
      lowLoose.close();
    }
    for (const [args, input] of [
      [['-p', loose], ''],
      [['--batch'], `${loose}\n`],
      [['--batch=%(objectname) %(rest)'], `${loose} x\n`],
    ] as const) {
      const run = cli(r, ['cat-file', '--max-object-size=1m', ...args], { input });
      assert.equal(run.status, 0, run.stderr);
      assert.ok(run.stdout.equals(r.git(['cat-file', ...args], { input }).stdout), args.join(' '));
    }
  });
});

describe('large blobs are streamed', () => {
  test('a 64 MiB blob through cat-file -p and --batch, loose and packed: memory far below its size', () => {
    const r = newRepo('sha1');
    const blob = content(64, 64 * MiB);
    const [id] = r.writeBlobs([blob]);
    const [tiny] = r.writeBlobs(['tiny\n']);
    const want = createHash('sha1').update(blob).digest('hex');
    const batchWant = createHash('sha1')
      .update(`${id} blob ${blob.length}\n`)
      .update(blob)
      .update('\n')
      .digest('hex');
    const out = path.join(r.scratchDir(), 'out');
    const check = (what: string) => {
      const base = cli(r, ['cat-file', '-p', tiny], { outFile: out });
      assert.equal(base.status, 0, base.stderr);
      const p = cli(r, ['cat-file', '-p', id], { outFile: out });
      assert.equal(p.status, 0, p.stderr);
      assert.equal(fileHash(out), want, `${what}: -p bytes`);
      const b = cli(r, ['cat-file', '--batch'], { input: `${tiny}\n${id}\n`, outFile: out });
      assert.equal(b.status, 0, b.stderr);
      const withTiny = createHash('sha1').update(
        r.git(['cat-file', '--batch'], { input: `${tiny}\n${id}\n` }).stdout,
      );
      assert.equal(fileHash(out), withTiny.digest('hex'), `${what}: --batch bytes`);
      const only = cli(r, ['cat-file', '--batch'], { input: `${id}\n`, outFile: out });
      assert.equal(fileHash(out), batchWant, `${what}: --batch alone`);
      if (base.maxRssKiB !== undefined) {
        for (const run of [p, b, only]) {
          const growth = run.maxRssKiB! - base.maxRssKiB!;
          assert.ok(growth < 24 * 1024, `${what}: RSS grew by ${growth} KiB for a 64 MiB blob`);
        }
      }
    };
    check('loose');
    r.git(['pack-objects', '-q', path.join(r.packDir, 'pack')], { input: `${id}\n${tiny}\n` });
    r.git(['prune-packed']);
    check('packed');
  });
});

describe('library: owned bytes and streamObject', () => {
  for (const format of ['sha1', 'sha256'] as const) {
    test(`returned objects own their ArrayBuffer (${format})`, () => {
      const hash = hashOf(format);
      const r = newRepo(format);
      const sizes = [0, 1, 7, 64, 200, 511, 512, 513, 2000, 4095, 4097, 30000];
      const blobs = [];
      for (let copy = 0; copy < 8; copy++)
        for (const n of sizes) blobs.push(content(copy * 100 + n, n, n % 2));
      const ids = r.writeBlobs(blobs).map((h) => fromHex(h)!);
      const check = (objs: { data: Uint8Array }[]) => {
        const seen = new Set<ArrayBufferLike>();
        for (const o of objs) {
          assert.ok(!seen.has(o.data.buffer), 'an ArrayBuffer shared by two objects');
          seen.add(o.data.buffer);
          assert.equal(o.data.byteOffset, 0);
          assert.ok(
            o.data.buffer.byteLength - o.data.length <= 64,
            `${o.data.buffer.byteLength} for ${o.data.length}`,
          );
        }
        // Moving one object's buffer away leaves the others intact.
        const copies = objs.map((o) => Buffer.from(o.data));
        for (let i = 0; i < objs.length; i += 3)
          structuredClone(objs[i].data, { transfer: [objs[i].data.buffer as ArrayBuffer] });
        for (let i = 0; i < objs.length; i++) if (i % 3 !== 0) assert.ok(copies[i].equals(objs[i].data));
      };
      const run = () => {
        const store = ObjectStore.open({ objectDir: r.objectDir, hash });
        try {
          check(ids.map((id) => store.readObject(id)!));
          check(store.readObjects(ids).map((o) => o!));
          const each: { data: Uint8Array }[] = [];
          const packed = new Uint8Array(ids.length * hash.size);
          for (let i = 0; i < ids.length; i++) packed.set(ids[i], i * hash.size);
          store.readObjectsEach(packed, ids.length, (_, o) => {
            each.push(o!);
          });
          check(each);
        } finally {
          store.close();
        }
      };
      run();
      r.git(['pack-objects', '-q', path.join(r.packDir, 'pack')], {
        input: `${ids.map((i) => toHex(i)).join('\n')}\n`,
      });
      r.git(['prune-packed']);
      r.git(['multi-pack-index', 'write']);
      run();
    });
  }

  test('streamObject equals readObject: loose, packed, deltas, trees, the empty tree', () => {
    const r = newRepo('sha1');
    const hash = SHA1;
    const v0 = content(3, 300000, 1);
    const versions = [1, 2, 3].map((i) => {
      const v = Buffer.from(v0);
      content(i, 1000).copy(v, i * 5000);
      return v;
    });
    const big = content(8, 5 * MiB + 3);
    const bigText = content(9, 5 * MiB, 1);
    const looseIds = r.writeBlobs([Buffer.alloc(0), Buffer.from('x'), content(4, 100000), big, bigText]);
    const packedIds = r.writeBlobs([v0, ...versions, content(5, 6 * MiB)]);
    r.git(['pack-objects', '-q', '--window=10', path.join(r.packDir, 'pack')], {
      input: `${packedIds.join('\n')}\n`,
    });
    r.git(['prune-packed']);
    fs.writeFileSync(path.join(r.dir, 'f'), 'file\n');
    r.git(['add', 'f']);
    r.git(['commit', '-q', '-m', 'c']);
    const commit = r.gitText(['rev-parse', 'HEAD']);
    const tree = r.gitText(['rev-parse', 'HEAD^{tree}']);
    const emptyTree = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
    const store = ObjectStore.open({ objectDir: r.objectDir, hash, verifyHashes: true });
    try {
      for (const hex of [...looseIds, ...packedIds, commit, tree, emptyTree]) {
        const id = fromHex(hex)!;
        const whole = store.readObject(id)!;
        for (const chunkSize of [1000, undefined]) {
          const s = store.streamObject(id, { chunkSize })!;
          assert.equal(s.type, whole.type);
          assert.equal(s.size, whole.size);
          const got = readAll(s);
          assert.ok(got.equals(whole.data), `${hex} (${whole.size} bytes, chunks of ${chunkSize})`);
          assert.equal(s.read(), undefined);
          s.close();
        }
      }
      assert.equal(store.streamObject(fakeId(hash, 77)), undefined);
      // Closing early releases it; a second close is harmless.
      const s = store.streamObject(fromHex(looseIds[3])!, { chunkSize: 4096 })!;
      assert.equal(s.read()!.length, 4096);
      s.close();
      s.close();
    } finally {
      store.close();
    }
  });

  test('a damaged stream is a typed error at the end of the stream', () => {
    const r = newRepo('sha1');
    const hash = SHA1;
    const [hex] = r.writeBlobs([content(21, 3 * MiB)]);
    const file = path.join(r.objectDir, hex.slice(0, 2), hex.slice(2));
    const good = fs.readFileSync(file);
    const expectCorrupt = (bytes: Buffer, what: string) => {
      fs.chmodSync(file, 0o644);
      fs.writeFileSync(file, bytes);
      const store = ObjectStore.open({ objectDir: r.objectDir, hash });
      try {
        for (const read of [
          () => readAll(store.streamObject(fromHex(hex)!)!),
          () => store.readObject(fromHex(hex)!),
        ]) {
          assert.throws(read, (e: unknown) => {
            assert.ok(e instanceof GitMidxError, `${what}: ${String(e)}`);
            assert.equal(e.code, 'LOOSE_CORRUPT', `${what}: ${e.message}`);
            return true;
          });
        }
      } finally {
        store.close();
      }
      const run = cli(r, ['cat-file', '-p', hex], { outFile: path.join(r.scratchDir(), 'out') });
      assert.equal(run.status, 128, `${what}: ${run.stderr}`);
      assertClean(run);
      return run;
    };
    // Git streams a loose blob, and says so when its stream fails (zlib's complaint first, if any).
    const asGit = (bytes: Buffer, what: string) => {
      const run = expectCorrupt(bytes, what);
      const theirs = r.git(['cat-file', '-p', hex], { allowFail: true });
      assert.equal(theirs.status, 128, what);
      assert.equal(run.stderr, theirs.stderr, what);
    };
    asGit(good.subarray(0, good.length - 100), 'truncated');
    const flipped = Buffer.from(good);
    flipped[flipped.length - 2] ^= 0xff;
    asGit(flipped, 'bad Adler-32');
    // Bytes after a whole stream: the library refuses the object (Git's whole read does too), but
    // Git's stream of a loose blob ends without looking at them, and so does `cat-file -p`.
    fs.writeFileSync(file, Buffer.concat([good, Buffer.from('trailing')]));
    const store = ObjectStore.open({ objectDir: r.objectDir, hash });
    try {
      assert.throws(
        () => store.readObject(fromHex(hex)!),
        (e) => isGitMidxError(e, 'LOOSE_CORRUPT') && /^garbage at end/.test(String(e.data.detail)),
      );
      const lenient = store.streamObject(fromHex(hex)!, { ignoreTrailingBytes: true })!;
      assert.ok(readAll(lenient).equals(content(21, 3 * MiB)));
      lenient.close();
    } finally {
      store.close();
    }
    const out = path.join(r.scratchDir(), 'out');
    const ours = cli(r, ['cat-file', '-p', hex], { outFile: out });
    const theirs = r.git(['cat-file', '-p', hex], { allowFail: true });
    assert.equal(ours.status, theirs.status, ours.stderr);
    assert.equal(ours.stderr, theirs.stderr);
    assert.ok(fs.readFileSync(out).equals(theirs.stdout), 'the blob, as git prints it');
  });
});
