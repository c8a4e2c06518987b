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
import { type HashAlgorithm, SHA1 } from '../hash.js';
import type { MultiPackIndex } from '../midx/reader.js';
import type { DiagnosticCallback, ProgressCallback } from '../progress.js';
import { midxPath, openMidxFile, type WriteMidxResult, writeMidxFile } from './midx.js';

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
    const base = path.join(packDir, stem(name));
    if (!isFile(`${base}.pack`)) kept.push({ name, reason: 'unloadable' });
    else if (fs.existsSync(`${base}.keep`)) kept.push({ name, reason: 'keep' });
    else if (fs.existsSync(`${base}.mtimes`)) kept.push({ name, reason: 'cruft' });
    else {
      const files: string[] = [];
      let bytes = 0;
      for (const ext of PACK_EXTENSIONS) {
        try {
          const st = fs.statSync(`${base}${ext}`);
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
  if (!plan.hasMidx || plan.drop.length === 0) return { ...plan, deleted: [] };
  // 1. A MIDX without the dropped packs (their files are still there while it is written).
  const write = writeMidxFile({
    objectDir: options.objectDir,
    hash: options.hash,
    dropPacks: plan.drop.map((d) => d.name),
    onProgress: options.onProgress,
    onDiagnostic: options.onDiagnostic,
    signal: options.signal,
  });
  // 2. Then their files; a `.keep` that appeared meanwhile saves the pack, as in Git.
  const packDir = path.join(options.objectDir, 'pack');
  const deleted: string[] = [];
  for (const d of plan.drop) {
    const base = path.join(packDir, stem(d.name));
    if (fs.existsSync(`${base}.keep`)) continue;
    for (const ext of PACK_EXTENSIONS) {
      try {
        fs.unlinkSync(`${base}${ext}`);
        deleted.push(`${stem(d.name)}${ext}`);
      } catch {
        // absent, or removed by someone else
      }
    }
  }
  return { ...plan, write, deleted };
}
