/**
 * Enumeration and prefixes: every id of the store (each MIDX and `.idx` in order, loose ids),
 * and the candidates of an abbreviated id.
 */
import { compareBytes, fromHex, toHex } from '../bytes.js';
import { isGitMidxError } from '../errors.js';
import { looseIdsWithPrefix } from './loose.js';
import { idxOf } from './packs.js';
import { disableMidx } from './sources.js';
import type { StoreState } from './state.js';

/** Node's Buffer when there is one (its hex encoder is native); the portable core does without. */
export const NodeBuffer = (
  globalThis as {
    Buffer?: { from(b: ArrayBufferLike, o: number, n: number): { toString(enc: 'hex'): string } };
  }
).Buffer;

/** Lowercase hex as one flat string (Buffer's encoder where there is one). */
export function flatHex(b: Uint8Array): string {
  if (NodeBuffer === undefined) return toHex(b);
  return NodeBuffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** Positions [lo, hi) of a sorted id table whose ids start with `prefixHex`, appended to `out`. */
export function collectPrefix(
  fanout: Uint32Array,
  oidAt: (i: number) => Uint8Array,
  H: number,
  low: Uint8Array,
  prefixHex: string,
  out: Set<string>,
  accept: (i: number) => boolean = () => true,
): void {
  const b = low[0];
  let lo = b === 0 ? 0 : fanout[b - 1];
  const end = fanout[b];
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(oidAt(mid), 0, low, 0, H) < 0) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < end; i++) {
    const hex = toHex(oidAt(i), 0, H);
    if (!hex.startsWith(prefixHex)) break;
    if (accept(i)) out.add(hex);
  }
}

export function prefixCandidates(st: StoreState, p: string): string[] {
  const H = st.hash.size;
  const low = fromHex(p.padEnd(st.hash.hexSize, '0'))!;
  const out = new Set<string>();
  for (const m of st.midxOrder) {
    try {
      collectPrefix(m.midx.fanout, (i) => m.midx.oidAt(i), H, low, p, out);
    } catch (e) {
      if (!isGitMidxError(e)) throw e;
      disableMidx(st, m, e);
      return prefixCandidates(st, p);
    }
  }
  for (const slot of st.mru) {
    const idx = idxOf(st, slot);
    if (idx !== undefined) collectPrefix(idx.fanout, (i) => idx.oidAt(i), H, low, p, out);
  }
  for (const src of st.sources) {
    for (const hex of looseIdsWithPrefix(st.files, src.dir, st.hash, p)) out.add(hex);
  }
  return [...out].sort();
}
