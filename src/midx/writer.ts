/**
 * MIDX writer core (spec/midx-format.md §8): given the packs in Git's pre-sort order (packs of the
 * existing MIDX first, in their pack-int-id order, then new packs in directory order), select one
 * copy of every object and serialise the file. Platform-free: the Node layer discovers packs,
 * takes the lock and provides the sink.
 *
 * Selection is a k-way merge over the already-sorted sources (each `.idx`, and the existing MIDX)
 * instead of Git's sort per fanout bucket; the order among copies of one id is Git's comparator
 * (`midx_oid_compare`, §8.6): preferred pack first, then newer `.pack` mtime (whole seconds; 0 for
 * entries reused from the existing MIDX), then lower pre-sort index. The first copy wins.
 */
import { compareBytes, readU32, strcmpBytes, toHex, utf8, writeU32 } from '../bytes.js';
import { type ChunkWriter, writeChunkFile } from '../chunkfile/chunkfile.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm, HashFunction } from '../hash.js';
import type { ByteSink } from '../io.js';
import type { PackIndex } from '../pack/idx.js';
import {
  CHUNK_BTMP,
  CHUNK_LOFF,
  CHUNK_OIDF,
  CHUNK_OIDL,
  CHUNK_OOFF,
  CHUNK_PNAM,
  CHUNK_RIDX,
  encodeFanout,
  encodePnam,
  MIDX_HEADER_SIZE,
  MIDX_LARGE_OFFSET_NEEDED,
  MIDX_LARGE_THRESHOLD,
  MIDX_MAX_32BIT_OFFSET,
  MIDX_SIGNATURE,
  OIDF_SIZE,
} from './chunks.js';
import type { MultiPackIndex } from './reader.js';

export interface WriterPack {
  /** The pack's `.idx` basename, as it will appear in PNAM. */
  readonly name: string;
  /** `.pack` mtime in whole seconds (Git's `st_mtime`). */
  readonly mtime: number;
  /** The pack's index, held in memory. Required for packs not taken from the existing MIDX. */
  readonly idx?: PackIndex;
  /** Set when this pack is listed in the existing MIDX: its pack-int-id there. */
  readonly fromMidx?: number;
  /**
   * The `.pack` size in bytes, when known: an offset reused from the existing MIDX must point
   * inside it (between the 12-byte header and the trailer), or the MIDX is refused.
   */
  readonly packSize?: number;
}

export interface MidxPlanInput {
  readonly hash: HashAlgorithm;
  /** Every pack, in Git's pre-sort order. */
  readonly packs: readonly WriterPack[];
  /**
   * The existing MIDX whose entries are reused for the packs with `fromMidx`; an incremental chain
   * gives its layers, base first (their pack ids follow one another: `fromMidx` is global).
   */
  readonly existing?: MultiPackIndex | readonly MultiPackIndex[];
  /** Index into `packs` of the preferred pack, or -1 / undefined. Its `idx` must be loaded. */
  readonly preferred?: number;
  /** Pre-sort indexes of packs to leave out (`expire`); none of their objects may be selected. */
  readonly drop?: ReadonlySet<number>;
  /**
   * Ids not to index (an incremental layer leaves out what its base layers hold): called with the
   * bytes holding the id and where it starts.
   */
  readonly exclude?: (oids: Uint8Array, at: number) => boolean;
  /** File version (`midx.version`): 1 (default, every Git reads it) or 2 (Git 2.47+). */
  readonly version?: 1 | 2;
  /**
   * Keep the packs in their given order instead of sorting their names (compaction: a version-2
   * file lists the packs of the layers it merges layer by layer).
   */
  readonly keepPackOrder?: boolean;
  /**
   * Write the reverse index (RIDX) and the bitmapped-packs chunk (BTMP), as `--bitmap` does: the
   * objects in pseudo-pack order (the preferred pack's first, then by pack, then by offset).
   */
  readonly reverseIndex?: boolean;
  /**
   * Objects in the layers below (an incremental layer): RIDX and BTMP hold positions across the
   * whole chain, this many past the layer's own (docs/formats.md, "Incremental chains").
   */
  readonly objectsInBase?: number;
}

