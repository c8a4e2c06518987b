/**
 * The object store with Promises, over any storage: Node's `fs.promises`, memory, static HTTP.
 * Every method runs the synchronous store of src/store/object-store.ts through `drive()` (see
 * src/storage/resident.ts): the same parsing, lookup and delta code as the synchronous API, re-run
 * after each wait for bytes, which then are resident. Batches run several lookups at once (their
 * reads are coalesced into fewer requests) and give the event loop a turn every few milliseconds.
 */
import { GitMidxError } from '../errors.js';
import { type HashAlgorithm, type HashFunction, hashByName, SHA1 } from '../hash.js';
import { jsInflater } from '../pack/js-inflater.js';
import type { Inflater, ObjectType } from '../pack/pack.js';
import type { ObjectStream } from '../pack/stream.js';
import { jsHash } from '../sha.js';
import {
  drive,
  isPending,
  type ResidentOptions,
  runSliced,
  type StoreFiles,
  storeFiles,
  yieldToLoop,
} from '../storage/resident.js';
import { joinPath, type Storage } from '../storage/storage.js';
import {
  type ObjectDetails,
  type ObjectInfo,
  ObjectStore,
  type ObjectStoreCounters,
  type ObjectStoreOptions,
  type StoredObject,
  type StreamObjectOptions,
} from './object-store.js';
import { RefStore, RevisionResolver } from './revision.js';

export interface AsyncObjectStoreOptions extends ObjectStoreOptions {
  /** Where the files come from: `nodeAsyncStorage()`, `memoryStorage()`, `httpStorage(url)`, … */
  storage: Storage;
  /**
   * The repository's hash, or its name. Default: `extensions.objectFormat` of the repository's
   * `config` (the file next to the object directory), SHA-1 when it has none.
   */
  hash?: HashAlgorithm | 'sha1' | 'sha256';
  /** Alternate object directories, or `true` to read `info/alternates` (default true). */
  alternates?: readonly string[] | boolean;
  /** The inflater (default `jsInflater`; Node: `nodeInflater` from `git-midx/node` is faster). */
  inflate?: Inflater;
  /** The hash implementation (default `jsHash`; Node: `nodeHash`). */
  hashFn?: HashFunction;
  /** Block size and budget of the cache of bytes read from the storage (see ResidentOptions). */
  storageCache?: Pick<ResidentOptions, 'blockSize' | 'cacheBytes' | 'mergeGap'>;
  /** The git directory, where `HEAD`, `refs/` and `packed-refs` are (default: the object directory's parent). */
  gitDir?: string;
  /** Lookups a batch method runs at once (default 16; their reads are coalesced). */
  concurrency?: number;
  /** Longest stretch of work between two turns of the event loop, in milliseconds (default 4). */
  sliceMs?: number;
}

/** A stream of an object's bytes: chunks as an async iterator (each chunk is its own copy). */
export interface AsyncObjectStream extends AsyncIterable<Uint8Array> {
  readonly type: ObjectInfo['type'];
  /** Size in bytes. */
  readonly size: number;
  /** The next chunk, or undefined after the last one (which checks the object's end). */
  read(): Promise<Uint8Array | undefined>;
  close(): void;
}

const CONFIG_MAX = 1024 * 1024;

/** `extensions.objectFormat` from a config file's text (`[extensions] objectFormat = sha256`). */
export function objectFormatOf(configText: string): string | undefined {
  let section = '';
  let format: string | undefined;
  for (const raw of configText.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const sec = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"[^"]*")?\s*\]\s*(.*)$/.exec(line);
    if (sec) {
      section = sec[1].toLowerCase();
      if (sec[2] === '') continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(sec ? sec[2] : line);
    if (kv && section === 'extensions' && kv[1].toLowerCase() === 'objectformat') {
      format = (kv[2] ?? '')
        .replace(/^"(.*)"$/, '$1')
        .trim()
        .toLowerCase();
    }
  }
  return format;
}

/**
 * The object store through Promises. `await AsyncObjectStore.open({ storage, objectDir })`, then
 * `readObject`, `objectInfo`, `hasObject`, their batch forms, `resolvePrefix`, `objectIds()` (an
 * async iterator) and `streamObject`. Ids are `Uint8Array`s of the hash's size.
 */
export class AsyncObjectStore {
  readonly hash: HashAlgorithm;
  private readonly concurrency: number;
  private readonly sliceMs: number;
  private lastYield = Date.now();
  private revisions: RevisionResolver | undefined;
  private readonly gitDir: string;

