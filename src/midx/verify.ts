/**
 * `git multi-pack-index verify` (spec/midx-format.md §11), portable: the caller says which packs
 * exist and opens their indexes. Checks, in Git's order: the trailer checksum, that every pack can
 * be loaded, fanout order (Git 2.39 reports it here rather than at load), that there are objects,
 * OID order, then every object looked up again through the MIDX and its offset compared with the
 * pack's `.idx` — visiting objects grouped by pack (descending pack-int-id, ascending position), so
 * at most one `.idx` is open at a time.
 */
import { compareBytes, toHex } from '../bytes.js';
import { isGitMidxError } from '../errors.js';
import type { HashFunction } from '../hash.js';
import type { PackIndex } from '../pack/idx.js';
import type { ProgressCallback } from '../progress.js';
import type { MidxChain } from './chain.js';
import { CHUNK_OIDL, CHUNK_OOFF, fanoutOrderMessage } from './chunks.js';
import type { MultiPackIndex } from './reader.js';

/**
 * What opening a pack for the per-object step gave: its index (the pack passed Git's
 * `is_pack_valid()`), or the messages Git prints (as `error: …`) before giving up on it, or nothing.
 */
export type PackIndexLoad = PackIndex | { readonly errors: readonly string[] } | undefined;

export interface VerifyMidxOptions {
  hashFn: HashFunction;
  /** Whether pack `name` (its `.idx` basename, from PNAM) can be registered: its `.pack` exists. */
  packExists(name: string): boolean;
  /**
   * Opens the index of pack `name` and checks the pack against it (`is_pack_valid()`). Called at
   * most once per run of objects of the same pack; verify closes the index when done with it.
   */
  openPackIndex(name: string): PackIndexLoad;
  onProgress?: ProgressCallback;
  /** Called with each line of `findings` as soon as it is found (to interleave with progress). */
  onLine?: (line: string) => void;
}

export interface VerifyMidxResult {
  /**
   * Everything Git prints on stderr, in its order: findings without a prefix, and the `error: …`
   * lines Git prints while failing to open a pack. Does not include `fatal`.
   */
  readonly findings: string[];
  /** How many of `findings` are verify findings proper (any makes the exit status 1). */
  readonly problems: number;
  /** Set when Git would die (exit 128): the message, without `fatal: `. */
  readonly fatal?: string;
}

/** Progress events are sent every this many items (and at the end). */
const STEP = 1024;

export const VERIFY_TITLES = {
  packs: 'Looking for referenced packfiles',
  oidOrder: 'Verifying OID order in multi-pack-index',
  sort: 'Sorting objects by packfile',
  offsets: 'Verifying object offsets',
} as const;

/** What a verify prints, in order, counting the findings proper (each makes the exit status 1). */
class Findings {
  readonly lines: string[] = [];
  problems = 0;
  constructor(private readonly onLine: ((line: string) => void) | undefined) {}
  /** A line Git prints that is no finding (`error: …` while opening a pack). */
  print(line: string): void {
    this.lines.push(line);
    this.onLine?.(line);
  }
  report(line: string): void {
    this.print(line);
    this.problems++;
  }
  result(fatal?: string): VerifyMidxResult {
    const r = { findings: this.lines, problems: this.problems };
    return fatal === undefined ? r : { ...r, fatal };
  }
}

