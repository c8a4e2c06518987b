/**
 * The reachability bitmap of a MIDX, `multi-pack-index-<checksum>.bitmap` (docs/formats.md,
 * "Reachability bitmaps"): for a selection of commits, which objects each one reaches, as EWAH
 * bitmaps over pseudo-pack order (the MIDX's RIDX chunk); plus one bitmap per object type.
 *
 * Selection: every ref's commit (so that each tip Git may test has its bitmap) and every 100th
 * commit of a walk from them. The commit and tree graph is read first, every commit and tree once,
 * pack by pack in offset order (`readGraph`); then each selected commit's bitmap is built from
 * those of the selected commits below it and a walk of that graph for what they do not cover. No XOR compression, no name-hash cache and no
 * lookup table are written (all optional in the format): the file is valid for every Git that
 * reads MIDX bitmaps, but not byte-identical to Git's, whose commit selection and XOR choices
 * differ.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bitset, encodeEwah } from '../bitmap/ewah.js';
import { fromHex, hexBytesInto, readU32, toHex } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { pseudoPackPositions } from '../midx/chain.js';
import { CHUNK_OIDL } from '../midx/chunks.js';
import type { MultiPackIndex } from '../midx/reader.js';
import { storeFiles } from '../storage/resident.js';
import { RefStore } from '../store/revision.js';
import { nodeHash } from './hash.js';
import { LockFile } from './lockfile.js';
import { MIDX_NAME } from './midx.js';
import { ObjectStore } from './odb.js';
import { nodeStorage } from './storage.js';

/** Commits picked between ref tips: one in this many of a walk. */
const SELECT_EVERY = 100;
const decoder = new TextDecoder();

export interface WriteBitmapOptions {
  objectDir: string;
  /** Where `HEAD`, `refs/` and `packed-refs` are (default: the object directory's parent). */
  gitDir?: string;
  hash: HashAlgorithm;
  /** The MIDX just written (a flat file or a new layer), with its RIDX chunk. */
  midx: MultiPackIndex;
  /**
   * For a layer of an incremental chain: the layers below it, base first. Positions then run
   * across the chain (theirs first); the bitmap gives its commits bitmaps over every object they
   * reach, in the layers below too, and type bitmaps for its own objects
   * (docs/formats.md, "Incremental chains").
   */
  base?: readonly MultiPackIndex[];
  /** Where the file goes (default: `pack/multi-pack-index-<checksum>.bitmap`). */
  target?: string;
}

export interface WriteBitmapResult {
  path: string;
  /** Commits given a bitmap. */
  commits: number;
}

