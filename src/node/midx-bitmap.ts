/**
 * The reachability bitmap of a MIDX, `multi-pack-index-<checksum>.bitmap` (docs/formats.md,
 * "Reachability bitmaps"): for a selection of commits, which objects each one reaches, as EWAH
 * bitmaps over pseudo-pack order (the MIDX's RIDX chunk); plus one bitmap per object type.
 *
 * The file is Git's, byte for byte, for the same packs and refs: the commits come from a walk of
 * every ref in Git's order (`CommitWalk`), Git's selection picks among them (`selectCommits`),
 * entries go oldest first (current Git) or in selection order (Git 2.39 to 2.54), each stored as
 * the XOR with one of the ten before it when that is shorter, encoded as Git's EWAH code encodes
 * (src/bitmap/ewah.ts). The name-hash cache is all zeros, as Git writes it for a MIDX.
 *
 * The commit and tree graph is read first, every commit and tree once, pack by pack in offset
 * order (`readGraph`); then each selected commit's bitmap is built from those of the selected
 * commits below it and a walk of that graph for what they do not cover.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bitset, Ewah } from '../bitmap/ewah.js';
import { BITMAP_FULL_DAG } from '../bitmap/reader.js';
import { fromHex, hexBytesInto, readU32, toHex } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { pseudoPackPositions } from '../midx/chain.js';
import { CHUNK_OIDL } from '../midx/chunks.js';
import type { MultiPackIndex } from '../midx/reader.js';
import { runSteps } from '../steps.js';
import { storeFiles } from '../storage/resident.js';
import { RefStore } from '../store/revision.js';
import { nodeHash } from './hash.js';
import { LockFile } from './lockfile.js';
import { MIDX_NAME } from './midx.js';
import { ObjectStore } from './odb.js';
import { nodeStorage } from './storage.js';

/** An entry may be stored as its XOR with one of this many entries before it. */
const MAX_XOR_OFFSET = 10;
const BITMAP_HASH_CACHE = 4;
const BITMAP_LOOKUP_TABLE = 16;
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
  /**
   * The file `midx` was read from when it is not yet `pack/multi-pack-index` (a flat file still
   * under its lock name): objects are then read through it by position.
   */
  midxFile?: string;
  /** `pack.preferBitmapTips`: refs starting with one of these get a bitmap whenever possible. */
  preferredTips?: readonly string[];
  /** `pack.writeBitmapHashCache` (default true): the name-hash cache, all zeros for a MIDX. */
  hashCache?: boolean;
  /** `pack.writeBitmapLookupTable` (default false): the table of entries by commit position. */
  lookupTable?: boolean;
  /**
   * The order of the entries: by committer date, oldest first, as current Git writes them
   * (default), or `'selection'`, newest first, as Git 2.39 to 2.54 did. The XOR choices follow.
   */
  entryOrder?: 'date' | 'selection';
  /**
   * `--refs-snapshot`: the tips to walk from instead of every ref, in this order; `preferred` as
   * a `+` line (it counts only for a line that names a commit itself, as in Git).
   */
  refsSnapshot?: readonly { oid: Uint8Array; preferred: boolean }[];
  /**
   * A `performance.now()` time past which the write gives up with a `BitmapDeadlineError`,
   * before anything of the bitmap is written: for a caller on a thread that must stay responsive
   * (the CLI's main thread, whose signal handlers run only between synchronous stretches; it then
   * does the write again on a worker thread). Checked every few hundred objects.
   */
  deadline?: number;
  /**
   * With the steps API (`writeMidxBitmapSteps`, which `writeMidxFileAsync` drives): the longest,
   * in milliseconds, that the write may run between two of its yields before it gives up with a
   * `BitmapDeadlineError` (nothing of the bitmap written). A caller that lets its event loop turn
   * at each yield thereby bounds how long its signal handlers wait, however long the whole write.
   */
  stretchMs?: number;
}

