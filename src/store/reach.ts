/**
 * Reachability: the objects reachable from some commits (or any objects: tags, trees, blobs) and
 * not from others, by walking the object graph through a store — what `git rev-list --objects`
 * lists, counted. The answer is the exact set difference (as Git's bitmaps compute it): an object
 * reachable from an excluded tip is excluded however deep it lies.
 *
 * Objects are read whole (commits, trees and tags are small); blobs are only looked up, never read.
 */
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
 * Walks from `tips` and calls `visit` once per reachable object with its kind; ids are hex strings
 * (the walk's set). Submodule entries (gitlinks) are not followed, as Git does not.
 */
function walk(
  store: ObjectStore,
  tips: readonly Uint8Array[],
  seen: Set<string>,
  counts?: ReachableCounts,
): void {
  const H = store.hash.size;
  const stack: { hex: string; kind: Kind | 0 }[] = [];
  for (const t of tips) stack.push({ hex: toHex(t), kind: 0 });
  while (stack.length > 0) {
    const { hex, kind: known } = stack.pop()!;
    if (seen.has(hex)) continue;
    seen.add(hex);
    const oid = hexBytes(hex, H);
    if (known === Kind.Blob) {
      // A blob is not read: only its presence matters.
      if (!store.hasObject(oid)) throw missing(hex, 'blob');
      if (counts) counts.blobs++;
      continue;
    }
    const o = store.readObject(oid);
    if (o === undefined)
      throw missing(hex, known === 0 ? 'object' : (['', 'commit', 'tree', 'blob', 'tag'][known] ?? 'object'));
    const kind = KINDS[o.type];
    if (counts) {
      if (kind === Kind.Commit) counts.commits++;
      else if (kind === Kind.Tree) counts.trees++;
      else if (kind === Kind.Blob) counts.blobs++;
      else counts.tags++;
    }
    if (kind === Kind.Commit || kind === Kind.Tag) {
      const text = decoder.decode(o.data.subarray(0, headerEnd(o.data)));
      for (const line of text.split('\n')) {
        if (kind === Kind.Commit) {
          if (line.startsWith('tree ')) stack.push({ hex: line.slice(5), kind: Kind.Tree });
          else if (line.startsWith('parent ')) stack.push({ hex: line.slice(7), kind: Kind.Commit });
        } else if (line.startsWith('object ')) {
          stack.push({ hex: line.slice(7), kind: 0 });
        }
      }
    } else if (kind === Kind.Tree) {
      const d = o.data;
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
 * Counts the objects reachable from `include` and not from `exclude`, by walking (the exact set
 * difference). OBJECT_MISSING when the graph has a hole.
 */
export function countReachable(store: ObjectStore, query: ReachableQuery): ReachableCounts {
  const excluded = new Set<string>();
  if (query.exclude !== undefined && query.exclude.length > 0) walk(store, query.exclude, excluded);
  const counts: ReachableCounts = { commits: 0, trees: 0, blobs: 0, tags: 0, objects: 0 };
  walk(store, query.include, excluded, counts);
  counts.objects = counts.commits + counts.trees + counts.blobs + counts.tags;
  return counts;
}
