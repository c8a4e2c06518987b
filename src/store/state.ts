/**
 * The store's shared state and vocabulary: the types every module of the object store uses
 * (directories, MIDX states, pack slots), small helpers, and the checks every public read makes.
 */
import { compareBytes, utf8 } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm, HashFunction } from '../hash.js';
import type { PagePool, SlabPool } from '../io.js';
import { checkOidArgument, type MultiPackIndex } from '../midx/reader.js';
import type { PackIndex } from '../pack/idx.js';
import type { Inflater, PackFile, PackObjectCache } from '../pack/pack.js';
import type { DiagnosticCallback } from '../progress.js';
import type { StoreFiles } from '../storage/resident.js';
import type { LooseCodec } from './loose.js';
import type { ObjectStore, ObjectStoreCounters } from './object-store.js';

/** Below this many ids a batch goes id by id. */
export const BATCH_MIN = 64;
/** Batches of at least this many ids release each pack's pages when done with it. */
export const RELEASE_MIN = 8192;
/** `.idx` files up to this size are read whole when opened rather than page by page. */
export const WHOLE_IDX_BYTES = 1024 * 1024;
/** Chunks of `streamObject` by default. */
export const STREAM_CHUNK = 1 << 18;

// ---------------------------------------------------------------------------------------------

export interface Source {
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

export interface MidxState {
  midx: MultiPackIndex;
  source: Source;
  /** By pack-int-id. */
  slots: PackSlot[];
  disabled: boolean;
  /**
   * MIDX positions whose offset the pack's own index was found to agree with (a bit each, made on
   * first use): both files stay as they are while open, so a later lookup of the same id needs no
   * second search.
   */
  agreed?: Uint8Array;
}

export interface Extents {
  /** Entry offsets, ascending. */
  offsets: Float64Array;
  /** `.idx` position of each offset above. */
  positions: Uint32Array;
}

export class PackSlot {
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

export interface PackHit {
  slot: PackSlot;
  offset: number;
  via: 'midx' | 'pack';
}

export function joinRaw(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function errno(e: unknown): string | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : undefined;
}

/** The name of a MIDX file in a pack directory. */
export const MIDX_NAME = 'multi-pack-index';
/** Largest `objects/info/packs` read (a line per pack). */
export const INFO_PACKS_MAX = 64 * 1024 * 1024;
export const utf8Decoder = new TextDecoder();
/** Thrown inside the store when a file it opens is missing (not a damage: it went away). */
export const GONE = Symbol('gone');

export function gitText(e: unknown): string {
  if (isGitMidxError(e)) return String(e.data.git ?? e.message);
  return e instanceof Error ? e.message : String(e);
}

/** Errors that mean "this copy cannot be read" rather than a bug: ours, and the file system's. */
export function isReadFailure(e: unknown): boolean {
  return isGitMidxError(e) || (e instanceof Error && errno(e) !== undefined);
}

export function hashObject(
  hashFn: HashFunction,
  hash: HashAlgorithm,
  type: string,
  data: Uint8Array,
): Uint8Array {
  const h = hashFn(hash);
  h.update(utf8(`${type} ${data.length}\0`));
  h.update(data);
  return h.digest();
}

// ---------------------------------------------------------------------------------------------

/**
 * Everything an object store knows, shared by its modules (sources.ts, packs.ts, lookup.ts,
 * batch.ts, enumerate.ts): the options it was made with, its directories and their MIDXs, the
 * packs with open files, the counters.
 */
export interface StoreState {
  /** The store these are the state of (for the public reads a module calls). */
  readonly store: ObjectStore;
  readonly hash: HashAlgorithm;
  readonly counters: ObjectStoreCounters;
  readonly files: StoreFiles;
  readonly inflater: Inflater;
  readonly hashFn: HashFunction;
  readonly rescanOnMiss: boolean;
  readonly codec: LooseCodec;
  readonly useMidx: boolean;
  readonly verify: boolean;
  readonly cacheBytes: number;
  /** The delta-base and small-object caches, shared by every pack of the store. */
  readonly baseCache: PackObjectCache;
  /** The delta levels reads keep, apart from the bases (PackFileOptions.levelCache). */
  readonly levelCache: PackObjectCache;
  readonly smallCache: PackObjectCache;
  readonly maxOpen: number;
  readonly maxObjectSize: number;
  /** The limit asked for, when it was lowered to what a Buffer can hold. */
  readonly maxObjectSizeAsked: number | undefined;
  readonly maxObjectSizeHint: string;
  readonly readMidxWhole: boolean;
  readonly readSmallPacksWhole: boolean;
  /** The local directory's flat MIDX when it is not `pack/multi-pack-index` (ObjectStoreOptions). */
  readonly midxFile: string | undefined;
  readonly onDiagnostic: DiagnosticCallback;
  readonly emptyTree: Uint8Array;
  /** The object directories: the local one first, then the alternates in Git's order. */
  readonly sources: Source[];
  /** Plain packs (no active MIDX covers them) in most-recently-used order. */
  mru: PackSlot[];
  /** Spare pack page buffers, shared by every pack (see PagePool). */
  readonly pagePool: PagePool;
  /** Spare buffers of small packs read whole, shared by every pack (see SlabPool). */
  readonly slabPool: SlabPool;
  /** Active MIDXs (flat files and chain layers) in lookup order. */
  midxOrder: MidxState[];
  /** Packs with open files (each slot's `lastUse` says how recently it was used). */
  readonly lru: Map<PackSlot, true>;
  useTick: number;
  /**
   * Set until the store has listed its pack directories for the packs outside its MIDXs (and, for
   * a remote store, read its alternates): a lookup that its MIDXs answer needs neither.
   */
  deferred:
    | {
        dir: string;
        alternates: readonly string[] | boolean | ((warn: (message: string) => void) => readonly string[]);
      }
    | undefined;
  /** Set while `hasObject` runs on a remote storage: a MIDX entry answers without its pack. */
  midxSuffices: boolean;
  closed: boolean;
  readonly countRead: (n: number) => void;
}

export function isEmptyTree(st: StoreState, oid: Uint8Array): boolean {
  const e = st.emptyTree;
  if (oid[0] !== e[0] || oid[1] !== e[1]) return false;
  return compareBytes(oid, 0, e, 0, st.hash.size) === 0;
}

/** Ids are bytes of the hash's size: a hex string (or anything else) is INVALID_ARGUMENT. */
export function checkOid(st: StoreState, oid: Uint8Array): void {
  if (!(oid instanceof Uint8Array) || oid.length !== st.hash.size) {
    checkOidArgument(oid, undefined, st.hash.size, st.hash.name);
  }
}

/** `count` ids back to back: a Uint8Array of at least count × H bytes. */
export function checkIdBuffer(st: StoreState, ids: Uint8Array, count: number): void {
  const H = st.hash.size;
  if (!(ids instanceof Uint8Array)) checkOidArgument(ids, 0, H, st.hash.name);
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new GitMidxError('INVALID_ARGUMENT', `id count must be a non-negative integer, got ${count}`);
  }
  if (ids.length < count * H) {
    throw new GitMidxError('INVALID_ARGUMENT', `${count} ids need ${count * H} bytes, got ${ids.length}`);
  }
}

export function checkOpen(st: StoreState): void {
  if (st.closed) throw new GitMidxError('INVALID_ARGUMENT', 'object store used after close()');
}

export function diag(st: StoreState, level: 'warning' | 'error', message: string): void {
  st.onDiagnostic({ level, message });
}
