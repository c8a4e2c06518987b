/**
 * The small encodings of hand-built packs (spec/objects-format.md §2.2, §3.1), for tests and the
 * hostile bench that craft pack bytes git would never write.
 */

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