interface Source {
  readonly oids: Uint8Array;
  readonly base: number;
  readonly stride: number;
  readonly count: number;
  readonly preferred: boolean;
  readonly mtime: number;
  /** Pre-sort pack index, for idx sources. */
  readonly pack: number;
  readonly idx: PackIndex | undefined;
  /** For the existing-MIDX source. */
  readonly ooff: Uint8Array | undefined;
  /** Added to the pack ids of `ooff` (a chain layer's packs in its bases). */
  readonly packBase: number;
  /** Pack ids of `ooff` must be below this (the file's own pack count). */
  readonly packLimit: number;
  readonly loff: Uint8Array | undefined;
  /** The file the ids come from (the existing MIDX, or the pack's `.idx`), for messages. */
  readonly file: string;
  /** Existing-MIDX entries of this old pack id are skipped (the preferred pack is read from its idx). */
  readonly skipPack: number;
  /** Byte offset of a v2 index's 32-bit offset table within `oids`, else -1. */
  readonly offBase: number;
}

export interface MidxPlan {
  readonly hash: HashAlgorithm;
  readonly numObjects: number;
  /** PNAM order (strcmp of names). */
  readonly packNames: readonly string[];
  readonly numLargeOffsets: number;
  readonly largeOffsetsNeeded: boolean;
  /** Chunk writers in Git's order: PNAM, OIDF, OIDL, OOFF[, LOFF]. */
  readonly chunks: readonly ChunkWriter[];
  readonly header: Uint8Array;
  /** Final file size, trailer included. */
  readonly fileSize: number;
  /** With `reverseIndex`: MIDX positions in pseudo-pack order (what RIDX holds). */
  readonly pseudoOrder?: Uint32Array;
}

