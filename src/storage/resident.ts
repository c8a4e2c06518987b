/**
 * One implementation, two APIs. The store's parsing and lookup code is synchronous: it reads files
 * through `StoreFiles`, whose answers are either there at once (Node files, memory) or resident in a
 * cache. When an answer is not resident yet, the read throws a `Pending` that says how to get it;
 * `drive()` waits for that and runs the operation again, which now gets further. Every operation of
 * the store is written to be re-run from the start: it changes nothing but caches before its last
 * read (see docs/architecture.md, "Storage and the async store").
 *
 * Loads are coalesced: ranges of one file asked for in the same tick (concurrent operations) that
 * touch or nearly touch become one read, so one HTTP request.
 */
import { GitMidxError } from '../errors.js';
import type { RandomAccessReader } from '../io.js';
import { type AsyncFile, type FileStat, isPromise, type Storage } from './storage.js';

/**
 * Thrown by a read whose bytes are not resident: `settle` resolves once they are (or rejects with
 * the read's error). Not an Error: code that sorts failures into "damaged copy" and "bug" must let
 * it through, and does (its catch blocks rethrow what is not a GitMidxError or an fs error).
 */
export class Pending {
  constructor(readonly settle: Promise<void>) {}
}

export function isPending(e: unknown): e is Pending {
  return e instanceof Pending;
}

/** Gives the event loop a turn (a macrotask: timers and I/O run first). */
export const yieldToLoop: () => Promise<void> =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? () =>
        new Promise((r) =>
          (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate(r),
        )
    : () => new Promise((r) => setTimeout(r, 0));

/** When the operation being driven should give the event loop a turn (ms, `performance.now()`). */
let deadline = Number.POSITIVE_INFINITY;

/**
 * Whether a driven operation has used up its time slice: long work that leaves its progress in a
 * cache (a delta chain, src/pack/pack.ts) then throws `yieldPending()` and goes on when re-run.
 * Always false outside `drive` (the synchronous API never yields).
 */
export function overDeadline(): boolean {
  return deadline !== Number.POSITIVE_INFINITY && performance.now() > deadline;
}

/** A Pending that only waits for a turn of the event loop. */
export function yieldPending(): Pending {
  return new Pending(yieldToLoop());
}

/**
 * Runs `fn(arg)` once with a time slice of `sliceMs` (Infinity: none); what it throws passes
 * through. (`arg` spares a batch a closure per item.)
 */
export function runSliced<T, A = undefined>(fn: (arg: A) => T, sliceMs: number, arg?: A): T {
  const outer = deadline;
  deadline = sliceMs === Number.POSITIVE_INFINITY ? sliceMs : performance.now() + sliceMs;
  try {
    return fn(arg as A);
  } finally {
    deadline = outer;
  }
}

/**
 * Runs `fn` until it stops asking for bytes; at most `maxAttempts` times. With `sliceMs`, long
 * work inside it may stop after that long to let the event loop run, and is re-run afterwards.
 */
export async function drive<T>(
  fn: () => T,
  maxAttempts = 100000,
  sliceMs = Number.POSITIVE_INFINITY,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return sliceMs === Number.POSITIVE_INFINITY ? fn() : runSliced(fn, sliceMs);
    } catch (e) {
      if (!(e instanceof Pending)) throw e;
      if (attempt >= maxAttempts) {
        throw new GitMidxError(
          'IO_ERROR',
          `an operation asked for more bytes than the storage cache keeps (${attempt} loads); raise cacheBytes`,
        );
      }
      await e.settle;
    }
  }
}

/** A reader that can be told a range will be read soon, so that it is fetched in one go. */
export interface HintedReader extends RandomAccessReader {
  /** Makes `[position, position + length)` resident in one load (throws Pending while it is not). */
  hint(position: number, length: number): void;
  /** `hint` for several ranges: every missing one is asked for before the wait. */
  hintMany?(ranges: readonly (readonly [number, number])[]): void;
  /** Whether reads cost a round trip. */
  readonly remote: boolean;
}

/** Asks a reader to make a range resident, when it knows how (a no-op for files and memory). */
export function hintRange(reader: RandomAccessReader, position: number, length: number): void {
  const h = (reader as Partial<HintedReader>).hint;
  if (h !== undefined) {
    const end = Math.min(reader.size, position + length);
    if (end > position) h.call(reader, position, end - position);
  }
}

