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

const ALL = 0xffffffff;

/**
 * An EWAH bitmap built the way Git builds its own (docs/formats.md, "Reachability bitmaps"), so
 * that the same bits give the same bytes: the bit count grows with each word or bit added, a word
 * of all zeros or all ones extends a run, and an XOR of two bitmaps walks both encodings group by
 * group, copying literal words as they stand (an XOR can hold literal words that are all zeros;
 * Git's does too). Words are kept as 32-bit halves: `lo[k]` bits 0–31, `hi[k]` bits 32–63.
 */
export class Ewah {
  lo = new Uint32Array(4);
  hi = new Uint32Array(4);
  /** Words in use; word 0 is the first run-length word. */
  size = 1;
  /** The run-length word that new literals count in. */
  rlw = 0;
  bitSize = 0;
  /**
   * Counts words without keeping them (`xorSize`): only the current run-length word is kept, at
   * index 0, and literal words only add to `size`.
   */
  private counting = false;

  /** Git's conversion of a plain bitmap: trailing zero words are left out. */
  static fromBitset(bits: Bitset): Ewah {
    const e = new Ewah();
    const w = bits.words;
    const n = (w.length + 1) >>> 1;
    let zeros = 0;
    let lastLo = 0;
    let lastHi = 0;
    for (let i = 0; i < n; i++) {
      const lo = w[2 * i];
      const hi = 2 * i + 1 < w.length ? w[2 * i + 1] : 0;
      if (lo === 0 && hi === 0) {
        zeros++;
        continue;
      }
      if (lastLo !== 0 || lastHi !== 0) e.add(lastLo, lastHi);
      if (zeros > 0) {
        e.addEmptyWords(0, zeros);
        zeros = 0;
      }
      lastLo = lo;
      lastHi = hi;
    }
    e.add(lastLo, lastHi);
    return e;
  }

  /** `a` XOR `b`, encoded as Git's XOR of the two encodings encodes it. */
  static xor(a: Ewah, b: Ewah): Ewah {
    const out = new Ewah();
    Ewah.xorInto(a, b, out);
    return out;
  }

  /** The word count (`size`) of `xor(a, b)`, found without keeping its words. */
  static xorSize(a: Ewah, b: Ewah): number {
    const out = new Ewah();
    out.counting = true;
    Ewah.xorInto(a, b, out);
    return out.size;
  }

  private static xorInto(a: Ewah, b: Ewah, out: Ewah): void {
    const i = new RunIterator(a);
    const j = new RunIterator(b);
    while (i.wordSize() > 0 && j.wordSize() > 0) {
      while (i.run > 0 || j.run > 0) {
        const iFirst = i.run < j.run;
        const prey = iFirst ? i : j;
        const predator = iFirst ? j : i;
        const negate = predator.bit;
        const index = prey.discharge(out, predator.run, negate);
        out.addEmptyWords(negate, predator.run - index);
        predator.discard(predator.run);
      }
      const literals = Math.min(i.literals, j.literals);
      if (literals > 0) {
        for (let k = 0; k < literals; k++) {
          out.add(
            (a.lo[i.literalStart + k] ^ b.lo[j.literalStart + k]) >>> 0,
            (a.hi[i.literalStart + k] ^ b.hi[j.literalStart + k]) >>> 0,
          );
        }
        i.discard(literals);
        j.discard(literals);
      }
    }
    if (i.wordSize() > 0) i.discharge(out, Number.POSITIVE_INFINITY, 0);
    else j.discharge(out, Number.POSITIVE_INFINITY, 0);
    out.bitSize = Math.max(a.bitSize, b.bitSize);
  }

