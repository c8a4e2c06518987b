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
 *   whole, deflated) go to a temporary file `tmp_delta_*` in the pack directory, read back when the
 *   pack is written; in memory stay a few numbers per object.
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

/** What the search decided, with the deflated bytes of what it decided kept in a temporary file. */
export class DeltaSearchResult {
  /** Per object: new-pack index of its new delta base, or -1. */
  readonly base: Int32Array;
  /** Per object: inflated size of the spilled stream (the delta's, or the whole object's). */
  readonly inflated: Float64Array;
  /** Per object: where its deflated stream starts in the spill file, and its length (0: none). */
  private readonly spillAt: Float64Array;
  private readonly spillLength: Uint32Array;
  private spill: TempFile | undefined;
  private fd: number | undefined;
  private spilled = 0;
  /** New deltas found. */
  deltas = 0;

  constructor(count: number) {
    this.base = new Int32Array(count).fill(-1);
    this.inflated = new Float64Array(count);
    this.spillAt = new Float64Array(count);
    this.spillLength = new Uint32Array(count);
  }

  /** True when object `j` is written from the spill file (a new delta, or resolved and deflated). */
  has(j: number): boolean {
    return this.spillLength[j] !== 0;
  }

  /** @internal */
  put(packDir: string, j: number, base: number, inflated: number, stream: Uint8Array): void {
    this.spill ??= TempFile.create(packDir, 'tmp_delta_');
    this.spill.write(stream);
    this.base[j] = base;
    this.inflated[j] = inflated;
    this.spillAt[j] = this.spilled;
    this.spillLength[j] = stream.length;
    this.spilled += stream.length;
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

  /** Closes and removes the spill file. */
  close(): void {
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

/**
 * Runs the search over the candidates of `input`, deflating every delta found (and every resolved
 * object that stays whole) into a spill file in `packDir`. A generator: it yields every few dozen
 * candidates so that an async run can see an abort.
 *
 * @returns The decisions; `close()` it when the pack is written (or on failure).
 */
export function* searchDeltas(
  input: DeltaSearchInput,
  settings: DeltaSearchSettings,
  packDir: string,
): Generator<undefined, DeltaSearchResult, undefined> {
  const result = new DeltaSearchResult(input.count);
  try {
    const { types, sizes } = input;
    let n = 0;
    for (let j = 0; j < input.count; j++) {
      if (types[j] === 0) continue;
      if (sizes[j] < MIN_CANDIDATE_SIZE || sizes[j] > settings.bigFileThreshold) {
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
    const window: Slot[] = [];
    let windowBytes = 0;
    for (let k = 0; k < n; k++) {
      if (k % STEP === STEP - 1) {
        input.onProgress?.({ title, done: k, total: n });
        yield;
        input.check?.();
      }
      const j = order[k];
      if (window.length > 0 && types[window[0].j] !== types[j]) {
        window.length = 0;
        windowBytes = 0;
      }
      const data = input.read(j);
      if (data === undefined) continue;
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
        result.put(packDir, j, s.j, best.length, input.deflater.deflate(best));
        // The base that served goes up, next to its delta: it is kept longer.
        window.splice(bestSlot, 1);
        window.push(s);
      } else if (input.resolve[j]) {
        result.put(packDir, j, -1, data.length, input.deflater.deflate(data));
      }
      if (settings.window === 0) continue;
      const slot: Slot = { j, data, index: undefined, depth, bytes: data.length };
      window.push(slot);
      windowBytes += slot.bytes;
      while (window.length > settings.window || (windowBytes > settings.windowMemory && window.length > 1)) {
        const old = window.shift()!;
        windowBytes -= old.bytes;
      }
    }
    input.onProgress?.({ title, done: n, total: n, end: true });
    result.seal();
    return result;
  } catch (e) {
    result.close();
    throw e;
  }
}
