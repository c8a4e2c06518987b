/**
 * `repack [--batch-size=<size>]` (spec/midx-format.md §13): pick packs of the MIDX the way Git
 * 2.39's `midx_repack()` does, write the objects the MIDX takes from them into one new pack with our
 * own writer (src/pack/writer.ts; Git runs `pack-objects`), then rewrite the MIDX so that the new
 * pack's copies win and a later `expire` can drop the old packs.
 *
 * The new pack (spec/objects-format.md §8):
 * - objects pack by pack in the order of the selected packs, by offset in each (the packs are read
 *   sequentially), each base pulled in front of its deltas;
 * - an entry is copied verbatim (compressed payload copied, header re-encoded) when it is a delta
 *   whose base is in the new pack: then OFS_DELTA with the new distance
 *   (`repack.useDeltaBaseOffset`, default true) or REF_DELTA; a delta whose base is not in the new
 *   pack is resolved (no thin packs);
 * - the delta search (src/node/repack-deltas.ts, as `pack-objects` does it): every object that
 *   would go in whole (whole in its source pack, or resolved) of 50 bytes or more is a candidate;
 *   candidates sorted by type, then size descending (a MIDX knows no path names, Git's second key),
 *   each is tried against the previous `pack.window` (10) candidates of its type as bases, with the
 *   delta encoder of src/pack/delta-encode.ts; the smallest delta under Git's bound (half the
 *   object less one id, less as the base's chain deepens) wins, chains of new deltas stay within
 *   `pack.depth` (50), the copied deltas that rest on an object counted. The window keeps at most
 *   `window` objects and their indexes, within `pack.windowMemory` (256 MiB when unset). New
 *   deltas, and resolved objects left whole, are deflated into a temporary `tmp_delta_*` file
 *   during the search and copied from it when the pack is written: memory does not grow with the
 *   pack. A candidate left whole that was whole in
 *   its source is copied verbatim; one that cannot be read (or does not hash to its id) is left to
 *   the writing, which reports it as before;
 * - a delta (reused or new) whose base would close a cycle through duplicates is stored whole;
 * - before a verbatim copy the source entry is checked: its CRC-32 against an idx v2, an inflate
 *   for an idx v1; a failure is reported (`bad packed object CRC for <oid>`, as Git's
 *   pack-objects says) and the object is rewritten from its content, which must hash to its id.
 * - `tmp_pack_*` and `tmp_idx_*` in objects/pack, fsync, `.pack` then `.idx` renamed into place.
 *
 * Deviation: when the selected packs hold no object the MIDX takes from them, Git writes an empty
 * pack; we write nothing (status `nothing-to-do`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toHex } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { isFatalMidxError, type MultiPackIndex } from '../midx/reader.js';
import { PackIndex } from '../pack/idx.js';
import { OBJ_OFS_DELTA, OBJ_REF_DELTA, type PackEntry, type PackObject } from '../pack/pack.js';
import { type Deflater, encodeEntryHeader, PackWriter, writePackIndex } from '../pack/writer.js';
import type { DiagnosticCallback, ProgressCallback } from '../progress.js';
import { runSteps } from '../steps.js';
import { storeFiles } from '../storage/resident.js';
import { loosePath, readLooseObject } from '../store/loose.js';
import type { GitConfig } from './config.js';
import { readRegularFile } from './fs.js';
import { nodeHash } from './hash.js';
import { LockFile } from './lockfile.js';
import { midxPath, mtimeSeconds, openMidxFile, type WriteMidxResult, writeMidxSteps } from './midx.js';
import { ObjectStore } from './odb.js';
import { nodeCrc32, nodeDeflater, publishFile, TempFile } from './pack-write.js';
import { packDirPath } from './packdir.js';
import {
  type DeltaSearchResult,
  type DeltaSearchSettings,
  isCandidateSize,
  searchDeltas,
} from './repack-deltas.js';
import {
  candidateReader,
  closeSource,
  hashMismatch,
  openSource,
  releaseSource,
  type Source,
  stem,
} from './repack-source.js';
import { deltaHelpers, deltaThreads } from './repack-threads.js';
import { repositoryForObjectDir } from './repo.js';
import { nodeStorage } from './storage.js';
import { nodeInflater } from './zlib.js';

export interface RepackOptions {
  /** The object directory (`.git/objects`). */
  objectDir: string;
  /** The repository's hash algorithm (default SHA-1). */
  hash?: HashAlgorithm;
  /** `--batch-size` in bytes; 0 (the default) repacks every eligible pack. */
  batchSize?: number;
  /**
   * Where `repack.packKeptObjects`, `repack.useDeltaBaseOffset`, `pack.compression`,
   * `core.compression`, `core.multiPackIndex`, `pack.window`, `pack.depth`, `pack.windowMemory`,
   * `pack.threads` and `core.bigFileThreshold` are read. Default: the repository's configuration
   * (found from `objectDir`, with `env`).
   */
  config?: GitConfig;
  /** Environment for finding that configuration (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Override `repack.packKeptObjects` (default false): kept packs become eligible. */
  packKeptObjects?: boolean;
  /** Override `repack.useDeltaBaseOffset` (default true): OFS_DELTA, else REF_DELTA. */
  useDeltaBaseOffset?: boolean;
  /** Override the zlib level of objects stored whole (`pack.compression`, else `core.compression`, else -1). */
  compressionLevel?: number;
  /** Override `pack.window` (default 10): objects tried as delta bases for each object; 0: no search. */
  window?: number;
  /** Override `pack.depth` (default 50): the longest chain of new deltas. */
  depth?: number;
  /** Override `pack.windowMemory` in bytes (default 256 MiB here; Git's 0 means unlimited). */
  windowMemory?: number;
  /**
   * Override `pack.threads` (default 0: one per core, up to four): threads searching for
   * deltas at once, each over its own part of the candidates. `repackMidxAsync` only; the
   * synchronous `repackMidx` searches on its own thread.
   */
  threads?: number;
  onProgress?: ProgressCallback;
  onDiagnostic?: DiagnosticCallback;
  signal?: AbortSignal;
  /**
   * The object directory as messages name it (default `objectDir`): the CLI passes Git's form
   * (`.git/objects`, `./objects`), as in `packed object <oid> (stored in <pack>) is corrupt`.
   */
  displayDir?: string;
}