/** The settings of a bitmap write that come from configuration (`pack.*`) or from the caller. */
export type BitmapSettings = Pick<
  WriteBitmapOptions,
  'preferredTips' | 'hashCache' | 'lookupTable' | 'entryOrder' | 'refsSnapshot' | 'deadline' | 'stretchMs'
>;

/** Thrown when a bitmap write passes its `deadline` (nothing of the bitmap is written then). */
export class BitmapDeadlineError extends Error {
  constructor() {
    super('the bitmap write passed its deadline');
    this.name = 'BitmapDeadlineError';
  }
}

/**
 * The check of `deadline` and `stretchMs` (see WriteBitmapOptions) for the bitmap write's loops;
 * `restart()` starts a new stretch (after a yield).
 */
function deadlineCheck(deadline: number | undefined, stretchMs: number | undefined) {
  let stretchEnd = stretchMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + stretchMs;
  const end = () => Math.min(deadline ?? Number.POSITIVE_INFINITY, stretchEnd);
  let limit = end();
  return {
    late: (): void => {
      if (performance.now() > limit) throw new BitmapDeadlineError();
    },
    restart: (): void => {
      if (stretchMs !== undefined) stretchEnd = performance.now() + stretchMs;
      limit = end();
    },
  };
}

export interface WriteBitmapResult {
  path: string;
  /** Commits given a bitmap. */
  commits: number;
}

/** Writes the `.bitmap` of `midx` (see the module comment). */
export function writeMidxBitmap(options: WriteBitmapOptions): WriteBitmapResult {
  return runSteps(writeMidxBitmapSteps(options));
}

/**
 * `writeMidxBitmap` in steps: it yields between slices of the graph read and between its phases,
 * so that an async caller can let its event loop turn (see `stretchMs`).
 */
