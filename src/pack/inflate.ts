/**
 * A small, allocation-light zlib decoder (RFC 1950 wrapper around RFC 1951 deflate) for the many
 * tiny streams of a pack (commits, trees, deltas: tens to hundreds of bytes). node:zlib's
 * `inflateSync` spends a few microseconds per call building a stream and a native handle, which is
 * more than the decoding itself for such streams; this decoder has no per-call set-up beyond the
 * output buffer.
 *
 * It answers only when it is sure: any error, any input that ends before the stream does, and any
 * output longer than the caller's limit give `undefined`, and the caller asks node:zlib, which gives
 * the exact error. It accepts exactly what zlib accepts where it answers (the incomplete-code rules
 * below follow zlib's, so that the two never disagree on a stream).
 *
 * Decoding is table-driven: a primary table indexed by the next LIT_ROOT (9) bits for literal/length
 * codes and DIST_ROOT (6) bits for distance codes, with second-level tables for the longer codes.
 * Scratch tables live at module level and are reused by every call (the decoder is synchronous and
 * not re-entrant, so that is safe).
 */

// ---------------------------------------------------------------------------------------------
// Table entries: bits 0-3 the code length to consume, bits 4-11 an op, bits 12-31 a value.
//   op 0             literal, value = the byte
//   op 16 | extra    length or distance: value = base, `extra` more bits follow (0..13)
//   op 32            end of block
//   op 64 | subBits  link to a second-level table at index `value`, indexed by `subBits` bits
//   op 128           invalid code (consuming its length first lets truncation be told apart)

const F_LENDIST = 16 << 4;
const F_EOB = 32 << 4;
const F_LINK = 64 << 4;
const F_BAD = 128 << 4;

const LIT_ROOT = 9;
const DIST_ROOT = 6;
const CL_ROOT = 7;

/** RFC 1951 §3.2.5: base lengths and extra bits of length codes 257..285. */
const LEN_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
  227, 258,
];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/** RFC 1951 §3.2.5: base distances and extra bits of distance codes 0..29. */
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
  6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];
/** RFC 1951 §3.2.7: the order in which code length code lengths are sent. */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** Per-symbol table entries without the code length, for each kind of code. */
const LIT_SYM = new Int32Array(288);
const DIST_SYM = new Int32Array(32);
const CL_SYM = new Int32Array(19);
for (let s = 0; s < 288; s++) {
  if (s < 256) LIT_SYM[s] = s << 12;
  else if (s === 256) LIT_SYM[s] = F_EOB;
  else if (s < 286) LIT_SYM[s] = (LEN_BASE[s - 257] << 12) | F_LENDIST | (LEN_EXTRA[s - 257] << 4);
  else LIT_SYM[s] = F_BAD; // 286 and 287 exist only in the fixed code, and are invalid there
}
for (let s = 0; s < 32; s++) {
  DIST_SYM[s] = s < 30 ? (DIST_BASE[s] << 12) | F_LENDIST | (DIST_EXTRA[s] << 4) : F_BAD;
}
for (let s = 0; s < 19; s++) CL_SYM[s] = s << 12;

/** Bit reversal of a byte. */
const REV8 = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let r = 0;
  for (let b = 0; b < 8; b++) r |= ((i >>> b) & 1) << (7 - b);
  REV8[i] = r;
}

// Scratch, reused by every call. While code lengths are read, each symbol with a nonzero length is
// appended to its length's bucket, so the symbols come out grouped by length and in symbol order —
// the canonical order of RFC 1951 §3.2.2 — without another pass over the lengths.
const LIT_STRIDE = 288;
const DIST_STRIDE = 32;
const CL_STRIDE = 19;
const litBucket = new Uint16Array(16 * LIT_STRIDE);
const distBucket = new Uint16Array(16 * DIST_STRIDE);
const clBucket = new Uint16Array(8 * CL_STRIDE);
const litCount = new Uint16Array(16);
const distCount = new Uint16Array(16);
const clCount = new Uint16Array(16);
const left = new Uint16Array(16);
const clLens = new Uint8Array(19);
// Large enough for any complete code with these roots (at most 852 and 592 entries are needed).
const litTable = new Int32Array(2048);
const distTable = new Int32Array(1024);
const clTable = new Int32Array(1 << CL_ROOT);

