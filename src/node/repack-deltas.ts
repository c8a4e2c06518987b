/**
 * The delta search of `repack` (src/node/repack.ts): for the objects the new pack would otherwise
 * store whole, look for a delta against a similar object written in the same pack, the way Git's
 * `pack-objects` does with `pack.window` and `pack.depth`.
 *
 * - Candidates: objects of at least 50 bytes and at most `core.bigFileThreshold` that are whole in
 *   their source pack, or deltas whose base is not in the new pack. Deltas copied verbatim are not
 *   candidates, as Git does not search again for a delta it reuses.
 * - Order: by type, then by size, largest first (Git sorts by type, path-name hash, then size; a
 *   MIDX knows no paths), then by position in the MIDX. Each object is tried against the previous
 *   `window` objects of its type as bases; the smallest delta wins if it is under Git's bound
 *   (half the target less one hash, scaled down as the base's chain gets deeper) and the chains
 *   it makes, counting the copied deltas that rest on the target, stay within `depth`. A base
 *   that served is moved up in the window to be kept longer.
 * - Before encoding a target of 1 KiB or more against a base, 16 spots of it are looked up in the
 *   base's index; unless 4 of them are found there, the pair is not tried.
 * - Memory: the window holds at most `window` objects with their indexes, and evicts its oldest
 *   entries beyond `windowMemory` bytes. Results (each delta, and each resolved object that stays
 *   whole, deflated) stay in memory up to 32 MiB; beyond, they go to a temporary file `tmp_delta_*`
 *   in the pack directory, read back when the pack is written; otherwise a few numbers per object.
 */
import * as fs from 'node:fs';
import { createDelta, DeltaIndex, sampleMatches } from '../pack/delta-encode.js';
import type { Deflater } from '../pack/writer.js';
import type { ProgressCallback } from '../progress.js';
import { TempFile } from './pack-write.js';

/** Objects under this many bytes are neither tried nor used as bases (as in Git). */
const MIN_CANDIDATE_SIZE = 50;
/**
 * Targets of at least SAMPLE_MIN bytes are first sampled at SAMPLES spots against a base; fewer
 * than SAMPLES_NEEDED hits (a delta under Git's bound copies half the target or more, which hits
 * about half the spots) and the base is passed over without encoding.
 */
const SAMPLE_MIN = 1024;
const SAMPLES = 16;
const SAMPLES_NEEDED = 4;
/** Candidates looked at between two yields. */
const STEP = 64;

export interface DeltaSearchSettings {
  /** Objects tried as bases for each target (`pack.window`, default 10); 0 disables the search. */
  window: number;
  /** Longest chain of new deltas (`pack.depth`, default 50). */
  depth: number;
  /** Byte budget of the window: object bytes plus their indexes (`pack.windowMemory`). */
  windowMemory: number;
  /** Objects larger than this many bytes are not searched (`core.bigFileThreshold`). */
  bigFileThreshold: number;
  /** Threads searching at once (`pack.threads`; default 1): see `searchDeltas`. */
  threads?: number;
}

/** The objects of the new pack as the search sees them. */
export interface DeltaSearchInput {
  /** Objects in the new pack, numbered 0..count-1. */
  count: number;
  /** Bytes of an object id (Git's bound on a delta's size subtracts it). */
  hashSize: number;
  /** Per object: its type (1-4) when it is a candidate, else 0. */
  types: Uint8Array;
  /** Per object: its size in bytes (candidates only). */
  sizes: Float64Array;
  /** Per object: the longest chain of copied deltas resting on it; new chains keep within depth. */
  heights: Uint16Array;
  /** Per object: 1 when, left whole, it must be resolved and deflated (not copied verbatim). */
  resolve: Uint8Array;
  /** Reads a candidate's content, checked against its id; undefined when it cannot be read. */
  read(j: number): Uint8Array | undefined;
  deflater: Deflater;
  onProgress?: ProgressCallback;
  /** Called between steps (abort checks); the search yields there too. */
  check?: () => void;
}

/**
 * Deflated streams the search keeps in memory, at most; the rest wait in the spill file (a search
 * that finds many deltas in a large repository keeps its memory bounded).
 */
let KEEP_IN_MEMORY = 32 * 1024 * 1024;

/** @internal Sets that bound (undefined: back to 32 MiB), for tests of the spill file. */
export function setDeltaMemoryMax(bytes: number | undefined): void {
  KEEP_IN_MEMORY = bytes ?? 32 * 1024 * 1024;
}