export function* writeMidxBitmapSteps(
  options: WriteBitmapOptions,
): Generator<undefined, WriteBitmapResult, undefined> {
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
  const { late, restart } = deadlineCheck(options.deadline, options.stretchMs);
  /** `steps` run through, each of its yields passed on and followed by a new stretch. */
  function* restarting<T>(steps: Generator<undefined, T, undefined>): Generator<undefined, T, undefined> {
    for (let r = steps.next(); ; r = steps.next()) {
      if (r.done) return r.value;
      yield;
      restart();
    }
  }
  /** A yield, then a new stretch. */
  function* pause(): Generator<undefined, void, undefined> {
    yield;
    restart();
  }
  const store = ObjectStore.open({
    objectDir: options.objectDir,
    hash,
    cacheBytes: GRAPH_CACHE_BYTES,
    midxFile: options.midxFile,
  });
  try {
    // Types of every object, by MIDX position, and the commit and tree graph.
    const table = new OidTable(oidl, N, H);
    // A flat file's ids are its own, in order: the store reads them by position, unlooked-up.
    const graph = yield* restarting(
      readGraph(store, oidl, N, H, table, late, B === 0 ? checksum : undefined),
    );
    const types = graph.types;
    const closure = (pos: number, oid?: Uint8Array, at = 0): never => {
      const hex = oid === undefined ? toHex(oidl, pos * H, pos * H + H) : toHex(oid, at, at + H);
      const git = `object ${hex} is not in the multi-pack-index: a bitmap needs full closure`;
      throw new GitMidxError('BITMAP_CLOSURE', git, { data: { git, oid: hex } });
    };
    // A commit whose parent is an object of another type (a damaged repository): Git's revision
    // walk says which object, then dies on the commit.
    // A parent that is missing altogether: Git says nothing of it before dying on the commit.
    const notACommit = (parent: string, child: string, missing = false): never => {
      const git = `Failed to traverse parents of commit ${child}`;
      if (missing) {
        throw new GitMidxError('OBJECT_MISSING', `object ${parent} is missing: ${git}`, {
          data: { git, oid: parent, commit: child },
        });
      }
      throw new GitMidxError('OBJECT_CORRUPT', `object ${parent} is not a commit: ${git}`, {
        data: { git, errors: [`Object ${parent} not a commit`], oid: parent, commit: child },
      });
    };

    // The commits Git chooses from: those of the new file that a walk from every ref under refs/
    // meets (tags peeled; other objects ignored), in the walk's order.
    const refs = new RefStore({
      gitDir: options.gitDir ?? path.dirname(path.resolve(options.objectDir)),
      files: storeFiles(nodeStorage()),
    });
    const walk = new CommitWalk(graph, table, store, oidl, N, H, notACommit);
    const preferred = options.preferredTips ?? [];
    if (options.refsSnapshot !== undefined) {
      for (const t of options.refsSnapshot) {
        const node = walk.peel(t.oid);
        if (node >= 0) walk.addTip(node, t.preferred && walk.peel(t.oid, false) === node);
      }
    } else {
      for (const r of refs.all()) {
        if (!r.name.startsWith('refs/')) continue;
        const node = walk.peel(r.oid);
        if (node >= 0)
          walk.addTip(
            node,
            preferred.some((p) => r.name.startsWith(p)),
          );
      }
    }
    const walked = walk.run();
    yield* pause();
    const dateOf = (c: number) => walk.date(c);
    const candidates = walked.filter((c) => c >= B && c < N).sort((x, y) => dateOf(y) - dateOf(x));
    const selected = selectCommits(
      candidates,
      (c) => walk.needsBitmap(c),
      (c) => graph.parentStart[c + 1] - graph.parentStart[c] > 1,
    );
    // Current Git writes them oldest first, and XORs each with the ten before it; Git 2.39 to 2.54
    // keep the selection's order, newest first (docs/formats.md, "Reachability bitmaps").
    if (options.entryOrder !== 'selection' && selected.length > 1)
      selected.sort((x, y) => dateOf(x) - dateOf(y));

    // Each selected commit's bitmap, computed parents first: what selected commits below it
    // reach, then a walk of the rest (a tree already in the bitmap has everything below it too).
    const { commitTree, parentStart, parentList, childStart, childList } = graph;
    const selectedBits = new Map<number, Bitset>();
    const work: number[] = [];
    const trees: number[] = [];
    let built = 0;
    for (const c of parentsFirst(graph, selected, types, closure, H)) {
      if (++built % PHASE_SLICE === 0) yield* pause();
      late();
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
          if (ch === GITLINK) continue;
          if (ch >= 0) {
            if (!bits.has(pseudoOf[ch])) trees.push(ch);
          } else bits.set(pseudoOf[-ch - 1]);
        }
      }
      selectedBits.set(c, bits);
    }

    yield* pause();
    // Type bitmaps: the new file's own objects, set in pseudo-pack order.
    const typeOf = new Uint8Array(N - B);
    for (let i = B; i < N; i++) typeOf[pseudoOf[i] - B] = types[i];
    const typeBits = [new Ewah(), new Ewah(), new Ewah(), new Ewah()];
    for (let p = 0; p < N - B; p++) {
      const t = typeOf[p];
      if (t >= 1 && t <= 4) typeBits[t - 1].set(p + B);
    }

    // Each entry as the XOR with one of the ten before it when that encodes shorter.
    const plain: Ewah[] = [];
    for (const c of selected) {
      if (plain.length % PHASE_SLICE === PHASE_SLICE - 1) yield* pause();
      plain.push(Ewah.fromBitset(selectedBits.get(c)!));
    }
    // (The trials count the XOR's words without keeping them; only the chosen one is built.)
    const entries: { xor: number; bytes: Uint8Array }[] = [];
    for (let k = 0; k < plain.length; k++) {
      if (k % PHASE_SLICE === PHASE_SLICE - 1) yield* pause();
      late();
      const e = plain[k];
      let bestSize = e.size;
      let xor = 0;
      for (let i = 1; i <= MAX_XOR_OFFSET && k - i >= 0; i++) {
        const size = Ewah.xorSize(plain[k - i], e);
        if (size < bestSize) {
          bestSize = size;
          xor = i;
        }
      }
      entries.push({ xor, bytes: (xor === 0 ? e : Ewah.xor(plain[k - xor], e)).serialize() });
    }

    yield* pause();
    // The file: header, type bitmaps, entries, the lookup table and the name-hash cache (zeros:
    // a MIDX write knows no paths), trailer.
    const hashCache = options.hashCache ?? true;
    const lookupTable = options.lookupTable ?? false;
    const parts: Uint8Array[] = [];
    const head = new Uint8Array(12 + H);
    head.set([0x42, 0x49, 0x54, 0x4d], 0); // BITM
    const dv = new DataView(head.buffer);
    dv.setUint16(4, 1); // version
    dv.setUint16(
      6,
      BITMAP_FULL_DAG | (hashCache ? BITMAP_HASH_CACHE : 0) | (lookupTable ? BITMAP_LOOKUP_TABLE : 0),
    );
    dv.setUint32(8, selected.length);
    head.set(checksum, 12);
    parts.push(head);
    let offset = head.length;
    for (const b of typeBits) {
      const bytes = b.serialize();
      parts.push(bytes);
      offset += bytes.length;
    }
    const entryAt: number[] = [];
    selected.forEach((c, k) => {
      const e = new Uint8Array(6);
      new DataView(e.buffer).setUint32(0, c);
      e[4] = entries[k].xor;
      entryAt.push(offset);
      parts.push(e, entries[k].bytes);
      offset += e.length + entries[k].bytes.length;
    });
    if (lookupTable) {
      // By commit position: position, the entry's offset in the file, the row of its XOR base.
      const rows = selected.map((_, k) => k).sort((x, y) => selected[x] - selected[y]);
      const rowOf = new Int32Array(selected.length);
      rows.forEach((k, row) => {
        rowOf[k] = row;
      });
      const table = new Uint8Array(16 * rows.length);
      const tv = new DataView(table.buffer);
      rows.forEach((k, row) => {
        tv.setUint32(row * 16, selected[k]);
        tv.setBigUint64(row * 16 + 4, BigInt(entryAt[k]));
        tv.setUint32(row * 16 + 12, entries[k].xor > 0 ? rowOf[k - entries[k].xor] : 0xffffffff);
      });
      parts.push(table);
    }
    if (hashCache) parts.push(new Uint8Array(4 * (N - B)));
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
 * Git's choice among the candidates (newest first): all of them when fewer than 100; otherwise the
 * first 100 or so one by one, then one in each stretch that widens with the distance from the
 * newest (up to 100 commits apart until the 20,000th, then up to 5,000). In a stretch, a commit a
 * preferred ref names wins, else the last merge, else the stretch's last commit.
 */
