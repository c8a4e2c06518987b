/**
 * `expire` (spec/midx-format.md §12): drop the packs that no MIDX object points to — except kept
 * (`.keep`) and cruft (`.mtimes`) packs and packs that cannot be loaded — and rewrite the MIDX
 * without them, picking up new packs as `write` does.
 *
 * Order, unlike Git's: Git deletes the packs and then rewrites the MIDX, so a crash in between
 * leaves a MIDX naming missing packs. We rewrite the MIDX first (the packs still exist), then delete
 * their files: a crash at any point leaves a valid repository, at worst with unreferenced packs that
 * a later `write` indexes again. The resulting files are the same as Git's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toHex } from '../bytes.js';
import { isGitMidxError } from '../errors.js';
import { type HashAlgorithm, SHA1 } from '../hash.js';
import type { RandomAccessReader } from '../io.js';
import type { MultiPackIndex } from '../midx/reader.js';
import { PackIndex } from '../pack/idx.js';
import type { DiagnosticCallback, ProgressCallback } from '../progress.js';
import { openFileReader } from './fs.js';
import { midxPath, openMidxFile, type WriteMidxResult, writeMidxFile } from './midx.js';
import { packDirPath, removeInPackDir } from './packdir.js';

/** Companion files removed with a pack, `.idx` first so the pack stops being visible at once. */
export const PACK_EXTENSIONS = ['.idx', '.pack', '.rev', '.keep', '.bitmap', '.promisor', '.mtimes'] as const;

export interface ExpireOptions {
  objectDir: string;
  hash?: HashAlgorithm;
  onProgress?: ProgressCallback;
  onDiagnostic?: DiagnosticCallback;
  signal?: AbortSignal;
}

export interface ExpirePlan {
  /** False when there is no MIDX. */
  readonly hasMidx: boolean;
  /** Packs that would be dropped, with the files that would go and the bytes they free. */
  readonly drop: readonly {
    readonly name: string;
    readonly files: readonly string[];
    readonly bytes: number;
  }[];
  /** Unreferenced packs kept, and why. */
  readonly kept: readonly { readonly name: string; readonly reason: 'keep' | 'cruft' | 'unloadable' }[];
}

