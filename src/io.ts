/**
 * The I/O boundary of the portable core: positioned reads. A `RandomAccessReader` can be a file
 * (src/node), an in-memory buffer, or anything that can serve byte ranges (an HTTP range client with
 * a synchronous cache in front of it). Nothing in the core reads a whole file unless asked to.
 */
import { readU32 } from './bytes.js';
import { GitMidxError } from './errors.js';
import { hintRange, hintRanges, isRemoteReader } from './storage/resident.js';

export interface RandomAccessReader {
  /** Total size in bytes. */
  readonly size: number;
  /** Fills `into[offset, offset+length)` with the bytes at `position`; the range must lie within `size`. */
  readInto(into: Uint8Array, offset: number, length: number, position: number): void;
  /** Releases the underlying resource. Must be safe to call more than once. */
  close(): void;
}

/** A reader over bytes already in memory. */
export function bufferReader(bytes: Uint8Array): RandomAccessReader & { readonly bytes: Uint8Array } {
  return {
    bytes,
    size: bytes.length,
    readInto(into, offset, length, position) {
      into.set(bytes.subarray(position, position + length), offset);
    },
    close() {},
  };
}

/** Page size over a remote reader (the block size of src/storage/resident.ts there). */
const REMOTE_PAGE = 4096;

export interface PagedReaderOptions {
  /** Page size in bytes, a power of two (default 64 KiB). */
  pageSize?: number;
  /** Upper bound on the bytes of pages kept in memory (default 256 MiB). */
  cacheBytes?: number;
  /** Name used in error messages. */
  file?: string;
  /**
   * Where page buffers come from and go back to on `releasePages()`/`close()` (its page size
   * wins). Fresh memory costs a page fault per 4 KiB on first touch; a pool reuses warm buffers.
   */
  pool?: BufferPool;
}

/** Where a PagedReader's page buffers come from and go back to (PagePool, SlabPool). */
export interface BufferPool {
  /** The page size of every buffer, for a pool of pages; undefined for a pool of any sizes. */
  readonly pageSize?: number;
  /** A buffer of at least `length` bytes. */
  take(length: number): ArrayBuffer;
  /** A buffer no view of which is used any more. */
  give(b: ArrayBuffer): void;
}

/**
 * Spare page buffers shared by several readers. A reader returns its pages only when told that no
 * view of them is held any more (`releasePages()`, `close()`), never on eviction.
 */
export class PagePool implements BufferPool {
  private readonly free: ArrayBuffer[] = [];
  constructor(
    readonly pageSize: number,
    /** Spare buffers kept at most; more go to the garbage collector. */
    readonly maxFree = 256,
  ) {}

  take(_length?: number): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(this.pageSize);
  }

  give(b: ArrayBuffer): void {
    if (b.byteLength === this.pageSize && this.free.length < this.maxFree) this.free.push(b);
  }
}

/**
 * Spare buffers of any size, by powers of two from 4 KiB: for readers whose one page is a whole
 * small file (src/store/packs.ts), of a different size for each file. A scan that reads such files
 * one after another and releases each (a batch over every pack) then reads them all into a few
 * warm buffers, instead of touching fresh memory for every file.
 */
export class SlabPool implements BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  constructor(
    /** Bytes of spare buffers kept at most; more go to the garbage collector. */
    readonly maxFreeBytes: number,
  ) {}

  /** The capacity of the buffers that `take(length)` hands out. */
  static capacityFor(length: number): number {
    return length <= 4096 ? 4096 : 2 ** Math.ceil(Math.log2(length));
  }

  take(length: number): ArrayBuffer {
    const capacity = SlabPool.capacityFor(length);
    const b = this.free.get(capacity)?.pop();
    if (b === undefined) return new ArrayBuffer(capacity);
    this.freeBytes -= capacity;
    return b;
  }

  give(b: ArrayBuffer): void {
    const capacity = b.byteLength;
    if (capacity !== SlabPool.capacityFor(capacity) || this.freeBytes + capacity > this.maxFreeBytes) return;
    let list = this.free.get(capacity);
    if (list === undefined) {
      list = [];
      this.free.set(capacity, list);
    }
    list.push(b);
    this.freeBytes += capacity;
  }
}

/**
 * Pages over a reader with a bounded cache. Hot loops call `page(i)` and index the returned bytes
 * directly; `read()` is for the occasional range (a view when it lies in one page, else a copy).
 */
export class PagedReader {
  readonly size: number;
  readonly pageSize: number;
  readonly file: string;
  private readonly reader: RandomAccessReader;
  private readonly memory: Uint8Array | undefined;
  private readonly pages: (Uint8Array | undefined)[];
  /**
   * Pages whose bytes left this reader as views (`page`, `read`): their buffers are never reused.
   * Any other page goes back to the pool when it is evicted (`bytesAt` lends nothing: its bytes
   * are used before the next call on this reader).
   */
  private readonly lent: (true | undefined)[] = [];
  private readonly loaded: number[] = [];
  private loadedHead = 0;
  private readonly maxPages: number;
  private readonly pool: BufferPool | undefined;
  private closed = false;

