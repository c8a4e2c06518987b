/**
 * MIDX reader (spec/midx-format.md §2–§5, §9). `open` reads the header, the table of contents, the
 * pack names and the fanout, and validates what current Git validates at load (chunk sizes against
 * counts, PNAM terminators and order, fanout order, alignment) plus bounds Git leaves unchecked.
 * It does not hash the file or check the order of every id: that is `verify`'s job. Lookups then
 * read OIDL/OOFF/LOFF through a bounded page cache.
 */

import { readU32, toHex } from '../bytes.js';
import { type ChunkEntry, chunkIdName, findChunk, parseToc, TOC_ROW_SIZE } from '../chunkfile/chunkfile.js';
import { GitMidxError } from '../errors.js';
import { type HashAlgorithm, type HashFunction, hashByFormatId, SHA1 } from '../hash.js';
import {
  bufferReader,
  ForwardWindow,
  PagedReader,
  type PagedReaderOptions,
  type RandomAccessReader,
} from '../io.js';
import { isPending } from '../storage/resident.js';
import {
  CHUNK_LOFF,
  CHUNK_OIDF,
  CHUNK_OIDL,
  CHUNK_OOFF,
  CHUNK_PNAM,
  CHUNK_RIDX,
  checkChunkSize,
  decodeFanout,
  decodePnam,
  MIDX_CHUNK_ALIGNMENT,
  MIDX_HEADER_SIZE,
  MIDX_LARGE_OFFSET_NEEDED,
  MIDX_SIGNATURE,
} from './chunks.js';

export interface MidxOpenOptions extends PagedReaderOptions {
  /** Path used in messages. */
  file?: string;
  /** The repository's hash: a file written for another is rejected (MIDX_BAD_HASH_VERSION). */
  hash?: HashAlgorithm;
  /**
   * Report rather than reject what Git 2.39 only finds in `verify` (fanout order). Used by verify,
   * which lists it as a finding; lookups on such a file are still bounds-safe.
   */
  lenient?: boolean;
}

export interface MidxEntry {
  /** Position in the MIDX (id order). */
  readonly position: number;
  readonly oid: Uint8Array;
  /** pack-int-id: index into `packNames`. */
  readonly packId: number;
  readonly offset: number;
}

export interface MidxLookup {
  readonly position: number;
  readonly packId: number;
  readonly packName: string;
  readonly offset: number;
}

const REQUIRED: readonly [number, string][] = [
  [CHUNK_PNAM, 'pack-name'],
  [CHUNK_OIDF, 'OID fanout'],
  [CHUNK_OIDL, 'OID lookup'],
  [CHUNK_OOFF, 'object offsets'],
];

const decoder = new TextDecoder();

/** One sampled key per SAMPLE ids (N/2 bytes for SHA-1 ids), built after SAMPLE_AFTER lookups. */
const SAMPLE = 8;
const SAMPLE_AFTER = 4096;
/** Whether typed arrays are little-endian here (every platform Node runs on; checked all the same). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Keys walked at most from an interpolated guess before the search bisects instead. */
const WALK_MAX = 24;
/** The most bytes of OIDL + OOFF held whole (see `heldIds`). */
const HOLD_MAX_BYTES = 160 * 1024 * 1024;

export class MultiPackIndex {
  readonly file: string;
  readonly version: number;
  readonly hash: HashAlgorithm;
  readonly numObjects: number;
  readonly numPacks: number;
  /** Pack `.idx` basenames in pack-int-id order. */
  readonly packNames: readonly string[];
  readonly chunks: readonly ChunkEntry[];
  readonly fanout: Uint32Array;
  readonly fileSize: number;
  /** Whether a LOFF chunk is present (then MSB-set OOFF words index it). */
  readonly hasLargeOffsets: boolean;
  readonly numLargeOffsets: number;
  private readonly src: PagedReader;
  private readonly H: number;
  private readonly oidl: number;
  private readonly ooff: number;
  private readonly loff: number;
  private packSet: Set<string> | undefined;
  /** Bytes 1–4 of every SAMPLE-th id, built once lookups are frequent enough to pay for it. */
  private sample: Uint32Array | undefined;
  private lookups = 0;
  /**
   * The OIDL and OOFF chunks held whole once lookups are frequent (a local file whose two tables
   * fit HOLD_MAX_BYTES): a probe is then one index into one array, not a page lookup. Random
   * lookups touch every page of the id table within a few hundred calls anyway.
   */
  private heldIds: Uint8Array | undefined;
  /** `heldIds` as little-endian 32-bit words, when the platform and its alignment allow. */
  private heldWords: Int32Array | undefined;
  private heldOffsets: Uint8Array | undefined;
  /** With the tables held: bytes 0–3 of every id (a search touches one id of OIDL, to confirm). */
  private keys: Uint32Array | undefined;
  /** The entry whose OOFF words `searchKeys` read ahead, and those words. */
  private hitPos = -1;
  private hitPackWord = 0;
  private hitOffsetWord = 0;