export function planMidx(input: MidxPlanInput): MidxPlan {
  const { hash, packs } = input;
  const layers: readonly MultiPackIndex[] =
    input.existing === undefined
      ? []
      : Array.isArray(input.existing)
        ? input.existing
        : [input.existing as MultiPackIndex];
  const H = hash.size;
  const preferred = input.preferred ?? -1;
  const drop = input.drop ?? new Set<number>();
  const exclude = input.exclude;

  // --- sources -------------------------------------------------------------------------------
  const sources: Source[] = [];
  let preferredOldId = -1;
  if (preferred >= 0 && packs[preferred].fromMidx !== undefined) preferredOldId = packs[preferred].fromMidx!;
  const existingObjects = layers.reduce((n, m) => n + m.numObjects, 0);
  if (existingObjects > 0 && packs.some((p) => p.fromMidx !== undefined)) {
    // Old packs occupy pre-sort indexes 0..P_old-1 in pack-int-id order, so an entry's pack-int-id
    // is also its pre-sort index.
    for (let i = 0; i < packs.length; i++) {
      const f = packs[i].fromMidx;
      if (f !== undefined && f !== i)
        throw new Error('BUG: packs of the existing MIDX must come first, in order');
    }
    let packBase = 0;
    for (const existing of layers) {
      if (existing.numObjects > 0) {
        sources.push({
          oids: existing.readChunk(CHUNK_OIDL)!,
          base: 0,
          stride: H,
          count: existing.numObjects,
          preferred: false,
          mtime: 0,
          pack: -1,
          idx: undefined,
          ooff: existing.readChunk(CHUNK_OOFF)!,
          packBase,
          packLimit: existing.numPacks,
          loff: existing.hasLargeOffsets ? existing.readChunk(CHUNK_LOFF) : undefined,
          file: existing.file,
          skipPack: preferredOldId,
          offBase: -1,
        });
      }
      packBase += existing.numPacks;
    }
  }
  for (let i = 0; i < packs.length; i++) {
    const p = packs[i];
    if (p.fromMidx !== undefined && i !== preferred) continue;
    if (drop.has(i)) continue;
    const idx = p.idx;
    if (!idx) throw new Error(`BUG: pack ${p.name} has no index loaded`);
    const bytes = idx.bytes;
    if (!bytes) throw new Error(`BUG: index of ${p.name} is not in memory`);
    if (idx.numObjects === 0) continue;
    sources.push({
      oids: bytes,
      base: idx.oidBase,
      stride: idx.oidStride,
      count: idx.numObjects,
      preferred: i === preferred,
      mtime: p.mtime,
      pack: i,
      idx,
      ooff: undefined,
      packBase: 0,
      packLimit: 0,
      loff: undefined,
      file: idx.file,
      skipPack: -1,
      offBase: idx.version === 2 ? idx.offBase : -1,
    });
  }

  // --- merge, one first byte at a time ---------------------------------------------------------
  // Ids are hashes, so their first byte spreads them evenly over 256 groups. For each first byte
  // in turn, every source gives the run of its entries that start with it (each source is read
  // once, in order), the group is sorted — by its second byte, then within each of those few
  // entries — and emitted. The group's arrays stay small enough for the processor's cache, and no
  // entry is compared with more than a few others. Within a group an entry's key is its id's
  // bytes 1-3 as a small integer (no number objects even before V8 optimises the loops), so that
  // almost every comparison is one integer against another; equal keys (duplicates, rare prefix
  // collisions) fall back to the full comparator.
  //
  // The existing MIDX is read as data, not trusted (its checksum only says it was not damaged in
  // storage): every pack-int-id it gives is checked here, every large-offset index in entryOffset,
  // the order of every source's ids as they are gathered, all before anything is written.
  const H4 = H - 4;
  const oldPacks = layers.reduce((n, m) => n + m.numPacks, 0);
  const k = sources.length;
  let total = 0;
  for (const s of sources) total += s.count;
  // --- pack order: strcmp of names (§8.7) ----------------------------------------------------
  const kept: number[] = [];
  for (let i = 0; i < packs.length; i++) if (!drop.has(i)) kept.push(i);
  const nameBytes = packs.map((p) => utf8(p.name));
  if (input.keepPackOrder !== true) kept.sort((a, b) => strcmpBytes(nameBytes[a], nameBytes[b]));
  else if (input.version !== 2) throw new Error('BUG: only a version-2 file keeps its packs unsorted');
  const perm = new Int32Array(packs.length).fill(-1);
  kept.forEach((p, newId) => {
    perm[p] = newId;
  });
  const sortedNames = kept.map((i) => nameBytes[i]);

  // OIDL and OOFF as the merge chooses each id: the file's own bytes, written out once the fanout
  // (which comes before them) is complete. An offset past 32 bits is noted in `bigOffsets` (by the
  // id's position) and its OOFF entry filled in after the merge, when it is known whether LOFF is
  // needed at all (§4.5).
  const oidlBytes = new Uint8Array(total * H);
  const ooffBytes = new Uint8Array(total * 8);
  const bigOffsets = new Map<number, number>();
  const fanout = new Uint32Array(256);
  const cursor = new Uint32Array(k);
  /** Each source's last entry gathered: its position (-1: none yet), first byte and key. */
  const prevPos = new Int32Array(k).fill(-1);
  const prevByte = new Int32Array(k).fill(-1);
  const prevKey = new Int32Array(k);
  /** The first byte of each source's next entry (256: none left). */
  const nextFirst = new Uint16Array(k);

  // The group as gathered (g*), and sorted by its second byte (e*); one spare slot at the end.
  let cap = 0;
  let gSrc = new Uint32Array(0);
  let gPos = new Uint32Array(0);
  let gKey = new Int32Array(0);
  let gPack = new Int32Array(0);
  let eSrc = gSrc;
  let ePos = gPos;
  let eKey = gKey;
  let ePack = gPack;
  const grow = (need: number): void => {
    let c = Math.max(1024, cap + 1);
    while (c < need + 1) c *= 2;
    const copy = <T extends Uint32Array | Int32Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    gSrc = copy(gSrc, new Uint32Array(c));
    gPos = copy(gPos, new Uint32Array(c));
    gKey = copy(gKey, new Int32Array(c));
    gPack = copy(gPack, new Int32Array(c));
    eSrc = new Uint32Array(c);
    ePos = new Uint32Array(c);
    eKey = new Int32Array(c);
    ePack = new Int32Array(c);
    cap = c - 1;
  };
  const sub = new Uint32Array(257);

  // Ids are copied as 32-bit words where the source allows it (every `.idx` id is 4-byte aligned
  // when the file's buffer is), about four times faster than a byte loop.
  const W = H >>> 2;
  const oidl32 = new Uint32Array(oidlBytes.buffer, 0, oidlBytes.length >>> 2);
  const words = sources.map((s) =>
    s.oids.byteOffset % 4 === 0 && s.base % 4 === 0 && s.stride % 4 === 0
      ? new Uint32Array(s.oids.buffer, s.oids.byteOffset, s.oids.length >>> 2)
      : undefined,
  );

  /**
   * Gathers the entries of every source whose id starts with byte `b` into g*; returns how many.
   * Checks each source's order on the way: the output order, and the offsets that go with each
   * id, depend on it. A MIDX lists an id once, as Git's verify demands; a pack may hold an object
   * twice (a non-strict index-pack keeps both), and the merge keeps one copy.
   */
  const gather = (b: number): number => {
    let m = 0;
    for (let si = 0; si < k; si++) {
      // (Most sources have nothing in most groups of a small repository: one look says so.)
      if (nextFirst[si] > b) continue;
      const s = sources[si];
      const { oids, base, stride, count } = s;
      const old = s.ooff !== undefined;
      let c = cursor[si];
      let pp = prevPos[si];
      let pb = prevByte[si];
      let pk = prevKey[si];
      for (; c < count; c++) {
        const o = base + c * stride;
        const first = oids[o];
        if (first > b) break;
        // Smaller than the entry before it (which an earlier group stopped at).
        if (first < b) throw outOfOrder(s, c - 1, c, H);
        let pack = s.pack;
        if (old) {
          const local = readU32(s.ooff!, c * 8);
          if (local >= s.packLimit) throw badPackId(s.file, local, s.packLimit, c);
          pack = local + s.packBase;
          if (pack >= oldPacks) throw badPackId(s.file, pack, oldPacks, c);
          if (pack === s.skipPack) continue;
        }
        const key = (oids[o + 1] << 16) | (oids[o + 2] << 8) | oids[o + 3];
        if (
          pb === b &&
          (key < pk ||
            (key === pk && compareBytes(oids, base + pp * stride + 4, oids, o + 4, H4) >= (old ? 0 : 1)))
        ) {
          throw outOfOrder(s, pp, c, H);
        }
        pp = c;
        pb = b;
        pk = key;
        if (m >= cap) grow(m + 1);
        gSrc[m] = si;
        gPos[m] = c;
        gKey[m] = key;
        gPack[m] = pack;
        m++;
      }
      cursor[si] = c;
      prevPos[si] = pp;
      prevByte[si] = pb;
      prevKey[si] = pk;
      nextFirst[si] = c < count ? oids[base + c * stride] : 256;
    }
    return m;
  };

  /** Entry x before entry y of the sorted group, for equal keys: the rest of the id, then Git's choice. */
  const tieLess = (x: number, y: number): boolean => {
    const sa = sources[eSrc[x]];
    const sb = sources[eSrc[y]];
    const c = compareBytes(
      sa.oids,
      sa.base + ePos[x] * sa.stride + 4,
      sb.oids,
      sb.base + ePos[y] * sb.stride + 4,
      H4,
    );
    if (c !== 0) return c < 0;
    if (sa.preferred !== sb.preferred) return sa.preferred;
    if (sa.mtime !== sb.mtime) return sa.mtime > sb.mtime;
    // One source's copies keep their order (a pack holding an object twice: the first one wins).
    return ePack[x] < ePack[y] || (eSrc[x] === eSrc[y] && ePos[x] < ePos[y]);
  };

  /** Sorts the m entries of g* into e*: by second byte (a stable counting sort), then each run. */
  const sortGroup = (m: number): void => {
    sub.fill(0);
    for (let i = 0; i < m; i++) sub[(gKey[i] >>> 16) + 1]++;
    for (let i = 1; i < 257; i++) sub[i] += sub[i - 1];
    for (let i = 0; i < m; i++) {
      const at = sub[gKey[i] >>> 16]++;
      eSrc[at] = gSrc[i];
      ePos[at] = gPos[i];
      eKey[at] = gKey[i];
      ePack[at] = gPack[i];
    }
    // (sub[v] is now where run v ends; run v starts where run v-1 ends.)
    let from = 0;
    for (let v = 0; v < 256; v++) {
      const to = sub[v];
      if (to - from > 64) sortLong(from, to);
      else if (to - from > 1) insertionSort(from, to);
      from = to;
    }
  };

  /** Insertion sort of e*[from, to): equal entries keep the order they were gathered in. */
  const insertionSort = (from: number, to: number): void => {
    const spare = cap; // the slot past the group: the entry being inserted waits there
    for (let i = from + 1; i < to; i++) {
      const key = eKey[i];
      if (eKey[i - 1] < key) continue;
      eSrc[spare] = eSrc[i];
      ePos[spare] = ePos[i];
      eKey[spare] = key;
      ePack[spare] = ePack[i];
      let j = i - 1;
      while (j >= from && (eKey[j] > key || (eKey[j] === key && tieLess(spare, j)))) {
        eSrc[j + 1] = eSrc[j];
        ePos[j + 1] = ePos[j];
        eKey[j + 1] = eKey[j];
        ePack[j + 1] = ePack[j];
        j--;
      }
      eSrc[j + 1] = eSrc[spare];
      ePos[j + 1] = ePos[spare];
      eKey[j + 1] = key;
      ePack[j + 1] = ePack[spare];
    }
  };

  /** A run that ids crafted to share their first bytes have made long: an O(m log m) sort. */
  const sortLong = (from: number, to: number): void => {
    const order = Array.from({ length: to - from }, (_, i) => from + i);
    order.sort((x, y) => (eKey[x] !== eKey[y] ? eKey[x] - eKey[y] : tieLess(x, y) ? -1 : 1));
    const s0 = eSrc.slice(from, to);
    const p0 = ePos.slice(from, to);
    const k0 = eKey.slice(from, to);
    const q0 = ePack.slice(from, to);
    for (let i = 0; i < order.length; i++) {
      const x = order[i] - from;
      eSrc[from + i] = s0[x];
      ePos[from + i] = p0[x];
      eKey[from + i] = k0[x];
      ePack[from + i] = q0[x];
    }
  };

  let n = 0;
  let numLarge = 0;
  let needLarge = false;
  /** Emits the sorted group of first byte `b`: the first of each id's copies wins. */
  const emit = (m: number, b: number): void => {
    let lastSrc = -1;
    let lastOff = 0;
    let lastKey = -1;
    for (let i = 0; i < m; i++) {
      const si = eSrc[i];
      const key = eKey[i];
      const s = sources[si];
      const pos = ePos[i];
      const o = s.base + pos * s.stride;
      const dup =
        key === lastKey && compareBytes(sources[lastSrc].oids, lastOff + 4, s.oids, o + 4, H4) === 0;
      if (dup || exclude?.(s.oids, o)) continue;
      const sw = words[si];
      if (sw !== undefined) {
        const o32 = o >>> 2;
        const w32 = n * W;
        for (let j = 0; j < W; j++) oidl32[w32 + j] = sw[o32 + j];
      } else {
        const oids = s.oids;
        const w = n * H;
        for (let j = 0; j < H; j++) oidlBytes[w + j] = oids[o + j];
      }
      const id = perm[ePack[i]];
      if (!(id >= 0)) throw new Error(`BUG: object selected from dropped pack ${packs[ePack[i]]?.name}`);
      writeU32(ooffBytes, n * 8, id);
      if (s.ooff !== undefined) checkReusedOffset(s, pos, packs, H);
      const off = offsetIn(s, pos);
      if (off > MIDX_LARGE_THRESHOLD) numLarge++;
      if (off > MIDX_MAX_32BIT_OFFSET) {
        needLarge = true;
        bigOffsets.set(n, off);
      } else writeU32(ooffBytes, n * 8 + 4, off);
      n++;
      fanout[b]++;
      lastSrc = si;
      lastOff = o;
      lastKey = key;
    }
  };

  for (let b = 0; b < 256; b++) {
    const m = gather(b);
    if (m === 0) continue;
    sortGroup(m);
    emit(m, b);
  }
  const numObjects = n;

  // §4.5: only when some offset needs more than 32 bits does every offset with bit 31 set move to
  // LOFF (in id order); otherwise offsets up to 0xffffffff are stored as they are.
  let loff: Uint8Array | undefined;
  if (needLarge) {
    loff = new Uint8Array(numLarge * 8);
    let large = 0;
    for (let i = 0; i < numObjects; i++) {
      const off = bigOffsets.get(i) ?? readU32(ooffBytes, i * 8 + 4);
      if (off > MIDX_LARGE_THRESHOLD) {
        writeU32(loff, large * 8, Math.floor(off / 0x100000000));
        writeU32(loff, large * 8 + 4, off >>> 0);
        writeU32(ooffBytes, i * 8 + 4, MIDX_LARGE_OFFSET_NEEDED | large++);
      }
    }
  }

  // --- chunks --------------------------------------------------------------------------------
  const chunks: ChunkWriter[] = [];
  const pnam = encodePnam(sortedNames);
  chunks.push({ id: CHUNK_PNAM, size: pnam.length, write: (sink) => sink.write(pnam) });
  const oidf = encodeFanout(fanout);
  chunks.push({ id: CHUNK_OIDF, size: OIDF_SIZE, write: (sink) => sink.write(oidf) });
  const oidl = oidlBytes.subarray(0, numObjects * H);
  chunks.push({ id: CHUNK_OIDL, size: oidl.length, write: (sink) => sink.write(oidl) });
  const ooff = ooffBytes.subarray(0, numObjects * 8);
  chunks.push({ id: CHUNK_OOFF, size: ooff.length, write: (sink) => sink.write(ooff) });
  if (loff !== undefined) {
    const bytes = loff;
    chunks.push({ id: CHUNK_LOFF, size: bytes.length, write: (sink) => sink.write(bytes) });
  }

  let pseudoOrder: Uint32Array | undefined;
  if (input.reverseIndex === true && numObjects > 0) {
    // Pseudo-pack order (§8.9): preferred pack first, then pack-int-id, then offset (each read
    // back from OOFF and LOFF as written).
    const packOf = new Uint32Array(numObjects);
    const offOf = new Float64Array(numObjects);
    const pref = new Uint8Array(numObjects);
    const preferredId = preferred >= 0 ? perm[preferred] : -1;
    for (let i = 0; i < numObjects; i++) {
      const id = readU32(ooffBytes, i * 8);
      const w = readU32(ooffBytes, i * 8 + 4);
      packOf[i] = id;
      offOf[i] =
        loff !== undefined && (w & MIDX_LARGE_OFFSET_NEEDED) !== 0
          ? readU32(loff, (w & 0x7fffffff) * 8) * 0x100000000 + readU32(loff, (w & 0x7fffffff) * 8 + 4)
          : w;
      pref[i] = id === preferredId ? 0 : 1;
    }
    const order = new Uint32Array(numObjects);
    for (let i = 0; i < numObjects; i++) order[i] = i;
    order.sort((a, b) => pref[a] - pref[b] || packOf[a] - packOf[b] || offOf[a] - offOf[b]);
    pseudoOrder = order;
    const inBase = input.objectsInBase ?? 0;
    const ridx = new Uint8Array(numObjects * 4);
    for (let j = 0; j < numObjects; j++) writeU32(ridx, j * 4, order[j] + inBase);
    chunks.push({ id: CHUNK_RIDX, size: ridx.length, write: (sink) => sink.write(ridx) });
    // BTMP: per pack (PNAM order), where its run starts in pseudo-pack order and how long it is.
    const btmp = new Uint8Array(kept.length * 8);
    const first = new Int32Array(kept.length).fill(-1);
    const count = new Uint32Array(kept.length);
    for (let j = 0; j < numObjects; j++) {
      const p = packOf[order[j]];
      if (first[p] < 0) first[p] = j;
      count[p]++;
    }
    for (let p = 0; p < kept.length; p++) {
      writeU32(btmp, p * 8, first[p] < 0 ? 0 : first[p] + inBase);
      writeU32(btmp, p * 8 + 4, count[p]);
    }
    chunks.push({ id: CHUNK_BTMP, size: btmp.length, write: (sink) => sink.write(btmp) });
  }

  const header = new Uint8Array(MIDX_HEADER_SIZE);
  writeU32(header, 0, MIDX_SIGNATURE);
  // Version 1 (sorted PNAM, readable by every Git) unless 2 was asked for (§2); names are sorted
  // either way.
  header[4] = input.version ?? 1;
  header[5] = hash.formatId;
  header[6] = chunks.length;
  header[7] = 0; // base MIDX count: always 0 (§2)
  writeU32(header, 8, kept.length);
  let size = MIDX_HEADER_SIZE + (chunks.length + 1) * 12;
  for (const c of chunks) size += c.size;
  return {
    hash,
    numObjects,
    packNames: kept.map((i) => packs[i].name),
    numLargeOffsets: needLarge ? numLarge : 0,
    largeOffsetsNeeded: needLarge,
    chunks,
    header,
    fileSize: size + H,
    pseudoOrder,
  };
}