/** Writes the `.bitmap` of `midx` (see the module comment). */
export function writeMidxBitmap(options: WriteBitmapOptions): WriteBitmapResult {
  const { midx, hash } = options;
  const H = hash.size;
  const all = [...(options.base ?? []), midx];
  const layers: { midx: MultiPackIndex; objectsInBase: number }[] = [];
  let N = 0;
  for (const l of all) {
    layers.push({ midx: l, objectsInBase: N });
    N += l.numObjects;
  }
  /** Objects of the layers below; the new file's objects come after them. */
  const B = N - midx.numObjects;
  const packDir = path.join(options.objectDir, 'pack');
  const checksum = midx.checksum();
  const target = options.target ?? path.join(packDir, `${MIDX_NAME}-${toHex(checksum)}.bitmap`);
  // Every id of the chain (layer by layer: global MIDX positions), and position → pseudo-pack
  // position from each layer's RIDX (the new file's too: a bitmap write gives it one).
  const oidl = new Uint8Array(N * H);
  for (const { midx: l, objectsInBase } of layers) {
    oidl.set(l.readChunk(CHUNK_OIDL)!.subarray(0, l.numObjects * H), objectsInBase * H);
  }
  const noRidx: { checksumHex?: string } = {};
  const pseudoOf = pseudoPackPositions(
    layers,
    (hex, j) => {
      const git = `multi-pack-index ${hex}: reverse index entry ${j} is out of place`;
      return new GitMidxError('MIDX_NO_REVERSE_INDEX', git, { data: { git } });
    },
    noRidx,
  );
  if (pseudoOf === undefined) {
    const git = `could not load reverse index for MIDX ${noRidx.checksumHex}`;
    throw new GitMidxError('MIDX_NO_REVERSE_INDEX', git, { data: { git } });
  }
  const store = ObjectStore.open({ objectDir: options.objectDir, hash });
  try {
    // Types of every object, by MIDX position, and the commit and tree graph.
    const table = new OidTable(oidl, N, H);
    const graph = readGraph(store, oidl, N, H, table);
    const types = graph.types;
    // Type bitmaps: the new file's own objects.
    const typeBits = [new Bitset(N), new Bitset(N), new Bitset(N), new Bitset(N)];
    for (let i = B; i < N; i++) {
      const t = types[i];
      if (t >= 1 && t <= 4) typeBits[t - 1].set(pseudoOf[i]);
    }
    const closure = (pos: number, oid?: Uint8Array, at = 0): never => {
      const hex = oid === undefined ? toHex(oidl, pos * H, pos * H + H) : toHex(oid, at, at + H);
      const git = `object ${hex} is not in the multi-pack-index: a bitmap needs full closure`;
      throw new GitMidxError('BITMAP_CLOSURE', git, { data: { git, oid: hex } });
    };

    // Tips: every ref, tags peeled to their commits; only commits in the MIDX.
    const refs = new RefStore({
      gitDir: options.gitDir ?? path.dirname(path.resolve(options.objectDir)),
      files: storeFiles(nodeStorage()),
    });
    const tips: number[] = [];
    const isTip = new Uint8Array(N);
    const scratch = new Uint8Array(H);
    /** Commits outside the MIDX already walked (hex). */
    const outside = new Set<string>();
    const tipsBelow = (data: Uint8Array, seen: Set<string>, tip: (pos: number) => void): void => {
      const todo = [data];
      while (todo.length > 0) {
        const d = todo.pop()!;
        // `parent <hex>` lines follow the `tree` line (spec/objects-format.md: commits).
        for (const m of decoder.decode(d.subarray(0, headerEnd(d))).matchAll(/^parent ([0-9a-f]+)$/gm)) {
          if (m[1].length !== 2 * H || fromHex(m[1], scratch) === undefined) continue;
          const pos = table.find(scratch, 0);
          if (pos >= 0) {
            tip(pos);
            continue;
          }
          if (seen.has(m[1])) continue;
          seen.add(m[1]);
          const p = store.readObject(scratch);
          if (p?.type === 'commit') todo.push(p.data);
        }
      }
    };
    for (const r of refs.all()) {
      let oid = r.oid;
      for (let depth = 0; depth < 32; depth++) {
        const pos = table.find(oid, 0);
        const t = pos >= 0 ? types[pos] : 0;
        if (t === 1) {
          if (isTip[pos] === 0) tips.push(pos);
          isTip[pos] = 1;
          break;
        }
        if (t !== 0 && t !== 4) break;
        // A tag (in the MIDX or not): its target.
        const o = store.readObject(oid);
        if (o?.type === 'commit') {
          // A commit outside the MIDX (loose, or in a pack it does not cover): the MIDX commits
          // it stands on are tips, as Git's selection takes them.
          tipsBelow(o.data, outside, (p) => {
            if (types[p] === 1 && isTip[p] === 0) {
              tips.push(p);
              isTip[p] = 1;
            }
          });
          break;
        }
        if (o === undefined || o.type !== 'tag') break;
        const m = /^object ([0-9a-f]+)$/m.exec(decoder.decode(o.data));
        if (m === null || m[1].length !== 2 * H || fromHex(m[1], scratch) === undefined) break;
        oid = scratch.slice();
      }
    }

    // Every commit reachable from the tips, parents before children (post-order).
    const { commitTree, parentStart, parentList } = graph;
    const post: number[] = [];
    const state = new Uint8Array(N); // 1: on the stack, 2: done
    const stack: number[] = [];
    const nextParent: number[] = [];
    for (const tip of tips) {
      if (state[tip] !== 0) continue;
      state[tip] = 1;
      stack.push(tip);
      nextParent.push(parentStart[tip]);
      while (stack.length > 0) {
        const top = stack.length - 1;
        const c = stack[top];
        const tree = commitTree[c];
        if (tree < 0) closure(c, tree < -1 ? graph.missing : undefined, (-tree - 2) * H);
        const j = nextParent[top];
        if (j < parentStart[c + 1]) {
          nextParent[top] = j + 1;
          const p = parentList[j];
          if (p < 0) closure(p, graph.missing, (-p - 1) * H);
          if (state[p] === 0) {
            if (types[p] !== 1) closure(p);
            state[p] = 1;
            stack.push(p);
            nextParent.push(parentStart[p]);
          }
        } else {
          state[c] = 2;
          post.push(c);
          stack.pop();
          nextParent.pop();
        }
      }
    }
    // Only the new file's commits get bitmaps (those below have theirs in their layers).
    const selected = post.filter(
      (c, i) => c >= B && (isTip[c] === 1 || i % SELECT_EVERY === SELECT_EVERY - 1),
    );
    const selectedBits = new Map<number, Bitset>();

    // Each selected commit's bitmap: what selected commits below it reach, then a walk of the rest
    // (a tree already in the bitmap has everything below it there too).
    const { childStart, childList } = graph;
    const work: number[] = [];
    const trees: number[] = [];
    for (const c of selected) {
      const bits = new Bitset(N);
      work.push(c);
      while (work.length > 0) {
        const x = work.pop()!;
        const at = pseudoOf[x];
        if (bits.has(at)) continue;
        const below = x !== c ? selectedBits.get(x) : undefined;
        if (below !== undefined) {
          bits.or(below);
          continue;
        }
        bits.set(at);
        trees.push(commitTree[x]);
        // First parent on top: the walk goes down the main line first, where the nearest selected
        // commit below covers most of what the side branches reach (fewer, later ORs).
        for (let j = parentStart[x + 1] - 1; j >= parentStart[x]; j--) work.push(parentList[j]);
      }
      while (trees.length > 0) {
        const t = trees.pop()!;
        const at = pseudoOf[t];
        if (bits.has(at)) continue;
        bits.set(at);
        const first = childStart[t];
        if (first < 0) closure(t, first < -1 ? graph.missing : undefined, (-first - 2) * H);
        for (let j = childStart[t], z = childStart[t] + graph.childCount[t]; j < z; j++) {
          const ch = childList[j];
          if (ch >= 0) {
            if (!bits.has(pseudoOf[ch])) trees.push(ch);
          } else bits.set(pseudoOf[-ch - 1]);
        }
      }
      selectedBits.set(c, bits);
    }

    // The file: header, type bitmaps, entries, trailer.
    const parts: Uint8Array[] = [];
    const head = new Uint8Array(12 + H);
    head.set([0x42, 0x49, 0x54, 0x4d], 0); // BITM
    const dv = new DataView(head.buffer);
    dv.setUint16(4, 1); // version
    dv.setUint16(6, 1); // BITMAP_OPT_FULL_DAG
    dv.setUint32(8, selected.length);
    head.set(checksum, 12);
    parts.push(head);
    for (const b of typeBits) parts.push(encodeEwah(b));
    for (const c of selected) {
      const e = new Uint8Array(6);
      new DataView(e.buffer).setUint32(0, c);
      parts.push(e, encodeEwah(selectedBits.get(c)!));
    }
    const hasher = nodeHash(hash);
    for (const p of parts) hasher.update(p);
    parts.push(hasher.digest());

    const lock = LockFile.acquire(target, { packDir: path.dirname(target) });
    try {
      for (const p of parts) lock.write(p);
      lock.commit();
    } catch (e) {
      lock.rollback();
      throw e;
    }
    fs.chmodSync(target, 0o444);
    return { path: target, commits: selected.length };
  } finally {
    store.close();
  }
}

