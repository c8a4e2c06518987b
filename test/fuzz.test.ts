/**
 * Robustness fuzzing (fast-check): valid MIDX and pack `.idx` files written by git (SHA-1 and
 * SHA-256, idx v1 and v2 with a 64-bit offset table, a MIDX with LOFF) are mutated — bytes flipped,
 * ranges overwritten, machine words set to boundary values, truncated, extended, bytes inserted and
 * deleted, and combinations — and then opened and queried exhaustively. Whatever the damage, the
 * only thing ever thrown is GitMidxError (never a RangeError/TypeError, nor one wrapped by `open`
 * as an IO_ERROR cause), every run finishes quickly, and the in-memory and paged readers agree call
 * for call. The properties run in a worker thread watched by the test, so that even a synchronous
 * infinite loop ends the run (as a failure naming the mutant) instead of hanging CI.
 *
 * Deterministic: a fixed seed (FUZZ_SEED overrides it) and a default number of runs sized for CI;
 * FUZZ_RUNS=<n> runs n mutants per property instead.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { GitMidxError } from '../src/errors.js';
import { type HashAlgorithm, SHA1, SHA256 } from '../src/hash.js';
import type { RandomAccessReader } from '../src/io.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import { nodeHash } from '../src/node/hash.js';
import { PackIndex } from '../src/pack/idx.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';
import { watchWorker } from './helpers/worker-watch.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x6d696478);
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
/**
 * One mutant (every open and every query on it) may leave at most this much more memory in
 * ArrayBuffers than before it: a count read from the file must never size an allocation.
 */
const PER_MUTANT_BYTES = 64 * 1024 * 1024;

function runs(defaultRuns: number): number {
  return RUNS !== undefined && Number.isFinite(RUNS) && RUNS > 0 ? RUNS : defaultRuns;
}

// ---------------------------------------------------------------------------------------------
// Corpus, built once by git

interface Sample {
  kind: 'midx' | 'idx';
  name: string;
  bytes: Buffer;
  hash: HashAlgorithm;
  /** The object ids the file holds, sorted (decoded here, independently of the readers). */
  ids: Buffer[];
  /** Byte ranges that hold neither counts, ids nor sizes (offset words, LOFF, CRCs, trailer). */
  payload: [number, number][];
}

const FILE_MIDX = 'fuzz/objects/pack/multi-pack-index';
const FILE_IDX = 'fuzz/objects/pack/pack-fuzz.idx';

function midxSample(name: string, bytes: Buffer, hash: HashAlgorithm): Sample {
  const count = bytes[6];
  const chunks = new Map<string, [number, number]>();
  for (let i = 0; i < count; i++) {
    const o = 12 + 12 * i;
    chunks.set(bytes.toString('latin1', o, o + 4), [
      Number(bytes.readBigUInt64BE(o + 4)),
      Number(bytes.readBigUInt64BE(o + 16)),
    ]);
  }
  const [oidf] = chunks.get('OIDF')!;
  const [oidl] = chunks.get('OIDL')!;
  const n = bytes.readUInt32BE(oidf + 255 * 4);
  const ids = Array.from({ length: n }, (_, i) =>
    bytes.subarray(oidl + i * hash.size, oidl + (i + 1) * hash.size),
  );
  // OOFF words (not the pack ids: they only matter on access, but keep the payload simple), LOFF,
  // and the trailer.
  const [ooff] = chunks.get('OOFF')!;
  const payload: [number, number][] = [];
  for (let i = 0; i < n; i++) payload.push([ooff + 8 * i + 4, ooff + 8 * i + 8]);
  const loff = chunks.get('LOFF');
  if (loff) payload.push(loff);
  payload.push([bytes.length - hash.size, bytes.length]);
  return { kind: 'midx', name, bytes, hash, ids, payload };
}

function idxSample(name: string, bytes: Buffer, hash: HashAlgorithm): Sample {
  const H = hash.size;
  const v2 = bytes.readUInt32BE(0) === 0xff744f63;
  const fan = v2 ? 8 : 0;
  const n = bytes.readUInt32BE(fan + 255 * 4);
  const ids: Buffer[] = [];
  const payload: [number, number][] = [];
  if (v2) {
    for (let i = 0; i < n; i++) ids.push(bytes.subarray(1032 + i * H, 1032 + (i + 1) * H));
    // CRCs, and the pack checksum + idx checksum. (Offset words can switch to the 64-bit table.)
    payload.push([1032 + n * H, 1032 + n * (H + 4)]);
  } else {
    for (let i = 0; i < n; i++) {
      const o = 1024 + i * (H + 4);
      ids.push(bytes.subarray(o + 4, o + 4 + H));
      payload.push([o, o + 4]); // v1 offsets are plain 32-bit values
    }
  }
  payload.push([bytes.length - 2 * H, bytes.length]);
  return { kind: 'idx', name, bytes, hash, ids, payload };
}

