/**
 * Writing Git's delta format (spec/objects-format.md §3): the inverse of `applyDelta`.
 *
 * The base is cut into blocks of {@link DELTA_BLOCK} bytes, each filed in a hash table under a
 * polynomial hash of its bytes. The target is scanned with the same hash rolled one byte at a time;
 * where a window's hash names base blocks, the candidates are compared byte by byte, the longest
 * match is grown forwards as far as both sides agree and backwards over the literal bytes still
 * waiting to be written, and then emitted as copy instructions (at most 0x10000 bytes each).
 * Bytes no match covers become insert instructions of 1..127 literal bytes. The choice is greedy:
 * the first usable match at a position is taken, never revisited.
 *
 * An index is built once per base (`DeltaIndex`) so that a base can be tried against many targets,
 * as the delta search of `repack` does; its memory is about half the base's size.
 */

/** Bytes per indexed base block; also the shortest match the scan can find. */
export const DELTA_BLOCK = 16;
/** The most bytes one copy instruction can move. */
const MAX_COPY = 0x10000;
/** The most literal bytes one insert instruction can carry. */
const MAX_INSERT = 127;
/** Candidates compared at one target position before the scan settles for the best so far. */
const MAX_CHAIN = 48;
/** Multiplier of the block hash (odd, so that rolling the oldest byte out is exact mod 2^32). */
const MUL = 0x01000193;

/** MUL^(DELTA_BLOCK-1) mod 2^32: the weight of the byte about to leave the window. */
const OUT_WEIGHT = (() => {
  let w = 1;
  for (let i = 0; i < DELTA_BLOCK - 1; i++) w = Math.imul(w, MUL);
  return w;
})();

function blockHash(data: Uint8Array, at: number): number {
  let h = 0;
  for (let i = 0; i < DELTA_BLOCK; i++) h = (Math.imul(h, MUL) + data[at + i]) | 0;
  return h;
}

/** Mixes the rolling hash before its top `32 - shift` bits select a bucket. */
function bucketOf(h: number, shift: number): number {
  return Math.imul(h, 0x9e3779b1) >>> shift;
}

/** Bytes the header takes for `n` as a little-endian base-128 number. */
function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/**
 * Buckets per block of the base, at least: at most a quarter of the buckets hold a block, so most
 * positions of a target find theirs empty and roll on at once. With one bucket per block, half of
 * them found a block of another hash and walked its chain: the encoding took about twice as long
 * (a repack of flask's history in 100 packs: 650 ms in `createDelta` against 290–410 ms).
 */
const HEADS_PER_BLOCK = 4;
/**
 * The most buckets that HEADS_PER_BLOCK alone gives (16 MiB of heads): a larger base gets one per
 * block, as before, so that the index of a base of hundreds of MiB stays within the base's size.
 */
const HEADS_BITS_MAX = 22;

/**
 * A base prepared for delta encoding: its blocks filed by hash. Build it once and pass it to
 * {@link createDelta} for every target to be tried against that base.
 */
export class DeltaIndex {
  /** The base bytes (kept by reference, not copied). */
  readonly base: Uint8Array;
  /** @internal Per bucket, the latest block's number + 1 (0: empty). */
  readonly heads: Int32Array;
  /** @internal Per block, the previous block's number + 1 in the same bucket (0: none). */
  readonly chain: Int32Array;
  /** @internal The full hash of each block, to skip bucket neighbours cheaply. */
  readonly hashes: Int32Array;
  /** @internal 32 - log2(buckets). */
  readonly shift: number;

  constructor(base: Uint8Array) {
    this.base = base;
    const blocks = Math.floor(base.length / DELTA_BLOCK);
    let bits = 4;
    while ((1 << bits < blocks * HEADS_PER_BLOCK && bits < HEADS_BITS_MAX) || 1 << bits < blocks) bits++;
    this.shift = 32 - bits;
    this.heads = new Int32Array(1 << bits);
    this.chain = new Int32Array(blocks);
    this.hashes = new Int32Array(blocks);
    // Blocks filed from the start: a bucket's chain is walked newest first, that is from the
    // end of the base towards its start.
    let prev = -1;
    for (let b = 0; b < blocks; b++) {
      const h = blockHash(base, b * DELTA_BLOCK);
      // A run of identical blocks (zeros, repeated lines) is filed once: later copies of it add
      // nothing the first cannot match, and would make the chain long.
      if (h === prev && b > 0 && sameBlock(base, (b - 1) * DELTA_BLOCK, b * DELTA_BLOCK)) continue;
      prev = h;
      const bucket = bucketOf(h, this.shift);
      this.hashes[b] = h;
      this.chain[b] = this.heads[bucket];
      this.heads[bucket] = b + 1;
    }
  }