/**
 * The commit and tree graph of the MIDX, by MIDX position, from one pass over its objects (pack
 * by pack, in offset order) that reads the type of each and every commit and tree whole: a commit's tree and parents, a tree's entries (trees as their
 * position, other objects as -(position + 1); gitlinks, commits of other repositories, left out).
 * An id the MIDX does not list is kept in `missing` and referred to by a negative number, so that
 * a walk that reaches it fails, naming it.
 */
interface Graph {
  /** Type numbers (1 commit, 2 tree, 3 blob, 4 tag; 0 unknown), by MIDX position. */
  types: Uint8Array;
  /**
   * The tree of each commit; -1 for other objects and unread commits, -(i + 2) when the tree is
   * the i-th id of `missing`.
   */
  commitTree: Int32Array;
  /** Parents of commit i: `parentList[parentStart[i] .. parentStart[i + 1])`. */
  parentStart: Int32Array;
  parentList: Int32Array;
  /**
   * Entries of tree i: `childList[childStart[i] .. + childCount[i])`; childStart is -1 when the
   * tree was not read, -(i + 2) when an entry is the i-th id of `missing`.
   */
  childStart: Int32Array;
  childCount: Int32Array;
  childList: Int32Array;
  missing: Uint8Array;
}

function readGraph(store: ObjectStore, oidl: Uint8Array, N: number, H: number, table: OidTable): Graph {
  const commitTree = new Int32Array(N).fill(-1);
  const parentCount = new Int32Array(N);
  const firstParent = new Int32Array(N);
  const parents = new Growable();
  const childStart = new Int32Array(N).fill(-1);
  const childCount = new Int32Array(N);
  const children = new Growable();
  const missing = new Growable();
  const scratch = new Uint8Array(H);
  const missingRef = (from: Uint8Array): number => {
    for (let j = 0; j < H; j++) missing.push(from[j]);
    return -(missing.length / H);
  };
  const wanted = (_: number, t: number) => t === 1 || t === 2;
  const recent = new RecentTrees();
  const starts = new Growable();
  const codes = new Growable();
  const types = store.scanPacked(oidl, N, wanted, (pos, o, pack, offset) => {
    const d = o.data;
    if (o.type === 'commit') {
      // `tree <hex>\n`, then `parent <hex>\n` lines (spec/objects-format.md: commits).
      const line = 2 * H + 1;
      if (!startsWith(d, 0, TREE) || !parseHex(d, 5, scratch) || d[5 + 2 * H] !== 10) return;
      const tree = table.find(scratch, 0);
      let i = 5 + line;
      firstParent[pos] = parents.length;
      while (startsWith(d, i, PARENT) && i + 7 + line <= d.length && parseHex(d, i + 7, scratch)) {
        const p = table.find(scratch, 0);
        parents.push(p >= 0 ? p : missingRef(scratch));
        parentCount[pos]++;
        i += 7 + line;
      }
      commitTree[pos] = tree >= 0 ? tree : missingRef(scratch) - 1;
      return;
    }
    if (o.type !== 'tree') return;
    const from = children.length;
    const len = d.length;
    // A tree stored as a delta against a tree parsed shortly before: the entries the delta copies
    // whole from it are the same entries, known without a scan or a lookup.
    const base =
      pack !== undefined && pack.viewDelta !== undefined ? recent.get(pack, pack.viewBase) : undefined;
    const ops = base !== undefined ? copyOps(pack!.viewDelta!) : 0;
    starts.length = 0;
    codes.length = 0;
    let op = 0;
    let i = 0;
    while (i < len) {
      if (base !== undefined) {
        while (op < ops && opDst[op] + opLen[op] <= i) op++;
        if (op < ops && opSrc[op] >= 0) {
          // The base's entries that this copy holds whole, from the one starting here on.
          const shift = opDst[op] - opSrc[op];
          const end = opSrc[op] + opLen[op];
          const bs = base.starts;
          const bc = base.codes;
          const k = base.entryAt(i - shift);
          if (k >= 0 && bs[k + 1] <= end) {
            let q = k;
            for (; q < bc.length && bs[q + 1] <= end; q++) {
              const code = bc[q];
              starts.push(bs[q] + shift);
              codes.push(code);
              if (code !== GITLINK) children.push(code);
            }
            i = bs[q] + shift;
            continue;
          }
        }
      }
      // `<mode> <name>\0<id>`: the mode is octal digits, the name any bytes but NUL.
      const start = i;
      while (i < len && d[i] !== 0x20) i++;
      const modeLen = i - start;
      while (i < len && d[i] !== 0) i++;
      const at = i + 1;
      i = at + H;
      if (i > len) {
        children.length = from;
        return;
      }
      starts.push(start);
      // `160000`, a gitlink (a commit of another repository), is not followed.
      if (modeLen === 6 && d[start] === 0x31 && d[start + 1] === 0x36) {
        codes.push(GITLINK);
        continue;
      }
      const child = table.find(d, at);
      if (child < 0) {
        // Walking this tree must fail on that entry: no entry list, and the id kept for the message.
        children.length = from;
        childStart[pos] = missingRef(d.subarray(at, at + H)) - 1;
        return;
      }
      // `40000`: a tree.
      const code = modeLen === 5 && d[start] === 0x34 ? child : -child - 1;
      codes.push(code);
      children.push(code);
    }
    if (pack !== undefined && offset !== undefined) recent.put(pack, offset, starts, codes, len);
    childStart[pos] = from;
    childCount[pos] = children.length - from;
  });
  // Parents as one list in position order (a commit's parents stay in their order).
  const parentStart = new Int32Array(N + 1);
  for (let i = 0; i < N; i++) parentStart[i + 1] = parentStart[i] + parentCount[i];
  const parentList = new Int32Array(parentStart[N]);
  const all = parents.view();
  for (let i = 0; i < N; i++) {
    const n = parentCount[i];
    if (n > 0) parentList.set(all.subarray(firstParent[i], firstParent[i] + n), parentStart[i]);
  }
  const m = missing.view();
  const missingBytes = new Uint8Array(m.length);
  for (let j = 0; j < m.length; j++) missingBytes[j] = m[j];
  return {
    types,
    commitTree,
    parentStart,
    parentList,
    childStart,
    childCount,
    childList: children.view(),
    missing: missingBytes,
  };
}

