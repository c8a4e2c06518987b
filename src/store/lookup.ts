/**
 * The lookup policy (docs/architecture.md, "The object store"): every MIDX, then the plain packs,
 * then loose objects, then one re-scan; damaged copies skipped, suspect packs hashed, errors named
 * after the object asked for.
 */
import { compareBytes, toHex, utf8 } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm, Hasher, HashFunction } from '../hash.js';
import {
  OBJ_OFS_DELTA,
  OBJ_REF_DELTA,
  type ObjectType,
  objectTypeName,
  type PackFile,
} from '../pack/pack.js';
import type { ObjectStream } from '../pack/stream.js';
import { loosePath, readLooseObject } from './loose.js';
import type { ObjectDetails, StoredObject } from './object-store.js';
import { extentAt, extentsOf, idxOf, oidAtOffset, packOf } from './packs.js';
import { disableMidx, discoverRest } from './sources.js';
import {
  checkOpen,
  diag,
  gitText,
  hashObject,
  isReadFailure,
  type MidxState,
  type PackHit,
  type PackSlot,
  type StoreState,
} from './state.js';

/**
 * The object `oid` through the lookup policy: `fromPack` reads the copy found in a pack,
 * `fromLoose` a loose file (undefined: none there). Both are given the id too, so that a caller
 * can pass the same functions for every id. `hex` is the id's hex form, or undefined: then it is
 * made only where needed (messages, damaged copies, loose files), not for each lookup.
 */
export function find<T>(
  st: StoreState,
  oid: Uint8Array,
  hex: string | undefined,
  throwIfCorrupt: boolean,
  fromPack: (pack: PackFile, hit: PackHit, oid: Uint8Array, hex: string | undefined) => T,
  fromLoose: (file: string, shownAs: string, hex: string) => T | undefined,
): T | undefined {
  checkOpen(st);
  let looseDone = false;
  let rescanned = false;
  let lastError: { error: unknown; hit: PackHit } | undefined;
  for (;;) {
    const hit = findInPacks(st, oid, hex);
    if (hit !== undefined) {
      if (st.midxSuffices && hit.via === 'midx') {
        return fromPack(undefined as unknown as PackFile, hit, oid, hex);
      }
      const pack = packOf(st, hit.slot);
      if (pack === undefined) {
        // Closed to bound open files, and could not be reopened: it is gone now.
        st.counters.stalePackSkips++;
        continue;
      }
      try {
        if (hit.slot.suspect && !holds(st, pack, hit.offset, oid)) {
          hex ??= hexOf(st, oid);
          const detail = `${hit.slot.shownIdx} places ${hex} at offset ${hit.offset}, where another object is`;
          throw new GitMidxError('PACK_HASH_MISMATCH', detail, {
            file: hit.slot.shownPack,
            data: { git: detail, oid: hex, offset: hit.offset },
          });
        }
        return fromPack(pack, hit, oid, hex);
      } catch (e) {
        // Too large is no damage of this copy: every copy is as large.
        if (!isReadFailure(e) || isGitMidxError(e, 'OBJECT_TOO_LARGE')) throw e;
        hex ??= hexOf(st, oid);
        markBad(st, hit, hex, e);
        lastError = { error: e, hit };
        continue;
      }
    }
    // Packs come before loose objects (Git's order): a local store lists the packs its MIDXs do
    // not cover before it looks for a loose copy (a remote one asks for the loose file first).
    if (!st.files.remote && discoverRest(st)) continue;
    if (!looseDone) {
      looseDone = true;
      hex ??= hexOf(st, oid);
      const r = findLoose(st, hex, fromLoose);
      if (r !== undefined) return r;
    }
    if (discoverRest(st)) {
      looseDone = false;
      continue;
    }
    if (rescanned || !st.rescanOnMiss) break;
    rescanned = true;
    st.store.rescan();
  }
  st.counters.misses++;
  if (lastError !== undefined && throwIfCorrupt) {
    const e = lastError.error;
    hex ??= hexOf(st, oid);
    const git = `packed object ${hex} (stored in ${lastError.hit.slot.shownPack}) is corrupt`;
    throw new GitMidxError(isGitMidxError(e) ? e.code : 'IO_ERROR', git, {
      file: lastError.hit.slot.shownPack,
      data: { git, oid: hex, offset: lastError.hit.offset, detail: gitText(e) },
      cause: e,
    });
  }
  return undefined;
}