/**
 * Builds the decoding table of the canonical Huffman code (RFC 1951 §3.2.2) whose symbols of code
 * length l are `bucket[l*stride .. l*stride + count[l])`, in symbol order. Returns the number of
 * root bits used, or -1 when the lengths do not form a code zlib accepts: over-subscribed, or
 * incomplete unless the longest code has one bit (a single one-bit code; never for the code length
 * code); no codes at all is accepted except for the code length code (any use of such a table is
 * then an invalid code).
 */
function buildTable(
  bucket: Uint16Array,
  stride: number,
  count: Uint16Array,
  sym: Int32Array,
  table: Int32Array,
  maxRoot: number,
  isCodeLengths: boolean,
): number {
  let max = 15;
  while (max > 0 && count[max] === 0) max--;
  if (max === 0) {
    if (isCodeLengths) return -1;
    table[0] = F_BAD | 1;
    table[1] = F_BAD | 1;
    return 1;
  }
  let room = 1;
  for (let l = 1; l <= max; l++) {
    room = (room << 1) - count[l];
    if (room < 0) return -1;
  }
  if (room > 0 && (isCodeLengths || max !== 1)) return -1;

  const root = Math.min(max, maxRoot);
  const size = 1 << root;
  if (room > 0) {
    // The one-bit incomplete case: the code 1 stays invalid.
    table[0] = F_BAD | 1;
    table[1] = F_BAD | 1;
  }
  for (let l = root + 1; l <= max; l++) left[l] = count[l];

  let code = 0;
  let curLow = -1;
  let subBase = 0;
  let subSize = 0;
  let next = size;
  for (let l = 1; l <= max; l++) {
    const n = count[l];
    const b = l * stride;
    for (let k = 0; k < n; k++, code++) {
      // Deflate sends codes most significant bit first; the bit buffer holds them reversed.
      const rev = ((REV8[code & 255] << 8) | REV8[code >>> 8]) >>> (16 - l);
      const entry = sym[bucket[b + k]] | l;
      if (l <= root) {
        for (let i = rev; i < size; i += 1 << l) table[i] = entry;
        continue;
      }
      const low = rev & (size - 1);
      if (low !== curLow) {
        // A new second-level table: all codes with this root prefix follow in canonical order, so
        // its depth is where the remaining codes fill the prefix's subtree.
        let bits = l - root;
        let slots = 1 << bits;
        let len = l;
        for (;;) {
          slots -= left[len];
          if (slots <= 0 || len >= max) break;
          len++;
          bits++;
          slots <<= 1;
        }
        curLow = low;
        subBase = next;
        subSize = 1 << bits;
        next += subSize;
        if (next > table.length) return -1;
        table[low] = (subBase << 12) | F_LINK | (bits << 4);
      }
      for (let i = rev >>> root; i < subSize; i += 1 << (l - root)) table[subBase + i] = entry;
      left[l]--;
    }
    code <<= 1;
  }
  return root;
}

/** Fills a bucket from an array of code lengths (used for the fixed code and the code length code). */
function bucketize(
  lengths: Uint8Array,
  n: number,
  bucket: Uint16Array,
  stride: number,
  count: Uint16Array,
): void {
  count.fill(0);
  for (let s = 0; s < n; s++) {
    const l = lengths[s];
    if (l !== 0) bucket[l * stride + count[l]++] = s;
  }
}