/** Where a commit's or tag's header ends (its first empty line), or its length. */
function headerEnd(d: Uint8Array): number {
  for (let i = 0; i + 1 < d.length; i++) if (d[i] === 10 && d[i + 1] === 10) return i;
  return d.length;
}

const TREE = new TextEncoder().encode('tree ');
const PARENT = new TextEncoder().encode('parent ');

function startsWith(d: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > d.length) return false;
  for (let j = 0; j < prefix.length; j++) if (d[at + j] !== prefix[j]) return false;
  return true;
}

/** The id in hex at `d[at..]` into `out` (as Git reads ids in headers: either case); false when not hex. */
function parseHex(d: Uint8Array, at: number, out: Uint8Array): boolean {
  return at + 2 * out.length <= d.length && hexBytesInto(d, at, out, 0, out.length) >= 0;
}

/**
 * The MIDX's ids in a hash table (open addressing over their bytes 4 to 7, which are as random as
 * the hash), each slot holding the whole id and its position: one memory access per probe, where
 * `findPosition` searches, for the millions of tree entries a graph read looks up.
 */
class OidTable {
  /** Slots of `stride` bytes: the id (H bytes), then its position + 1 (BE32; 0 for empty). */
  private readonly slots: Uint8Array;
  private readonly stride: number;
  private readonly mask: number;

