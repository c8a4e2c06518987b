/**
 * Packfile (`.pack`) reader (spec/objects-format.md §2): Git's open-time validity checks, entry
 * headers, zlib payloads and delta resolution (OFS_DELTA and REF_DELTA, chains of any depth,
 * resolved iteratively) with a byte-bounded delta-base cache.
 *
 * Portable: bytes come through a RandomAccessReader, inflating through an `Inflater` and hashing
 * through a `HashFunction`; nothing here imports `node:*` (the Node adapter is src/node/zlib.ts).
 *
 * Random access without a reverse index: an entry's compressed length is not recorded anywhere
 * (§2.3), so a bounded window — the deflate worst case for the entry's size — is read and the
 * inflater reports how many bytes the stream used. The pack is never read whole.
 */
import { compareBytes, readU32, toHex, utf8 } from '../bytes.js';
import { allocateObjectBytes, GitMidxError } from '../errors.js';
import type { HashAlgorithm, HashFunction } from '../hash.js';
import { type BufferPool, PagedReader, type RandomAccessReader } from '../io.js';
import { overDeadline, yieldPending } from '../storage/resident.js';
import { type ApplyDeltaOptions, applyDeltaPrefix, deltaResultSize } from './delta.js';
import type { PackIndex } from './idx.js';
import {
  InflatedObjectStream,
  type InflateProblem,
  InflateReader,
  type InflateStream,
  type ObjectStream,
} from './stream.js';

// ---------------------------------------------------------------------------------------------
// Inflating

export interface InflateResult {
  /** The inflated bytes. */
  data: Uint8Array;
  /** Input bytes the zlib stream used (header, deflate data and Adler-32 trailer). */
  consumed: number;
}

/**
 * Inflates one zlib stream that starts at `input[0]`. Bytes after the stream's end are ignored.
 */
export interface Inflater {
  /**
   * Inflates the whole stream. Must throw on corrupt data, on input that ends before the stream
   * does (then preferably an `InflateError` with `truncated: true`, so the reader can widen its
   * window), and may throw as soon as the output exceeds `expectedSize`.
   */
  inflate(input: Uint8Array, expectedSize: number): InflateResult;
  /**
   * Optional: the first bytes of the stream — at least `want` of them unless the stream (or the
   * input) ends first; it may return more. A stream cut short by the end of `input` is not an
   * error here. Used for size queries on deltas, which need only the delta header (§2.6).
   */
  inflatePrefix?(input: Uint8Array, want: number): Uint8Array;
  /**
   * Optional: inflates the stream at `input[start]` (the input ends at `end`) straight into
   * `out[0, size)` when it makes exactly `size` bytes, and returns the input bytes it used; else
   * -1 (corrupt data, input ending first, a different length, or a stream it leaves to `inflate`),
   * and `inflate` is asked instead, which gives the exact outcome. Used for small entries, so that
   * their bytes are inflated without an intermediate buffer or a view of the input. When `out` is
   * longer than `size` (scratch memory), `out[size]` may be written too: an inflater can then
   * tell the stream's end in one step.
   */
  inflateExact?(input: Uint8Array, start: number, end: number, out: Uint8Array, size: number): number;
  /**
   * Optional: a fresh incremental inflater for one stream. With it, whole objects can be streamed
   * (`PackFile.openStream`) and large ones are inflated straight into a buffer of their size.
   */
  stream?(): InflateStream;
  /**
   * Optional: `size` bytes of memory that need not be zeroed, for results the reader fills
   * completely before anyone sees them (a delta's result, a large object inflated to its declared
   * size; on any failure the memory is dropped unseen). Node's `Buffer.allocUnsafeSlow` saves the
   * zeroing of every large object read.
   */
  allocate?(size: number): Uint8Array;
}

/**
 * What an Inflater may throw; `truncated` means the input ended before the stream did, `tooLong`
 * that the stream inflates to more than was asked for. Neither: the stream itself is damaged (zlib's
 * Z_DATA_ERROR, which Git reports as `inflate: data stream error (<zlib's message>)`).
 */
