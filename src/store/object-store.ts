/**
 * The object store of one repository, answering like `git cat-file` (spec/objects-format.md §6.1):
 * the virtual empty tree, then every MIDX (local first; each alternate's own), then the packs no
 * MIDX covers in most-recently-used order (local before alternate, newer `.pack` first), then loose
 * objects (local, then each alternate), and on a miss one re-scan of the pack directories and the
 * MIDX files before the object is reported missing.
 *
 * Where Git gives up, this store goes on, so that a stale or damaged MIDX never makes it wrong or
 * stuck (midx-format.md §9–§10):
 * - A MIDX that cannot be loaded (a newer version, a bad signature, a damaged table…) gives one
 *   warning and its directory is served from the packs alone. Git 2.39 dies on some of these.
 * - A MIDX whose lookups fail (a bad pack id, a large offset out of bounds) or whose offset for an
 *   object disagrees with the pack's own `.idx` is dropped the same way, with one warning.
 * - When the pack a MIDX names for an object is gone or fails Git's validity checks
 *   (`is_pack_valid()`: the `.idx` opens, the `.pack` is a regular file whose header and trailer
 *   agree with it), the other packs of that MIDX are searched for another copy (Git reports "not
 *   found" there), then the other sources.
 * - A re-scan reloads a MIDX file that changed on disk (Git 2.39 keeps the first one it loaded).
 * - A packed copy that cannot be read is marked bad in its pack and the lookup starts again, so
 *   another copy wins (as Git does).
 *
 * Packs are opened lazily and validated when opened; failures are remembered (a pack that was bad
 * or gone is not tried again). At most `maxOpenPacks` packs keep their files open (two descriptors
 * each); the least recently used are closed beyond that and reopened (and re-validated) on demand.
 */

import { compareBytes, fromHex, toHex } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm, HashFunction } from '../hash.js';
import { PagePool, SlabPool } from '../io.js';
import { CHUNK_OIDL } from '../midx/chunks.js';
import { jsInflater } from '../pack/js-inflater.js';
import {
  DEFAULT_MAX_OBJECT_SIZE,
  type Inflater,
  type ObjectType,
  objectTypeName,
  type PackFile,
  PackObjectCache,
  TYPE_NUMBER,
} from '../pack/pack.js';
import { BytesObjectStream, type ObjectStream } from '../pack/stream.js';
import type { DiagnosticCallback } from '../progress.js';
import { jsHash } from '../sha.js';
import { runSteps } from '../steps.js';
import { isPending, type StoreFiles, storeFiles } from '../storage/resident.js';
import type { Storage } from '../storage/storage.js';
import { readAlternateDirs } from './alternates.js';
import {
  answerRange,
  type BatchPlan,
  batchFromMidx,
  packIds,
  planBatch,
  planMidxRun,
  type RangeCursor,
  readOrStream,
} from './batch.js';
import { flatHex, prefixCandidates } from './enumerate.js';
import {
  detailsPacked,
  find,
  hasInMidx,
  named,
  otherMidxCopy,
  readLoose,
  readPacked,
  readPackedAtMost,
  VerifyingStream,
} from './lookup.js';
import { hasLooseFile, listLooseObjects, looseFileSize, openLooseStream, readLooseHeader } from './loose.js';
import { closeSlot, extentAt, extentsOf, idxOf, oidAtOffsetInto, packOf } from './packs.js';
import { addSource, disableMidx, discoverRest, listPacks, rebuildOrder, scanSource } from './sources.js';
import {
  checkIdBuffer,
  checkOid,
  checkOpen,
  diag,
  isEmptyTree,
  isReadFailure,
  type PackHit,
  STREAM_CHUNK,
  type StoreState,
} from './state.js';

/** What every object store takes, whatever its storage (see `StoreConfig` for the portable one). */
export interface ObjectStoreOptions {
  /** The object directory (`.git/objects`). A relative path is kept as given in messages, as Git does. */
  objectDir: string;
  /** `core.multiPackIndex` (default true): false ignores every MIDX and serves all packs directly. */
  useMidx?: boolean;
  /** Warnings and errors Git would print while carrying on (`error: packfile … does not match index`). */
  onDiagnostic?: DiagnosticCallback;
  /** Hash every object read by `readObject` and reject one whose bytes are not its id (default false). */
  verifyHashes?: boolean;
  /**
   * Object cache budget of the whole store, in bytes (default 256 MiB), shared by all its packs
   * (whichever are being read keep what they need): three quarters keep delta bases (the whole
   * objects at the bottom of chains, and apart, an eighth of the budget, the levels reads keep),
   * one quarter small commits, trees and tags once read (up to 4 KiB each, as libgit2 keeps them). Random
   * reads over a large history rebuild delta chains from their bases; a larger budget keeps more
   * bases (on git.git's 406,057 objects, 1 GiB reads about half again as fast as the default).
   */
  cacheBytes?: number;
  /**
   * Packs whose files stay open at once (default 400; each holds its `.idx` and `.pack`, so the
   * default stays under the usual 1024-descriptor soft limit). Too low a bound for the repository
   * makes random lookups reopen and re-validate packs over and over.
   */
  maxOpenPacks?: number;
  /**
   * Largest object we agree to build in memory, in bytes (default 1 GiB): `readObject` results,
   * delta results and delta bases, each checked against the size its header declares before
   * anything is allocated; beyond it, `OBJECT_TOO_LARGE` naming the object. A limit above what a
   * Node Buffer can hold (`buffer.constants.MAX_LENGTH`) is lowered to that, and the error says
   * so. `streamObject` streams whole objects of any size.
   */
  maxObjectSize?: number;
  /**
   * How an `OBJECT_TOO_LARGE` message tells the reader to raise the limit (default: `the
   * maxObjectSize option`); a CLI names its own option here.
   */
  maxObjectSizeHint?: string;
  /**
   * Read each MIDX file whole into memory when loading it (default false: page by page, as
   * needed). Worth it before many lookups (a batch), wasteful for a few.
   */
  readMidxWhole?: boolean;
  /**
   * Read a small local pack (up to 1 MiB) whole when its first object is read (default true): many
   * reads over many packs then find their bytes without a lookup per 16 KiB page. A caller that
   * reads one or two objects and exits reads less with false (a page of 16 KiB per read).
   */
  readSmallPacksWhole?: boolean;
  /**
   * @internal The file to read as the local directory's flat MIDX instead of
   * `pack/multi-pack-index` (a path in the storage): a `write --bitmap` reads the new file, still
   * under its lock name, before it replaces the old one.
   */
  midxFile?: string;
}

