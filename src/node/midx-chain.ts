/**
 * `write --incremental`: a new layer of an incremental MIDX chain (docs/formats.md, "Incremental
 * chains"), over the packs no layer covers yet, leaving out the objects the layers below hold. As
 * current Git does it: a flat MIDX becomes the chain's first layer (hard-linked into
 * `multi-pack-index.d/`, then removed); the layer is written under a temporary name, made
 * read-only and renamed to `multi-pack-index-<checksum>.midx`; the chain file is rewritten through
 * its lock with the base layers and the new one. Everything stays inside `objects/pack`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toHex } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import {
  CHAIN_DIR,
  CHAIN_FILE,
  type ChainLayer,
  chainSourceIn,
  layerFileName,
  loadChain,
} from '../midx/chain.js';
import { CHUNK_RIDX } from '../midx/chunks.js';
import { idxName, isFatalMidxError, type MultiPackIndex } from '../midx/reader.js';
import { planMidx, type WriterPack, writeMidx } from '../midx/writer.js';
import type { PackIndex } from '../pack/idx.js';
import type { DiagnosticCallback, ProgressCallback } from '../progress.js';
import { storeFiles } from '../storage/resident.js';
import { crypto } from './builtins.js';
import { nodeHash } from './hash.js';
import { LockFile } from './lockfile.js';
import { discoverPacks, MIDX_NAME, openMidxFile, type WriteMidxResult } from './midx.js';
import { type BitmapSettings, writeMidxBitmap } from './midx-bitmap.js';
import { linkInPackDir, removeInPackDir, renameInPackDir } from './packdir.js';
import { repositoryForObjectDir } from './repo.js';
import { nodeStorage } from './storage.js';

export interface WriteLayerOptions {
  objectDir: string;
  hash?: HashAlgorithm;
  /** `--preferred-pack`: a `.pack` or `.idx` basename. */
  preferredPack?: string;
  /** `midx.version`: the layer's file version (default 1). */
  version?: 1 | 2;
  /**
   * `--bitmap`: the layer gets its reverse index (RIDX, BTMP) and a reachability bitmap, whose
   * positions run across the chain; every layer below must have a reverse index.
   */
  bitmap?: boolean;
  /** Configuration of the bitmap (`pack.preferBitmapTips`, `pack.writeBitmapHashCache`, `pack.writeBitmapLookupTable`). */
  bitmapSettings?: BitmapSettings;
  /** `--no-write-chain-file`: write the layer, leave the chain file as it is. */
  writeChainFile?: boolean;
  /**
   * `--base=<checksum>|none` (with `writeChainFile: false`): the layer the new one goes on; default
   * the chain's tip.
   */
  base?: string;
  onProgress?: ProgressCallback;
  onDiagnostic?: DiagnosticCallback;
}

export interface WriteLayerResult extends WriteMidxResult {
  /** The layers below the new one, base first (their checksums). */
  readonly base: readonly string[];
}

/** The chain as it is now: its layers, base first (a flat MIDX counts as the only layer). */
function currentLayers(
  packDir: string,
  hash: HashAlgorithm,
  diag: DiagnosticCallback,
): { layers: ChainLayer[]; flat: MultiPackIndex | undefined } {
  const flatPath = path.join(packDir, MIDX_NAME);
  try {
    const flat = openMidxFile(flatPath, { hash });
    return {
      layers: [{ name: toHex(flat.checksum()), midx: flat, objectsInBase: 0, packsInBase: 0 }],
      flat,
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (!isGitMidxError(e) || isFatalMidxError(e.code)) throw e;
      diag({ level: 'error', message: String(e.data.git ?? e.message) });
    }
  }
  const loaded = loadChain(chainSourceIn(storeFiles(nodeStorage()), packDir, packDir), hash);
  for (const w of loaded?.warnings ?? []) diag({ level: 'warning', message: w });
  return { layers: loaded?.layers ?? [], flat: undefined };
}

