/**
 * EWAH-compressed bitmaps as Git stores them (docs/formats.md, "Reachability bitmaps"): a 32-bit
 * bit count, a 32-bit count of 64-bit words, the words, and the 32-bit index of the last
 * run-length word, all big-endian. The words are groups: a run-length word (bit 0: the running
 * bit; bits 1–32: how many words of that bit come first; bits 33–63: how many literal words
 * follow), then its literal words, lowest bit first.
 */
import { GitMidxError } from '../errors.js';

const MAX_RUN = 0xffffffff;
const MAX_LITERALS = 0x7fffffff;

/** A plain bitset over `size` bits. */
export class Bitset {
  readonly words: Uint32Array;
  constructor(readonly size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }
  set(i: number): void {
    this.words[i >>> 5] |= 1 << (i & 31);
  }
  has(i: number): boolean {
    return (this.words[i >>> 5] & (1 << (i & 31))) !== 0;
  }
  or(other: Bitset): void {
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < b.length; i++) a[i] |= b[i];
  }
  count(): number {
    let n = 0;
    for (let w of this.words) {
      while (w !== 0) {
        w &= w - 1;
        n++;
      }
    }
    return n;
  }
  /** One more than the highest bit set (0 when none). */
  bitLength(): number {
    for (let i = this.words.length - 1; i >= 0; i--) {
      const w = this.words[i];
      if (w !== 0) return i * 32 + 32 - Math.clz32(w);
    }
    return 0;
  }
}

/** The EWAH serialization of `bits` (its bit count is the highest bit set plus one, as Git's). */
export function encodeEwah(bits: Bitset): Uint8Array {
  const bitSize = bits.bitLength();
  const nWords = Math.ceil(bitSize / 64);
  // 64-bit words as [low, high] 32-bit halves.
  const lo = (i: number) => bits.words[2 * i] ?? 0;
  const hi = (i: number) => bits.words[2 * i + 1] ?? 0;
  const out: number[] = []; // pairs (high, low) of output words
  let lastRlw = 0;
  let i = 0;
  while (i < nWords) {
    // A run of all-zero or all-one words, then literal words up to the next run.
    const rlwAt = out.length / 2;
    const zero = lo(i) === 0 && hi(i) === 0;
    const ones = lo(i) === 0xffffffff && hi(i) === 0xffffffff && 2 * i + 1 < bits.words.length;
    let run = 0;
    let bit = 0;
    if (zero || ones) {
      bit = ones ? 1 : 0;
      const want = ones ? 0xffffffff : 0;
      while (i < nWords && run < MAX_RUN && lo(i) === want && hi(i) === want) {
        run++;
        i++;
      }
    }
    let lits = 0;
    const litStart = i;
    while (i < nWords && lits < MAX_LITERALS) {
      const l = lo(i);
      const h = hi(i);
      if ((l === 0 && h === 0) || (l === 0xffffffff && h === 0xffffffff)) break;
      lits++;
      i++;
    }
    // Run-length word: bit 0 running bit, bits 1..32 run, bits 33..63 literal count.
    const rlwLow = (bit | ((run & 0x7fffffff) << 1)) >>> 0;
    const rlwHigh = ((run >>> 31) | (lits << 1)) >>> 0;
    out.push(rlwHigh, rlwLow);
    for (let k = litStart; k < litStart + lits; k++) out.push(hi(k), lo(k));
    lastRlw = rlwAt;
  }
  const words = out.length / 2;
  const buf = new Uint8Array(8 + words * 8 + 4);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, bitSize);
  dv.setUint32(4, words);
  for (let k = 0; k < out.length; k++) dv.setUint32(8 + k * 4, out[k]);
  dv.setUint32(8 + words * 8, lastRlw);
  return buf;
}

/** Reads one EWAH bitmap at `at`; returns its bits and where the next thing starts. */
export function decodeEwah(bytes: Uint8Array, at: number, file = 'bitmap'): { bits: Bitset; next: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const need = (n: number) => {
    if (at + n > bytes.length) {
      throw new GitMidxError('BITMAP_CORRUPT', `${file}: EWAH bitmap cut short at ${at}`, { file });
    }
  };
  need(8);
  const bitSize = dv.getUint32(at);
  const words = dv.getUint32(at + 4);
  need(8 + words * 8 + 4);
  const bits = new Bitset(Math.max(bitSize, 0));
  let w = 0;
  let pos = 0; // in 64-bit words
  const base = at + 8;
  while (w < words) {
    const high = dv.getUint32(base + w * 8);
    const low = dv.getUint32(base + w * 8 + 4);
    w++;
    const bit = low & 1;
    const run = ((low >>> 1) | ((high & 1) << 31)) >>> 0;
    const lits = high >>> 1;
    if (bit === 1) for (let k = 0; k < run * 64 && pos * 64 + k < bitSize; k++) bits.set(pos * 64 + k);
    pos += run;
    for (let l = 0; l < lits && w < words; l++, w++, pos++) {
      const h = dv.getUint32(base + w * 8);
      const lw = dv.getUint32(base + w * 8 + 4);
      if (pos * 2 < bits.words.length) bits.words[pos * 2] = lw;
      if (pos * 2 + 1 < bits.words.length) bits.words[pos * 2 + 1] = h;
    }
  }
  return { bits, next: base + words * 8 + 4 };
}