export class InflateError extends Error {
  override readonly name = 'InflateError';
  readonly truncated: boolean;
  readonly tooLong: boolean;
  constructor(message: string, truncated: boolean, options?: { cause?: unknown; tooLong?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.truncated = truncated;
    this.tooLong = options?.tooLong === true;
  }
}

// ---------------------------------------------------------------------------------------------
// Types

export const OBJ_COMMIT = 1;
export const OBJ_TREE = 2;
export const OBJ_BLOB = 3;
export const OBJ_TAG = 4;
export const OBJ_OFS_DELTA = 6;
export const OBJ_REF_DELTA = 7;

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';
export type PackEntryType = 1 | 2 | 3 | 4 | 6 | 7;

const TYPE_NAMES: readonly ObjectType[] = ['commit', 'commit', 'tree', 'blob', 'tag'];

/** Git's type number of each whole-object type. */
export const TYPE_NUMBER: Readonly<Record<ObjectType, number>> = { commit: 1, tree: 2, blob: 3, tag: 4 };

/** Name of a whole-object type number (1-4); undefined for anything else. */
export function objectTypeName(type: number): ObjectType | undefined {
  return type >= OBJ_COMMIT && type <= OBJ_TAG ? TYPE_NAMES[type] : undefined;
}

export interface PackEntry {
  /** The entry's offset in the pack. */
  offset: number;
  type: PackEntryType;
  /** The header's size: the object size for types 1-4, the delta length for 6 and 7. */
  size: number;
  /** Length of the type-and-size header alone. */
  headerLength: number;
  /** Where the zlib stream starts (after the header and any base field). */
  dataOffset: number;
  /** OFS_DELTA: the base's offset. */
  baseOffset?: number;
  /** REF_DELTA: the base's id (a copy). */
  baseOid?: Uint8Array;
}

export interface PackObject {
  type: ObjectType;
  data: Uint8Array;
}

export interface PackObjectInfo {
  type: ObjectType;
  size: number;
}

export interface PackFileOptions {
  /** Hash of the repository; must be the index's (default: the index's). */
  hash?: HashAlgorithm;
  inflate: Inflater;
  /** Needed only by `verifyObject`. */
  hashFn?: HashFunction;
  /** Name used in messages (Git prints the path it was given). */
  file?: string;
  /** Byte budget of the delta-base cache (default 32 MiB; 0 disables it). */
  cacheBytes?: number;
  /** A delta-base cache shared with other packs (`cacheBytes` is then ignored). */
  baseCache?: PackObjectCache;
  /** A small-object cache shared with other packs (`smallCacheBytes` is then ignored). */
  smallCache?: PackObjectCache;
  /**
   * Where the delta levels a read keeps go (the direct base of the object read: the next object
   * of a pack-order scan builds on it), apart from the whole objects at the bottom of chains, which
   * every read of their chain starts from: random reads then do not push those out with levels
   * they seldom meet again. By default both go to the delta-base cache.
   */
  levelCache?: PackObjectCache;
  /**
   * Byte budget of the cache of small commits, trees and tags once read (up to SMALL_OBJECT
   * bytes each, as libgit2 keeps them: walks read them again and again; default 0: none).
   */
  smallCacheBytes?: number;
  /**
   * Largest object, delta or delta base we agree to build in memory, in bytes (default 1 GiB),
   * checked against the sizes the headers declare before anything is allocated: beyond it,
   * `OBJECT_TOO_LARGE`. Whole objects can still be streamed (`openStream`) whatever their size.
   */
  maxObjectSize?: number;
  /** Page size and page-cache budget of the reader used for entry headers. */
  pageSize?: number;
  pageCacheBytes?: number;
  /** Shared spare page buffers (see PagePool, SlabPool); a PagePool's page size wins over `pageSize`. */
  pagePool?: BufferPool;
  /**
   * Where a read gets a delta base it could not build here (the base's entry is damaged, or a
   * delta below it): Git then reads that object from another copy (another pack, a loose file)
   * and goes on applying the deltas above it. `offset` is the base's entry in this pack; the
   * answer is its type number and bytes, or undefined. The callback reports as Git does
   * (`failed to read delta base object <id> at offset <n> from <pack>`). Without it, a read fails
   * and its error says which levels Git would have looked for elsewhere (`data.baseOffsets`).
   */
  readBaseElsewhere?: (offset: number) => { type: number; data: Uint8Array } | undefined;
  /** With readBaseElsewhere: the `error:` lines Git prints on the way (zlib's, the delta's). */
  onReadError?: (line: string) => void;
}

/** The default `maxObjectSize`: 1 GiB. */
export const DEFAULT_MAX_OBJECT_SIZE = 1024 * 1024 * 1024;
/** Whole objects at least this large are inflated straight into a buffer of their size. */
const STREAM_INFLATE_MIN = 4 * 1024 * 1024;
/** Input read at a time when streaming. */
const STREAM_INPUT = 1 << 20;
/** Output of one delta instruction byte at most (a copy with no size bytes copies 64 KiB, §3.2). */
const DELTA_MAX_RATIO = 0x10000;

const PACK_SIGNATURE = 0x5041434b; // "PACK"
const HEADER_SIZE = 12;
/** deflate's best ratio is about 1032:1 (a 258-byte match in 2 bits); the rest is slack. */
const MAX_INFLATE_RATIO = 1032;
/** Bytes of a large object allocated before they arrive (see InflateReader.readAll). */
/** Most bytes of one entry asked for ahead of reading it (see PagedReader.hint in src/io.ts). */
const HINT_MAX = 32 * 1024 * 1024;
/** Over a network, bytes before an entry fetched with it (its delta bases are usually there). */
const CHAIN_WINDOW = 48 * 1024;
/** Over a network, bytes from an entry's start fetched at once (most entries end within). */
const ENTRY_WINDOW = 16 * 1024;

export const EAGER_ALLOCATION = 64 * 1024 * 1024;
/**
 * Input given to `inflatePrefix` at most (a dynamic Huffman block header is at most ~300 bytes), and
 * the delta header bytes wanted (two 10-byte varints, as Git's `get_size_from_delta()` reads 20).
 */
const PREFIX_INPUT = 4096;
const DELTA_HEADER_MAX = 20;
/**
 * Entries under STREAM_INFLATE_MIN are inflated straight into their own bytes (or, for deltas of
 * at most this size, a buffer the pack reuses) by an inflater with `inflateExact`.
 */
const DELTA_BUF_MAX = 64 * 1024;
/**
 * Where the stream of an entry that does not fit one page is read for `inflateExact`: one buffer
 * for every pack (reads are synchronous and never nest), grown to the largest such stream.
 */
let inputScratch: Uint8Array | undefined;

/** Results of `dataViewAt` up to this size go to one buffer shared by every pack. */
const RESULT_SCRATCH_MAX = 16 * 1024 * 1024;
let resultBuf: Uint8Array | undefined;

/** `n` bytes of the shared result buffer (grown as needed), or fresh bytes past its limit. */
function resultScratch(n: number, allocate?: (size: number) => Uint8Array): Uint8Array {
  if (n > RESULT_SCRATCH_MAX) return allocate !== undefined ? allocate(n) : new Uint8Array(n);
  if (resultBuf === undefined || resultBuf.length < n) {
    resultBuf = new Uint8Array(
      Math.min(RESULT_SCRATCH_MAX, Math.max(n, 2 * (resultBuf?.length ?? 0), 64 * 1024)),
    );
  }
  return resultBuf.subarray(0, n);
}
const levelBufs: (Uint8Array | undefined)[] = [undefined, undefined];

/** `n` bytes of level buffer `k` (grown as needed), or fresh bytes past the scratch limit. */
function levelScratch(k: number, n: number, allocate?: (size: number) => Uint8Array): Uint8Array {
  if (n > RESULT_SCRATCH_MAX) return allocate !== undefined ? allocate(n) : new Uint8Array(n);
  let b = levelBufs[k];
  if (b === undefined || b.length < n) {
    b = new Uint8Array(Math.min(RESULT_SCRATCH_MAX, Math.max(n, 2 * (b?.length ?? 0), 64 * 1024)));
    levelBufs[k] = b;
  }
  return b.subarray(0, n);
}

/** Entries `infoAt` remembers the type of, at most (then it starts over). */
const CHAIN_TYPES_MAX = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Delta-base cache: LRU by bytes, keyed by entry offset

interface Cached {
  type: number;
  data: Uint8Array;
  /** The slab `data` lies in, for an entry the cache copied into its arena. */
  slab: Slab | undefined;
  offset: number;
  /** The map of the pack cache that holds this entry (eviction from a shared list removes it there). */
  owner: Map<number, Cached>;
  /** Neighbours in the order of use (`newer`: towards the most recently used). */
  older: Cached | undefined;
  newer: Cached | undefined;
}

/**
 * Entries the delta-base cache of one pack keeps at most, whatever their bytes: each is a few
 * objects on the JavaScript heap, and a cache of many small bases (chains of small blobs) fills
 * the heap with objects that every garbage collection must walk and move — pauses of an event
 * loop — for bases that take microseconds to rebuild. Large bases are bounded by bytes first.
 */
const BASE_CACHE_ENTRIES = 1024;
/** Commits, trees and tags up to this size are kept by the small-object cache (`smallCacheBytes`). */
const SMALL_OBJECT = 4096;
const SMALL_CACHE_ENTRIES = 65536;

/**
 * Entries up to this size are copied into the cache's slabs rather than kept in bytes of their own:
 * a fresh small Uint8Array costs microseconds here (its ArrayBuffer and external memory), more
 * than inflating or rebuilding a small tree does, and a cache fills with thousands of them.
 */
const ARENA_MAX = 8 * 1024;
/** The first slab of a cache, and the most a slab grows to (each next one doubles). */
const SLAB_FIRST = 16 * 1024;
const SLAB_MAX = 256 * 1024;

/**
 * A slab of a cache's arena: entries are carved from it one after the other and never moved; it is
 * let go (left to the garbage collector) once no entry in it is kept and it is no longer the one
 * being filled. Its memory is never reused, so a view of an evicted entry stays what it was.
 */
interface Slab {
  buf: Uint8Array;
  used: number;
  live: number;
}

/**
 * An object cache budget that several packs share: one list in the order of use, one byte and one
 * entry budget, whichever pack an entry belongs to. A store gives one to all its packs so that the
 * packs being read keep what they need, however unevenly the reads fall on them (real repositories
 * have packs that differ in size by orders of magnitude), instead of each pack holding its even
 * share of the budget. For `PackFileOptions.baseCache` / `smallCache`.
 */
export class PackObjectCache {
  /** @internal */ oldest: Cached | undefined;
  /** @internal */ newest: Cached | undefined;
  /** Bytes of object data the cache keeps now. */
  bytes = 0;
  /** Entries the cache keeps now. */
  entries = 0;
  constructor(
    /** Byte budget. */
    readonly budget: number,
    /** Entry budget (each entry is a few objects on the JavaScript heap). */
    readonly maxEntries = 16384,
  ) {}

  /** @internal */
  unlink(c: Cached): void {
    if (c.older !== undefined) c.older.newer = c.newer;
    else this.oldest = c.newer;
    if (c.newer !== undefined) c.newer.older = c.older;
    else this.newest = c.older;
    c.older = undefined;
    c.newer = undefined;
  }

  /** @internal */
  append(c: Cached): void {
    c.older = this.newest;
    if (this.newest !== undefined) this.newest.newer = c;
    else this.oldest = c;
    this.newest = c;
  }

  /** @internal Evicts the least recently used entries until both budgets hold. */
  trim(): void {
    while ((this.bytes > this.budget || this.entries > this.maxEntries) && this.oldest !== undefined) {
      this.evictOldest();
    }
  }

  /** @internal */
  evictOldest(): void {
    const victim = this.oldest!;
    this.unlink(victim);
    victim.owner.delete(victim.offset);
    this.bytes -= victim.data.length;
    this.entries--;
    this.release(victim);
  }

  /** @internal An entry leaves the cache: its slab loses one. */
  release(c: Cached): void {
    const slab = c.slab;
    if (slab === undefined) return;
    c.slab = undefined;
    if (--slab.live > 0) return;
    // Empty: let go, the one being filled too (its free room is not worth keeping alone).
    if (slab === this.slab) this.slab = undefined;
    this.slabs--;
  }

  /** The slab being filled. */
  private slab: Slab | undefined;
  /** Slabs alive: every one that holds an entry. */
  private slabs = 0;
  /** The size of the last slab made (each next one doubles, up to SLAB_MAX). */
  private slabSize = SLAB_FIRST / 2;

  /** Slabs of small entries the cache keeps alive now (see ARENA_MAX). */
  get slabCount(): number {
    return this.slabs;
  }

  /**
   * @internal A copy of `data` (at most ARENA_MAX bytes) in the arena. The slabs alive are bounded
   * by about twice the byte budget: past that, entries are evicted in the order of use until one is
   * let go.
   */
  copyIn(data: Uint8Array): { bytes: Uint8Array; slab: Slab } {
    const n = data.length;
    let slab = this.slab;
    if (slab === undefined || slab.used + n > slab.buf.length) {
      // (A slab being filled always holds an entry: an empty one is let go at once.)
      const size = Math.min(SLAB_MAX, 2 * this.slabSize);
      const most = Math.max(4, Math.ceil((2 * this.budget) / SLAB_MAX) + 2);
      this.slab = undefined;
      while (this.slabs >= most && this.oldest !== undefined) this.evictOldest();
      slab = { buf: new Uint8Array(size), used: 0, live: 0 };
      this.slab = slab;
      this.slabSize = size;
      this.slabs++;
    }
    const at = slab.used;
    slab.buf.set(data, at);
    slab.used = at + n;
    slab.live++;
    return { bytes: slab.buf.subarray(at, at + n), slab };
  }
}

/** One pack's entries of a (possibly shared) PackObjectCache, keyed by entry offset. */
class BaseCache {
  private readonly map = new Map<number, Cached>();
  constructor(private readonly lru: PackObjectCache) {}

  get(offset: number): Cached | undefined {
    const c = this.map.get(offset);
    if (c !== undefined && c !== this.lru.newest) {
      this.lru.unlink(c);
      this.lru.append(c);
    }
    return c;
  }