/** Writes a new incremental layer (see the module comment). */
export function writeMidxLayer(options: WriteLayerOptions): WriteLayerResult {
  const packDir = path.join(options.objectDir, 'pack');
  const chainDir = path.join(packDir, CHAIN_DIR);
  const diag = options.onDiagnostic ?? (() => {});
  const hash = options.hash ?? repositoryForObjectDir(options.objectDir).hash;
  const writeChain = options.writeChainFile !== false;
  const opened: PackIndex[] = [];
  const { layers: all, flat } = currentLayers(packDir, hash, diag);
  try {
    // The base: the whole chain, or (without the chain file) up to the layer asked for.
    let layers = all;
    if (options.base !== undefined) {
      if (options.base === 'none') layers = [];
      else {
        const at = all.findIndex((l) => l.name === options.base);
        if (at < 0) {
          const git = `could not find base MIDX '${options.base}'`;
          throw new GitMidxError('MIDX_BASE_NOT_FOUND', git, { data: { git } });
        }
        layers = all.slice(0, at + 1);
      }
    }
    const bitmap = options.bitmap === true;
    if (bitmap) {
      for (const l of layers) {
        if (l.midx.readChunk(CHUNK_RIDX) !== undefined) continue;
        const git = `could not load reverse index for MIDX ${l.name}`;
        throw new GitMidxError('MIDX_NO_REVERSE_INDEX', git, { data: { git } });
      }
    }
    const inBase = (name: string) => layers.some((l) => l.midx.containsPack(name));
    const found = discoverPacks(packDir, hash, inBase, diag, options.onProgress, opened);
    if (found.length === 0) {
      return { written: false, path: chainDir, packs: 0, objects: 0, base: layers.map((l) => l.name) };
    }
    let preferred = -1;
    if (options.preferredPack !== undefined) {
      const want = idxName(options.preferredPack);
      preferred = found.findIndex((p) => idxName(p.name) === want);
      if (preferred < 0)
        diag({ level: 'warning', message: `unknown preferred pack: '${options.preferredPack}'` });
    } else if (bitmap) {
      // As for a flat MIDX with a bitmap (docs/formats.md): the oldest pack with objects.
      let c = 0;
      for (let i = 1; i < found.length; i++) {
        if (found[c].idx!.numObjects === 0 || found[i].mtime < found[c].mtime) c = i;
      }
      if (found[c].idx!.numObjects > 0) preferred = c;
    }
    const packs: WriterPack[] = found.map((p) => ({ name: p.name, mtime: p.mtime, idx: p.idx }));
    const plan = planMidx({
      hash,
      packs,
      preferred,
      version: options.version,
      // What a layer below holds is not indexed again.
      exclude: (oids, at) => layers.some((l) => l.midx.findPosition(oids, at) >= 0),
      reverseIndex: bitmap,
      objectsInBase: layers.reduce((n, l) => n + l.midx.numObjects, 0),
    });

    const hex = publishLayer(chainDir, plan);
    const layerName = layerFileName(hex);
    // Git 2.55 writes a layer's bitmap over layers that have none, then crashes reading the chain
    // (`rev-list --use-bitmap-index`): the layer gets no bitmap then, with a warning.
    const bare = layers.find((l) => !fs.existsSync(layerBitmapPath(packDir, chainDir, l, flat)));
    if (bitmap) {
      if (plan.pseudoOrder === undefined) {
        diag({ level: 'warning', message: 'refusing to write multi-pack .bitmap without any objects' });
      } else if (bare !== undefined) {
        diag({
          level: 'warning',
          message: `multi-pack-index ${bare.name} has no bitmap: not writing one for the new layer`,
        });
      } else {
        const layer = openMidxFile(path.join(chainDir, layerName), { hash });
        try {
          writeMidxBitmap({
            ...options.bitmapSettings,
            objectDir: options.objectDir,
            hash,
            midx: layer,
            base: layers.map((l) => l.midx),
            target: path.join(chainDir, `${MIDX_NAME}-${hex}.bitmap`),
          });
        } finally {
          layer.close();
        }
      }
    }

    if (writeChain) {
      // A flat MIDX becomes the first layer: linked into the chain directory (with its bitmap and
      // reverse index, when it has them), then removed from the pack directory.
      if (flat !== undefined) {
        const c = layers[0].name;
        for (const ext of ['midx', 'bitmap', 'rev']) {
          const from = ext === 'midx' ? MIDX_NAME : `${MIDX_NAME}-${c}.${ext}`;
          const to = `${MIDX_NAME}-${c}.${ext}`;
          if (fs.existsSync(path.join(packDir, from))) linkInPackDir(packDir, from, to, chainDir);
        }
      }
      writeChainFile(chainDir, [...layers.map((l) => l.name), hex]);
      if (flat !== undefined) {
        flat.close();
        const c = layers[0].name;
        removeInPackDir(packDir, MIDX_NAME);
        removeInPackDir(packDir, `${MIDX_NAME}-${c}.bitmap`);
        removeInPackDir(packDir, `${MIDX_NAME}-${c}.rev`);
      }
    }
    return {
      written: true,
      path: path.join(chainDir, layerName),
      packs: plan.packNames.length,
      objects: plan.numObjects,
      checksum: hex,
      base: layers.map((l) => l.name),
    };
  } finally {
    for (const l of all) l.midx.close();
    for (const idx of opened) idx.close();
  }
}

