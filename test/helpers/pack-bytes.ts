/**
 * The small encodings of hand-built packs (spec/objects-format.md §2.2, §3.1), for tests and the
 * hostile bench that craft pack bytes git would never write.
 */
import type { HashAlgorithm } from '../../src/hash.js';
import { nodeHash } from '../../src/node/hash.js';

/** Little-endian base-128, as in delta headers (base and result sizes). */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A pack entry's type-and-size header: `C TTT SSSS`, then 7 size bits per byte. */
export function entryHeader(type: number, size: number): number[] {
  let c = (type << 4) | (size % 16);
  size = Math.floor(size / 16);
  const out: number[] = [];
  while (size > 0) {
    out.push(c | 0x80);
    c = size % 128;
    size = Math.floor(size / 128);
  }
  out.push(c);
  return out;
}

/** An OFS_DELTA distance: big-endian base-128 with +1 per continuation byte. */
export function ofsBytes(d: number): number[] {
  const out = [d & 0x7f];
  d = Math.floor(d / 128);
  while (d > 0) {
    d -= 1;
    out.unshift(0x80 | (d & 0x7f));
    d = Math.floor(d / 128);
  }
  return out;
}

/**
 * An idx v2, as Git writes it (§1.2): large offsets (≥ 2^31) in a 64-bit table in id order;
 * equal ids stay in the order given.
 */
export function buildIdx(
  hash: HashAlgorithm,
  objects: { oid: Uint8Array; offset: number; crc: number }[],
  packChecksum: Uint8Array,
): Buffer {
  const H = hash.size;
  const sorted = [...objects].sort((a, b) => Buffer.compare(a.oid, b.oid));
  const n = sorted.length;
  const large = sorted.filter((o) => o.offset >= 2 ** 31).length;
  const buf = Buffer.alloc(1032 + n * (H + 8) + large * 8 + 2 * H);
  buf.writeUInt32BE(0xff744f63, 0);
  buf.writeUInt32BE(2, 4);
  for (let b = 0; b < 256; b++) buf.writeUInt32BE(sorted.filter((o) => o.oid[0] <= b).length, 8 + 4 * b);
  let k = 0;
  sorted.forEach((o, i) => {
    buf.set(o.oid.subarray(0, H), 1032 + i * H);
    buf.writeUInt32BE(o.crc >>> 0, 1032 + n * H + 4 * i);
    if (o.offset >= 2 ** 31) {
      buf.writeUInt32BE((0x80000000 | k) >>> 0, 1032 + n * (H + 4) + 4 * i);
      buf.writeUInt32BE(Math.floor(o.offset / 2 ** 32), 1032 + n * (H + 8) + 8 * k);
      buf.writeUInt32BE(o.offset >>> 0, 1032 + n * (H + 8) + 8 * k + 4);
      k++;
    } else {
      buf.writeUInt32BE(o.offset, 1032 + n * (H + 4) + 4 * i);
    }
  });
  const end = buf.length - 2 * H;
  buf.set(packChecksum.subarray(0, H), end);
  const h = nodeHash(hash);
  h.update(buf.subarray(0, end + H));
  buf.set(h.digest(), end + H);
  return buf;
}