function selectCommits(
  commits: readonly number[],
  needsBitmap: (c: number) => boolean,
  isMerge: (c: number) => boolean,
): number[] {
  if (commits.length < 100) return commits.slice();
  const out: number[] = [];
  for (let i = 0; ; ) {
    const next =
      i <= 100 ? 0 : i <= 20000 ? Math.min(i - 100, 100) : Math.max(Math.min(i - 20000, 5000), 100);
    if (i + next >= commits.length) break;
    let chosen = commits[i + next];
    for (let j = 0; next > 0 && j <= next; j++) {
      const c = commits[i + j];
      if (needsBitmap(c)) {
        chosen = c;
        break;
      }
      if (isMerge(c)) chosen = c;
    }
    out.push(chosen);
    i += next + 1;
  }
  return out;
}

/**
 * The commits of `selected` in an order where each comes after every selected commit it reaches
 * (a depth-first walk of the MIDX graph, parents first); a commit, tree or parent the MIDX lacks
 * fails there.
 */
function parentsFirst(
  graph: Graph,
  selected: readonly number[],
  types: Uint8Array,
  closure: (pos: number, oid?: Uint8Array, at?: number) => never,
  H: number,
): number[] {
  const { commitTree, parentStart, parentList } = graph;
  const want = new Set(selected);
  const out: number[] = [];
  const state = new Uint8Array(types.length); // 1: on the stack, 2: done
  const stack: number[] = [];
  const nextParent: number[] = [];
  for (const tip of selected) {
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
        if (want.has(c)) out.push(c);
        stack.pop();
        nextParent.pop();
      }
    }
  }
  return out;
}