export function readPacked(
  st: StoreState,
  pack: PackFile,
  hit: PackHit,
  ids: Uint8Array,
  at: number,
  hex?: string,
  /** The bytes may be borrowed (`PackFile.dataViewAt`): valid until the next read. */
  view = false,
): StoredObject {
  let data: Uint8Array;
  try {
    data = view ? pack.dataViewAt(hit.offset) : pack.dataAt(hit.offset);
  } catch (e) {
    throw named(st, e, hex ?? toHex(ids, at, at + st.hash.size));
  }
  const type = objectTypeName(pack.typeOfLast)!;
  if (st.verify) checkHash(st, hex ?? toHex(ids, at, at + st.hash.size), type, data, hit.slot.shownPack);
  return { type, size: data.length, data };
}

/**
 * `readPacked`, or for a whole object larger than `streamAbove` undefined (nothing read), for a
 * caller that streams such objects.
 */
export function readPackedAtMost(
  st: StoreState,
  pack: PackFile,
  hit: PackHit,
  ids: Uint8Array,
  at: number,
  streamAbove: number,
  /** The bytes may be borrowed (`PackFile.dataViewAtMost`): valid until the next read. */
  view = false,
): StoredObject | undefined {
  let data: Uint8Array | undefined;
  try {
    data = view
      ? pack.dataViewAtMost(hit.offset, streamAbove)
      : pack.readAtMost(hit.offset, streamAbove)?.data;
  } catch (e) {
    throw named(st, e, toHex(ids, at, at + st.hash.size));
  }
  if (data === undefined) return undefined;
  const type = objectTypeName(pack.typeOfLast)!;
  if (st.verify) checkHash(st, toHex(ids, at, at + st.hash.size), type, data, hit.slot.shownPack);
  return { type, size: data.length, data };
}

export function readLoose(st: StoreState, file: string, shownAs: string, hex: string, streamAbove?: number) {
  try {
    return readLooseObject(st.files, file, hex, st.hash, st.codec, {
      maxObjectSize: st.maxObjectSize,
      verifyHash: st.verify,
      onRead: st.countRead,
      shownAs,
      streamAbove,
    });
  } catch (e) {
    throw named(st, e, hex);
  }
}

/**
 * An `OBJECT_TOO_LARGE` from a pack or loose file, said of the object asked for: its id, what
 * was too large, the limit (and why it is lower than asked, if it is), how to raise it. Any other
 * error is returned as it is.
 */
export function named(st: StoreState, e: unknown, hex: string): unknown {
  if (!isGitMidxError(e, 'OBJECT_TOO_LARGE') || e.data.named === true) return e;
  const size = Number(e.data.size);
  const role = e.data.role;
  const where = e.file !== undefined ? ` (in ${e.file})` : '';
  if (role === 'allocation') {
    const git = `object ${hex}${where}: out of memory for its ${size} bytes; lower the limit with ${st.maxObjectSizeHint}`;
    return new GitMidxError('OBJECT_TOO_LARGE', git, {
      file: e.file,
      data: { ...e.data, git, oid: hex, limit: st.maxObjectSize, named: true },
      cause: e,
    });
  }
  const what =
    role === 'delta base'
      ? `object ${hex}${where} needs a delta base of ${size} bytes`
      : role === 'delta'
        ? `object ${hex}${where} is stored as a delta of ${size} bytes`
        : `object ${hex}${where} is ${size} bytes`;
  const asked = st.maxObjectSizeAsked;
  const limit =
    asked === undefined
      ? `the limit of ${st.maxObjectSize} bytes`
      : `the limit of ${st.maxObjectSize} bytes (${asked} was asked for; a buffer holds at most ${st.maxObjectSize})`;
  const git = `${what}, more than ${limit}; raise the limit with ${st.maxObjectSizeHint}`;
  return new GitMidxError('OBJECT_TOO_LARGE', git, {
    file: e.file,
    data: { ...e.data, git, oid: hex, limit: st.maxObjectSize, asked, named: true },
    cause: e,
  });
}

/**
 * `objectDetails` of a packed copy; without `withSize`, the size is left 0 and nothing is inflated
 * (the type from entry headers): what `%(objectsize:disk)` and `%(deltabase)` need, as Git reads them.
 */
export function detailsPacked(st: StoreState, pack: PackFile, hit: PackHit, withSize = true): ObjectDetails {
  const info = withSize
    ? pack.infoAt(hit.offset)
    : { type: objectTypeName(pack.typeAt(hit.offset))!, size: 0 };
  const e = pack.entryAt(hit.offset);
  const idx = idxOf(st, hit.slot)!;
  const ext = extentsOf(st, hit.slot, idx);
  let deltaBase: Uint8Array | undefined;
  if (e.type === OBJ_OFS_DELTA) deltaBase = oidAtOffset(st, hit.slot, idx, ext, e.baseOffset!);
  else if (e.type === OBJ_REF_DELTA) deltaBase = e.baseOid;
  return {
    ...info,
    source: hit.via === 'midx' ? 'midx' : 'pack',
    diskSize: extentAt(st, hit.slot, pack, ext, hit.offset),
    deltaBase,
    file: hit.slot.shownPack,
    offset: hit.offset,
  };
}