/** The options of a store over any storage (see `ObjectStore.create`). */
export interface StoreConfig extends ObjectStoreOptions {
  /** The repository's hash (SHA-1 or SHA-256). */
  hash: HashAlgorithm;
  /**
   * Alternate object directories: a list (paths in the storage, in Git's order) or `true` to read
   * `info/alternates` (and, on a remote storage, `info/http-alternates`) through the storage,
   * recursively as Git does (default true).
   */
  alternates?: readonly string[] | boolean;
  /** The inflater (default: the portable one, `jsInflater`; on Node, `nodeInflater` is faster). */
  inflate?: Inflater;
  /** The hash implementation (default: the portable one, `jsHash`; on Node, `nodeHash`). */
  hashFn?: HashFunction;
  /** Largest buffer the platform can allocate, in bytes (default 2^32). */
  maxBufferBytes?: number;
  /** Re-scan the pack directories when an id is missing (default: true unless the storage is remote). */
  rescanOnMiss?: boolean;
}

export interface ObjectInfo {
  type: ObjectType;
  size: number;
}

export interface StoredObject extends ObjectInfo {
  /** The object's bytes, its own (never a view shared with another object or a scratch buffer). */
  data: Uint8Array;
}

export type { ObjectStream } from '../pack/stream.js';

export interface StreamObjectOptions {
  /** Largest chunk `read()` returns, in bytes (default 256 KiB). */
  chunkSize?: number;
  /**
   * Bytes after the end of a loose object's zlib stream are not looked at, as Git's streamed read
   * of a loose blob does not look at them (`cat-file -p`); by default they make the object corrupt,
   * as in Git's whole read (`garbage at end of loose object`).
   */
  ignoreTrailingBytes?: boolean;
}

/** What `%(objectsize:disk)` and `%(deltabase)` need, and where the answer came from. */
export interface ObjectDetails extends ObjectInfo {
  source: 'virtual' | 'midx' | 'pack' | 'loose';
  /** The packed extent (up to the next entry or the trailer), or the loose file's size; 0 for the virtual empty tree. */
  diskSize: number;
  /** The delta base's id when the copy used is stored as a delta, else undefined. */
  deltaBase: Uint8Array | undefined;
  /** The `.pack` or loose file that answered. */
  file?: string;
  /** The entry's offset in that pack. */
  offset?: number;
}

/** Lookup counters; they only grow (reset by assigning zeros if you need to). */
export interface ObjectStoreCounters {
  /** Objects answered through a MIDX (the pack it names). */
  midxHits: number;
  /** Objects answered by another pack of a MIDX after the one it names was gone or invalid. */
  midxFallbackHits: number;
  /** Objects answered by a pack no MIDX covers. */
  packHits: number;
  looseHits: number;
  /** The empty tree answered without being stored. */
  virtualHits: number;
  /** Lookups that ended in "missing". */
  misses: number;
  /** Times a pack that would have answered was skipped because it was gone or failed validation. */
  stalePackSkips: number;
  /** Re-reads of the pack directories and MIDX files after a miss. */
  rescans: number;
  /** MIDX files loaded (including reloads after they changed). */
  midxLoads: number;
  /** MIDX files ignored (could not be loaded, or failed later), each counted once. */
  midxRejected: number;
  /** Packed copies found unreadable (then marked bad in their pack). */
  badObjects: number;
  /** `.pack` files opened (and validated), and packs closed again to bound open files. */
  packsOpened: number;
  packsClosed: number;
  /** Bytes read from disk: MIDX, `.idx`, `.pack` and loose files. */
  bytesRead: number;
}

/** The empty tree, which every lookup finds even when it is not stored (§5). */
export const EMPTY_TREE_HEX: Readonly<Record<HashAlgorithm['name'], string>> = {
  sha1: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
  sha256: '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321',
};

/** Shortest hex prefix Git takes as an abbreviated id (`MINIMUM_ABBREV`). */
export const MIN_ABBREV = 4;

export class ObjectStore {
  readonly hash: HashAlgorithm;
  /** Counters of what lookups did (see ObjectStoreCounters). */
  readonly counters: ObjectStoreCounters;
  /** Where the store's files come from. */
  protected readonly files: StoreFiles;
  /** Everything the store's modules share (src/store/state.ts). */
  private readonly st: StoreState;