/**
 * What the search decided, with the deflated bytes of what it decided: in memory up to
 * KEEP_IN_MEMORY bytes, the rest in a temporary file.
 */
export class DeltaSearchResult {
  /** Per object: new-pack index of its new delta base, or -1. */
  readonly base: Int32Array;
  /** Per object: inflated size of the spilled stream (the delta's, or the whole object's). */
  readonly inflated: Float64Array;
  /** Per object: where its deflated stream starts in the spill file (−1: kept in memory), and its length (0: none). */
  private readonly spillAt: Float64Array;
  private readonly spillLength: Uint32Array;
  /** The streams kept in memory, by object. */
  private readonly kept = new Map<number, Uint8Array>();
  private keptBytes = 0;
  private spill: TempFile | undefined;
  private fd: number | undefined;
  private spilled = 0;
  /** New deltas found. */
  deltas = 0;
  /** Threads the search started with. */
  threads = 1;

  constructor(count: number) {
    this.base = new Int32Array(count).fill(-1);
    this.inflated = new Float64Array(count);
    this.spillAt = new Float64Array(count);
    this.spillLength = new Uint32Array(count);
  }

  /** True when object `j` is written from the search's streams (a new delta, or resolved and deflated). */
  has(j: number): boolean {
    return this.spillLength[j] !== 0;
  }

  /** @internal `stream` is the caller's no more: it may be kept as it is. */
  put(packDir: string, j: number, base: number, inflated: number, stream: Uint8Array): void {
    if (this.keptBytes + stream.length <= KEEP_IN_MEMORY) {
      this.kept.set(j, stream);
      this.keptBytes += stream.length;
      this.spillAt[j] = -1;
    } else {
      this.spill ??= TempFile.create(packDir, 'tmp_delta_');
      this.spill.write(stream);
      this.spillAt[j] = this.spilled;
      this.spilled += stream.length;
    }
    this.base[j] = base;
    this.inflated[j] = inflated;
    this.spillLength[j] = stream.length;
    if (base >= 0) this.deltas++;
  }

  /** @internal Ends writing: the spill file is flushed and opened for reading. */
  seal(): void {
    if (this.spill === undefined) return;
    this.spill.commit();
    this.fd = fs.openSync(this.spill.path, 'r');
  }

  /** The deflated stream of object `j` (see `has`). */
  read(j: number): Uint8Array {
    if (this.spillAt[j] < 0) return this.kept.get(j)!;
    const n = this.spillLength[j];
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const r = fs.readSync(this.fd!, out, done, n - done, this.spillAt[j] + done);
      if (r <= 0) throw new Error(`BUG: spill file ${this.spill?.path} ends early`);
      done += r;
    }
    return out;
  }

  /** Closes and removes the spill file, and lets the kept streams go. */
  close(): void {
    this.kept.clear();
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    this.spill?.discard();
  }
}

/** One object in the window. */
interface Slot {
  j: number;
  data: Uint8Array;
  index: DeltaIndex | undefined;
  /** Length of its chain of new deltas (0: stored whole). */
  depth: number;
  bytes: number;
}

/**
 * Git's bound on a delta of `target` bytes against a base at `baseDepth`: half the target less one
 * object id, scaled down with the depth; with a delta already found (`best` bytes, its base at
 * `bestDepth`) the new one must beat it.
 */
function maxDeltaSize(
  target: number,
  hashSize: number,
  baseDepth: number,
  maxDepth: number,
  best: number,
  bestBaseDepth: number,
): number {
  const plain = best < 0;
  const bound = plain ? Math.floor(target / 2) - hashSize : best - 1;
  const refDepth = plain ? 1 : bestBaseDepth + 1;
  return Math.floor((bound * (maxDepth - baseDepth)) / (maxDepth - refDepth + 1));
}

/** Whether an object of `size` bytes is one the search tries (Git's bounds). */
export function isCandidateSize(
  size: number,
  settings: Pick<DeltaSearchSettings, 'bigFileThreshold'>,
): boolean {
  return size >= MIN_CANDIDATE_SIZE && size <= settings.bigFileThreshold;
}

/** A delta search decision: `base` −1 for an object that stays whole (resolved and deflated). */
export type DeltaSink = (j: number, base: number, inflated: number, stream: Uint8Array) => void;