  constructor(
    oidl: Uint8Array,
    n: number,
    private readonly H: number,
  ) {
    let size = 1024;
    while (size < 2 * n) size *= 2;
    this.mask = size - 1;
    this.stride = H + 4;
    this.slots = new Uint8Array(size * this.stride);
    const { slots, stride } = this;
    for (let i = 0; i < n; i++) {
      let h = key(oidl, i * H) & this.mask;
      while (readU32(slots, h * stride + H) !== 0) h = (h + 1) & this.mask;
      slots.set(oidl.subarray(i * H, i * H + H), h * stride);
      const p = i + 1;
      const at = h * stride + H;
      slots[at] = p >>> 24;
      slots[at + 1] = (p >>> 16) & 0xff;
      slots[at + 2] = (p >>> 8) & 0xff;
      slots[at + 3] = p & 0xff;
    }
  }

  /** The position of the id at `d[at..]`, or -1. */
  find(d: Uint8Array, at: number): number {
    const { slots, H, stride, mask } = this;
    for (let h = key(d, at) & mask; ; h = (h + 1) & mask) {
      const base = h * stride;
      let j = 0;
      while (j < H && slots[base + j] === d[at + j]) j++;
      const p =
        ((slots[base + H] << 24) |
          (slots[base + H + 1] << 16) |
          (slots[base + H + 2] << 8) |
          slots[base + H + 3]) >>>
        0;
      if (j === H && p !== 0) return p - 1;
      if (p === 0) return -1;
    }
  }
}

function key(b: Uint8Array, at: number): number {
  return (b[at + 4] << 24) | (b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7];
}

/** The code of a gitlink entry in a parsed tree: not a child (never a position's code). */
const GITLINK = 0x7fffffff;
/** Parsed trees kept for the deltas that follow them (a base lies a few trees back, mostly). */
const RECENT_TREES = 4096;