/**
 * A walk of the commits from the refs as Git's revision walk makes it: the newest committer date
 * first, commits of equal dates in the order they were met (refs in name order, then parents in
 * their order). Commits are MIDX positions; a commit outside the MIDX (loose, or in a pack it does
 * not cover) is walked through as `N + k`.
 */
class CommitWalk {
  private readonly seen: Uint8Array;
  private readonly preferred = new Set<number>();
  private readonly outsideIds = new Map<string, number>();
  private readonly outsideDates: number[] = [];
  private readonly outsideParents: Uint8Array[][] = [];
  private readonly outsideSeen: boolean[] = [];
  private readonly heap: number[] = [];
  private readonly heapSeq: number[] = [];
  private seq = 0;

  constructor(
    private readonly graph: Graph,
    private readonly table: OidTable,
    private readonly store: ObjectStore,
    private readonly oidl: Uint8Array,
    private readonly N: number,
    private readonly H: number,
    private readonly notACommit: (parent: string, child: string, missing?: boolean) => never,
  ) {
    this.seen = new Uint8Array(N);
  }

  /** The id of commit `c`, in hex. */
  private hexOf(c: number): string {
    if (c < this.N) return toHex(this.oidl, c * this.H, (c + 1) * this.H);
    for (const [hex, k] of this.outsideIds) if (k === c) return hex;
    return '';
  }

  date(c: number): number {
    return c < this.N ? this.graph.commitDate[c] : this.outsideDates[c - this.N];
  }

  needsBitmap(c: number): boolean {
    return this.preferred.has(c);
  }

  /**
   * The commit `oid` names, tags peeled (unless `tags` is false): its node, or -1 when it names no
   * commit.
   */
  peel(oid: Uint8Array, tags = true): number {
    let id = oid;
    for (let depth = 0; depth < (tags ? 32 : 1); depth++) {
      const pos = this.table.find(id, 0);
      const t = pos >= 0 ? this.graph.types[pos] : 0;
      if (t === 1) return pos;
      if (t !== 0 && t !== 4) return -1;
      const o = this.store.readObject(id);
      if (o === undefined) return -1;
      if (o.type === 'commit') return this.outside(id, o.data);
      if (o.type !== 'tag') return -1;
      const m = /^object ([0-9a-f]+)$/m.exec(decoder.decode(o.data.subarray(0, headerEnd(o.data))));
      const next = new Uint8Array(this.H);
      if (m === null || m[1].length !== 2 * this.H || fromHex(m[1], next) === undefined) return -1;
      id = next;
    }
    return -1;
  }

  addTip(c: number, preferred: boolean): void {
    if (preferred) this.preferred.add(c);
    if (!this.isSeen(c)) this.meet(c);
  }

  /** Every commit reached, in the walk's order. */
  run(): number[] {
    const order: number[] = [];
    while (this.heap.length > 0) {
      const c = this.pop();
      order.push(c);
      if (c < this.N) {
        const { parentStart, parentList, types } = this.graph;
        for (let j = parentStart[c]; j < parentStart[c + 1]; j++) {
          const p = parentList[j];
          if (p >= 0) {
            const t = types[p];
            if (t !== 1 && t !== 0) this.notACommit(this.hexOf(p), this.hexOf(c));
            if (t === 1 && this.seen[p] === 0) this.meet(p);
          } else {
            this.meetId(this.graph.missing.subarray((-p - 1) * this.H, -p * this.H), c);
          }
        }
      } else {
        for (const id of this.outsideParents[c - this.N]) this.meetId(id, c);
      }
    }
    return order;
  }

