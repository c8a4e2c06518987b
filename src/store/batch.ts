/**
 * Batch planning and answering: ids looked up together in each MIDX (one forward walk), grouped
 * by pack and read in offset order, within a memory budget; the one-by-one policy for the rest.
 */

import { toHex } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { PackFile } from '../pack/pack.js';
import type { ObjectStream } from '../pack/stream.js';
import { find, readLoose, readPackedAtMost, VerifyingStream } from './lookup.js';
import type { StoredObject } from './object-store.js';
import { packOf, sortByOffset } from './packs.js';
import { disableMidx } from './sources.js';
import {
  BATCH_MIN,
  checkOid,
  checkOpen,
  isEmptyTree,
  isReadFailure,
  type MidxState,
  type PackHit,
  RELEASE_MIN,
  type StoreState,
} from './state.js';

/** Where `planBatch` found each id: the MIDX (index into `states`, <0: none), pack and offset. */
export interface BatchPlan {
  states: MidxState[];
  midxOf: Int32Array;
  packIds: Int32Array;
  offsets: Float64Array;
  /** First global pack-group number of each MIDX in `states` (prefix sums of their pack counts). */
  slotBase: Int32Array;
  /** An earlier id with the same value and the same place, or -1 (see `lookupMany`). */
  repeatOf: Int32Array;
}

/**
 * The planned ids in `[from, to)` not yet done (nor repeats of an earlier one there, with
 * `repeatOf`), grouped by pack: a counting sort over every MIDX's packs. `start[g]` is where pack
 * group g begins in the result (S + 1 entries); each group is in input order.
 */