/** A tree's entries as parsed: where each starts in its bytes, and its code. */
class ParsedTree {
  constructor(
    /** Entry starts, then the tree's length. */
    readonly starts: Int32Array,
    /** Each entry's code: a tree's position, -(position + 1) for another object, or GITLINK. */
    readonly codes: Int32Array,
  ) {}

  /** The index of the entry that starts at byte `at`, or -1. */
  entryAt(at: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] < at) lo = mid + 1;
      else hi = mid;
    }
    return lo < s.length - 1 && s[lo] === at ? lo : -1;
  }
}

/** The last RECENT_TREES trees parsed, by pack and offset. */
class RecentTrees {
  private readonly packIds = new Map<object, number>();
  /** By pack id × 2^40 + offset; a Map keeps insertion order, so the first key is the oldest. */
  private readonly trees = new Map<number, ParsedTree>();

  private key(pack: object, offset: number): number {
    let id = this.packIds.get(pack);
    if (id === undefined) {
      id = this.packIds.size;
      this.packIds.set(pack, id);
    }
    // Offsets past 2^40 or ids past 2^13 are not kept (the key must stay an exact integer).
    return offset < 0 || offset >= 2 ** 40 || id >= 2 ** 13 ? -1 : id * 2 ** 40 + offset;
  }

  get(pack: object, offset: number): ParsedTree | undefined {
    const k = this.key(pack, offset);
    return k < 0 ? undefined : this.trees.get(k);
  }

  put(pack: object, offset: number, starts: Growable, codes: Growable, length: number): void {
    const k = this.key(pack, offset);
    if (k < 0) return;
    const n = starts.length;
    const s = new Int32Array(n + 1);
    s.set(starts.view());
    s[n] = length;
    this.trees.set(k, new ParsedTree(s, codes.view().slice()));
    if (this.trees.size > RECENT_TREES) this.trees.delete(this.trees.keys().next().value as number);
  }
}

/**
 * The instructions of a delta (docs/formats.md, "Delta data") as parallel arrays: where each
 * writes in the result (`opDst`), how many bytes (`opLen`), and where it copies from in the base
 * (`opSrc`; -1 for an insert). Returns their count; 0 for a delta that does not parse (then
 * nothing is reused).
 */
function copyOps(delta: Uint8Array): number {
  let p = 0;
  const len = delta.length;
  // The two sizes of the header.
  for (let k = 0; k < 2; k++) {
    while (p < len && delta[p] & 0x80) p++;
    p++;
  }
  let n = 0;
  let w = 0;
  while (p < len) {
    const cmd = delta[p++];
    if (n === opDst.length) growOps();
    if (cmd & 0x80) {
      let off = 0;
      let size = 0;
      if (cmd & 0x01) off = delta[p++];
      if (cmd & 0x02) off += delta[p++] * 0x100;
      if (cmd & 0x04) off += delta[p++] * 0x10000;
      if (cmd & 0x08) off += delta[p++] * 0x1000000;
      if (cmd & 0x10) size = delta[p++];
      if (cmd & 0x20) size += delta[p++] * 0x100;
      if (cmd & 0x40) size += delta[p++] * 0x10000;
      if (size === 0) size = 0x10000;
      if (p > len || off > 0x7fffffff || w + size > 0x7fffffff) return 0;
      opDst[n] = w;
      opLen[n] = size;
      opSrc[n] = off;
      w += size;
    } else if (cmd !== 0) {
      if (w + cmd > 0x7fffffff) return 0;
      opDst[n] = w;
      opLen[n] = cmd;
      opSrc[n] = -1;
      p += cmd;
      w += cmd;
    } else return 0;
    n++;
  }
  return n;
}

let opDst = new Int32Array(256);
let opLen = new Int32Array(256);
let opSrc = new Int32Array(256);
function growOps(): void {
  const grow = (a: Int32Array) => {
    const b = new Int32Array(a.length * 2);
    b.set(a);
    return b;
  };
  opDst = grow(opDst);
  opLen = grow(opLen);
  opSrc = grow(opSrc);
}

/** A growing list of 32-bit integers. */
class Growable {
  private buf = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Int32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  view(): Int32Array {
    return this.buf.subarray(0, this.length);
  }
}
