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
  /** False when no entry can exceed 0x7fffffff (a v2 index without a 64-bit table). */
  readonly mayBeLarge: boolean;
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

const BLOCK_ENTRIES = 32768;

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
          mayBeLarge: true,
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
      mayBeLarge: idx.version === 1 || idx.numLarge > 0,
      offBase: idx.version === 2 ? idx.offBase : -1,
    });
  }

  // --- k-way merge ---------------------------------------------------------------------------
  // A tournament (loser) tree of sources keyed by the first 6 bytes of their head id as an exact
  // 48-bit number, so that almost every comparison is one number against another; equal keys
  // (duplicates, rare prefix collisions) fall back to the full comparator. One comparison per
  // level for each entry taken (a heap makes two).
  let total = 0;
  for (const s of sources) total += s.count;
  const k = sources.length;
  const selSrc = k <= 0xffff ? new Uint16Array(total) : new Uint32Array(total);
  const selPos = new Uint32Array(total);
  const fanout = new Uint32Array(256);
  const cursor = new Uint32Array(k);
  const headPack = new Int32Array(k); // pre-sort pack index of the head entry
  /** Key of each source's head entry; Infinity once the source is exhausted. */
  const headKey = new Float64Array(k);
  /** tree[0]: the source whose head comes first; tree[1..k-1]: the loser at each inner node. */
  const tree = new Int32Array(Math.max(1, k));

  const keyAt = (oids: Uint8Array, o: number): number =>
    readU32(oids, o) * 65536 + ((oids[o + 4] << 8) | oids[o + 5]);

  // The existing MIDX is read as data, not trusted (its checksum only says it was not damaged in
  // storage): every pack-int-id it gives is checked here, every large-offset index in entryOffset,
  // the order of every source's ids in the merge below, all before anything is written.
  const oldPacks = layers.reduce((n, m) => n + m.numPacks, 0);
  // Moves the cursor of source si to its next eligible entry; returns its key, or -1 when exhausted.
  const settle = (si: number): number => {
    const s = sources[si];
    let c = cursor[si];
    if (s.ooff) {
      let id = 0;
      while (c < s.count) {
        const local = readU32(s.ooff, c * 8);
        if (local >= s.packLimit) throw badPackId(s.file, local, s.packLimit, c);
        id = local + s.packBase;
        if (id >= oldPacks) throw badPackId(s.file, id, oldPacks, c);
        if (id !== s.skipPack) break;
        c++;
      }
      cursor[si] = c;
      if (c >= s.count) return -1;
      headPack[si] = id;
    } else if (c >= s.count) {
      return -1;
    }
    return keyAt(s.oids, s.base + c * s.stride);
  };

  // Full comparator for heads with equal keys: a before b?
  const tieLess = (a: number, b: number): boolean => {
    const sa = sources[a];
    const sb = sources[b];
    const c = compareBytes(
      sa.oids,
      sa.base + cursor[a] * sa.stride + 6,
      sb.oids,
      sb.base + cursor[b] * sb.stride + 6,
      H - 6,
    );
    if (c !== 0) return c < 0;
    if (sa.preferred !== sb.preferred) return sa.preferred;
    if (sa.mtime !== sb.mtime) return sa.mtime > sb.mtime;
    return headPack[a] < headPack[b];
  };

  // Source a's head before source b's (a strict order: sources never tie on the full comparator).
  const before = (a: number, b: number): boolean => {
    const ka = headKey[a];
    const kb = headKey[b];
    return ka < kb || (ka === kb && ka !== Number.POSITIVE_INFINITY && tieLess(a, b));
  };

  for (let si = 0; si < k; si++) {
    headPack[si] = sources[si].pack;
    const key = settle(si);
    headKey[si] = key >= 0 ? key : Number.POSITIVE_INFINITY;
  }
  if (k > 0) {
    // Leaves k..2k-1 stand for the sources; winners move up, losers stay at the inner nodes.
    const winner = new Int32Array(2 * k);
    for (let si = 0; si < k; si++) winner[k + si] = si;
    for (let i = k - 1; i >= 1; i--) {
      const x = winner[2 * i];
      const y = winner[2 * i + 1];
      if (before(y, x)) {
        winner[i] = y;
        tree[i] = x;
      } else {
        winner[i] = x;
        tree[i] = y;
      }
    }
    tree[0] = k === 1 ? 0 : winner[1];
  }

  let n = 0;
  let lastSrc = -1;
  let lastOff = 0;
  let lastKey = -1;
  let numLarge = 0;
  let needLarge = false;
  while (k > 0 && headKey[tree[0]] !== Number.POSITIVE_INFINITY) {
    const si = tree[0];
    const key = headKey[si];
    const s = sources[si];
    const pos = cursor[si];
    const o = s.base + pos * s.stride;
    // The tree yields copies of one id in the comparator's order: the first one wins.
    const dup =
      key === lastKey && compareBytes(sources[lastSrc].oids, lastOff + 6, s.oids, o + 6, H - 6) === 0;
    if (!dup && !exclude?.(s.oids, o)) {
      selSrc[n] = si;
      selPos[n] = pos;
      n++;
      fanout[s.oids[o]]++;
      if (s.ooff !== undefined) checkReusedOffset(s, pos, packs, H);
      if (s.mayBeLarge) {
        const off = entryOffset(s, pos);
        if (off > MIDX_LARGE_THRESHOLD) {
          numLarge++;
          if (off > MIDX_MAX_32BIT_OFFSET) needLarge = true;
        }
      }
      lastSrc = si;
      lastOff = o;
      lastKey = key;
    }
    cursor[si] = pos + 1;
    const next = settle(si);
    // Each source must be sorted: the merge's output order, and the offsets that go with each id,
    // depend on it. One comparison per step; whole ids only on equal keys. A MIDX lists an id once
    // (Git's verify rejects a repeat); a pack may hold an object twice (a non-strict index-pack
    // keeps both), and the merge keeps one copy.
    if (
      next >= 0 &&
      (next < key ||
        (next === key &&
          compareBytes(s.oids, o + 6, s.oids, s.base + cursor[si] * s.stride + 6, H - 6) >= (s.ooff ? 0 : 1)))
    ) {
      throw outOfOrder(s, pos, cursor[si], H);
    }
    headKey[si] = next >= 0 ? next : Number.POSITIVE_INFINITY;
    // Replay the source's path to the root: at each node the earlier head goes on up.
    let w = si;
    for (let i = (k + si) >> 1; i >= 1; i >>= 1) {
      const o = tree[i];
      if (before(o, w)) {
        tree[i] = w;
        w = o;
      }
    }
    tree[0] = w;
  }
  const numObjects = n;

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

  // --- chunks --------------------------------------------------------------------------------
  const chunks: ChunkWriter[] = [];
  const pnam = encodePnam(sortedNames);
  chunks.push({ id: CHUNK_PNAM, size: pnam.length, write: (sink) => sink.write(pnam) });
  const oidf = encodeFanout(fanout);
  chunks.push({ id: CHUNK_OIDF, size: OIDF_SIZE, write: (sink) => sink.write(oidf) });
  // Ids are copied as 32-bit words where the source allows it (every `.idx` id is 4-byte aligned
  // when the file's buffer is), which is about four times faster than a byte loop.
  const words = sources.map((s) =>
    s.oids.byteOffset % 4 === 0 && s.base % 4 === 0 && s.stride % 4 === 0
      ? new Uint32Array(s.oids.buffer, s.oids.byteOffset, s.oids.length >>> 2)
      : undefined,
  );
  chunks.push({
    id: CHUNK_OIDL,
    size: numObjects * H,
    write(sink) {
      const buf = new Uint8Array(Math.min(numObjects, BLOCK_ENTRIES) * H);
      const buf32 = new Uint32Array(buf.buffer, 0, buf.length >>> 2);
      const W = H >>> 2;
      for (let start = 0; start < numObjects; start += BLOCK_ENTRIES) {
        const end = Math.min(numObjects, start + BLOCK_ENTRIES);
        let w = 0;
        for (let i = start; i < end; i++) {
          const si = selSrc[i];
          const s = sources[si];
          const o = s.base + selPos[i] * s.stride;
          const sw = words[si];
          if (sw !== undefined) {
            const o32 = o >>> 2;
            const w32 = w >>> 2;
            for (let j = 0; j < W; j++) buf32[w32 + j] = sw[o32 + j];
          } else {
            const oids = s.oids;
            for (let j = 0; j < H; j++) buf[w + j] = oids[o + j];
          }
          w += H;
        }
        sink.write(buf.subarray(0, w));
      }
    },
  });
  chunks.push({
    id: CHUNK_OOFF,
    size: numObjects * 8,
    write(sink) {
      const buf = new Uint8Array(Math.min(numObjects, BLOCK_ENTRIES) * 8);
      let large = 0;
      for (let start = 0; start < numObjects; start += BLOCK_ENTRIES) {
        const end = Math.min(numObjects, start + BLOCK_ENTRIES);
        let w = 0;
        for (let i = start; i < end; i++) {
          const s = sources[selSrc[i]];
          const pos = selPos[i];
          const pack = s.ooff ? readU32(s.ooff, pos * 8) + s.packBase : s.pack;
          const id = perm[pack];
          if (!(id >= 0)) throw new Error(`BUG: object selected from dropped pack ${packs[pack]?.name}`);
          writeU32(buf, w, id);
          let off: number;
          if (s.offBase >= 0) {
            off = readU32(s.oids, s.offBase + pos * 4);
            if (off > MIDX_LARGE_THRESHOLD) off = entryOffset(s, pos);
          } else {
            off = entryOffset(s, pos);
          }
          // §4.5: only when some offset needs more than 32 bits does every offset with bit 31 set
          // move to LOFF; otherwise offsets up to 0xffffffff are stored as they are.
          if (needLarge && off > MIDX_LARGE_THRESHOLD)
            writeU32(buf, w + 4, MIDX_LARGE_OFFSET_NEEDED | large++);
          else writeU32(buf, w + 4, off);
          w += 8;
        }
        sink.write(buf.subarray(0, w));
      }
    },
  });
  if (needLarge) {
    chunks.push({
      id: CHUNK_LOFF,
      size: numLarge * 8,
      write(sink) {
        const buf = new Uint8Array(8);
        for (let i = 0; i < numObjects; i++) {
          const s = sources[selSrc[i]];
          const off = entryOffset(s, selPos[i]);
          if (off > MIDX_LARGE_THRESHOLD) {
            writeU32(buf, 0, Math.floor(off / 0x100000000));
            writeU32(buf, 4, off >>> 0);
            sink.write(buf);
          }
        }
      },
    });
  }

  let pseudoOrder: Uint32Array | undefined;
  if (input.reverseIndex === true && numObjects > 0) {
    // Pseudo-pack order (§8.9): preferred pack first, then pack-int-id, then offset.
    const packOf = new Uint32Array(numObjects);
    const offOf = new Float64Array(numObjects);
    const pref = new Uint8Array(numObjects);
    for (let i = 0; i < numObjects; i++) {
      const src = sources[selSrc[i]];
      const pos = selPos[i];
      const old = src.ooff ? readU32(src.ooff, pos * 8) + src.packBase : src.pack;
      packOf[i] = perm[old];
      offOf[i] = entryOffset(src, pos);
      pref[i] = src.preferred ? 0 : 1;
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