/** The hex form of an id, for callers that were not given it. */
function hexOf(st: StoreState, oid: Uint8Array): string {
  return toHex(oid, 0, st.hash.size);
}

/** Whether `slot`'s copy of `oid` is known to be bad (hex: `oid`'s, when known). */
function isBad(st: StoreState, slot: PackSlot, oid: Uint8Array, hex: string | undefined): boolean {
  return slot.bad?.has(hex ?? hexOf(st, oid)) === true;
}

/**
 * `hasObject`'s answer when it is certain without the general path (`find`): a MIDX hit whose
 * position already agreed with its pack's own index, in an open pack with no damage known. Any
 * other case, a miss included, is undefined: the caller takes the general path, which decides.
 */
export function hasInMidx(st: StoreState, oid: Uint8Array): true | undefined {
  if (st.closed) return undefined;
  for (const m of st.midxOrder) {
    const agreed = m.agreed;
    if (m.disabled || agreed === undefined) return undefined;
    let pos: number;
    let slot: PackSlot;
    try {
      // (`oid` was checked by the caller: the search without the argument checks, when it can.)
      pos = m.midx.findHeld(oid) ?? m.midx.findPosition(oid);
      if (pos < 0) continue;
      slot = m.slots[m.midx.packIdAt(pos)];
    } catch {
      return undefined;
    }
    if ((agreed[pos >>> 3] & (1 << (pos & 7))) === 0) return undefined;
    if (slot.pack === undefined || slot.failed !== undefined || slot.bad !== undefined || slot.suspect) {
      return undefined;
    }
    // An open pack is in the open-pack list already (closeSlot drops both): only its use moves.
    slot.lastUse = ++st.useTick;
    st.counters.midxHits++;
    return true;
  }
  return undefined;
}

export function findInPacks(st: StoreState, oid: Uint8Array, hex: string | undefined): PackHit | undefined {
  for (const m of st.midxOrder) {
    if (m.disabled) continue;
    let packId: number;
    let offset: number;
    let pos: number;
    try {
      pos = m.midx.findPosition(oid);
      if (pos < 0) continue;
      packId = m.midx.packIdAt(pos);
      offset = m.midx.offsetAt(pos);
    } catch (e) {
      if (!isGitMidxError(e)) throw e;
      disableMidx(st, m, e);
      return findInPacks(st, oid, hex);
    }
    const slot = m.slots[packId];
    if (st.midxSuffices && !isBad(st, slot, oid, hex)) {
      st.counters.midxHits++;
      return { slot, offset, via: 'midx' };
    }
    if (!isBad(st, slot, oid, hex)) {
      const pack = packOf(st, slot);
      if (pack !== undefined) {
        // One id at a time, the pack's own index must agree. When it does not, one of the two
        // files is damaged, and the copy that answers is the one whose bytes hash to the id:
        // never another object under this name. (Batches trust the MIDX's offsets, as Git always
        // does; see planBatch.)
        // (Over a network that costs requests: objects are hashed when read there instead.)
        const agreed = m.agreed;
        if (agreed !== undefined && (agreed[pos >>> 3] & (1 << (pos & 7))) !== 0) {
          st.counters.midxHits++;
          return { slot, offset, via: 'midx' };
        }
        const own = st.files.remote ? offset : slot.idx!.lookup(oid);
        if (own === offset && !st.files.remote) {
          if (m.agreed === undefined) m.agreed = new Uint8Array((m.midx.numObjects + 7) >>> 3);
          m.agreed[pos >>> 3] |= 1 << (pos & 7);
        }
        if (own !== offset) slot.suspect = true;
        if (own !== offset && !holds(st, pack, offset, oid)) {
          hex ??= hexOf(st, oid);
          const git = `multi-pack-index ${m.midx.file} places ${hex} at offset ${offset} in ${slot.name}, its index at ${own ?? 'none'}`;
          disableMidx(st, m, new GitMidxError('MIDX_BAD_OFFSET', git, { data: { git } }));
          if (own !== undefined && own !== 0 && !holds(st, pack, own, oid)) {
            // Neither file places this object right: no copy in this pack is served.
            if (slot.bad === undefined) slot.bad = new Set();
            slot.bad.add(hex);
            diag(st, 'error', `${slot.shownIdx} places ${hex} at offset ${own}, where another object is`);
          }
          return findInPacks(st, oid, hex);
        }
        st.counters.midxHits++;
        return { slot, offset, via: 'midx' };
      }
      st.counters.stalePackSkips++;
    }
    // Another copy in the packs this MIDX covers (Git stops here).
    const other = otherMidxCopy(st, m, slot, oid, hex, true);
    if (other !== undefined) {
      st.counters.midxFallbackHits++;
      return other;
    }
  }
  for (let i = 0; i < st.mru.length; i++) {
    const slot = st.mru[i];
    if (slot.failed !== undefined) continue;
    const idx = idxOf(st, slot);
    const off = idx === undefined ? undefined : idx.lookup(oid);
    if (off === undefined || off === 0 || isBad(st, slot, oid, hex)) continue;
    if (packOf(st, slot) === undefined) {
      st.counters.stalePackSkips++;
      continue;
    }
    if (i > 0) {
      st.mru.splice(i, 1);
      st.mru.unshift(slot);
    }
    st.counters.packHits++;
    return { slot, offset: off, via: 'pack' };
  }
  return undefined;
}