  private constructor(
    private readonly store: ObjectStore,
    private readonly files: StoreFiles,
    opts: AsyncObjectStoreOptions,
  ) {
    this.hash = store.hash;
    this.concurrency = Math.max(1, opts.concurrency ?? 16);
    this.sliceMs = Math.max(0, opts.sliceMs ?? 4);
    this.gitDir = opts.gitDir ?? files.resolve(opts.objectDir, '..');
  }

  /**
   * The id a revision names, as `git rev-parse` resolves it: full or abbreviated ids, ref names,
   * `<rev>^{<type>}`, `<rev>^{}`, `<rev>~<n>`, `<rev>^<n>`, `<rev>:<path>` (REVISION_NOT_FOUND
   * when it names nothing; REFS_UNSUPPORTED for a reftable repository).
   */
  resolveRevision(rev: string): Promise<Uint8Array> {
    return this.run(() => {
      this.revisions ??= new RevisionResolver(
        this.store,
        new RefStore({ gitDir: this.gitDir, files: this.files, refStorage: this.refStorage() }),
      );
      return this.revisions.resolve(rev);
    });
  }

  /** `extensions.refStorage` of the repository's config, if any. */
  private refStorage(): string | undefined {
    const bytes = this.files.readFile(joinPath(this.gitDir, 'config'), CONFIG_MAX);
    if (bytes === undefined) return undefined;
    const m = /^\s*refstorage\s*=\s*(\S+)/im.exec(new TextDecoder().decode(bytes));
    return m?.[1];
  }

  /** Opens the store: its alternates, each MIDX and the packs each directory lists. */
  static async open(opts: AsyncObjectStoreOptions): Promise<AsyncObjectStore> {
    if (opts?.storage === undefined) {
      throw new GitMidxError('INVALID_ARGUMENT', 'AsyncObjectStore.open needs a storage');
    }
    if (typeof opts.objectDir !== 'string' || opts.objectDir === '') {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        'AsyncObjectStore.open needs objectDir, the object directory',
      );
    }
    const files = storeFiles(opts.storage, { ...opts.storageCache, async: true });
    const hash = await drive(() => hashOf(files, opts));
    const store = await drive(() =>
      ObjectStore.fromFiles(files, {
        ...opts,
        hash,
        inflate: opts.inflate ?? jsInflater,
        hashFn: opts.hashFn ?? jsHash,
        alternates: opts.alternates ?? true,
      }),
    );
    return new AsyncObjectStore(store, files, opts);
  }

  /** What lookups did (see ObjectStoreCounters). */
  get counters(): ObjectStoreCounters {
    return this.store.counters;
  }

  /** The object directories searched: the local one first, then the alternates in Git's order. */
  get objectDirs(): readonly string[] {
    return this.store.objectDirs;
  }

  /** The object's type, size and bytes, or undefined when it is missing (errors as `ObjectStore.readObject`). */
  readObject(oid: Uint8Array): Promise<StoredObject | undefined> {
    return this.run(() => this.store.readObject(oid));
  }

  /** Type and size, or undefined when missing. */
  objectInfo(oid: Uint8Array): Promise<ObjectInfo | undefined> {
    return this.run(() => this.store.objectInfo(oid));
  }

  /** The type alone, from entry headers (see ObjectStore.objectType). */
  objectType(oid: Uint8Array): Promise<ObjectType | undefined> {
    return this.run(() => this.store.objectType(oid));
  }

  /** Type, size, size on disk and delta base (`%(objectsize:disk)`, `%(deltabase)`), or undefined. */
  objectDetails(oid: Uint8Array): Promise<ObjectDetails | undefined> {
    return this.run(() => this.store.objectDetails(oid));
  }

  /** Whether the object exists. */
  hasObject(oid: Uint8Array): Promise<boolean> {
    return this.run(() => this.store.hasObject(oid));
  }

  /** The full id of a unique abbreviation (≥ 4 hex digits); undefined when none; `AMBIGUOUS_PREFIX` when several. */
  resolvePrefix(hexPrefix: string): Promise<Uint8Array | undefined> {
    return this.run(() => this.store.resolvePrefix(hexPrefix));
  }

  /** `readObject` for many ids, answers in input order. */
  readObjects(oids: readonly Uint8Array[]): Promise<(StoredObject | undefined)[]> {
    return this.each(oids, (oid) => this.store.readObject(oid));
  }

  /** `objectInfo` for many ids, answers in input order. */
  objectInfos(oids: readonly Uint8Array[]): Promise<(ObjectInfo | undefined)[]> {
    return this.each(oids, (oid) => this.store.objectInfo(oid));
  }

  /** `objectDetails` for many ids, answers in input order. */
  objectDetailsMany(oids: readonly Uint8Array[]): Promise<(ObjectDetails | undefined)[]> {
    return this.each(oids, (oid) => this.store.objectDetails(oid));
  }

  /** `hasObject` for many ids, answers in input order. */
  hasObjects(oids: readonly Uint8Array[]): Promise<boolean[]> {
    return this.each(oids, (oid) => this.store.hasObject(oid));
  }

  /**
   * Every object id (hex, sorted, no duplicates), local and in alternates, packed and loose (loose
   * ones only where the storage can list directories), as an async iterator.
   */
  async *objectIds(): AsyncGenerator<string> {
    const all = await this.run(() => this.store.allObjectIdsHex());
    for (let i = 0; i < all.length; i++) {
      if ((i & 1023) === 0) await this.breathe();
      yield all[i];
    }
  }

  /**
   * The object as a stream of chunks (undefined when missing): whole objects of any size are
   * inflated as they are read, with memory bounded by the chunk size.
   */
  async streamObject(
    oid: Uint8Array,
    opts: StreamObjectOptions = {},
  ): Promise<AsyncObjectStream | undefined> {
    const s = await this.run(() => this.store.streamObject(oid, opts));
    return s === undefined ? undefined : new DrivenStream(s, this.sliceMs);
  }

  /** Re-reads the pack directories (and MIDX files that changed). */
  async rescan(): Promise<void> {
    this.files.forget();
    await this.run(() => this.store.rescan());
  }

  /** Releases every open file. */
  close(): void {
    this.store.close();
    this.files.forget();
  }

  /** Runs one operation to its end, then lets the event loop have a turn if its slice is used up. */
  private async run<T>(fn: () => T): Promise<T> {
    const r = await drive(fn, undefined, this.sliceMs);
    if (this.sliceUsed()) await this.breathe();
    return r;
  }

  private async breathe(): Promise<void> {
    if (this.sliceUsed()) {
      await yieldToLoop();
      this.lastYield = Date.now();
    }
  }

  /** Whether the event loop is owed a turn. */
  private sliceUsed(): boolean {
    return Date.now() - this.lastYield >= this.sliceMs;
  }

  /** `fn` over every id, `concurrency` at a time; answers in input order. */
  private async each<T>(oids: readonly Uint8Array[], fn: (oid: Uint8Array) => T): Promise<T[]> {
    const out = new Array<T>(oids.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < oids.length) {
        const k = next++;
        const oid = oids[k];
        // Answered at once when its bytes are resident; else waits, and others go on meanwhile.
        try {
          out[k] = runSliced(fn, this.sliceMs, oid);
        } catch (e) {
          if (!isPending(e)) throw e;
          await e.settle.catch(() => {});
          out[k] = await drive(() => fn(oid), undefined, this.sliceMs);
        }
        // (Checked here first: a call of the async `breathe` costs a Promise even when it does not wait.)
        if (this.sliceUsed()) await this.breathe();
      }
    };
    const n = Math.min(this.concurrency, Math.max(1, oids.length));
    await Promise.all(Array.from({ length: n }, worker));
    return out;
  }
}