// The fixed code of RFC 1951 §3.2.6, built once.
const fixedLit = new Int32Array(1 << LIT_ROOT);
const fixedDist = new Int32Array(1 << 5);
const FIXED_LIT_ROOT = (() => {
  const l = new Uint8Array(288);
  for (let s = 0; s < 288; s++) l[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
  bucketize(l, 288, litBucket, LIT_STRIDE, litCount);
  return buildTable(litBucket, LIT_STRIDE, litCount, LIT_SYM, fixedLit, LIT_ROOT, false);
})();
const FIXED_DIST_ROOT = (() => {
  const l = new Uint8Array(32).fill(5);
  bucketize(l, 32, distBucket, DIST_STRIDE, distCount);
  return buildTable(distBucket, DIST_STRIDE, distCount, DIST_SYM, fixedDist, DIST_ROOT, false);
})();

/** Adler-32 (RFC 1950 §9) of `b[from .. to)`. */
function adler32(b: Uint8Array, from: number, to: number): number {
  let a = 1;
  let s = 0;
  let i = from;
  while (i < to) {
    // 3600 bytes keep `s` below 2^31, so the sums stay small integers.
    const end = to - i > 3600 ? i + 3600 : to;
    // Eight bytes at a time: s gains 8a plus the bytes weighted 8..1, a gains their sum.
    for (const end8 = end - 7; i < end8; i += 8) {
      const x0 = b[i];
      const x1 = b[i + 1];
      const x2 = b[i + 2];
      const x3 = b[i + 3];
      const x4 = b[i + 4];
      const x5 = b[i + 5];
      const x6 = b[i + 6];
      const x7 = b[i + 7];
      s += 8 * (a + x0) + 7 * x1 + 6 * x2 + 5 * x3 + 4 * x4 + 3 * x5 + 2 * x6 + x7;
      a += x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    }
    for (; i < end; i++) {
      a += b[i];
      s += a;
    }
    a %= 65521;
    s %= 65521;
  }
  return ((s << 16) | a) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The decoder

const OK = 0;
/** The input ended before the stream did. */
const TRUNC = 1;
/** Corrupt. */
const ERR = 2;
/** The output would exceed the capacity. */
const FULL = 3;
/** Prefix mode: the capacity is filled. */
const ENOUGH = 4;

/** Results of `run`, passed back without allocating: the end of the output and the input used. */
let outEnd = 0;
let inUsed = 0;
/** Why the last run gave ERR, in zlib's words. */
let why = '';

function bad(message: string): number {
  why = message;
  return ERR;
}

/**
 * Decodes the zlib stream at input[inStart] (its input ends at `inEnd`: bits past it read as
 * zeros) into `out[base .. base+cap)`. In prefix mode a full output
 * ends the run with ENOUGH (a partial match copied up to the end) instead of FULL.
 *
 * Bits past the end of the input read as zeros; every symbol checks, before its output is written,
 * that the bits it used were real, so output is never made of invented bits. Errors are raised
 * only after consuming the bits that show them, so an error found in invented bits is reported as
 * TRUNC instead.
 */
function run(
  input: Uint8Array,
  inStart: number,
  inEnd: number,
  out: Uint8Array,
  base: number,
  cap: number,
  prefix: boolean,
): number {
  /** (Positions in `input` are absolute: this is where the input ends.) */
  const inLen = inEnd;
  const limit = base + cap;
  let pos = inStart + 2;
  let bitBuf = 0;
  let bitCnt = 0;
  let outPos = base;
  let status = OK;
  outEnd = base;
  inUsed = 0;
  if (inLen - inStart < 2) return TRUNC;
  const cmf = input[inStart];
  const flg = input[inStart + 1];
  // RFC 1950 §2.2, checked in zlib's order: header check, method 8, window at most 32 KiB, and no
  // preset dictionary (whose 4-byte id zlib reads before asking for the dictionary).
  if (((cmf << 8) | flg) % 31 !== 0) return bad('incorrect header check');
  if ((cmf & 15) !== 8) return bad('unknown compression method');
  if (cmf >>> 4 > 7) return bad('invalid window size');
  if ((flg & 32) !== 0) return inLen - inStart < 6 ? TRUNC : bad('Missing dictionary');

  // The bit buffer holds at most 31 bits, so it stays a non-negative small integer. Refills add
  // whole bytes until it holds at least 24.
  main: for (;;) {
    while (bitCnt < 24) {
      if (pos < inLen) bitBuf |= input[pos] << bitCnt;
      pos++;
      bitCnt += 8;
    }
    const final = bitBuf & 1;
    const type = (bitBuf >> 1) & 3;
    bitBuf >>= 3;
    bitCnt -= 3;

    let lt: Int32Array;
    let dt: Int32Array;
    let lroot: number;
    let droot: number;
    if (type === 0) {
      // Stored (§3.2.4): skip to a byte boundary; LEN, NLEN, then LEN raw bytes.
      pos -= bitCnt >>> 3;
      bitBuf = 0;
      bitCnt = 0;
      if (pos + 4 > inLen) {
        status = TRUNC;
        break;
      }
      const len = input[pos] | (input[pos + 1] << 8);
      const nlen = input[pos + 2] | (input[pos + 3] << 8);
      pos += 4;
      if ((len ^ 0xffff) !== nlen) {
        status = bad('invalid stored block lengths');
        break;
      }
      let n = len;
      if (pos + n > inLen) {
        n = inLen - pos;
        status = TRUNC;
      }
      if (outPos + n > limit) {
        if (!prefix) {
          status = FULL;
          break;
        }
        n = limit - outPos;
        status = ENOUGH;
      }
      if (n < 64) {
        for (let k = 0; k < n; k++) out[outPos + k] = input[pos + k];
      } else {
        out.set(input.subarray(pos, pos + n), outPos);
      }
      outPos += n;
      pos += n;
      if (status !== OK || final) break;
      continue;
    }
    if (type === 1) {
      lt = fixedLit;
      dt = fixedDist;
      lroot = FIXED_LIT_ROOT;
      droot = FIXED_DIST_ROOT;
    } else if (type === 2) {
      // Dynamic (§3.2.7): HLIT, HDIST, HCLEN, the code length code, then the code lengths.
      const nlen = (bitBuf & 31) + 257;
      const ndist = ((bitBuf >> 5) & 31) + 1;
      const ncl = ((bitBuf >> 10) & 15) + 4;
      bitBuf >>= 14;
      bitCnt -= 14;
      if (nlen > 286 || ndist > 30) {
        status = bad('too many length or distance symbols');
        break;
      }
      for (let i = 0; i < 19; i++) clLens[i] = 0;
      for (let i = 0; i < ncl; i++) {
        if (bitCnt < 3) {
          while (bitCnt < 24) {
            if (pos < inLen) bitBuf |= input[pos] << bitCnt;
            pos++;
            bitCnt += 8;
          }
        }
        clLens[CL_ORDER[i]] = bitBuf & 7;
        bitBuf >>= 3;
        bitCnt -= 3;
      }
      bucketize(clLens, 19, clBucket, CL_STRIDE, clCount);
      const clRoot = buildTable(clBucket, CL_STRIDE, clCount, CL_SYM, clTable, CL_ROOT, true);
      if (clRoot < 0) {
        status = bad('invalid code lengths set');
        break;
      }
      const clMask = (1 << clRoot) - 1;
      for (let l = 0; l < 16; l++) {
        litCount[l] = 0;
        distCount[l] = 0;
      }
      const total = nlen + ndist;
      let i = 0;
      let prev = 0;
      let eob = 0;
      while (i < total) {
        if (bitCnt < 14) {
          while (bitCnt < 24) {
            if (pos < inLen) bitBuf |= input[pos] << bitCnt;
            pos++;
            bitCnt += 8;
          }
        }
        const e = clTable[bitBuf & clMask];
        const l = e & 15;
        bitBuf >>= l;
        bitCnt -= l;
        let v = e >> 12;
        let rep = 1;
        if (v === 16) {
          rep = 3 + (bitBuf & 3);
          bitBuf >>= 2;
          bitCnt -= 2;
          if (i === 0) {
            status = bad('invalid bit length repeat');
            break main;
          }
          v = prev;
        } else if (v === 17) {
          rep = 3 + (bitBuf & 7);
          bitBuf >>= 3;
          bitCnt -= 3;
          v = 0;
        } else if (v === 18) {
          rep = 11 + (bitBuf & 127);
          bitBuf >>= 7;
          bitCnt -= 7;
          v = 0;
        }
        if (i + rep > total) {
          status = bad('invalid bit length repeat');
          break main;
        }
        prev = v;
        if (v === 0) {
          i += rep;
          continue;
        }
        for (const end = i + rep; i < end; i++) {
          if (i < nlen) {
            litBucket[v * LIT_STRIDE + litCount[v]++] = i;
            if (i === 256) eob = v;
          } else {
            distBucket[v * DIST_STRIDE + distCount[v]++] = i - nlen;
          }
        }
      }
      if (eob === 0) {
        status = bad('invalid code -- missing end-of-block');
        break;
      }
      lroot = buildTable(litBucket, LIT_STRIDE, litCount, LIT_SYM, litTable, LIT_ROOT, false);
      droot =
        lroot < 0
          ? -1
          : buildTable(distBucket, DIST_STRIDE, distCount, DIST_SYM, distTable, DIST_ROOT, false);
      if (droot < 0) {
        status = bad(lroot < 0 ? 'invalid literal/lengths set' : 'invalid distances set');
        break;
      }
      if (pos > inLen && (pos - inLen) << 3 > bitCnt) {
        status = TRUNC;
        break;
      }
      lt = litTable;
      dt = distTable;
    } else {
      status = bad('invalid block type');
      break;
    }

    // Compressed data (§3.2.5).
    const lmask = (1 << lroot) - 1;
    const dmask = (1 << droot) - 1;
    for (;;) {
      if (bitCnt < 20) {
        if (pos + 3 < inLen) {
          do {
            bitBuf |= input[pos++] << bitCnt;
            bitCnt += 8;
          } while (bitCnt < 24);
        } else {
          do {
            if (pos < inLen) bitBuf |= input[pos] << bitCnt;
            pos++;
            bitCnt += 8;
          } while (bitCnt < 24);
        }
      }
      let e = lt[bitBuf & lmask];
      if ((e & F_LINK) !== 0) e = lt[(e >> 12) + ((bitBuf >> lroot) & ((1 << ((e >> 4) & 15)) - 1))];
      let l = e & 15;
      bitBuf >>= l;
      bitCnt -= l;
      if (pos > inLen && (pos - inLen) << 3 > bitCnt) {
        status = TRUNC;
        break main;
      }
      if ((e & 0xff0) === 0) {
        if (outPos >= limit) {
          status = prefix ? ENOUGH : FULL;
          break main;
        }
        out[outPos++] = e >> 12;
        continue;
      }
      if ((e & F_LENDIST) !== 0) {
        let x = (e >> 4) & 15;
        let len = (e >> 12) + (bitBuf & ((1 << x) - 1));
        bitBuf >>= x;
        bitCnt -= x;
        if (bitCnt < 15) {
          while (bitCnt < 24) {
            if (pos < inLen) bitBuf |= input[pos] << bitCnt;
            pos++;
            bitCnt += 8;
          }
        }
        let d = dt[bitBuf & dmask];
        if ((d & F_LINK) !== 0) d = dt[(d >> 12) + ((bitBuf >> droot) & ((1 << ((d >> 4) & 15)) - 1))];
        l = d & 15;
        bitBuf >>= l;
        bitCnt -= l;
        if ((d & F_LENDIST) === 0) {
          status = bad('invalid distance code');
          break main;
        }
        x = (d >> 4) & 15;
        if (bitCnt < x) {
          while (bitCnt < 24) {
            if (pos < inLen) bitBuf |= input[pos] << bitCnt;
            pos++;
            bitCnt += 8;
          }
        }
        const dist = (d >> 12) + (bitBuf & ((1 << x) - 1));
        bitBuf >>= x;
        bitCnt -= x;
        if (pos > inLen && (pos - inLen) << 3 > bitCnt) {
          status = TRUNC;
          break main;
        }
        if (dist > outPos - base) {
          status = bad('invalid distance too far back');
          break main;
        }
        if (outPos + len > limit) {
          if (!prefix) {
            status = FULL;
            break main;
          }
          len = limit - outPos;
          status = ENOUGH;
        }
        let from = outPos - dist;
        const end = outPos + len;
        while (outPos < end) out[outPos++] = out[from++];
        if (status !== OK) break main;
        continue;
      }
      if ((e & F_EOB) !== 0) break;
      status = bad('invalid literal/length code');
      break main;
    }
    if (final) break;
  }

  if (status === OK) {
    // Past the last block: round up to a byte, then the Adler-32 of the output, big-endian.
    pos -= bitCnt >>> 3;
    if (pos + 4 > inLen) {
      status = TRUNC;
    } else {
      const want =
        ((input[pos] << 24) | (input[pos + 1] << 16) | (input[pos + 2] << 8) | input[pos + 3]) >>> 0;
      if (adler32(out, base, outPos) !== want) status = bad('incorrect data check');
      else inUsed = pos + 4 - inStart;
    }
  } else if (status === ERR && pos > inLen && (pos - inLen) << 3 > bitCnt) {
    // The bits that showed the error were not all in the input.
    status = TRUNC;
  }
  outEnd = outPos;
  return status;
}

// Output for small streams is carved out of a shared slab: a typed array of more than a few dozen
// bytes has its own backing store, whose allocation costs about as much as inflating a small
// stream. A slab is never written again where it has handed out bytes (a failed or short run gives
// its unused room back), so the views stay the caller's; a view keeps its whole slab alive, which
// is why slabs are small and only outputs of at most SLAB_ITEM bytes use them.
const SLAB_SIZE = 1 << 15;
const SLAB_ITEM = 1 << 12;
let slab = new Uint8Array(SLAB_SIZE);
let slabPos = 0;

/** Runs the decoder with `cap` bytes of output room; returns the status, the output in `lastOut`. */
function decode(input: Uint8Array, cap: number, prefix: boolean): number {
  let out: Uint8Array;
  let base = 0;
  if (cap > SLAB_ITEM) {
    out = new Uint8Array(cap);
  } else {
    if (slabPos + cap > SLAB_SIZE) {
      slab = new Uint8Array(SLAB_SIZE);
      slabPos = 0;
    }
    out = slab;
    base = slabPos;
  }
  const status = run(input, 0, input.length, out, base, cap, prefix);
  lastStatus = status;
  if (status === OK || (prefix && (status === TRUNC || status === ENOUGH))) {
    lastOut = out.subarray(base, outEnd);
    // Keep the next output 8-byte aligned.
    if (out === slab) slabPos = (outEnd + 7) & ~7;
  }
  return status;
}

let lastOut: Uint8Array = slab.subarray(0, 0);
let lastStatus = OK;

/** Why the last `inflateZlib` or `inflateZlibPrefix` call that decoded gave undefined. */
export interface InflateFailure {
  /** `truncated`: the input ended before the stream did; `long`: more output than allowed. */
  kind: 'truncated' | 'corrupt' | 'long';
  /** zlib's message for the same failure (src/node/zlib.ts reports zlib's own). */
  message: string;
}

/** The failure of the last call to `inflateZlib` or `inflateZlibPrefix` (valid right after it). */
export function lastInflateFailure(): InflateFailure {
  if (lastStatus === TRUNC) return { kind: 'truncated', message: 'unexpected end of file' };
  if (lastStatus === FULL) return { kind: 'long', message: 'output exceeds the limit' };
  return { kind: 'corrupt', message: why };
}

/**
 * Inflates the zlib stream at input[0]: returns the bytes and the input bytes used (2-byte header +
 * deflate data + 4-byte Adler-32), or undefined when it cannot answer by itself: any error (bad
 * header, FDICT set, bad block, bad code, distance too far, bad Adler-32, input ending before the
 * stream ends) or output longer than maxOutput. The caller then asks node:zlib, which gives the
 * exact error.
 *
 * The output has exactly `maxOutput` bytes of room (callers pass the expected size + 1, so that a
 * stream one byte too long is told apart). `data` is an exact-length view; small outputs share an
 * underlying buffer with other outputs, so use `data` itself, never `data.buffer`.
 */
export function inflateZlib(
  input: Uint8Array,
  maxOutput: number,
): { data: Uint8Array; consumed: number } | undefined {
  if (!(maxOutput >= 0 && maxOutput <= 0x7fffffff)) return undefined;
  if (decode(input, maxOutput, false) !== OK) return undefined;
  return { data: lastOut, consumed: inUsed };
}

/**
 * Inflates the zlib stream at `input[start]` (its input ends at `end`) straight into `out[0, size)`
 * when it makes exactly `size` bytes: returns the input bytes used, or -1 when it cannot answer so
 * (any error, input ending first, more or fewer bytes than `size`); the caller then asks an
 * inflater that reports the exact outcome. Bytes of `out` past what a stream made are undefined.
 */
export function inflateZlibExact(
  input: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  size: number,
): number {
  if (!(size >= 0 && size <= out.length && start >= 0 && end <= input.length)) return -1;
  const status = run(input, start, end, out, 0, size, false);
  return status === OK && outEnd === size ? inUsed : -1;
}

/** Prefixes up to this long are tried with `shortPrefix` first. */
const SHORT_PREFIX_MAX = 64;

/**
 * The common case of a short prefix (a delta's header: its first bytes), in a function small
 * enough for V8 to optimise after a few hundred calls (`run` needs thousands): the first `want`
 * bytes of a stream whose blocks up to there are stored or fixed-Huffman, every bit used in the
 * input. Writes them to `out` and returns true; returns false for anything else (a dynamic
 * block, an error, the input or the stream ending first), which `run` then decodes, so the two
 * never disagree: where this answers, the bytes are those `run` gives in prefix mode.
 */
function shortPrefix(input: Uint8Array, want: number, out: Uint8Array): boolean {
  const inLen = input.length;
  if (inLen < 2) return false;
  const cmf = input[0];
  const flg = input[1];
  if ((cmf & 15) !== 8 || cmf >>> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0 || (flg & 32) !== 0) return false;
  let pos = 2;
  let bitBuf = 0;
  let bitCnt = 0;
  let n = 0;
  for (;;) {
    // Block header: 3 bits.
    while (bitCnt < 3) {
      if (pos >= inLen) return false;
      bitBuf |= input[pos++] << bitCnt;
      bitCnt += 8;
    }
    const final = bitBuf & 1;
    const type = (bitBuf >> 1) & 3;
    bitBuf >>= 3;
    bitCnt -= 3;
    if (type === 0) {
      // Stored: the rest of the current byte is dropped; LEN, NLEN, then the bytes.
      pos -= bitCnt >>> 3;
      bitBuf = 0;
      bitCnt = 0;
      if (pos + 4 > inLen) return false;
      const len = input[pos] | (input[pos + 1] << 8);
      if ((len ^ 0xffff) !== (input[pos + 2] | (input[pos + 3] << 8))) return false;
      pos += 4;
      const take = Math.min(len, want - n);
      if (pos + take > inLen) return false;
      for (let k = 0; k < take; k++) out[n++] = input[pos + k];
      // Done when the block goes on past the prefix (`run` then stops there too).
      if (n === want) return take < len;
      pos += len;
    } else if (type === 1) {
      for (;;) {
        // At most 9 + 5 + 5 + 13 bits per literal/length/distance: refill to 24, all real bits.
        while (bitCnt < 24 && pos < inLen) {
          bitBuf |= input[pos++] << bitCnt;
          bitCnt += 8;
        }
        const e = fixedLit[bitBuf & ((1 << FIXED_LIT_ROOT) - 1)];
        let l = e & 15;
        if (l > bitCnt) return false;
        bitBuf >>= l;
        bitCnt -= l;
        if ((e & 0xff0) === 0) {
          out[n++] = e >> 12;
          if (n === want) return nextIsLiteral(input, pos, bitBuf, bitCnt);
          continue;
        }
        if ((e & F_LENDIST) === 0) {
          // End of block (the next block follows), or an invalid code.
          if ((e & F_EOB) !== 0) break;
          return false;
        }
        let x = (e >> 4) & 15;
        if (x > bitCnt) return false;
        const len = (e >> 12) + (bitBuf & ((1 << x) - 1));
        bitBuf >>= x;
        bitCnt -= x;
        while (bitCnt < 24 && pos < inLen) {
          bitBuf |= input[pos++] << bitCnt;
          bitCnt += 8;
        }
        const d = fixedDist[bitBuf & ((1 << FIXED_DIST_ROOT) - 1)];
        l = d & 15;
        if (l > bitCnt || (d & F_LENDIST) === 0) return false;
        bitBuf >>= l;
        bitCnt -= l;
        x = (d >> 4) & 15;
        if (x > bitCnt) return false;
        const dist = (d >> 12) + (bitBuf & ((1 << x) - 1));
        bitBuf >>= x;
        bitCnt -= x;
        if (dist > n) return false;
        const end = Math.min(want, n + len);
        const past = n + len > want;
        for (let from = n - dist; n < end; ) out[n++] = out[from++];
        if (n === want) return past || nextIsLiteral(input, pos, bitBuf, bitCnt);
      }
    } else {
      return false;
    }
    // A complete stream inside the prefix: `run` also checks its Adler-32.
    if (final) return false;
  }
}

/**
 * Whether the fixed-Huffman code at the bit position given is a literal, all its bits in the
 * input: with the output full, `run` then stops with what it has. (Anything else — the end of the
 * stream, whose Adler-32 `run` checks, a match, an error — is left to `run`.)
 */
function nextIsLiteral(input: Uint8Array, pos: number, bitBuf: number, bitCnt: number): boolean {
  while (bitCnt < 9 && pos < input.length) {
    bitBuf |= input[pos++] << bitCnt;
    bitCnt += 8;
  }
  const e = fixedLit[bitBuf & ((1 << FIXED_LIT_ROOT) - 1)];
  return (e & 15) <= bitCnt && (e & 0xff0) === 0;
}

/**
 * The first bytes of the stream, at least `want` unless the stream or the input ends first (a
 * stream cut short by the end of input is not an error here: what was decoded is returned), or
 * undefined on a real error. Only bytes decoded from bits that are in the input are returned, so
 * they are always a prefix of what zlib produces; when the whole stream is in the input, its
 * Adler-32 is checked too. The same sharing as for `inflateZlib` applies to the result.
 */
export function inflateZlibPrefix(input: Uint8Array, want: number): Uint8Array | undefined {
  if (!(want >= 0 && want <= 0x7fffffff)) return undefined;
  if (want > 0 && want <= SHORT_PREFIX_MAX) {
    const out = new Uint8Array(want);
    if (shortPrefix(input, want, out)) return out;
  }
  const status = decode(input, want, true);
  return status === ERR || status === FULL ? undefined : lastOut;
}