export function groupByPack(
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

/** The ids back to back in one buffer (each checked to be H bytes). */
export function packIds(st: StoreState, oids: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(oids)) {
    throw new GitMidxError(
      'INVALID_ARGUMENT',
      `object ids must be an array of Uint8Array, got ${typeof oids}`,
    );
  }
  const H = st.hash.size;
  const ids = new Uint8Array(oids.length * H);
  for (let i = 0; i < oids.length; i++) {
    checkOid(st, oids[i]);
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
export function batchFromMidx(
  st: StoreState,
  ids: Uint8Array,
  count: number,
  answer: (k: number, pack: PackFile, hit: PackHit, ids: Uint8Array, at: number) => void,
  same?: (k: number, prev: number) => void,
): Uint8Array {
  const done = new Uint8Array(count);
  const plan = planBatch(st, ids, count);
  if (plan !== undefined) answerRange(st, plan, ids, 0, count, done, answer, Number.POSITIVE_INFINITY, same);
  return done;
}

/**
 * The plan of `count` ids that are the MIDX `m`'s own, from position `first` on, in order (as
 * `allObjectIdBytes` lists them when that MIDX holds everything): no lookup needed.
 */
export function planMidxRun(m: MidxState, first: number, count: number): BatchPlan {
  const midx = m.midx;
  const packIds = new Int32Array(count);
  const offsets = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    packIds[k] = midx.packIdAt(first + k);
    offsets[k] = midx.offsetAt(first + k);
  }
  return {
    states: [m],
    midxOf: new Int32Array(count),
    packIds,
    offsets,
    slotBase: Int32Array.of(0, m.slots.length),
    repeatOf: new Int32Array(count).fill(-1),
  };
}

export function planBatch(st: StoreState, ids: Uint8Array, count: number): BatchPlan | undefined {
  checkOpen(st);
  if (count < BATCH_MIN) return undefined;
  const H = st.hash.size;
  // -2: left to the one-id path (the empty tree); -1: no MIDX has it (yet).
  const midxOf = new Int32Array(count).fill(-1);
  let open = count;
  const e0 = st.emptyTree[0];
  for (let k = 0; k < count; k++) {
    if (ids[k * H] === e0 && isEmptyTree(st, ids.subarray(k * H, k * H + H))) {
      midxOf[k] = -2;
      open--;
    }
  }
  let packIds: Int32Array | undefined;
  let offsets: Float64Array | undefined;
  let repeatOf: Int32Array | undefined;
  const states: MidxState[] = [];
  for (const m of st.midxOrder) {
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
      disableMidx(st, m, e);
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

/** Where an `answerRange` that stopped at its byte budget goes on (see its `cursor`). */
export interface RangeCursor {
  start?: Int32Array;
  byPack?: Int32Array;
  /** The pack group, and the place in it, to go on from. */
  g: number;
  j: number;
}

/**
 * Answers the planned ids in `[from, to)` whose `done` flag is 0, pack by pack in offset order.
 * With `maxBytes`, stops answering once the answers hold that many bytes (`weigh`). With `cursor`,
 * the ids are grouped once, by the first call, and each call goes on where the last one stopped
 * (for a caller that answers a range in slices).
 */
export function answerRange(
  st: StoreState,
  plan: BatchPlan,
  ids: Uint8Array,
  from: number,
  to: number,
  done: Uint8Array,
  answer: (k: number, pack: PackFile, hit: PackHit, ids: Uint8Array, at: number) => unknown,
  maxBytes = Number.POSITIVE_INFINITY,
  same?: (k: number, prev: number) => void,
  cursor?: RangeCursor,
): void {
  const H = st.hash.size;
  const { states, offsets, slotBase } = plan;
  // With `same`, an id repeated in the range is answered once, by its first query.
  const repeatOf = same === undefined ? undefined : plan.repeatOf;
  const S = slotBase[states.length];
  let start = cursor?.start;
  let byPack = cursor?.byPack;
  if (start === undefined || byPack === undefined) {
    start = new Int32Array(S + 1);
    byPack = groupByPack(plan, from, to, done, repeatOf, start);
    if (cursor !== undefined) {
      cursor.start = start;
      cursor.byPack = byPack;
    }
  }
  const release = to - from >= RELEASE_MIN;
  let bytes = 0;
  let mi = 0;
  let g = cursor?.g ?? 0;
  for (; g < S && bytes < maxBytes; g++) {
    const lo = start[g];
    const hi = start[g + 1];
    if (lo === hi) continue;
    while (slotBase[mi + 1] <= g) mi++;
    const m = states[mi];
    if (m.disabled) continue;
    const group = byPack.subarray(lo, hi);
    // A group is sorted when it is entered, not again when a later call goes on in it.
    const first = cursor !== undefined && cursor.g === g ? cursor.j : 0;
    if (first === 0) sortByOffset(group, offsets);
    const slot = m.slots[g - slotBase[mi]];
    const pack = slot.failed === undefined ? packOf(st, slot) : undefined;
    if (pack === undefined) continue;
    // One hit for the whole group (no answer keeps it).
    const hit: PackHit = { slot, offset: 0, via: 'midx' };
    let prev = -1;
    let j = first;
    for (; j < group.length && bytes < maxBytes; j++) {
      const k = group[j];
      // The same id again (same pack, same offset: adjacent after the sort) is answered by
      // copying the answer just given.
      if (same !== undefined && prev >= 0 && offsets[k] === offsets[prev] && done[prev] === 1) {
        same(k, prev);
        done[k] = 1;
        st.counters.midxHits++;
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
      st.counters.midxHits++;
    }
    if (cursor !== undefined && j < group.length) {
      // Stopped inside this group: the next call goes on here, with its pages still cached.
      cursor.g = g;
      cursor.j = j;
      return;
    }
    // A dense batch is done with this pack's pages: their buffers serve the next pack. (A small
    // batch keeps them cached for the next batch.)
    if (release) pack.releasePages();
  }
  if (cursor !== undefined) {
    cursor.g = g;
    cursor.j = 0;
  }
  if (repeatOf !== undefined && same !== undefined) {
    for (let k = from; k < to; k++) {
      const r = repeatOf[k];
      if (r < from || done[k] !== 0 || done[r] !== 1) continue;
      same(k, r);
      done[k] = 1;
      st.counters.midxHits++;
    }
  }
}

/**
 * `readObject`, except that a whole object larger than `streamAbove` comes as a stream (see
 * `streamObject`); undefined when missing.
 */
export function readOrStream(
  st: StoreState,
  oid: Uint8Array,
  streamAbove: number,
  chunkSize: number,
): StoredObject | ObjectStream | undefined {
  checkOid(st, oid);
  if (isEmptyTree(st, oid)) return st.store.readObject(oid);
  const hex = toHex(oid, 0, st.hash.size);
  const r = find<StoredObject | ObjectStream>(
    st,
    oid,
    hex,
    true,
    (pack, hit) =>
      readPackedAtMost(st, pack, hit, oid, 0, streamAbove) ?? pack.openStream(hit.offset, chunkSize)!,
    (file, shownAs) => {
      const o = readLoose(st, file, shownAs, hex, streamAbove);
      return o?.stream ?? o;
    },
  );
  return r !== undefined && 'read' in r && st.verify ? new VerifyingStream(r, st.hashFn, st.hash, hex) : r;
}