/**
 * A source entry that could not be read back, read as Git's pack-objects then reads it: another
 * copy outside the MIDX's packs (a loose file, a pack no MIDX lists, an alternate), which must
 * have the size a whole entry declares. Otherwise
 * Git's message: `packed object <oid> (stored in <pack>) is corrupt`, or `inconsistent object
 * length` when the other copy's size differs.
 */
function readElsewhere(
  objectDir: string,
  hash: HashAlgorithm,
  oid: Uint8Array,
  declared: number | undefined,
  shownPack: string,
  failure: GitMidxError,
): PackObject {
  const hex = toHex(oid);
  let other: PackObject | undefined;
  try {
    // Its loose file, else another source the store finds outside the MIDX's packs.
    const files = storeFiles(nodeStorage());
    other = readLooseObject(files, loosePath(objectDir, hex), hex, hash, {
      inflate: nodeInflater,
      hashFn: nodeHash,
    });
    if (other === undefined) {
      const store = ObjectStore.open({ objectDir, hash });
      try {
        other = store.readObject(oid);
        if (store.counters.looseHits + store.counters.packHits === 0) other = undefined;
      } finally {
        store.close();
      }
    }
  } catch {
    // no other copy that reads
  }
  if (other === undefined) {
    const git = `packed object ${hex} (stored in ${shownPack}) is corrupt`;
    throw new GitMidxError(failure.code, git, {
      file: failure.file,
      data: { git, oid: hex, detail: failure.data.git ?? failure.message },
      cause: failure,
    });
  }
  if (declared !== undefined && other.data.length !== declared) {
    const git = `object ${hex} inconsistent object length (${other.data.length} vs ${declared})`;
    throw new GitMidxError('OBJECT_CORRUPT', git, {
      file: failure.file,
      data: { git, oid: hex, size: other.data.length, declared },
      cause: failure,
    });
  }
  return other;
}

/** Why a pack was not selected. */
export type RepackSkipReason = 'unloadable' | 'keep' | 'cruft' | 'no-index' | 'empty' | 'too-large';

export interface RepackPackPlan {
  /** The `.idx` name, as in the MIDX. */
  readonly name: string;
  /** Pack-int-id in the MIDX. */
  readonly packId: number;
  /** `.pack` mtime in whole seconds. */
  readonly mtime: number;
  /** `.pack` size in bytes. */
  readonly size: number;
  /** Objects in its index (-1 when the index could not be read). */
  readonly numObjects: number;
  /** Objects the MIDX takes from this pack: what goes into the new pack. */
  readonly objects: number;
  /** Git's estimate of the bytes they take: `floor(size × objects / numObjects)`. */
  readonly expectedBytes: number;
}

export interface RepackPlan {
  /** `no-midx`: no MIDX (or `core.multiPackIndex=false`); `nothing-to-do`: fewer than 2 packs selected. */
  readonly status: 'no-midx' | 'nothing-to-do' | 'ready';
  readonly batchSize: number;
  /** The selected packs, in the order they were chosen (by mtime for a batch size, else MIDX order). */
  readonly packs: readonly RepackPackPlan[];
  /** Packs looked at and passed over, with the reason. */
  readonly skipped: readonly { readonly name: string; readonly reason: RepackSkipReason }[];
  /** Objects the new pack would hold. */
  readonly objects: number;
  /** Sum of the selected packs' expected sizes. */
  readonly estimatedBytes: number;
}

export interface RepackPackResult {
  /** `pack-<hex>`: the stem of the new `.pack`/`.idx`. */
  readonly name: string;
  /** Hex of the pack trailer. */
  readonly checksum: string;
  readonly objects: number;
  /** Size of the `.pack` in bytes. */
  readonly bytes: number;
  /** Whole objects and deltas copied verbatim, and objects stored whole after resolving. */
  readonly reused: number;
  readonly reusedDeltas: number;
  readonly resolved: number;
  /** Objects stored as deltas found by the delta search (counted apart from `resolved` and `reused`). */
  readonly deltified: number;
  /**
   * Threads the delta search started with (`pack.threads`, at most one per 2,000 candidates; 1
   * for the synchronous `repackMidx`; 0 without a search). A helper thread that fails leaves its
   * work to the others: the pack is the same either way, up to delta choices.
   */
  readonly searchThreads: number;
  /** True when a pack of that name already existed and was kept (nothing was replaced). */
  readonly existed: boolean;
}