/** Where the bitmap of `layer` is: beside the flat MIDX, when the layer is that file, else in the chain directory. */
function layerBitmapPath(
  packDir: string,
  chainDir: string,
  layer: ChainLayer,
  flat: MultiPackIndex | undefined,
): string {
  const name = `${MIDX_NAME}-${layer.name}.bitmap`;
  return path.join(flat !== undefined && layer.midx === flat ? packDir : chainDir, name);
}

/** Writes a layer under a temporary name through its lock, makes it read-only, renames it. */
function publishLayer(chainDir: string, plan: ReturnType<typeof planMidx>): string {
  fs.mkdirSync(chainDir, { recursive: true });
  const tmpName = `tmp_midx_${crypto().randomBytes(6).toString('hex')}`;
  const lock = LockFile.acquire(path.join(chainDir, tmpName), { packDir: chainDir });
  let checksum: Uint8Array;
  try {
    checksum = writeMidx(lock, plan, nodeHash);
    lock.commit();
  } catch (e) {
    lock.rollback();
    throw e;
  }
  const hex = toHex(checksum);
  try {
    fs.chmodSync(path.join(chainDir, tmpName), 0o444);
    renameInPackDir(chainDir, tmpName, layerFileName(hex));
  } catch (e) {
    removeInPackDir(chainDir, tmpName);
    throw e;
  }
  return hex;
}

/** Rewrites the chain file through its lock: one checksum per line, base first. */
function writeChainFile(chainDir: string, names: readonly string[]): void {
  const lock = LockFile.acquire(path.join(chainDir, CHAIN_FILE), { packDir: chainDir });
  try {
    lock.write(new TextEncoder().encode(names.map((h) => `${h}\n`).join('')));
    lock.commit();
  } catch (e) {
    lock.rollback();
    throw e;
  }
}

export interface CompactOptions {
  objectDir: string;
  hash?: HashAlgorithm;
  /** The oldest and the newest layer to merge (checksums); `from` must be below `to`. */
  from: string;
  to: string;
  /** `midx.version` (compaction needs 2, its default). */
  version?: 1 | 2;
  onDiagnostic?: DiagnosticCallback;
}

/**
 * `compact <from> <to>`: merges the contiguous layers from `from` to `to` into one version-2 layer
 * whose packs keep layer order; the chain file then names it in their place, and their files go.
 */
export function compactMidxLayers(options: CompactOptions): WriteLayerResult {
  const fatal = (git: string) => new GitMidxError('COMPACT_REFUSED', git, { data: { git } });
  if (options.version === 1) throw fatal('cannot perform MIDX compaction with v1 format');
  if (options.from === options.to) throw fatal('MIDX compaction endpoints must be unique');
  const packDir = path.join(options.objectDir, 'pack');
  const chainDir = path.join(packDir, CHAIN_DIR);
  const diag = options.onDiagnostic ?? (() => {});
  const hash = options.hash ?? repositoryForObjectDir(options.objectDir).hash;
  const { layers, flat } = currentLayers(packDir, hash, diag);
  try {
    const at = (name: string) => {
      const i = flat === undefined ? layers.findIndex((l) => l.name === name) : -1;
      if (i < 0) throw fatal(`could not find MIDX: ${name}`);
      return i;
    };
    const i = at(options.from);
    const j = at(options.to);
    if (i > j) throw fatal(`MIDX ${options.from} must be an ancestor of ${options.to}`);
    const merged = layers.slice(i, j + 1);
    const names = merged.flatMap((l) => l.midx.packNames);
    const packs: WriterPack[] = names.map((name, k) => ({ name, mtime: 0, fromMidx: k }));
    const plan = planMidx({
      hash,
      packs,
      existing: merged.map((l) => l.midx),
      version: 2,
      keepPackOrder: true,
    });
    const hex = publishLayer(chainDir, plan);
    writeChainFile(chainDir, [
      ...layers.slice(0, i).map((l) => l.name),
      hex,
      ...layers.slice(j + 1).map((l) => l.name),
    ]);
    for (const l of merged) {
      l.midx.close();
      for (const ext of ['midx', 'bitmap', 'rev']) removeInPackDir(chainDir, `${MIDX_NAME}-${l.name}.${ext}`);
    }
    return {
      written: true,
      path: path.join(chainDir, layerFileName(hex)),
      packs: names.length,
      objects: plan.numObjects,
      checksum: hex,
      base: layers.slice(0, i).map((l) => l.name),
    };
  } finally {
    for (const l of layers) l.midx.close();
  }
}