  /** Meets the parent `id` of commit `child`. */
  private meetId(id: Uint8Array, child: number): void {
    const pos = this.table.find(id, 0);
    if (pos >= 0) {
      const t = this.graph.types[pos];
      if (t !== 1 && t !== 0) this.notACommit(toHex(id), this.hexOf(child));
      if (t === 1 && this.seen[pos] === 0) this.meet(pos);
      return;
    }
    let c = this.outsideIds.get(toHex(id));
    if (c === undefined) {
      const o = this.store.readObject(id);
      if (o === undefined) this.notACommit(toHex(id), this.hexOf(child), true);
      if (o.type !== 'commit') this.notACommit(toHex(id), this.hexOf(child));
      c = this.outside(id, o.data);
    }
    if (!this.isSeen(c)) this.meet(c);
  }

  private outside(id: Uint8Array, data: Uint8Array): number {
    const hex = toHex(id);
    const known = this.outsideIds.get(hex);
    if (known !== undefined) return known;
    const c = this.N + this.outsideDates.length;
    this.outsideIds.set(hex, c);
    const H = this.H;
    const parents: Uint8Array[] = [];
    let i = 5 + 2 * H + 1;
    while (startsWith(data, i, PARENT) && i + 8 + 2 * H <= data.length) {
      const p = new Uint8Array(H);
      if (!parseHex(data, i + 7, p)) break;
      parents.push(p);
      i += 8 + 2 * H;
    }
    this.outsideParents.push(parents);
    this.outsideDates.push(commitDate(data, i));
    this.outsideSeen.push(false);
    return c;
  }

  private isSeen(c: number): boolean {
    return c < this.N ? this.seen[c] !== 0 : this.outsideSeen[c - this.N];
  }

  /** Marks `c` seen and queues it. */
  private meet(c: number): void {
    if (c < this.N) this.seen[c] = 1;
    else this.outsideSeen[c - this.N] = true;
    const h = this.heap;
    const s = this.heapSeq;
    let i = h.length;
    h.push(c);
    s.push(this.seq++);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.before(h[i], s[i], h[up], s[up])) break;
      [h[i], h[up]] = [h[up], h[i]];
      [s[i], s[up]] = [s[up], s[i]];
      i = up;
    }
  }

  private before(a: number, sa: number, b: number, sb: number): boolean {
    const da = this.date(a);
    const db = this.date(b);
    return da > db || (da === db && sa < sb);
  }

  private pop(): number {
    const h = this.heap;
    const s = this.heapSeq;
    const top = h[0];
    const lastC = h.pop()!;
    const lastS = s.pop()!;
    if (h.length > 0) {
      h[0] = lastC;
      s[0] = lastS;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], s[l], h[m], s[m])) m = l;
        if (r < h.length && this.before(h[r], s[r], h[m], s[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        [s[i], s[m]] = [s[m], s[i]];
        i = m;
      }
    }
    return top;
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
  /** Committer date of each commit (seconds; 0 when unreadable, as Git takes it). */
  commitDate: Float64Array;
  /** Parents of commit i: `parentList[parentStart[i] .. parentStart[i + 1])`. */
  parentStart: Int32Array;
  parentList: Int32Array;
  /**
   * Entries of tree i: `childList[childStart[i] .. + childCount[i])` (GITLINK for a gitlink, which
   * is not followed); childStart is -1 when the
   * tree was not read, -(i + 2) when an entry is the i-th id of `missing`.
   */
  childStart: Int32Array;
  childCount: Int32Array;
  childList: Int32Array;
  missing: Uint8Array;
}

