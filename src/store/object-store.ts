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
import { compareBytes, fromHex, toHex, utf8 } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm, Hasher, HashFunction } from '../hash.js';
import { PagePool, type RandomAccessReader } from '../io.js';
import { CHAIN_DIR, CHAIN_FILE, loadChain } from '../midx/chain.js';
import { checkOidArgument, idxName, MultiPackIndex } from '../midx/reader.js';
import { PackIndex } from '../pack/idx.js';
import { jsInflater } from '../pack/js-inflater.js';
import {
  DEFAULT_MAX_OBJECT_SIZE,
  type Inflater,
  OBJ_OFS_DELTA,
  OBJ_REF_DELTA,
  type ObjectType,
  PackFile,
  type PackObject,
  TYPE_NUMBER,
} from '../pack/pack.js';
import { BytesObjectStream, type ObjectStream } from '../pack/stream.js';
import type { DiagnosticCallback } from '../progress.js';
import { jsHash } from '../sha.js';
import { type HintedReader, isPending, type StoreFiles, storeFiles } from '../storage/resident.js';
import type { Storage } from '../storage/storage.js';
import { readAlternateDirs } from './alternates.js';
import {
  hasLooseFile,
  type LooseCodec,
  listLooseObjects,
  looseFileSize,
  looseIdsWithPrefix,
  loosePath,
  openLooseStream,
  readLooseHeader,
  readLooseObject,
} from './loose.js';

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
   * Delta-base cache budget of the whole store, in bytes (default 256 MiB): split evenly over the
   * packs that can be open at once (at least 1 MiB each), so memory stays bounded with many packs.
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
}

/** Chunks of `streamObject` by default. */
const STREAM_CHUNK = 1 << 18;

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

/** `.idx` files up to this size are read whole when opened rather than page by page. */
const WHOLE_IDX_BYTES = 1024 * 1024;
/** Git's type numbers by name. */
/** Batches of at least this many ids release each pack's pages when done with it. */
const RELEASE_MIN = 8192;

/** Below this many ids a batch goes id by id. */
const BATCH_MIN = 64;

/** Shortest hex prefix Git takes as an abbreviated id (`MINIMUM_ABBREV`). */
export const MIN_ABBREV = 4;

// ---------------------------------------------------------------------------------------------

interface Source {
  /** Object directory for file access (absolute). */
  dir: string;
  /** The same as messages name it (the path as given for the local one; alternates are real paths). */
  shown: string;
  local: boolean;
  /** Every pack seen in this directory, by `.idx` basename. */
  packs: Map<string, PackSlot>;
  /** Its MIDX: the flat file, or an incremental chain's layers (newest first); none: empty. */
  midxs: MidxState[];
  /** Identity (dev, inode, size, mtime) of the MIDX file last looked at; '' when there was none. */
  midxId: string | undefined;
  /** `.idx` names listed by `info/packs` and their rank there (newest highest). */
  infoOrder: Map<string, number>;
}

interface MidxState {
  midx: MultiPackIndex;
  source: Source;
  /** By pack-int-id. */
  slots: PackSlot[];
  disabled: boolean;
}

interface Extents {
  /** Entry offsets, ascending. */
  offsets: Float64Array;
  /** `.idx` position of each offset above. */
  positions: Uint32Array;
}

class PackSlot {
  idx: PackIndex | undefined;
  pack: PackFile | undefined;
  /** Why the pack is unusable ('gone' when its files are missing); undefined while it is fine. */
  failed: string | undefined;
  /** Whether a directory scan registered it (an `.idx` with a regular `.pack`); MIDX packs need not be. */
  listed = false;
  mtime = 0;
  /** The MIDX that covers it, if any. */
  midx: MidxState | undefined;
  /** Ids whose copy here turned out unreadable (hex). */
  bad: Set<string> | undefined;
  /**
   * Its `.idx` and a MIDX were found to disagree on an offset: one of the two files is damaged, and
   * which one cannot always be told (a REF_DELTA base is found through the `.idx`). Every object
   * then served from this pack is read and hashed first.
   */
  suspect = false;
  extents: Extents | undefined;
  /** When it was last used (the store's use counter), for closing the least recently used. */
  lastUse = 0;
  constructor(
    readonly source: Source,
    readonly name: string,
    readonly idxPath: string,
    readonly packPath: string,
    /** The paths as messages name them. */
    readonly shownIdx: string,
    readonly shownPack: string,
  ) {}

  get plain(): boolean {
    return this.midx === undefined || this.midx.disabled;
  }
}

/** Where `planBatch` found each id: the MIDX (index into `states`, <0: none), pack and offset. */
interface BatchPlan {
  states: MidxState[];
  midxOf: Int32Array;
  packIds: Int32Array;
  offsets: Float64Array;
  /** First global pack-group number of each MIDX in `states` (prefix sums of their pack counts). */
  slotBase: Int32Array;
  /** An earlier id with the same value and the same place, or -1 (see `lookupMany`). */
  repeatOf: Int32Array;
}

interface PackHit {
  slot: PackSlot;
  offset: number;
  via: 'midx' | 'pack';
}

function joinRaw(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

function errno(e: unknown): string | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : undefined;
}

/** The name of a MIDX file in a pack directory. */
const MIDX_NAME = 'multi-pack-index';
/** Largest chain file read (a line per layer). */
const CHAIN_FILE_MAX = 16 * 1024 * 1024;
/** Largest `objects/info/packs` read (a line per pack). */
const INFO_PACKS_MAX = 64 * 1024 * 1024;
const utf8Decoder = new TextDecoder();
/** Thrown inside the store when a file it opens is missing (not a damage: it went away). */
const GONE = Symbol('gone');

function gitText(e: unknown): string {
  if (isGitMidxError(e)) return String(e.data.git ?? e.message);
  return e instanceof Error ? e.message : String(e);
}

/** Errors that mean "this copy cannot be read" rather than a bug: ours, and the file system's. */
function isReadFailure(e: unknown): boolean {
  return isGitMidxError(e) || (e instanceof Error && errno(e) !== undefined);
}

/**
 * The planned ids in `[from, to)` not yet done (nor repeats of an earlier one there, with
 * `repeatOf`), grouped by pack: a counting sort over every MIDX's packs. `start[g]` is where pack
 * group g begins in the result (S + 1 entries); each group is in input order.
 */
function groupByPack(
  plan: BatchPlan,
  from: number,
  to: number,
  done: Uint8Array,
  repeatOf: Int32Array | undefined,
  start: Int32Array,
): Int32Array {
  const { midxOf, packIds, slotBase } = plan;
  const S = start.length - 1;
  const take = new Int32Array(to - from).fill(-1);
  for (let k = from; k < to; k++) {
    const mi = midxOf[k];
    if (mi < 0 || done[k] !== 0 || (repeatOf !== undefined && repeatOf[k] >= from)) continue;
    const g = slotBase[mi] + packIds[k];
    take[k - from] = g;
    start[g + 1]++;
  }
  for (let g = 0; g < S; g++) start[g + 1] += start[g];
  const fill = start.slice(0, S);
  const byPack = new Int32Array(start[S]);
  for (let k = from; k < to; k++) {
    const g = take[k - from];
    if (g >= 0) byPack[fill[g]++] = k;
  }
  return byPack;
}

/**
 * Sorts `group` (indexes into `offsets`) by offset: as one numeric sort of keys `offset·2^19 + j`
 * while offsets stay below 2^34 (exact in a double), else with a comparator.
 */
function sortByOffset(group: Int32Array, offsets: Float64Array): void {
  const n = group.length;
  if (n < 2) return;
  const SPAN = 1 << 19;
  let fits = n <= SPAN;
  for (let j = 0; fits && j < n; j++) if (offsets[group[j]] >= 2 ** 34) fits = false;
  if (!fits) {
    group.sort((a, b) => offsets[a] - offsets[b]);
    return;
  }
  const keys = new Float64Array(n);
  for (let j = 0; j < n; j++) keys[j] = offsets[group[j]] * SPAN + j;
  keys.sort();
  const copy = group.slice();
  for (let j = 0; j < n; j++) group[j] = copy[keys[j] - Math.floor(keys[j] / SPAN) * SPAN];
}

/** Node's Buffer when there is one (its hex encoder is native); the portable core does without. */
const NodeBuffer = (
  globalThis as {
    Buffer?: { from(b: ArrayBufferLike, o: number, n: number): { toString(enc: 'hex'): string } };
  }
).Buffer;