/** The pack offset of a source's entry `pos`. */
function offsetIn(s: Source, pos: number): number {
  if (s.offBase >= 0) {
    const off = readU32(s.oids, s.offBase + pos * 4);
    return off > MIDX_LARGE_THRESHOLD ? entryOffset(s, pos) : off;
  }
  return entryOffset(s, pos);
}

function entryOffset(s: Source, pos: number): number {
  if (s.ooff) {
    const w = readU32(s.ooff, pos * 8 + 4);
    if (s.loff && (w & MIDX_LARGE_OFFSET_NEEDED) !== 0) {
      const k = w & 0x7fffffff;
      const entries = Math.floor(s.loff.length / 8);
      const hi = k < entries ? readU32(s.loff, k * 8) : 0;
      if (k >= entries || hi >= 0x200000) {
        const git = 'multi-pack-index large offset out of bounds';
        const why = k >= entries ? `entry ${k} of ${entries}` : `large offset ${k} is beyond 2^53`;
        throw new GitMidxError('MIDX_LOFF_BOUNDS', `${s.file}: ${git} (${why})`, {
          file: s.file,
          data: { git, index: k, entries, position: pos },
        });
      }
      return hi * 0x100000000 + readU32(s.loff, k * 8 + 4);
    }
    return w;
  }
  return s.idx!.offsetAtIn(s.oids, pos);
}

