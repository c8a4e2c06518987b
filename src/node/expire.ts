/**
 * `expire` (spec/midx-format.md §12): drop the packs that no MIDX object points to — except kept
 * (`.keep`) and cruft (`.mtimes`) packs and packs that cannot be loaded — and rewrite the MIDX
 * without them, picking up new packs as `write` does.
 *
 * Order, unlike Git's: Git deletes the packs and then rewrites the MIDX, so a crash in between
 * leaves a MIDX naming missing packs. We rewrite the MIDX first (the packs still exist), then delete
 * their files: a crash at any point leaves a valid repository, at worst with unreferenced packs that
 * a later `write` indexes again. The resulting files are the same as Git's.
 *
 * Unlike Git, a pack is deleted only when nothing is lost with it: each id of its `.idx` must be in
 * the new MIDX, in a pack that stays (not dropped, `.idx` and `.pack` present), and that pack's own
 * `.idx` must hold it. A MIDX that lies (omits a pack's objects, or places them in another pack,
 * with a valid checksum) makes the pack look unreferenced; such a pack is kept, with a warning, and
 * stays readable as a pack the new MIDX does not cover. Both checks are merges of sorted id lists.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readU32, toHex } from '../bytes.js';
import { isGitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import type { RandomAccessReader } from '../io.js';
import { CHUNK_OIDL, CHUNK_OOFF } from '../midx/chunks.js';
import type { MultiPackIndex } from '../midx/reader.js';
import { PackIndex } from '../pack/idx.js';
import type { DiagnosticCallback, ProgressCallback } from '../progress.js';
import { openFileReader } from './fs.js';
import { midxPath, openMidxFile, type WriteMidxResult, writeMidxFile } from './midx.js';
import { packDirPath, removeInPackDir } from './packdir.js';
import { repositoryForObjectDir } from './repo.js';

/** Companion files removed with a pack, `.idx` first so the pack stops being visible at once. */
export const PACK_EXTENSIONS = ['.idx', '.pack', '.rev', '.keep', '.bitmap', '.promisor', '.mtimes'] as const;

export interface ExpireOptions {
  objectDir: string;
  hash?: HashAlgorithm;
  onProgress?: ProgressCallback;
  onDiagnostic?: DiagnosticCallback;
  signal?: AbortSignal;
  /**
   * Before a pack is deleted, each of its objects is looked for in the new MIDX and in the `.idx`
   * of the pack the MIDX names. A MIDX up to this many bytes is read whole for that, and `.idx`
   * files up to this many bytes in all; larger ones are read page by page (default 128 MiB).
   */
  checkHoldBytes?: number;
}

export interface ExpirePlan {
  /** False when there is no MIDX. */
  readonly hasMidx: boolean;
  /** Packs that would be dropped, with the files that would go and the bytes they free. */
  readonly drop: readonly {
    readonly name: string;
    readonly files: readonly string[];
    readonly bytes: number;
  }[];
  /** Unreferenced packs kept, and why. */
  readonly kept: readonly { readonly name: string; readonly reason: 'keep' | 'cruft' | 'unloadable' }[];
}