/** The repository's hash: given, or from `<objectDir>/../config`. */
function hashOf(files: StoreFiles, opts: AsyncObjectStoreOptions): HashAlgorithm {
  const h = opts.hash;
  if (typeof h === 'object' && h !== null) return h;
  if (typeof h === 'string') {
    const found = hashByName(h);
    if (found === undefined) throw new GitMidxError('INVALID_ARGUMENT', `unknown hash algorithm ${h}`);
    return found;
  }
  const config = files.readFile(files.resolve(joinPath(opts.objectDir, '..'), 'config'), CONFIG_MAX);
  if (config === undefined) return SHA1;
  const name = objectFormatOf(new TextDecoder().decode(config));
  if (name === undefined) return SHA1;
  const found = hashByName(name);
  if (found === undefined) {
    throw new GitMidxError('INVALID_ARGUMENT', `unknown object format ${name} in the repository's config`);
  }
  return found;
}

/** A synchronous object stream whose reads wait for bytes: each `read()` is driven. */
class DrivenStream implements AsyncObjectStream {
  constructor(
    private readonly inner: ObjectStream,
    private readonly sliceMs: number,
  ) {}
  get type(): ObjectInfo['type'] {
    return this.inner.type;
  }
  get size(): number {
    return this.inner.size;
  }
  async read(): Promise<Uint8Array | undefined> {
    const chunk = await drive(() => this.inner.read(), undefined, this.sliceMs);
    return chunk === undefined ? undefined : chunk.slice();
  }
  close(): void {
    this.inner.close();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      for (let c = await this.read(); c !== undefined; c = await this.read()) yield c;
    } finally {
      this.close();
    }
  }
}