  /**
   * Keeps an object's bytes; returns the bytes kept (a copy, for small ones and for `scratch`), or
   * `data` itself when nothing is kept. `scratch`: `data` lies in a buffer that is written over
   * later (always copied); otherwise `owned` says whether it is a buffer of its own (not a view
   * that may keep a larger one alive).
   */
  put(offset: number, type: number, data: Uint8Array, owned: boolean, scratch = false): Uint8Array {
    const lru = this.lru;
    if (data.length > lru.budget || this.map.has(offset)) return data;
    let slab: Slab | undefined;
    if (data.length <= ARENA_MAX) {
      const copy = lru.copyIn(data);
      data = copy.bytes;
      slab = copy.slab;
    } else if (scratch || (!owned && data.buffer.byteLength > 2 * data.length + 4096)) {
      // A view into a larger buffer (an inflater's shared output slab) is copied, so that the
      // budget counts what the cache really keeps alive.
      data = data.slice();
    }
    const c: Cached = { type, data, slab, offset, owner: this.map, older: undefined, newer: undefined };
    this.map.set(offset, c);
    lru.append(c);
    lru.bytes += data.length;
    lru.entries++;
    lru.trim();
    return data;
  }

  clear(): void {
    const lru = this.lru;
    for (const c of this.map.values()) {
      lru.unlink(c);
      lru.bytes -= c.data.length;
      lru.entries--;
      lru.release(c);
    }
    this.map.clear();
  }
}

/**
 * What Git's inflate prints for a failed stream: `inflate: data stream error (<zlib's message>)` for
 * a damaged one; nothing for one that ends early or runs past the size asked for.
 * @internal
 */
export function zlibComplaint(cause: unknown): string | undefined {
  if (!(cause instanceof InflateError) || cause.truncated || cause.tooLong) return undefined;
  return `inflate: data stream error (${cause.message})`;
}

function copyOf(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}

/**
 * `b` if it is alone in its ArrayBuffer (up to a little slack), else a copy: inflaters hand out
 * small outputs as views into shared slabs or pools, and bytes given to a caller must be its own
 * (it may keep them, transfer `.buffer` to a worker, or write into them).
 */
export function ownedBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.buffer.byteLength - b.length <= 64 ? b : copyOf(b);
}

/**
 * A PackEntry that the reader fills in again for each entry it walks (no object per entry read).
 * A REF_DELTA's base id is not copied out: it is left where it lies, `refBytes[refAt ..]`.
 */
class EntrySlot implements PackEntry {
  offset = 0;
  type: PackEntryType = OBJ_BLOB;
  size = 0;
  headerLength = 0;
  dataOffset = 0;
  baseOffset: number | undefined = undefined;
  refBytes: Uint8Array | undefined = undefined;
  refAt = 0;
}

function fill(
  slot: EntrySlot,
  offset: number,
  type: PackEntryType,
  size: number,
  headerLength: number,
  dataOffset: number,
  baseOffset: number | undefined,
  refBytes: Uint8Array | undefined,
  refAt: number,
): EntrySlot {
  slot.offset = offset;
  slot.type = type;
  slot.size = size;
  slot.headerLength = headerLength;
  slot.dataOffset = dataOffset;
  slot.baseOffset = baseOffset;
  slot.refBytes = refBytes;
  slot.refAt = refAt;
  return slot;
}

/** Entry slots a pack keeps for walking delta chains (a deeper chain makes more, dropped after). */
const CHAIN_SLOTS_KEPT = 256;

// ---------------------------------------------------------------------------------------------

/** Delta target sizes remembered per open pack before the memo starts again. */
const DELTA_SIZES_MAX = 1 << 16;

export class PackFile {
  readonly file: string;
  readonly hash: HashAlgorithm;
  readonly idx: PackIndex;
  /** Size of the `.pack` in bytes. */
  readonly size: number;
  private readonly src: PagedReader;
  private readonly inflater: Inflater;
  private readonly hashFn: HashFunction | undefined;
  private readonly cache: BaseCache;
  /** Delta levels kept (`levelCache`; the delta-base cache itself by default). */
  private readonly levels: BaseCache;
  private readonly small: BaseCache | undefined;
  /** Types of deltas already resolved by `infoAt` (the type at the bottom of their chain), by offset. */
  private readonly chainTypes = new Map<number, number>();
  private lastType = 0;
  /** Target sizes of deltas already asked about, by entry offset (see deltaResultSize). */
  private readonly deltaSizes = new Map<number, number>();
  private readonly maxObjectSize: number;
  /** End of the entry area: the trailer starts here. */
  private readonly end: number;
  /** The entries of the delta chain `read` walks (reused from one read to the next). */
  private readonly chain: EntrySlot[] = [];
  /** Levels of the last walk still in `chain` (slots 1 .. prevLevels - 1: the bases it went through). */
  private prevLevels = 0;
  /** The entry `sizeAt` walks, and the one `entryAt` parses. */
  private readonly infoSlot = new EntrySlot();
  private readonly entrySlot = new EntrySlot();
  /** Offsets of the deltas `sizeAt` walks (reused). */
  private readonly path: number[] = [];
  /** Where deltas of at most DELTA_BUF_MAX bytes are inflated, made when first needed. */
  private deltaBuf: Uint8Array | undefined;
  /** The options given to every delta applied (its `offset` set before each). */
  private readonly deltaOptions: ApplyDeltaOptions & { offset: number };
  private readonly readBaseElsewhere: PackFileOptions['readBaseElsewhere'];
  private readonly onReadError: PackFileOptions['onReadError'];
  /** `deltaOptions` for the last delta of a `dataViewAt`: its result goes to the shared scratch. */
  private readonly viewOptions: ApplyDeltaOptions & { offset: number };
  /** For intermediate results that are not cached: two buffers shared by every pack, in turn. */
  private readonly levelOptions: (ApplyDeltaOptions & { offset: number })[];
  /** `levelOptions` for a level the cache keeps: past ARENA_MAX, fresh bytes of its own. */
  private readonly keepOptions: (ApplyDeltaOptions & { offset: number })[];
  /** Set during `dataViewAt`: the answer may be a borrowed view. */
  private viewing = false;
  /**
   * After a `dataViewAt` that applied a delta last: the offset of the object that delta applies
   * to, and its instructions (valid until the next read of this pack); else -1 and undefined. A
   * caller that parsed that base can reuse what the delta copies from it.
   * @internal
   */
  viewBase = -1;
  /** @internal (see `viewBase`) */
  viewDelta: Uint8Array | undefined;