  constructor(reader: RandomAccessReader, options: PagedReaderOptions = {}) {
    this.reader = reader;
    this.size = reader.size;
    this.file = options.file ?? '<memory>';
    const memory = (reader as { bytes?: unknown }).bytes;
    this.memory = memory instanceof Uint8Array && memory.length === reader.size ? memory : undefined;
    // An in-memory reader is served as one page: no copies, no eviction.
    // Over a network, pages are small: each one costs bytes that a lookup mostly does not need.
    const remote = isRemoteReader(reader);
    this.pool = this.memory || remote ? undefined : options.pool;
    this.pageSize = this.memory
      ? Math.max(1, this.size)
      : remote
        ? REMOTE_PAGE
        : (this.pool?.pageSize ?? options.pageSize ?? 65536);
    this.pages = [];
    this.maxPages = Math.max(4, Math.floor((options.cacheBytes ?? 256 * 1024 * 1024) / this.pageSize));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Page number `i` (the last page may be short). */
  page(i: number): Uint8Array {
    const p = this.pages[i] ?? this.load(i);
    this.lent[i] = true;
    return p;
  }

  /** Page `i` for a use that ends before the next call on this reader (nothing is lent). */
  private pageBrief(i: number): Uint8Array {
    return this.pages[i] ?? this.load(i);
  }

  private checkRange(position: number, length: number): void {
    if (position < 0 || length < 0 || position + length > this.size) {
      throw new GitMidxError(
        'IO_ERROR',
        `${this.file}: read of ${length} bytes at ${position} beyond end of file (${this.size})`,
        { file: this.file },
      );
    }
  }

  private checkOpen(): void {
    if (this.closed)
      throw new GitMidxError('MIDX_CLOSED', `${this.file}: read after close`, { file: this.file });
  }

  private load(i: number): Uint8Array {
    this.checkOpen();
    const start = i * this.pageSize;
    if (start >= this.size || i < 0) {
      throw new GitMidxError('IO_ERROR', `${this.file}: read at ${start} beyond end of file (${this.size})`, {
        file: this.file,
      });
    }
    let p: Uint8Array;
    if (this.memory) {
      p = this.memory;
    } else {
      const len = Math.min(this.pageSize, this.size - start);
      p = this.pool ? new Uint8Array(this.pool.take(len), 0, len) : new Uint8Array(len);
      this.reader.readInto(p, 0, len, start);
      if (this.loaded.length - this.loadedHead >= this.maxPages) {
        const victim = this.loaded[this.loadedHead++];
        const old = this.pages[victim];
        if (old !== undefined && this.pool !== undefined && this.lent[victim] === undefined) {
          this.pool.give(old.buffer as ArrayBuffer);
        }
        this.pages[victim] = undefined;
        this.lent[victim] = undefined;
        if (this.loadedHead > 1024 && this.loadedHead * 2 > this.loaded.length) {
          this.loaded.splice(0, this.loadedHead);
          this.loadedHead = 0;
        }
      }
      this.loaded.push(i);
    }
    this.pages[i] = p;
    return p;
  }

  /** Where the range asked of `bytesAt` starts in the bytes it returned. */
  at = 0;

  /**
   * `length` bytes at `position` without a view made for them, for hot loops: returns their page
   * (or a copy when they straddle two pages) and leaves where they start in it in `at`. The bytes
   * are valid until the next call on this reader: the page's buffer may be reused after that.
   */
  bytesAt(position: number, length: number): Uint8Array {
    const ps = this.pageSize;
    const pi = ps >= this.size ? 0 : Math.floor(position / ps);
    const page = this.pageBrief(pi);
    const o = position - pi * ps;
    if (o + length <= page.length) {
      this.at = o;
      return page;
    }
    this.at = 0;
    return this.read(position, length);
  }

  /** The big-endian 32-bit word at `position` (checked as `read` checks), without a view made for it. */
  u32(position: number): number {
    this.checkRange(position, 4);
    const b = this.bytesAt(position, 4);
    return readU32(b, this.at);
  }

  /** `length` bytes at `position`; throws a typed error for ranges outside the file. */
  read(position: number, length: number): Uint8Array {
    this.checkRange(position, length);
    if (this.memory) {
      this.checkOpen();
      return this.memory.subarray(position, position + length);
    }
    const ps = this.pageSize;
    const first = Math.floor(position / ps);
    const off = position - first * ps;
    const p = this.pageBrief(first);
    if (off + length <= p.length) {
      this.lent[first] = true;
      return p.subarray(off, off + length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    let pi = first;
    let po = off;
    while (done < length) {
      const pg = this.pageBrief(pi);
      const n = Math.min(length - done, pg.length - po);
      out.set(pg.subarray(po, po + n), done);
      done += n;
      pi++;
      po = 0;
    }
    return out;
  }

  /**
   * `length` bytes at `position`, read around the cache (a fresh copy, or a view of an in-memory
   * reader): for whole chunks and checksums, which would otherwise evict the lookup pages.
   */
  /**
   * `length` bytes at `position` (a copy or a view), from the cache when their page is there, else
   * read on their own without loading the page: for a few bytes whose page may never be needed.
   */
  peek(position: number, length: number): Uint8Array {
    this.checkRange(position, length);
    const ps = this.pageSize;
    const first = Math.floor(position / ps);
    const p = this.pages[first];
    const off = position - first * ps;
    if (p !== undefined && off + length <= p.length) return p.slice(off, off + length);
    return this.readUncached(position, length);
  }

  readUncached(position: number, length: number): Uint8Array {
    this.checkRange(position, length);
    this.checkOpen();
    if (this.memory) return this.memory.subarray(position, position + length);
    const out = new Uint8Array(length);
    this.reader.readInto(out, 0, length, position);
    return out;
  }

  /**
   * Reads `length` bytes at `position` into `dst` around the cache (for forward scans that reuse
   * one buffer instead of filling the cache, and the process's memory, with pages used once).
   */
  readInto(dst: Uint8Array, dstOffset: number, length: number, position: number): void {
    this.checkRange(position, length);
    this.checkOpen();
    if (this.memory) dst.set(this.memory.subarray(position, position + length), dstOffset);
    else this.reader.readInto(dst, dstOffset, length, position);
  }

  /**
   * Says that `[position, position + length)` will be read soon: a reader that fetches over a
   * network (src/storage/resident.ts) makes it resident in one request; files and memory ignore it.
   */
  hint(position: number, length: number): void {
    if (this.memory === undefined) hintRange(this.reader, position, length);
  }

  /** `hint` for several ranges at once: fetched together (in parallel when apart). */
  hintMany(ranges: readonly (readonly [number, number])[]): void {
    if (this.memory === undefined) hintRanges(this.reader, ranges);
  }

  /** Whether reads cost a round trip (a remote storage): callers then read as little as they can. */
  get remote(): boolean {
    return isRemoteReader(this.reader);
  }

  /** Whether the whole file is in memory as page 0. */
  get inMemory(): boolean {
    return this.memory !== undefined;
  }

  /**
   * Drops every cached page; with a pool, their buffers go back to it. The caller promises that no
   * view returned by `page()`/`read()` is used afterwards.
   */
  releasePages(): void {
    if (this.memory) return;
    for (let k = this.loadedHead; k < this.loaded.length; k++) {
      const i = this.loaded[k];
      const p = this.pages[i];
      if (p !== undefined && this.pool) this.pool.give(p.buffer as ArrayBuffer);
      this.pages[i] = undefined;
      this.lent[i] = undefined;
    }
    this.loaded.length = 0;
    this.loadedHead = 0;
  }

  close(): void {
    if (this.closed) return;
    this.releasePages();
    this.closed = true;
    this.pages.length = 0;
    this.loaded.length = 0;
    this.reader.close();
  }
}

/**
 * A forward-only window over a file through one reused buffer: `at(pos, len)` makes bytes
 * `[pos, pos + len)` available in `buf` from `buf`-offset `pos - start`. Positions asked for must
 * not go backwards by more than what the window still holds. For merge-joins over sorted tables.
 */
export class ForwardWindow {
  readonly buf: Uint8Array;
  start = 0;
  end = 0;
  constructor(
    private readonly src: PagedReader,
    size = 1 << 20,
  ) {
    if (src.inMemory) {
      // The file is one page already: the window is all of it.
      this.buf = src.page(0);
      this.end = src.size;
    } else {
      this.buf = new Uint8Array(Math.min(size, Math.max(1, src.size)));
    }
  }

  /** Makes `[pos, pos + len)` resident; returns the offset of `pos` in `buf`. */
  at(pos: number, len: number): number {
    if (pos >= this.start && pos + len <= this.end) return pos - this.start;
    const n = Math.max(len, Math.min(this.buf.length, this.src.size - pos));
    if (n > this.buf.length) {
      throw new GitMidxError('IO_ERROR', `${this.src.file}: window of ${len} bytes too large`, {
        file: this.src.file,
      });
    }
    this.src.readInto(this.buf, 0, n, pos);
    this.start = pos;
    this.end = pos + n;
    return 0;
  }

  /** The big-endian 32-bit word at `pos`. */
  u32(pos: number): number {
    const o = this.at(pos, 4);
    const b = this.buf;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }
}

/** Where writers put bytes. */
export interface ByteSink {
  /** The bytes are lent for the call only: a writer may fill the same buffer again afterwards. */
  write(bytes: Uint8Array): void;
}