export function verifyMidx(midx: MultiPackIndex, opts: VerifyMidxOptions): VerifyMidxResult {
  const record = new Findings(opts.onLine);
  const print = (line: string) => record.print(line);
  const report = (line: string) => record.report(line);
  const progress = opts.onProgress;
  const meter = (title: string, total: number) => {
    return {
      tick(done: number) {
        if (progress && done % STEP === 0) progress({ title, done, total });
      },
      /** Git prints the final line only if the meter was ever shown. */
      end(done: number) {
        if (progress && done > 0) progress({ title, done, total, end: true });
      },
    };
  };
  try {
    // 1. The trailer.
    const sum = midx.computeChecksum(opts.hashFn);
    if (compareBytes(sum, 0, midx.checksum(), 0, sum.length) !== 0) report('incorrect checksum');

    // 2. Every pack loads (the `.pack` exists; the index is not opened here).
    const P = midx.numPacks;
    const loaded: boolean[] = [];
    const m1 = meter(VERIFY_TITLES.packs, P);
    for (let i = 0; i < P; i++) {
      const ok = opts.packExists(midx.packNames[i]);
      loaded.push(ok);
      if (!ok) report(`failed to load pack in position ${i}`);
      if (progress) progress({ title: VERIFY_TITLES.packs, done: i + 1, total: P });
    }
    m1.end(P);

    // 3. Fanout order (Git 2.39 checks it only here; every inversion is reported).
    const f = midx.fanout;
    for (let i = 0; i < 255; i++) if (f[i] > f[i + 1]) report(fanoutOrderMessage(f, i));

    // 4. No objects: reported, and nothing else to check.
    const N = midx.numObjects;
    if (N === 0) {
      report('the midx contains no oid');
      return record.result();
    }

    // 5. OID order (a forward walk, no copy per id). The same walk counts ids per first byte: with
    // the ids in order and the fanout matching those counts, the search Git repeats in step 7
    // finds each id at its own position, so that search is skipped.
    let disordered = false;
    const m2 = meter(VERIFY_TITLES.oidOrder, N - 1);
    const H = midx.hash.size;
    const firstBytes = new Uint32Array(256);
    /** Id `i` (at `buf[at]`): counted by first byte, and compared with the next one. */
    const visit = (i: number, buf: Uint8Array, at: number) => {
      firstBytes[buf[at]]++;
      if (i + 1 >= N) return;
      let c = 0;
      for (let k = 0; k < H; k++) {
        c = buf[at + k] - buf[at + H + k];
        if (c !== 0) break;
      }
      if (c >= 0) {
        disordered = true;
        report(
          `oid lookup out of order: oid[${i}] = ${toHex(buf, at, at + H)} >= ${toHex(buf, at + H, at + 2 * H)} = oid[${i + 1}]`,
        );
      }
      m2.tick(i + 1);
    };
    // The ids read once, whole (a view of a file held in memory), when they fit; else a forward walk.
    const oidl = N * H <= WHOLE_OIDL_MAX ? midx.readChunk(CHUNK_OIDL) : undefined;
    if (oidl !== undefined && oidl.length >= N * H) {
      for (let i = 0; i < N; i++) visit(i, oidl, i * H);
    } else {
      midx.scanOids(visit);
    }
    m2.end(N - 1);
    let fanoutMatches = true;
    for (let b = 0, sum = 0; b < 256; b++) {
      sum += firstBytes[b];
      if (f[b] !== sum) fanoutMatches = false;
    }

    // 6. Objects grouped by pack-int-id, descending; ascending positions within a pack. Ids that
    // name no pack sort first (they are the largest) and make the lookup below die.
    const m3 = meter(VERIFY_TITLES.sort, N);
    const ids = new Uint32Array(N);
    // The raw offset words, read in this forward pass (step 7 visits positions out of order).
    const words = new Uint32Array(N);
    const counts = new Uint32Array(P + 1);
    const bad: { pos: number; id: number }[] = [];
    // Each object's pack-int-id and offset word, straight from the chunk when it is whole.
    const ooff = N * 8 <= WHOLE_OIDL_MAX ? midx.readChunk(CHUNK_OOFF) : undefined;
    if (ooff !== undefined && ooff.length >= N * 8) {
      for (let i = 0, at = 0; i < N; i++, at += 8) {
        let id = ((ooff[at] << 24) | (ooff[at + 1] << 16) | (ooff[at + 2] << 8) | ooff[at + 3]) >>> 0;
        if (id >= P) {
          bad.push({ pos: i, id });
          id = P;
        }
        ids[i] = id;
        words[i] = ((ooff[at + 4] << 24) | (ooff[at + 5] << 16) | (ooff[at + 6] << 8) | ooff[at + 7]) >>> 0;
        counts[id]++;
        m3.tick(i + 1);
      }
    } else {
      for (let i = 0; i < N; i++) {
        let id: number;
        try {
          id = midx.packIdAt(i);
        } catch (e) {
          if (!isGitMidxError(e, 'MIDX_BAD_PACK_ID')) throw e;
          bad.push({ pos: i, id: Number(e.data.packId) });
          id = P;
        }
        ids[i] = id;
        words[i] = midx.offsetWordAt(i);
        counts[id]++;
        m3.tick(i + 1);
      }
    }
    // Start of each pack's run in `order`: pack P−1 first, the bad ids before all.
    const start = new Uint32Array(P + 1);
    let at = bad.length;
    for (let p = P - 1; p >= 0; p--) {
      start[p] = at;
      at += counts[p];
    }
    bad.sort((a, b) => b.id - a.id || a.pos - b.pos);
    const order = new Uint32Array(N);
    // Each object's pack id and offset word, in visiting order (step 7 then reads them forwards).
    const ordId = new Uint32Array(N);
    const ordWord = new Uint32Array(N);
    for (let j = 0; j < bad.length; j++) {
      order[j] = bad[j].pos;
      ordId[j] = P;
    }
    for (let i = 0; i < N; i++) {
      const id = ids[i];
      if (id < P) {
        const j = start[id]++;
        order[j] = i;
        ordId[j] = id;
        ordWord[j] = words[i];
      }
    }
    m3.end(N);

    // 7–9. Look every object up again, open its pack, compare the offsets.
    const find = disordered
      ? (oid: Uint8Array) => bisect(midx, oid)
      : (oid: Uint8Array) => midx.findPosition(oid);
    const direct = !disordered && fanoutMatches;
    const m4 = meter(VERIFY_TITLES.offsets, N);
    // In order, the ids come from the whole table read above (no view per object); else one by one.
    const oidWhole = direct && oidl !== undefined && oidl.length >= N * H;
    const entryFailed = (i: number, b: Uint8Array, at: number) =>
      report(`failed to load pack entry for oid[${i}] = ${toHex(b, at, at + H)}`);
    let lastId = -1;
    const run = new PackRun(opts.openPackIndex, print);
    try {
      for (let j = 0; j < N; j++) {
        const i = order[j];
        // Git closes a pack's files once its run of objects is over.
        const idHere = ordId[j];
        if (j > 0 && idHere !== lastId) run.release();
        lastId = idHere;
        const oid = oidWhole ? oidl : direct ? midx.oidViewAt(i) : midx.oidAt(i);
        const at = oidWhole ? i * H : 0;
        m4.tick(j + 1);
        const pos = direct ? i : find(oid);
        if (pos < 0) {
          entryFailed(i, oid, at);
          continue;
        }
        // Dies on an id that names no pack (read again then, for Git's message).
        const pid = direct && idHere < P ? idHere : midx.packIdAt(pos);
        if (!loaded[pid]) {
          entryFailed(i, oid, at);
          continue;
        }
        const cur = run.index(pid, midx.packNames[pid]);
        if (cur === undefined) {
          entryFailed(i, oid, at);
          continue;
        }
        const w = direct ? ordWord[j] : 0;
        const mOff = direct && (w & 0x80000000) === 0 ? w : midx.offsetAt(pos);
        const k = cur.findPosition(oid, at);
        const pOff = k < 0 ? 0 : cur.offsetAt(k);
        if (mOff !== pOff) {
          report(
            `incorrect object offset for oid[${i}] = ${toHex(oid, at, at + H)}: ${mOff.toString(16)} != ${pOff.toString(16)}`,
          );
        }
      }
    } finally {
      run.release();
    }
    m4.end(N);
    return record.result();
  } catch (e) {
    if (isGitMidxError(e)) return record.result(String(e.data.git ?? e.message));
    throw e;
  }
}