  runBit(r: number): number {
    return this.lo[r] & 1;
  }
  runLength(r: number): number {
    return ((this.lo[r] >>> 1) | ((this.hi[r] & 1) << 31)) >>> 0;
  }
  literalCount(r: number): number {
    return this.hi[r] >>> 1;
  }
  private setRunBit(r: number, v: number): void {
    this.lo[r] = ((this.lo[r] & ~1) | v) >>> 0;
  }
  private setRunLength(r: number, n: number): void {
    this.lo[r] = ((this.lo[r] & 1) | ((n & 0x7fffffff) << 1)) >>> 0;
    this.hi[r] = ((this.hi[r] & ~1) | (n >>> 31)) >>> 0;
  }
  private setLiteralCount(r: number, n: number): void {
    this.hi[r] = ((this.hi[r] & 1) | (n << 1)) >>> 0;
  }
  private push(lo: number, hi: number): void {
    if (this.counting) {
      this.size++;
      return;
    }
    if (this.size === this.lo.length) {
      const l = new Uint32Array(this.size * 2);
      const h = new Uint32Array(this.size * 2);
      l.set(this.lo);
      h.set(this.hi);
      this.lo = l;
      this.hi = h;
    }
    this.lo[this.size] = lo;
    this.hi[this.size] = hi;
    this.size++;
  }
  private pushRlw(): void {
    if (this.counting) {
      // The new run-length word takes the place of the one before, at index 0.
      this.size++;
      this.lo[0] = 0;
      this.hi[0] = 0;
      return;
    }
    this.push(0, 0);
    this.rlw = this.size - 1;
  }

  /** Appends one 64-bit word. */
  add(lo: number, hi: number): void {
    this.bitSize += 64;
    if (lo === 0 && hi === 0) this.addEmptyWord(0);
    else if (lo === ALL && hi === ALL) this.addEmptyWord(1);
    else this.addLiteral(lo, hi);
  }

  /** Appends `n` words of all `v` bits. */
  addEmptyWords(v: number, n: number): void {
    if (n === 0) return;
    this.bitSize += n * 64;
    const r0 = this.rlw;
    if (this.runBit(r0) !== v && this.runLength(r0) + this.literalCount(r0) === 0) {
      this.setRunBit(r0, v);
    } else if (this.literalCount(r0) !== 0 || this.runBit(r0) !== v) {
      this.pushRlw();
      if (v) this.setRunBit(this.rlw, v);
    }
    const run = this.runLength(this.rlw);
    const canAdd = Math.min(n, MAX_RUN - run);
    this.setRunLength(this.rlw, run + canAdd);
    n -= canAdd;
    while (n >= MAX_RUN) {
      this.pushRlw();
      if (v) this.setRunBit(this.rlw, v);
      this.setRunLength(this.rlw, MAX_RUN);
      n -= MAX_RUN;
    }
    if (n > 0) {
      this.pushRlw();
      if (v) this.setRunBit(this.rlw, v);
      this.setRunLength(this.rlw, n);
    }
  }

  /** Appends `n` words of `from` starting at word `at` as literals, inverted when `negate`. */
  addDirtyWords(from: Ewah, at: number, n: number, negate: number): void {
    for (;;) {
      const literals = this.literalCount(this.rlw);
      const canAdd = Math.min(n, MAX_LITERALS - literals);
      this.setLiteralCount(this.rlw, literals + canAdd);
      if (this.counting) this.size += canAdd;
      else
        for (let k = 0; k < canAdd; k++) {
          const lo = from.lo[at + k];
          const hi = from.hi[at + k];
          if (negate) this.push(~lo >>> 0, ~hi >>> 0);
          else this.push(lo, hi);
        }
      this.bitSize += canAdd * 64;
      if (n - canAdd === 0) break;
      this.pushRlw();
      at += canAdd;
      n -= canAdd;
    }
  }

  /** Sets bit `i`, which must lie beyond every bit set so far (the type bitmaps). */
  set(i: number): void {
    const dist = Math.ceil((i + 1) / 64) - Math.ceil(this.bitSize / 64);
    this.bitSize = i + 1;
    const b = i % 64;
    const lo = b < 32 ? (1 << b) >>> 0 : 0;
    const hi = b < 32 ? 0 : (1 << (b - 32)) >>> 0;
    if (dist > 0) {
      if (dist > 1) this.addEmptyRun(0, dist - 1);
      this.addLiteral(lo, hi);
      return;
    }
    if (this.literalCount(this.rlw) === 0) {
      this.setRunLength(this.rlw, this.runLength(this.rlw) - 1);
      this.addLiteral(lo, hi);
      return;
    }
    const last = this.size - 1;
    this.lo[last] = (this.lo[last] | lo) >>> 0;
    this.hi[last] = (this.hi[last] | hi) >>> 0;
    if (this.lo[last] === ALL && this.hi[last] === ALL) {
      // A word of ones completed: it joins a run instead.
      this.lo[last] = 0;
      this.hi[last] = 0;
      this.size--;
      this.setLiteralCount(this.rlw, this.literalCount(this.rlw) - 1);
      this.addEmptyWord(1);
    }
  }