function buildRepoSamples(repos: TestRepo[], format: 'sha1' | 'sha256'): Sample[] {
  const hash = format === 'sha256' ? SHA256 : SHA1;
  const repo = TestRepo.create({ objectFormat: format, bare: true });
  repos.push(repo);
  const { stems, oids } = makeManyPacks(repo, 4, 8);
  repo.git(['multi-pack-index', 'write', '--no-progress']);
  const samples = [midxSample(`midx ${format}`, repo.readMidx()!, hash)];
  const idx = (stem: string) => fs.readFileSync(path.join(repo.packDir, `${stem}.idx`));
  samples.push(idxSample(`idx v2 ${format}`, idx(stems[0]), hash));
  const v1 = repo.packObjects(oids.slice(0, 12), { indexVersion: '1' });
  samples.push(idxSample(`idx v1 ${format}`, idx(v1), hash));
  const large = repo.packObjects(oids.slice(8, 20), { indexVersion: '2,0x40' });
  samples.push(idxSample(`idx v2 64-bit table ${format}`, idx(large), hash));
  return samples;
}

/** §17.6: offsets patched into the .idx 64-bit table make git write a LOFF chunk. */
function buildLoffSample(repos: TestRepo[]): Sample {
  const repo = TestRepo.create({ objectFormat: 'sha1', bare: true });
  repos.push(repo);
  const hex = repo.writeBlobs(Array.from({ length: 8 }, (_, i) => `large offset blob ${i}\n`));
  const stem = repo.packObjects(hex, { indexVersion: '2,0x40' });
  const idxPath = path.join(repo.packDir, `${stem}.idx`);
  const idx = fs.readFileSync(idxPath);
  const n = idx.readUInt32BE(8 + 255 * 4);
  const offBase = 1032 + n * 24;
  const largeBase = 1032 + n * 28;
  const big = [0x1_0000_0408n, 0x8000_0507n];
  let k = 0;
  for (let i = 0; i < n && k < big.length; i++) {
    const w = idx.readUInt32BE(offBase + 4 * i);
    if (w & 0x80000000) idx.writeBigUInt64BE(big[k++], largeBase + 8 * (w & 0x7fffffff));
  }
  fs.chmodSync(idxPath, 0o644);
  fs.writeFileSync(idxPath, idx);
  repo.git(['multi-pack-index', 'write', '--no-progress']);
  const s = midxSample('midx sha1 with LOFF', repo.readMidx()!, SHA1);
  assert.ok(s.bytes.includes(Buffer.from('LOFF')), 'the LOFF sample has a LOFF chunk');
  return s;
}

// ---------------------------------------------------------------------------------------------
// Mutations

type Mutation =
  | { t: 'flip'; pos: number; xor: number }
  | { t: 'overwrite'; pos: number; bytes: Uint8Array }
  | { t: 'word'; pos: number; width: 4 | 8; value: bigint | 'size' | 'size-H' | 'size-2H' }
  | { t: 'fill'; pos: number; len: number; byte: number }
  | { t: 'truncate'; len: number }
  | { t: 'extend'; bytes: Uint8Array }
  | { t: 'insert'; pos: number; bytes: Uint8Array }
  | { t: 'delete'; pos: number; len: number };

/**
 * Positions: for a MIDX biased to the header/TOC and the fanout, where the structure is; for an
 * idx, whose fanout is at the start, spread more evenly (most fanout changes are rejected at once).
 */
function positions(kind: Sample['kind']): fc.Arbitrary<number> {
  return kind === 'midx'
    ? fc.oneof(
        { arbitrary: fc.nat(120), weight: 3 },
        { arbitrary: fc.nat(1100), weight: 2 },
        { arbitrary: fc.nat(), weight: 3 },
      )
    : fc.oneof({ arbitrary: fc.nat(1100), weight: 1 }, { arbitrary: fc.nat(), weight: 3 });
}