  protected constructor(files: StoreFiles, opts: StoreConfig) {
    const hash = opts.hash;
    if (EMPTY_TREE_HEX[hash?.name] === undefined) {
      throw new GitMidxError('INVALID_ARGUMENT', `unknown hash algorithm ${String(hash?.name)}`);
    }
    const asked = opts.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE;
    if (!(asked >= 0)) {
      throw new GitMidxError('INVALID_ARGUMENT', `maxObjectSize ${asked}: expected a number of bytes`);
    }
    const maxObjectSize = Math.min(Math.floor(asked), opts.maxBufferBytes ?? 2 ** 32);
    const inflater = opts.inflate ?? jsInflater;
    const hashFn = opts.hashFn ?? jsHash;
    const counters: ObjectStoreCounters = {
      midxHits: 0,
      midxFallbackHits: 0,
      packHits: 0,
      looseHits: 0,
      virtualHits: 0,
      misses: 0,
      stalePackSkips: 0,
      rescans: 0,
      midxLoads: 0,
      midxRejected: 0,
      badObjects: 0,
      packsOpened: 0,
      packsClosed: 0,
      bytesRead: 0,
    };
    this.hash = hash;
    this.counters = counters;
    this.files = files;
    const cacheBytes = Math.max(0, opts.cacheBytes ?? 256 * 1024 * 1024);
    const baseBytes = cacheBytes - Math.floor(cacheBytes / 4);
    const levelBytes = Math.floor(cacheBytes / 16);
    this.st = {
      store: this,
      hash,
      counters,
      files,
      inflater,
      hashFn,
      rescanOnMiss: opts.rescanOnMiss ?? (!files.remote && !files.async),
      codec: { inflate: inflater, hashFn },
      useMidx: opts.useMidx ?? true,
      // Over a network the files are not checked when opened (that would cost requests): every
      // object read is hashed instead.
      verify: opts.verifyHashes ?? files.remote,
      cacheBytes,
      // One budget for every pack: five eighths keep the whole objects at the bottom of delta
      // chains, one eighth the delta levels reads keep (see PackFileOptions.levelCache), one
      // quarter small commits, trees and tags once read (see packs.ts).
      // (At least 16,384 entries, more for a budget past 256 MiB: one per 16 KiB of it.)
      baseCache: new PackObjectCache(baseBytes, Math.max(16384, Math.floor(baseBytes / 16384))),
      levelCache: new PackObjectCache(levelBytes, 4096),
      smallCache: new PackObjectCache(Math.floor(cacheBytes / 4) - levelBytes, 65536),
      maxOpen: Math.max(1, opts.maxOpenPacks ?? 400),
      maxObjectSize,
      maxObjectSizeAsked: asked > maxObjectSize ? asked : undefined,
      maxObjectSizeHint: opts.maxObjectSizeHint ?? 'the maxObjectSize option',
      readMidxWhole: opts.readMidxWhole ?? false,
      readSmallPacksWhole: opts.readSmallPacksWhole ?? true,
      midxFile: opts.midxFile,
      onDiagnostic: opts.onDiagnostic ?? (() => {}),
      emptyTree: fromHex(EMPTY_TREE_HEX[hash.name])!,
      sources: [],
      mru: [],
      pagePool: new PagePool(16384, 256),
      slabPool: new SlabPool(4 * 1024 * 1024),
      midxOrder: [],
      lru: new Map(),
      useTick: 0,
      deferred: undefined,
      midxSuffices: false,
      closed: false,
      countRead: (n: number): void => {
        counters.bytesRead += n;
      },
    };
  }

  /**
   * A synchronous store over a storage that answers at once (`memoryStorage`, `nodeStorage`, or
   * your own): reads the alternates, loads each MIDX and lists each pack directory. A storage that
   * answers with Promises is `STORAGE_ASYNC`: open it with `AsyncObjectStore.open`.
   */
  static create(opts: StoreConfig & { storage: Storage }): ObjectStore {
    if (opts?.storage === undefined) {
      throw new GitMidxError('INVALID_ARGUMENT', 'ObjectStore.create needs a storage');
    }
    const files = storeFiles(opts.storage, { sync: true });
    const store = ObjectStore.fromFiles(files, opts);
    // (Refusals inside the store count as unreadable files; the store itself is refused here.)
    const refused = (files as { refused?: unknown }).refused;
    if (refused !== undefined) {
      store.close();
      throw refused;
    }
    return store;
  }

  /**
   * A store over the store's view of a storage (src/storage/resident.ts). Over one that answers
   * later, call it through `drive()`, as `AsyncObjectStore.open` does.
   * @internal
   */
  static fromFiles(files: StoreFiles, opts: StoreConfig): ObjectStore {
    if (typeof opts?.objectDir !== 'string' || opts.objectDir === '') {
      throw new GitMidxError('INVALID_ARGUMENT', 'an object store needs objectDir, the object directory');
    }
    const store = new ObjectStore(files, opts);
    store.start(opts.objectDir, opts.objectDir, opts.alternates ?? true);
    return store;
  }

  /**
   * Adds the local object directory (`dir`, named `shown` in messages) and its alternates, then
   * scans them all. Closes the store when it fails.
   */
  protected start(
    dir: string,
    shown: string,
    alternates: readonly string[] | boolean | ((warn: (message: string) => void) => readonly string[]),
  ): void {
    try {
      this.st.sources.length = 0;
      addSource(this.st, dir, shown, true);
      if (this.st.files.remote) {
        // Over a network only the MIDX is read now; the packs outside it and the alternates are
        // looked for on the first miss (most lookups never need them).
        this.st.deferred = { dir, alternates };
        scanSource(this.st, this.st.sources[0], true);
        rebuildOrder(this.st);
        return;
      }
      const warn = (w: string) => diag(this.st, 'error', w);
      const alts =
        alternates === true
          ? readAlternateDirs(this.st.files, dir, warn)
          : typeof alternates === 'function'
            ? alternates(warn)
            : alternates;
      if (alts !== false) for (const d of alts) addSource(this.st, d, d, false);
      // With a MIDX, the pack directories are listed on the first lookup it does not answer: an
      // object it holds is found there first anyway, as in Git (a one-object command then reads
      // no directory). Without one, at once.
      for (const src of this.st.sources) scanSource(this.st, src, true);
      if (this.st.sources.some((s) => s.midxs.length > 0)) this.st.deferred = { dir, alternates: [] };
      else for (const src of this.st.sources) listPacks(this.st, src);
      rebuildOrder(this.st);
    } catch (e) {
      if (isPending(e)) {
        // Asked again once the answer is there: start afresh then.
        for (const src of this.st.sources) for (const m of src.midxs) m.midx.close();
        throw e;
      }
      this.close();
      throw e;
    }
  }

  /** The `maxObjectSize` in force (lowered to what a Buffer holds): objects built in memory stay within it. */
  get objectSizeLimit(): number {
    return this.st.maxObjectSize;
  }

  /** The object directories searched: the local one first (as given), then the alternates in Git's order. */
  get objectDirs(): readonly string[] {
    return this.st.sources.map((s) => s.shown);
  }

  /** Releases every open file. The store cannot be used afterwards. */
  close(): void {
    if (this.st.closed) return;
    this.st.closed = true;
    for (const s of [...this.st.lru.keys()]) closeSlot(this.st, s, false);
    for (const src of this.st.sources) {
      for (const m of src.midxs) m.midx.close();
      src.midxs = [];
    }
  }

  /**
   * The object's type, size and bytes, or undefined when it is missing. Throws LOOSE_CORRUPT for a
   * loose copy that cannot be read, and a PACK_* error when every packed copy turned out unreadable
   * (`data.git`: `packed object <oid> (stored in <pack>) is corrupt`).
   */
  readObject(oid: Uint8Array): StoredObject | undefined {
    checkOid(this.st, oid);
    if (isEmptyTree(this.st, oid)) {
      this.st.counters.virtualHits++;
      return { type: 'tree', size: 0, data: new Uint8Array(0) };
    }
    // (The hex form is made only where needed: most reads never need it.)
    return find(this.st, oid, undefined, true, this.readFromPack, this.readFromLoose);
  }