/**
 * An offset reused from the existing MIDX must lie inside its pack: a valid checksum says nothing of
 * whether the entries are true, and one pointing past the pack would be carried into the new file.
 */
function checkReusedOffset(s: Source, pos: number, packs: readonly WriterPack[], H: number): void {
  const limit = packs[readU32(s.ooff!, pos * 8) + s.packBase]?.packSize;
  if (limit === undefined) return;
  const off = entryOffset(s, pos);
  if (off >= 12 && off + H < limit) return;
  const pack = packs[readU32(s.ooff!, pos * 8) + s.packBase].name;
  const oid = toHex(s.oids, s.base + pos * s.stride, s.base + pos * s.stride + H);
  const git = `multi-pack-index places oid[${pos}] = ${oid} at offset ${off}, outside ${pack} (${limit} bytes)`;
  throw new GitMidxError('MIDX_BAD_OFFSET', `${s.file}: ${git}`, {
    file: s.file,
    data: { git, position: pos, offset: off, pack, packSize: limit },
  });
}

/** An existing-MIDX entry naming no pack: the reader's MIDX_BAD_PACK_ID, in Git's words. */
function badPackId(file: string, id: number, packs: number, position: number): GitMidxError {
  const git = `bad pack-int-id: ${id} (${packs} total packs)`;
  return new GitMidxError('MIDX_BAD_PACK_ID', `${file}: ${git}`, {
    file,
    data: { git, packId: id, packs, position },
  });
}