const boundary = fc.constantFrom(
  0n,
  1n,
  2n,
  3n,
  4n,
  0x7fn,
  0x80n,
  0xffn,
  0x100n,
  0x7fffffffn,
  0x80000000n,
  0x80000001n,
  0xffffffffn,
  0x1_0000_0000n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
);

/**
 * One mutation. Changes of the file size are rarer for an idx, whose size must match its object
 * count exactly (they would almost always be rejected at open).
 */
function mutation(kind: Sample['kind']): fc.Arbitrary<Mutation> {
  const position = positions(kind);
  const resize = kind === 'midx' ? 1 : 1;
  const inPlace = kind === 'midx' ? 3 : 5;
  return fc.oneof(
    {
      weight: inPlace,
      arbitrary: fc.record({
        t: fc.constant('flip' as const),
        pos: position,
        xor: fc.integer({ min: 1, max: 255 }),
      }),
    },
    {
      weight: inPlace,
      arbitrary: fc.record({
        t: fc.constant('overwrite' as const),
        pos: position,
        bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }),
      }),
    },
    {
      weight: inPlace,
      arbitrary: fc.record({
        t: fc.constant('word' as const),
        pos: position,
        width: fc.constantFrom(4 as const, 8 as const),
        value: fc.oneof(
          boundary,
          fc.constantFrom('size' as const, 'size-H' as const, 'size-2H' as const),
          fc.bigInt({ min: 0n, max: 0xffffn }),
        ),
      }),
    },
    {
      weight: inPlace,
      arbitrary: fc.record({
        t: fc.constant('fill' as const),
        pos: position,
        len: fc.integer({ min: 1, max: 300 }),
        byte: fc.constantFrom(0, 0xff, 0x80, 0x41),
      }),
    },
    { weight: resize, arbitrary: fc.record({ t: fc.constant('truncate' as const), len: fc.nat() }) },
    {
      weight: resize,
      arbitrary: fc.record({
        t: fc.constant('extend' as const),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      }),
    },
    {
      weight: resize,
      arbitrary: fc.record({
        t: fc.constant('insert' as const),
        pos: position,
        bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
      }),
    },
    {
      weight: resize,
      arbitrary: fc.record({
        t: fc.constant('delete' as const),
        pos: position,
        len: fc.integer({ min: 1, max: 40 }),
      }),
    },
  );
}

function mutations(kind: Sample['kind']): fc.Arbitrary<Mutation[]> {
  return fc.array(mutation(kind), { minLength: 1, maxLength: 4 });
}

function mutate(original: Buffer, ms: readonly Mutation[], H: number): Buffer {
  let b = Buffer.from(original);
  for (const m of ms) {
    const L = b.length;
    switch (m.t) {
      case 'flip':
        if (L > 0) b[m.pos % L] ^= m.xor;
        break;
      case 'overwrite':
        if (L > 0) Buffer.from(m.bytes).copy(b, m.pos % L);
        break;
      case 'word': {
        if (L < m.width) break;
        const at = Math.min(m.pos % L, L - m.width) & ~3;
        const v =
          m.value === 'size'
            ? BigInt(L)
            : m.value === 'size-H'
              ? BigInt(Math.max(0, L - H))
              : m.value === 'size-2H'
                ? BigInt(Math.max(0, L - 2 * H))
                : m.value;
        if (m.width === 4) b.writeUInt32BE(Number(v & 0xffffffffn), at);
        else b.writeBigUInt64BE(v & 0xffff_ffff_ffff_ffffn, at);
        break;
      }
      case 'fill':
        if (L > 0) b.fill(m.byte, m.pos % L, Math.min(L, (m.pos % L) + m.len));
        break;
      case 'truncate':
        b = b.subarray(0, m.len % (L + 1));
        break;
      case 'extend':
        b = Buffer.concat([b, m.bytes]);
        break;
      case 'insert': {
        const at = m.pos % (L + 1);
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      }
      case 'delete': {
        const at = m.pos % (L + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      }
    }
  }
  return b;
}

/** Mutations that only touch the sample's payload ranges (same length). */
function payloadMutations(s: Sample): fc.Arbitrary<{ at: number; xor: number }[]> {
  const spots: number[] = [];
  for (const [a, z] of s.payload) for (let i = a; i < z; i++) spots.push(i);
  return fc.array(fc.record({ at: fc.constantFrom(...spots), xor: fc.integer({ min: 1, max: 255 }) }), {
    minLength: 1,
    maxLength: 8,
  });
}

// ---------------------------------------------------------------------------------------------
// Exercising a mutant: every call is recorded as its value or its error code. Anything thrown that
// is not a GitMidxError fails the property at once.

/** A reader without `bytes`, so that PagedReader pages through it instead of using one view. */
function pagedReader(bytes: Uint8Array): RandomAccessReader {
  return {
    size: bytes.length,
    readInto(into, offset, length, pos) {
      if (pos < 0 || pos + length > bytes.length) throw new RangeError(`test reader: ${pos}+${length}`);
      into.set(bytes.subarray(pos, pos + length), offset);
    },
    close() {},
  };
}

function record(log: string[], file: string, what: string, fn: () => unknown): void {
  try {
    const v = fn();
    log.push(`${what}=${show(v)}`);
  } catch (e) {
    if (!(e instanceof GitMidxError)) {
      const err = e as Error;
      throw new Error(`${what} threw ${err?.name}: ${err?.message}`, { cause: e });
    }
    assert.equal(typeof e.code, 'string');
    assert.ok(e.file === file, `${what}: ${e.code} has file ${String(e.file)}`);
    // `open` wraps anything unexpected from the parser in IO_ERROR with the original as `cause`.
    // In memory (and with the test's in-range reader) there is no real I/O to fail, so a cause
    // that is not ours is a parser bug (a TypeError, RangeError, …) in disguise.
    if (e.cause !== undefined && !(e.cause instanceof GitMidxError)) {
      const c = e.cause as Error;
      throw new Error(`${what}: ${e.code} wraps ${c?.name}: ${c?.message}`, { cause: c });
    }
    log.push(`${what}!${e.code}`);
  }
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v === undefined) return 'undefined';
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));
}