/** Lowercase hex as one flat string (Buffer's encoder where there is one). */
function flatHex(b: Uint8Array): string {
  if (NodeBuffer === undefined) return toHex(b);
  return NodeBuffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

function hashObject(hashFn: HashFunction, hash: HashAlgorithm, type: string, data: Uint8Array): Uint8Array {
  const h = hashFn(hash);
  h.update(utf8(`${type} ${data.length}\0`));
  h.update(data);
  return h.digest();
}

/** A stream that hashes what it hands out and, at its end, checks that it is the object asked for. */
class VerifyingStream implements ObjectStream {
  private readonly hasher: Hasher;
  private finished = false;
  constructor(
    private readonly inner: ObjectStream,
    hashFn: HashFunction,
    hash: HashAlgorithm,
    private readonly hex: string,
  ) {
    this.hasher = hashFn(hash);
    this.hasher.update(utf8(`${inner.type} ${inner.size}\0`));
  }
  get type(): ObjectType {
    return this.inner.type;
  }
  get size(): number {
    return this.inner.size;
  }
  read(): Uint8Array | undefined {
    if (this.finished) return undefined;
    const chunk = this.inner.read();
    if (chunk !== undefined) {
      this.hasher.update(chunk);
      return chunk;
    }
    this.finished = true;
    const got = toHex(this.hasher.digest());
    if (got !== this.hex) {
      const git = `hash mismatch for ${this.hex} (got ${got})`;
      throw new GitMidxError('PACK_HASH_MISMATCH', git, { data: { git, oid: this.hex, actual: got } });
    }
    return undefined;
  }
  close(): void {
    this.inner.close();
  }
}

/** Positions [lo, hi) of a sorted id table whose ids start with `prefixHex`, appended to `out`. */
function collectPrefix(
  fanout: Uint32Array,
  oidAt: (i: number) => Uint8Array,
  H: number,
  low: Uint8Array,
  prefixHex: string,
  out: Set<string>,
  accept: (i: number) => boolean = () => true,
): void {
  const b = low[0];
  let lo = b === 0 ? 0 : fanout[b - 1];
  const end = fanout[b];
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(oidAt(mid), 0, low, 0, H) < 0) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < end; i++) {
    const hex = toHex(oidAt(i), 0, H);
    if (!hex.startsWith(prefixHex)) break;
    if (accept(i)) out.add(hex);
  }
}

// ---------------------------------------------------------------------------------------------

export class ObjectStore {
  readonly hash: HashAlgorithm;
  /** Counters of what lookups did (see ObjectStoreCounters). */
  readonly counters: ObjectStoreCounters = {
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
  private readonly sources: Source[] = [];
  private readonly useMidx: boolean;
  private readonly verify: boolean;
  private readonly cacheBytes: number;
  private readonly maxOpen: number;
  private readonly maxObjectSize: number;
  /** The limit asked for, when it was lowered to what a Buffer can hold. */
  private readonly maxObjectSizeAsked: number | undefined;
  private readonly maxObjectSizeHint: string;
  private readonly readMidxWhole: boolean;
  private readonly onDiagnostic: DiagnosticCallback;
  private readonly emptyTree: Uint8Array;
  /** Plain packs (no active MIDX covers them) in most-recently-used order. */
  private mru: PackSlot[] = [];
  /** Spare pack page buffers, shared by every pack (see PagePool). */
  private readonly pagePool = new PagePool(16384, 256);
  /** Active MIDXs in lookup order. */
  private midxOrder: MidxState[] = [];
  /** Packs with open files (each slot's `lastUse` says how recently it was used). */
  private readonly lru = new Map<PackSlot, true>();
  private useTick = 0;
  /** Set until a remote store has looked for the packs outside its MIDX and its alternates. */
  private deferred:
    | {
        dir: string;
        alternates: readonly string[] | boolean | ((warn: (message: string) => void) => readonly string[]);
      }
    | undefined;
  /** Set while `hasObject` runs on a remote storage: a MIDX entry answers without its pack. */
  private midxSuffices = false;
  private closed = false;
  private readonly countRead = (n: number): void => {
    this.counters.bytesRead += n;
  };

  /** Where the store's files come from. */
  protected readonly files: StoreFiles;
  private readonly inflater: Inflater;
  private readonly hashFn: HashFunction;
  private readonly rescanOnMiss: boolean;
  private readonly codec: LooseCodec;

  protected constructor(files: StoreFiles, opts: StoreConfig) {
    const hash = opts.hash;
    if (EMPTY_TREE_HEX[hash?.name] === undefined) {
      throw new GitMidxError('INVALID_ARGUMENT', `unknown hash algorithm ${String(hash?.name)}`);
    }
    this.files = files;
    this.hash = hash;
    this.inflater = opts.inflate ?? jsInflater;
    this.hashFn = opts.hashFn ?? jsHash;
    this.rescanOnMiss = opts.rescanOnMiss ?? (!files.remote && !files.async);
    this.codec = { inflate: this.inflater, hashFn: this.hashFn };
    this.useMidx = opts.useMidx ?? true;
    // Over a network the files are not checked when opened (that would cost requests): every
    // object read is hashed instead.
    this.verify = opts.verifyHashes ?? files.remote;
    this.cacheBytes = opts.cacheBytes ?? 256 * 1024 * 1024;
    this.maxOpen = Math.max(1, opts.maxOpenPacks ?? 400);
    const asked = opts.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE;
    if (!(asked >= 0)) {
      throw new GitMidxError('INVALID_ARGUMENT', `maxObjectSize ${asked}: expected a number of bytes`);
    }
    this.maxObjectSize = Math.min(Math.floor(asked), opts.maxBufferBytes ?? 2 ** 32);
    this.maxObjectSizeAsked = asked > this.maxObjectSize ? asked : undefined;
    this.maxObjectSizeHint = opts.maxObjectSizeHint ?? 'the maxObjectSize option';
    this.readMidxWhole = opts.readMidxWhole ?? false;
    this.onDiagnostic = opts.onDiagnostic ?? (() => {});
    this.emptyTree = fromHex(EMPTY_TREE_HEX[hash.name])!;
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
      this.sources.length = 0;
      this.addSource(dir, shown, true);
      if (this.files.remote) {
        // Over a network only the MIDX is read now; the packs outside it and the alternates are
        // looked for on the first miss (most lookups never need them).
        this.deferred = { dir, alternates };
        this.scanSource(this.sources[0], true);
        this.rebuildOrder();
        return;
      }
      const warn = (w: string) => this.diag('error', w);
      const alts =
        alternates === true
          ? readAlternateDirs(this.files, dir, warn)
          : typeof alternates === 'function'
            ? alternates(warn)
            : alternates;
      if (alts !== false) for (const d of alts) this.addSource(d, d, false);
      for (const src of this.sources) this.scanSource(src);
      this.rebuildOrder();
    } catch (e) {
      if (isPending(e)) {
        // Asked again once the answer is there: start afresh then.
        for (const src of this.sources) for (const m of src.midxs) m.midx.close();
        throw e;
      }
      this.close();
      throw e;
    }
  }

  /**
   * A remote store's deferred discovery: the alternates and the packs no MIDX covers. Returns
   * whether there was any. Re-runnable: everything is read before the store changes, and what it
   * adds is added once.
   */
  private discoverRest(): boolean {
    const d = this.deferred;
    if (d === undefined) return false;
    const warn = (w: string) => this.diag('error', w);
    const alts =
      d.alternates === true
        ? readAlternateDirs(this.files, d.dir, warn)
        : typeof d.alternates === 'function'
          ? d.alternates(warn)
          : d.alternates;
    if (alts !== false) {
      for (const a of alts) if (!this.sources.some((s) => s.dir === a)) this.addSource(a, a, false);
    }
    for (const src of this.sources) this.scanSource(src);
    this.deferred = undefined;
    this.rebuildOrder();
    return true;
  }

  /** The `maxObjectSize` in force (lowered to what a Buffer holds): objects built in memory stay within it. */
  get objectSizeLimit(): number {
    return this.maxObjectSize;
  }

  /** The object directories searched: the local one first (as given), then the alternates in Git's order. */
  get objectDirs(): readonly string[] {
    return this.sources.map((s) => s.shown);
  }