/** `hintRange` for several ranges: the missing ones are asked for together, then one wait. */
export function hintRanges(reader: RandomAccessReader, ranges: readonly (readonly [number, number])[]): void {
  const r = reader as Partial<HintedReader>;
  if (r.hintMany !== undefined) {
    r.hintMany.call(reader, ranges);
    return;
  }
  for (const [p, n] of ranges) hintRange(reader, p, n);
}

export function isRemoteReader(reader: RandomAccessReader): boolean {
  return (reader as Partial<HintedReader>).remote === true;
}

/** The synchronous view of a storage the store reads through. */
export interface StoreFiles {
  readonly name: string;
  readonly remote: boolean;
  /** Whether some answers come later (the store must then be driven by `drive`). */
  readonly async: boolean;
  list(dir: string): string[] | undefined | null;
  readFile(path: string, maxBytes: number): Uint8Array | undefined;
  stat(path: string): FileStat | undefined;
  open(path: string): RandomAccessReader | undefined;
  resolve(base: string, relative: string): string;
  /** Forgets what was listed, read and stat'ed (a re-scan must see the storage as it is now). */
  forget(): void;
}

export interface ResidentOptions {
  /** Bytes per cached block of a file read asynchronously (default 16 KiB; 4 KiB when remote). */
  blockSize?: number;
  /** Budget of all cached blocks, in bytes (default 64 MiB). */
  cacheBytes?: number;
  /** Ranges closer than this many bytes are read as one (default 16 KiB). */
  mergeGap?: number;
  /**
   * Whether the storage answers later (default: learnt from its first Promise). Set it for a
   * storage that always does, so that the sync API refuses it at once.
   */
  async?: boolean;
  /**
   * For the synchronous API: an answer that comes as a Promise is `STORAGE_ASYNC` (use the
   * async API), never a wait.
   */
  sync?: boolean;
}

type Slot<T> = { value: T } | { pending: Pending } | { error: unknown };

/**
 * The store's view of a storage: answers that are there at once pass through; answers that come
 * later are cached, and asked for by throwing `Pending`.
 */
export function storeFiles(storage: Storage, options: ResidentOptions = {}): StoreFiles {
  return new Resident(storage, options);
}

class Resident implements StoreFiles {
  readonly name: string;
  readonly remote: boolean;
  async: boolean;
  /** In sync mode, the error of the first answer that came as a Promise. */
  refused: GitMidxError | undefined;
  private readonly cache = new Map<string, Slot<unknown>>();
  private readonly blocks: BlockCache;
  private readonly handles = new Map<string, Handle>();

  constructor(
    private readonly storage: Storage,
    private readonly options: ResidentOptions,
  ) {
    this.name = storage.name;
    this.remote = storage.remote;
    this.async = options.async ?? false;
    this.blocks = new BlockCache(options.cacheBytes ?? 64 * 1024 * 1024);
  }

  private answer<T>(key: string, call: () => T | Promise<T>): T {
    const hit = this.cache.get(key) as Slot<T> | undefined;
    if (hit !== undefined) {
      if ('value' in hit) return hit.value;
      if ('error' in hit) {
        this.cache.delete(key);
        throw hit.error;
      }
      throw hit.pending;
    }
    const r = call();
    if (!isPromise(r)) return r;
    if (this.options.sync === true) {
      r.catch(() => {});
      this.refused ??= new GitMidxError(
        'STORAGE_ASYNC',
        `${this.name}: this storage answers asynchronously; read it with AsyncObjectStore`,
        { data: { storage: this.name } },
      );
      throw this.refused;
    }
    this.async = true;
    const pending = new Pending(
      r.then(
        (value) => {
          this.cache.set(key, { value });
        },
        (error) => {
          this.cache.set(key, { error });
        },
      ),
    );
    this.cache.set(key, { pending });
    throw pending;
  }

  list(dir: string): string[] | undefined | null {
    return this.answer(`l\0${dir}`, () => this.storage.list(dir));
  }

  readFile(path: string, maxBytes: number): Uint8Array | undefined {
    return this.answer(`r\0${maxBytes}\0${path}`, () => this.storage.readFile(path, maxBytes));
  }

  stat(path: string): FileStat | undefined {
    return this.answer(`s\0${path}`, () => this.storage.stat(path));
  }

