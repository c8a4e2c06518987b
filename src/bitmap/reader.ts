/**
 * Reading a reachability bitmap (`.bitmap` of a MIDX or of a pack; docs/formats.md,
 * "Reachability bitmaps"): the header (`BITM`, version 1, flags, entry count, the checksum of the
 * MIDX or pack it belongs to), the four type bitmaps, then the commit entries (position of the
 * commit in id order, XOR offset, flags, EWAH bitmap). An entry with an XOR offset k is stored as
 * the XOR of its bitmap with the k-th previous entry's. Bits are positions in the index's
 * bitmap order (pseudo-pack order for a MIDX, pack order for a pack).
 */
import { compareBytes } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { Bitset, decodeEwah } from './ewah.js';

const MAX_XOR_OFFSET = 160;
/** Header flag: the bitmaps cover every object reachable (Git loads no bitmap without it). */
export const BITMAP_FULL_DAG = 1;

/**
 * Whether `head` (at least the first 12 + H bytes of a bitmap file) is a header Git loads for the
 * index whose checksum is `checksum`: `BITM`, version 1, the full-DAG flag, that checksum.
 */
export function isBitmapHeaderFor(head: Uint8Array, checksum: Uint8Array, H: number): boolean {
  return (
    head.length >= 12 + H &&
    head[0] === 0x42 &&
    head[1] === 0x49 &&
    head[2] === 0x54 &&
    head[3] === 0x4d &&
    ((head[4] << 8) | head[5]) === 1 &&
    (head[7] & BITMAP_FULL_DAG) !== 0 &&
    compareBytes(head, 12, checksum, 0, H) === 0
  );
}

export interface BitmapIndex {
  /** Objects covered (bits in each bitmap). */
  readonly size: number;
  /** Commits, trees, blobs, tags: which positions hold an object of that type. */
  readonly types: readonly [Bitset, Bitset, Bitset, Bitset];
  /** Position of a commit in id order (MIDX or `.idx` order) → its reachability bitmap. */
  readonly commits: ReadonlyMap<number, Bitset>;
}

/**
 * Parses a bitmap file of `size` objects belonging to the index whose checksum is `checksum`;
 * BITMAP_CORRUPT for anything that does not hold together.
 */
export function readBitmap(
  bytes: Uint8Array,
  hash: HashAlgorithm,
  size: number,
  checksum: Uint8Array,
  file = 'bitmap',
): BitmapIndex {
  const H = hash.size;
  const bad = (why: string) =>
    new GitMidxError('BITMAP_CORRUPT', `${file}: ${why}`, { file, data: { git: why } });
  if (bytes.length < 12 + 2 * H) throw bad('too small to be a bitmap');
  if (bytes[0] !== 0x42 || bytes[1] !== 0x49 || bytes[2] !== 0x54 || bytes[3] !== 0x4d) {
    throw bad('no BITM signature');
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = dv.getUint16(4);
  if (version !== 1) throw bad(`unsupported version ${version}`);
  const entries = dv.getUint32(8);
  if (compareBytes(bytes, 12, checksum, 0, H) !== 0)
    throw bad("checksum doesn't match the index it belongs to");
  const end = bytes.length - H;
  const body = bytes.subarray(0, end);
  let at = 12 + H;
  const types: Bitset[] = [];
  for (let t = 0; t < 4; t++) {
    const r = decodeEwah(body, at, file);
    types.push(fit(r.bits, size));
    at = r.next;
  }
  const commits = new Map<number, Bitset>();
  const recent: Bitset[] = [];
  for (let e = 0; e < entries; e++) {
    if (at + 6 > end) throw bad('entries cut short');
    const pos = dv.getUint32(at);
    const xor = bytes[at + 4];
    at += 6;
    if (pos >= size) throw bad(`entry ${e} names position ${pos} of ${size}`);
    if (xor > MAX_XOR_OFFSET || xor > recent.length) throw bad(`entry ${e} has an invalid XOR offset ${xor}`);
    const r = decodeEwah(body, at, file);
    at = r.next;
    const bits = fit(r.bits, size);
    if (xor > 0) {
      const base = recent[recent.length - xor];
      for (let i = 0; i < bits.words.length; i++) bits.words[i] ^= base.words[i];
    }
    recent.push(bits);
    commits.set(pos, bits);
  }
  return { size, types: types as [Bitset, Bitset, Bitset, Bitset], commits };
}

/** `b` as a bitset of exactly `size` bits (bits beyond are dropped). */
function fit(b: Bitset, size: number): Bitset {
  if (b.size === size) return b;
  const out = new Bitset(size);
  out.words.set(b.words.subarray(0, Math.min(b.words.length, out.words.length)));
  if (size % 32 !== 0 && out.words.length > 0) out.words[out.words.length - 1] &= (1 << (size % 32)) - 1;
  return out;
}