export interface ExpireResult extends ExpirePlan {
  readonly write?: WriteMidxResult;
  readonly deleted: readonly string[];
  /**
   * Packs of `drop` whose files were kept after all: the new MIDX does not answer every one of
   * their objects from another pack (the old MIDX lied about them), with the reason.
   */
  readonly spared: readonly { readonly name: string; readonly reason: string }[];
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function stem(idxName: string): string {
  return idxName.endsWith('.idx') ? idxName.slice(0, -4) : idxName;
}

/** What `expire` would do, touching nothing. */
export function planExpire(options: ExpireOptions): ExpirePlan {
  const hash = options.hash ?? SHA1;
  let m: MultiPackIndex;
  try {
    m = openMidxFile(midxPath(options.objectDir), { hash });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { hasMidx: false, drop: [], kept: [] };
    throw e;
  }
  try {
    return planWith(m, options);
  } finally {
    m.close();
  }
}

function planWith(m: MultiPackIndex, options: ExpireOptions): ExpirePlan {
  const packDir = path.join(options.objectDir, 'pack');
  const progress = options.onProgress;
  const counts = new Uint32Array(m.numPacks);
  const title1 = 'Counting referenced objects';
  for (let i = 0; i < m.numObjects; i++) {
    counts[m.packIdAt(i)]++;
    if ((i & 0xfff) === 0) progress?.({ title: title1, done: i, total: m.numObjects });
  }
  progress?.({ title: title1, done: m.numObjects, total: m.numObjects, end: true });
  const title2 = 'Finding and deleting unreferenced packfiles';
  const drop: { name: string; files: string[]; bytes: number }[] = [];
  const kept: { name: string; reason: 'keep' | 'cruft' | 'unloadable' }[] = [];
  for (let i = 0; i < m.numPacks; i++) {
    progress?.({ title: title2, done: i, total: m.numPacks });
    if (counts[i] > 0) continue;
    const name = m.packNames[i];
    // Each companion joined as a whole name: `..idx` has the stem `.`.
    const companion = (ext: string) => packDirPath(packDir, `${stem(name)}${ext}`);
    if (!isFile(companion('.pack'))) kept.push({ name, reason: 'unloadable' });
    else if (fs.existsSync(companion('.keep'))) kept.push({ name, reason: 'keep' });
    else if (fs.existsSync(companion('.mtimes'))) kept.push({ name, reason: 'cruft' });
    else {
      const files: string[] = [];
      let bytes = 0;
      for (const ext of PACK_EXTENSIONS) {
        try {
          const st = fs.statSync(companion(ext));
          files.push(`${stem(name)}${ext}`);
          bytes += st.size;
        } catch {
          // absent companion
        }
      }
      drop.push({ name, files, bytes });
    }
  }
  progress?.({ title: title2, done: m.numPacks, total: m.numPacks, end: true });
  return { hasMidx: true, drop, kept };
}

/** Runs `expire`. No MIDX, or nothing to drop: nothing is touched. */
export function expireMidx(options: ExpireOptions): ExpireResult {
  const plan = planExpire(options);
  if (!plan.hasMidx || plan.drop.length === 0) return { ...plan, deleted: [], spared: [] };
  const hash = options.hash ?? SHA1;
  const diag = options.onDiagnostic ?? (() => {});
  // 1. A MIDX without the dropped packs (their files are still there while it is written).
  const write = writeMidxFile({
    objectDir: options.objectDir,
    hash,
    dropPacks: plan.drop.map((d) => d.name),
    onProgress: options.onProgress,
    onDiagnostic: options.onDiagnostic,
    signal: options.signal,
  });
  // 2. Then their files, each pack only once the new MIDX is seen to answer every one of its
  //    objects from a pack that stays (a MIDX that lied about a pack must not cost its data); a
  //    `.keep` that appeared meanwhile saves the pack, as in Git.
  const packDir = path.join(options.objectDir, 'pack');
  const deleted: string[] = [];
  const spared: { name: string; reason: string }[] = [];
  const dropped = new Set(plan.drop.map((d) => d.name));
  let cover: Coverage | string;
  try {
    cover = openCoverage(options.objectDir, packDir, hash, dropped);
  } catch (e) {
    cover = `the new multi-pack-index cannot be read (${gitText(e)})`;
  }
  try {
    for (const d of plan.drop) {
      const s = stem(d.name);
      if (fs.existsSync(packDirPath(packDir, `${s}.keep`))) continue;
      const why = typeof cover === 'string' ? cover : uncovered(cover, packDir, d.name, hash);
      if (why !== undefined) {
        spared.push({ name: d.name, reason: why });
        diag({
          level: 'warning',
          message: `not expiring packfile '${packDirPath(packDir, `${s}.pack`)}': ${why}`,
        });
        continue;
      }
      for (const ext of PACK_EXTENSIONS) {
        try {
          if (removeInPackDir(packDir, `${s}${ext}`)) deleted.push(`${s}${ext}`);
        } catch (e) {
          diag({ level: 'warning', message: gitText(e) });
        }
      }
    }
  } finally {
    if (typeof cover !== 'string') cover.midx.close();
  }
  return { ...plan, write, deleted, spared };
}

function gitText(e: unknown): string {
  if (isGitMidxError(e)) return String(e.data.git ?? e.message);
  return e instanceof Error ? e.message : String(e);
}

/** The MIDX now on disk, and which of its packs stay: not dropped, `.idx` and `.pack` present. */
interface Coverage {
  readonly midx: MultiPackIndex;
  /** 1 for each pack-int-id that answers for an object of a dropped pack. */
  readonly good: Uint8Array;
}

function openCoverage(
  objectDir: string,
  packDir: string,
  hash: HashAlgorithm,
  dropped: Set<string>,
): Coverage {
  const midx = openMidxFile(midxPath(objectDir), { hash });
  const good = new Uint8Array(midx.numPacks);
  for (let j = 0; j < midx.numPacks; j++) {
    const name = midx.packNames[j];
    if (dropped.has(name)) continue;
    if (isFile(packDirPath(packDir, name)) && isFile(packDirPath(packDir, `${stem(name)}.pack`))) good[j] = 1;
  }
  return { midx, good };
}

/** Ids looked up per batch: bounds the memory of the check whatever the pack's size. */
const COVER_BATCH = 1 << 20;

/**
 * Why the objects of pack `name` are not all answered by a staying pack of the MIDX, or undefined
 * when they are. The pack's ids are read from its `.idx` a batch at a time and looked up together
 * (`lookupMany` merge-joins a dense batch with the MIDX's sorted ids): no allocation per object.
 */
function uncovered(cover: Coverage, packDir: string, name: string, hash: HashAlgorithm): string | undefined {
  const file = packDirPath(packDir, name);
  let reader: RandomAccessReader;
  let idx: PackIndex;
  try {
    reader = openFileReader(file);
    idx = PackIndex.open(reader, { hash, file });
  } catch (e) {
    return `its index cannot be read (${gitText(e)})`;
  }
  try {
    const H = hash.size;
    const n = idx.numObjects;
    const stride = idx.oidStride;
    const batch = Math.min(n, COVER_BATCH);
    const ids = new Uint8Array(batch * H);
    // Version 1 interleaves offsets with the ids: read the rows, then gather the ids.
    const rows = stride === H ? ids : new Uint8Array(batch * stride);
    const { midx, good } = cover;
    for (let first = 0; first < n; first += batch) {
      const c = Math.min(batch, n - first);
      reader.readInto(rows, 0, c * stride, idx.oidBase + first * stride);
      if (rows !== ids) {
        for (let k = 0; k < c; k++) {
          for (let b = 0; b < H; b++) ids[k * H + b] = rows[k * stride + b];
        }
      }
      const r = midx.lookupMany(ids, c);
      const positions = r.positions;
      const packIds = r.packIds;
      for (let k = 0; k < c; k++) {
        if (positions[k] >= 0 && good[packIds[k]] === 1) continue;
        const oid = toHex(ids.subarray(k * H, (k + 1) * H));
        return positions[k] < 0
          ? `object ${oid} is not in the multi-pack-index`
          : `object ${oid} is only in packfile ${midx.packNames[packIds[k]]}, which is going or missing`;
      }
    }
    return undefined;
  } catch (e) {
    return `its objects cannot be checked (${gitText(e)})`;
  } finally {
    idx.close();
  }
}