interface Outcome {
  opened: boolean;
  log: string[];
}

function probes(H: number): Buffer[] {
  const out: Buffer[] = [];
  for (let b = 0; b < 256; b += 5) out.push(Buffer.alloc(H, b));
  return out;
}
const PROBES = { 20: probes(20), 32: probes(32) };

function exerciseMidx(
  s: Sample,
  bytes: Uint8Array,
  opts: { hash: HashAlgorithm | undefined; lenient: boolean; pageSize?: number },
): Outcome {
  const log: string[] = [];
  let m: MultiPackIndex | undefined;
  record(log, FILE_MIDX, 'open', () => {
    const o = { hash: opts.hash, lenient: opts.lenient, file: FILE_MIDX };
    m =
      opts.pageSize === undefined
        ? MultiPackIndex.fromBytes(bytes, o)
        : MultiPackIndex.open(pagedReader(bytes), { ...o, pageSize: opts.pageSize });
    return [m.version, m.numObjects, m.numPacks, m.packNames, m.numLargeOffsets];
  });
  if (!m) return { opened: false, log };
  const midx: MultiPackIndex = m;
  try {
    for (const id of s.ids) {
      record(log, FILE_MIDX, 'has', () => midx.has(id));
      record(log, FILE_MIDX, 'lookup', () => midx.lookup(id));
    }
    for (const p of PROBES[midx.hash.size]) record(log, FILE_MIDX, 'probe', () => midx.findPosition(p));
    const n = Math.max(midx.numObjects, s.ids.length);
    for (let i = 0; i < n; i++) {
      record(log, FILE_MIDX, `oidAt(${i})`, () => midx.oidAt(i));
      record(log, FILE_MIDX, `packIdAt(${i})`, () => midx.packIdAt(i));
      record(log, FILE_MIDX, `offsetAt(${i})`, () => midx.offsetAt(i));
    }
    record(log, FILE_MIDX, 'entries', () => [...midx.entries()].length);
    record(log, FILE_MIDX, 'checksum', () => midx.checksum());
    record(log, FILE_MIDX, 'computeChecksum', () => midx.computeChecksum(nodeHash));
    record(log, FILE_MIDX, 'packIdOf', () => midx.packNames.map((name) => midx.packIdOf(name)));
  } finally {
    midx.close();
  }
  return { opened: true, log };
}