  /** A reader without the open-time checks; `open()` runs `validate()` too. */
  constructor(reader: RandomAccessReader, idx: PackIndex, options: PackFileOptions) {
    this.file = options.file ?? '<memory>';
    if (options.hash !== undefined && options.hash.name !== idx.hash.name) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `${this.file}: hash ${options.hash.name} given for an index of ${idx.hash.name} ids`,
        { file: this.file },
      );
    }
    this.hash = idx.hash;
    this.idx = idx;
    this.src = new PagedReader(reader, {
      file: this.file,
      pageSize: options.pageSize ?? 16384,
      cacheBytes: options.pageCacheBytes ?? 4 * 1024 * 1024,
      pool: options.pagePool,
    });
    this.size = reader.size;
    this.inflater = options.inflate;
    this.hashFn = options.hashFn;
    this.cache = new BaseCache(
      options.baseCache ?? new PackObjectCache(options.cacheBytes ?? 32 * 1024 * 1024, BASE_CACHE_ENTRIES),
    );
    this.levels = options.levelCache !== undefined ? new BaseCache(options.levelCache) : this.cache;
    const small = options.smallCacheBytes ?? 0;
    this.small =
      options.smallCache !== undefined
        ? new BaseCache(options.smallCache)
        : small > 0
          ? new BaseCache(new PackObjectCache(small, SMALL_CACHE_ENTRIES))
          : undefined;
    this.maxObjectSize = options.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE;
    this.end = this.size - this.hash.size;
    // All four built alike, so that they share one shape: `read` then sees one map, not four
    // (a new one met in optimised code sends it back to the interpreter).
    const shaped = (allocate: (n: number) => Uint8Array) => ({
      file: this.file,
      offset: 0,
      maxResultSize: this.maxObjectSize,
      allocate,
    });
    const own = this.inflater.allocate ?? ((n: number) => new Uint8Array(n));
    this.deltaOptions = shaped(own);
    this.readBaseElsewhere = options.readBaseElsewhere;
    this.onReadError = options.onReadError;
    this.viewOptions = shaped((n: number) => resultScratch(n, own));
    this.levelOptions = [0, 1].map((k) => shaped((n: number) => levelScratch(k, n, own)));
    this.keepOptions = [0, 1].map((k) =>
      shaped((n: number) => (n <= ARENA_MAX ? levelScratch(k, n, own) : own(n))),
    );
  }

  /** Opens a pack and runs Git's validity checks (`validate()`); the reader is not closed on failure. */
  static open(reader: RandomAccessReader, idx: PackIndex, options: PackFileOptions): PackFile {
    const p = new PackFile(reader, idx, options);
    p.validate();
    return p;
  }

  /**
   * Git's `is_pack_valid()` checks (§2.5), in Git's order: at least 12 bytes, the `PACK`
   * signature, version 2 or 3, the header's object count equal to the index's, a trailer there,
   * and the trailer equal to the index's copy of it (unless `checkTrailer` is false: a remote
   * store, which hashes every object it reads instead). The content is not hashed.
   */
  validate(checkTrailer = true): void {
    const f = this.file;
    if (this.size < HEADER_SIZE) {
      throw this.err('PACK_TOO_SHORT', `${f}: ${this.size} bytes, too short to be a pack`, {
        git: `file ${f} is far too short to be a packfile`,
        size: this.size,
      });
    }
    // (Without loading a page: a pack read as one page would be read whole here.)
    const head = this.src.peek(0, HEADER_SIZE);
    if (readU32(head, 0) !== PACK_SIGNATURE) {
      throw this.err('PACK_BAD_SIGNATURE', `${f}: no PACK signature`, {
        git: `file ${f} is not a GIT packfile`,
      });
    }
    const version = readU32(head, 4);
    if (version !== 2 && version !== 3) {
      throw this.err('PACK_BAD_VERSION', `${f}: pack version ${version}, expected 2 or 3`, {
        git: `packfile ${f} is version ${version} and not supported (try upgrading GIT to a newer version)`,
        version,
      });
    }
    const count = readU32(head, 8);
    if (count !== this.idx.numObjects) {
      throw this.err(
        'PACK_MISMATCH',
        `${f}: header says ${count} objects, the index has ${this.idx.numObjects}`,
        {
          git: `packfile ${f} claims to have ${count} objects while index indicates ${this.idx.numObjects} objects`,
          count,
          indexCount: this.idx.numObjects,
        },
      );
    }
    const H = this.hash.size;
    if (this.size < H) {
      throw this.err('PACK_TOO_SHORT', `${f}: ${this.size} bytes, no room for a ${H}-byte trailer`, {
        git: `packfile ${f} signature is unavailable`,
        size: this.size,
      });
    }
    if (!checkTrailer) return;
    const trailer = this.src.peek(this.size - H, H);
    const expected = this.idx.packChecksum();
    if (compareBytes(trailer, 0, expected, 0, H) !== 0) {
      throw this.err(
        'PACK_MISMATCH',
        `${f}: trailer ${toHex(trailer)} differs from the index's pack checksum ${toHex(expected)}`,
        { git: `packfile ${f} does not match index` },
      );
    }
  }

  /** Number of objects, from the index. */
  get numObjects(): number {
    return this.idx.numObjects;
  }

  /** Parses the entry header at `offset` (§2.2): type, size, and the base field of deltas. */
  entryAt(offset: number): PackEntry {
    const e = this.parseEntry(offset, this.entrySlot);
    const ref = e.refBytes;
    const entry: PackEntry = {
      offset,
      type: e.type,
      size: e.size,
      headerLength: e.headerLength,
      dataOffset: e.dataOffset,
      baseOffset: e.baseOffset,
      baseOid: ref === undefined ? undefined : ref.slice(e.refAt, e.refAt + this.hash.size),
    };
    e.refBytes = undefined;
    return entry;
  }

  /**
   * `entryAt` into `slot`, which it returns. With `briefRef`, a REF_DELTA's base id is left in the
   * page that holds it (`refBytes` at `refAt`), valid only until the next read of this pack: for a
   * caller that uses it before reading the pack again.
   */
  private parseEntry(offset: number, slot: EntrySlot, briefRef = false): EntrySlot {
    // (Every error is built out of line: a short function is optimised sooner by V8.)
    if (!Number.isSafeInteger(offset) || offset < HEADER_SIZE || offset >= this.end) {
      throw this.badEntryOffset(offset);
    }
    const H = this.hash.size;
    const avail = this.end - offset;
    // The header's bytes: in place in their page (most headers), or copied when they straddle two.
    const want = Math.min(avail, 24 + H);
    const b = this.src.bytesAt(offset, want);
    let p = this.src.at;
    /** Where the header's bytes end in `b`. */
    const lim = p + want;
    const start = p;
    let c = b[p++];
    const type = (c >> 4) & 7;
    let size = c & 15;
    let scale = 16;
    while (c & 0x80) {
      // Git gives up when the next 7 bits would shift past its 64-bit size; we also when the
      // value leaves 2^53.
      if (scale >= 2 ** 64) throw this.sizeOverflow(offset);
      if (p >= lim) throw this.shortHeader(offset);
      c = b[p++];
      size += (c & 0x7f) * scale;
      scale *= 128;
      if (size > Number.MAX_SAFE_INTEGER) throw this.sizeOverflow(offset);
    }
    const headerLength = p - start;
    if (type === OBJ_OFS_DELTA) {
      // Big-endian base-128 with +1 per continuation (§2.2).
      if (p >= lim) throw this.shortHeader(offset);
      c = b[p++];
      let d = c & 0x7f;
      while (c & 0x80) {
        if (p >= lim) throw this.shortHeader(offset);
        d += 1;
        if (d >= 2 ** 46) throw this.ofsOverflow(offset);
        c = b[p++];
        d = d * 128 + (c & 0x7f);
      }
      if (d === 0 || d >= offset) throw this.ofsOutOfBounds(offset, d);
      return fill(slot, offset, type, size, headerLength, offset + (p - start), offset - d, undefined, 0);
    }
    if (type === OBJ_REF_DELTA) {
      if (p + H > lim) throw this.shortHeader(offset);
      const dataOffset = offset + (p - start) + H;
      if (briefRef) return fill(slot, offset, type, size, headerLength, dataOffset, undefined, b, p);
      // A copy: the page's buffer may be reused once the next page is read (src/io.ts, `bytesAt`).
      const ref = b.slice(p, p + H);
      return fill(slot, offset, type, size, headerLength, dataOffset, undefined, ref, 0);
    }
    if (type === 0 || type === 5) throw this.unknownType(offset, type);
    return fill(
      slot,
      offset,
      type as PackEntryType,
      size,
      headerLength,
      offset + (p - start),
      undefined,
      undefined,
      0,
    );
  }

  private badEntryOffset(offset: number): GitMidxError {
    const f = this.file;
    if (!Number.isSafeInteger(offset) || offset < HEADER_SIZE) {
      return this.err('PACK_BAD_OBJECT', `${f}: entry offset ${offset} lies inside the pack header`, {
        offset,
        git: 'offset before end of packfile (broken .idx?)',
      });
    }
    return this.err(
      'PACK_BAD_OBJECT',
      `${f}: entry offset ${offset} is past the entries (they end at ${Math.max(this.end, 0)})`,
      { offset, git: 'offset beyond end of packfile (truncated pack?)' },
    );
  }

  private ofsOverflow(offset: number): GitMidxError {
    return this.err('PACK_BAD_OBJECT', `${this.file}: OFS_DELTA distance at offset ${offset} overflows`, {
      offset,
      git: `pack has bad object at offset ${offset}: offset value overflow for delta base object`,
    });
  }

  private ofsOutOfBounds(offset: number, d: number): GitMidxError {
    return this.err(
      'PACK_BAD_OBJECT',
      `${this.file}: OFS_DELTA at offset ${offset} points ${d} bytes back, outside (0, ${offset})`,
      {
        offset,
        distance: d,
        git: `pack has bad object at offset ${offset}: delta base offset is out of bound`,
      },
    );
  }

  private unknownType(offset: number, type: number): GitMidxError {
    const f = this.file;
    return this.err('PACK_BAD_OBJECT', `${f}: entry at offset ${offset} has unknown type ${type}`, {
      offset,
      type,
      git: `unknown object type ${type} at offset ${offset} in ${f}`,
    });
  }

  private shortHeader(offset: number): GitMidxError {
    return this.err(
      'PACK_BAD_OBJECT',
      `${this.file}: entry header at offset ${offset} runs into the trailer`,
      {
        offset,
        git: 'bad object header',
      },
    );
  }

  /**
   * Reads and resolves the object whose entry starts at `offset`. Every size on the way (the
   * object, each delta, each delta result, the base) is checked against `maxObjectSize` as its
   * header declares it, before anything is inflated: beyond it, `OBJECT_TOO_LARGE`.
   */
  readAt(offset: number): PackObject {
    const data = this.read(offset, Number.POSITIVE_INFINITY)!;
    return { type: TYPE_NAMES[this.lastType], data };
  }

  /**
   * `readAt` without an object per answer, for hot loops: returns the bytes and leaves the type
   * number (1 commit, 2 tree, 3 blob, 4 tag) in `typeOfLast`.
   */
  dataAt(offset: number): Uint8Array {
    return this.read(offset, Number.POSITIVE_INFINITY)!;
  }

  /**
   * `dataAt` for a caller that only looks at the bytes, at once: they may be a buffer shared by
   * every pack (or the delta-base cache's own copy), valid until the next read of any pack, and
   * must not be written to. Saves an allocation per object for scans over whole repositories.
   */
  dataViewAt(offset: number): Uint8Array {
    return this.dataViewAtMost(offset, Number.POSITIVE_INFINITY)!;
  }

  /**
   * `dataViewAt`, except that a whole (non-delta) object larger than `wholeMax` is not read:
   * undefined then (as `readAtMost`).
   */
  dataViewAtMost(offset: number, wholeMax: number): Uint8Array | undefined {
    this.viewBase = -1;
    this.viewDelta = undefined;
    this.viewing = true;
    try {
      return this.read(offset, wholeMax);
    } finally {
      this.viewing = false;
    }
  }

  /**
   * `readAt`, except that a whole (non-delta) object larger than `wholeMax` is not read: undefined
   * then (for a caller that streams such objects with `openStream`).
   */
  readAtMost(offset: number, wholeMax: number): PackObject | undefined {
    const data = this.read(offset, wholeMax);
    return data === undefined ? undefined : { type: TYPE_NAMES[this.lastType], data };
  }

  /**
   * The whole (non-delta) object at `offset` as a stream of chunks of at most `chunkSize` bytes,
   * inflated as they are read, memory bounded by the chunk size whatever the object's size (no
   * `maxObjectSize` here: nothing is built in memory); undefined when the entry is a delta. The
   * stream reads this pack: use it up (or close it) before the pack is closed.
   */
  openStream(offset: number, chunkSize = 1 << 18): ObjectStream | undefined {
    const e = this.entryAt(offset);
    if (e.type >= OBJ_OFS_DELTA || this.inflater.stream === undefined) return undefined;
    this.checkAvail(e);
    return new InflatedObjectStream(TYPE_NAMES[e.type], this.inflateReader(e), chunkSize);
  }

  /** The object's bytes (its type left in `lastType`); undefined for a whole object over `wholeMax`. */
  private read(offset: number, wholeMax: number): Uint8Array | undefined {
    this.failLevel = -1;
    try {
      return this.walk(offset, wholeMax);
    } catch (e) {
      const failure = this.walkFailure(e);
      // A level above the object's own delta failed: its base may be read elsewhere, as Git does.
      if (
        this.readBaseElsewhere === undefined ||
        !(failure instanceof GitMidxError) ||
        !this.recoverable(failure)
      ) {
        throw failure;
      }
      return this.recover(failure);
    }
  }

  /** Whether `walkFailure` named levels whose bases Git would read elsewhere. */
  private recoverable(failure: GitMidxError): boolean {
    return Array.isArray(failure.data.baseOffsets) && failure.data.baseOffsets.length > 0;
  }

  /**
   * Git's way on after a failed level (docs/architecture.md, Errors): its lines are reported, then up
   * the chain each delta is applied to a base that is either the level just built or, when that
   * failed, the object read from another copy; a level that fails again is reported and skipped.
   * The object's bytes, or the failure (with nothing left to report) when no way up was found.
   */
  private recover(failure: GitMidxError): Uint8Array {
    const say = this.onReadError ?? (() => {});
    for (const line of failure.data.readErrors as unknown[]) say(String(line));
    const chain = this.chain;
    let base: Uint8Array | undefined;
    let type = 0;
    for (let i = (failure.data.baseOffsets as number[]).length - 1; i >= 0; i--) {
      const d = chain[i];
      if (base === undefined) {
        const found = this.readBaseElsewhere!(chain[i + 1].offset);
        if (found === undefined) continue;
        base = found.data;
        type = found.type;
      }
      try {
        const delta = this.inflateDelta(d);
        this.deltaOptions.offset = d.offset;
        base = applyDeltaPrefix(base, delta, d.size, this.deltaOptions);
      } catch (e) {
        if (!(e instanceof GitMidxError) || e.code === 'OBJECT_TOO_LARGE') throw e;
        const lines = Array.isArray(e.data.readErrors) ? e.data.readErrors : [e.data.git ?? e.message];
        for (const line of lines) say(String(line));
        base = undefined;
      }
    }
    if (base === undefined) {
      // (Everything is reported: the store says nothing more of this copy.)
      throw new GitMidxError(failure.code, failure.message, {
        file: failure.file,
        data: { ...failure.data, readErrors: [], baseOffsets: [] },
        cause: failure.cause,
      });
    }
    this.lastType = type;
    return base;
  }

  /**
   * Where `walk` is: the chain slot of the entry being inflated or applied (-1 while headers are
   * read), for the lines Git prints when a read fails there (`walkFailure`).
   */
  private failLevel = -1;

  /**
   * A read that failed inflating or applying the entry in chain slot `failLevel`: the error gains
   * the lines Git prints as its read fails (`data.readErrors`, when the failure did not set them)
   * and the levels Git then looks for elsewhere as it goes on up the chain, from the failed one to
   * the object's direct base (`data.baseOffsets`, their entries' offsets; `recover` below).
   */
  private walkFailure(e: unknown): unknown {
    const level = this.failLevel;
    if (level < 0 || !(e instanceof GitMidxError) || e.data.baseOffsets !== undefined) return e;
    if (e.code !== 'PACK_INFLATE' && e.code !== 'PACK_BAD_DELTA' && e.code !== 'PACK_BAD_OBJECT') return e;
    const readErrors = Array.isArray(e.data.readErrors)
      ? e.data.readErrors
      : [String(e.data.git ?? e.message)];
    const baseOffsets: number[] = [];
    for (let k = level; k >= 1; k--) baseOffsets.push(this.chain[k].offset);
    return new GitMidxError(e.code, e.message, {
      file: e.file,
      data: { ...e.data, readErrors, baseOffsets },
      cause: e.cause,
    });
  }

  /** `read` itself. */
  private walk(offset: number, wholeMax: number): Uint8Array | undefined {
    const hit = this.cachedBase(offset) ?? this.small?.get(offset);
    if (hit !== undefined) {
      this.lastType = hit.type;
      return this.viewing ? hit.data : copyOf(hit.data);
    }
    // Walk down to a whole object (or a cached base), remembering the deltas on the way (the first
    // `n` slots of `chain`); then apply them upwards. No recursion, so chains of any depth are fine.
    const chain = this.chain;
    if (chain.length > CHAIN_SLOTS_KEPT) chain.length = CHAIN_SLOTS_KEPT;
    let n = 0;
    // Offsets seen, kept only once the chain steps forwards: OFS bases lie earlier, so a chain
    // that only steps backwards cannot loop (most chains; no Set built for them).
    let seen: Set<number> | undefined;
    if (this.src.remote) {
      // Over a network: the entry and what lies before it in one request (a delta's bases are
      // usually written shortly before it), rather than a request per entry of the chain.
      const from = Math.max(HEADER_SIZE, offset - CHAIN_WINDOW);
      this.src.hint(from, Math.min(this.end, offset + ENTRY_WINDOW) - from);
    }
    // An object the last walk went through (a level between the object it read and the chain's
    // bottom): reads going down a chain, newest to oldest, as a file's history is read. This walk
    // then keeps every level it builds, and the reads after it find theirs in the cache.
    let downChain = false;
    for (let k = 1; k < this.prevLevels && k < chain.length; k++) {
      if (chain[k].offset === offset) {
        downChain = true;
        break;
      }
    }
    this.prevLevels = 0;
    let e = this.parseEntry(offset, this.chainSlot(0));
    if (e.type < OBJ_OFS_DELTA && e.size > wholeMax) return undefined;
    let baseType: number;
    let data: Uint8Array;
    /** The offset of the object at the bottom of the chain (whole, or found in the cache). */
    let bottom = -1;
    /** Which level buffer `data` is in (-1: none, it is owned or cached). */
    let inLevel = -1;
    /** Whether the walk stopped at an object found in the cache. */
    let fromCache = false;
    for (;;) {
      if (e.type < OBJ_OFS_DELTA) {
        baseType = e.type;
        this.failLevel = n;
        if (n === 0) {
          // Handed to the caller: its own bytes, never a view shared with anything else.
          const own = this.inflateOwned(e, 'object', this.viewing ? 'view' : 'own');
          const whole = own ?? ownedBytes(this.inflateEntry(e, 'object'));
          this.lastType = baseType;
          // A small tree read by a scan in pack order: most are the base of a tree delta further on.
          if (this.viewing && baseType === OBJ_TREE && whole.length <= ARENA_MAX) {
            this.cache.put(offset, baseType, whole, false, true);
          }
          this.keepSmall(offset, baseType, whole);
          return whole;
        }
        // A small base is inflated into level buffer 1 and kept as a copy in the cache's arena.
        const small = e.size <= ARENA_MAX;
        const own = this.inflateOwned(e, 'delta base', small ? 'level' : 'own');
        data = own ?? this.inflateEntry(e, 'delta base');
        const kept = this.cache.put(e.offset, baseType, data, own !== undefined, own !== undefined && small);
        if (kept === data && own !== undefined && small) inLevel = 1;
        data = kept;
        bottom = e.offset;
        break;
      }
      this.checkDeltaSizes(e, n === 0);
      n++;
      seen?.add(e.offset);
      const next = this.baseOffsetOf(e);
      if (seen === undefined && next >= e.offset) {
        seen = new Set();
        for (let k = 0; k < n; k++) seen.add(chain[k].offset);
      }
      this.checkCycle(offset, next, seen, n);
      const cached = this.cachedBase(next);
      if (cached !== undefined) {
        baseType = cached.type;
        data = cached.data;
        bottom = next;
        fromCache = true;
        break;
      }
      e = this.parseEntry(next, this.chainSlot(n));
    }
    // Two levels above a cached one: what reads along a chain in order meet (the object read
    // before this one was its base, and that one's base was kept), so the direct base is kept
    // whatever its size; the next read then builds on it.
    const inOrder = fromCache && n === 2;
    this.prevLevels = n;
    for (let i = n - 1; i >= 0; i--) {
      const d = chain[i];
      this.failLevel = i;
      const delta = this.inflateDelta(d);
      // The cache keeps the whole object at the bottom and the direct base of the object asked for
      // (reads in pack order: the next object's base), not every level between: on random reads of
      // long chains, copying each level out and evicting it costs more than rebuilding it does.
      // A level where the async API's time slice runs out is kept too: the re-run goes on from it.
      // The last result of a `dataViewAt` goes to the shared scratch (no other read has begun); an
      // intermediate result that the cache does not keep, to the level buffer `data` is not in.
      // A small level the cache keeps goes to a level buffer too, and the cache copies it into its
      // arena (no allocation of its own); a larger one, to fresh bytes the cache keeps as they are.
      // (Past ARENA_MAX the direct base is kept only for reads in order — a scan in pack order,
      // `dataViewAt`, or `inOrder` — for random reads, building a large level in bytes of its own
      // costs more than the reads that meet it again save: they start from the chain's bottom,
      // which the cache keeps. On git.git, random readObject about a third faster.)
      // (`delta` is exactly the delta's bytes; a header that does not parse fails here as applying
      // it would, with the same message.)
      this.deltaOptions.offset = d.offset;
      const keep =
        (i === 1 && (this.viewing || inOrder || deltaResultSize(delta, this.deltaOptions) <= ARENA_MAX)) ||
        (i > 1 && (downChain || overDeadline()));
      const level = i > 0 ? (inLevel === 0 ? 1 : 0) : -1;
      const opts =
        i === 0 && this.viewing
          ? this.viewOptions
          : level >= 0
            ? keep
              ? this.keepOptions[level]
              : this.levelOptions[level]
            : this.deltaOptions;
      opts.offset = d.offset;
      data = applyDeltaPrefix(data, delta, d.size, opts);
      inLevel = level >= 0 && (!keep || data.length <= ARENA_MAX) ? level : -1;
      if (i === 0 && this.viewing) {
        this.viewBase = n > 1 ? chain[1].offset : bottom;
        this.viewDelta = delta.length === d.size ? delta : delta.subarray(0, d.size);
      }
      if (keep) {
        const kept = this.levels.put(d.offset, baseType, data, true, inLevel >= 0);
        if (kept !== data) {
          data = kept;
          inLevel = -1;
        }
        // Driven by the async API and past its time slice: let the event loop run; the re-run
        // finds this intermediate result in the cache and goes on from it.
        if (overDeadline() && this.levels.get(d.offset) !== undefined) throw yieldPending();
      }
    }
    this.lastType = baseType;
    // A small delta result read by a scan in pack order: the next version along its chain, further
    // on, is a delta against it. Kept (a copy), it is not rebuilt from its own base — inflating its
    // delta again — for that read. (A bitmap write over a history: a third fewer inflations.)
    if (this.viewing && data.length <= ARENA_MAX) this.levels.put(offset, baseType, data, false, true);
    this.keepSmall(offset, baseType, data);
    return data;
  }

  /**
   * A small commit, tree or tag just read, kept (a copy: the caller owns what it is given) for
   * the next read of it; not for views (`dataViewAt`, which batch scans use: read once).
   */
  private keepSmall(offset: number, type: number, data: Uint8Array): void {
    const small = this.small;
    if (small === undefined || this.viewing || data.length > SMALL_OBJECT || type === OBJ_BLOB) return;
    small.put(offset, type, data, false, true);
  }

  /** The cached object at `offset`: a whole object at the bottom of a chain, or a level kept. */
  private cachedBase(offset: number): Cached | undefined {
    return this.cache.get(offset) ?? (this.levels !== this.cache ? this.levels.get(offset) : undefined);
  }

  /** Slot `i` of the delta chain `read` walks. */
  private chainSlot(i: number): EntrySlot {
    let slot = this.chain[i];
    if (slot === undefined) {
      slot = new EntrySlot();
      this.chain.push(slot);
    }
    return slot;
  }

  /**
   * Type and size of the object at `offset`, from headers only (§2.6): for a delta the size is the
   * target size in the delta header (only the start of its stream is inflated) and the type is that
   * of the whole object at the bottom of the chain.
   */
  infoAt(offset: number): PackObjectInfo {
    const size = this.sizeAt(offset);
    return { type: TYPE_NAMES[this.typeOfLast], size };
  }

  /** The type number of the object `sizeAt`, `dataAt` (or any read) answered last. */
  get typeOfLast(): number {
    return this.lastType;
  }

  /**
   * `infoAt` without an object per answer, for batches: returns the size and leaves the type
   * number (1 commit, 2 tree, 3 blob, 4 tag) in `typeOfLast`.
   */
  sizeAt(offset: number): number {
    const top = this.parseEntry(offset, this.infoSlot);
    if (top.type < OBJ_OFS_DELTA) {
      this.lastType = top.type;
      return top.size;
    }
    const size = this.deltaResultSize(top);
    this.lastType = this.chainType(top);
    return size;
  }

  /**
   * The delta base of the entry at `offset`, from its header only: for an OFS delta the base's
   * offset; for a REF delta -2, the base's id written to `out` at `at`; -1 for a whole object.
   * @internal
   */
  deltaBaseAt(offset: number, out: Uint8Array, at: number): number {
    // The base id is copied out before anything else is read: no copy of its own is needed.
    const e = this.parseEntry(offset, this.infoSlot, true);
    if (e.type === OBJ_OFS_DELTA) return e.baseOffset!;
    if (e.type !== OBJ_REF_DELTA) return -1;
    const ref = e.refBytes!;
    for (let i = 0; i < this.hash.size; i++) out[at + i] = ref[e.refAt + i];
    e.refBytes = undefined;
    return -2;
  }

  /**
   * The type number (1 commit, 2 tree, 3 blob, 4 tag) of the object at `offset`, from entry
   * headers only: nothing is inflated, a delta's chain is followed down to its whole object.
   */
  typeAt(offset: number): number {
    // chainType reads the base id before anything else of the pack: it may stay in its page.
    const top = this.parseEntry(offset, this.infoSlot, true);
    return top.type < OBJ_OFS_DELTA ? top.type : this.chainType(top);
  }

  /** The type of the whole object at the bottom of the delta `top`'s chain (memoised per chain). */
  private chainType(top: EntrySlot): number {
    const offset = top.offset;
    const known = this.chainTypes.get(offset);
    if (known !== undefined) return known;
    // As in readAt: the offsets on the way are collected only once the chain steps forwards.
    let seen: Set<number> | undefined;
    const path = this.path;
    path.length = 0;
    path.push(offset);
    let e = top;
    let type: number;
    for (let depth = 1; ; depth++) {
      const next = this.baseOffsetOf(e);
      if (seen === undefined && next >= e.offset) seen = new Set(path);
      this.checkCycle(offset, next, seen, depth);
      const memo = this.chainTypes.get(next);
      if (memo !== undefined) {
        type = memo;
        break;
      }
      const cached = this.cachedBase(next);
      if (cached !== undefined) {
        type = cached.type;
        break;
      }
      // Its base id is read at the top of the next step, before any other read of the pack.
      e = this.parseEntry(next, this.infoSlot, true);
      if (e.type < OBJ_OFS_DELTA) {
        type = e.type;
        break;
      }
      path.push(next);
      seen?.add(next);
    }
    // Every delta on the way has that type too: later questions about them (and about deltas
    // whose chains pass through them, as chains share bases) stop here.
    if (this.chainTypes.size + path.length > CHAIN_TYPES_MAX) this.chainTypes.clear();
    // (An indexed loop: cold code, run for every delta of a batch, would allocate an iterator
    // result per step of a for-of.)
    for (let k = 0; k < path.length; k++) this.chainTypes.set(path[k], type);
    if (path.length > CHAIN_SLOTS_KEPT) path.length = 0;
    return type;
  }

  /** The object `oid` (raw id bytes), or undefined when the index does not list it. */
  readObject(oid: Uint8Array): PackObject | undefined {
    const offset = this.offsetOf(oid);
    return offset === undefined ? undefined : this.readAt(offset);
  }

  /** Type and size of `oid`, or undefined when the index does not list it. */
  objectInfo(oid: Uint8Array): PackObjectInfo | undefined {
    const offset = this.offsetOf(oid);
    return offset === undefined ? undefined : this.infoAt(offset);
  }

  /**
   * Reads `oid` and checks that `"<type> <size>\0" + data` hashes to it (what `fsck` and
   * `index-pack` do; plain reads do not, §2.6). Returns the object, or undefined when the index
   * does not list it; throws `PACK_HASH_MISMATCH` when the content is not that object.
   */
  verifyObject(oid: Uint8Array): PackObject | undefined {
    const hashFn = this.hashFn;
    if (hashFn === undefined) {
      throw new GitMidxError('INVALID_ARGUMENT', `${this.file}: verifyObject needs a hashFn`, {
        file: this.file,
      });
    }
    const offset = this.offsetOf(oid);
    if (offset === undefined) return undefined;
    const obj = this.readAt(offset);
    const h = hashFn(this.hash);
    h.update(utf8(`${obj.type} ${obj.data.length}\0`));
    h.update(obj.data);
    const got = h.digest();
    if (compareBytes(got, 0, oid, 0, this.hash.size) !== 0) {
      const hex = toHex(oid, 0, this.hash.size);
      throw this.err(
        'PACK_HASH_MISMATCH',
        `${this.file}: object at offset ${offset} hashes to ${toHex(got)}, not ${hex}`,
        { offset, oid: hex, actual: toHex(got), git: `packed ${hex} from ${this.file} is corrupt` },
      );
    }
    return obj;
  }

  /** Drops the delta-base cache. */
  clearCache(): void {
    this.cache.clear();
    if (this.levels !== this.cache) this.levels.clear();
    this.small?.clear();
    this.deltaSizes.clear();
    this.chainTypes.clear();
  }

  /**
   * Drops the cached pages of the pack (not the delta-base cache), giving their buffers back to
   * the page pool: for a caller done with a run of reads in this pack.
   */
  releasePages(): void {
    this.src.releasePages();
  }

  /** Closes the pack reader (not the index). */
  close(): void {
    this.chain.length = 0;
    this.cache.clear();
    if (this.levels !== this.cache) this.levels.clear();
    this.small?.clear();
    this.deltaSizes.clear();
    this.chainTypes.clear();
    this.src.close();
  }

  // -------------------------------------------------------------------------------------------

  private offsetOf(oid: Uint8Array): number | undefined {
    if (oid.length < this.hash.size) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `${this.file}: object id of ${oid.length} bytes, expected ${this.hash.size}`,
        { file: this.file },
      );
    }
    const i = this.idx.findPosition(oid);
    if (i < 0) return undefined;
    const offset = this.idx.offsetAt(i);
    // Offset 0 is Git's "not found" (§1.3): such an entry makes the object silently missing.
    return offset === 0 ? undefined : offset;
  }

  private baseOffsetOf(e: EntrySlot): number {
    if (e.type === OBJ_OFS_DELTA) return e.baseOffset!;
    // REF_DELTA bases are looked up in this pack only (§2.2), their id read where it lies.
    const ref = e.refBytes!;
    const at = e.refAt;
    const i = this.idx.findPosition(ref, at);
    const base = i < 0 ? 0 : this.idx.offsetAt(i);
    if (base === 0) {
      const hex = toHex(ref, at, at + this.hash.size);
      throw this.err(
        'PACK_BAD_OBJECT',
        `${this.file}: REF_DELTA at offset ${e.offset} has base ${hex}, which is not in this pack`,
        {
          offset: e.offset,
          baseOid: hex,
          git: `failed to validate delta base reference at offset ${e.offset} from ${this.file}`,
        },
      );
    }
    return base;
  }

  private checkCycle(start: number, next: number, seen: Set<number> | undefined, depth: number): void {
    // OFS bases always lie earlier, so only REF_DELTA can loop; a chain longer than the pack has
    // objects must revisit an entry. (Observed: git 2.39.5 `cat-file` never returns on such a
    // pack; `index-pack`/`verify-pack` say `pack has 2 unresolved deltas`. Hence no data.git.)
    if (seen?.has(next) || depth > this.idx.numObjects) {
      throw this.err(
        'PACK_DELTA_CYCLE',
        `${this.file}: the delta chain from offset ${start} loops back to offset ${next} after ${depth} deltas`,
        { offset: start, loopsTo: next, depth },
      );
    }
  }

  /**
   * Before a delta is inflated: its own length and the result size its header declares, against
   * `maxObjectSize`. The result size needs the start of the delta inflated, so it is read only
   * when the delta's length could produce more than the limit (each delta byte makes at most
   * 64 KiB, so small deltas, nearly all of them, cost nothing here).
   */
  private checkDeltaSizes(d: PackEntry, top: boolean): void {
    const max = this.maxObjectSize;
    if (d.size > max) throw this.tooLarge(d, d.size, 'delta');
    if (d.size * DELTA_MAX_RATIO <= max) return;
    const result = this.deltaResultSize(d);
    if (result > max) throw this.tooLarge(d, result, top ? 'object' : 'delta base');
  }

  private tooLarge(e: PackEntry, size: number, role: 'object' | 'delta' | 'delta base'): GitMidxError {
    const what =
      role === 'object'
        ? `the object at offset ${e.offset}`
        : role === 'delta'
          ? `the delta at offset ${e.offset}`
          : `a delta base (the entry at offset ${e.offset})`;
    return new GitMidxError(
      'OBJECT_TOO_LARGE',
      `${this.file}: ${what} is ${size} bytes, more than the limit of ${this.maxObjectSize} bytes`,
      { file: this.file, data: { offset: e.offset, size, limit: this.maxObjectSize, role } },
    );
  }

  /** Checks a header size against our limit and against what the bytes left could inflate to. */
  private checkSize(e: PackEntry, role: 'object' | 'delta' | 'delta base'): number {
    // A size the bytes left cannot inflate to is a damaged header first, a large object second.
    const avail = this.checkAvail(e);
    if (e.size > this.maxObjectSize) throw this.tooLarge(e, e.size, role);
    return avail;
  }

  /** Checks a header size against what the bytes left could inflate to. */
  private checkAvail(e: PackEntry): number {
    const avail = this.end - e.dataOffset;
    if (avail <= 0) {
      throw this.err(
        'PACK_INFLATE',
        `${this.file}: entry at offset ${e.offset} has no data before the trailer`,
        {
          offset: e.offset,
          git: `offset beyond end of packfile (truncated pack?)`,
        },
      );
    }
    if (e.size > avail * MAX_INFLATE_RATIO + 64) {
      throw this.err(
        'PACK_BAD_OBJECT',
        `${this.file}: entry at offset ${e.offset} claims ${e.size} bytes; ${avail} bytes of pack cannot inflate to that`,
        { offset: e.offset, size: e.size, git: 'bad object header' },
      );
    }
    return avail;
  }

  /** A streaming inflater over the entry's payload, which must inflate to exactly its header size. */
  private inflateReader(e: PackEntry): InflateReader {
    return new InflateReader({
      read: (into, off, len, pos) => this.src.readInto(into, off, len, pos),
      start: e.dataOffset,
      end: this.end,
      size: e.size,
      stream: this.inflater.stream!(),
      inputChunk: STREAM_INPUT,
      fail: (problem, cause) => this.streamError(e, problem, cause),
    });
  }

  private streamError(e: PackEntry, problem: InflateProblem, cause: unknown): GitMidxError {
    if (cause instanceof GitMidxError) return cause;
    if (problem === 'corrupt' || problem === 'truncated') {
      return this.inflateError(e, cause, problem === 'truncated');
    }
    const how = problem === 'short' ? 'fewer' : 'more';
    return this.err(
      'PACK_INFLATE',
      `${this.file}: entry at offset ${e.offset} inflates to ${how} bytes than the ${e.size} its header says`,
      {
        offset: e.offset,
        size: e.size,
        git: this.inflateWording(e),
        readErrors: this.readErrorLines(e, undefined),
      },
    );
  }

  /**
   * `window` for a use that ends before the next read of this pack (the page's buffer may be
   * reused after that): no view of the page is lent.
   */
  private briefWindow(pos: number, len: number): Uint8Array {
    if (len > this.src.pageSize) return this.src.readUncached(pos, len);
    const b = this.src.bytesAt(pos, len);
    return b.subarray(this.src.at, this.src.at + len);
  }

  /** Bytes `[pos, pos + len)`: small windows through the page cache, large ones around it. */
  private window(pos: number, len: number): Uint8Array {
    return len <= this.src.pageSize ? this.src.read(pos, len) : this.src.readUncached(pos, len);
  }

  /**
   * A whole entry inflated straight into bytes of its own (under STREAM_INFLATE_MIN); undefined
   * when that path does not apply or the inflater leaves the stream to `inflateEntry`.
   */
  private inflateOwned(
    e: PackEntry,
    role: 'object' | 'delta base',
    /** 'view': into the shared result buffer; 'level': into level buffer 1; 'own': fresh bytes. */
    into: 'own' | 'view' | 'level',
  ): Uint8Array | undefined {
    if (e.size >= STREAM_INFLATE_MIN || this.inflater.inflateExact === undefined) return undefined;
    const avail = this.checkSize(e, role);
    if (into !== 'own') {
      // Scratch with a byte of room past the object (see Inflater.inflateExact).
      const room =
        into === 'view'
          ? resultScratch(e.size + 1, this.inflater.allocate)
          : levelScratch(1, e.size + 1, this.inflater.allocate);
      return this.inflateInto(e, avail, room) ? room.subarray(0, e.size) : undefined;
    }
    const out = allocateObjectBytes(e.size, this.file, this.inflater.allocate);
    return this.inflateInto(e, avail, out) ? out : undefined;
  }

  /**
   * A delta's bytes: the first `d.size` bytes of the result, which for a small delta is a buffer
   * this pack reuses (valid until the next delta is inflated).
   */
  private inflateDelta(d: PackEntry): Uint8Array {
    if (d.size < STREAM_INFLATE_MIN && this.inflater.inflateExact !== undefined) {
      const avail = this.checkSize(d, 'delta');
      let out: Uint8Array;
      if (d.size < DELTA_BUF_MAX) {
        // At least a byte of room past the delta (see Inflater.inflateExact).
        if (this.deltaBuf === undefined || this.deltaBuf.length <= d.size) {
          this.deltaBuf = new Uint8Array(Math.min(DELTA_BUF_MAX, Math.max(512, 2 * d.size)));
        }
        out = this.deltaBuf;
      } else out = allocateObjectBytes(d.size, this.file, this.inflater.allocate);
      if (this.inflateInto(d, avail, out)) return out.length === d.size ? out : out.subarray(0, d.size);
    }
    return this.inflateEntry(d, 'delta');
  }

  /**
   * `inflateExact` of the entry's stream, read in place in its page, into `out[0, e.size)`; false
   * when it did not answer (`inflateEntry` then reports the exact outcome).
   */
  private inflateInto(e: PackEntry, avail: number, out: Uint8Array): boolean {
    const size = e.size;
    // deflate's worst case for `size` bytes, plus room for the zlib header and trailer.
    const win = Math.min(avail, size + Math.floor(size / 16000) * 5 + 64);
    if (win <= this.src.pageSize) {
      const input = this.src.bytesAt(e.dataOffset, win);
      const at = this.src.at;
      return this.inflater.inflateExact!(input, at, at + win, out, size) >= 0;
    }
    // Longer than a page: read around the page cache into the shared scratch buffer.
    if (inputScratch === undefined || inputScratch.length < win) {
      inputScratch = new Uint8Array(Math.max(win, 2 * (inputScratch?.length ?? 0), 64 * 1024));
    }
    const input = inputScratch;
    this.src.readInto(input, 0, win, e.dataOffset);
    return this.inflater.inflateExact!(input, 0, win, out, size) >= 0;
  }

  /** Inflates an entry's payload; its length must equal the header size exactly (§2.3). */
  private inflateEntry(e: PackEntry, role: 'object' | 'delta' | 'delta base'): Uint8Array {
    const avail = this.checkSize(e, role);
    const size = e.size;
    if (size >= STREAM_INFLATE_MIN && this.inflater.stream !== undefined) {
      // Straight into a buffer of the declared size, input read a piece at a time: 1× memory.
      // Over a network, the whole compressed payload (deflate's bound) is fetched in one go.
      this.src.hint(e.dataOffset, Math.min(avail, size + Math.floor(size / 16000) * 5 + 64, HINT_MAX));
      const r = this.inflateReader(e);
      try {
        const out = r.readAll(EAGER_ALLOCATION, (n) =>
          allocateObjectBytes(n, this.file, this.inflater.allocate),
        );
        r.end();
        return out;
      } finally {
        r.close();
      }
    }
    // deflate's worst case for `size` bytes, plus room for the zlib header and trailer.
    const bound = size + Math.floor(size / 16000) * 5 + 64;
    const maxWin = Math.min(avail, 2 * bound + 1024 * 1024);
    let win = Math.min(avail, bound);
    for (;;) {
      const input = this.window(e.dataOffset, win);
      let r: InflateResult;
      try {
        r = this.inflater.inflate(input, size);
      } catch (cause) {
        if (cause instanceof GitMidxError) throw cause;
        const truncated =
          typeof cause === 'object' &&
          cause !== null &&
          (cause as { truncated?: unknown }).truncated === true;
        if (truncated && win < maxWin) {
          // Longer than deflate's bound (an unusual encoder): widen the window, within reason.
          win = Math.min(maxWin, win * 2);
          continue;
        }
        throw this.inflateError(e, cause, truncated && win >= avail);
      }
      if (r.data.length !== size) {
        throw this.err(
          'PACK_INFLATE',
          `${this.file}: entry at offset ${e.offset} inflates to ${r.data.length} bytes, the header says ${size}`,
          {
            offset: e.offset,
            size,
            actual: r.data.length,
            git: this.inflateWording(e),
            readErrors: this.readErrorLines(e, undefined),
          },
        );
      }
      return r.data;
    }
  }

  private inflateWording(e: PackEntry): string {
    return e.type >= OBJ_OFS_DELTA
      ? `failed to unpack compressed delta at offset ${e.dataOffset} from ${this.file}`
      : `inflate: data stream error`;
  }

  /**
   * The lines Git prints when an entry's stream fails in its read of an object: zlib's complaint
   * when the stream itself is damaged (none for a stream that ends early or runs long: Git's
   * inflate then fails without a word), then for a delta that the delta could not be unpacked
   * (where its data starts). Git says nothing more of a whole object: the caller names it.
   */
  private readErrorLines(e: PackEntry, cause: unknown): string[] {
    const lines: string[] = [];
    const zlib = zlibComplaint(cause);
    if (zlib !== undefined) lines.push(zlib);
    if (e.type >= OBJ_OFS_DELTA) lines.push(this.inflateWording(e));
    return lines;
  }

  private inflateError(e: PackEntry, cause: unknown, atEnd: boolean): GitMidxError {
    const why = cause instanceof Error ? cause.message : String(cause);
    return this.err(
      'PACK_INFLATE',
      `${this.file}: cannot inflate the entry at offset ${e.offset}${atEnd ? ' (it runs into the trailer)' : ''}: ${why}`,
      {
        offset: e.offset,
        git: e.type >= OBJ_OFS_DELTA ? this.inflateWording(e) : `inflate: data stream error (${why})`,
        readErrors: this.readErrorLines(e, cause),
      },
      cause,
    );
  }

  /**
   * Target size of a delta entry from its header, inflating only the start of its stream. Each
   * answer is remembered by offset (a pack's bytes do not change under an open reader), so asking
   * about the same delta again costs no inflate.
   */
  private deltaResultSize(e: PackEntry): number {
    const known = this.deltaSizes.get(e.offset);
    if (known !== undefined) return known;
    const size = this.deltaResultSizeUncached(e);
    if (this.deltaSizes.size >= DELTA_SIZES_MAX) this.deltaSizes.clear();
    this.deltaSizes.set(e.offset, size);
    return size;
  }

  private deltaResultSizeUncached(e: PackEntry): number {
    const want = Math.min(e.size, DELTA_HEADER_MAX);
    let prefix: Uint8Array | undefined;
    if (this.inflater.inflatePrefix !== undefined) {
      // Like Git, trust the header's delta length here: only the first bytes are inflated.
      const avail = this.end - e.dataOffset;
      if (avail <= 0) this.checkAvail(e);
      const input = this.briefWindow(
        e.dataOffset,
        Math.min(avail, e.size + Math.floor(e.size / 16000) * 5 + 64, PREFIX_INPUT),
      );
      try {
        prefix = this.inflater.inflatePrefix(input, want);
      } catch (cause) {
        throw this.err(
          'PACK_INFLATE',
          `${this.file}: cannot inflate the start of the delta at offset ${e.offset}: ${
            cause instanceof Error ? cause.message : String(cause)
          }`,
          {
            offset: e.offset,
            git: 'delta data unpack-initial failed',
            // (zlib's complaint first, as Git's inflate prints it.)
            readErrors: [
              ...(zlibComplaint(cause) === undefined ? [] : [zlibComplaint(cause)!]),
              'delta data unpack-initial failed',
            ],
          },
          cause,
        );
      }
      // Not enough from the prefix window (a stream of many empty blocks): inflate it all.
      if (prefix.length < want) prefix = undefined;
    }
    if (prefix === undefined) prefix = this.inflateEntry(e, 'delta');
    // The context errors name (the options of every delta applied: no object per call).
    const ctx = this.deltaOptions;
    ctx.offset = e.offset;
    return deltaResultSize(prefix.length > e.size ? prefix.subarray(0, e.size) : prefix, ctx);
  }

  private sizeOverflow(offset: number): GitMidxError {
    return this.err(
      'PACK_BAD_OBJECT',
      `${this.file}: size in the entry header at offset ${offset} overflows`,
      {
        offset,
        git: 'bad object header',
      },
    );
  }

  private err(
    code:
      | 'PACK_TOO_SHORT'
      | 'PACK_BAD_SIGNATURE'
      | 'PACK_BAD_VERSION'
      | 'PACK_MISMATCH'
      | 'PACK_BAD_OBJECT'
      | 'PACK_DELTA_CYCLE'
      | 'PACK_INFLATE'
      | 'PACK_HASH_MISMATCH',
    message: string,
    data: Record<string, unknown>,
    cause?: unknown,
  ): GitMidxError {
    return new GitMidxError(code, message, { file: this.file, data, cause });
  }
}
