/**
 * Reachability: the objects reachable from some commits (or any objects: tags, trees, blobs) and
 * not from others, by walking the object graph through a store — what `git rev-list --objects`
 * lists, counted. The answer is the exact set difference (as Git's bitmaps compute it): an object
 * reachable from an excluded tip is excluded however deep it lies.
 *
 * Objects are read whole (commits, trees and tags are small); blobs are only looked up, never read.
 */
import { Bitset } from '../bitmap/ewah.js';
import { toHex } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { ObjectStore } from './object-store.js';

export interface ReachableCounts {
  commits: number;
  trees: number;
  blobs: number;
  tags: number;
  /** All of the above. */
  objects: number;
}

/**
 * A reachability bitmap as the walk uses it (see `openReachBitmap` in src/node/bitmaps.ts): which
 * objects it covers (their bit positions), their types, and the bitmaps of some commits.
 */
export interface ReachBitmap {
  /** Objects covered (bits per bitmap). */
  readonly size: number;
  /** Commits, trees, blobs, tags. */
  readonly types: readonly [Bitset, Bitset, Bitset, Bitset];
  /** The bit position of `oid`, or -1 when the bitmap does not cover it. */
  positionOf(oid: Uint8Array): number;
  /** The objects `oid` (a commit) reaches, when the bitmap has an entry for it. */
  commitBitmap(oid: Uint8Array): Bitset | undefined;
}

export interface ReachableQuery {
  /** Tips whose reachable objects are counted. */
  include: readonly Uint8Array[];
  /** Tips whose reachable objects are left out. */
  exclude?: readonly Uint8Array[];
}

enum Kind {
  Commit = 1,
  Tree = 2,
  Blob = 3,
  Tag = 4,
}

const KINDS: Record<string, Kind> = { commit: Kind.Commit, tree: Kind.Tree, blob: Kind.Blob, tag: Kind.Tag };
const decoder = new TextDecoder();

/**
 * Walks from `tips` and adds every reachable object to `seen` (ids as hex strings), counting the
 * new ones by type in `counts`. Submodule entries (gitlinks) are not followed, as Git does not.
 * With a bitmap, objects it covers go to `bits` instead (counted from its type bitmaps at the
 * end), and a commit that has a bitmap adds it whole without being walked.
 */
function walk(
  store: ObjectStore,
  tips: readonly Uint8Array[],
  seen: Set<string>,
  counts?: ReachableCounts,
  bitmap?: { index: ReachBitmap; bits: Bitset },
): void {
  const H = store.hash.size;
  const stack: { hex: string; kind: Kind | 0 }[] = [];
  for (const t of tips) stack.push({ hex: toHex(t), kind: 0 });
  while (stack.length > 0) {
    const { hex, kind: known } = stack.pop()!;
    if (seen.has(hex)) continue;
    const oid = hexBytes(hex, H);
    if (bitmap !== undefined) {
      const at = bitmap.index.positionOf(oid);
      if (at >= 0) {
        if (bitmap.bits.has(at)) continue;
        const whole = known === Kind.Commit || known === 0 ? bitmap.index.commitBitmap(oid) : undefined;
        if (whole !== undefined) {
          bitmap.bits.or(whole);
          continue;
        }
        bitmap.bits.set(at);
        if (known === Kind.Blob) continue;
        const o = store.readObject(oid);
        if (o === undefined) throw missing(hex, 'object');
        pushChildren(o.type, o.data, hex, H, stack);
        continue;
      }
    }
    seen.add(hex);
    if (known === Kind.Blob) {
      // A blob is not read: only its presence matters.
      if (!store.hasObject(oid)) throw missing(hex, 'blob');
      if (counts) counts.blobs++;
      continue;
    }
    const o = store.readObject(oid);
    if (o === undefined) {
      throw missing(hex, known === 0 ? 'object' : (['', 'commit', 'tree', 'blob', 'tag'][known] ?? 'object'));
    }
    if (counts) {
      const kind = KINDS[o.type];
      if (kind === Kind.Commit) counts.commits++;
      else if (kind === Kind.Tree) counts.trees++;
      else if (kind === Kind.Blob) counts.blobs++;
      else counts.tags++;
    }
    pushChildren(o.type, o.data, hex, H, stack);
  }
}

