/**
 * The MIDX on disk: open `<objdir>/pack/multi-pack-index`, and `write` with Git's pack discovery,
 * no-op rule, preferred-pack handling and lock protocol (spec/midx-format.md §8).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isBitmapHeaderFor } from '../bitmap/reader.js';
import { toHex, utf8 } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { bufferReader } from '../io.js';
import { CHAIN_DIR, CHAIN_FILE, chainSourceIn, loadChain } from '../midx/chain.js';
import { idxName, isFatalMidxError, type MidxOpenOptions, MultiPackIndex } from '../midx/reader.js';
import { planMidx, type WriterPack, writeMidx } from '../midx/writer.js';
import { packNameProblem, quoteName } from '../names.js';
import { PackIndex } from '../pack/idx.js';
import type { DiagnosticCallback, ProgressCallback } from '../progress.js';
import { runSteps } from '../steps.js';
import { storeFiles } from '../storage/resident.js';
import { openFileReader, readdirRaw, readRegularFile } from './fs.js';
import { nodeHash } from './hash.js';
import { LockFile } from './lockfile.js';
import { type BitmapSettings, writeMidxBitmapSteps } from './midx-bitmap.js';
import { removeInPackDir } from './packdir.js';
import { repositoryForObjectDir } from './repo.js';
import { nodeStorage } from './storage.js';

export const MIDX_NAME = 'multi-pack-index';

export function midxPath(objectDir: string): string {
  return path.join(objectDir, 'pack', MIDX_NAME);
}

/**
 * Opens a MIDX file. Throws GitMidxError for a damaged file; ENOENT passes through as Node's error.
 * With `wholeFile`, the file is read into memory at once (for large batches of lookups, where every
 * page would be read anyway); otherwise pages are read on demand.
 */
export function openMidxFile(
  file: string,
  options: Omit<MidxOpenOptions, 'file'> & { wholeFile?: boolean } = {},
): MultiPackIndex {
  const { wholeFile, ...rest } = options;
  const reader = wholeFile ? bufferReader(readRegularFile(file)) : openFileReader(file);
  return MultiPackIndex.open(reader, { ...rest, file });
}