  open(path: string): RandomAccessReader | undefined {
    const key = `o\0${path}`;
    const f = this.answer(key, () => this.storage.open(path));
    if (f === undefined) {
      this.cache.delete(key);
      return undefined;
    }
    if (typeof (f as RandomAccessReader).readInto === 'function') {
      // A file opened at once is the caller's: the next open of the path is a new one.
      this.cache.delete(key);
      return f as RandomAccessReader;
    }
    // A file opened later stays open, shared by every reader of the path, until `forget()`: an
    // operation re-run after a wait opens it again and finds its blocks still there.
    const file = f as AsyncFile;
    let h = this.handles.get(path);
    if (h === undefined || h.file !== file) {
      h = { file, readers: 0, prefix: file.prefix, inflight: new Map(), queue: [] };
      this.handles.set(path, h);
    }
    const bs = this.options.blockSize ?? (this.remote ? 4096 : 16384);
    return new ResidentReader(h, path, bs, this.options.mergeGap ?? 16384, this.blocks, this.remote);
  }

  resolve(base: string, relative: string): string {
    return this.storage.resolve(base, relative);
  }

  forget(): void {
    for (const [k, v] of this.cache) if (!('pending' in v)) this.cache.delete(k);
    for (const [path, h] of this.handles) {
      if (h.readers > 0) continue;
      this.handles.delete(path);
      this.blocks.drop(path);
      h.file.close();
    }
  }
}

/** One file's cached blocks, by block number. */
type FileBlocks = Map<number, Uint8Array>;

/**
 * Cached blocks of every file of one storage, evicted oldest first beyond the budget. Blocks are
 * kept per file under their number (no key built per access).
 */
class BlockCache {
  private readonly files = new Map<string, FileBlocks>();
  /** Insertion order, for eviction: file blocks and block numbers, side by side. */
  private order: { f: FileBlocks; b: number }[] = [];
  private head = 0;
  private bytes = 0;
  constructor(private readonly budget: number) {}

  file(path: string): FileBlocks {
    let f = this.files.get(path);
    if (f === undefined) {
      f = new Map();
      this.files.set(path, f);
    }
    return f;
  }