  // The callbacks of `readObject` and `hasObject`, made once (not a closure per lookup).
  private readonly readFromPack = (pack: PackFile, hit: PackHit, oid: Uint8Array, hex: string | undefined) =>
    readPacked(this.st, pack, hit, oid, 0, hex);
  private readonly readFromLoose = (file: string, shownAs: string, hex: string) =>
    readLoose(this.st, file, shownAs, hex);
  private readonly foundInPack = () => true;
  private readonly looseFileExists = (file: string) => (hasLooseFile(this.st.files, file) ? true : undefined);

  /**
   * The object as a stream of chunks, or undefined when it is missing. A whole (non-delta) object
   * of any size is inflated as it is read, from the pack or the loose file, with memory bounded by
   * the chunk size; a delta is resolved in memory first (within `maxObjectSize`) and served in
   * chunks. Chunks are views valid until the next `read()`. The last `read()` checks the size and
   * the end of the zlib stream (and, with `verifyHashes`, the id) and throws a typed error when they
   * are wrong; bytes before that were already handed out, so a caller that must not emit corrupt
   * bytes checks first (`verify`). Read the stream to its end, or close it, before the next
   * lookup: it reads a pack that the store may close to bound open files.
   */
  streamObject(oid: Uint8Array, opts: StreamObjectOptions = {}): ObjectStream | undefined {
    checkOid(this.st, oid);
    const chunkSize = opts.chunkSize ?? STREAM_CHUNK;
    if (!(Number.isSafeInteger(chunkSize) && chunkSize > 0)) {
      throw new GitMidxError('INVALID_ARGUMENT', `chunkSize ${chunkSize}: expected a positive whole number`);
    }
    if (isEmptyTree(this.st, oid)) {
      this.st.counters.virtualHits++;
      return new BytesObjectStream('tree', new Uint8Array(0), chunkSize);
    }
    const hex = toHex(oid, 0, this.st.hash.size);
    const s = find(
      this.st,
      oid,
      hex,
      true,
      (pack, hit): ObjectStream => {
        const whole = pack.openStream(hit.offset, chunkSize);
        if (whole !== undefined) return whole;
        const o = readPacked(this.st, pack, hit, oid, 0, hex);
        return new BytesObjectStream(o.type, o.data, chunkSize);
      },
      (file, shownAs) => {
        try {
          return openLooseStream(this.st.files, file, hex, this.st.codec, {
            chunkSize,
            shownAs,
            onRead: this.st.countRead,
            ignoreTrailingBytes: opts.ignoreTrailingBytes,
          });
        } catch (e) {
          throw named(this.st, e, hex);
        }
      },
    );
    return s !== undefined && this.st.verify ? new VerifyingStream(s, this.st.hashFn, this.st.hash, hex) : s;
  }

  /**
   * Type and size, from headers only where they suffice (a delta's target size is in its header),
   * or undefined when the object is missing or no copy can be read (the reasons go to onDiagnostic).
   */
  objectInfo(oid: Uint8Array): ObjectInfo | undefined {
    return this.fromHeaders(
      oid,
      { type: 'tree', size: 0 },
      (pack, hit) => pack.infoAt(hit.offset),
      (h) => ({ type: h.type, size: h.size }),
    );
  }

  /**
   * The type alone, from entry headers only (nothing of a packed object is inflated, a delta's
   * chain is followed down to its whole object), as Git's `cat-file -t` asks: a delta whose data
   * is damaged still has a type. Undefined when the object is missing or no copy can be read.
   */
  objectType(oid: Uint8Array): ObjectType | undefined {
    return this.fromHeaders(
      oid,
      'tree',
      (pack, hit) => objectTypeName(pack.typeAt(hit.offset)),
      (h) => h.type,
    );
  }

  /** `objectInfo` plus where the copy lives: `%(objectsize:disk)`, `%(deltabase)`. */
  objectDetails(oid: Uint8Array): ObjectDetails | undefined {
    return this.details(oid, true);
  }

  /** `objectDetails`; without `withSize`, a packed copy's size is 0 and nothing of it is inflated. */
  private details(oid: Uint8Array, withSize: boolean): ObjectDetails | undefined {
    return this.fromHeaders(
      oid,
      { type: 'tree', size: 0, source: 'virtual', diskSize: 0, deltaBase: undefined },
      (pack, hit) => detailsPacked(this.st, pack, hit, withSize),
      (h, file, shownAs) => ({
        type: h.type,
        size: h.size,
        source: 'loose',
        diskSize: looseFileSize(this.st.files, file) ?? 0,
        deltaBase: undefined,
        file: shownAs,
      }),
    );
  }

  /**
   * What the headers of `oid`'s first readable copy say: `packed` for a pack entry, `loose` for a
   * loose file's header; `emptyTree` for the empty tree, which needs no copy. Undefined when the
   * object is missing or no copy can be read (the reasons go to onDiagnostic).
   */
  private fromHeaders<T>(
    oid: Uint8Array,
    emptyTree: T,
    packed: (pack: PackFile, hit: PackHit) => T,
    loose: (h: { type: ObjectType; size: number }, file: string, shownAs: string) => T,
  ): T | undefined {
    checkOid(this.st, oid);
    if (isEmptyTree(this.st, oid)) {
      this.st.counters.virtualHits++;
      return emptyTree;
    }
    const hex = toHex(oid, 0, this.st.hash.size);
    return find(this.st, oid, hex, false, packed, (file, shownAs) => {
      const h = readLooseHeader(this.st.files, file, hex, this.st.codec, {
        onRead: this.st.countRead,
        shownAs,
      });
      return h === undefined ? undefined : loose(h, file, shownAs);
    });
  }

  /**
   * Whether the object exists: found in a valid pack, or a loose file by that name exists (Git's
   * `cat-file -e`; the loose file is not opened), or the empty tree.
   */
  hasObject(oid: Uint8Array): boolean {
    checkOid(this.st, oid);
    if (hasInMidx(this.st, oid) === true) return true;
    if (isEmptyTree(this.st, oid)) return true;
    // Over a network, a MIDX entry is taken at its word: opening the pack would cost requests.
    this.st.midxSuffices = this.st.files.remote;
    try {
      return find(this.st, oid, undefined, false, this.foundInPack, this.looseFileExists) ?? false;
    } finally {
      this.st.midxSuffices = false;
    }
  }