  /** Releases every open file. The store cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.lru.keys()]) this.closeSlot(s, false);
    for (const src of this.sources) {
      for (const m of src.midxs) m.midx.close();
      src.midxs = [];
    }
  }

  // -------------------------------------------------------------------------------------------
  // Public lookups

  /**
   * The object's type, size and bytes, or undefined when it is missing. Throws LOOSE_CORRUPT for a
   * loose copy that cannot be read, and a PACK_* error when every packed copy turned out unreadable
   * (`data.git`: `packed object <oid> (stored in <pack>) is corrupt`).
   */
  readObject(oid: Uint8Array): StoredObject | undefined {
    this.checkOid(oid);
    if (this.isEmptyTree(oid)) {
      this.counters.virtualHits++;
      return { type: 'tree', size: 0, data: new Uint8Array(0) };
    }
    const hex = toHex(oid, 0, this.hash.size);
    return this.find(
      oid,
      hex,
      true,
      (pack, hit) => this.readPacked(pack, hit, oid, 0, hex),
      (file, shownAs) => this.readLoose(file, shownAs, hex),
    );
  }

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
    this.checkOid(oid);
    const chunkSize = opts.chunkSize ?? STREAM_CHUNK;
    if (!(Number.isSafeInteger(chunkSize) && chunkSize > 0)) {
      throw new GitMidxError('INVALID_ARGUMENT', `chunkSize ${chunkSize}: expected a positive whole number`);
    }
    if (this.isEmptyTree(oid)) {
      this.counters.virtualHits++;
      return new BytesObjectStream('tree', new Uint8Array(0), chunkSize);
    }
    const hex = toHex(oid, 0, this.hash.size);
    const s = this.find(
      oid,
      hex,
      true,
      (pack, hit): ObjectStream => {
        const whole = pack.openStream(hit.offset, chunkSize);
        if (whole !== undefined) return whole;
        const o = this.readPacked(pack, hit, oid, 0, hex);
        return new BytesObjectStream(o.type, o.data, chunkSize);
      },
      (file, shownAs) => {
        try {
          return openLooseStream(this.files, file, hex, this.codec, {
            chunkSize,
            shownAs,
            onRead: this.countRead,
          });
        } catch (e) {
          throw this.named(e, hex);
        }
      },
    );
    return s !== undefined && this.verify ? new VerifyingStream(s, this.hashFn, this.hash, hex) : s;
  }

  /**
   * Type and size, from headers only where they suffice (a delta's target size is in its header),
   * or undefined when the object is missing or no copy can be read (the reasons go to onDiagnostic).
   */
  objectInfo(oid: Uint8Array): ObjectInfo | undefined {
    this.checkOid(oid);
    if (this.isEmptyTree(oid)) {
      this.counters.virtualHits++;
      return { type: 'tree', size: 0 };
    }
    const hex = toHex(oid, 0, this.hash.size);
    return this.find(
      oid,
      hex,
      false,
      (pack, hit) => pack.infoAt(hit.offset),
      (file, shownAs) => {
        const h = readLooseHeader(this.files, file, hex, this.codec, { onRead: this.countRead, shownAs });
        return h && { type: h.type, size: h.size };
      },
    );
  }

  /** `objectInfo` plus where the copy lives: `%(objectsize:disk)`, `%(deltabase)`. */
  objectDetails(oid: Uint8Array): ObjectDetails | undefined {
    this.checkOid(oid);
    if (this.isEmptyTree(oid)) {
      this.counters.virtualHits++;
      return { type: 'tree', size: 0, source: 'virtual', diskSize: 0, deltaBase: undefined };
    }
    const hex = toHex(oid, 0, this.hash.size);
    return this.find(
      oid,
      hex,
      false,
      (pack, hit) => this.detailsPacked(pack, hit),
      (file, shownAs) => {
        const h = readLooseHeader(this.files, file, hex, this.codec, { onRead: this.countRead, shownAs });
        if (h === undefined) return undefined;
        return {
          type: h.type,
          size: h.size,
          source: 'loose',
          diskSize: looseFileSize(this.files, file) ?? 0,
          deltaBase: undefined,
          file: shownAs,
        };
      },
    );
  }

  /**
   * Whether the object exists: found in a valid pack, or a loose file by that name exists (Git's
   * `cat-file -e`; the loose file is not opened), or the empty tree.
   */
  hasObject(oid: Uint8Array): boolean {
    this.checkOid(oid);
    if (this.isEmptyTree(oid)) return true;
    const hex = toHex(oid, 0, this.hash.size);
    // Over a network, a MIDX entry is taken at its word: opening the pack would cost requests.
    this.midxSuffices = this.files.remote;
    try {
      return (
        this.find(
          oid,
          hex,
          false,
          () => true,
          (file) => (hasLooseFile(this.files, file) ? true : undefined),
        ) ?? false
      );
    } finally {
      this.midxSuffices = false;
    }
  }

  /**
   * `readObject` for many ids; results in input order (undefined = missing). The answers are those
   * of `readObject`; a large batch is read pack by pack in offset order (see `batchFromMidx`).
   */
  readObjects(oids: readonly Uint8Array[]): (StoredObject | undefined)[] {
    const out = new Array<StoredObject | undefined>(oids.length);
    const done = this.batchFromMidx(this.packIds(oids), oids.length, (k, pack, hit, ids, at) => {
      out[k] = this.readPacked(pack, hit, ids, at);
    });
    for (let i = 0; i < oids.length; i++) if (done[i] === 0) out[i] = this.readObject(oids[i]);
    return out;
  }

  /** `objectInfo` for many ids; results in input order (undefined = missing). */
  objectInfos(oids: readonly Uint8Array[]): (ObjectInfo | undefined)[] {
    const out = new Array<ObjectInfo | undefined>(oids.length);
    const done = this.batchFromMidx(this.packIds(oids), oids.length, (k, pack, hit) => {
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
  objectInfoPacked(ids: Uint8Array, count: number): { types: Uint8Array; sizes: Float64Array } {
    const H = this.hash.size;
    this.checkIdBuffer(ids, count);
    const types = new Uint8Array(count);
    const sizes = new Float64Array(count);
    const done = this.batchFromMidx(
      ids,
      count,
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

  /** `objectDetails` for many ids; results in input order (undefined = missing). */
  objectDetailsMany(oids: readonly Uint8Array[]): (ObjectDetails | undefined)[] {
    const out = new Array<ObjectDetails | undefined>(oids.length);
    const done = this.batchFromMidx(this.packIds(oids), oids.length, (k, pack, hit) => {
      out[k] = this.detailsPacked(pack, hit);
    });
    for (let i = 0; i < oids.length; i++) if (done[i] === 0) out[i] = this.objectDetails(oids[i]);
    return out;
  }

  /** `hasObject` for many ids, in input order. */
  hasObjects(oids: readonly Uint8Array[]): boolean[] {
    const done = this.batchFromMidx(this.packIds(oids), oids.length, () => {});
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
    const hexSize = this.hash.hexSize;
    if (hexPrefix.length < MIN_ABBREV || hexPrefix.length > hexSize || !/^[0-9a-fA-F]+$/.test(hexPrefix)) {
      return undefined;
    }
    this.discoverRest();
    const p = hexPrefix.toLowerCase();
    if (p.length === hexSize) {
      const oid = fromHex(p)!;
      return this.hasObject(oid) ? oid : undefined;
    }
    let found = this.prefixCandidates(p);
    if (found.length === 0 && this.rescanOnMiss) {
      this.rescan();
      found = this.prefixCandidates(p);
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

  /** `allObjectIds` as lowercase hex. */
  allObjectIdsHex(): string[] {
    this.checkOpen();
    this.discoverRest();
    const out: string[] = [];
    // Each MIDX and `.idx` lists its ids sorted and once: one list alone needs no sort.
    let lists = 0;
    for (const m of this.midxOrder) {
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
            ok = this.packOf(m.slots[id]) !== undefined;
            usable[id] = ok;
          }
          if (ok) {
            // Every id is read here anyway: one comparison each checks their order (a MIDX whose
            // ids are out of order pairs them with other objects' offsets).
            const hex = flatHex(midx.oidAt(n));
            if (hex <= prev) {
              const git = `oid lookup out of order: oid[${prevAt}] = ${prev} >= ${hex} = oid[${n}]`;
              throw new GitMidxError('MIDX_OID_ORDER', `${midx.file}: ${git}`, {
                file: midx.file,
                data: { git },
              });
            }
            prev = hex;
            prevAt = n;
            out.push(hex);
          } else {
            // Its pack is gone: listed only if another pack of this MIDX has it (other sources list their own).
            const oid = midx.oidAt(n);
            const hex = toHex(oid);
            if (this.otherMidxCopy(m, m.slots[id], oid, hex, false) !== undefined) out.push(hex);
          }
        }
      } catch (e) {
        if (!isGitMidxError(e)) throw e;
        this.disableMidx(m, e);
        return this.allObjectIdsHex();
      }
    }
    for (const slot of this.mru) {
      const idx = this.idxOf(slot);
      if (idx === undefined || this.packOf(slot) === undefined) continue;
      const H = this.hash.size;
      if (idx.numObjects > 0) lists++;
      for (let i = 0; i < idx.numObjects; i++) out.push(flatHex(idx.oidAt(i).subarray(0, H)));
    }
    for (const src of this.sources) {
      const loose = listLooseObjects(this.files, src.dir, this.hash);
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
    this.discoverRest();
    let n = 0;
    for (const m of this.midxOrder) n += m.midx.numObjects;
    for (const slot of this.mru) {
      const idx = this.idxOf(slot);
      if (idx) n += idx.numObjects;
    }
    return n;
  }

  /** Re-reads every pack directory and reloads MIDX files that changed (done by itself on a miss). */
  rescan(): void {
    this.checkOpen();
    // A storage that answers later forgets its answers in `AsyncObjectStore.rescan`, outside the
    // re-run operation (forgetting here would make every re-run ask again).
    if (!this.files.async) this.files.forget();
    this.counters.rescans++;
    for (const s of this.sources) this.scanSource(s);
    this.rebuildOrder();
  }

  // -------------------------------------------------------------------------------------------
  // The lookup (§6.1)

  private find<T>(
    oid: Uint8Array,
    hex: string,
    throwIfCorrupt: boolean,
    fromPack: (pack: PackFile, hit: PackHit) => T,
    fromLoose: (file: string, shownAs: string) => T | undefined,
  ): T | undefined {
    this.checkOpen();
    let looseDone = false;
    let rescanned = false;
    let lastError: { error: unknown; hit: PackHit } | undefined;
    for (;;) {
      const hit = this.findInPacks(oid, hex);
      if (hit !== undefined) {
        if (this.midxSuffices && hit.via === 'midx') return fromPack(undefined as unknown as PackFile, hit);
        const pack = this.packOf(hit.slot);
        if (pack === undefined) {
          // Closed to bound open files, and could not be reopened: it is gone now.
          this.counters.stalePackSkips++;
          continue;
        }
        try {
          if (hit.slot.suspect && !this.holds(pack, hit.offset, oid)) {
            const detail = `${hit.slot.shownIdx} places ${hex} at offset ${hit.offset}, where another object is`;
            throw new GitMidxError('PACK_HASH_MISMATCH', detail, {
              file: hit.slot.shownPack,
              data: { git: detail, oid: hex, offset: hit.offset },
            });
          }
          return fromPack(pack, hit);
        } catch (e) {
          // Too large is no damage of this copy: every copy is as large.
          if (!isReadFailure(e) || isGitMidxError(e, 'OBJECT_TOO_LARGE')) throw e;
          this.markBad(hit, hex, e);
          lastError = { error: e, hit };
          continue;
        }
      }
      if (!looseDone) {
        looseDone = true;
        const r = this.findLoose(hex, fromLoose);
        if (r !== undefined) return r;
      }
      if (this.discoverRest()) {
        looseDone = false;
        continue;
      }
      if (rescanned || !this.rescanOnMiss) break;
      rescanned = true;
      this.rescan();
    }
    this.counters.misses++;
    if (lastError !== undefined && throwIfCorrupt) {
      const e = lastError.error;
      const git = `packed object ${hex} (stored in ${lastError.hit.slot.shownPack}) is corrupt`;
      throw new GitMidxError(isGitMidxError(e) ? e.code : 'IO_ERROR', git, {
        file: lastError.hit.slot.shownPack,
        data: { git, oid: hex, offset: lastError.hit.offset, detail: gitText(e) },
        cause: e,
      });
    }
    return undefined;
  }

  private readPacked(pack: PackFile, hit: PackHit, ids: Uint8Array, at: number, hex?: string): StoredObject {
    let o: PackObject;
    try {
      o = pack.readAt(hit.offset);
    } catch (e) {
      throw this.named(e, hex ?? toHex(ids, at, at + this.hash.size));
    }
    if (this.verify)
      this.checkHash(hex ?? toHex(ids, at, at + this.hash.size), o.type, o.data, hit.slot.shownPack);
    return { type: o.type, size: o.data.length, data: o.data };
  }

  /**
   * `readPacked`, or for a whole object larger than `streamAbove` undefined (nothing read), for a
   * caller that streams such objects.
   */
  private readPackedAtMost(
    pack: PackFile,
    hit: PackHit,
    ids: Uint8Array,
    at: number,
    streamAbove: number,
  ): StoredObject | undefined {
    let o: PackObject | undefined;
    try {
      o = pack.readAtMost(hit.offset, streamAbove);
    } catch (e) {
      throw this.named(e, toHex(ids, at, at + this.hash.size));
    }
    if (o === undefined) return undefined;
    if (this.verify) this.checkHash(toHex(ids, at, at + this.hash.size), o.type, o.data, hit.slot.shownPack);
    return { type: o.type, size: o.data.length, data: o.data };
  }

  private readLoose(file: string, shownAs: string, hex: string, streamAbove?: number) {
    try {
      return readLooseObject(this.files, file, hex, this.hash, this.codec, {
        maxObjectSize: this.maxObjectSize,
        verifyHash: this.verify,
        onRead: this.countRead,
        shownAs,
        streamAbove,
      });
    } catch (e) {
      throw this.named(e, hex);
    }
  }

  /**
   * An `OBJECT_TOO_LARGE` from a pack or loose file, said of the object asked for: its id, what
   * was too large, the limit (and why it is lower than asked, if it is), how to raise it. Any other
   * error is returned as it is.
   */
  private named(e: unknown, hex: string): unknown {
    if (!isGitMidxError(e, 'OBJECT_TOO_LARGE') || e.data.named === true) return e;
    const size = Number(e.data.size);
    const role = e.data.role;
    const where = e.file !== undefined ? ` (in ${e.file})` : '';
    if (role === 'allocation') {
      const git = `object ${hex}${where}: out of memory for its ${size} bytes; lower the limit with ${this.maxObjectSizeHint}`;
      return new GitMidxError('OBJECT_TOO_LARGE', git, {
        file: e.file,
        data: { ...e.data, git, oid: hex, limit: this.maxObjectSize, named: true },
        cause: e,
      });
    }
    const what =
      role === 'delta base'
        ? `object ${hex}${where} needs a delta base of ${size} bytes`
        : role === 'delta'
          ? `object ${hex}${where} is stored as a delta of ${size} bytes`
          : `object ${hex}${where} is ${size} bytes`;
    const asked = this.maxObjectSizeAsked;
    const limit =
      asked === undefined
        ? `the limit of ${this.maxObjectSize} bytes`
        : `the limit of ${this.maxObjectSize} bytes (${asked} was asked for; a buffer holds at most ${this.maxObjectSize})`;
    const git = `${what}, more than ${limit}; raise the limit with ${this.maxObjectSizeHint}`;
    return new GitMidxError('OBJECT_TOO_LARGE', git, {
      file: e.file,
      data: { ...e.data, git, oid: hex, limit: this.maxObjectSize, asked, named: true },
      cause: e,
    });
  }

  private detailsPacked(pack: PackFile, hit: PackHit): ObjectDetails {
    const info = pack.infoAt(hit.offset);
    const e = pack.entryAt(hit.offset);
    const idx = this.idxOf(hit.slot)!;
    const ext = this.extentsOf(hit.slot, idx);
    let deltaBase: Uint8Array | undefined;
    if (e.type === OBJ_OFS_DELTA) deltaBase = this.oidAtOffset(hit.slot, idx, ext, e.baseOffset!);
    else if (e.type === OBJ_REF_DELTA) deltaBase = e.baseOid;
    return {
      ...info,
      source: hit.via === 'midx' ? 'midx' : 'pack',
      diskSize: this.extentAt(hit.slot, pack, ext, hit.offset),
      deltaBase,
      file: hit.slot.shownPack,
      offset: hit.offset,
    };
  }

  /** The ids back to back in one buffer (each checked to be H bytes). */
  private packIds(oids: readonly Uint8Array[]): Uint8Array {
    if (!Array.isArray(oids)) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `object ids must be an array of Uint8Array, got ${typeof oids}`,
      );
    }
    const H = this.hash.size;
    const ids = new Uint8Array(oids.length * H);
    for (let i = 0; i < oids.length; i++) {
      this.checkOid(oids[i]);
      ids.set(oids[i], i * H);
    }
    return ids;
  }

  /**
   * The batch fast path, over `count` ids packed in `ids`: `planBatch` looks the ids up in each
   * MIDX together (`lookupMany`: one forward walk over the sorted ids instead of a search per id),
   * then `answerRange` answers a range of them pack by pack in offset order, so each pack is read
   * forwards and delta bases are still cached when their deltas come. `answer(k, …)` is called for
   * each id k answered there; the flags it sets say which (1). Everything else (small batches, ids
   * no MIDX has, stale or unreadable copies, the empty tree) is left to the one-id path, which gives
   * the same answers, counters and diagnostics as always.
   *
   * Unlike the one-id path, a batch does not look each id up again in its pack's own index (that
   * would read every index whole, doubling the cost): like Git, it trusts the MIDX's offsets, which
   * `verify` checks against every pack's index.
   */
  private batchFromMidx(
    ids: Uint8Array,
    count: number,
    answer: (k: number, pack: PackFile, hit: PackHit, ids: Uint8Array, at: number) => void,
    same?: (k: number, prev: number) => void,
  ): Uint8Array {
    const done = new Uint8Array(count);
    const plan = this.planBatch(ids, count);
    if (plan !== undefined)
      this.answerRange(plan, ids, 0, count, done, answer, Number.POSITIVE_INFINITY, same);
    return done;
  }

  private planBatch(ids: Uint8Array, count: number): BatchPlan | undefined {
    this.checkOpen();
    if (count < BATCH_MIN) return undefined;
    const H = this.hash.size;
    // -2: left to the one-id path (the empty tree); -1: no MIDX has it (yet).
    const midxOf = new Int32Array(count).fill(-1);
    let open = count;
    const e0 = this.emptyTree[0];
    for (let k = 0; k < count; k++) {
      if (ids[k * H] === e0 && this.isEmptyTree(ids.subarray(k * H, k * H + H))) {
        midxOf[k] = -2;
        open--;
      }
    }
    let packIds: Int32Array | undefined;
    let offsets: Float64Array | undefined;
    let repeatOf: Int32Array | undefined;
    const states: MidxState[] = [];
    for (const m of this.midxOrder) {
      if (m.disabled) continue;
      if (open < BATCH_MIN) break;
      // The ids still open, packed (the caller's buffer itself when all are).
      let sub = ids;
      let which: Int32Array | undefined;
      if (open < count) {
        which = new Int32Array(open);
        sub = new Uint8Array(open * H);
        for (let k = 0, j = 0; k < count; k++) {
          if (midxOf[k] !== -1) continue;
          which[j] = k;
          sub.set(ids.subarray(k * H, k * H + H), j * H);
          j++;
        }
      }
      let found: { packIds: Int32Array; offsets: Float64Array; repeatOf: Int32Array };
      try {
        found = m.midx.lookupMany(sub, which === undefined ? count : open);
      } catch (e) {
        if (!isGitMidxError(e)) throw e;
        this.disableMidx(m, e);
        continue;
      }
      const mi = states.length;
      states.push(m);
      if (which === undefined) {
        // Every id was open (and no MIDX before found any): the lookup's arrays are the plan's.
        packIds = found.packIds;
        offsets = found.offsets;
        repeatOf = found.repeatOf;
        for (let k = 0; k < count; k++) {
          if (packIds[k] >= 0) {
            midxOf[k] = mi;
            open--;
          }
        }
        continue;
      }
      if (packIds === undefined || offsets === undefined || repeatOf === undefined) {
        packIds = new Int32Array(count);
        offsets = new Float64Array(count);
        repeatOf = new Int32Array(count).fill(-1);
      }
      for (let j = 0; j < which.length; j++) {
        const id = found.packIds[j];
        if (id < 0) continue;
        const k = which[j];
        midxOf[k] = mi;
        open--;
        packIds[k] = id;
        offsets[k] = found.offsets[j];
        const r = found.repeatOf[j];
        if (r >= 0) repeatOf[k] = which[r];
      }
    }
    if (states.length === 0 || packIds === undefined || offsets === undefined || repeatOf === undefined) {
      return undefined;
    }
    const slotBase = new Int32Array(states.length + 1);
    for (let i = 0; i < states.length; i++) slotBase[i + 1] = slotBase[i] + states[i].slots.length;
    return { states, midxOf, packIds, offsets, slotBase, repeatOf };
  }

  /**
   * Answers the planned ids in `[from, to)` whose `done` flag is 0, pack by pack in offset order.
   * With `maxBytes`, stops answering once the answers hold that many bytes (`weigh`).
   */
  private answerRange(
    plan: BatchPlan,
    ids: Uint8Array,
    from: number,
    to: number,
    done: Uint8Array,
    answer: (k: number, pack: PackFile, hit: PackHit, ids: Uint8Array, at: number) => unknown,
    maxBytes = Number.POSITIVE_INFINITY,
    same?: (k: number, prev: number) => void,
  ): void {
    const H = this.hash.size;
    const { states, offsets, slotBase } = plan;
    // With `same`, an id repeated in the range is answered once, by its first query.
    const repeatOf = same === undefined ? undefined : plan.repeatOf;
    const S = slotBase[states.length];
    const start = new Int32Array(S + 1);
    const byPack = groupByPack(plan, from, to, done, repeatOf, start);
    const release = to - from >= RELEASE_MIN;
    let bytes = 0;
    let mi = 0;
    for (let g = 0; g < S && bytes < maxBytes; g++) {
      const lo = start[g];
      const hi = start[g + 1];
      if (lo === hi) continue;
      while (slotBase[mi + 1] <= g) mi++;
      const m = states[mi];
      if (m.disabled) continue;
      const group = byPack.subarray(lo, hi);
      sortByOffset(group, offsets);
      const slot = m.slots[g - slotBase[mi]];
      const pack = slot.failed === undefined ? this.packOf(slot) : undefined;
      if (pack === undefined) continue;
      // One hit for the whole group (no answer keeps it).
      const hit: PackHit = { slot, offset: 0, via: 'midx' };
      let prev = -1;
      for (let j = 0; j < group.length && bytes < maxBytes; j++) {
        const k = group[j];
        // The same id again (same pack, same offset: adjacent after the sort) is answered by
        // copying the answer just given.
        if (same !== undefined && prev >= 0 && offsets[k] === offsets[prev] && done[prev] === 1) {
          same(k, prev);
          done[k] = 1;
          this.counters.midxHits++;
          continue;
        }
        prev = k;
        if (slot.bad?.has(toHex(ids, k * H, k * H + H))) continue;
        try {
          hit.offset = offsets[k];
          const weight = answer(k, pack, hit, ids, k * H);
          if (typeof weight === 'number') bytes += weight;
        } catch (e) {
          if (!isReadFailure(e)) throw e;
          continue;
        }
        done[k] = 1;
        this.counters.midxHits++;
      }
      // A dense batch is done with this pack's pages: their buffers serve the next pack. (A small
      // batch keeps them cached for the next batch.)
      if (release) pack.releasePages();
    }
    if (repeatOf !== undefined && same !== undefined) {
      for (let k = from; k < to; k++) {
        const r = repeatOf[k];
        if (r < from || done[k] !== 0 || done[r] !== 1) continue;
        same(k, r);
        done[k] = 1;
        this.counters.midxHits++;
      }
    }
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
    } = {},
  ): void {
    const H = this.hash.size;
    this.checkIdBuffer(ids, count);
    const window = Math.max(1, options.window ?? 1024);
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    const onStream = options.onStream;
    const streamAbove = onStream === undefined ? Number.POSITIVE_INFINITY : (options.streamAbove ?? 0);
    const chunkSize = options.chunkSize ?? STREAM_CHUNK;
    const plan = this.planBatch(ids, count);
    const done = new Uint8Array(count);
    const held = new Array<StoredObject | undefined>(Math.min(window, count));
    /** Ids of the window to stream when their turn comes (answered, but not read). */
    const toStream = new Uint8Array(Math.min(window, count));
    for (let from = 0; from < count; from += window) {
      const to = Math.min(count, from + window);
      if (plan !== undefined) {
        this.answerRange(
          plan,
          ids,
          from,
          to,
          done,
          (k, pack, hit, b, at) => {
            const o =
              onStream === undefined
                ? this.readPacked(pack, hit, b, at)
                : this.readPackedAtMost(pack, hit, b, at, streamAbove);
            if (o === undefined) {
              toStream[k - from] = 1;
              return 0;
            }
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
          const o = this.readOrStream(oid, streamAbove, chunkSize);
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

  /**
   * `readObject`, except that a whole object larger than `streamAbove` comes as a stream (see
   * `streamObject`); undefined when missing.
   */
  private readOrStream(
    oid: Uint8Array,
    streamAbove: number,
    chunkSize: number,
  ): StoredObject | ObjectStream | undefined {
    this.checkOid(oid);
    if (this.isEmptyTree(oid)) return this.readObject(oid);
    const hex = toHex(oid, 0, this.hash.size);
    const r = this.find<StoredObject | ObjectStream>(
      oid,
      hex,
      true,
      (pack, hit) =>
        this.readPackedAtMost(pack, hit, oid, 0, streamAbove) ?? pack.openStream(hit.offset, chunkSize)!,
      (file, shownAs) => {
        const o = this.readLoose(file, shownAs, hex, streamAbove);
        return o?.stream ?? o;
      },
    );
    return r !== undefined && 'read' in r && this.verify
      ? new VerifyingStream(r, this.hashFn, this.hash, hex)
      : r;
  }

  private findInPacks(oid: Uint8Array, hex: string): PackHit | undefined {
    for (const m of this.midxOrder) {
      if (m.disabled) continue;
      let packId: number;
      let offset: number;
      try {
        const pos = m.midx.findPosition(oid);
        if (pos < 0) continue;
        packId = m.midx.packIdAt(pos);
        offset = m.midx.offsetAt(pos);
      } catch (e) {
        if (!isGitMidxError(e)) throw e;
        this.disableMidx(m, e);
        return this.findInPacks(oid, hex);
      }
      const slot = m.slots[packId];
      if (this.midxSuffices && slot.bad?.has(hex) !== true) {
        this.counters.midxHits++;
        return { slot, offset, via: 'midx' };
      }
      if (slot.bad?.has(hex) !== true) {
        const pack = this.packOf(slot);
        if (pack !== undefined) {
          // One id at a time, the pack's own index must agree. When it does not, one of the two
          // files is damaged, and the copy that answers is the one whose bytes hash to the id:
          // never another object under this name. (Batches trust the MIDX's offsets, as Git always
          // does; see planBatch.)
          // (Over a network that costs requests: objects are hashed when read there instead.)
          const own = this.files.remote ? offset : slot.idx!.lookup(oid);
          if (own !== offset) slot.suspect = true;
          if (own !== offset && !this.holds(pack, offset, oid)) {
            const git = `multi-pack-index ${m.midx.file} places ${hex} at offset ${offset} in ${slot.name}, its index at ${own ?? 'none'}`;
            this.disableMidx(m, new GitMidxError('MIDX_BAD_OFFSET', git, { data: { git } }));
            if (own !== undefined && own !== 0 && !this.holds(pack, own, oid)) {
              // Neither file places this object right: no copy in this pack is served.
              if (slot.bad === undefined) slot.bad = new Set();
              slot.bad.add(hex);
              this.diag('error', `${slot.shownIdx} places ${hex} at offset ${own}, where another object is`);
            }
            return this.findInPacks(oid, hex);
          }
          this.counters.midxHits++;
          return { slot, offset, via: 'midx' };
        }
        this.counters.stalePackSkips++;
      }
      // Another copy in the packs this MIDX covers (Git stops here).
      const other = this.otherMidxCopy(m, slot, oid, hex, true);
      if (other !== undefined) {
        this.counters.midxFallbackHits++;
        return other;
      }
    }
    for (let i = 0; i < this.mru.length; i++) {
      const slot = this.mru[i];
      if (slot.failed !== undefined) continue;
      const idx = this.idxOf(slot);
      const off = idx === undefined ? undefined : idx.lookup(oid);
      if (off === undefined || off === 0 || slot.bad?.has(hex) === true) continue;
      if (this.packOf(slot) === undefined) {
        this.counters.stalePackSkips++;
        continue;
      }
      if (i > 0) {
        this.mru.splice(i, 1);
        this.mru.unshift(slot);
      }
      this.counters.packHits++;
      return { slot, offset: off, via: 'pack' };
    }
    return undefined;
  }

  /**
   * Whether the entry at `offset` is `oid`: read and hashed. Only where a MIDX and an `.idx`
   * disagree (never on the normal path); an unreadable entry is not it.
   */
  private holds(pack: PackFile, offset: number, oid: Uint8Array): boolean {
    let o: { type: string; data: Uint8Array };
    try {
      o = pack.readAt(offset);
    } catch (e) {
      if (!isReadFailure(e)) throw e;
      return false;
    }
    return compareBytes(hashObject(this.hashFn, this.hash, o.type, o.data), 0, oid, 0, this.hash.size) === 0;
  }

  /** A copy of `oid` in a pack of MIDX `m` other than `slot` (whose copy is gone, invalid or bad). */
  private otherMidxCopy(
    m: MidxState,
    slot: PackSlot,
    oid: Uint8Array,
    hex: string,
    countSkips: boolean,
  ): PackHit | undefined {
    for (const other of m.slots) {
      if (other === slot || other.failed !== undefined || other.bad?.has(hex) === true) continue;
      const otherIdx = this.idxOf(other);
      const off = otherIdx === undefined ? undefined : otherIdx.lookup(oid);
      if (off === undefined || off === 0) continue;
      if (this.packOf(other) === undefined) {
        if (countSkips) this.counters.stalePackSkips++;
        continue;
      }
      return { slot: other, offset: off, via: 'pack' };
    }
    return undefined;
  }

  /** The first loose file by that name (local, then alternates), as Git looks no further. */
  private findLoose<T>(
    hex: string,
    fromLoose: (file: string, shownAs: string) => T | undefined,
  ): T | undefined {
    for (const src of this.sources) {
      const file = loosePath(src.dir, hex);
      try {
        const r = fromLoose(file, loosePath(src.shown, hex));
        if (r === undefined) continue;
        this.counters.looseHits++;
        return r;
      } catch (e) {
        if (isGitMidxError(e, 'LOOSE_CORRUPT') && e.data.missing === true) {
          if (typeof e.data.inflate === 'string') this.diag('error', e.data.inflate);
          this.diag('error', gitText(e));
          return undefined;
        }
        throw e;
      }
    }
    return undefined;
  }

  private markBad(hit: PackHit, hex: string, e: unknown): void {
    if (hit.slot.bad === undefined) hit.slot.bad = new Set();
    hit.slot.bad.add(hex);
    this.counters.badObjects++;
    this.diag('error', gitText(e));
    this.diag('error', `failed to read object ${hex} at offset ${hit.offset} from ${hit.slot.shownPack}`);
  }

  private checkHash(hex: string, type: string, data: Uint8Array, file: string): void {
    const got = toHex(hashObject(this.hashFn, this.hash, type, data));
    if (got !== hex) {
      const git = `hash mismatch for ${hex} in ${file} (got ${got})`;
      throw new GitMidxError('PACK_HASH_MISMATCH', git, { file, data: { git, oid: hex, actual: got } });
    }
  }

  private prefixCandidates(p: string): string[] {
    const H = this.hash.size;
    const low = fromHex(p.padEnd(this.hash.hexSize, '0'))!;
    const out = new Set<string>();
    for (const m of this.midxOrder) {
      try {
        collectPrefix(m.midx.fanout, (i) => m.midx.oidAt(i), H, low, p, out);
      } catch (e) {
        if (!isGitMidxError(e)) throw e;
        this.disableMidx(m, e);
        return this.prefixCandidates(p);
      }
    }
    for (const slot of this.mru) {
      const idx = this.idxOf(slot);
      if (idx !== undefined) collectPrefix(idx.fanout, (i) => idx.oidAt(i), H, low, p, out);
    }
    for (const src of this.sources) {
      for (const hex of looseIdsWithPrefix(this.files, src.dir, this.hash, p)) out.add(hex);
    }
    return [...out].sort();
  }

  // -------------------------------------------------------------------------------------------
  // Pack directories and MIDX files

  private addSource(dir: string, shown: string, local: boolean): void {
    this.sources.push({
      dir,
      shown,
      local,
      packs: new Map(),
      midxs: [],
      midxId: undefined,
      infoOrder: new Map(),
    });
  }

  private slotFor(src: Source, name: string): PackSlot {
    const key = idxName(name);
    let slot = src.packs.get(key);
    if (slot === undefined) {
      const stem = key.endsWith('.idx') ? key.slice(0, -4) : key;
      const at = (dir: string) => joinRaw(joinRaw(dir, 'pack'), '');
      slot = new PackSlot(
        src,
        key,
        `${at(src.dir)}${key}`,
        `${at(src.dir)}${stem}.pack`,
        `${at(src.shown)}${key}`,
        `${at(src.shown)}${stem}.pack`,
      );
      src.packs.set(key, slot);
    }
    return slot;
  }

  /** Loads (or reloads, when the file changed) the directory's MIDX, then lists its pack directory. */
  private scanSource(src: Source, midxOnly = false): void {
    const packDir = joinRaw(src.dir, 'pack');
    if (this.useMidx) {
      const file = joinRaw(packDir, MIDX_NAME);
      const shown = joinRaw(joinRaw(src.shown, 'pack'), MIDX_NAME);
      const chainFile = joinRaw(joinRaw(packDir, CHAIN_DIR), CHAIN_FILE);
      // A remote MIDX is read once (a static snapshot); a local one again whenever it (or, without
      // a flat file, the chain file) changed.
      const id = this.files.remote
        ? (src.midxId ?? 'remote')
        : (this.files.stat(file)?.identity ?? `chain:${this.files.stat(chainFile)?.identity ?? ''}`);
      if (id !== src.midxId) {
        // Loaded before anything changes: a load that has to wait for bytes is simply re-run.
        const flat = id === 'chain:' ? undefined : this.loadMidx(file, shown);
        // Current Git reads the chain only when there is no usable flat file.
        const layers = flat !== undefined || id === 'chain:' ? [] : this.loadLayers(src, packDir);
        src.midxId = id;
        for (const old of src.midxs) {
          old.midx.close();
          old.disabled = true;
          for (const s of old.slots) if (s.midx === old) s.midx = undefined;
        }
        src.midxs = [];
        for (const midx of flat !== undefined ? [flat] : layers) {
          this.counters.midxLoads++;
          const state: MidxState = { midx, source: src, slots: [], disabled: false };
          for (const name of midx.packNames) {
            const slot = this.slotFor(src, name);
            slot.midx = state;
            state.slots.push(slot);
          }
          src.midxs.push(state);
        }
      }
    }
    if (midxOnly) return;
    const listed = this.files.list(packDir);
    // A storage that cannot list (static HTTP) says which packs there are in `info/packs`.
    const names = listed === null ? this.infoPacks(src) : (listed ?? []);
    for (const name of names) {
      if (!name.endsWith('.idx')) continue;
      const known = src.packs.get(name);
      if (known !== undefined && (known.listed || !known.plain)) continue;
      if (src.midxs.some((m) => !m.disabled && m.midx.containsPack(name))) continue;
      const slot = known ?? this.slotFor(src, name);
      this.list(slot);
    }
  }

  /**
   * The `.idx` names of `objects/info/packs` (lines `P pack-….pack`), in its order, for a storage
   * that cannot list directories; none when it is missing.
   */
  private infoPacks(src: Source): string[] {
    const bytes = this.files.readFile(joinRaw(joinRaw(src.dir, 'info'), 'packs'), INFO_PACKS_MAX);
    if (bytes === undefined) return [];
    const out: string[] = [];
    for (const line of utf8Decoder.decode(bytes).split('\n')) {
      if (line.startsWith('P ') && line.endsWith('.pack')) out.push(`${line.slice(2, -5)}.idx`);
    }
    // Git's update-server-info lists newer packs first: keep that order as the mtime order.
    let t = out.length;
    for (const name of out) src.infoOrder.set(name, t--);
    return out;
  }

  /** Registers a plain pack if its `.pack` is a regular file (Git ignores an `.idx` without one). */
  private list(slot: PackSlot): void {
    if (slot.listed) return;
    const order = slot.source.infoOrder.get(slot.name);
    if (order !== undefined) {
      // Listed by `info/packs`: known without a request; its place there stands for its mtime.
      slot.mtime = order;
      slot.listed = true;
      return;
    }
    const st = this.files.stat(slot.packPath);
    if (st === undefined || st.regular === false) return; // no .pack (yet, or any more)
    slot.mtime = st.mtimeMs;
    slot.listed = true;
  }

  /**
   * The layers of the directory's incremental chain, newest first (Git's lookup order), with Git's
   * warnings for a chain that could not be loaded whole; none when there is no chain.
   */
  private loadLayers(src: Source, packDir: string): MultiPackIndex[] {
    const chainDir = joinRaw(packDir, CHAIN_DIR);
    const shownDir = joinRaw(joinRaw(src.shown, 'pack'), CHAIN_DIR);
    const loaded = loadChain(
      {
        readChain: () => this.files.readFile(joinRaw(chainDir, CHAIN_FILE), CHAIN_FILE_MAX),
        openLayer: (f) => {
          const r = this.files.open(joinRaw(chainDir, f));
          return r === undefined ? undefined : this.counted(r);
        },
        shown: (f) => joinRaw(shownDir, f),
      },
      this.hash,
    );
    if (loaded === undefined) return [];
    for (const w of loaded.warnings) this.diag('warning', w);
    return loaded.layers.map((l) => l.midx).reverse();
  }

  /** The MIDX file, opened and checked; undefined (after a warning) when it cannot be used. */
  private loadMidx(file: string, shown: string): MultiPackIndex | undefined {
    let reader: RandomAccessReader | undefined;
    try {
      if (this.readMidxWhole) {
        const bytes = this.files.readFile(file, Number.MAX_SAFE_INTEGER);
        if (bytes === undefined) return undefined;
        this.counters.bytesRead += bytes.length;
        return MultiPackIndex.fromBytes(bytes, { file: shown, hash: this.hash });
      }
      reader = this.files.open(file);
      if (reader === undefined) return undefined;
      return MultiPackIndex.open(this.counted(reader), { file: shown, hash: this.hash });
    } catch (e) {
      reader?.close();
      if (isPending(e)) throw e;
      this.rejectMidx(shown, e);
      return undefined;
    }
  }

  private rejectMidx(file: string, e: unknown): void {
    this.counters.midxRejected++;
    this.diag('warning', `${gitText(e)}; ignoring multi-pack-index ${file}`);
  }

  /** A MIDX whose lookups fail: warn once, serve its packs directly from now on. */
  private disableMidx(m: MidxState, e: unknown): void {
    if (m.disabled) return;
    m.disabled = true;
    this.rejectMidx(m.midx.file, e);
    for (const s of m.slots) {
      if (s.midx === m) s.midx = undefined;
      this.list(s);
    }
    m.midx.close();
    m.source.midxs = m.source.midxs.filter((x) => x !== m);
    this.rebuildOrder();
  }

  /**
   * MIDX order: local first, then alternates' (each inserted right after the first, as git 2.39
   * does); plain packs: local before alternate, newer `.pack` mtime first (`sort_pack()`), which
   * also resets the most-recently-used order, as a re-scan does in Git.
   */
  private rebuildOrder(): void {
    const order: MidxState[] = [];
    for (const src of this.sources) {
      const group = src.midxs.filter((m) => !m.disabled);
      if (group.length === 0) continue;
      if (order.length === 0) order.push(...group);
      else order.splice(1, 0, ...group);
    }
    this.midxOrder = order;
    const plain: PackSlot[] = [];
    for (const src of this.sources) {
      for (const slot of src.packs.values()) if (slot.plain && slot.listed) plain.push(slot);
    }
    plain.sort((a, b) => {
      if (a.source.local !== b.source.local) return a.source.local ? -1 : 1;
      return b.mtime - a.mtime;
    });
    this.mru = plain;
  }

  // -------------------------------------------------------------------------------------------
  // Opening packs (bounded), is_pack_valid

  private counted(r: RandomAccessReader): RandomAccessReader {
    const c = this.counters;
    const h = r as Partial<HintedReader>;
    return {
      // A remote reader's hints and nature pass through (src/storage/resident.ts).
      remote: h.remote,
      hint: h.hint?.bind(r),
      hintMany: h.hintMany?.bind(r),
      size: r.size,
      readInto(into, offset, length, position) {
        r.readInto(into, offset, length, position);
        c.bytesRead += length;
      },
      close() {
        r.close();
      },
    } as RandomAccessReader;
  }

  /**
   * Marks the slot used now (a stamp, so that the common case, a pack already open, is one store);
   * beyond `maxOpen` open packs, the least recently used others are closed.
   */
  private touch(slot: PackSlot): void {
    slot.lastUse = ++this.useTick;
    if (this.lru.has(slot)) return;
    this.lru.set(slot, true);
    while (this.lru.size > this.maxOpen) {
      let victim: PackSlot | undefined;
      for (const s of this.lru.keys()) {
        if (s !== slot && (victim === undefined || s.lastUse < victim.lastUse)) victim = s;
      }
      if (victim === undefined) break;
      this.closeSlot(victim, true);
    }
  }

  private closeSlot(slot: PackSlot, count: boolean): void {
    if (slot.pack !== undefined) {
      slot.pack.close();
      slot.pack = undefined;
      if (count) this.counters.packsClosed++;
    }
    slot.idx?.close();
    slot.idx = undefined;
    this.lru.delete(slot);
  }

  private fail(slot: PackSlot, e: unknown, what: 'index' | 'pack'): void {
    this.closeSlot(slot, false);
    if (e === GONE || errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') {
      // Gone (a concurrent repack deleted it): Git says nothing either.
      slot.failed = 'gone';
      return;
    }
    slot.failed = gitText(e);
    this.diag('error', gitText(e));
    if (what === 'index') this.diag('error', `packfile ${slot.shownPack} index unavailable`);
  }

  private idxOf(slot: PackSlot): PackIndex | undefined {
    if (slot.failed !== undefined) return undefined;
    if (slot.idx !== undefined) {
      this.touch(slot);
      return slot.idx;
    }
    let reader: RandomAccessReader;
    try {
      const r = this.files.open(slot.idxPath);
      if (r === undefined) throw GONE;
      reader = this.counted(r);
    } catch (e) {
      if (isPending(e)) throw e;
      this.fail(slot, e, 'index');
      return undefined;
    }
    try {
      // A small index is read whole, once (random lookups would touch most of its pages anyway);
      // a large one goes through a bounded page cache.
      // A MIDX-covered pack needs only its index's fanout and trailer (is_pack_valid), so it is
      // read by pages.
      const whole = reader.size <= WHOLE_IDX_BYTES && slot.plain;
      slot.idx = PackIndex.open(reader, {
        hash: this.hash,
        file: slot.shownIdx,
        pageSize: whole ? Math.max(1, reader.size) : 4096,
        cacheBytes: whole ? Math.max(1, reader.size) : 1024 * 1024,
      });
    } catch (e) {
      if (isPending(e)) throw e;
      this.fail(slot, e, 'index');
      return undefined;
    }
    this.touch(slot);
    return slot.idx;
  }

  /** One open pack's share of the delta-base cache budget. */
  private packCacheBytes(): number {
    let known = 0;
    for (const src of this.sources) known += src.packs.size;
    const sharing = Math.max(1, Math.min(this.maxOpen, known));
    return Math.max(1 << 20, Math.floor(this.cacheBytes / sharing));
  }

  /** The pack, opened and checked as Git's `is_pack_valid()` does; undefined when it is unusable. */
  private packOf(slot: PackSlot): PackFile | undefined {
    const idx = this.idxOf(slot);
    if (idx === undefined) return undefined;
    if (slot.pack !== undefined) return slot.pack;
    let reader: RandomAccessReader | undefined;
    try {
      const r = this.files.open(slot.packPath);
      if (r === undefined) throw GONE;
      reader = this.counted(r);
      const pack = new PackFile(reader, idx, {
        file: slot.shownPack,
        hash: this.hash,
        inflate: this.inflater,
        hashFn: this.hashFn,
        cacheBytes: this.packCacheBytes(),
        maxObjectSize: this.maxObjectSize,
        pageCacheBytes: 1024 * 1024,
        pagePool: this.pagePool,
      });
      pack.validate(!this.files.remote);
      slot.pack = pack;
    } catch (e) {
      reader?.close();
      if (e !== GONE && !isReadFailure(e)) throw e;
      this.fail(slot, e, 'pack');
      return undefined;
    }
    this.counters.packsOpened++;
    return slot.pack;
  }

  /** Entry offsets of a pack in ascending order, with their `.idx` positions (built once per pack). */
  private extentsOf(slot: PackSlot, idx: PackIndex): Extents {
    if (slot.extents !== undefined) return slot.extents;
    const n = idx.numObjects;
    const raw = new Float64Array(n);
    for (let i = 0; i < n; i++) raw[i] = idx.offsetAt(i);
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => raw[a] - raw[b]);
    const offsets = new Float64Array(n);
    for (let i = 0; i < n; i++) offsets[i] = raw[order[i]];
    slot.extents = { offsets, positions: order };
    return slot.extents;
  }

  private static findOffset(ext: Extents, offset: number): number {
    let lo = 0;
    let hi = ext.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ext.offsets[mid] < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < ext.offsets.length && ext.offsets[lo] === offset ? lo : -1;
  }

  /** Bytes from the entry at `offset` to the next entry or the trailer (§2.4). */
  private extentAt(slot: PackSlot, pack: PackFile, ext: Extents, offset: number): number {
    const i = ObjectStore.findOffset(ext, offset);
    if (i < 0) {
      const git = `offset ${offset} is not an entry of ${slot.shownPack}`;
      throw new GitMidxError('PACK_BAD_OBJECT', git, { file: slot.shownPack, data: { git, offset } });
    }
    const next = i + 1 < ext.offsets.length ? ext.offsets[i + 1] : pack.size - this.hash.size;
    return next - offset;
  }

  private oidAtOffset(slot: PackSlot, idx: PackIndex, ext: Extents, offset: number): Uint8Array {
    const i = ObjectStore.findOffset(ext, offset);
    if (i < 0) {
      const git = `delta base offset ${offset} is not an entry of ${slot.shownPack}`;
      throw new GitMidxError('PACK_BAD_OBJECT', git, { file: slot.shownPack, data: { git, offset } });
    }
    return idx.oidAt(ext.positions[i]).slice();
  }

  // -------------------------------------------------------------------------------------------

  private isEmptyTree(oid: Uint8Array): boolean {
    const e = this.emptyTree;
    if (oid[0] !== e[0] || oid[1] !== e[1]) return false;
    return compareBytes(oid, 0, e, 0, this.hash.size) === 0;
  }

  /** Ids are bytes of the hash's size: a hex string (or anything else) is INVALID_ARGUMENT. */
  private checkOid(oid: Uint8Array): void {
    if (!(oid instanceof Uint8Array) || oid.length !== this.hash.size) {
      checkOidArgument(oid, undefined, this.hash.size, this.hash.name);
    }
  }

  /** `count` ids back to back: a Uint8Array of at least count × H bytes. */
  private checkIdBuffer(ids: Uint8Array, count: number): void {
    const H = this.hash.size;
    if (!(ids instanceof Uint8Array)) checkOidArgument(ids, 0, H, this.hash.name);
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new GitMidxError('INVALID_ARGUMENT', `id count must be a non-negative integer, got ${count}`);
    }
    if (ids.length < count * H) {
      throw new GitMidxError('INVALID_ARGUMENT', `${count} ids need ${count * H} bytes, got ${ids.length}`);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new GitMidxError('INVALID_ARGUMENT', 'object store used after close()');
  }

  private diag(level: 'warning' | 'error', message: string): void {
    this.onDiagnostic({ level, message });
  }
}