/** Pushes what a commit, tag or tree points to (with the kind known from the pointer). */
function pushChildren(
  type: string,
  d: Uint8Array,
  hex: string,
  H: number,
  stack: { hex: string; kind: Kind | 0 }[],
): void {
  const kind = KINDS[type];
  if (kind === Kind.Commit || kind === Kind.Tag) {
    const text = decoder.decode(d.subarray(0, headerEnd(d)));
    for (const line of text.split('\n')) {
      if (kind === Kind.Commit) {
        if (line.startsWith('tree ')) stack.push({ hex: line.slice(5), kind: Kind.Tree });
        else if (line.startsWith('parent ')) stack.push({ hex: line.slice(7), kind: Kind.Commit });
      } else if (line.startsWith('object ')) {
        stack.push({ hex: line.slice(7), kind: 0 });
      }
    }
  } else if (kind === Kind.Tree) {
    let i = 0;
    while (i < d.length) {
      const sp = d.indexOf(0x20, i);
      const nul = d.indexOf(0, sp);
      if (sp < 0 || nul < 0 || nul + 1 + H > d.length) {
        throw new GitMidxError('OBJECT_CORRUPT', `tree ${hex} is corrupt`, { data: { oid: hex } });
      }
      const mode = decoder.decode(d.subarray(i, sp));
      const child = toHex(d, nul + 1, nul + 1 + H);
      i = nul + 1 + H;
      if (mode === '160000') continue; // a submodule's commit lives in another repository
      stack.push({ hex: child, kind: mode.startsWith('4') ? Kind.Tree : Kind.Blob });
    }
  }
}

/** Where a commit's or tag's header ends (the blank line before the message). */
function headerEnd(d: Uint8Array): number {
  for (let i = 0; i + 1 < d.length; i++) if (d[i] === 10 && d[i + 1] === 10) return i;
  return d.length;
}

function hexBytes(hex: string, H: number): Uint8Array {
  const out = new Uint8Array(H);
  for (let i = 0; i < H; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function missing(hex: string, what: string): GitMidxError {
  const git = `missing ${what} ${hex}`;
  return new GitMidxError('OBJECT_MISSING', git, { data: { git, oid: hex } });
}

/**
 * Counts the objects reachable from `include` and not from `exclude` (the exact set difference):
 * by a walk, or with `bitmap`, by the bitmaps of the commits that have one and a walk of the rest
 * (the same answer, read rather than walked). OBJECT_MISSING when the graph has a hole.
 */
export function countReachable(
  store: ObjectStore,
  query: ReachableQuery,
  options: { bitmap?: ReachBitmap } = {},
): ReachableCounts {
  const index = options.bitmap;
  const excluded = new Set<string>();
  const exBits = index === undefined ? undefined : { index, bits: new Bitset(index.size) };
  if (query.exclude !== undefined && query.exclude.length > 0) {
    walk(store, query.exclude, excluded, undefined, exBits);
  }
  const counts: ReachableCounts = { commits: 0, trees: 0, blobs: 0, tags: 0, objects: 0 };
  const inBits = index === undefined ? undefined : { index, bits: new Bitset(index.size) };
  walk(store, query.include, excluded, counts, inBits);
  if (index !== undefined && inBits !== undefined && exBits !== undefined) {
    const w = inBits.bits.words;
    const x = exBits.bits.words;
    for (let i = 0; i < w.length; i++) w[i] &= ~x[i];
    counts.commits += andCount(inBits.bits, index.types[0]);
    counts.trees += andCount(inBits.bits, index.types[1]);
    counts.blobs += andCount(inBits.bits, index.types[2]);
    counts.tags += andCount(inBits.bits, index.types[3]);
  }
  counts.objects = counts.commits + counts.trees + counts.blobs + counts.tags;
  return counts;
}

function andCount(a: Bitset, b: Bitset): number {
  let n = 0;
  for (let i = 0; i < a.words.length; i++) {
    let v = a.words[i] & b.words[i];
    while (v !== 0) {
      v &= v - 1;
      n++;
    }
  }
  return n;
}
