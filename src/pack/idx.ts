/**
 * Pack index (`.idx`) reader, versions 1 and 2 (spec/objects-format.md §1). Validated at open the
 * way Git validates (size, version, monotonic fanout, exact size for the object count); lookups then
 * run without re-checking, except that every large-offset index is bounds-checked.
 */
import { readU32 } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { bufferReader, PagedReader, type PagedReaderOptions, type RandomAccessReader } from '../io.js';

const IDX_MAGIC = 0xff744f63;
/** A local index read by pages is read whole after this many searches, if it is at most HOLD_MAX_BYTES. */
const HOLD_AFTER_SEARCHES = 32;
const HOLD_MAX_BYTES = 4 * 1024 * 1024;

export interface PackIndexOptions extends PagedReaderOptions {
  hash: HashAlgorithm;
  /** Path used in messages (Git prints the path it was given, e.g. `.git/objects/pack/pack-….idx`). */
  file?: string;
}

export class PackIndex {
  readonly version: 1 | 2;
  readonly hash: HashAlgorithm;
  readonly numObjects: number;
  readonly file: string;
  /** Fanout: `fanout[b]` objects have a first byte ≤ b. */
  readonly fanout: Uint32Array;
  /** Byte offset of the first id, and the distance between ids (v1 interleaves offsets). */
  readonly oidBase: number;
  readonly oidStride: number;
  private readonly crcBase: number;
  /** Byte offset of the 32-bit offset table (v2), or of the first entry (v1). */
  readonly offBase: number;
  private readonly largeBase: number;
  /** Entries in the v2 64-bit offset table. */
  readonly numLarge: number;
  private readonly src: PagedReader;

  /** The whole file, once held in memory (see `held`). */
  private whole: Uint8Array | undefined;
  /** Searches made through pages. */
  private pagedSearches = 0;

  private constructor(src: PagedReader, hash: HashAlgorithm, file: string) {
    this.src = src;
    this.hash = hash;
    this.file = file;
    const H = hash.size;
    const size = src.size;
    if (size < 1024 + 2 * H) {
      throw idxError('IDX_TOO_SMALL', file, `index file ${file} is too small`, { size });
    }
    const head = src.read(0, 8);
    let fanoutAt = 0;
    if (readU32(head, 0) === IDX_MAGIC) {
      const v = readU32(head, 4);
      if (v !== 2) {
        throw idxError(
          'IDX_BAD_VERSION',
          file,
          `index file ${file} is version ${v} and is not supported by this binary (try upgrading GIT to a newer version)`,
          { version: v },
        );
      }
      this.version = 2;
      fanoutAt = 8;
    } else {
      this.version = 1;
    }
    const fan = src.read(fanoutAt, 1024);
    this.fanout = new Uint32Array(256);
    let prev = 0;
    for (let i = 0; i < 256; i++) {
      const f = readU32(fan, i * 4);
      if (f < prev) throw idxError('IDX_NON_MONOTONIC', file, `non-monotonic index ${file}`, { at: i });
      this.fanout[i] = f;
      prev = f;
    }
    const n = this.fanout[255];
    this.numObjects = n;
    if (this.version === 1) {
      if (size !== 1024 + n * (H + 4) + 2 * H) {
        throw idxError('IDX_BAD_SIZE', file, `wrong index v1 file size in ${file}`, { size, objects: n });
      }
      this.oidBase = 1024 + 4;
      this.oidStride = H + 4;
      this.offBase = 1024;
      this.crcBase = -1;
      this.largeBase = -1;
      this.numLarge = 0;
    } else {
      const min = 1032 + n * (H + 8) + 2 * H;
      const max = n > 0 ? min + 8 * (n - 1) : min;
      if (size < min || size > max) {
        throw idxError('IDX_BAD_SIZE', file, `wrong index v2 file size in ${file}`, { size, objects: n });
      }
      this.oidBase = 1032;
      this.oidStride = H;
      this.crcBase = 1032 + n * H;
      this.offBase = 1032 + n * (H + 4);
      this.largeBase = 1032 + n * (H + 8);
      this.numLarge = Math.floor((size - min) / 8);
    }
  }