  /** Bytes of memory the index itself holds (the base not counted). */
  get indexBytes(): number {
    return this.heads.byteLength + this.chain.byteLength + this.hashes.byteLength;
  }
}

function sameBlock(d: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < DELTA_BLOCK; i++) if (d[a + i] !== d[b + i]) return false;
  return true;
}

/** The output buffer of the last encoding, reused by the next (the result is a copy). */
let scratch = new Uint8Array(1 << 16);

/** A growable output buffer that gives up past a size limit. */
class Out {
  buf: Uint8Array;
  len = 0;
  constructor(readonly limit: number) {
    this.buf = scratch;
  }
  /** Makes room for `n` more bytes; false when that would pass the limit. */
  room(n: number): boolean {
    const need = this.len + n;
    if (need > this.limit) return false;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.min(Math.max(need, this.buf.length * 2), this.limit + 16));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      // Kept for the next encoding unless it is huge.
      if (next.length <= 1 << 24) scratch = next;
    }
    return true;
  }
}

function putVarint(out: Out, n: number): void {
  while (n >= 128) {
    out.buf[out.len++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out.buf[out.len++] = n;
}

/** Emits `target[from, to)` as insert instructions. */
function putInserts(out: Out, target: Uint8Array, from: number, to: number): boolean {
  while (from < to) {
    const n = Math.min(MAX_INSERT, to - from);
    if (!out.room(n + 1)) return false;
    out.buf[out.len++] = n;
    out.buf.set(target.subarray(from, from + n), out.len);
    out.len += n;
    from += n;
  }
  return true;
}

/** The argument bytes of the copy instruction being built, and how many there are. */
const copyArgs = new Uint8Array(7);
let copyArgCount = 0;

/**
 * Adds to `copyArgs` the non-zero bytes among the `bytes` lowest of `value` and returns `cmd`
 * with the flag `firstBit << i` of each byte i added.
 */
function copyField(cmd: number, value: number, firstBit: number, bytes: number): number {
  for (let i = 0; i < bytes; i++) {
    const byte = value % 256;
    if (byte !== 0) {
      cmd |= firstBit << i;
      copyArgs[copyArgCount++] = byte;
    }
    value = Math.floor(value / 256);
  }
  return cmd;
}

/** Emits a copy of `size` base bytes from `offset`, split into pieces of at most 0x10000. */
function putCopies(out: Out, offset: number, size: number): boolean {
  while (size > 0) {
    const n = Math.min(MAX_COPY, size);
    // Only the non-zero bytes of offset and size are written; 0x10000 is written as no size byte.
    copyArgCount = 0;
    let cmd = copyField(0x80, offset, 0x01, 4);
    if (n !== MAX_COPY) cmd = copyField(cmd, n, 0x10, 3);
    if (!out.room(1 + copyArgCount)) return false;
    out.buf[out.len++] = cmd;
    for (let i = 0; i < copyArgCount; i++) out.buf[out.len++] = copyArgs[i];
    offset += n;
    size -= n;
  }
  return true;
}

/**
 * Encodes `target` as a delta against the base of `index`, in Git's format. Returns undefined when
 * the delta would be longer than `maxSize` bytes (default: no limit other than the target itself
 * plus the instruction overhead), so that a hopeless attempt stops early, and when the delta would
 * be under the 4 bytes Git requires (an empty target of a base under 16 KiB).
 *
 * @param index The base, indexed.
 * @param target The object to reproduce.
 * @param maxSize Largest acceptable delta, in bytes.
 * @returns The delta bytes, or undefined past `maxSize`.
 */
export function createDelta(index: DeltaIndex, target: Uint8Array, maxSize?: number): Uint8Array | undefined {
  const base = index.base;
  const tlen = target.length;
  const blen = base.length;
  // Without a limit the delta can be at most the header plus every byte inserted.
  const worst = varintLength(blen) + varintLength(tlen) + tlen + Math.ceil(tlen / MAX_INSERT) + DELTA_BLOCK;
  const limit = maxSize === undefined ? worst : Math.min(maxSize, worst);
  const out = new Out(limit);
  if (!out.room(varintLength(blen) + varintLength(tlen))) return undefined;
  putVarint(out, blen);
  putVarint(out, tlen);

  /** Start of the literal bytes not yet emitted. */
  let pending = 0;
  let t = 0;
  let h = tlen >= DELTA_BLOCK ? blockHash(target, 0) : 0;
  const lastStart = tlen - DELTA_BLOCK;
  const { heads, chain, hashes, shift } = index;
  // Literals waiting are counted against the limit as they accumulate: past this position they
  // alone (one opcode per 127 bytes included) would overrun it, and the attempt is given up.
  let giveUpAt = pending + Math.floor(((limit - out.len) * MAX_INSERT) / (MAX_INSERT + 1)) + 1;
  while (t <= lastStart) {
    if (t >= giveUpAt) return undefined;
    let b1 = heads[Math.imul(h, 0x9e3779b1) >>> shift];
    if (b1 === 0) {
      // The common case of a byte no block starts: roll on at once.
      if (t < lastStart) {
        h = (Math.imul(h - Math.imul(target[t], OUT_WEIGHT), MUL) + target[t + DELTA_BLOCK]) | 0;
      }
      t++;
      continue;
    }
    let bestLen = 0;
    let bestAt = 0;
    let walked = 0;
    for (; b1 !== 0 && walked < MAX_CHAIN; b1 = chain[b1 - 1]) {
      walked++;
      if (hashes[b1 - 1] !== h) continue;
      const at = (b1 - 1) * DELTA_BLOCK;
      // One copy instruction's worth at most: a longer match continues from the next position.
      const room = Math.min(blen - at, tlen - t, MAX_COPY);
      if (room <= bestLen) continue;
      let n = 0;
      while (n < room && base[at + n] === target[t + n]) n++;
      if (n > bestLen) {
        bestLen = n;
        bestAt = at;
        if (n === room) break;
      }
    }
    if (bestLen < DELTA_BLOCK) {
      // No match here: this byte becomes a literal; roll the window one byte on.
      if (t < lastStart) {
        h = (Math.imul(h - Math.imul(target[t], OUT_WEIGHT), MUL) + target[t + DELTA_BLOCK]) | 0;
      }
      t++;
      continue;
    }
    // Grow the match backwards over literals not yet emitted.
    while (t > pending && bestAt > 0 && base[bestAt - 1] === target[t - 1]) {
      t--;
      bestAt--;
      bestLen++;
    }
    if (!putInserts(out, target, pending, t)) return undefined;
    if (!putCopies(out, bestAt, bestLen)) return undefined;
    t += bestLen;
    pending = t;
    giveUpAt = pending + Math.floor(((limit - out.len) * MAX_INSERT) / (MAX_INSERT + 1)) + 1;
    if (t <= lastStart) h = blockHash(target, t);
  }
  if (!putInserts(out, target, pending, tlen)) return undefined;
  // Git refuses any delta under 4 bytes: an empty target of a small base has no valid delta.
  if (out.len < 4) return undefined;
  return out.buf.slice(0, out.len);
}

/**
 * `createDelta` for a single pair: indexes `base` and encodes `target` against it.
 *
 * @param base The base object's bytes.
 * @param target The target object's bytes.
 * @param maxSize Largest acceptable delta, in bytes.
 * @returns The delta bytes, or undefined past `maxSize`.
 */
export function diffDelta(base: Uint8Array, target: Uint8Array, maxSize?: number): Uint8Array | undefined {
  return createDelta(new DeltaIndex(base), target, maxSize);
}

/**
 * How many of `samples` spots spread over `target` share a block with the base of `index`: at each
 * spot, 16 consecutive positions are looked up, so that a stretch the target shares with the base
 * is found whatever its alignment. A cheap estimate of the fraction a delta could copy: a target
 * that shares at least half of itself (what a delta under Git's bound needs) hits about half the
 * spots or more. Targets under 64 bytes are not sampled (the answer is `samples`).
 *
 * @param index The base, indexed.
 * @param target The candidate target's bytes.
 * @param samples Spots to look at.
 * @returns The spots that found a block of the base, 0..samples.
 */
export function sampleMatches(index: DeltaIndex, target: Uint8Array, samples: number): number {
  const tlen = target.length;
  if (tlen < 4 * DELTA_BLOCK) return samples;
  const { base, heads, chain, hashes, shift } = index;
  const span = tlen - 2 * DELTA_BLOCK + 1;
  let hits = 0;
  for (let s = 0; s < samples; s++) {
    const q = Math.floor(((s + 0.5) * span) / samples);
    let h = blockHash(target, q);
    found: for (let i = 0; i < DELTA_BLOCK; i++) {
      const t = q + i;
      if (i > 0)
        h = (Math.imul(h - Math.imul(target[t - 1], OUT_WEIGHT), MUL) + target[t + DELTA_BLOCK - 1]) | 0;
      let walked = 0;
      for (let b1 = heads[Math.imul(h, 0x9e3779b1) >>> shift]; b1 !== 0 && walked < 8; b1 = chain[b1 - 1]) {
        walked++;
        if (hashes[b1 - 1] !== h) continue;
        const at = (b1 - 1) * DELTA_BLOCK;
        let n = 0;
        while (n < DELTA_BLOCK && base[at + n] === target[t + n]) n++;
        if (n === DELTA_BLOCK) {
          hits++;
          break found;
        }
      }
    }
  }
  return hits;
}