/**
 * The search over the candidates that `next()` hands out (indexes into `order`, the candidates
 * sorted as `searchDeltas` sorts them; −1 when there are no more), with a window of its own that
 * starts again wherever they stop following each other. Each decision goes to `sink`, and each
 * candidate's index, once decided (with or without a decision), to `onDone`. A generator: it yields
 * every STEP candidates, after `onStep(looked)` (candidates looked at so far).
 */
export function* searchClaimed(
  next: () => number,
  order: Uint32Array,
  input: Pick<DeltaSearchInput, 'hashSize' | 'types' | 'heights' | 'resolve' | 'read' | 'deflater' | 'check'>,
  settings: DeltaSearchSettings,
  sink: DeltaSink,
  onStep?: (looked: number) => void,
  onDone?: (k: number) => void,
): Generator<undefined, void, undefined> {
  const { types } = input;
  const window: Slot[] = [];
  let windowBytes = 0;
  let looked = 0;
  let prev = -2;
  for (;;) {
    const k = next();
    if (k < 0) break;
    const j = order[k];
    if (window.length > 0 && (k !== prev + 1 || types[window[0].j] !== types[j])) {
      window.length = 0;
      windowBytes = 0;
    }
    prev = k;
    const data = input.read(j);
    if (data !== undefined) {
      let best: Uint8Array | undefined;
      let bestSlot = -1;
      if (settings.window > 0) {
        for (let w = window.length - 1; w >= 0; w--) {
          const s = window[w];
          // The new chain under this object, and the copied ones resting on it, within pack.depth.
          if (s.depth + 1 + input.heights[j] > settings.depth) continue;
          // Git's size filters: a much smaller base cannot help, nor can a base whose size
          // difference alone passes the bound.
          if (data.length < s.data.length / 32) continue;
          const bestDepth = bestSlot < 0 ? 0 : window[bestSlot].depth;
          const max = maxDeltaSize(
            data.length,
            input.hashSize,
            s.depth,
            settings.depth,
            best ? best.length : -1,
            bestDepth,
          );
          if (max <= 0) continue;
          const diff = s.data.length < data.length ? data.length - s.data.length : 0;
          if (diff >= max) continue;
          if (s.index === undefined) {
            s.index = new DeltaIndex(s.data);
            s.bytes += s.index.indexBytes;
            windowBytes += s.index.indexBytes;
          }
          // A quick look first: a target sharing too little with this base is not encoded.
          if (data.length >= SAMPLE_MIN && sampleMatches(s.index, data, SAMPLES) < SAMPLES_NEEDED) continue;
          const d = createDelta(s.index, data, max);
          if (d !== undefined && (best === undefined || d.length < best.length)) {
            best = d;
            bestSlot = w;
          }
        }
      }
      let depth = 0;
      if (best !== undefined) {
        const s = window[bestSlot];
        depth = s.depth + 1;
        sink(j, s.j, best.length, input.deflater.deflate(best));
        // The base that served goes up, next to its delta: it is kept longer.
        window.splice(bestSlot, 1);
        window.push(s);
      } else if (input.resolve[j]) {
        sink(j, -1, data.length, input.deflater.deflate(data));
      }
      if (settings.window > 0) {
        const slot: Slot = { j, data, index: undefined, depth, bytes: data.length };
        window.push(slot);
        windowBytes += slot.bytes;
        while (
          window.length > settings.window ||
          (windowBytes > settings.windowMemory && window.length > 1)
        ) {
          const old = window.shift()!;
          windowBytes -= old.bytes;
        }
      }
    }
    onDone?.(k);
    if (++looked % STEP === 0) {
      onStep?.(looked);
      yield;
      input.check?.();
    }
  }
  onStep?.(looked);
}

/**
 * Which candidates each thread of a threaded search has left (Git's `pack.threads` scheme): each
 * thread takes the next candidate of its own range, one at a time; a thread whose range is empty
 * takes the upper half of the largest range left (its window starts again there). Shared memory,
 * changed only by compare-and-swap, so that no candidate is taken twice.
 */
export class SharedClaims {
  /** Per thread: its range, as `lo · 2^32 + hi`. */
  readonly ranges: BigInt64Array;
  /** Per candidate (index into the order): the thread that took it, plus one (0: not taken). */
  readonly takenBy: Uint8Array;