  private constructor(src: PagedReader, options: MidxOpenOptions) {
    const file = src.file;
    this.file = file;
    this.src = src;
    const size = src.size;
    this.fileSize = size;
    const expected = options.hash;
    // Git checks the size against the repository's hash first (§2).
    if (size < MIDX_HEADER_SIZE + (expected ?? SHA1).size) throw tooSmall(file, size);
    const header = src.read(0, MIDX_HEADER_SIZE);
    const sig = readU32(header, 0);
    if (sig !== MIDX_SIGNATURE) {
      const git = `multi-pack-index signature 0x${hex8(sig)} does not match signature 0x${hex8(MIDX_SIGNATURE)}`;
      throw new GitMidxError('MIDX_BAD_SIGNATURE', `${file}: ${git}`, {
        file,
        data: { git, signature: sig },
      });
    }
    const version = header[4];
    if (version !== 1 && version !== 2) {
      const git = `multi-pack-index version ${version} not recognized`;
      throw new GitMidxError('MIDX_BAD_VERSION', `${file}: ${git}`, { file, data: { git, version } });
    }
    this.version = version;
    const hashId = header[5];
    const hash = hashByFormatId(hashId);
    if (!hash || (expected && hash !== expected)) {
      const git = `multi-pack-index hash version ${hashId} does not match version ${(expected ?? SHA1).formatId}`;
      throw new GitMidxError('MIDX_BAD_HASH_VERSION', `${file}: ${git}`, {
        file,
        data: { git, hashVersion: hashId },
      });
    }
    this.hash = hash;
    const H = hash.size;
    this.H = H;
    if (size < MIDX_HEADER_SIZE + H) throw tooSmall(file, size);
    const numChunks = header[6];
    this.numPacks = readU32(header, 8);

    const tocLen = (numChunks + 1) * TOC_ROW_SIZE;
    const tocAvail = Math.min(tocLen, size - MIDX_HEADER_SIZE);
    const chunks = parseToc(src.read(MIDX_HEADER_SIZE, tocAvail), {
      file,
      tocOffset: MIDX_HEADER_SIZE,
      count: numChunks,
      fileSize: size,
      trailerSize: H,
      align: MIDX_CHUNK_ALIGNMENT,
    });
    this.chunks = chunks;

    for (const [id, what] of REQUIRED) {
      if (!findChunk(chunks, id)) {
        const git = `multi-pack-index missing required ${what} chunk`;
        throw new GitMidxError('CHUNK_MISSING', `${file}: ${git}`, {
          file,
          data: { git, chunk: chunkIdName(id) },
        });
      }
    }
    const oidf = findChunk(chunks, CHUNK_OIDF)!;
    this.fanout = decodeFanout(src.read(oidf.offset, oidf.size), file, !options.lenient);
    const n = this.fanout[255];
    this.numObjects = n;
    const oidl = findChunk(chunks, CHUNK_OIDL)!;
    checkChunkSize(file, 'OIDL', oidl.size, n * H, n, H);
    const ooff = findChunk(chunks, CHUNK_OOFF)!;
    checkChunkSize(file, 'OOFF', ooff.size, n * 8, n, 8);
    this.oidl = oidl.offset;
    this.ooff = ooff.offset;
    const loff = findChunk(chunks, CHUNK_LOFF);
    this.hasLargeOffsets = loff !== undefined;
    this.loff = loff ? loff.offset : 0;
    this.numLargeOffsets = loff ? Math.floor(loff.size / 8) : 0;

    const pnam = findChunk(chunks, CHUNK_PNAM)!;
    const names = decodePnam(src.read(pnam.offset, pnam.size), this.numPacks, version, file);
    this.packNames = names.map((b) => decoder.decode(b));
  }

  /** Opens a MIDX from any positioned reader. The reader is closed if opening fails. */
  static open(reader: RandomAccessReader, options: MidxOpenOptions = {}): MultiPackIndex {
    const src = new PagedReader(reader, { ...options, file: options.file ?? 'multi-pack-index' });
    try {
      return new MultiPackIndex(src, options);
    } catch (e) {
      src.close();
      if (e instanceof GitMidxError || isPending(e)) throw e;
      throw new GitMidxError('IO_ERROR', `${src.file}: ${(e as Error).message}`, {
        file: src.file,
        cause: e,
      });
    }
  }

  static fromBytes(bytes: Uint8Array, options: MidxOpenOptions = {}): MultiPackIndex {
    return MultiPackIndex.open(bufferReader(bytes), options);
  }

  get closed(): boolean {
    return this.src.isClosed;
  }

  /**
   * Drops the pages of the file held in memory (later reads load what they need again): for a
   * caller done with a pass over the whole file.
   */
  releasePages(): void {
    this.src.releasePages();
  }

  /** Releases the file. Safe to call more than once; lookups afterwards throw MIDX_CLOSED. */
  close(): void {
    this.src.close();
    this.heldIds = undefined;
    this.heldWords = undefined;
    this.heldOffsets = undefined;
    this.keys = undefined;
    this.hitPos = -1;
  }

  chunk(id: number): ChunkEntry | undefined {
    return findChunk(this.chunks, id);
  }

  /** The bytes of a chunk: a view of an in-memory file, else a fresh copy (not cached). */
  readChunk(id: number): Uint8Array | undefined {
    const c = findChunk(this.chunks, id);
    return c ? this.src.readUncached(c.offset, c.size) : undefined;
  }

  get hasReverseIndex(): boolean {
    return findChunk(this.chunks, CHUNK_RIDX) !== undefined;
  }