  /**
   * `readObject` for many ids; results in input order (undefined = missing). The answers are those
   * of `readObject`; a large batch is read pack by pack in offset order (see `batchFromMidx`).
   */
  readObjects(oids: readonly Uint8Array[]): (StoredObject | undefined)[] {
    const out = new Array<StoredObject | undefined>(oids.length);
    const done = batchFromMidx(this.st, packIds(this.st, oids), oids.length, (k, pack, hit, ids, at) => {
      out[k] = readPacked(this.st, pack, hit, ids, at);
    });
    for (let i = 0; i < oids.length; i++) if (done[i] === 0) out[i] = this.readObject(oids[i]);
    return out;
  }

  /** `objectInfo` for many ids; results in input order (undefined = missing). */
  objectInfos(oids: readonly Uint8Array[]): (ObjectInfo | undefined)[] {
    const out = new Array<ObjectInfo | undefined>(oids.length);
    const done = batchFromMidx(this.st, packIds(this.st, oids), oids.length, (k, pack, hit) => {
      out[k] = pack.infoAt(hit.offset);
    });
    for (let i = 0; i < oids.length; i++) if (done[i] === 0) out[i] = this.objectInfo(oids[i]);
    return out;
  }

  /**
   * `objectInfo` for `count` ids packed back to back in `ids` (H bytes each), as arrays: for id i,
   * `types[i]` is Git's type number (1 commit, 2 tree, 3 blob, 4 tag; 0 when missing) and
   * `sizes[i]` its size. The same answers as `objectInfo`, without an object per id.
   */
  objectInfoPacked(
    ids: Uint8Array,
    count: number,
    midxFirst = -1,
  ): { types: Uint8Array; sizes: Float64Array } {
    const H = this.st.hash.size;
    checkIdBuffer(this.st, ids, count);
    const types = new Uint8Array(count);
    const sizes = new Float64Array(count);
    const done = this.answerPacked(
      ids,
      count,
      midxFirst,
      (k, pack, hit) => {
        sizes[k] = pack.sizeAt(hit.offset);
        types[k] = pack.typeOfLast;
      },
      (k, prev) => {
        types[k] = types[prev];
        sizes[k] = sizes[prev];
      },
    );
    for (let k = 0; k < count; k++) {
      if (done[k] !== 0) continue;
      const info = this.objectInfo(ids.subarray(k * H, k * H + H));
      if (info !== undefined) {
        types[k] = TYPE_NUMBER[info.type];
        sizes[k] = info.size;
      }
    }
    return { types, sizes };
  }

  /**
   * The type numbers of `count` ids packed back to back in `ids` (1 commit, 2 tree, 3 blob, 4 tag;
   * 0 when missing; from entry headers, nothing inflated for them), and the
   * objects whose type `want(k, type)` accepts, each given to `onObject(k, object)` as soon as it
   * is read, in no particular order (pack by pack, in offset order, where a MIDX lists them): for
   * a caller that needs some objects of a whole repository once each and keeps none. One pass: a
   * pack's pages are read once for the types and the objects together. An object's bytes are
   * valid during its callback only (they may be a buffer the next read reuses): copy what you keep.
   * Objects read from a pack come with the pack and their offset (see `PackFile.viewBase`).
   * With `midxChecksum`, the ids are those of the MIDX with that checksum, all of them, in order:
   * when it is the store's only MIDX, they are not looked up (its positions are theirs).
   * @internal
   */
  scanPacked(
    ids: Uint8Array,
    count: number,
    want: (k: number, type: number) => boolean,
    onObject: (k: number, object: StoredObject, pack?: PackFile, offset?: number) => void,
    midxChecksum?: Uint8Array,
  ): Uint8Array {
    return runSteps(this.scanPackedSteps(ids, count, want, onObject, midxChecksum));
  }

  /**
   * `scanPacked` in steps: it yields after every `slice` objects read from packs (pack by pack, in
   * offset order all the same), so that a caller can let its event loop turn in between.
   * @internal
   */
  *scanPackedSteps(
    ids: Uint8Array,
    count: number,
    want: (k: number, type: number) => boolean,
    onObject: (k: number, object: StoredObject, pack?: PackFile, offset?: number) => void,
    midxChecksum?: Uint8Array,
    slice = Number.POSITIVE_INFINITY,
  ): Generator<undefined, Uint8Array, undefined> {
    const st = this.st;
    const H = st.hash.size;
    checkIdBuffer(st, ids, count);
    const types = new Uint8Array(count);
    let midxFirst = -1;
    if (midxChecksum !== undefined && st.midxOrder.length === 1) {
      const m = st.midxOrder[0].midx;
      const own = m.checksum();
      if (m.numObjects === count && compareBytes(own, 0, midxChecksum, 0, own.length) === 0) midxFirst = 0;
    }
    // 1: answered; 2: its read failed here (left to the one-id path below, as in one pass).
    const done = new Uint8Array(count);
    const plan = this.planPacked(ids, count, midxFirst);
    if (plan !== undefined) {
      let answered = 0;
      const answer = (k: number, pack: PackFile, hit: PackHit, b: Uint8Array, at: number): number => {
        try {
          const t = pack.typeAt(hit.offset);
          if (want(k, t)) onObject(k, readPacked(st, pack, hit, b, at, undefined, true), pack, hit.offset);
          types[k] = t;
        } catch (e) {
          if (isReadFailure(e)) done[k] = 2;
          throw e;
        }
        answered++;
        return 1;
      };
      // Grouped by pack once; each slice goes on where the last one stopped.
      const cursor: RangeCursor = { g: 0, j: 0 };
      for (;;) {
        answered = 0;
        answerRange(st, plan, ids, 0, count, done, answer, slice, undefined, cursor);
        if (answered < slice) break;
        yield;
      }
    }
    for (let k = 0; k < count; k++) {
      if (done[k] === 1) continue;
      const oid = ids.subarray(k * H, k * H + H);
      const info = this.objectInfo(oid);
      if (info === undefined) continue;
      const t = TYPE_NUMBER[info.type];
      types[k] = t;
      if (!want(k, t)) continue;
      const o = this.readObject(oid);
      if (o !== undefined) onObject(k, o);
    }
    return types;
  }