  static open(reader: RandomAccessReader, options: PackIndexOptions): PackIndex {
    const file = options.file ?? '<memory>';
    const src = new PagedReader(reader, { ...options, file });
    try {
      return new PackIndex(src, options.hash, file);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  static fromBytes(bytes: Uint8Array, options: PackIndexOptions): PackIndex {
    return PackIndex.open(bufferReader(bytes), options);
  }

  get size(): number {
    return this.src.size;
  }

  /** The whole file when it is held in memory (fast paths in the writer); otherwise undefined. */
  get bytes(): Uint8Array | undefined {
    return this.src.pageSize >= this.src.size ? this.src.page(0) : undefined;
  }

  oidAt(i: number): Uint8Array {
    return this.src.read(this.oidBase + i * this.oidStride, this.hash.size);
  }

  /** The pack offset of the i-th object (OID order). */
  offsetAt(i: number): number {
    if (this.whole !== undefined) return this.offsetAtIn(this.whole, i);
    if (this.version === 1) return readU32(this.src.read(this.offBase + i * (this.hash.size + 4), 4), 0);
    const w = this.src.u32(this.offBase + i * 4);
    if ((w & 0x80000000) === 0) return w;
    return this.largeOffset(w & 0x7fffffff);
  }

  /**
   * Every object's pack offset, in OID order, into `out` (at least `numObjects` long): the offset
   * table read at once (one read of a paged file) instead of a page lookup per entry.
   */
  offsetsInto(out: Float64Array): void {
    const n = this.numObjects;
    if (this.whole !== undefined || this.version === 1) {
      for (let i = 0; i < n; i++) out[i] = this.offsetAt(i);
      return;
    }
    const table = this.src.readUncached(this.offBase, n * 4);
    for (let i = 0; i < n; i++) {
      const w = readU32(table, i * 4);
      out[i] = (w & 0x80000000) === 0 ? w : this.largeOffset(w & 0x7fffffff);
    }
  }

  /**
   * `offsetAt` for callers that hold the whole file (`bytes`): no range views, for hot loops.
   */
  offsetAtIn(bytes: Uint8Array, i: number): number {
    if (this.version === 1) return readU32(bytes, 1024 + i * (this.hash.size + 4));
    const w = readU32(bytes, this.offBase + i * 4);
    return (w & 0x80000000) === 0 ? w : this.largeOffset(w & 0x7fffffff);
  }

  largeOffset(k: number): number {
    if (k >= this.numLarge) {
      throw idxError(
        'IDX_LOFF_BOUNDS',
        this.file,
        `offset beyond end of pack index for ${this.file} (truncated index?)`,
        { index: k, entries: this.numLarge },
      );
    }
    const b = this.src.read(this.largeBase + k * 8, 8);
    const hi = readU32(b, 0);
    if (hi >= 0x200000) {
      throw idxError(
        'IDX_LOFF_BOUNDS',
        this.file,
        `${this.file}: 64-bit offset ${hi.toString(16)}… is too large`,
        {
          index: k,
        },
      );
    }
    return hi * 0x100000000 + readU32(b, 4);
  }

  /** CRC32 of the i-th object's raw pack entry (v2 only). */
  crcAt(i: number): number | undefined {
    if (this.version === 1) return undefined;
    return readU32(this.src.read(this.crcBase + i * 4, 4), 0);
  }

  /** Position of `oid` in the index, or -1. */
  findPosition(oid: Uint8Array, oidOffset = 0): number {
    const b = oid[oidOffset];
    let lo = b === 0 ? 0 : this.fanout[b - 1];
    let hi = this.fanout[b];
    const H = this.hash.size;
    const src = this.src;
    if (src.remote && hi - lo > 8) {
      // Over a network: fetch the ids around where interpolation puts the target (and their
      // offsets) in one go, and search there when the target lies within.
      const n = hi - lo;
      const t = ((oid[oidOffset + 1] << 16) | (oid[oidOffset + 2] << 8) | oid[oidOffset + 3]) / 16777216;
      const guess = lo + Math.floor(t * n);
      const spread = Math.ceil(4 * Math.sqrt(n) + 8);
      const a = Math.max(lo, guess - spread);
      const z = Math.min(hi, guess + spread + 1);
      const ranges: [number, number][] = [[this.oidBase + a * this.oidStride, (z - a) * this.oidStride]];
      if (this.version === 2) ranges.push([this.offBase + a * 4, (z - a) * 4]);
      src.hintMany(ranges);
      if (this.compareAt(a, oid, oidOffset) <= 0 && this.compareAt(z - 1, oid, oidOffset) >= 0) {
        lo = a;
        hi = z;
      }
    }
    const whole = this.held();
    if (whole !== undefined) return this.bisectWhole(whole, oid, oidOffset, lo, hi);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      // Straight from the page (no view allocated per probe).
      const page = src.bytesAt(this.oidBase + mid * this.oidStride, H);
      const o = src.at;
      let c = 0;
      for (let k = 0; k < H; k++) {
        c = page[o + k] - oid[oidOffset + k];
        if (c !== 0) break;
      }
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /**
   * The whole file when it is in memory: always for a file read whole; a small local file read by
   * pages is read whole once it has served a number of searches (a single lookup reads a page or
   * two; many lookups would touch every page anyway, each through the page cache).
   */
  private held(): Uint8Array | undefined {
    if (this.whole !== undefined) return this.whole;
    const src = this.src;
    if (src.pageSize >= src.size) this.whole = src.page(0);
    else if (++this.pagedSearches >= HOLD_AFTER_SEARCHES && src.size <= HOLD_MAX_BYTES && !src.remote) {
      // Over async storage the bytes may not be resident yet: wait for them before allocating
      // (each attempt of a read that waits would allocate the whole file again).
      src.hint(0, src.size);
      this.whole = src.readUncached(0, src.size);
    }
    return this.whole;
  }

  /**
   * The same bisection over the whole file in memory: the first four bytes of each probe compared
   * as one number (the order of bytes compared one by one), the rest only when those are equal.
   */
  private bisectWhole(w: Uint8Array, oid: Uint8Array, at: number, lo: number, hi: number): number {
    const H = this.hash.size;
    const base = this.oidBase;
    const stride = this.oidStride;
    const t = ((oid[at] << 24) | (oid[at + 1] << 16) | (oid[at + 2] << 8) | oid[at + 3]) >>> 0;
    if (base + hi * stride > w.length) hi = Math.max(lo, Math.floor((w.length - base) / stride));
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = base + mid * stride;
      const k = ((w[p] << 24) | (w[p + 1] << 16) | (w[p + 2] << 8) | w[p + 3]) >>> 0;
      let c = k - t;
      for (let j = 4; c === 0 && j < H; j++) c = w[p + j] - oid[at + j];
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /** The id at position `i` compared with `oid` (negative: the id sorts first). */
  private compareAt(i: number, oid: Uint8Array, oidOffset: number): number {
    const page = this.src.bytesAt(this.oidBase + i * this.oidStride, this.hash.size);
    const o = this.src.at;
    for (let k = 0; k < this.hash.size; k++) {
      const c = page[o + k] - oid[oidOffset + k];
      if (c !== 0) return c;
    }
    return 0;
  }

  /** The pack offset of `oid`, or undefined. */
  lookup(oid: Uint8Array): number | undefined {
    const i = this.findPosition(oid);
    return i < 0 ? undefined : this.offsetAt(i);
  }

  /** Checksum of the `.pack` this index describes (copied from its trailer). */
  packChecksum(): Uint8Array {
    return this.src.read(this.src.size - 2 * this.hash.size, this.hash.size).slice();
  }

  /** The index file's own trailing checksum. */
  idxChecksum(): Uint8Array {
    return this.src.read(this.src.size - this.hash.size, this.hash.size).slice();
  }

  close(): void {
    this.src.close();
    this.whole = undefined;
  }
}

function idxError(
  code: 'IDX_TOO_SMALL' | 'IDX_BAD_VERSION' | 'IDX_NON_MONOTONIC' | 'IDX_BAD_SIZE' | 'IDX_LOFF_BOUNDS',
  file: string,
  git: string,
  data: Record<string, unknown>,
): GitMidxError {
  return new GitMidxError(code, git, { file, data: { ...data, git } });
}