  /** The trailing checksum stored in the file. */
  checksum(): Uint8Array {
    return this.src.read(this.fileSize - this.H, this.H).slice();
  }

  /** Hashes everything before the trailer (for verify, and before a writer reuses this file). */
  computeChecksum(hashFn: HashFunction): Uint8Array {
    const h = hashFn(this.hash);
    const end = this.fileSize - this.H;
    const step = 1 << 20;
    for (let o = 0; o < end; o += step) h.update(this.src.readUncached(o, Math.min(step, end - o)));
    return h.digest();
  }

  /**
   * Position of `oid` (id order), or -1. Reads only the pages the search touches. `oid` is a
   * Uint8Array of exactly the hash's size, or, with `oidOffset`, holds one there (INVALID_ARGUMENT
   * otherwise: a hex string is never taken for an id).
   *
   * Ids are hashes, uniformly spread within a fanout bucket, so the search interpolates on bytes
   * 1–4 of the id: two or three probes instead of ~log2(n), each probe being a likely cache miss.
   * After a few interpolation steps (skewed data) it falls back to bisection, so the worst case
   * stays logarithmic.
   */
  findPosition(oid: Uint8Array, oidOffset?: number): number {
    checkOidArgument(oid, oidOffset, this.H, this.hash.name);
    // Held tables are dropped by `close`: while they are there, the file is open.
    if (this.keys === undefined && this.src.isClosed) throw closedError(this.file);
    return this.search(oid, oidOffset ?? 0);
  }

  /**
   * Over a network, the ids around where interpolation puts `t` in `[lo, hi)` (ids are uniformly
   * spread, so the target lies within a few standard deviations of that place) are fetched in one
   * request, so that the search that follows reads nothing else in the common case.
   */
  private hintWindow(lo: number, hi: number, t: number): void {
    const n = hi - lo;
    const guess = lo + Math.floor((t / 4294967296) * n);
    const spread = Math.ceil(4 * Math.sqrt(n) + 8);
    const a = Math.max(lo, guess - spread);
    const z = Math.min(hi, guess + spread + 1);
    this.src.hint(this.oidl + a * this.H, (z - a) * this.H);
  }

  /**
   * `findPosition` for a caller that has checked `oid` (a Uint8Array of the hash's size) itself,
   * once the tables are held; undefined before that (or after `close`): use `findPosition`.
   */
  findHeld(oid: Uint8Array): number | undefined {
    const keys = this.keys;
    if (keys === undefined) return undefined;
    const f = this.fanout;
    const b = oid[0];
    const hi = f[b];
    return this.searchKeys(keys, oid, 0, b === 0 ? 0 : f[b - 1], Math.min(hi, this.numObjects));
  }

  /** `findPosition` without the argument checks (the batch path checked the buffer once). */
  private search(oid: Uint8Array, oidOffset: number): number {
    const f = this.fanout;
    const b = oid[oidOffset];
    let lo = b === 0 ? 0 : f[b - 1];
    let hi = f[b];
    if (hi > this.numObjects) hi = this.numObjects; // only possible on a lenient open
    const keys = this.keys;
    if (keys !== undefined) return this.searchKeys(keys, oid, oidOffset, lo, hi);
    const H = this.H;
    const base = this.oidl;
    const src = this.src;
    const t =
      ((oid[oidOffset + 1] << 24) |
        (oid[oidOffset + 2] << 16) |
        (oid[oidOffset + 3] << 8) |
        oid[oidOffset + 4]) >>>
      0;
    // Keys (bytes 1–4) of the ids in [lo, hi) lie in [kLo, kHi).
    let kLo = 0;
    let kHi = 4294967296;
    let steps = 0;
    // (No sample table over a network: it would read the whole id table.)
    if (this.sample === undefined && ++this.lookups === SAMPLE_AFTER && !src.remote) {
      this.holdTables();
      if (this.keys === undefined) this.buildSample();
      else return this.searchKeys(this.keys, oid, oidOffset, lo, hi);
    }
    const sample = this.sample;
    if (src.remote && hi - lo > 1) this.hintWindow(lo, hi, t);
    if (sample !== undefined && hi - lo > SAMPLE) {
      // Narrow [lo, hi) with the sampled keys, which stay in the CPU cache: sample j is the key of
      // id j·SAMPLE. Find the first sample in the bucket whose key is ≥ t (interpolating, then
      // bisecting); ids before the one below it are smaller than the target.
      const a = Math.ceil(lo / SAMPLE);
      const z = Math.floor((hi - 1) / SAMPLE) + 1;
      let l = a;
      let r = z;
      let kl = 0;
      let kr = 4294967296;
      while (l < r) {
        let m: number;
        if (r - l > 8 && kr > kl) {
          m = l + Math.floor(((t - kl) / (kr - kl)) * (r - l));
          if (m >= r) m = r - 1;
        } else {
          m = (l + r) >>> 1;
        }
        const km = sample[m];
        if (km < t) {
          l = m + 1;
          kl = km;
        } else {
          r = m;
          kr = km + 1;
        }
      }
      if (l > a) {
        lo = (l - 1) * SAMPLE + 1;
        kLo = sample[l - 1];
      }
      // The first sample with a key above t bounds the range from above (keys equal to t are rare).
      while (l < z && sample[l] <= t) l++;
      if (l < z) {
        hi = l * SAMPLE;
        kHi = sample[l] + 1;
      }
      steps = 6; // what is left is a few ids: bisect
    }
    while (lo < hi) {
      let mid: number;
      if (steps < 6 && hi - lo > 8 && kHi > kLo) {
        mid = lo + Math.floor(((t - kLo) / (kHi - kLo)) * (hi - lo));
        if (mid < lo) mid = lo;
        else if (mid >= hi) mid = hi - 1;
        steps++;
      } else {
        mid = (lo + hi) >>> 1;
      }
      const page = src.bytesAt(base + mid * H, H);
      const o = src.at;
      let c = 0;
      for (let i = 0; i < H; i++) {
        c = page[o + i] - oid[oidOffset + i];
        if (c !== 0) break;
      }
      if (c === 0) {
        this.checkNeighbours(mid, page, o);
        return mid;
      }
      const key = ((page[o + 1] << 24) | (page[o + 2] << 16) | (page[o + 3] << 8) | page[o + 4]) >>> 0;
      if (c < 0) {
        lo = mid + 1;
        kLo = key;
      } else {
        hi = mid;
        kHi = key + 1;
      }
    }
    return -1;
  }