/** Entries `a` < `b` of one source whose ids are not in increasing order. */
function outOfOrder(s: Source, a: number, b: number, H: number): GitMidxError {
  const x = toHex(s.oids, s.base + a * s.stride, s.base + a * s.stride + H);
  const y = toHex(s.oids, s.base + b * s.stride, s.base + b * s.stride + H);
  if (s.ooff) {
    const git = `oid lookup out of order: oid[${a}] = ${x} >= ${y} = oid[${b}]`;
    return new GitMidxError('MIDX_OID_ORDER', `${s.file}: ${git}`, {
      file: s.file,
      data: { git, position: a },
    });
  }
  const git = `index file ${s.file} lists object ids out of order: ${x} at ${a}, then ${y} at ${b}`;
  return new GitMidxError('IDX_OID_ORDER', git, { file: s.file, data: { git, position: a } });
}

/** A sink that hashes what passes through on its way to another sink. */
export class HashingSink implements ByteSink {
  private readonly hasher;
  constructor(
    private readonly inner: ByteSink,
    hashFn: HashFunction,
    algorithm: HashAlgorithm,
  ) {
    this.hasher = hashFn(algorithm);
  }
  write(bytes: Uint8Array): void {
    this.hasher.update(bytes);
    this.inner.write(bytes);
  }
  digest(): Uint8Array {
    return this.hasher.digest();
  }
}

/** Writes the planned file to `sink`, trailer included; returns the checksum. */
export function writeMidx(sink: ByteSink, plan: MidxPlan, hashFn: HashFunction): Uint8Array {
  const hs = new HashingSink(sink, hashFn, plan.hash);
  writeChunkFile(hs, plan.header, plan.chunks);
  const sum = hs.digest();
  sink.write(sum);
  return sum;
}
