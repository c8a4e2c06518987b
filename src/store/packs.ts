import { fromHex, toHex } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { RandomAccessReader } from '../io.js';
import { PackIndex } from '../pack/idx.js';
import { PackFile, TYPE_NUMBER } from '../pack/pack.js';
import { type HintedReader, isPending } from '../storage/resident.js';
import {
  diag,
  type Extents,
  errno,
  GONE,
  gitText,
  isReadFailure,
  type PackSlot,
  type StoreState,
  WHOLE_IDX_BYTES,
} from './state.js';

export function counted(st: StoreState, r: RandomAccessReader): RandomAccessReader {
  const c = st.counters;
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
export function touch(st: StoreState, slot: PackSlot): void {
  slot.lastUse = ++st.useTick;
  if (st.lru.has(slot)) return;
  st.lru.set(slot, true);
  while (st.lru.size > st.maxOpen) {
    let victim: PackSlot | undefined;
    for (const s of st.lru.keys()) {
      if (s !== slot && (victim === undefined || s.lastUse < victim.lastUse)) victim = s;
    }
    if (victim === undefined) break;
    closeSlot(st, victim, true);
  }
}

export function closeSlot(st: StoreState, slot: PackSlot, count: boolean): void {
  if (slot.pack !== undefined) {
    slot.pack.close();
    slot.pack = undefined;
    if (count) st.counters.packsClosed++;
  }
  slot.idx?.close();
  slot.idx = undefined;
  st.lru.delete(slot);
}

export function fail(st: StoreState, slot: PackSlot, e: unknown, what: 'index' | 'pack'): void {
  closeSlot(st, slot, false);
  if (e === GONE || errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') {
    // Gone (a concurrent repack deleted it): Git says nothing either.
    slot.failed = 'gone';
    return;
  }
  slot.failed = gitText(e);
  diag(st, 'error', gitText(e));
  if (what === 'index') diag(st, 'error', `packfile ${slot.shownPack} index unavailable`);
}

export function idxOf(st: StoreState, slot: PackSlot): PackIndex | undefined {
  if (slot.failed !== undefined) return undefined;
  if (slot.idx !== undefined) {
    touch(st, slot);
    return slot.idx;
  }
  let reader: RandomAccessReader;
  try {
    const r = st.files.open(slot.idxPath);
    if (r === undefined) throw GONE;
    reader = counted(st, r);
  } catch (e) {
    if (isPending(e)) throw e;
    fail(st, slot, e, 'index');
    return undefined;
  }
  try {
    // A small index is read whole, once (random lookups would touch most of its pages anyway);
    // a large one goes through a bounded page cache.
    // A MIDX-covered pack needs only its index's fanout and trailer (is_pack_valid), so it is
    // read by pages.
    const whole = reader.size <= WHOLE_IDX_BYTES && slot.plain;
    slot.idx = PackIndex.open(reader, {
      hash: st.hash,
      file: slot.shownIdx,
      pageSize: whole ? Math.max(1, reader.size) : 4096,
      cacheBytes: whole ? Math.max(1, reader.size) : 1024 * 1024,
    });
  } catch (e) {
    if (isPending(e)) throw e;
    fail(st, slot, e, 'index');
    return undefined;
  }
  touch(st, slot);
  return slot.idx;
}

/** Packs up to this size are read as one page (see packOf); larger ones by 16 KiB pages. */
const WHOLE_PACK_BYTES = 1 << 20;

/** The pack, opened and checked as Git's `is_pack_valid()` does; undefined when it is unusable. */
export function packOf(st: StoreState, slot: PackSlot): PackFile | undefined {
  const idx = idxOf(st, slot);
  if (idx === undefined) return undefined;
  if (slot.pack !== undefined) return slot.pack;
  let reader: RandomAccessReader | undefined;
  try {
    const r = st.files.open(slot.packPath);
    if (r === undefined) throw GONE;
    reader = counted(st, r);
    const pack = new PackFile(reader, idx, {
      file: slot.shownPack,
      hash: st.hash,
      inflate: st.inflater,
      hashFn: st.hashFn,
      baseCache: st.baseCache,
      levelCache: st.levelCache,
      smallCache: st.smallCache,
      maxObjectSize: st.maxObjectSize,
      readBaseElsewhere: (offset) => readBaseElsewhere(st, slot, offset),
      onReadError: (line) => diag(st, 'error', line),
      // A small local pack is one page, read whole when its first object is: random reads over
      // many packs then find their bytes with one lookup, not one per 16 KiB page. (Not through
      // async storage, whose resident blocks would assemble the whole pack at once.)
      ...(reader.size <= WHOLE_PACK_BYTES && st.readSmallPacksWhole && !st.files.remote && !st.files.async
        ? {
            pageSize: Math.max(1, reader.size),
            pageCacheBytes: Math.max(1, reader.size),
            pagePool: st.slabPool,
          }
        : { pageCacheBytes: 1024 * 1024, pagePool: st.pagePool }),
    });
    pack.validate(!st.files.remote);
    slot.pack = pack;
  } catch (e) {
    reader?.close();
    if (e !== GONE && !isReadFailure(e)) throw e;
    fail(st, slot, e, 'pack');
    return undefined;
  }
  st.counters.packsOpened++;
  return slot.pack;
}

/** Entry offsets of a pack in ascending order, with their `.idx` positions (built once per pack). */
export function extentsOf(_st: StoreState, slot: PackSlot, idx: PackIndex): Extents {
  if (slot.extents !== undefined) return slot.extents;
  const n = idx.numObjects;
  const raw = new Float64Array(n);
  idx.offsetsInto(raw);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  sortByOffset(order, raw);
  const offsets = new Float64Array(n);
  for (let i = 0; i < n; i++) offsets[i] = raw[order[i]];
  slot.extents = { offsets, positions: order };
  return slot.extents;
}

export function findOffset(ext: Extents, offset: number): number {
  let lo = 0;
  let hi = ext.offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ext.offsets[mid] < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo < ext.offsets.length && ext.offsets[lo] === offset ? lo : -1;
}

/**
 * Sorts `group` (indexes into `offsets`) by offset, equal offsets in their order: by a radix sort
 * (`radixByOffset`) when the group is large and every offset below 2^32, else as one numeric sort
 * of keys `offset·2^k + j` (k bits hold every j) while they stay exact in a double, else with a
 * comparator.
 */
export function sortByOffset(group: Int32Array | Uint32Array, offsets: Float64Array): void {
  const n = group.length;
  if (n < 2) return;
  let max = 0;
  for (let j = 0; j < n; j++) if (offsets[group[j]] > max) max = offsets[group[j]];
  if (n >= RADIX_MIN && max < 2 ** 32) {
    radixByOffset(group, offsets, max);
    return;
  }
  const span = 2 ** Math.ceil(Math.log2(n));
  if (max * span >= 2 ** 53) {
    group.sort((a, b) => offsets[a] - offsets[b]);
    return;
  }
  const keys = new Float64Array(n);
  for (let j = 0; j < n; j++) keys[j] = offsets[group[j]] * span + j;
  keys.sort();
  const copy = group.slice();
  for (let j = 0; j < n; j++) group[j] = copy[keys[j] - Math.floor(keys[j] / span) * span];
}

/** Groups from this size on are radix-sorted: below it, counting digits costs more than it saves. */
const RADIX_MIN = 512;
const DIGIT_BITS = 11;
const DIGIT_MASK = (1 << DIGIT_BITS) - 1;
/** Digit counts, reused by every sort (sorts never nest). */
const digitCounts = new Uint32Array(1 << DIGIT_BITS);

/**
 * `sortByOffset` for offsets below 2^32 (the largest is `max`): a stable least-significant-digit
 * radix sort, one pass per 11 bits that `max` needs (two for a pack under 4 MiB, three at most).
 * A whole pack's worth of entries costs a few passes over them instead of a comparison sort.
 */
function radixByOffset(group: Int32Array | Uint32Array, offsets: Float64Array, max: number): void {
  const n = group.length;
  let keys = new Uint32Array(n);
  for (let j = 0; j < n; j++) keys[j] = offsets[group[j]];
  let items: Int32Array | Uint32Array = group;
  let keysTo = new Uint32Array(n);
  let itemsTo: Int32Array | Uint32Array = new Uint32Array(n);
  const counts = digitCounts;
  for (let shift = 0; shift < 32 && max >>> shift !== 0; shift += DIGIT_BITS) {
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[(keys[j] >>> shift) & DIGIT_MASK]++;
    let sum = 0;
    for (let d = 0; d <= DIGIT_MASK; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let j = 0; j < n; j++) {
      const k = keys[j];
      const at = counts[(k >>> shift) & DIGIT_MASK]++;
      keysTo[at] = k;
      itemsTo[at] = items[j];
    }
    const k = keys;
    keys = keysTo;
    keysTo = k;
    const i = items;
    items = itemsTo;
    itemsTo = i;
  }
  if (items !== group) group.set(items);
}

/** Bytes from the entry at `offset` to the next entry or the trailer (§2.4). */
export function extentAt(
  st: StoreState,
  slot: PackSlot,
  pack: PackFile,
  ext: Extents,
  offset: number,
): number {
  const i = findOffset(ext, offset);
  if (i < 0) {
    const git = `offset ${offset} is not an entry of ${slot.shownPack}`;
    throw new GitMidxError('PACK_BAD_OBJECT', git, { file: slot.shownPack, data: { git, offset } });
  }
  const next = i + 1 < ext.offsets.length ? ext.offsets[i + 1] : pack.size - st.hash.size;
  return next - offset;
}

/** The id of the delta base at `offset` (a copy of its own). */
export function oidAtOffset(
  _st: StoreState,
  slot: PackSlot,
  idx: PackIndex,
  ext: Extents,
  offset: number,
): Uint8Array {
  return idx.oidAt(baseIndexAt(slot, ext, offset)).slice();
}

/** `oidAtOffset` copied into `out` at `at`, for batches: no array per answer. */
export function oidAtOffsetInto(
  slot: PackSlot,
  idx: PackIndex,
  ext: Extents,
  offset: number,
  out: Uint8Array,
  at: number,
): void {
  out.set(idx.oidAt(baseIndexAt(slot, ext, offset)), at);
}

/** The `.idx` position of the delta base at `offset`; throws when no entry starts there. */
function baseIndexAt(slot: PackSlot, ext: Extents, offset: number): number {
  const i = findOffset(ext, offset);
  if (i < 0) {
    const git = `delta base offset ${offset} is not an entry of ${slot.shownPack}`;
    throw new GitMidxError('PACK_BAD_OBJECT', git, { file: slot.shownPack, data: { git, offset } });
  }
  return ext.positions[i];
}

/** The id of the pack's object at `offset`, or undefined when its index lists no entry there. */
export function baseIdAt(st: StoreState, slot: PackSlot, offset: number): string | undefined {
  const idx = idxOf(st, slot);
  if (idx === undefined) return undefined;
  const ext = extentsOf(st, slot, idx);
  const i = findOffset(ext, offset);
  return i < 0 ? undefined : toHex(idx.oidAt(ext.positions[i]), 0, st.hash.size);
}

/**
 * A delta base this pack could not build, read from another copy as Git reads it: reported
 * (`failed to read delta base object …`), marked bad here, then looked up in the whole store (other
 * packs, loose files, alternates), whose reads report their own failures.
 */
function readBaseElsewhere(
  st: StoreState,
  slot: PackSlot,
  offset: number,
): { type: number; data: Uint8Array } | undefined {
  const hex = baseIdAt(st, slot, offset);
  if (hex === undefined) return undefined;
  diag(st, 'error', `failed to read delta base object ${hex} at offset ${offset} from ${slot.shownPack}`);
  if (slot.bad === undefined) slot.bad = new Set();
  slot.bad.add(hex);
  st.counters.badObjects++;
  // A copy elsewhere may itself need a base read elsewhere, and damaged packs can make that a
  // cycle: past a few levels the base is not found, instead of a read without end.
  if (elsewhereDepth >= ELSEWHERE_DEPTH_MAX) return undefined;
  elsewhereDepth++;
  try {
    const o = st.store.readObject(fromHex(hex)!);
    return o === undefined ? undefined : { type: TYPE_NUMBER[o.type], data: o.data };
  } catch (e) {
    if (!isReadFailure(e)) throw e;
    return undefined;
  } finally {
    elsewhereDepth--;
  }
}

/** Reads of a delta base elsewhere in progress, one inside another (see readBaseElsewhere). */
let elsewhereDepth = 0;
const ELSEWHERE_DEPTH_MAX = 8;