/** Opens `<objectDir>/pack/multi-pack-index`, or returns undefined when there is none. */
export function openMidx(
  objectDir: string,
  options: Omit<MidxOpenOptions, 'file'> = {},
): MultiPackIndex | undefined {
  const file = midxPath(objectDir);
  try {
    return openMidxFile(file, options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface WriteMidxOptions {
  /** The object directory (`.git/objects`). */
  objectDir: string;
  /**
   * The repository's hash algorithm. Default: the object format of the repository `objectDir`
   * belongs to (`extensions.objectFormat`), SHA-1 when there is none.
   */
  hash?: HashAlgorithm;
  /** `--preferred-pack`: a `.pack` or `.idx` basename. */
  preferredPack?: string;
  /** `--stdin-packs`: index only these `.idx` basenames; the existing MIDX is not reused. */
  stdinPacks?: readonly string[];
  /** `core.multiPackIndex`: when false the existing MIDX is not reused (default true). */
  useExistingMidx?: boolean;
  /** `.idx` names to leave out of the new file (for `expire`); disables the no-op short-cut. */
  dropPacks?: readonly string[];
  /** `midx.version`: the file version written (default 1). */
  version?: 1 | 2;
  /** `--bitmap`: write the reverse index (RIDX, BTMP) and a reachability bitmap. */
  bitmap?: boolean;
  /** Configuration of the bitmap (`pack.preferBitmapTips`, `pack.writeBitmapHashCache`, `pack.writeBitmapLookupTable`). */
  bitmapSettings?: BitmapSettings;
  onProgress?: ProgressCallback;
  onDiagnostic?: DiagnosticCallback;
  signal?: AbortSignal;
}

export interface WriteMidxResult {
  /** False when the existing MIDX was already up to date (no pack added). */
  readonly written: boolean;
  readonly path: string;
  readonly packs: number;
  readonly objects: number;
  /** Lowercase hex of the new file's trailer. */
  readonly checksum?: string;
}

/** @internal */
export interface Candidate {
  name: string;
  idxPath: string;
  mtime: number;
  idx?: PackIndex;
  fromMidx?: number;
  packSize?: number;
}

/** @internal */
export function mtimeSeconds(st: fs.BigIntStats): number {
  // Git compares `st_mtime`: whole seconds, floored (§16.2).
  const ns = st.mtimeNs;
  let s = ns / 1000000000n;
  if (ns < 0n && s * 1000000000n !== ns) s -= 1n;
  return Number(s);
}

/** @internal */
export function packPathOf(idxPath: string): string {
  return `${idxPath.slice(0, -4)}.pack`;
}

/** @internal */
export function loadIndex(idxPath: string, hash: HashAlgorithm): PackIndex {
  return PackIndex.fromBytes(readRegularFile(idxPath), { hash, file: idxPath });
}

/** @internal */
export function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new GitMidxError('ABORTED', 'multi-pack-index write aborted', { data: { reason: signal.reason } });
  }
}

/** Writes the MIDX synchronously (see `writeMidxFileAsync` for a write that signals can interrupt). */
export function writeMidxFile(options: WriteMidxOptions): WriteMidxResult {
  return runSteps(writeMidxSteps(options));
}

/**
 * The same write, giving the event loop a turn between its phases and once more just before the
 * new file is renamed into place, so that an abort (a signal handler calling `AbortController.abort`)
 * is seen in time: the lock is removed and the old MIDX stays.
 */
export async function writeMidxFileAsync(options: WriteMidxOptions): Promise<WriteMidxResult> {
  const steps = writeMidxSteps(options);
  let r = steps.next();
  while (!r.done) {
    await new Promise((resolve) => setImmediate(resolve));
    r = steps.next();
  }
  return r.value;
}

/**
 * The write as a sequence of phases; each `yield` is a point where an abort can be noticed (drive
 * it to the end, as `writeMidxFile` does). A `held` lock — `LockFile.acquire(midxPath(objectDir))`,
 * taken by a caller that must hold it before it writes anything else (`repack`) — is used instead
 * of taking one, and is released (committed or rolled back) whatever happens, as is every file
 * opened here.
 */
export function* writeMidxSteps(
  options: WriteMidxOptions,
  held?: LockFile,
): Generator<undefined, WriteMidxResult, undefined> {
  const packDir = path.join(options.objectDir, 'pack');
  const target = path.join(packDir, MIDX_NAME);
  const diag = options.onDiagnostic ?? (() => {});
  const progress = options.onProgress;
  const stdin = options.stdinPacks ? new Set(options.stdinPacks) : undefined;

  let existing: MultiPackIndex | undefined;
  /** Without a flat file: the layers of an incremental chain, base first (flattened by this write). */
  let chain: MultiPackIndex[] | undefined;
  const opened: PackIndex[] = [];
  try {
    if (held !== undefined && held.target !== path.resolve(target)) {
      throw new GitMidxError('INVALID_ARGUMENT', `lock on ${held.target} given to write ${target}`, {
        file: held.lockPath,
      });
    }
    const hash = options.hash ?? repositoryForObjectDir(options.objectDir).hash;
    // Step 1: the existing MIDX (§8.2).
    if (options.useExistingMidx !== false && !stdin) {
      try {
        existing = openMidxFile(target, { hash });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          if (!isGitMidxError(e) || isFatalMidxError(e.code)) throw e;
          diag({ level: 'error', message: String(e.data.git ?? e.message) });
        }
      }
      if (!existing) chain = loadChainLayers(packDir, hash, diag);
      if (existing) {
        const sum = existing.computeChecksum(nodeHash);
        if (toHex(sum) !== toHex(existing.checksum())) {
          diag({ level: 'warning', message: 'ignoring existing multi-pack-index; checksum mismatch' });
          existing.close();
          existing = undefined;
        }
      }
    }
    yield;
    checkAbort(options.signal);
    return yield* writeWith(
      options,
      hash,
      packDir,
      target,
      existing ?? chain,
      stdin,
      diag,
      progress,
      opened,
      held,
    );
  } finally {
    existing?.close();
    for (const m of chain ?? []) m.close();
    for (const idx of opened) idx.close();
    // Committed by writeWith when it wrote; otherwise (no-op, error, abort) it goes now.
    held?.rollback();
  }
}