export interface ExpireResult extends ExpirePlan {
  readonly write?: WriteMidxResult;
  readonly deleted: readonly string[];
  /**
   * Packs of `drop` whose files were kept after all: the new MIDX does not answer every one of
   * their objects from another pack (the old MIDX lied about them), with the reason.
   */
  readonly spared: readonly { readonly name: string; readonly reason: string }[];
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function stem(idxName: string): string {
  return idxName.endsWith('.idx') ? idxName.slice(0, -4) : idxName;
}

/** What `expire` would do, touching nothing. */
export function planExpire(options: ExpireOptions): ExpirePlan {
  const hash = options.hash ?? repositoryForObjectDir(options.objectDir).hash;
  let m: MultiPackIndex;
  try {
    m = openMidxFile(midxPath(options.objectDir), { hash });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { hasMidx: false, drop: [], kept: [] };
    throw e;
  }
  try {
    return planWith(m, options);
  } finally {
    m.close();
  }
}

function planWith(m: MultiPackIndex, options: ExpireOptions): ExpirePlan {
  const packDir = path.join(options.objectDir, 'pack');
  const progress = options.onProgress;
  const counts = new Uint32Array(m.numPacks);
  const title1 = 'Counting referenced objects';
  for (let i = 0; i < m.numObjects; i++) {
    counts[m.packIdAt(i)]++;
    if ((i & 0xfff) === 0) progress?.({ title: title1, done: i, total: m.numObjects });
  }
  progress?.({ title: title1, done: m.numObjects, total: m.numObjects, end: true });
  const title2 = 'Finding and deleting unreferenced packfiles';
  const drop: { name: string; files: string[]; bytes: number }[] = [];
  const kept: { name: string; reason: 'keep' | 'cruft' | 'unloadable' }[] = [];
  for (let i = 0; i < m.numPacks; i++) {
    progress?.({ title: title2, done: i, total: m.numPacks });
    if (counts[i] > 0) continue;
    const name = m.packNames[i];
    // Each companion joined as a whole name: `..idx` has the stem `.`.
    const companion = (ext: string) => packDirPath(packDir, `${stem(name)}${ext}`);
    if (!isFile(companion('.pack'))) kept.push({ name, reason: 'unloadable' });
    else if (fs.existsSync(companion('.keep'))) kept.push({ name, reason: 'keep' });
    else if (fs.existsSync(companion('.mtimes'))) kept.push({ name, reason: 'cruft' });
    else {
      const files: string[] = [];
      let bytes = 0;
      for (const ext of PACK_EXTENSIONS) {
        try {
          const st = fs.statSync(companion(ext));
          files.push(`${stem(name)}${ext}`);
          bytes += st.size;
        } catch {
          // absent companion
        }
      }
      drop.push({ name, files, bytes });
    }
  }
  progress?.({ title: title2, done: m.numPacks, total: m.numPacks, end: true });
  return { hasMidx: true, drop, kept };
}

/**
 * `planExpire` as `expire` would carry it out: the packs to drop are also checked as the real run
 * checks them after writing (every object held by a pack that stays; see `expireMidx`), here
 * against the current MIDX, which places the objects of an unreferenced pack exactly where the new
 * one will. Packs that fail are in `spared` instead of `drop`. For `--dry-run`; nothing is touched.
 */
export function planExpireChecked(options: ExpireOptions): ExpirePlan & Pick<ExpireResult, 'spared'> {
  const plan = planExpire(options);
  if (!plan.hasMidx || plan.drop.length === 0) return { ...plan, spared: [] };
  const hash = options.hash ?? repositoryForObjectDir(options.objectDir).hash;
  const drop: (typeof plan.drop)[number][] = [];
  const spared: { name: string; reason: string }[] = [];
  withDropCheck(options, plan, hash, 'the multi-pack-index', (why) => {
    for (const d of plan.drop) {
      const reason = why(d.name);
      if (reason === undefined) drop.push(d);
      else spared.push({ name: d.name, reason });
    }
  });
  return { ...plan, drop, spared };
}

/**
 * Runs `fn` with a check of the packs in `plan.drop` against the MIDX now on disk: `why(name)` is
 * undefined when each of the pack's objects is held by a pack that stays, else the reason (also
 * when the MIDX cannot be read: then nothing is deleted).
 */
function withDropCheck(
  options: ExpireOptions,
  plan: ExpirePlan,
  hash: HashAlgorithm,
  what: string,
  fn: (why: (name: string) => string | undefined) => void,
): void {
  const packDir = path.join(options.objectDir, 'pack');
  const dropped = new Set(plan.drop.map((d) => d.name));
  let cover: Coverage | string;
  try {
    cover = openCoverage(
      options.objectDir,
      packDir,
      hash,
      dropped,
      options.checkHoldBytes ?? CHECK_HOLD_BYTES,
    );
  } catch (e) {
    cover = `${what} cannot be read (${gitText(e)})`;
  }
  try {
    fn((name) => (typeof cover === 'string' ? cover : uncovered(cover, packDir, name, hash)));
  } finally {
    if (typeof cover !== 'string') closeCoverage(cover);
  }
}

/** Runs `expire`. No MIDX, or nothing to drop: nothing is touched. */
export function expireMidx(options: ExpireOptions): ExpireResult {
  const plan = planExpire(options);
  if (!plan.hasMidx || plan.drop.length === 0) return { ...plan, deleted: [], spared: [] };
  const hash = options.hash ?? repositoryForObjectDir(options.objectDir).hash;
  const diag = options.onDiagnostic ?? (() => {});
  // 1. A MIDX without the dropped packs (their files are still there while it is written).
  const write = writeMidxFile({
    objectDir: options.objectDir,
    hash,
    dropPacks: plan.drop.map((d) => d.name),
    onProgress: options.onProgress,
    onDiagnostic: options.onDiagnostic,
    signal: options.signal,
  });
  // 2. Then their files, each pack only once the new MIDX is seen to answer every one of its
  //    objects from a pack that stays (a MIDX that lied about a pack must not cost its data); a
  //    `.keep` that appeared meanwhile saves the pack, as in Git.
  const packDir = path.join(options.objectDir, 'pack');
  const deleted: string[] = [];
  const spared: { name: string; reason: string }[] = [];
  withDropCheck(options, plan, hash, 'the new multi-pack-index', (check) => {
    for (const d of plan.drop) {
      const s = stem(d.name);
      if (fs.existsSync(packDirPath(packDir, `${s}.keep`))) continue;
      const why = check(d.name);
      if (why !== undefined) {
        spared.push({ name: d.name, reason: why });
        diag({
          level: 'warning',
          message: `not expiring packfile '${packDirPath(packDir, `${s}.pack`)}': ${why}`,
        });
        continue;
      }
      for (const ext of PACK_EXTENSIONS) {
        try {
          if (removeInPackDir(packDir, `${s}${ext}`)) deleted.push(`${s}${ext}`);
        } catch (e) {
          diag({ level: 'warning', message: gitText(e) });
        }
      }
    }
  });
  return { ...plan, write, deleted, spared };
}

function gitText(e: unknown): string {
  if (isGitMidxError(e)) return String(e.data.git ?? e.message);
  return e instanceof Error ? e.message : String(e);
}

/** The MIDX now on disk, and which of its packs stay: not dropped, `.idx` and `.pack` present. */
interface Coverage {
  readonly midx: MultiPackIndex;
  /** 1 for each pack-int-id that may answer for an object of a dropped pack. */
  readonly good: Uint8Array;
  /** With the MIDX in memory: its OIDL and OOFF chunks (views), merged with directly. */
  readonly oidl: Uint8Array | undefined;
  readonly ooff: Uint8Array | undefined;
  /** Indexes of staying packs opened to confirm the MIDX's word (null: it cannot be read). */
  readonly indexes: Map<number, StayingIndex | null>;
  /** Bytes of those indexes held in memory, and the most that may be. */
  held: number;
  readonly holdLimit: number;
}

/** Staying packs' indexes held open at once; beyond, the oldest opened is closed. */
const MAX_OPEN_INDEXES = 16;

/** A staying pack's index; its bytes when it is small enough to hold (then ids are merged with). */
interface StayingIndex {
  readonly idx: PackIndex;
  readonly bytes: Uint8Array | undefined;
}

function closeCoverage(cover: Coverage): void {
  cover.midx.close();
  for (const s of cover.indexes.values()) s?.idx.close();
  cover.indexes.clear();
  cover.held = 0;
}

/** The `.idx` of pack-int-id `q` of the MIDX, held or paged; null if it cannot be read. */
function stayingIndex(cover: Coverage, packDir: string, q: number, hash: HashAlgorithm): StayingIndex | null {
  const known = cover.indexes.get(q);
  if (known !== undefined) return known;
  if (cover.indexes.size >= MAX_OPEN_INDEXES) {
    const [oldest, s] = cover.indexes.entries().next().value as [number, StayingIndex | null];
    s?.idx.close();
    if (s?.bytes !== undefined) cover.held -= s.bytes.length;
    cover.indexes.delete(oldest);
  }
  let s: StayingIndex | null = null;
  try {
    const file = packDirPath(packDir, cover.midx.packNames[q]);
    const reader = openFileReader(file);
    if (cover.held + reader.size <= cover.holdLimit) {
      const bytes = new Uint8Array(reader.size);
      try {
        reader.readInto(bytes, 0, reader.size, 0);
      } finally {
        reader.close();
      }
      s = { idx: PackIndex.fromBytes(bytes, { hash, file }), bytes };
      cover.held += bytes.length;
    } else {
      s = { idx: PackIndex.open(reader, { hash, file, cacheBytes: 8 << 20 }), bytes: undefined };
    }
  } catch {
    s = null;
  }
  cover.indexes.set(q, s);
  return s;
}

/**
 * Largest MIDX read whole for the check (about 4.5 million SHA-1 objects), and most bytes of
 * staying `.idx` files held at once; beyond, files are read page by page.
 */
const CHECK_HOLD_BYTES = 128 << 20;

function openCoverage(
  objectDir: string,
  packDir: string,
  hash: HashAlgorithm,
  dropped: Set<string>,
  wholeLimit: number,
): Coverage {
  const file = midxPath(objectDir);
  let wholeFile = false;
  try {
    wholeFile = fs.statSync(file).size <= wholeLimit;
  } catch {
    // opening says why
  }
  const midx = openMidxFile(file, { hash, wholeFile });
  const good = new Uint8Array(midx.numPacks);
  for (let j = 0; j < midx.numPacks; j++) {
    const name = midx.packNames[j];
    if (dropped.has(name)) continue;
    if (isFile(packDirPath(packDir, name)) && isFile(packDirPath(packDir, `${stem(name)}.pack`))) good[j] = 1;
  }
  // Plain Uint8Array views (not Buffers), so that the merge loop sees one kind of array.
  const view = (b: Uint8Array | undefined) =>
    b === undefined ? undefined : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return {
    midx,
    good,
    oidl: wholeFile ? view(midx.readChunk(CHUNK_OIDL)) : undefined,
    ooff: wholeFile ? view(midx.readChunk(CHUNK_OOFF)) : undefined,
    indexes: new Map(),
    held: 0,
    holdLimit: wholeLimit,
  };
}

/** Ids read from a `.idx` per batch: bounds the memory of the check whatever the pack's size. */
const COVER_BATCH = 1 << 16;

/**
 * Why the objects of pack `name` are not all answered by a staying pack of the MIDX, or undefined
 * when they are. The pack's ids are read from its `.idx` a batch at a time, in the `.idx`'s order
 * (sorted), and merged with the MIDX's sorted ids, then with the ids of the packs the MIDX names:
 * no allocation per object. Ids out of order in any file can only make an id look missing, which
 * keeps the pack.
 */
function uncovered(cover: Coverage, packDir: string, name: string, hash: HashAlgorithm): string | undefined {
  const file = packDirPath(packDir, name);
  let reader: RandomAccessReader;
  let idx: PackIndex;
  try {
    reader = openFileReader(file);
    idx = PackIndex.open(reader, { hash, file });
  } catch (e) {
    return `its index cannot be read (${gitText(e)})`;
  }
  try {
    const H = hash.size;
    const n = idx.numObjects;
    const stride = idx.oidStride;
    const batch = Math.min(n, COVER_BATCH);
    const ids = new Uint8Array(batch * H);
    // Version 1 interleaves offsets with the ids: read the rows, then gather the ids.
    const rows = stride === H ? ids : new Uint8Array(batch * stride);
    const { midx, good, oidl, ooff } = cover;
    // mergeCovered's state: [0] where it stopped in the MIDX, [1] the position of its finding.
    const at = new Int32Array([0, -1]);
    // The pack-int-id the MIDX gives each id of the batch.
    const packOf = new Int32Array(batch);
    // Where the merge with each staying pack's ids has got to.
    const cursors = new Int32Array(midx.numPacks);
    for (let first = 0; first < n; first += batch) {
      const c = Math.min(batch, n - first);
      reader.readInto(rows, 0, c * stride, idx.oidBase + first * stride);
      if (rows !== ids) {
        for (let k = 0; k < c; k++) {
          for (let b = 0; b < H; b++) ids[k * H + b] = rows[k * stride + b];
        }
      }
      let bad: number;
      let pos: number;
      let packId = -1;
      if (oidl !== undefined && ooff !== undefined) {
        bad = mergeCovered(oidl, ooff, midx.numObjects, midx.numPacks, H, good, ids, c, at, packOf);
        pos = at[1];
        if (pos >= 0) packId = readU32(ooff, pos * 8);
      } else {
        // A MIDX too large to hold: batch lookups through its page cache.
        const r = midx.lookupMany(ids, c);
        bad = -1;
        pos = -1;
        for (let k = 0; k < c; k++) {
          packOf[k] = r.packIds[k];
          if (r.positions[k] >= 0 && good[r.packIds[k]] === 1) continue;
          bad = k;
          pos = r.positions[k];
          packId = r.packIds[k];
          break;
        }
      }
      if (bad >= 0) {
        const oid = toHex(ids.subarray(bad * H, (bad + 1) * H));
        if (pos < 0) return `object ${oid} is not in the multi-pack-index`;
        const other =
          packId >= 0 && packId < midx.numPacks ? `packfile ${midx.packNames[packId]}` : `pack ${packId}`;
        return `object ${oid} is only in ${other}, which is going or missing`;
      }
      // The MIDX's word is checked against the staying pack's own index: a MIDX that places an
      // object in a pack that does not hold it must not cost the only copy.
      const k = mergeConfirmed(cover, packDir, hash, ids, c, packOf, cursors);
      if (k >= 0) {
        const oid = toHex(ids.subarray(k * H, (k + 1) * H));
        const q = packOf[k];
        return stayingIndex(cover, packDir, q, hash) === null
          ? `the index of packfile ${midx.packNames[q]} cannot be read`
          : `object ${oid} is not in packfile ${midx.packNames[q]}, where the multi-pack-index places it`;
      }
    }
    return undefined;
  } catch (e) {
    return `its objects cannot be checked (${gitText(e)})`;
  } finally {
    idx.close();
  }
}

/** The first 4 bytes of an id at `o` as an int whose order is the bytes' order (a small int to V8). */
function key32(b: Uint8Array, o: number): number {
  return ((b[o] ^ 0x80) << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** -1, 0 or 1 as the ids at `a[ao..]` and `b[bo..]` with equal first 4 bytes compare. */
function compareTails(a: Uint8Array, ao: number, b: Uint8Array, bo: number, H: number): number {
  for (let i = 4; i < H; i++) {
    const d = a[ao + i] - b[bo + i];
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Whether id `i` of a table (ids at `base + i·stride`) sorts before the query (key `qk`, at `ids[qo..]`). */
function before(
  t: Uint8Array,
  base: number,
  stride: number,
  i: number,
  H: number,
  qk: number,
  ids: Uint8Array,
  qo: number,
): boolean {
  const o = base + i * stride;
  const k = key32(t, o);
  return k < qk || (k === qk && compareTails(t, o, ids, qo, H) < 0);
}

/**
 * The first index ≥ `from` of a sorted table of N ids (at `base + i·stride` in `t`) whose id does
 * not sort before the query at `ids[qo..]`, or N: a few steps one by one (the next id is usually
 * near), then a gallop (2, 4, 8, … ahead) and a bisection of its last step. Sorted queries make a
 * merge of the two lists.
 */
function seek(
  t: Uint8Array,
  base: number,
  stride: number,
  N: number,
  H: number,
  ids: Uint8Array,
  qo: number,
  from: number,
): number {
  const qk = key32(ids, qo);
  let m = from;
  for (let steps = 0; steps < 16 && m < N && key32(t, base + m * stride) < qk; steps++) m++;
  if (m >= N || !before(t, base, stride, m, H, qk, ids, qo)) return m;
  let lo = m;
  let step = 1;
  let hi = m + 1;
  while (hi < N && before(t, base, stride, hi, H, qk, ids, qo)) {
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  if (hi > N) hi = N;
  // id(lo) < query; id(hi) >= query or hi = N.
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (before(t, base, stride, mid, H, qk, ids, qo)) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Whether id `i` of a table equals the query at `ids[qo..]`. */
function equalAt(
  t: Uint8Array,
  base: number,
  stride: number,
  i: number,
  H: number,
  ids: Uint8Array,
  qo: number,
) {
  const o = base + i * stride;
  for (let b = 0; b < H; b++) if (t[o + b] !== ids[qo + b]) return false;
  return true;
}

/**
 * Merges the `count` sorted ids in `ids` with the MIDX's N sorted ids (`oidl`), from MIDX position
 * `at[0]`. Returns the index of the first id that is missing or whose MIDX entry names a pack that
 * is not `good` (its position in `at[1]`, -1 when missing), or -1 when all are answered; `at[0]` is
 * left where the walk stopped, `packOf[k]` holds each answer's pack.
 */
function mergeCovered(
  oidl: Uint8Array,
  ooff: Uint8Array,
  N: number,
  numPacks: number,
  H: number,
  good: Uint8Array,
  ids: Uint8Array,
  count: number,
  at: Int32Array,
  packOf: Int32Array,
): number {
  let m = at[0];
  for (let k = 0; k < count; k++) {
    const qo = k * H;
    m = seek(oidl, 0, H, N, H, ids, qo, m);
    if (m >= N || !equalAt(oidl, 0, H, m, H, ids, qo)) {
      at[0] = m;
      at[1] = -1;
      return k;
    }
    const packId = readU32(ooff, m * 8);
    if (packId >= numPacks || good[packId] !== 1) {
      at[0] = m;
      at[1] = m;
      return k;
    }
    packOf[k] = packId;
  }
  at[0] = m;
  at[1] = -1;
  return -1;
}

/**
 * The first of the `count` ids whose pack (`packOf`) does not hold it by its own `.idx`, or -1.
 * Each pack's ids are merged with the queries it answers (a cursor per pack, in `cursors`).
 */
function mergeConfirmed(
  cover: Coverage,
  packDir: string,
  hash: HashAlgorithm,
  ids: Uint8Array,
  count: number,
  packOf: Int32Array,
  cursors: Int32Array,
): number {
  const H = hash.size;
  let q = -1;
  let t: StayingIndex | null = null;
  let cur = 0;
  for (let k = 0; k < count; k++) {
    const qo = k * H;
    if (packOf[k] !== q) {
      if (q >= 0) cursors[q] = cur;
      q = packOf[k];
      t = stayingIndex(cover, packDir, q, hash);
      if (t === null) return k;
      cur = cursors[q];
    }
    const s = t!;
    if (s.bytes !== undefined) {
      cur = seek(s.bytes, s.idx.oidBase, s.idx.oidStride, s.idx.numObjects, H, ids, qo, cur);
      if (cur >= s.idx.numObjects || !equalAt(s.bytes, s.idx.oidBase, s.idx.oidStride, cur, H, ids, qo)) {
        return k;
      }
    } else if (s.idx.findPosition(ids, qo) < 0) {
      return k;
    }
  }
  if (q >= 0) cursors[q] = cur;
  return -1;
}