  put(f: FileBlocks, b: number, block: Uint8Array): void {
    const old = f.get(b);
    if (old !== undefined) this.bytes -= old.length;
    else this.order.push({ f, b });
    f.set(b, block);
    this.bytes += block.length;
    while (this.bytes > this.budget && this.head < this.order.length - 1) {
      const v = this.order[this.head++];
      const blk = v.f.get(v.b);
      if (blk !== undefined) {
        v.f.delete(v.b);
        this.bytes -= blk.length;
      }
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  drop(path: string): void {
    const f = this.files.get(path);
    if (f === undefined) return;
    for (const blk of f.values()) this.bytes -= blk.length;
    f.clear();
    this.files.delete(path);
  }
}

/** An async file kept open for its readers, with its loads in flight. */
interface Handle {
  file: AsyncFile;
  readers: number;
  /** Bytes read at open, not yet moved into the block cache. */
  prefix: Uint8Array | undefined;
  /** Blocks being loaded: block number → the load. */
  inflight: Map<number, Pending>;
  /** Block ranges asked for in this tick, read together at its end. */
  queue: { first: number; last: number; done: (e?: unknown) => void }[];
}

/** Positioned reads over an async file through resident blocks (keyed by path, shared by readers). */
class ResidentReader implements HintedReader {
  readonly size: number;
  /** This file's blocks in the cache. */
  private readonly own: FileBlocks;
  private readonly file: AsyncFile;
  private readonly inflight: Map<number, Pending>;
  private closed = false;

  constructor(
    private readonly h: Handle,
    private readonly path: string,
    private readonly bs: number,
    private readonly mergeGap: number,
    private readonly blocks: BlockCache,
    readonly remote: boolean,
  ) {
    this.file = h.file;
    this.size = h.file.size;
    this.own = blocks.file(path);
    this.inflight = h.inflight;
    h.readers++;
    const p = h.prefix;
    if (p !== undefined) {
      // Whole blocks of what was read at open (and the last, short block when it ends the file).
      h.prefix = undefined;
      for (let b = 0; b * bs < p.length; b++) {
        const end = (b + 1) * bs;
        if (end > p.length && p.length !== this.size) break;
        this.blocks.put(this.own, b, p.slice(b * bs, Math.min(end, p.length)));
      }
    }
  }

  readInto(into: Uint8Array, offset: number, length: number, position: number): void {
    if (this.closed)
      throw new GitMidxError('MIDX_CLOSED', `${this.path}: read after close`, { file: this.path });
    const bs = this.bs;
    const first = Math.floor(position / bs);
    const last = Math.floor((position + Math.max(length, 1) - 1) / bs);
    for (let b = first; b <= last; b++) {
      if (!this.own.has(b)) this.fetch(b, last);
    }
    let done = 0;
    for (let b = first; b <= last && done < length; b++) {
      const blk = this.own.get(b)!;
      const from = b === first ? position - b * bs : 0;
      const n = Math.min(length - done, blk.length - from);
      into.set(blk.subarray(from, from + n), offset + done);
      done += n;
    }
  }

  hintMany(ranges: readonly (readonly [number, number])[]): void {
    const waits: Promise<void>[] = [];
    for (const [position, length] of ranges) {
      const end = Math.min(this.size, position + length);
      if (end <= position) continue;
      try {
        this.hint(position, end - position);
      } catch (e) {
        if (!(e instanceof Pending)) throw e;
        waits.push(e.settle);
      }
    }
    if (waits.length > 0) throw new Pending(Promise.all(waits).then(() => {}));
  }

  hint(position: number, length: number): void {
    const bs = this.bs;
    const first = Math.floor(position / bs);
    const last = Math.floor((position + length - 1) / bs);
    for (let b = first; b <= last; b++) {
      if (!this.own.has(b)) this.fetch(b, last);
    }
  }

  /** Throws the Pending of a load covering the missing blocks from `first` up to `last`. */
  private fetch(first: number, last: number): never {
    const wait = this.inflight.get(first);
    if (wait !== undefined) throw wait;
    // Load from the first missing block to the last block wanted, skipping none in between.
    let end = first;
    while (end < last && !this.inflight.has(end + 1)) end++;
    const queue = this.h.queue;
    const settle = new Promise<void>((resolve, reject) => {
      queue.push({ first, last: end, done: (e) => (e === undefined ? resolve() : reject(e)) });
      if (queue.length === 1) queueMicrotask(() => this.flush());
    });
    const pending = new Pending(settle);
    for (let b = first; b <= end; b++) this.inflight.set(b, pending);
    settle.catch(() => {});
    throw pending;
  }

  /** Reads the ranges queued in this tick, merging those that touch or nearly do. */
  private flush(): void {
    const q = this.h.queue.sort((a, b) => a.first - b.first);
    this.h.queue = [];
    const gap = Math.max(0, Math.floor(this.mergeGap / this.bs));
    let i = 0;
    while (i < q.length) {
      let j = i;
      let last = q[i].last;
      while (j + 1 < q.length && q[j + 1].first <= last + 1 + gap) {
        j++;
        last = Math.max(last, q[j].last);
      }
      this.load(q[i].first, last, q.slice(i, j + 1));
      i = j + 1;
    }
  }

  private load(first: number, last: number, waiters: { done: (e?: unknown) => void }[]): void {
    const bs = this.bs;
    const start = first * bs;
    const end = Math.min(this.size, (last + 1) * bs);
    this.file
      .read(start, end - start)
      .then(
        (bytes) => {
          if (bytes.length !== end - start) {
            throw new GitMidxError(
              'IO_ERROR',
              `${this.path}: short read (${bytes.length} of ${end - start} bytes at ${start})`,
              { file: this.path },
            );
          }
          for (let b = first; b <= last; b++) {
            const from = b * bs - start;
            // A copy per block: a view would keep the whole response alive for one block.
            this.blocks.put(this.own, b, bytes.slice(from, Math.min(from + bs, bytes.length)));
            this.inflight.delete(b);
          }
          for (const w of waiters) w.done();
        },
        (e) => {
          for (let b = first; b <= last; b++) this.inflight.delete(b);
          for (const w of waiters) w.done(e ?? new Error('read failed'));
        },
      )
      .catch((e) => {
        for (let b = first; b <= last; b++) this.inflight.delete(b);
        for (const w of waiters) w.done(e);
      });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.h.readers--;
  }
}