  /**
   * A hit at `pos` is only as good as the order around it: ids out of order put the wrong OOFF
   * entry (another object's offset) under the id found. The ids on both sides must be smaller and
   * larger (two reads next to the one just made); any transposition of OIDL entries shows here.
   */
  private checkNeighbours(pos: number, page: Uint8Array, o: number): void {
    const H = this.H;
    const hasPrev = pos > 0;
    const hasNext = pos + 1 < this.numObjects;
    // Usually both neighbours are in the page the hit was read from (a page, not a copy of the
    // H bytes of an id straddling two pages): compare in place.
    if (page.length > H && o >= H && o + 2 * H <= page.length) {
      if (hasPrev && compareIds(page, o - H, page, o, H) >= 0) {
        throw oidOrderError(this.file, pos - 1, page, o - H, page, o, H);
      }
      if (hasNext && compareIds(page, o, page, o + H, H) >= 0) {
        throw oidOrderError(this.file, pos, page, o, page, o + H, H);
      }
      return;
    }
    const src = this.src;
    const id = page.slice(o, o + H);
    if (hasPrev) {
      const b = src.bytesAt(this.oidl + (pos - 1) * H, H);
      if (compareIds(b, src.at, id, 0, H) >= 0) throw oidOrderError(this.file, pos - 1, b, src.at, id, 0, H);
    }
    if (hasNext) {
      const b = src.bytesAt(this.oidl + (pos + 1) * H, H);
      if (compareIds(id, 0, b, src.at, H) >= 0) throw oidOrderError(this.file, pos, id, 0, b, src.at, H);
    }
  }