  constructor(buffers: { ranges: SharedArrayBuffer; takenBy: SharedArrayBuffer }) {
    this.ranges = new BigInt64Array(buffers.ranges);
    this.takenBy = new Uint8Array(buffers.takenBy);
  }

  /** `n` candidates split in `threads` ranges of about equal counts. */
  static create(n: number, threads: number): SharedClaims {
    const c = new SharedClaims({
      ranges: new SharedArrayBuffer(8 * threads),
      takenBy: new SharedArrayBuffer(Math.max(1, n)),
    });
    for (let t = 0; t < threads; t++) {
      c.ranges[t] = pack(Math.floor((n * t) / threads), Math.floor((n * (t + 1)) / threads));
    }
    return c;
  }

  buffers(): { ranges: SharedArrayBuffer; takenBy: SharedArrayBuffer } {
    return {
      ranges: this.ranges.buffer as SharedArrayBuffer,
      takenBy: this.takenBy.buffer as SharedArrayBuffer,
    };
  }

  /** The next candidate of thread `t`'s range, taken; −1 when its range is empty. */
  take(t: number): number {
    for (;;) {
      const v = Atomics.load(this.ranges, t);
      const lo = Number(v >> 32n);
      const hi = Number(v & 0xffffffffn);
      if (lo >= hi) return -1;
      if (Atomics.compareExchange(this.ranges, t, v, pack(lo + 1, hi)) === v) {
        this.takenBy[lo] = t + 1;
        return lo;
      }
    }
  }

  /**
   * Thread `t` (its range empty) makes the upper half of the largest other range its own, when
   * that range has at least `2 · min` candidates left, or the whole range of a thread `gone(u)`
   * says has stopped; false when there is none.
   */
  steal(t: number, min: number, gone: (u: number) => boolean): boolean {
    for (;;) {
      let best = -1;
      let bestLeft = 0;
      for (let u = 0; u < this.ranges.length; u++) {
        if (u === t) continue;
        const v = Atomics.load(this.ranges, u);
        const left = Number(v & 0xffffffffn) - Number(v >> 32n);
        if (left > 0 && (gone(u) || left >= 2 * min) && (left > bestLeft || gone(u))) {
          best = u;
          bestLeft = left;
          if (gone(u)) break;
        }
      }
      if (best < 0) return false;
      const v = Atomics.load(this.ranges, best);
      const lo = Number(v >> 32n);
      const hi = Number(v & 0xffffffffn);
      if (lo >= hi) continue;
      const mid = gone(best) ? lo : lo + Math.ceil((hi - lo) / 2);
      if (Atomics.compareExchange(this.ranges, best, v, pack(lo, mid)) === v) {
        Atomics.store(this.ranges, t, pack(mid, hi));
        return true;
      }
    }
  }
}

function pack(lo: number, hi: number): bigint {
  return (BigInt(lo) << 32n) | BigInt(hi);
}

/** Candidates a thread leaves to the owner of a range, at the least, when it takes from it. */
export const MIN_STEAL = 128;
/** Candidates each thread of a threaded search has at least (fewer: one thread does them all). */
export const MIN_CANDIDATES_PER_THREAD = 2000;

/**
 * A thread helping the search (a worker, src/node/repack-threads.ts): it takes candidates from the
 * shared claims as thread `t`, and its decisions arrive in batches.
 */
export interface DeltaSearchHelper {
  /**
   * Hands over the batches received so far (and not yet taken): for each candidate they cover
   * (decided, with or without a decision), `accept(k)` says whether it is still wanted (false:
   * already redone here); the decisions of the wanted ones go to `sink`.
   */
  take(accept: (k: number) => boolean, sink: DeltaSink): void;
  /** 'failed': it stopped early (it takes no more candidates; what it took and did not report is redone). */
  readonly state: 'running' | 'done' | 'failed';
  /** Settles when a batch arrives or the helper ends. */
  next(): Promise<void>;
  /** Asks it to stop (an abort, or a failure here); it ends at its next candidate. */
  stop(): void;
}

/** Starts helper thread `t` over `order` and the shared `claims`; undefined: none started. */
export type StartDeltaHelper = (
  order: Uint32Array,
  claims: SharedClaims,
  t: number,
) => DeltaSearchHelper | undefined;

