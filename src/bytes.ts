/** Small byte helpers shared by every parser. All integers on disk are big-endian. */

export function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** A 64-bit big-endian value as a JS number (exact up to 2^53; larger values are rejected by callers). */
export function readU64(b: Uint8Array, o: number): number {
  return readU32(b, o) * 0x100000000 + readU32(b, o + 4);
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function writeU64(b: Uint8Array, o: number, v: number): void {
  writeU32(b, o, Math.floor(v / 0x100000000));
  writeU32(b, o + 4, v >>> 0);
}

/** memcmp of `len` bytes: a[ao..] against b[bo..]. A byte loop beats Buffer.compare for ids. */
export function compareBytes(a: Uint8Array, ao: number, b: Uint8Array, bo: number, len: number): number {
  for (let i = 0; i < len; i++) {
    const d = a[ao + i] - b[bo + i];
    if (d !== 0) return d;
  }
  return 0;
}

const HEX = '0123456789abcdef';

const HEX_CODES = Array.from(HEX, (c) => c.charCodeAt(0));
/** Bytes turned into hex by one `String.fromCharCode` call at most (longer input: in pieces). */
const HEX_CHUNK = 64;
/** Character codes of one piece, reused (a string built by `+=` is a rope of one part per byte). */
const hexCodes: number[] = new Array(2 * HEX_CHUNK).fill(0);

export function toHex(b: Uint8Array, start = 0, end = b.length): string {
  if (end - start > HEX_CHUNK) {
    let s = '';
    for (let i = start; i < end; i += HEX_CHUNK) s += toHex(b, i, Math.min(end, i + HEX_CHUNK));
    return s;
  }
  const n = Math.max(0, end - start);
  hexCodes.length = 2 * n;
  for (let i = 0; i < n; i++) {
    const v = b[start + i];
    hexCodes[2 * i] = HEX_CODES[v >> 4];
    hexCodes[2 * i + 1] = HEX_CODES[v & 15];
  }
  return String.fromCharCode.apply(null, hexCodes);
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses exactly `size` bytes of hex from `s` (length must be 2·size); undefined when not hex. */
export function fromHex(
  s: string,
  out: Uint8Array = new Uint8Array(s.length >> 1),
  outOffset = 0,
): Uint8Array | undefined {
  if (s.length & 1) return undefined;
  for (let i = 0; i < s.length; i += 2) {
    const hi = hexVal(s.charCodeAt(i));
    const lo = hexVal(s.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return undefined;
    out[outOffset + (i >> 1)] = (hi << 4) | lo;
  }
  return out;
}

/**
 * Two hex digit bytes (first << 8 | second) → their byte value, +256 if either was uppercase; -1 if
 * not hex. Built on first use (a millisecond that most commands need not spend).
 */
let hexPairs: Int16Array | undefined;

function buildHexPairs(): Int16Array {
  const t = new Int16Array(65536).fill(-1);
  for (let a = 0; a < 256; a++) {
    const hi = hexVal(a);
    if (hi < 0) continue;
    for (let b = 0; b < 256; b++) {
      const lo = hexVal(b);
      if (lo < 0) continue;
      t[(a << 8) | b] = ((hi << 4) | lo) + ((a >= 65 && a <= 70) || (b >= 65 && b <= 70) ? 256 : 0);
    }
  }
  return t;
}

/**
 * Decodes the `2·n` hex digits (ASCII bytes) at `src[pos]` into `out[at, at + n)`, two digits per
 * table lookup. Returns -1 when one is not a hex digit (`out` is then partly written), 1 when
 * some digit was uppercase, else 0.
 */
export function hexBytesInto(src: Uint8Array, pos: number, out: Uint8Array, at: number, n: number): number {
  let seen = 0;
  hexPairs ??= buildHexPairs();
  const table = hexPairs;
  for (let i = 0, q = pos; i < n; i++, q += 2) {
    const v = table[(src[q] << 8) | src[q + 1]];
    if (v < 0) return -1;
    seen |= v;
    out[at + i] = v;
  }
  return seen >> 8;
}

export function isHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (hexVal(s.charCodeAt(i)) < 0) return false;
  return true;
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });
const textEncoder = new TextEncoder();

export function latin1OrUtf8(b: Uint8Array): string {
  return textDecoder.decode(b);
}

export function utf8(s: string): Uint8Array {
  return textEncoder.encode(s);
}

/** Byte-wise strcmp of two strings' UTF-8 encodings (Git sorts pack names with strcmp). */
export function strcmpBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The number of lines in `input` (a last one without its separator included), counting at most
 * `max`. Lines of exactly `hexSize` bytes (full hex ids, the usual input) are stepped over without
 * a search.
 */
export function countLines(input: Uint8Array, sep: number, hexSize: number, max: number): number {
  const total = input.length;
  let lines = 0;
  let pos = 0;
  while (pos < total && lines < max) {
    lines++;
    if (pos + hexSize < total && input[pos + hexSize] === sep) {
      pos += hexSize + 1;
      continue;
    }
    const end = input.indexOf(sep, pos);
    if (end < 0) break;
    pos = end + 1;
  }
  return lines;
}

/** Writes `v` (an integer, 0 ≤ v ≤ 2^53) in decimal at `at`; returns the end. */
export function writeDecimal(out: Uint8Array, at: number, v: number): number {
  if (v < 10) {
    out[at] = 48 + v;
    return at + 1;
  }
  if (v < 0x80000000) {
    // Small integers: int arithmetic.
    let digits = 0;
    for (let x = v; x >= 1; x = (x / 10) | 0) digits++;
    let x = v;
    for (let i = at + digits - 1; i >= at; i--) {
      const q = (x / 10) | 0;
      out[i] = 48 + x - q * 10;
      x = q;
    }
    return at + digits;
  }
  let digits = 0;
  for (let x = v; x >= 1; x = Math.floor(x / 10)) digits++;
  let x = v;
  for (let i = at + digits - 1; i >= at; i--) {
    out[i] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  return at + digits;
}