  /** `addEmptyWords` without counting the bits (`set` has counted them already). */
  private addEmptyRun(v: number, n: number): void {
    const size = this.bitSize;
    this.addEmptyWords(v, n);
    this.bitSize = size;
  }

  private addEmptyWord(v: number): void {
    const r = this.rlw;
    const noLiterals = this.literalCount(r) === 0;
    const run = this.runLength(r);
    if (noLiterals && run === 0) this.setRunBit(r, v);
    if (noLiterals && this.runBit(r) === v && run < MAX_RUN) {
      this.setRunLength(r, run + 1);
      return;
    }
    this.pushRlw();
    this.setRunBit(this.rlw, v);
    this.setRunLength(this.rlw, 1);
  }

  private addLiteral(lo: number, hi: number): void {
    const n = this.literalCount(this.rlw);
    if (n >= MAX_LITERALS) {
      this.pushRlw();
      this.setLiteralCount(this.rlw, 1);
      this.push(lo, hi);
      return;
    }
    this.setLiteralCount(this.rlw, n + 1);
    this.push(lo, hi);
  }

  /** The serialized form: bit count, word count, the words, the last run-length word's index. */
  serialize(): Uint8Array {
    const buf = new Uint8Array(8 + this.size * 8 + 4);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, this.bitSize >>> 0);
    dv.setUint32(4, this.size);
    for (let k = 0; k < this.size; k++) {
      dv.setUint32(8 + k * 8, this.hi[k]);
      dv.setUint32(12 + k * 8, this.lo[k]);
    }
    dv.setUint32(8 + this.size * 8, this.rlw);
    return buf;
  }
}

/** A reading position in an EWAH encoding: the current group's remaining run and literals. */
class RunIterator {
  /** Next word to read as a run-length word. */
  private pointer = 0;
  run = 0;
  bit = 0;
  literals = 0;
  /** Index of the next literal word. */
  literalStart = 0;
  constructor(private readonly e: Ewah) {
    this.next();
    this.literalStart = this.pointer - this.literals;
  }
  wordSize(): number {
    return this.run + this.literals;
  }
  private next(): boolean {
    const e = this.e;
    if (this.pointer >= e.size) return false;
    const r = this.pointer;
    this.literals = e.literalCount(r);
    this.run = e.runLength(r);
    this.bit = e.runBit(r);
    this.pointer += this.literals + 1;
    return true;
  }
  /** Skips `x` words. */
  discard(x: number): void {
    while (x > 0) {
      if (this.run > x) {
        this.run -= x;
        return;
      }
      x -= this.run;
      this.run = 0;
      const d = Math.min(x, this.literals);
      this.literalStart += d;
      this.literals -= d;
      x -= d;
      if (x > 0 || this.wordSize() === 0) {
        if (!this.next()) break;
        this.literalStart = this.pointer - this.literals;
      }
    }
  }
  /** Copies up to `max` words to `out` (inverted when `negate`); returns how many. */
  discharge(out: Ewah, max: number, negate: number): number {
    let index = 0;
    while (index < max && this.wordSize() > 0) {
      let pl = this.run;
      if (index + pl > max) pl = max - index;
      out.addEmptyWords(this.bit ^ negate, pl);
      index += pl;
      let pd = this.literals;
      if (pd + index > max) pd = max - index;
      out.addDirtyWords(this.e, this.literalStart, pd, negate);
      this.discard(pd + pl);
      index += pd;
    }
    return index;
  }
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