export interface RepackResult {
  readonly status: 'no-midx' | 'nothing-to-do' | 'repacked';
  readonly plan: RepackPlan;
  readonly pack?: RepackPackResult;
  readonly write?: WriteMidxResult;
}

// ---------------------------------------------------------------------------------------------
// Configuration

interface Settings {
  packKeptObjects: boolean;
  useDeltaBaseOffset: boolean;
  compressionLevel: number;
  useMidx: boolean;
  search: DeltaSearchSettings;
}

/** Bytes of whole candidates copied out of their packs ahead of the delta search, at most. */
let ARENA_MAX = 64 * 1024 * 1024;

/** @internal Sets that bound (undefined: back to 64 MiB), for tests of the candidates past it. */
export function setRepackArenaMax(bytes: number | undefined): void {
  ARENA_MAX = bytes ?? 64 * 1024 * 1024;
}

/** `pack.windowMemory` when unset: Git has no limit; ours keeps the window within this. */
const DEFAULT_WINDOW_MEMORY = 256 * 1024 * 1024;

function nonNegative(key: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    const git = `bad ${key} ${value}`;
    throw new GitMidxError('BAD_CONFIG', git, { data: { git, key, value } });
  }
  return value;
}

function settings(options: RepackOptions): Settings {
  const config =
    options.config ?? repositoryForObjectDir(options.objectDir, { env: options.env ?? process.env }).config;
  let level = options.compressionLevel;
  if (level === undefined) {
    const key = config.get('pack.compression') !== undefined ? 'pack.compression' : 'core.compression';
    level = config.getInt(key, -1);
  }
  if (!Number.isInteger(level) || level < -1 || level > 9) {
    const git = `bad pack compression level ${level}`;
    throw new GitMidxError('BAD_CONFIG', git, { data: { git, level } });
  }
  return {
    packKeptObjects: options.packKeptObjects ?? config.getBool('repack.packKeptObjects', false),
    useDeltaBaseOffset: options.useDeltaBaseOffset ?? config.getBool('repack.useDeltaBaseOffset', true),
    compressionLevel: level,
    useMidx: config.getBool('core.multiPackIndex', true),
    search: {
      window: nonNegative('pack.window', options.window ?? config.getInt('pack.window', 10)),
      // Git caps pack.depth at 4095 (the depth field's width).
      depth: Math.min(4095, nonNegative('pack.depth', options.depth ?? config.getInt('pack.depth', 50))),
      windowMemory:
        nonNegative('pack.windowMemory', options.windowMemory ?? config.getInt('pack.windowMemory', 0)) ||
        DEFAULT_WINDOW_MEMORY,
      bigFileThreshold: nonNegative(
        'core.bigFileThreshold',
        config.getInt('core.bigFileThreshold', 512 << 20),
      ),
      threads: deltaThreads(nonNegative('pack.threads', options.threads ?? config.getInt('pack.threads', 0))),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Selection (§13)

function checkBatchSize(batchSize: number): void {
  if (!Number.isSafeInteger(batchSize) || batchSize < 0) {
    throw new GitMidxError('INVALID_ARGUMENT', `batch size ${batchSize} is not a non-negative integer`, {
      data: { batchSize },
    });
  }
}

interface PackFacts {
  name: string;
  loaded: boolean;
  mtime: number;
  size: number;
  keep: boolean;
  cruft: boolean;
}

/** What Git's `add_packed_git()` learns about a MIDX pack: no index is opened here. */
function packFacts(packDir: string, name: string): PackFacts {
  // Each companion joined as a whole name (`..idx` has the stem `.`: joining the stem alone would
  // name the pack directory itself).
  const companion = (ext: string) => packDirPath(packDir, `${stem(name)}${ext}`);
  let st: fs.BigIntStats | undefined;
  try {
    st = fs.statSync(companion('.pack'), { bigint: true });
  } catch {
    st = undefined;
  }
  if (!st?.isFile()) return { name, loaded: false, mtime: 0, size: 0, keep: false, cruft: false };
  return {
    name,
    loaded: true,
    mtime: mtimeSeconds(st),
    size: Number(st.size),
    keep: fs.existsSync(companion('.keep')),
    cruft: fs.existsSync(companion('.mtimes')),
  };
}

function idxObjectCount(packDir: string, name: string, hash: HashAlgorithm): number {
  try {
    const idx = PackIndex.fromBytes(readRegularFile(packDirPath(packDir, name)), { hash });
    const n = idx.numObjects;
    idx.close();
    return n;
  } catch {
    return -1;
  }
}

/** Git 2.39's estimate, exact in 64-bit arithmetic: `pack_size × referenced / num_objects`. */
function expectedSize(size: number, referenced: number, numObjects: number): number {
  if (numObjects <= 0) return size;
  // [new] (2.50+) rounds instead: ((((referenced << 14) / num) × size) + 8192) >> 14 (§13).
  return Number((BigInt(size) * BigInt(referenced)) / BigInt(numObjects));
}

function selectPacks(m: MultiPackIndex, packDir: string, batchSize: number, s: Settings): RepackPlan {
  const hash = m.hash;
  const referenced = new Uint32Array(m.numPacks);
  for (let i = 0; i < m.numObjects; i++) referenced[m.packIdAt(i)]++;
  const facts = m.packNames.map((name) => packFacts(packDir, name));
  const chosen: RepackPackPlan[] = [];
  const skipped: { name: string; reason: RepackSkipReason }[] = [];
  const pick = (id: number, numObjects: number, expected: number) =>
    chosen.push({
      name: facts[id].name,
      packId: id,
      mtime: facts[id].mtime,
      size: facts[id].size,
      numObjects,
      objects: referenced[id],
      expectedBytes: expected,
    });
  const eligible = (id: number): boolean => {
    const f = facts[id];
    const reason: RepackSkipReason | undefined = !f.loaded
      ? 'unloadable'
      : f.keep && !s.packKeptObjects
        ? 'keep'
        : f.cruft
          ? 'cruft'
          : undefined;
    if (reason) skipped.push({ name: f.name, reason });
    return reason === undefined;
  };

  if (batchSize === 0) {
    // Every pack that loads and is neither kept nor cruft (2.39 does not look at object counts).
    for (let id = 0; id < m.numPacks; id++) {
      if (!eligible(id)) continue;
      const n = idxObjectCount(packDir, facts[id].name, hash);
      pick(id, n, expectedSize(facts[id].size, referenced[id], n));
    }
  } else {
    // Oldest first. C's qsort leaves ties unordered; we keep MIDX order among equal mtimes.
    const order = Array.from({ length: m.numPacks }, (_, i) => i);
    order.sort((a, b) => facts[a].mtime - facts[b].mtime || a - b);
    let total = 0;
    for (let k = 0; k < order.length && total < batchSize; k++) {
      const id = order[k];
      if (!eligible(id)) continue;
      const n = idxObjectCount(packDir, facts[id].name, hash);
      if (n <= 0) {
        skipped.push({ name: facts[id].name, reason: n < 0 ? 'no-index' : 'empty' });
        continue;
      }
      const expected = expectedSize(facts[id].size, referenced[id], n);
      if (expected >= batchSize) {
        skipped.push({ name: facts[id].name, reason: 'too-large' });
        continue;
      }
      pick(id, n, expected);
      total += expected;
    }
  }
  const objects = chosen.reduce((a, p) => a + p.objects, 0);
  const estimatedBytes = chosen.reduce((a, p) => a + p.expectedBytes, 0);
  // Fewer than two packs: nothing to combine. No object to move: Git would write an empty pack.
  const status = chosen.length < 2 || objects === 0 ? 'nothing-to-do' : 'ready';
  return { status, batchSize, packs: chosen, skipped, objects, estimatedBytes };
}

function noMidx(batchSize: number): RepackPlan {
  return { status: 'no-midx', batchSize, packs: [], skipped: [], objects: 0, estimatedBytes: 0 };
}

/** Opens the MIDX as `repack` sees it; undefined when there is none (or it is not to be used). */
function openForRepack(options: RepackOptions, s: Settings): MultiPackIndex | undefined {
  // core.multiPackIndex=false: Git does not load the MIDX, so `repack` finds none (observed).
  if (!s.useMidx) return undefined;
  try {
    return openMidxFile(midxPath(options.objectDir), {
      hash:
        options.hash ?? repositoryForObjectDir(options.objectDir, { env: options.env ?? process.env }).hash,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (isGitMidxError(e) && !isFatalMidxError(e.code)) {
      // An error-level problem makes Git ignore the MIDX: it reports it and has nothing to repack.
      options.onDiagnostic?.({ level: 'error', message: String(e.data.git ?? e.message) });
      return undefined;
    }
    throw e;
  }
}

/** What `repack` would do, touching nothing: the packs it would combine, their objects and bytes. */
export function planRepack(options: RepackOptions): RepackPlan {
  const batchSize = options.batchSize ?? 0;
  checkBatchSize(batchSize);
  const s = settings(options);
  const m = openForRepack(options, s);
  if (!m) return noMidx(batchSize);
  try {
    return selectPacks(m, path.join(options.objectDir, 'pack'), batchSize, s);
  } finally {
    m.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Running it

/** Runs `repack` synchronously (see `repackMidxAsync` for a run that signal handlers can abort). */
export function repackMidx(options: RepackOptions): RepackResult {
  return runSteps(repackSteps(options, false));
}

/**
 * The same, giving the event loop a turn now and then (every few hundred objects, between phases,
 * and just before the new files are renamed into place), so that an abort raised by a signal
 * handler is seen in time: the temporary files are removed and nothing else changes.
 */
export async function repackMidxAsync(options: RepackOptions): Promise<RepackResult> {
  const steps = repackSteps(options, true);
  let r = steps.next();
  while (!r.done) {
    // A Promise: the delta search waits for its helper threads.
    await (r.value ?? new Promise((resolve) => setImmediate(resolve)));
    r = steps.next();
  }
  return r.value;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new GitMidxError('ABORTED', 'multi-pack-index repack aborted', { data: { reason: signal.reason } });
  }
}

function midxWriteOptions(options: RepackOptions) {
  return {
    objectDir: options.objectDir,
    hash: options.hash,
    onProgress: options.onProgress,
    onDiagnostic: options.onDiagnostic,
    signal: options.signal,
  };
}

/**
 * The repack as a generator. With `threaded`, the delta search may run on several threads
 * (`pack.threads`), and the generator then also yields Promises to wait on (an async driver only).
 */
function* repackSteps(
  options: RepackOptions,
  threaded: boolean,
): Generator<Promise<void> | undefined, RepackResult, undefined> {
  const batchSize = options.batchSize ?? 0;
  checkBatchSize(batchSize);
  const s = settings(options);
  const m = openForRepack(options, s);
  if (!m) return { status: 'no-midx', plan: noMidx(batchSize) };
  const packDir = path.join(options.objectDir, 'pack');
  let plan: RepackPlan;
  let pack: RepackPackResult;
  let lock: LockFile | undefined;
  try {
    plan = selectPacks(m, packDir, batchSize, s);
    if (plan.status !== 'ready') return { status: 'nothing-to-do', plan };
    // The MIDX lock comes before anything is written: another writer (or a stale lock) stops us
    // here, with Git's message, instead of after a new pack nothing would list (Git 2.39 writes
    // the pack first and leaves it behind).
    lock = LockFile.acquire(midxPath(options.objectDir), { packDir });
    yield;
    checkAbort(options.signal);
    pack = yield* writeNewPack(m, plan, packDir, s, options, threaded);
  } catch (e) {
    lock?.rollback();
    throw e;
  } finally {
    m.close();
  }
  // The new pack is in place; the rewrite (old MIDX reused, the new pack discovered and winning
  // every object it holds, §13 step 7) is the writer's, as for `write`, through the lock we hold.
  const write = yield* writeMidxSteps(midxWriteOptions(options), lock);
  return { status: 'repacked', plan, pack, write };
}

// ---------------------------------------------------------------------------------------------
// The new pack

/** Rank of `offset` among the entry offsets, or -1. */
function rankOf(src: Source, offset: number): number {
  const o = src.offsets;
  let lo = 0;
  let hi = o.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (o[mid] < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo < o.length && o[lo] === offset ? lo : -1;
}

const TYPE_NUMBERS: Record<string, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
const _TYPE_NAMES = ['', 'commit', 'tree', 'blob', 'tag'];
/** Raw bytes are read and copied in pieces of this size, so a huge entry is never held whole. */
const COPY_CHUNK = 1 << 20;
/** Objects written between two turns of the event loop (async runs) and two progress events. */
const STEP_OBJECTS = 256;

/**
 * Per object of the new pack: the longest chain of copied deltas that rests on it (0: none). A new
 * delta of depth d under an object of height h makes chains of d + h: the search keeps that
 * within `pack.depth`. `reusedBase[j]` is the base of a copied delta, else -1.
 */
function reusedHeights(reusedBase: Int32Array): Uint16Array {
  const n = reusedBase.length;
  // Distance of each object down to the object its chain of copied deltas rests on, and that object.
  const dist = new Int32Array(n).fill(-1);
  const root = new Int32Array(n);
  const path: number[] = [];
  for (let j = 0; j < n; j++) {
    let x = j;
    // -2: on the current path (a cycle through duplicates ends the chain there).
    while (dist[x] === -1 && reusedBase[x] >= 0) {
      dist[x] = -2;
      path.push(x);
      x = reusedBase[x];
    }
    let d: number;
    let r: number;
    if (dist[x] >= 0) {
      d = dist[x];
      r = root[x];
    } else {
      d = 0;
      r = x;
      if (dist[x] === -1) {
        dist[x] = 0;
        root[x] = x;
      }
    }
    while (path.length > 0) {
      const y = path.pop()!;
      d++;
      dist[y] = d;
      root[y] = r;
    }
  }
  const height = new Uint16Array(n);
  for (let j = 0; j < n; j++) {
    if (dist[j] > height[root[j]]) height[root[j]] = Math.min(dist[j], 0xffff);
  }
  return height;
}

/** How one object goes into the new pack. */
interface Plan {
  entry: PackEntry;
  /** End of the source entry. */
  end: number;
  /** The object's position in the source idx. */
  position: number;
  /** New-pack index of the delta base, or -1 (whole object, or to be resolved). */
  base: number;
  /** Copy the compressed payload as is; else inflate, resolve and deflate. */
  verbatim: boolean;
  /** Written from the delta search's spill file: a new delta (against `base`) or a resolved object. */
  spill: boolean;
}

function* writeNewPack(
  m: MultiPackIndex,
  plan: RepackPlan,
  packDir: string,
  s: Settings,
  options: RepackOptions,
  threaded: boolean,
): Generator<Promise<void> | undefined, RepackPackResult, undefined> {
  const hash = m.hash;
  const H = hash.size;
  const diag = options.onDiagnostic ?? (() => {});
  const progress = options.onProgress;
  const title = 'Writing objects';

  // The objects: every MIDX entry whose selected copy is in a selected pack, in OID order (§13).
  const selected = new Int32Array(m.numPacks).fill(-1);
  plan.packs.forEach((p, i) => {
    selected[p.packId] = i;
  });
  const count = plan.objects;
  const newIndex = new Int32Array(m.numObjects).fill(-1);
  const oids = new Uint8Array(count * H);
  const srcOf = new Uint32Array(count);
  // Offsets in 32 bits where every one fits (no MIDX large offsets; source packs under 4 GiB).
  const srcOffset = m.hasLargeOffsets ? new Float64Array(count) : new Uint32Array(count);
  let k = 0;
  for (let i = 0; i < m.numObjects; i++) {
    const sel = selected[m.packIdAt(i)];
    if (sel < 0) continue;
    newIndex[i] = k;
    oids.set(m.oidAt(i), k * H);
    srcOf[k] = sel;
    srcOffset[k] = m.offsetAt(i);
    k++;
  }
  if (k !== count) throw new Error(`BUG: counted ${count} objects, found ${k}`);
  // That pass read the whole MIDX; from here on it answers a few lookups (delta bases) at most.
  m.releasePages();

  const sources: Source[] = [];
  let search: DeltaSearchResult | undefined;
  let packTmp: TempFile | undefined;
  let idxTmp: TempFile | undefined;
  try {
    for (const p of plan.packs) sources.push(openSource(packDir, p.name, hash, plan.packs.length));
    yield;
    checkAbort(options.signal);

    packTmp = TempFile.create(packDir, 'tmp_pack_');
    const writer = new PackWriter(packTmp, { hash, hashFn: nodeHash, count, crc32: nodeCrc32 });
    const deflater: Deflater = nodeDeflater(s.compressionLevel);
    const newOffsets = new Float64Array(count);
    const crcs = new Uint32Array(count);
    /** 0 = not written, 1 = waiting for its base, 2 = written. */
    const state = new Uint8Array(count);
    const plans: (Plan | undefined)[] = new Array(count);
    let reused = 0;
    let reusedDeltas = 0;
    let resolved = 0;
    let deltified = 0;
    let searchTypes: Uint8Array | undefined;
    const hex = (j: number) => toHex(oids, j * H, (j + 1) * H);

    const sourceRank = (j: number): [Source, number] => {
      const src = sources[srcOf[j]];
      const rank = rankOf(src, srcOffset[j]);
      if (rank < 0) {
        throw new GitMidxError(
          'PACK_BAD_OBJECT',
          `${src.pack.file}: the multi-pack-index places ${hex(j)} at offset ${srcOffset[j]}, which is no entry of ${src.name}`,
          { file: src.pack.file, data: { oid: hex(j), offset: srcOffset[j] } },
        );
      }
      return [src, rank];
    };

    /** Is the source entry intact? idx v2: its CRC-32; idx v1: it inflates to its declared size. */
    const sourceIntact = (src: Source, j: number, p: Plan): boolean => {
      const start = p.entry.offset;
      const want = src.idx.crcAt(p.position);
      if (want !== undefined) {
        let c = 0;
        for (let o = start; o < p.end; o += COPY_CHUNK) {
          const n = Math.min(COPY_CHUNK, p.end - o);
          // Small entries through the page cache: the copy that follows reads the same pages.
          c = nodeCrc32(n <= src.raw.pageSize ? src.raw.read(o, n) : src.raw.readUncached(o, n), c);
        }
        if (c === want) return true;
        diag({ level: 'error', message: `bad packed object CRC for ${hex(j)}` });
        return false;
      }
      try {
        const payload = src.raw.readUncached(p.entry.dataOffset, p.end - p.entry.dataOffset);
        const r = nodeInflater.inflate(payload, p.entry.size);
        if (r.data.length === p.entry.size && r.consumed === payload.length) return true;
      } catch {
        // reported below
      }
      diag({ level: 'error', message: `corrupt packed object for ${hex(j)}` });
      return false;
    };

    /** New-pack index of a source delta entry's base, or -1 when the base is not in the new pack. */
    const newBaseOf = (src: Source, entry: PackEntry): number => {
      let baseOid: Uint8Array | undefined = entry.baseOid;
      if (entry.type === OBJ_OFS_DELTA) {
        const br = rankOf(src, entry.baseOffset!);
        baseOid = br < 0 ? undefined : src.idx.oidAt(src.positions[br]);
      }
      const at = baseOid === undefined ? -1 : m.findPosition(baseOid);
      return at < 0 ? -1 : newIndex[at];
    };

    /** Does `data` of `type` hash to the id of object `j`? */
    const hashesTo = (j: number, type: string, data: Uint8Array): Uint8Array | undefined =>
      hashMismatch(hash, oids, j, type, data);

    // The objects by source pack and offset: the order the packs are read in, sequentially, and the
    // order of the new pack (each base still pulled in front of its deltas).
    const byLocation = new Uint32Array(count);
    for (let j = 0; j < count; j++) byLocation[j] = j;
    byLocation.sort((a, b) => srcOf[a] - srcOf[b] || srcOffset[a] - srcOffset[b]);
    /**
     * Passes over the packs in that order go from one pack to the next for good: the pages of the
     * one left behind are given back (a base read there later loads its page again), so that the
     * page caches of all packs never fill together.
     */
    let current = -1;
    const reading = (si: number): void => {
      if (si === current) return;
      if (current >= 0) releaseSource(sources[current]);
      current = si;
    };

    // The delta search (src/node/repack-deltas.ts) over the objects that would be stored whole.
    if (s.search.window > 0) {
      const types = new Uint8Array(count);
      const sizes = new Float64Array(count);
      const resolve = new Uint8Array(count);
      // Where the zlib stream of a whole candidate starts and its entry ends: read in one piece.
      const small = sources.every((src) => src.pack.size <= 0xffffffff);
      const dataAt = small ? new Uint32Array(count) : new Float64Array(count);
      const endAt = small ? new Uint32Array(count) : new Float64Array(count);
      /** Per object copied as a delta: the new-pack index of its base (else -1). */
      const reusedBase = new Int32Array(count).fill(-1);
      // The compressed bytes of the whole candidates, copied out as the packs are read in order (a
      // few large reads per pack) into one shared buffer that the search's threads read: a read
      // per candidate, in the search's order, costs a system call each. Up to ARENA_MAX bytes;
      // candidates past it are read from their packs. (Pages never written are never touched.)
      const arena = new Uint8Array(
        new SharedArrayBuffer(
          Math.max(
            1,
            Math.min(
              ARENA_MAX,
              sources.reduce((a, src) => a + src.pack.size, 0),
            ),
          ),
        ),
      );
      const arenaAt = new Int32Array(count).fill(-1);
      let arenaUsed = 0;
      for (let k = 0; k < count; k++) {
        const j = byLocation[k];
        reading(srcOf[j]);
        const [src, rank] = sourceRank(j);
        const entry = src.pack.entryAt(srcOffset[j]);
        if (entry.type !== OBJ_OFS_DELTA && entry.type !== OBJ_REF_DELTA) {
          types[j] = entry.type;
          sizes[j] = entry.size;
          dataAt[j] = entry.dataOffset;
          endAt[j] = rank + 1 < src.offsets.length ? src.offsets[rank + 1] : src.end;
          const n = endAt[j] - dataAt[j];
          if (isCandidateSize(entry.size, s.search) && arenaUsed + n <= arena.length) {
            const o = dataAt[j];
            arena.set(n <= src.raw.pageSize ? src.raw.read(o, n) : src.raw.readUncached(o, n), arenaUsed);
            arenaAt[j] = arenaUsed;
            arenaUsed += n;
          }
        } else {
          reusedBase[j] = newBaseOf(src, entry);
          if (reusedBase[j] < 0) {
            try {
              sizes[j] = src.pack.sizeAt(srcOffset[j]);
              types[j] = src.pack.typeOfLast;
              resolve[j] = 1;
            } catch {
              // Left to the writing, which reports it.
            }
          }
        }
      }
      const heights = reusedHeights(reusedBase);
      search = yield* searchDeltas(
        {
          count,
          hashSize: H,
          types,
          sizes,
          resolve,
          heights,
          read: candidateReader(hash, sources, {
            oids,
            srcOf,
            srcOffset,
            dataAt,
            endAt,
            types,
            sizes,
            resolve,
            arena,
            arenaAt,
          }),
          deflater: nodeDeflater(s.compressionLevel),
          onProgress: progress,
          check: () => checkAbort(options.signal),
        },
        s.search,
        packDir,
        threaded && (s.search.threads ?? 1) > 1
          ? deltaHelpers({
              packDir,
              names: plan.packs.map((p) => p.name),
              hashName: hash.name,
              compressionLevel: s.compressionLevel,
              settings: s.search,
              table: { oids, srcOf, srcOffset, dataAt, endAt, types, sizes, resolve, arena, arenaAt },
              heights,
            })
          : undefined,
      );
      searchTypes = types;
      for (const src of sources) releaseSource(src);
      current = -1;
    }

    const planOf = (j: number): Plan => {
      const [src, rank] = sourceRank(j);
      const entry = src.pack.entryAt(srcOffset[j]);
      const end = rank + 1 < src.offsets.length ? src.offsets[rank + 1] : src.end;
      const p: Plan = { entry, end, position: src.positions[rank], base: -1, verbatim: true, spill: false };
      if (search?.has(j)) {
        // Decided by the delta search, its content already checked against its id.
        p.verbatim = false;
        p.spill = true;
        p.base = search.base[j];
        return p;
      }
      if (entry.type === OBJ_OFS_DELTA || entry.type === OBJ_REF_DELTA) {
        p.base = newBaseOf(src, entry);
        // The base stays behind: resolve the object and store it whole (no thin packs, §8.1).
        if (p.base < 0) p.verbatim = false;
      }
      if (p.verbatim && !sourceIntact(src, j, p)) {
        p.verbatim = false;
        p.base = -1;
      }
      return p;
    };

    const copyVerbatim = (j: number, p: Plan): void => {
      const src = sources[srcOf[j]];
      const e = p.entry;
      let header: Uint8Array;
      if (p.base < 0) {
        header = encodeEntryHeader(e.type, e.size);
        reused++;
      } else {
        header = writer.deltaHeader(
          e.size,
          s.useDeltaBaseOffset
            ? { offset: newOffsets[p.base] }
            : { oid: oids.subarray(p.base * H, (p.base + 1) * H) },
        );
        reusedDeltas++;
      }
      newOffsets[j] = writer.beginEntry(header);
      for (let o = e.dataOffset; o < p.end; o += COPY_CHUNK) {
        const n = Math.min(COPY_CHUNK, p.end - o);
        writer.entryData(n <= src.raw.pageSize ? src.raw.read(o, n) : src.raw.readUncached(o, n));
      }
      crcs[j] = writer.endEntry().crc;
    };

    const writeSpilled = (j: number, p: Plan): void => {
      const size = search!.inflated[j];
      let header: Uint8Array;
      if (p.base < 0) {
        header = encodeEntryHeader(searchTypes![j], size);
        resolved++;
      } else {
        header = writer.deltaHeader(
          size,
          s.useDeltaBaseOffset
            ? { offset: newOffsets[p.base] }
            : { oid: oids.subarray(p.base * H, (p.base + 1) * H) },
        );
        deltified++;
      }
      newOffsets[j] = writer.beginEntry(header);
      writer.entryData(search!.read(j));
      crcs[j] = writer.endEntry().crc;
    };

    const storeWhole = (j: number, p: Plan): void => {
      const src = sources[srcOf[j]];
      let obj: PackObject;
      try {
        obj = src.pack.readAt(p.entry.offset);
      } catch (e) {
        if (!isGitMidxError(e) || e.code === 'ABORTED' || e.code === 'OBJECT_TOO_LARGE') throw e;
        const shown = `${options.displayDir ?? options.objectDir}/pack/${path.basename(src.pack.file)}`;
        obj = readElsewhere(
          options.objectDir,
          hash,
          oids.subarray(j * H, (j + 1) * H),
          // (A delta's header gives the delta's size, not the object's: nothing to compare.)
          p.entry.type < OBJ_OFS_DELTA ? p.entry.size : undefined,
          shown,
          e,
        );
      }
      const type = TYPE_NUMBERS[obj.type];
      const got = hashesTo(j, obj.type, obj.data);
      if (got !== undefined) {
        const git = `packed ${hex(j)} from ${src.pack.file} is corrupt`;
        throw new GitMidxError(
          'PACK_HASH_MISMATCH',
          `${src.pack.file}: object at offset ${p.entry.offset} hashes to ${toHex(got)}, not ${hex(j)}`,
          { file: src.pack.file, data: { git, offset: p.entry.offset, oid: hex(j) } },
        );
      }
      const w = writer.writeObject(type, obj.data, deflater);
      newOffsets[j] = w.offset;
      crcs[j] = w.crc;
      resolved++;
    };

    // Depth-first from each object in source order: a delta whose base is in the new pack waits for
    // it; a base already waiting (a cycle through duplicate copies) makes the delta go whole.
    const stack: number[] = [];
    let sinceStep = 0;
    progress?.({ title, done: 0, total: count });
    for (let k = 0; k < count; k++) {
      const root = byLocation[k];
      if (state[root] === 2) continue;
      reading(srcOf[root]);
      stack.push(root);
      while (stack.length > 0) {
        const j = stack[stack.length - 1];
        if (state[j] === 2) {
          stack.pop();
          continue;
        }
        let p = plans[j];
        if (p === undefined) {
          p = planOf(j);
          plans[j] = p;
        }
        if ((p.verbatim || p.spill) && p.base >= 0 && state[p.base] !== 2) {
          if (state[p.base] === 0 && state[j] === 0) {
            state[j] = 1;
            stack.push(p.base);
            continue;
          }
          // The base is waiting on this object (directly or through others): break the cycle.
          p.verbatim = false;
          p.spill = false;
          p.base = -1;
        }
        if (p.spill) writeSpilled(j, p);
        else if (p.verbatim) copyVerbatim(j, p);
        else storeWhole(j, p);
        state[j] = 2;
        plans[j] = undefined;
        stack.pop();
        if (++sinceStep >= STEP_OBJECTS) {
          sinceStep = 0;
          progress?.({ title, done: writer.entries, total: count });
          yield;
          checkAbort(options.signal);
        }
      }
    }
    const trailer = writer.finish();
    progress?.({ title, done: count, total: count, end: true });
    packTmp.commit();
    const bytes = writer.offset;

    idxTmp = TempFile.create(packDir, 'tmp_idx_');
    writePackIndex(idxTmp, {
      hash,
      hashFn: nodeHash,
      oids,
      offsets: newOffsets,
      crcs,
      packChecksum: trailer,
    });
    idxTmp.commit();

    // The last moment to give up: nothing is visible until the renames.
    yield;
    checkAbort(options.signal);
    const sum = toHex(trailer);
    const name = `pack-${sum}`;
    const packCreated = publishFile(packTmp, path.join(packDir, `${name}.pack`));
    const idxCreated = publishFile(idxTmp, path.join(packDir, `${name}.idx`));
    return {
      name,
      checksum: sum,
      objects: count,
      bytes,
      reused,
      reusedDeltas,
      resolved,
      deltified,
      searchThreads: search?.threads ?? 0,
      existed: !packCreated && !idxCreated,
    };
  } catch (e) {
    packTmp?.discard();
    idxTmp?.discard();
    // Git's repack runs pack-objects for this part: when that dies, repack adds a line of its own.
    if (isGitMidxError(e) && e.code !== 'ABORTED') {
      throw new GitMidxError(e.code, e.message, {
        file: e.file,
        data: { ...e.data, packObjects: true },
        cause: e,
      });
    }
    throw e;
  } finally {
    search?.close();
    for (const src of sources) closeSource(src);
  }
}