function* writeWith(
  options: WriteMidxOptions,
  hash: HashAlgorithm,
  packDir: string,
  target: string,
  reused: MultiPackIndex | MultiPackIndex[] | undefined,
  stdin: Set<string> | undefined,
  diag: DiagnosticCallback,
  progress: ProgressCallback | undefined,
  opened: PackIndex[],
  held: LockFile | undefined,
): Generator<undefined, WriteMidxResult, undefined> {
  const _title = 'Adding packfiles to multi-pack-index';
  const layers = reused === undefined ? [] : Array.isArray(reused) ? reused : [reused];
  const existing = Array.isArray(reused) ? undefined : reused;
  const oldPacks: Candidate[] = layers
    .flatMap((m) => m.packNames)
    .map((name, i) => ({
      name,
      idxPath: path.join(packDir, name),
      mtime: 0,
      fromMidx: i,
    }));

  // Step 2: discover packs in raw readdir order (§8.3).
  const found = discoverPacks(
    packDir,
    hash,
    (name) => layers.some((m) => m.containsPack(name)) || (stdin !== undefined && !stdin.has(name)),
    diag,
    progress,
    opened,
  );

  yield;
  checkAbort(options.signal);

  if (options.bitmap === true) loadOldPacks(oldPacks, target);
  const drop = options.dropPacks;
  // Step 3: nothing to do when no pack was added (Git 2.39's rule, §8.4) — unless a bitmap is
  // asked for and the MIDX has none.
  const bitmapFile =
    existing === undefined
      ? undefined
      : path.join(packDir, `${MIDX_NAME}-${toHex(existing.checksum())}.bitmap`);
  const bitmapMissing = options.bitmap === true && bitmapFile !== undefined && !fs.existsSync(bitmapFile);
  if (existing && found.length === 0 && !stdin && !drop && !bitmapMissing) {
    // Git decides this by loading the MIDX's bitmap, which opens every pack of the MIDX: one it
    // cannot open ends the write there.
    if (options.bitmap !== true) requirePacksOfBitmap(existing, oldPacks, bitmapFile!);
    // Without --bitmap, the MIDX's bitmap goes (Git's cleanup); with it, the bitmap there stays.
    if (options.bitmap !== true) removeStaleCompanions(packDir, undefined, ['.bitmap']);
    return { written: false, path: target, packs: existing.numPacks, objects: existing.numObjects };
  }

  const packs = [...oldPacks, ...found];

  // Git 2.52+ loads every pack of the reused MIDX; 2.39 did not, and carried a deleted pack into
  // the new file, which `verify` then rejects. We refuse as current Git does. (With --bitmap, 2.39
  // loads them too, and before it decides that there is nothing to do.)
  if (options.bitmap !== true) loadOldPacks(oldPacks, target);

  // Step 4: the preferred pack (§8.5).
  let preferred = -1;
  if (options.preferredPack !== undefined) {
    const want = idxName(options.preferredPack);
    preferred = packs.findIndex((p) => idxName(p.name) === want);
    if (preferred < 0) {
      // Git 2.39 silently preferred pack 0 here; since 2.41 an unknown name means no preferred pack.
      diag({ level: 'warning', message: `unknown preferred pack: '${options.preferredPack}'` });
    } else {
      const p = packs[preferred];
      if (!p.idx) {
        // A pack of the reused MIDX: Git 2.39 crashed here; 2.46+ loads its index, as we do.
        try {
          p.idx = loadIndex(p.idxPath, hash);
          opened.push(p.idx);
        } catch (e) {
          const git = `could not open index for ${packPathOf(p.idxPath)}`;
          throw new GitMidxError('PACK_LOAD_FAILED', git, { file: p.idxPath, data: { git }, cause: e });
        }
      }
      if (p.idx.numObjects === 0) {
        const git = `cannot select preferred pack ${packPathOf(p.idxPath)} with no objects`;
        throw new GitMidxError('PREFERRED_PACK_EMPTY', git, { file: p.idxPath, data: { git } });
      }
    }
  }

  // With a bitmap and no preferred pack named: the oldest pack with objects (§8.5).
  const loadedIdx = (p: Candidate): PackIndex => {
    if (!p.idx) {
      p.idx = loadIndex(p.idxPath, hash);
      opened.push(p.idx);
    }
    return p.idx;
  };
  if (options.bitmap === true && options.preferredPack === undefined && packs.length > 0) {
    let c = 0;
    for (let i = 1; i < packs.length; i++) {
      if (loadedIdx(packs[c]).numObjects === 0 || packs[i].mtime < packs[c].mtime) c = i;
    }
    if (loadedIdx(packs[c]).numObjects > 0) preferred = c;
  }

  const dropSet = new Set<number>();
  if (drop) {
    for (const d of drop) {
      const i = packs.findIndex((p) => p.name === d);
      if (i < 0) {
        const git = `did not see pack-file ${d} to drop`;
        throw new GitMidxError('PACK_NOT_FOUND', git, { file: target, data: { git } });
      }
      dropSet.add(i);
    }
  }
  if (packs.length - dropSet.size === 0) {
    const git = 'no pack files to index.';
    throw new GitMidxError('NO_PACKS', `${packDir}: ${git}`, { file: packDir, data: { git } });
  }

  // Steps 5–7: select, order, plan.
  const writerPacks: WriterPack[] = packs.map((p) => ({
    name: p.name,
    mtime: p.mtime,
    idx: p.idx,
    fromMidx: p.fromMidx,
    packSize: p.packSize,
  }));
  const plan = planMidx({
    hash,
    packs: writerPacks,
    existing: reused,
    preferred,
    drop: dropSet,
    version: options.version,
    reverseIndex: options.bitmap === true,
  });
  yield;
  checkAbort(options.signal);

  // Step 8: publish through the lock (§8.10).
  const lock = held ?? LockFile.acquire(target, { packDir });
  let checksum: Uint8Array;
  try {
    checksum = writeMidx(lock, plan, nodeHash);
    lock.flush();
    // With --bitmap, the bitmap is made from the new file before it replaces the old one, as Git
    // makes it: when that fails, the repository keeps its old MIDX and bitmap.
    if (options.bitmap === true && plan.pseudoOrder !== undefined) {
      const written = MultiPackIndex.open(openFileReader(lock.lockPath), { hash, file: target });
      try {
        yield* writeMidxBitmapSteps({
          ...options.bitmapSettings,
          objectDir: options.objectDir,
          hash,
          midx: written,
          midxFile: lock.lockPath,
        });
      } finally {
        written.close();
      }
    }
    // The last moment to give up: until the rename, readers still see the old file.
    yield;
    checkAbort(options.signal);
    lock.commit();
  } catch (e) {
    lock.rollback();
    throw e;
  }
  const hex = toHex(checksum);
  if (options.bitmap === true && plan.pseudoOrder === undefined) {
    diag({ level: 'warning', message: 'refusing to write multi-pack .bitmap without any objects' });
  }
  removeStaleCompanions(packDir, hex, ['.bitmap', '.rev']);
  // A chain that was flattened goes: its layers, their companions, the chain file, the directory.
  if (Array.isArray(reused)) removeChain(packDir);
  return {
    written: true,
    path: target,
    packs: plan.packNames.length,
    objects: plan.numObjects,
    checksum: hex,
  };
}