  /**
   * `objectDetails` for `count` ids packed back to back in `ids`, as arrays in input order, with
   * no object per id: `found[k]` 1 when present; `diskSizes[k]`; `hasBase[k]` 1 when the copy is a
   * delta, its base's id then in `bases` at `k * H`; and, with `withInfo`, `types[k]` (1 commit,
   * 2 tree, 3 blob, 4 tag) and `sizes[k]` (else 0: the headers alone answer the rest).
   * @internal
   */
  objectDetailsPacked(
    ids: Uint8Array,
    count: number,
    withInfo: boolean,
    midxFirst = -1,
  ): {
    found: Uint8Array;
    types: Uint8Array;
    sizes: Float64Array;
    diskSizes: Float64Array;
    hasBase: Uint8Array;
    bases: Uint8Array;
  } {
    const st = this.st;
    const H = st.hash.size;
    checkIdBuffer(st, ids, count);
    const found = new Uint8Array(count);
    const types = new Uint8Array(count);
    const sizes = new Float64Array(count);
    const diskSizes = new Float64Array(count);
    const hasBase = new Uint8Array(count);
    const bases = new Uint8Array(count * H);
    const answer = (k: number, pack: PackFile, hit: PackHit): void => {
      const slot = hit.slot;
      const idx = idxOf(st, slot)!;
      const ext = extentsOf(st, slot, idx);
      if (withInfo) {
        sizes[k] = pack.sizeAt(hit.offset);
        types[k] = pack.typeOfLast;
      }
      diskSizes[k] = extentAt(st, slot, pack, ext, hit.offset);
      const base = pack.deltaBaseAt(hit.offset, bases, k * H);
      if (base >= 0) oidAtOffsetInto(slot, idx, ext, base, bases, k * H);
      hasBase[k] = base === -1 ? 0 : 1;
      found[k] = 1;
    };
    const same = (k: number, prev: number): void => {
      found[k] = found[prev];
      types[k] = types[prev];
      sizes[k] = sizes[prev];
      diskSizes[k] = diskSizes[prev];
      hasBase[k] = hasBase[prev];
      bases.copyWithin(k * H, prev * H, prev * H + H);
    };
    const done = this.answerPacked(ids, count, midxFirst, answer, same);
    for (let k = 0; k < count; k++) {
      if (done[k] !== 0) continue;
      const d = this.details(ids.subarray(k * H, k * H + H), withInfo);
      if (d === undefined) continue;
      found[k] = 1;
      types[k] = TYPE_NUMBER[d.type];
      sizes[k] = d.size;
      diskSizes[k] = d.diskSize;
      if (d.deltaBase !== undefined) {
        hasBase[k] = 1;
        bases.set(d.deltaBase, k * H);
      }
    }
    return { found, types, sizes, diskSizes, hasBase, bases };
  }

  /**
   * `batchFromMidx`, or, with `midxFirst` ≥ 0 (the ids are the only MIDX's own from that position
   * on, as `allObjectIdBytes` gave them), the same answers without looking the ids up.
   */
  private answerPacked(
    ids: Uint8Array,
    count: number,
    midxFirst: number,
    answer: (k: number, pack: PackFile, hit: PackHit, ids: Uint8Array, at: number) => void,
    same?: (k: number, prev: number) => void,
  ): Uint8Array {
    const done = new Uint8Array(count);
    const plan = this.planPacked(ids, count, midxFirst);
    if (plan !== undefined)
      answerRange(this.st, plan, ids, 0, count, done, answer, Number.POSITIVE_INFINITY, same);
    return done;
  }

  /**
   * The batch plan of `count` ids (`planBatch`), or, with `midxFirst` ≥ 0 (the ids are the only
   * MIDX's own from that position on, as `allObjectIdBytes` gave them), the same plan without
   * looking the ids up.
   */
  private planPacked(ids: Uint8Array, count: number, midxFirst: number): BatchPlan | undefined {
    const st = this.st;
    const m = st.midxOrder[0];
    if (
      midxFirst >= 0 &&
      st.midxOrder.length === 1 &&
      !m.disabled &&
      midxFirst + count <= m.midx.numObjects
    ) {
      try {
        return planMidxRun(m, midxFirst, count);
      } catch (e) {
        if (!isGitMidxError(e)) throw e;
        disableMidx(st, m, e);
      }
    }
    return planBatch(st, ids, count);
  }

  /** `objectDetails` for many ids; results in input order (undefined = missing). */
  objectDetailsMany(oids: readonly Uint8Array[]): (ObjectDetails | undefined)[] {
    const out = new Array<ObjectDetails | undefined>(oids.length);
    const done = batchFromMidx(this.st, packIds(this.st, oids), oids.length, (k, pack, hit) => {
      out[k] = detailsPacked(this.st, pack, hit);
    });
    for (let i = 0; i < oids.length; i++) if (done[i] === 0) out[i] = this.objectDetails(oids[i]);
    return out;
  }

  /** `hasObject` for many ids, in input order. */
  hasObjects(oids: readonly Uint8Array[]): boolean[] {
    const done = batchFromMidx(this.st, packIds(this.st, oids), oids.length, () => {});
    const r = new Array<boolean>(oids.length);
    for (let i = 0; i < oids.length; i++) r[i] = done[i] === 1 ? true : this.hasObject(oids[i]);
    return r;
  }