  /**
   * Batch lookup: `count` ids packed back to back in `ids` (H bytes each). Returns, in input order,
   * each position (-1 when absent), pack-int-id and offset, and in `repeatOf` an earlier query with
   * the same id (-1: none known; a batch answers each id once). The queries are visited in id
   * order, so the file is walked forwards (every page once, in order) instead of probed at random.
   */
  lookupMany(
    ids: Uint8Array,
    count: number,
  ): { positions: Int32Array; packIds: Int32Array; offsets: Float64Array; repeatOf: Int32Array } {
    const H = this.H;
    if (!(ids instanceof Uint8Array)) {
      throw new GitMidxError('INVALID_ARGUMENT', `ids must be a Uint8Array, got ${describe(ids)}`);
    }
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new GitMidxError('INVALID_ARGUMENT', `id count must be a non-negative integer, got ${count}`);
    }
    if (ids.length < count * H) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `${count} ids need ${count * H} bytes, got ${ids.length}`,
        {},
      );
    }
    if (this.src.isClosed) throw closedError(this.file);
    const positions = new Int32Array(count);
    const packIds = new Int32Array(count).fill(-1);
    const offsets = new Float64Array(count).fill(-1);
    const repeatOf = new Int32Array(count).fill(-1);
    // Each loop below is a function of its own: a one-shot batch runs each loop once, and V8
    // optimises a long loop on the spot only when its function holds nothing else.
    const CHUNK = 1 << 21;
    for (let first = 0; first < count; first += CHUNK) {
      const n = Math.min(CHUNK, count - first);
      const qi = queriesInIdOrder(ids, H, first, n, CHUNK);
      const N = this.numObjects;
      if (N > 0 && n * 64 >= N) {
        // A dense batch: merge-join the sorted queries with the sorted ids, walking the OIDL chunk
        // forwards through one reused buffer (no page cache filled, no memory touched once per
        // page), then the hits' OOFF entries, forwards too.
        mergeJoin(this.src, this.oidl, N, H, ids, qi, positions, repeatOf);
        this.offsetsForward(qi, positions, repeatOf, packIds, offsets);
        continue;
      }
      for (let j = 0; j < n; j++) {
        const i = qi[j];
        positions[i] = this.search(ids, i * H);
      }
      for (let j = 0; j < n; j++) {
        const i = qi[j];
        const pos = positions[i];
        if (pos >= 0) {
          packIds[i] = this.packIdAt(pos);
          offsets[i] = this.offsetAt(pos);
        }
      }
    }
    return { positions, packIds, offsets, repeatOf };
  }

  /**
   * Pack-int-ids and offsets of the hits among the queries `qi` (in id order): one forward walk
   * over OOFF; a repeat copies those of its first query (which comes before it in `qi`).
   */
  private offsetsForward(
    qi: Int32Array,
    positions: Int32Array,
    repeatOf: Int32Array,
    packIds: Int32Array,
    offsets: Float64Array,
  ): void {
    const owin = new ForwardWindow(this.src);
    const P = this.numPacks;
    const large = this.hasLargeOffsets;
    const ooff = this.ooff;
    for (let j = 0; j < qi.length; j++) {
      const i = qi[j];
      const pos = positions[i];
      if (pos < 0) continue;
      const r = repeatOf[i];
      if (r >= 0) {
        packIds[i] = packIds[r];
        offsets[i] = offsets[r];
        continue;
      }
      const at = ooff + pos * 8;
      const id = owin.u32(at);
      const w = owin.u32(at + 4);
      packIds[i] = id < P ? id : this.packIdAt(pos);
      offsets[i] = large && (w & MIDX_LARGE_OFFSET_NEEDED) !== 0 ? this.offsetAt(pos) : w;
    }
  }

  /** Reads OIDL and OOFF whole (see `heldIds`). */
  private holdTables(): void {
    const N = this.numObjects;
    const idBytes = N * this.H;
    if (this.src.remote || idBytes + N * 12 > HOLD_MAX_BYTES || N === 0) return;
    if (this.oidl + idBytes > this.fileSize || this.ooff + N * 8 > this.fileSize) return;
    // Resident first (async storage): a read that waits would allocate both tables on each attempt.
    this.src.hint(this.oidl, idBytes);
    this.src.hint(this.ooff, N * 8);
    const ids = this.src.readUncached(this.oidl, idBytes);
    const offsets = this.src.readUncached(this.ooff, N * 8);
    const keys = new Uint32Array(N);
    for (let i = 0, o = 0; i < N; i++, o += this.H) keys[i] = readU32(ids, o);
    this.heldIds = ids;
    this.heldWords =
      LITTLE_ENDIAN && ids.byteOffset % 4 === 0
        ? new Int32Array(ids.buffer, ids.byteOffset, idBytes >>> 2)
        : undefined;
    this.heldOffsets = offsets;
    this.keys = keys;
  }

  /**
   * `search` over the held tables: the first id of `[lo, hi)` whose key (bytes 0–3) is not below
   * the target's, found in `keys` (one interpolation and a short walk; bisection for a skewed
   * bucket); then the full ids with that key. The neighbours' order is checked on their keys when those differ (a smaller key is a
   * smaller id), which touches no other id in OIDL.
   */
  private searchKeys(keys: Uint32Array, oid: Uint8Array, oidOffset: number, lo: number, hi: number): number {
    const b = oid[oidOffset];
    const t = ((b << 24) | (oid[oidOffset + 1] << 16) | (oid[oidOffset + 2] << 8) | oid[oidOffset + 3]) >>> 0;
    let l = lo;
    let r = hi;
    // Keys below l are below t, keys from r on are not.
    if (r - l > 0) {
      // Keys are hashes, evenly spread over the bucket: one interpolation lands within a few
      // keys of the target, and a short walk (predictable branches, one cache line or two)
      // finds the first key not below t. A skewed bucket is bisected below.
      let m = l + Math.floor(((t - b * 16777216) / 16777216) * (r - l));
      if (m >= r) m = r - 1;
      let walk = WALK_MAX;
      if (keys[m] < t) {
        do m++;
        while (m < r && keys[m] < t && --walk > 0);
        if (walk > 0) l = r = m;
        else l = m;
      } else {
        while (m > l && keys[m - 1] >= t && --walk > 0) m--;
        if (walk > 0) l = r = m;
        else r = m;
      }
    }
    while (l < r) {
      const m = (l + r) >>> 1;
      if (keys[m] < t) l = m + 1;
      else r = m;
    }
    const ids = this.heldIds!;
    const words = this.heldWords;
    const H = this.H;
    const W = H >>> 2;
    for (let k = l; k < hi && keys[k] === t; k++) {
      // Touch the entry's OOFF word before its id: both reads are then in flight at once (a hit's
      // pack and offset are what the caller reads next).
      this.hitPos = k;
      this.hitPackWord = readU32(this.heldOffsets!, k * 8);
      this.hitOffsetWord = readU32(this.heldOffsets!, k * 8 + 4);
      const o = k * H;
      let c = 0;
      // The rest of the id as 32-bit words where the table allows it (a third of the loads and
      // branches of a byte loop); bytes when the words differ, for the order.
      let same = words !== undefined;
      if (same) {
        for (let j = 1, w = o >>> 2, a = oidOffset + 4; j < W; j++, a += 4) {
          if (words![w + j] !== (oid[a] | (oid[a + 1] << 8) | (oid[a + 2] << 16) | (oid[a + 3] << 24))) {
            same = false;
            break;
          }
        }
      }
      if (!same) {
        for (let i = 4; i < H; i++) {
          c = ids[o + i] - oid[oidOffset + i];
          if (c !== 0) break;
        }
      }
      if (c === 0) {
        const n = keys.length;
        if ((k === 0 || keys[k - 1] < t) && (k + 1 === n || keys[k + 1] > t)) return k;
        this.checkNeighbours(k, ids, o);
        return k;
      }
      if (c > 0) break;
    }
    return -1;
  }

  private buildSample(): Uint32Array | undefined {
    const n = this.numObjects;
    if (n < SAMPLE * 1024 || this.closed) return undefined;
    const count = Math.ceil(n / SAMPLE);
    const out = new Uint32Array(count);
    const H = this.H;
    for (let j = 0; j < count; j++) out[j] = this.u32At(this.oidl + j * SAMPLE * H + 1);
    this.sample = out;
    return out;
  }

  has(oid: Uint8Array): boolean {
    return this.findPosition(oid) >= 0;
  }

  lookup(oid: Uint8Array): MidxLookup | undefined {
    const position = this.findPosition(oid);
    if (position < 0) return undefined;
    const packId = this.packIdAt(position);
    return { position, packId, packName: this.packNames[packId], offset: this.offsetAt(position) };
  }

  private checkPosition(n: number): void {
    if (!(n >= 0 && n < this.numObjects)) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `${this.file}: object position ${n} out of range (${this.numObjects})`,
        {
          file: this.file,
        },
      );
    }
  }

  /**
   * Positions `[from, to)` of the ids whose hex form starts with the hex digits `hexPrefix` (any
   * case; at most the id's length; INVALID_ARGUMENT otherwise): two binary searches in id order,
   * within the fanout bucket of the first byte. `to - from` is the number of matching ids.
   */
  prefixRange(hexPrefix: string): [number, number] {
    const H = this.H;
    if (!/^[0-9a-fA-F]+$/.test(hexPrefix) || hexPrefix.length > 2 * H) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `not a hex id prefix of at most ${2 * H} digits: ${JSON.stringify(hexPrefix)}`,
      );
    }
    if (this.src.isClosed) throw closedError(this.file);
    // The smallest and the largest id with this prefix.
    const low = new Uint8Array(H);
    const high = new Uint8Array(H).fill(0xff);
    for (let i = 0; i < hexPrefix.length; i++) {
      const v = Number.parseInt(hexPrefix[i], 16);
      const b = i >> 1;
      if ((i & 1) === 0) {
        low[b] = v << 4;
        high[b] = (v << 4) | 0x0f;
      } else {
        low[b] |= v;
        high[b] = (high[b] & 0xf0) | v;
      }
    }
    const f = this.fanout;
    const bucketLo = low[0] === 0 ? 0 : f[low[0] - 1];
    const bucketHi = f[high[0]];
    // First position whose id is > `key` (strictly, when `after`), else >= `key`.
    const bound = (key: Uint8Array, after: boolean): number => {
      let lo = bucketLo;
      let hi = bucketHi;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const b = this.src.bytesAt(this.oidl + mid * H, H);
        const c = compareIds(b, this.src.at, key, 0, H);
        if (c < 0 || (after && c === 0)) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    return [bound(low, false), bound(high, true)];
  }

  /** A copy of the n-th id. */
  oidAt(n: number): Uint8Array {
    this.checkPosition(n);
    return this.src.read(this.oidl + n * this.H, this.H).slice();
  }

  oidHexAt(n: number): string {
    this.checkPosition(n);
    return toHex(this.src.read(this.oidl + n * this.H, this.H));
  }

  /**
   * The n-th id as a view into the page cache (no copy): valid only until the next read of this
   * MIDX. For hot loops that use the id at once.
   */
  oidViewAt(n: number): Uint8Array {
    this.checkPosition(n);
    return this.src.read(this.oidl + n * this.H, this.H);
  }

  /**
   * Walks the OIDL chunk forwards through one reused buffer: `visit(i, buf, at)` sees id i at
   * `buf[at, at + H)`, with id i + 1 right after it when there is one.
   */
  scanOids(visit: (i: number, buf: Uint8Array, at: number) => void): void {
    if (this.src.isClosed) throw closedError(this.file);
    const win = new ForwardWindow(this.src);
    const H = this.H;
    const N = this.numObjects;
    for (let i = 0; i < N; i++) {
      const at = win.at(this.oidl + i * H, i + 1 < N ? 2 * H : H);
      visit(i, win.buf, at);
    }
  }

  /** A BE32 at a file position, straight from the page cache (no view allocated). */
  private u32At(pos: number): number {
    const page = this.src.bytesAt(pos, 4);
    return readU32(page, this.src.at);
  }

  /** The pack-int-id of the n-th object; MIDX_BAD_PACK_ID if it names no pack. */
  packIdAt(n: number): number {
    this.checkPosition(n);
    const held = this.heldOffsets;
    const id =
      n === this.hitPos
        ? this.hitPackWord
        : held !== undefined
          ? readU32(held, n * 8)
          : this.u32At(this.ooff + n * 8);
    if (id >= this.numPacks) {
      const git = `bad pack-int-id: ${id} (${this.numPacks} total packs)`;
      throw new GitMidxError('MIDX_BAD_PACK_ID', `${this.file}: ${git}`, {
        file: this.file,
        data: { git, packId: id, packs: this.numPacks, position: n },
      });
    }
    return id;
  }

  /** The raw OOFF offset word of the n-th object (for verify's messages). */
  offsetWordAt(n: number): number {
    this.checkPosition(n);
    if (n === this.hitPos) return this.hitOffsetWord;
    const held = this.heldOffsets;
    return held !== undefined ? readU32(held, n * 8 + 4) : this.u32At(this.ooff + n * 8 + 4);
  }

  /** The pack offset of the n-th object, through LOFF when the word says so (§4.5). */
  offsetAt(n: number): number {
    const w = this.offsetWordAt(n);
    if (!this.hasLargeOffsets || (w & MIDX_LARGE_OFFSET_NEEDED) === 0) return w;
    const k = w & 0x7fffffff;
    if (k >= this.numLargeOffsets) {
      const git = 'multi-pack-index large offset out of bounds';
      throw new GitMidxError(
        'MIDX_LOFF_BOUNDS',
        `${this.file}: ${git} (entry ${k} of ${this.numLargeOffsets})`,
        {
          file: this.file,
          data: { git, index: k, entries: this.numLargeOffsets, position: n },
        },
      );
    }
    const b = this.src.read(this.loff + k * 8, 8);
    const hi = readU32(b, 0);
    if (hi >= 0x200000) {
      const git = 'multi-pack-index large offset out of bounds';
      throw new GitMidxError('MIDX_LOFF_BOUNDS', `${this.file}: large offset ${k} is beyond 2^53`, {
        file: this.file,
        data: { git, index: k },
      });
    }
    return hi * 0x100000000 + readU32(b, 4);
  }

  entryAt(n: number): MidxEntry {
    return { position: n, oid: this.oidAt(n), packId: this.packIdAt(n), offset: this.offsetAt(n) };
  }

  /** Every object in id order. */
  *entries(): IterableIterator<MidxEntry> {
    for (let n = 0; n < this.numObjects; n++) yield this.entryAt(n);
  }

  /** Whether the MIDX lists this pack; `X.pack` and `X.idx` name the same pack (§8.3). */
  containsPack(name: string): boolean {
    if (!this.packSet) this.packSet = new Set(this.packNames.map(idxName));
    return this.packSet.has(idxName(name));
  }

  /** The pack-int-id of a pack by name (`.idx` or `.pack`), or -1. */
  packIdOf(name: string): number {
    const want = idxName(name);
    return this.packNames.findIndex((n) => idxName(n) === want);
  }
}