function exerciseIdx(s: Sample, bytes: Uint8Array, pageSize?: number): Outcome {
  const log: string[] = [];
  let x: PackIndex | undefined;
  record(log, FILE_IDX, 'open', () => {
    const o = { hash: s.hash, file: FILE_IDX };
    x =
      pageSize === undefined
        ? PackIndex.fromBytes(bytes, o)
        : PackIndex.open(pagedReader(bytes), { ...o, pageSize });
    return [x.version, x.numObjects, x.numLarge];
  });
  if (!x) return { opened: false, log };
  const idx: PackIndex = x;
  try {
    for (const id of s.ids) {
      record(log, FILE_IDX, 'findPosition', () => idx.findPosition(id));
      record(log, FILE_IDX, 'lookup', () => idx.lookup(id));
    }
    for (const p of PROBES[s.hash.size]) record(log, FILE_IDX, 'probe', () => idx.findPosition(p));
    const n = Math.max(idx.numObjects, s.ids.length);
    for (let i = 0; i < n; i++) {
      record(log, FILE_IDX, `oidAt(${i})`, () => idx.oidAt(i));
      record(log, FILE_IDX, `offsetAt(${i})`, () => idx.offsetAt(i));
      record(log, FILE_IDX, `crcAt(${i})`, () => idx.crcAt(i));
    }
    record(log, FILE_IDX, 'packChecksum', () => idx.packChecksum());
    record(log, FILE_IDX, 'idxChecksum', () => idx.idxChecksum());
  } finally {
    idx.close();
  }
  return { opened: true, log };
}

/** Runs one mutant and fails when it left more than PER_MUTANT_BYTES of new ArrayBuffers behind. */
function bounded<T>(what: string, fn: () => T): T {
  const before = process.memoryUsage().arrayBuffers;
  const r = fn();
  const grew = process.memoryUsage().arrayBuffers - before;
  if (grew > PER_MUTANT_BYTES) assert.fail(`${what} allocated ${grew} bytes (limit ${PER_MUTANT_BYTES})`);
  return r;
}

const pageSizes = fc.constantFrom(16, 64, 256, 4096);

// ---------------------------------------------------------------------------------------------
// The properties. Each runs inside a worker thread: a synchronous infinite loop in a reader cannot
// be interrupted on the thread it runs on, so the main thread watches a progress counter the worker
// bumps before every run (the current input is kept beside it) and terminates a worker that stops
// making progress, reporting that input as a hang.

type PropertyName = 'midx' | 'idx' | 'midx-payload' | 'idx-payload';

interface SampleData {
  kind: Sample['kind'];
  name: string;
  bytes: Uint8Array;
  hash: 'sha1' | 'sha256';
}

interface WorkerJob {
  property: PropertyName;
  samples: SampleData[];
  seed: number;
  numRuns: number;
  /** Int32 run counter, Int32 input length, then the current input as UTF-8. */
  progress: SharedArrayBuffer;
}

interface WorkerResult {
  ok: boolean;
  error?: string;
  opened: number;
  rejected: number;
  ms: number;
}

const INPUT_CAPACITY = 1 << 16;
/** No new run for this long means the current one hangs. */
const HANG_MS = 60_000;

function toSample(d: SampleData): Sample {
  const bytes = Buffer.from(d.bytes.buffer, d.bytes.byteOffset, d.bytes.length);
  const hash = d.hash === 'sha256' ? SHA256 : SHA1;
  return d.kind === 'midx' ? midxSample(d.name, bytes, hash) : idxSample(d.name, bytes, hash);
}

function describeInput(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `hex:${Buffer.from(x).toString('hex')}` : x,
  );
}