function* readGraph(
  store: ObjectStore,
  oidl: Uint8Array,
  N: number,
  H: number,
  table: OidTable,
  late: () => void,
  midxChecksum?: Uint8Array,
): Generator<undefined, Graph, undefined> {
  const commitTree = new Int32Array(N).fill(-1);
  const commitDates = new Float64Array(N);
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
  // Where each entry of the tree being parsed starts in its bytes; kept with the tree, for the
  // deltas that follow, only while it is among the recent trees.
  const starts = new Growable();
  const recent = new RecentTrees();
  let read = 0;
  const scan = store.scanPackedSteps(
    oidl,
    N,
    wanted,
    (pos, o, pack, offset) => {
      if ((++read & 255) === 0) late();
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
        commitDates[pos] = commitDate(d, i);
        commitTree[pos] = tree >= 0 ? tree : missingRef(scratch) - 1;
        return;
      }
      if (o.type !== 'tree') return;
      const from = children.length;
      const len = d.length;
      starts.length = 0;
      // A tree stored as a delta against a tree parsed shortly before: the entries the delta copies
      // whole from it are the same entries, known without a scan or a lookup.
      const base =
        pack !== undefined && pack.viewDelta !== undefined ? recent.get(pack, pack.viewBase) : undefined;
      const basePos = base === undefined ? -1 : base.pos;
      const ops = basePos >= 0 ? copyOps(pack!.viewDelta!) : 0;
      const bFrom = basePos >= 0 ? childStart[basePos] : 0;
      const bCount = basePos >= 0 ? childCount[basePos] : 0;
      const bStarts = recent.ring;
      const bAt = base === undefined ? 0 : base.at;
      const bLen = base === undefined ? 0 : base.length;
      /** Where entry q of the base starts (its length for q = bCount: where the last one ends). */
      const baseStart = (q: number) => (q < bCount ? bStarts[bAt + q] : bLen);
      let op = 0;
      let i = 0;
      while (i < len) {
        if (ops > 0) {
          while (op < ops && opDst[op] + opLen[op] <= i) op++;
          if (op < ops && opSrc[op] >= 0) {
            // The base's entries that this copy holds whole, from the one starting here on.
            const shift = opDst[op] - opSrc[op];
            const end = opSrc[op] + opLen[op];
            const k = entryAt(bStarts, bAt, bCount, i - shift);
            if (k >= 0 && baseStart(k + 1) <= end) {
              let q = k;
              for (; q < bCount && baseStart(q + 1) <= end; q++) {
                starts.push(bStarts[bAt + q] + shift);
                children.push(children.at(bFrom + q));
              }
              i = baseStart(q) + shift;
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
          children.push(GITLINK);
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
        children.push(modeLen === 5 && d[start] === 0x34 ? child : -child - 1);
      }
      childStart[pos] = from;
      childCount[pos] = children.length - from;
      if (pack !== undefined && offset !== undefined) recent.put(pack, offset, pos, starts.view(), len);
    },
    midxChecksum,
    // About a 32nd of the objects per slice, at least GRAPH_SLICE.
    Math.max(GRAPH_SLICE, Math.ceil(N / 32)),
  );
  const types = yield* scan;
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
    commitDate: commitDates,
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
const AUTHOR = new TextEncoder().encode('author');
const COMMITTER = new TextEncoder().encode('committer');

/**
 * The committer date of a commit whose `author` line starts at `at` (right after the parents): the
 * number after the last `>` of the next line, which must be the `committer` line; 0 when any of
 * that is missing, as Git dates such a commit.
 */
function commitDate(d: Uint8Array, at: number): number {
  if (!startsWith(d, at, AUTHOR)) return 0;
  let i = d.indexOf(10, at);
  if (i < 0) return 0;
  i++;
  if (i + 9 >= d.length || !startsWith(d, i, COMMITTER)) return 0;
  const eol = d.indexOf(10, i);
  if (eol < 0) return 0;
  let k = eol;
  while (k > i && d[k - 1] !== 0x3e) k--;
  if (k === i) return 0;
  while (k < eol && (d[k] === 0x20 || d[k] === 0x09)) k++;
  let n = 0;
  let digits = 0;
  for (; k < eol && d[k] >= 0x30 && d[k] <= 0x39; k++, digits++) n = n * 10 + d[k] - 0x30;
  return digits === 0 || !Number.isSafeInteger(n) ? 0 : n;
}

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

/**
 * The object cache of the graph read's store: the read goes pack by pack in offset order, where a
 * delta's base lies shortly before it, so a small cache serves as well as the default 256 MiB
 * (git.git: the same time, 605 MB peak instead of 790 MB).
 */
const GRAPH_CACHE_BYTES = 32 * 1024 * 1024;
/** Objects read between two yields of the graph read, at least. */
const GRAPH_SLICE = 4096;
/** Commits given a bitmap, bitmaps encoded or entries XOR-ed between two yields of the later phases. */
const PHASE_SLICE = 32;

/** The code of a gitlink entry in a parsed tree: not a child (never a position's code). */
const GITLINK = 0x7fffffff;
/**
 * Trees kept findable by pack and offset, with their entries' starts, for the deltas that follow
 * them (a base lies a few trees back, mostly). Only these trees' starts are kept: a graph of
 * git.git's history holds tens of millions of entries.
 */
const RECENT_TREES = 1 << 14;
/**
 * Entry starts the recent trees keep, all in one ring (no array of its own per tree: on a small
 * history, allocating those cost more than what they save); a tree whose starts were written over
 * is no longer kept.
 */
const RECENT_STARTS = 1 << 20;

/**
 * The index among `count` starts from `starts[from]` of the entry that starts at byte `at`, or -1.
 */
function entryAt(starts: Int32Array, from: number, count: number, at: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[from + mid] < at) lo = mid + 1;
    else hi = mid;
  }
  return lo < count && starts[from + lo] === at ? lo : -1;
}

/** A tree parsed lately: its MIDX position, where its entries' starts lie in the ring, its length. */
interface RecentTree {
  pos: number;
  at: number;
  length: number;
}

/**
 * The trees parsed lately in the pack being read, by offset. A delta's base lies in its own pack,
 * and a scan reads one pack after another: the trees of the pack before are let go when the next
 * one begins. Kept in typed arrays by slot (no object per tree), keyed by offset (a small integer
 * key, unlike one that would also name the pack).
 */
class RecentTrees {
  private pack: object | undefined;
  /** Offset → slot. */
  private readonly slots = new Map<number, number>();
  private readonly slotPos = new Int32Array(RECENT_TREES);
  private readonly slotAt = new Int32Array(RECENT_TREES);
  private readonly slotLength = new Int32Array(RECENT_TREES);
  /** How many ring slots had been taken when a tree's starts were written. */
  private readonly slotStamp = new Float64Array(RECENT_TREES);
  /** What `get` returns (filled in anew by each call). */
  private readonly hit: RecentTree = { pos: 0, at: 0, length: 0 };

  /** Entry starts of the kept trees (`RecentTree.at`). */
  readonly ring = new Int32Array(RECENT_STARTS);
  /** Where the next starts go in the ring. */
  private head = 0;
  /** Slots taken so far, skipped ones included (a tree's starts never wrap around). */
  private written = 0;

  /** The tree parsed at `offset` of `pack`, if it is still kept (valid until the next call). */
  get(pack: object, offset: number): RecentTree | undefined {
    if (pack !== this.pack) return undefined;
    const slot = this.slots.get(offset);
    // Its starts written over since: no longer kept.
    if (slot === undefined || this.written - this.slotStamp[slot] > RECENT_STARTS) return undefined;
    const t = this.hit;
    t.pos = this.slotPos[slot];
    t.at = this.slotAt[slot];
    t.length = this.slotLength[slot];
    return t;
  }

  put(pack: object, offset: number, pos: number, starts: Int32Array, length: number): void {
    if (starts.length > RECENT_STARTS) return;
    // Bounded: past the bound, or in another pack, start again (only speed depends on what is kept).
    if (pack !== this.pack || this.slots.size >= RECENT_TREES) {
      this.slots.clear();
      this.pack = pack;
    }
    if (this.head + starts.length > RECENT_STARTS) {
      this.written += RECENT_STARTS - this.head;
      this.head = 0;
    }
    const slot = this.slots.get(offset) ?? this.slots.size;
    this.ring.set(starts, this.head);
    this.slotPos[slot] = pos;
    this.slotAt[slot] = this.head;
    this.slotStamp[slot] = this.written;
    this.slotLength[slot] = length;
    this.slots.set(offset, slot);
    this.head += starts.length;
    this.written += starts.length;
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
  at(i: number): number {
    return this.buf[i];
  }
  view(): Int32Array {
    return this.buf.subarray(0, this.length);
  }
}