  /**
   * The full id of the one object whose hex id starts with `hexPrefix` (at least 4 hex digits, any
   * case), or undefined when none does. Throws OBJECT_AMBIGUOUS (`data.candidates`: the full ids,
   * sorted) when several do. Candidates are looked for in every MIDX, pack and loose directory,
   * local and alternates, and only those that can actually be read count. A full-length id is
   * returned when the object exists (the empty tree included). Anything else (too short, not hex,
   * too long) gives undefined.
   */
  resolvePrefix(hexPrefix: string): Uint8Array | undefined {
    if (typeof hexPrefix !== 'string') {
      throw new GitMidxError('INVALID_ARGUMENT', `an id prefix is a hex string, got ${typeof hexPrefix}`);
    }
    const hexSize = this.st.hash.hexSize;
    if (hexPrefix.length < MIN_ABBREV || hexPrefix.length > hexSize || !/^[0-9a-fA-F]+$/.test(hexPrefix)) {
      return undefined;
    }
    discoverRest(this.st);
    const p = hexPrefix.toLowerCase();
    if (p.length === hexSize) {
      const oid = fromHex(p)!;
      return this.hasObject(oid) ? oid : undefined;
    }
    let found = prefixCandidates(this.st, p);
    if (found.length === 0 && this.st.rescanOnMiss) {
      this.rescan();
      found = prefixCandidates(this.st, p);
    }
    // A MIDX may still list an object whose pack is gone: count only what is really there.
    const real = found.filter((hex) => this.hasObject(fromHex(hex)!));
    if (real.length === 0) return undefined;
    if (real.length === 1) return fromHex(real[0])!;
    const git = `short object ID ${hexPrefix} is ambiguous`;
    throw new GitMidxError('OBJECT_AMBIGUOUS', git, { data: { git, prefix: hexPrefix, candidates: real } });
  }

  /**
   * Every object id, local and in alternates, loose and packed (through each MIDX and each pack it
   * does not cover), sorted and each listed once, as `cat-file --batch-all-objects` lists them. The
   * empty tree is listed only when it is stored. Objects whose only pack is gone or invalid are not
   * listed.
   */
  allObjectIds(): Uint8Array[] {
    return this.allObjectIdsHex().map((h) => fromHex(h)!);
  }

  /**
   * `allObjectIds` packed back to back in one buffer (H bytes each). Read straight from the MIDX
   * when it is the only list (every pack of the store in it, all usable, no loose object): then
   * `midxFirst` is 0 (id i is the MIDX's position i: give `midxFirst + i` to the batch methods),
   * else -1.
   * @internal
   */
  allObjectIdBytes(): { ids: Uint8Array; midxFirst: number } {
    checkOpen(this.st);
    discoverRest(this.st);
    const H = this.st.hash.size;
    const single = this.onlyMidxIds();
    if (single !== undefined) return { ids: single, midxFirst: 0 };
    const hex = this.allObjectIdsHex();
    const out = new Uint8Array(hex.length * H);
    for (let i = 0; i < hex.length; i++) fromHex(hex[i], out, i * H);
    return { ids: out, midxFirst: -1 };
  }

  /** The ids of the only MIDX, when nothing else holds objects; undefined otherwise. */
  private onlyMidxIds(): Uint8Array | undefined {
    const st = this.st;
    if (st.midxOrder.length !== 1 || st.mru.length !== 0) return undefined;
    const m = st.midxOrder[0];
    if (m.disabled) return undefined;
    for (const slot of m.slots) if (packOf(st, slot) === undefined) return undefined;
    for (const src of st.sources)
      if (listLooseObjects(st.files, src.dir, st.hash).length > 0) return undefined;
    const midx = m.midx;
    const H = st.hash.size;
    const n = midx.numObjects;
    try {
      // The chunk as read: a buffer of its own from a file (kept as it is), a view of the bytes of
      // an in-memory file (copied: the caller owns what it is given).
      const chunk = midx.readChunk(CHUNK_OIDL)!;
      const out =
        chunk.byteLength === chunk.buffer.byteLength ? chunk.subarray(0, n * H) : chunk.slice(0, n * H);
      for (let i = 1; i < n; i++) {
        // One comparison each checks their order (a MIDX whose ids are out of order pairs them
        // with other objects' offsets); the first two bytes decide most.
        const a = (i - 1) * H;
        const b = i * H;
        if (out[a] < out[b] || (out[a] === out[b] && out[a + 1] < out[b + 1])) continue;
        if (compareBytes(out, a, out, b, H) >= 0) {
          throw oidOrderError(midx.file, i - 1, toHex(out, a, b), i, toHex(out, b, b + H));
        }
      }
      return out;
    } catch (e) {
      if (!isGitMidxError(e)) throw e;
      // The general path disables the MIDX and lists the packs instead.
      return undefined;
    }
  }

  /** `allObjectIds` as lowercase hex. */
  allObjectIdsHex(): string[] {
    checkOpen(this.st);
    discoverRest(this.st);
    const out: string[] = [];
    // Each MIDX and `.idx` lists its ids sorted and once: one list alone needs no sort.
    let lists = 0;
    for (const m of this.st.midxOrder) {
      if (m.midx.numObjects > 0) lists++;
      const usable: (boolean | undefined)[] = new Array(m.slots.length);
      const midx = m.midx;
      try {
        let prev = '';
        let prevAt = -1;
        for (let n = 0; n < midx.numObjects; n++) {
          const id = midx.packIdAt(n);
          let ok = usable[id];
          if (ok === undefined) {
            ok = packOf(this.st, m.slots[id]) !== undefined;
            usable[id] = ok;
          }
          if (ok) {
            // Every id is read here anyway: one comparison each checks their order (a MIDX whose
            // ids are out of order pairs them with other objects' offsets).
            const hex = flatHex(midx.oidAt(n));
            if (hex <= prev) {
              throw oidOrderError(midx.file, prevAt, prev, n, hex);
            }
            prev = hex;
            prevAt = n;
            out.push(hex);
          } else {
            // Its pack is gone: listed only if another pack of this MIDX has it (other sources list their own).
            const oid = midx.oidAt(n);
            const hex = toHex(oid);
            if (otherMidxCopy(this.st, m, m.slots[id], oid, hex, false) !== undefined) out.push(hex);
          }
        }
      } catch (e) {
        if (!isGitMidxError(e)) throw e;
        disableMidx(this.st, m, e);
        return this.allObjectIdsHex();
      }
    }
    for (const slot of this.st.mru) {
      const idx = idxOf(this.st, slot);
      if (idx === undefined || packOf(this.st, slot) === undefined) continue;
      const H = this.st.hash.size;
      if (idx.numObjects > 0) lists++;
      for (let i = 0; i < idx.numObjects; i++) out.push(flatHex(idx.oidAt(i).subarray(0, H)));
    }
    for (const src of this.st.sources) {
      const loose = listLooseObjects(this.st.files, src.dir, this.st.hash);
      if (loose.length > 0) lists += 2;
      for (const hex of loose) out.push(hex);
    }
    if (lists <= 1) return out;
    out.sort();
    let w = 0;
    for (let i = 0; i < out.length; i++) {
      if (w === 0 || out[i] !== out[w - 1]) out[w++] = out[i];
    }
    out.length = w;
    return out;
  }