function runJob(job: WorkerJob): WorkerResult {
  const samples = job.samples.map(toSample);
  const counter = new Int32Array(job.progress, 0, 2);
  const inputBytes = new Uint8Array(job.progress, 8);
  const encoder = new TextEncoder();
  const note = (input: unknown) => {
    const { written } = encoder.encodeInto(describeInput(input), inputBytes);
    Atomics.store(counter, 1, written);
    Atomics.add(counter, 0, 1);
  };
  let opened = 0;
  let rejected = 0;
  const params = { seed: job.seed, numRuns: job.numRuns };
  const t0 = performance.now();
  try {
    switch (job.property) {
      case 'midx':
        fc.assert(
          fc.property(
            fc.nat(samples.length - 1),
            mutations('midx'),
            pageSizes,
            fc.oneof(
              { arbitrary: fc.constant('repo' as const), weight: 5 },
              { arbitrary: fc.constant('none' as const), weight: 2 },
              { arbitrary: fc.constant('other' as const), weight: 1 },
            ),
            (which, ms, pageSize, hashChoice) => {
              note({ sample: samples[which].name, mutations: ms, pageSize, hashChoice });
              const s = samples[which];
              const bytes = mutate(s.bytes, ms, s.hash.size);
              const hash = hashChoice === 'repo' ? s.hash : hashChoice === 'none' ? undefined : other(s.hash);
              for (const lenient of [false, true]) {
                const mem = bounded('MIDX (memory)', () => exerciseMidx(s, bytes, { hash, lenient }));
                const paged = bounded('MIDX (paged)', () =>
                  exerciseMidx(s, bytes, { hash, lenient, pageSize }),
                );
                assert.deepEqual(paged.log, mem.log);
                if (!lenient) {
                  if (mem.opened) opened++;
                  else rejected++;
                }
              }
            },
          ),
          params,
        );
        break;
      case 'idx':
        fc.assert(
          fc.property(fc.nat(samples.length - 1), mutations('idx'), pageSizes, (which, ms, pageSize) => {
            note({ sample: samples[which].name, mutations: ms, pageSize });
            const s = samples[which];
            const bytes = mutate(s.bytes, ms, s.hash.size);
            const mem = bounded('idx (memory)', () => exerciseIdx(s, bytes));
            const paged = bounded('idx (paged)', () => exerciseIdx(s, bytes, pageSize));
            assert.deepEqual(paged.log, mem.log);
            if (mem.opened) opened++;
            else rejected++;
          }),
          params,
        );
        break;
      case 'midx-payload':
        // Damage confined to offset words, LOFF and the trailer: the file opens and every id is
        // still found where it was; offsets may be wrong but are read without throwing anything
        // but our error.
        fc.assert(
          fc.property(
            fc.nat(samples.length - 1).chain((i) => fc.tuple(fc.constant(i), payloadMutations(samples[i]))),
            ([which, flips]) => {
              note({ sample: samples[which].name, flips });
              const s = samples[which];
              const b = Buffer.from(s.bytes);
              for (const f of flips) b[f.at] ^= f.xor;
              const m = MultiPackIndex.fromBytes(b, { hash: s.hash, file: FILE_MIDX });
              opened++;
              try {
                assert.equal(m.numObjects, s.ids.length);
                s.ids.forEach((id, i) => {
                  assert.equal(m.findPosition(id), i);
                  assert.ok(Buffer.from(m.oidAt(i)).equals(id));
                });
                const log: string[] = [];
                for (let i = 0; i < m.numObjects; i++)
                  record(log, FILE_MIDX, 'offsetAt', () => m.offsetAt(i));
              } finally {
                m.close();
              }
            },
          ),
          params,
        );
        break;
      case 'idx-payload':
        // Damage confined to CRCs, v1 offsets and the two checksums: ids are still found.
        fc.assert(
          fc.property(
            fc.nat(samples.length - 1).chain((i) => fc.tuple(fc.constant(i), payloadMutations(samples[i]))),
            ([which, flips]) => {
              note({ sample: samples[which].name, flips });
              const s = samples[which];
              const b = Buffer.from(s.bytes);
              for (const f of flips) b[f.at] ^= f.xor;
              const x = PackIndex.fromBytes(b, { hash: s.hash, file: FILE_IDX });
              opened++;
              try {
                assert.equal(x.numObjects, s.ids.length);
                s.ids.forEach((id, i) => {
                  assert.equal(x.findPosition(id), i);
                });
              } finally {
                x.close();
              }
            },
          ),
          params,
        );
        break;
    }
  } catch (e) {
    // fast-check puts the property's own error in `cause`.
    const err = e as Error;
    const cause = err.cause instanceof Error ? `\ncaused by ${err.cause.name}: ${err.cause.message}` : '';
    return { ok: false, error: err.message + cause, opened, rejected, ms: performance.now() - t0 };
  }
  return { ok: true, opened, rejected, ms: performance.now() - t0 };
}

/** Loads this file in a worker thread through tsx's API (the worker does not inherit the loader). */
function startWorker(job: WorkerJob): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  const boot = `
    const { parentPort } = require('node:worker_threads');
    (async () => {
      const { register } = await import(${JSON.stringify(tsx)});
      register();
      await import(${JSON.stringify(self)});
    })().catch((e) => parentPort.postMessage({ ok: false, error: 'worker failed to start: ' + (e && e.stack || e) }));
  `;
  return new Worker(boot, { eval: true, execArgv: [], workerData: job });
}