/**
 * Whether the entry at `offset` is `oid`: read and hashed. Only where a MIDX and an `.idx`
 * disagree (never on the normal path); an unreadable entry is not it.
 */
export function holds(st: StoreState, pack: PackFile, offset: number, oid: Uint8Array): boolean {
  let o: { type: string; data: Uint8Array };
  try {
    o = pack.readAt(offset);
  } catch (e) {
    if (!isReadFailure(e)) throw e;
    return false;
  }
  return compareBytes(hashObject(st.hashFn, st.hash, o.type, o.data), 0, oid, 0, st.hash.size) === 0;
}

/** A copy of `oid` in a pack of MIDX `m` other than `slot` (whose copy is gone, invalid or bad). */
export function otherMidxCopy(
  st: StoreState,
  m: MidxState,
  slot: PackSlot,
  oid: Uint8Array,
  hex: string | undefined,
  countSkips: boolean,
): PackHit | undefined {
  for (const other of m.slots) {
    if (other === slot || other.failed !== undefined || isBad(st, other, oid, hex)) continue;
    const otherIdx = idxOf(st, other);
    const off = otherIdx === undefined ? undefined : otherIdx.lookup(oid);
    if (off === undefined || off === 0) continue;
    if (packOf(st, other) === undefined) {
      if (countSkips) st.counters.stalePackSkips++;
      continue;
    }
    return { slot: other, offset: off, via: 'pack' };
  }
  return undefined;
}

/** The first loose file by that name (local, then alternates), as Git looks no further. */
export function findLoose<T>(
  st: StoreState,
  hex: string,
  fromLoose: (file: string, shownAs: string, hex: string) => T | undefined,
): T | undefined {
  for (const src of st.sources) {
    const file = loosePath(src.dir, hex);
    try {
      const r = fromLoose(file, loosePath(src.shown, hex), hex);
      if (r === undefined) continue;
      st.counters.looseHits++;
      return r;
    } catch (e) {
      if (isGitMidxError(e, 'LOOSE_CORRUPT') && e.data.missing === true) {
        if (typeof e.data.inflate === 'string') diag(st, 'error', e.data.inflate);
        diag(st, 'error', gitText(e));
        return undefined;
      }
      throw e;
    }
  }
  return undefined;
}

/**
 * A packed copy that could not be read: it is not tried again, and the reasons go to onDiagnostic
 * as Git prints them (`data.readErrors` of a pack's read: those it did not report itself as it
 * looked for a damaged delta base elsewhere; docs/architecture.md, Errors).
 */
export function markBad(st: StoreState, hit: PackHit, hex: string, e: unknown): void {
  if (hit.slot.bad === undefined) hit.slot.bad = new Set();
  hit.slot.bad.add(hex);
  st.counters.badObjects++;
  const lines = isGitMidxError(e) && Array.isArray(e.data.readErrors) ? e.data.readErrors : [gitText(e)];
  for (const line of lines) diag(st, 'error', String(line));
}

export function checkHash(st: StoreState, hex: string, type: string, data: Uint8Array, file: string): void {
  const got = toHex(hashObject(st.hashFn, st.hash, type, data));
  if (got !== hex) {
    const git = `hash mismatch for ${hex} in ${file} (got ${got})`;
    throw new GitMidxError('PACK_HASH_MISMATCH', git, { file, data: { git, oid: hex, actual: got } });
  }
}

/** A stream that hashes what it hands out and, at its end, checks that it is the object asked for. */
export class VerifyingStream implements ObjectStream {
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