/**
 * The query indexes `first .. first + n - 1` sorted by id (by their first 4 bytes; equal keys stay
 * in input order, which `mergeJoin` does not rely on). Keys are the 4 bytes above the index in a
 * double, exact below 2^21 queries.
 */
function queriesInIdOrder(ids: Uint8Array, H: number, first: number, n: number, CHUNK: number): Int32Array {
  const order = new Float64Array(n);
  for (let i = 0; i < n; i++) order[i] = readU32(ids, (first + i) * H) * CHUNK + i;
  order.sort();
  // The query index of each sorted key (a double's % is a slow fmod).
  const qi = new Int32Array(n);
  for (let j = 0; j < n; j++) qi[j] = first + (order[j] - Math.floor(order[j] / CHUNK) * CHUNK);
  return qi;
}

/** The 4 bytes at `o` as a signed int whose order is the bytes' order (a small integer to V8). */
function key32(b: Uint8Array, o: number): number {
  return ((b[o] ^ 0x80) << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/**
 * Merge-joins the queries `qi` (sorted by id) with the N sorted ids of the OIDL chunk at `base`,
 * read forwards through `win`: sets `positions[i]` to query i's position, or -1, and `repeatOf[i]`
 * to an earlier query with the same id when there is one next to it in `qi`. Ids are compared on
 * their first 4 bytes first, then a word at a time (H is a multiple of 4).
 */
function mergeJoin(
  src: PagedReader,
  base: number,
  N: number,
  H: number,
  ids: Uint8Array,
  qi: Int32Array,
  positions: Int32Array,
  repeatOf: Int32Array,
): void {
  const win = new ForwardWindow(src);
  let c = 0;
  let prevI = -1;
  let prevQo = -1;
  let prevKey = 0;
  let prevPos = -1;
  for (let j = 0; j < qi.length; j++) {
    const i = qi[j];
    const qo = i * H;
    const key = key32(ids, qo);
    // The same id as the query before (sorted, so repeats are adjacent): the same answer.
    if (prevQo >= 0 && key === prevKey) {
      let same = true;
      for (let b = 4; b < H; b += 4) {
        if (key32(ids, qo + b) !== key32(ids, prevQo + b)) {
          same = false;
          break;
        }
      }
      if (same) {
        positions[i] = prevPos;
        // Equal keys are sorted by query index: the first of a run of repeats comes first.
        repeatOf[i] = prevI;
        continue;
      }
    }
    // Gallop forwards from the last match (1, 2, 4, … entries), then bisect the last step: a gap
    // of g entries costs about 2·log2(g) key reads instead of g.
    if (c < N && key32(win.buf, win.at(base + c * H, 4)) < key) {
      let lo = c;
      let step = 1;
      let hi = c + 1;
      while (hi < N && key32(win.buf, win.at(base + hi * H, 4)) < key) {
        lo = hi;
        step *= 2;
        hi = lo + step;
      }
      if (hi > N) hi = N;
      // Invariant: key(lo) < key; key(hi) >= key or hi = N.
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (key32(win.buf, win.at(base + mid * H, 4)) < key) lo = mid;
        else hi = mid;
      }
      c = hi;
    }
    let pos = -1;
    for (let e = c; e < N; e++) {
      // The entry and the one after it (see the order check below).
      const eo = win.at(base + e * H, e + 1 < N ? 2 * H : H);
      const buf = win.buf;
      if (key32(buf, eo) !== key) break;
      let d = 0;
      for (let b = 4; b < H; b += 4) {
        const x = key32(buf, eo + b);
        const y = key32(ids, qo + b);
        if (x !== y) {
          d = x < y ? -1 : 1;
          break;
        }
      }
      if (d === 0) {
        pos = e;
        // A hit is only as good as the order around it (see `checkNeighbours`): the next id must
        // be larger (it is resident already), and the one before smaller.
        if (e + 1 < N && compareIds(buf, eo, buf, eo + H, H) >= 0) {
          throw oidOrderError(src.file, e, buf, eo, buf, eo + H, H);
        }
        if (e > 0) {
          const prev = base + (e - 1) * H;
          let pb = buf;
          let po = prev - win.start;
          if (prev < win.start) {
            // Rare: the window starts at this entry. One read through the page cache.
            pb = src.bytesAt(prev, H);
            po = src.at;
          }
          if (compareIds(pb, po, buf, eo, H) >= 0) throw oidOrderError(src.file, e - 1, pb, po, buf, eo, H);
        }
        break;
      }
      if (d > 0) break;
    }
    positions[i] = pos;
    prevI = i;
    prevQo = qo;
    prevKey = key;
    prevPos = pos;
  }
}

/** Compares the H-byte ids at `a[ao]` and `b[bo]` (<0, 0, >0). */
function compareIds(a: Uint8Array, ao: number, b: Uint8Array, bo: number, H: number): number {
  for (let i = 0; i < H; i++) {
    const d = a[ao + i] - b[bo + i];
    if (d !== 0) return d;
  }
  return 0;
}

/** Git's `verify` wording for ids i and i + 1 out of order (spec/midx-format.md §4.3). */
function oidOrderError(
  file: string,
  i: number,
  a: Uint8Array,
  ao: number,
  b: Uint8Array,
  bo: number,
  H: number,
): GitMidxError {
  const git = `oid lookup out of order: oid[${i}] = ${toHex(a, ao, ao + H)} >= ${toHex(b, bo, bo + H)} = oid[${i + 1}]`;
  return new GitMidxError('MIDX_OID_ORDER', `${file}: ${git}`, { file, data: { git, position: i } });
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${v.byteLength} bytes`;
  return typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'object'}` : `a ${typeof v}`;
}

/**
 * An object id argument must be bytes: a hex string would compare as NaN everywhere and look
 * "missing". `oid[offset, offset + H)` must be there.
 */
export function checkOidArgument(
  oid: unknown,
  offset: number | undefined,
  H: number,
  hashName: string,
): void {
  if (!(oid instanceof Uint8Array)) {
    throw new GitMidxError(
      'INVALID_ARGUMENT',
      `object id must be a Uint8Array of ${H} bytes (${hashName}), got ${describe(oid)}`,
      { data: { expected: H } },
    );
  }
  if (
    offset === undefined
      ? oid.length !== H
      : !(Number.isSafeInteger(offset) && offset >= 0 && offset + H <= oid.length)
  ) {
    throw new GitMidxError(
      'INVALID_ARGUMENT',
      offset === undefined
        ? `object id of ${oid.length} bytes, expected ${H} (${hashName})`
        : `no ${H}-byte object id at offset ${offset} of ${oid.length} bytes`,
      { data: { expected: H, length: oid.length, offset } },
    );
  }
}

/** `X.pack` → `X.idx`; other names unchanged. */
export function idxName(name: string): string {
  return name.endsWith('.pack') ? `${name.slice(0, -5)}.idx` : name;
}

function hex8(v: number): string {
  return v.toString(16).padStart(8, '0');
}

function closedError(file: string): GitMidxError {
  return new GitMidxError('MIDX_CLOSED', `${file}: read after close`, { file });
}

function tooSmall(file: string, size: number): GitMidxError {
  const git = `multi-pack-index file ${file} is too small`;
  return new GitMidxError('MIDX_TOO_SMALL', git, { file, data: { git, size } });
}

/**
 * Whether Git dies on this load failure (§9) rather than printing an error and ignoring the file.
 * Git 2.39 dies on a bad signature or version, a missing required chunk and unordered pack names;
 * the checks Git added in 2.43+ (chunk sizes, fanout order, PNAM terminators, LOFF bounds) die too.
 */
export function isFatalMidxError(code: string): boolean {
  switch (code) {
    case 'MIDX_TOO_SMALL':
    case 'MIDX_BAD_HASH_VERSION':
    case 'CHUNK_TOC_TRUNCATED':
    case 'CHUNK_TERMINATOR_EARLY':
    case 'CHUNK_UNALIGNED':
    case 'CHUNK_BAD_OFFSETS':
    case 'CHUNK_DUPLICATE':
    case 'CHUNK_FINAL_NONZERO':
      return false;
    default:
      return true;
  }
}