function runInWorker(property: PropertyName, samples: Sample[], numRuns: number): Promise<WorkerResult> {
  const progress = new SharedArrayBuffer(8 + INPUT_CAPACITY);
  const job: WorkerJob = {
    property,
    samples: samples.map((s) => ({ kind: s.kind, name: s.name, bytes: s.bytes, hash: s.hash.name })),
    seed: SEED,
    numRuns,
    progress,
  };
  return watchWorker<WorkerResult>(startWorker(job), progress, HANG_MS, property);
}

if (!isMainThread && workerData && (workerData as WorkerJob).property) {
  parentPort!.postMessage(runJob(workerData as WorkerJob));
}

// ---------------------------------------------------------------------------------------------

if (isMainThread) {
  const repos: TestRepo[] = [];
  after(() => {
    for (const r of repos) r.cleanup();
  });

  describe('fuzz: mutated MIDX and .idx files', () => {
    let samples: Sample[] = [];
    let midxs: Sample[] = [];
    let idxs: Sample[] = [];

    before(() => {
      samples = [
        ...buildRepoSamples(repos, 'sha1'),
        ...buildRepoSamples(repos, 'sha256'),
        buildLoffSample(repos),
      ];
      midxs = samples.filter((s) => s.kind === 'midx');
      idxs = samples.filter((s) => s.kind === 'idx');
      assert.equal(midxs.length, 3);
      assert.equal(idxs.length, 6);
    });

    test('control: every unmutated sample opens and finds all its ids, in memory and paged', () => {
      for (const s of midxs) {
        for (const pageSize of [undefined, 16, 4096]) {
          const m =
            pageSize === undefined
              ? MultiPackIndex.fromBytes(s.bytes, { hash: s.hash })
              : MultiPackIndex.open(pagedReader(s.bytes), { hash: s.hash, pageSize });
          assert.equal(m.numObjects, s.ids.length, s.name);
          s.ids.forEach((id, i) => {
            assert.equal(m.findPosition(id), i, `${s.name} ${i}`);
          });
          m.close();
        }
      }
      for (const s of idxs) {
        for (const pageSize of [undefined, 16]) {
          const x =
            pageSize === undefined
              ? PackIndex.fromBytes(s.bytes, { hash: s.hash })
              : PackIndex.open(pagedReader(s.bytes), { hash: s.hash, pageSize });
          assert.equal(x.numObjects, s.ids.length, s.name);
          s.ids.forEach((id, i) => {
            assert.equal(x.findPosition(id), i, `${s.name} ${i}`);
          });
          x.close();
        }
      }
    });

    /** Runs a property in a worker; asserts it held and that mutants reached both outcomes. */
    async function check(property: PropertyName, of: Sample[], numRuns: number, bothOutcomes: boolean) {
      const r = await runInWorker(property, of, numRuns);
      if (!r.ok) assert.fail(`${property} (seed ${SEED}): ${r.error}`);
      const total = r.opened + r.rejected;
      console.log(`${property}: ${r.opened} opened, ${r.rejected} rejected, ${Math.round(r.ms)} ms`);
      assert.equal(total, bothOutcomes ? numRuns : total);
      if (bothOutcomes) {
        // The mutations must reach both outcomes, or the property proves little.
        assert.ok(
          r.opened > total / 50 && r.rejected > total / 50,
          `opened ${r.opened}, rejected ${r.rejected}`,
        );
      } else {
        assert.ok(r.opened >= numRuns, `every payload mutant opened (${r.opened})`);
      }
    }

    test('MIDX: only GitMidxError, bounded time, memory and paged readers agree', async () => {
      await check('midx', midxs, runs(20000), true);
    });

    test('.idx: only GitMidxError, bounded time, memory and paged readers agree', async () => {
      await check('idx', idxs, runs(20000), true);
    });

    test('MIDX: damage confined to offset words, LOFF and trailer leaves every id findable', async () => {
      await check('midx-payload', midxs, runs(3000), false);
    });

    test('.idx: damage confined to CRCs, v1 offsets and checksums leaves every id findable', async () => {
      await check('idx-payload', idxs, runs(3000), false);
    });
  });
}

function other(h: HashAlgorithm): HashAlgorithm {
  return h === SHA1 ? SHA256 : SHA1;
}