  /**
   * Objects in the store as Git approximates them for abbreviation lengths: the objects of every
   * MIDX and plain pack (loose objects not counted).
   */
  approximateObjectCount(): number {
    discoverRest(this.st);
    let n = 0;
    for (const m of this.st.midxOrder) n += m.midx.numObjects;
    for (const slot of this.st.mru) {
      const idx = idxOf(this.st, slot);
      if (idx) n += idx.numObjects;
    }
    return n;
  }

  /** Re-reads every pack directory and reloads MIDX files that changed (done by itself on a miss). */
  rescan(): void {
    checkOpen(this.st);
    // A storage that answers later forgets its answers in `AsyncObjectStore.rescan`, outside the
    // re-run operation (forgetting here would make every re-run ask again).
    if (!this.st.files.async) this.st.files.forget();
    this.st.counters.rescans++;
    // Every directory is listed now (a remote store's alternates are still read on a miss).
    if (!this.st.files.remote) this.st.deferred = undefined;
    for (const s of this.st.sources) scanSource(this.st, s);
    rebuildOrder(this.st);
  }

  /**
   * `readObject` for `count` ids packed back to back in `ids` (H bytes each), delivered in input
   * order to `onObject(k, object | undefined)`, with bounded memory: a window of `window` ids is
   * read pack by pack in offset order (at most `maxBytes` of objects held; the rest of the window
   * is read one by one as it is delivered). Objects that cannot be read throw in order, after every
   * object before them was delivered, as `readObject` would.
   */
  readObjectsEach(
    ids: Uint8Array,
    count: number,
    onObject: (k: number, object: StoredObject | undefined) => void,
    options: {
      window?: number;
      maxBytes?: number;
      /**
       * With `onStream`: whole (non-delta) objects larger than this many bytes are not read but
       * given to `onStream(k, stream)` in their turn, to be read (or closed) there; the stream is
       * closed when the callback returns.
       */
      streamAbove?: number;
      onStream?: (k: number, stream: ObjectStream) => void;
      /** Chunk size of those streams (default 256 KiB). */
      chunkSize?: number;
      /**
       * The bytes of an object are valid during its `onObject` call only: the objects of a window
       * are then read into one buffer that the next window fills again, instead of fresh memory
       * per object (fresh memory costs a page fault per 4 KiB first touched). For a caller that
       * writes each object out, or copies what it keeps.
       */
      transient?: boolean;
    } = {},
  ): void {
    const H = this.st.hash.size;
    checkIdBuffer(this.st, ids, count);
    const window = Math.max(1, options.window ?? 1024);
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    const onStream = options.onStream;
    const streamAbove = onStream === undefined ? Number.POSITIVE_INFINITY : (options.streamAbove ?? 0);
    const chunkSize = options.chunkSize ?? STREAM_CHUNK;
    const plan = planBatch(this.st, ids, count);
    const done = new Uint8Array(count);
    const held = new Array<StoredObject | undefined>(Math.min(window, count));
    /** Ids of the window to stream when their turn comes (answered, but not read). */
    const toStream = new Uint8Array(Math.min(window, count));
    const arena = options.transient === true ? new WindowArena() : undefined;
    for (let from = 0; from < count; from += window) {
      const to = Math.min(count, from + window);
      arena?.reset();
      if (plan !== undefined) {
        answerRange(
          this.st,
          plan,
          ids,
          from,
          to,
          done,
          (k, pack, hit, b, at) => {
            const o =
              onStream === undefined
                ? readPacked(this.st, pack, hit, b, at, undefined, arena !== undefined)
                : readPackedAtMost(this.st, pack, hit, b, at, streamAbove, arena !== undefined);
            if (o === undefined) {
              toStream[k - from] = 1;
              return 0;
            }
            // A borrowed view: into the window's buffer.
            if (arena !== undefined) o.data = arena.copy(o.data);
            held[k - from] = o;
            return o.size;
          },
          maxBytes,
        );
      }
      for (let k = from; k < to; k++) {
        const oid = ids.subarray(k * H, k * H + H);
        if (onStream !== undefined && (toStream[k - from] === 1 || done[k] !== 1)) {
          toStream[k - from] = 0;
          const o = readOrStream(this.st, oid, streamAbove, chunkSize);
          if (o === undefined || !('read' in o)) {
            onObject(k, o);
            continue;
          }
          try {
            onStream(k, o);
          } finally {
            o.close();
          }
          continue;
        }
        let o: StoredObject | undefined;
        if (done[k] === 1) {
          o = held[k - from];
          held[k - from] = undefined;
        } else {
          o = this.readObject(oid);
        }
        onObject(k, o);
      }
    }
  }
}

/**
 * The buffer that `readObjectsEach` reads a window's objects into when they are transient: filled
 * from its start again for each window, grown (to a new buffer; views of the old one stay valid)
 * when a window holds more. Objects over WINDOW_ARENA_OBJECT_MAX get bytes of their own, so that
 * one large object does not leave a buffer of its size behind.
 */
class WindowArena {
  private buf = new Uint8Array(0);
  private used = 0;

  reset(): void {
    this.used = 0;
  }

  copy(src: Uint8Array): Uint8Array {
    const n = src.length;
    if (n > WINDOW_ARENA_OBJECT_MAX) return src.slice();
    if (this.used + n > this.buf.length) {
      this.buf = new Uint8Array(Math.max(2 * this.buf.length, n, 1 << 16));
      this.used = 0;
    }
    const out = this.buf.subarray(this.used, this.used + n);
    out.set(src);
    this.used += n;
    return out;
  }
}

const WINDOW_ARENA_OBJECT_MAX = 1 << 20;

/** Git's error for a MIDX whose ids are not in increasing order (at positions `a` < `b`). */
function oidOrderError(file: string, a: number, hexA: string, b: number, hexB: string): GitMidxError {
  const git = `oid lookup out of order: oid[${a}] = ${hexA} >= ${hexB} = oid[${b}]`;
  return new GitMidxError('MIDX_OID_ORDER', `${file}: ${git}`, { file, data: { git } });
}