/** `verify` reads the id table whole up to this size. */
const WHOLE_OIDL_MAX = 256 * 1024 * 1024;

/**
 * The index of the pack whose run of objects the offset check is in: opened when the run starts,
 * closed when it ends, as Git does.
 */
class PackRun {
  private id = -1;
  private cur: PackIndexLoad;

  constructor(
    private readonly open: (name: string) => PackIndexLoad,
    private readonly print: (line: string) => void,
  ) {}

  /** The index of pack `id` (`name`), or undefined after printing why it cannot be read. */
  index(id: number, name: string): PackIndex | undefined {
    if (id !== this.id) {
      this.release();
      this.id = id;
      this.cur = this.open(name);
    }
    const cur = this.cur;
    if (cur === undefined || 'errors' in cur) {
      for (const e of cur?.errors ?? []) this.print(`error: ${e}`);
      return undefined;
    }
    return cur;
  }

  release(): void {
    const cur = this.cur;
    if (cur !== undefined && !('errors' in cur)) cur.close();
    this.cur = undefined;
    this.id = -1;
  }
}

/**
 * Plain bisection within the fanout bucket, probing exactly where Git's search probes: with ids out
 * of order, which ids are still found depends on the probe sequence.
 */
function bisect(midx: MultiPackIndex, oid: Uint8Array): number {
  const f = midx.fanout;
  const b = oid[0];
  let lo = b === 0 ? 0 : f[b - 1];
  let hi = Math.min(f[b], midx.numObjects);
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const c = compareBytes(midx.oidAt(mid), 0, oid, 0, oid.length);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/**
 * `verify` over an incremental chain, as current Git does it: the tip layer's trailing checksum,
 * then every layer's packs (global positions), each layer's id order, and every object's offset
 * against its pack's index, objects visited by global pack id, highest first. Messages name global
 * positions. (The loading warnings are the caller's: they come before any of these.)
 */
export function verifyChain(chain: MidxChain, opts: VerifyMidxOptions): VerifyMidxResult {
  const record = new Findings(opts.onLine);
  const print = (line: string) => record.print(line);
  const report = (line: string) => record.report(line);
  const progress = opts.onProgress;
  try {
    const tip = chain.tip.midx;
    const sum = tip.computeChecksum(opts.hashFn);
    if (compareBytes(sum, 0, tip.checksum(), 0, sum.length) !== 0) report('incorrect checksum');

    const P = chain.numPacks;
    const loaded: boolean[] = [];
    for (let i = 0; i < P; i++) {
      const ok = opts.packExists(chain.packNames[i]);
      loaded.push(ok);
      if (!ok) report(`failed to load pack in position ${i}`);
      if (progress) progress({ title: VERIFY_TITLES.packs, done: i + 1, total: P });
    }
    if (progress && P > 0) progress({ title: VERIFY_TITLES.packs, done: P, total: P, end: true });

    const N = chain.numObjects;
    if (N === 0) {
      report('the midx contains no oid');
      return record.result();
    }
    for (const l of chain.layers) {
      const m = l.midx;
      const H = m.hash.size;
      m.scanOids((i, buf, at) => {
        if (i + 1 >= m.numObjects) return;
        if (compareBytes(buf, at, buf, at + H, H) >= 0) {
          const g = i + l.objectsInBase;
          report(
            `oid lookup out of order: oid[${g}] = ${toHex(buf, at, at + H)} >= ${toHex(buf, at + H, at + 2 * H)} = oid[${g + 1}]`,
          );
        }
      });
    }

    // Objects by global pack id, highest first; positions ascending within a pack.
    const order: { pos: number; pack: number }[] = [];
    for (const l of chain.layers) {
      for (let i = 0; i < l.midx.numObjects; i++) {
        order.push({ pos: i + l.objectsInBase, pack: l.midx.packIdAt(i) + l.packsInBase });
      }
    }
    order.sort((a, b) => b.pack - a.pack || a.pos - b.pos);
    const run = new PackRun(opts.openPackIndex, print);
    try {
      for (let j = 0; j < order.length; j++) {
        const { pos: i } = order[j];
        const oid = chain.oidAt(i);
        const entryFailed = () => report(`failed to load pack entry for oid[${i}] = ${toHex(oid)}`);
        const hit = chain.lookup(oid);
        if (hit === undefined || !loaded[hit.packId]) {
          entryFailed();
          continue;
        }
        const cur = run.index(hit.packId, hit.packName);
        if (cur === undefined) {
          entryFailed();
          continue;
        }
        const pOff = cur.lookup(oid) ?? 0;
        if (hit.offset !== pOff) {
          report(
            `incorrect object offset for oid[${i}] = ${toHex(oid)}: ${hit.offset.toString(16)} != ${pOff.toString(16)}`,
          );
        }
        if (progress && (j + 1) % STEP === 0)
          progress({ title: VERIFY_TITLES.offsets, done: j + 1, total: N });
      }
    } finally {
      run.release();
    }
    if (progress) progress({ title: VERIFY_TITLES.offsets, done: N, total: N, end: true });
    return record.result();
  } catch (e) {
    if (isGitMidxError(e)) return record.result(String(e.data.git ?? e.message));
    throw e;
  }
}