/** The `.pack` of `idxPath` if it is a regular file (its stat), else undefined. */
function regularPack(idxPath: string): fs.BigIntStats | undefined {
  try {
    const st = fs.statSync(packPathOf(idxPath), { bigint: true });
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Git 2.39's `write` with nothing to do and no `--bitmap`: it loads the MIDX's bitmap (`bitmapFile`)
 * to see whether one is there, and loading a bitmap (one whose header Git accepts for this MIDX,
 * over a MIDX with a reverse index) opens each pack of the MIDX; a pack that is missing or not a
 * regular file is fatal (`could not open pack <name>`, exit 128), before the bitmap is removed.
 */
function requirePacksOfBitmap(existing: MultiPackIndex, oldPacks: Candidate[], bitmapFile: string): void {
  if (!existing.hasReverseIndex) return;
  const H = existing.hash.size;
  const head = new Uint8Array(12 + H);
  let fd: number | undefined;
  try {
    if (!fs.statSync(bitmapFile).isFile()) return;
    fd = fs.openSync(bitmapFile, 'r');
    if (fs.readSync(fd, head, 0, head.length, 0) !== head.length) return;
  } catch {
    return;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (!isBitmapHeaderFor(head, existing.checksum(), H)) return;
  for (const p of oldPacks) {
    if (regularPack(p.idxPath) !== undefined) continue;
    const git = `could not open pack ${p.name}`;
    throw new GitMidxError('PACK_LOAD_FAILED', git, {
      file: packPathOf(p.idxPath),
      data: { git, pack: p.name, fatal: true },
    });
  }
}

/**
 * The packs of the reused MIDX (`oldPacks`): each `.pack` must be a regular file (its mtime and
 * size are noted), else `could not load pack <n>` (PACK_LOAD_FAILED), as current Git says.
 */
function loadOldPacks(oldPacks: Candidate[], target: string): void {
  for (const p of oldPacks) {
    const packPath = packPathOf(p.idxPath);
    const st = regularPack(p.idxPath);
    if (st === undefined) {
      const git = `could not load pack ${p.fromMidx}`;
      throw new GitMidxError('PACK_LOAD_FAILED', `${target}: ${git} (${p.name}: no such pack file)`, {
        file: packPath,
        data: { git, pack: p.name },
      });
    }
    p.mtime = mtimeSeconds(st);
    p.packSize = Number(st.size);
  }
}

/**
 * The packs of `packDir` in raw readdir order (§8.3) with their indexes loaded (added to
 * `opened`), except those `skip` names; unusable ones are reported through `diag` and left out.
 * @internal
 */
export function discoverPacks(
  packDir: string,
  hash: HashAlgorithm,
  skip: (name: string) => boolean,
  diag: DiagnosticCallback,
  progress: ProgressCallback | undefined,
  opened: PackIndex[],
): Candidate[] {
  const title = 'Adding packfiles to multi-pack-index';
  const found: Candidate[] = [];
  let seen = 0;
  let names: string[] = [];
  try {
    names = readdirRaw(packDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const name of names) {
    if (!name.endsWith('.idx')) continue;
    progress?.({ title, done: ++seen });
    // Git would index `a\b.idx`; our reader refuses such a name (names.ts), so it is not written.
    const bad = packNameProblem(utf8(name));
    if (bad !== undefined) {
      diag({ level: 'warning', message: `ignoring pack ${quoteName(name)}: its name ${bad}` });
      continue;
    }
    if (skip(name)) continue;
    const idxPath = path.join(packDir, name);
    // One stat of the `.pack`: it must be a regular file, and its mtime decides among copies.
    const packStat = regularPack(idxPath);
    if (packStat === undefined) {
      diag({ level: 'warning', message: `failed to add packfile '${idxPath}'` });
      continue;
    }
    let idx: PackIndex;
    try {
      idx = loadIndex(idxPath, hash);
    } catch (e) {
      if (!isGitMidxError(e) && (e as NodeJS.ErrnoException).code === undefined) throw e;
      diag({
        level: 'error',
        message: isGitMidxError(e) ? String(e.data.git ?? e.message) : (e as Error).message,
      });
      diag({ level: 'warning', message: `failed to open pack-index '${idxPath}'` });
      continue;
    }
    opened.push(idx);
    found.push({ name, idxPath, mtime: mtimeSeconds(packStat), idx });
  }
  progress?.({ title, done: seen, end: true });
  return found;
}

/** The layers of the incremental chain in `packDir`, base first (undefined when there is none). */
function loadChainLayers(
  packDir: string,
  hash: HashAlgorithm,
  diag: DiagnosticCallback,
): MultiPackIndex[] | undefined {
  const loaded = loadChain(chainSourceIn(storeFiles(nodeStorage()), packDir, packDir), hash);
  for (const w of loaded?.warnings ?? []) diag({ level: 'warning', message: w });
  if (loaded === undefined || loaded.layers.length === 0) return undefined;
  return loaded.layers.map((l) => l.midx);
}

/** Removes the incremental chain's files (only ever inside `pack/multi-pack-index.d`). */
function removeChain(packDir: string): void {
  const chainDir = path.join(packDir, CHAIN_DIR);
  let names: string[] = [];
  try {
    names = fs.readdirSync(chainDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name === CHAIN_FILE || /^multi-pack-index-[0-9a-f]+\.(midx|bitmap|rev)$/.test(name)) {
      try {
        removeInPackDir(chainDir, name);
      } catch {
        // left behind: a stale layer is not read without the chain file
      }
    }
  }
  try {
    fs.rmdirSync(chainDir);
  } catch {
    // not empty (files of someone else's), or gone already
  }
}

/** Deletes `multi-pack-index-*.{bitmap,rev}` that do not belong to the current file (§6.3). */
function removeStaleCompanions(packDir: string, keepChecksum: string | undefined, exts: string[]): void {
  let names: string[];
  try {
    names = fs.readdirSync(packDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${MIDX_NAME}-`)) continue;
    for (const ext of exts) {
      if (!name.endsWith(ext)) continue;
      if (keepChecksum && name === `${MIDX_NAME}-${keepChecksum}${ext}`) continue;
      try {
        removeInPackDir(packDir, name);
      } catch {
        // cannot be removed: a stale companion is ignored by readers
      }
    }
  }
}