/**
 * Runs the search over the candidates of `input`, deflating every delta found (and every resolved
 * object that stays whole) into a spill file in `packDir`. A generator: it yields every few dozen
 * candidates so that an async run can see an abort. With `startHelper` and `settings.threads` over
 * 1 (and at least MIN_CANDIDATES_PER_THREAD candidates a thread), helper threads search alongside
 * (`SharedClaims`); the generator then also yields Promises, on which an async driver waits (a
 * synchronous one must not pass `startHelper`).
 *
 * @returns The decisions; `close()` it when the pack is written (or on failure).
 */
export function* searchDeltas(
  input: DeltaSearchInput,
  settings: DeltaSearchSettings,
  packDir: string,
  startHelper?: StartDeltaHelper,
): Generator<Promise<void> | undefined, DeltaSearchResult, undefined> {
  const result = new DeltaSearchResult(input.count);
  const helpers: (DeltaSearchHelper | undefined)[] = [];
  try {
    const { types, sizes } = input;
    let n = 0;
    for (let j = 0; j < input.count; j++) {
      if (types[j] === 0) continue;
      if (!isCandidateSize(sizes[j], settings)) {
        types[j] = 0;
        continue;
      }
      n++;
    }
    const order = new Uint32Array(n);
    n = 0;
    for (let j = 0; j < input.count; j++) if (types[j] !== 0) order[n++] = j;
    order.sort((a, b) => types[a] - types[b] || sizes[b] - sizes[a] || a - b);

    const title = 'Compressing objects';
    input.onProgress?.({ title, done: 0, total: n });
    const sink: DeltaSink = (j, base, inflated, stream) => result.put(packDir, j, base, inflated, stream);
    const threads =
      startHelper !== undefined && settings.window > 0
        ? Math.max(1, Math.min(settings.threads ?? 1, Math.floor(n / MIN_CANDIDATES_PER_THREAD)))
        : 1;
    result.threads = threads;
    if (threads === 1) {
      // One thread: the candidates in order, no claims to share.
      let next = 0;
      yield* searchClaimed(
        () => (next < n ? next++ : -1),
        order,
        input,
        settings,
        sink,
        (looked) => input.onProgress?.({ title, done: looked, total: n }),
      );
      input.onProgress?.({ title, done: n, total: n, end: true });
      result.seal();
      return result;
    }
    const claims = SharedClaims.create(n, threads);
    for (let t = 1; t < threads; t++) helpers.push(startHelper!(order, claims, t));
    // Candidates whose decisions are here (a helper that fails leaves the rest of what it took).
    const decided = new Uint8Array(n);
    const done = (k: number) => {
      decided[k] = 1;
    };
    const accept = (k: number) => {
      if (decided[k] !== 0) return false;
      decided[k] = 1;
      return true;
    };
    const gone = (t: number) => t > 0 && helpers[t - 1]?.state !== 'running';
    const progress = () => {
      for (const h of helpers) h?.take(accept, sink);
      input.onProgress?.({ title, done: n - remaining(claims), total: n });
    };
    const search = () =>
      searchClaimed(
        () => {
          const k = claims.take(0);
          return k >= 0 || !claims.steal(0, MIN_STEAL, gone) ? k : claims.take(0);
        },
        order,
        input,
        settings,
        sink,
        progress,
        done,
      );
    yield* search();
    // The helpers' last decisions; then whatever a failed one took and did not report, and what
    // it left (taken whole now that it has stopped).
    for (;;) {
      let waiting: DeltaSearchHelper | undefined;
      for (const h of helpers) {
        h?.take(accept, sink);
        if (h?.state === 'running') waiting ??= h;
      }
      if (waiting === undefined) break;
      yield waiting.next();
      input.check?.();
      progress();
    }
    const redo: number[] = [];
    for (let k = 0; k < n; k++) if (claims.takenBy[k] > 1 && decided[k] === 0) redo.push(k);
    let r = 0;
    yield* searchClaimed(
      () => (r < redo.length ? redo[r++] : -1),
      order,
      input,
      settings,
      sink,
      undefined,
      done,
    );
    yield* search();
    input.onProgress?.({ title, done: n, total: n, end: true });
    result.seal();
    return result;
  } catch (e) {
    for (const h of helpers) h?.stop();
    result.close();
    throw e;
  }
}

/** Candidates not yet taken by any thread. */
function remaining(claims: SharedClaims): number {
  let left = 0;
  for (let t = 0; t < claims.ranges.length; t++) {
    const v = Atomics.load(claims.ranges, t);
    left += Math.max(0, Number(v & 0xffffffffn) - Number(v >> 32n));
  }
  return left;
}
