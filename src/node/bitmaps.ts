/**
 * Finds and opens the repository's reachability bitmap for `countReachable` (src/store/reach.ts):
 * the MIDX's (`pack/multi-pack-index-<checksum>.bitmap`, positions in pseudo-pack order from its
 * RIDX chunk) as Git prefers it, else a single pack's (`pack-<hash>.bitmap`, positions in the
 * pack's offset order). Undefined when there is none; a bitmap that does not belong to its index,
 * or is damaged, is skipped with a warning (the walk then answers alone).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bitset } from '../bitmap/ewah.js';
import { readBitmap } from '../bitmap/reader.js';
import { toHex } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { CHAIN_DIR, chainSourceIn, loadChain, MidxChain, pseudoPackPositions } from '../midx/chain.js';
import { storeFiles } from '../storage/resident.js';
import type { ReachBitmap } from '../store/reach.js';
import { readFileIfExists } from './fs.js';
import { loadIndex, MIDX_NAME, openMidxFile } from './midx.js';
import { nodeStorage } from './storage.js';

const MAX_BITMAP = 1 << 30;

export function openReachBitmap(
  objectDir: string,
  hash: HashAlgorithm,
  warn: (message: string) => void = () => {},
): ReachBitmap | undefined {
  const packDir = path.join(objectDir, 'pack');
  try {
    const midx = openMidxFile(path.join(packDir, MIDX_NAME), { hash });
    // A flat MIDX is a chain of one layer, its bitmap beside it.
    const flat = new MidxChain([{ name: toHex(midx.checksum()), midx, objectsInBase: 0, packsInBase: 0 }]);
    const bitmap = layeredBitmap(flat, packDir, hash);
    if (bitmap !== undefined) return bitmap;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (!isGitMidxError(e)) throw e;
      warn(String(e.data.git ?? e.message));
    }
  }
  // An incremental chain whose every layer has a bitmap.
  try {
    const chained = chainBitmap(packDir, hash);
    if (chained !== undefined) return chained;
  } catch (e) {
    if (!isGitMidxError(e)) throw e;
    warn(String(e.data.git ?? e.message));
  }
  // A single pack's bitmap.
  let names: string[] = [];
  try {
    names = fs.readdirSync(packDir).filter((n) => /^pack-[0-9a-f]+\.bitmap$/.test(n));
  } catch {
    return undefined;
  }
  for (const name of names) {
    const stem = name.slice(0, -'.bitmap'.length);
    try {
      const idx = loadIndex(path.join(packDir, `${stem}.idx`), hash);
      const n = idx.numObjects;
      const byOffset = Array.from({ length: n }, (_, i) => i).sort(
        (a, b) => idx.offsetAt(a) - idx.offsetAt(b),
      );
      const packOrder = new Uint32Array(n);
      byOffset.forEach((i, j) => {
        packOrder[i] = j;
      });
      const bytes = readFileIfExists(path.join(packDir, name), MAX_BITMAP);
      if (bytes === undefined) continue;
      const index = readBitmap(bytes, hash, n, idx.packChecksum(), path.join(packDir, name));
      return {
        size: n,
        types: index.types,
        positionOf(oid) {
          const i = idx.findPosition(oid);
          return i < 0 ? -1 : packOrder[i];
        },
        commitBitmap(oid) {
          const i = idx.findPosition(oid);
          return i < 0 ? undefined : index.commits.get(i);
        },
      };
    } catch (e) {
      if (!isGitMidxError(e)) throw e;
      warn(String(e.data.git ?? e.message));
    }
  }
  return undefined;
}

/**
 * The bitmaps of an incremental chain (docs/formats.md, "Incremental chains"): positions run
 * across the chain, base layer first; each layer's file holds bitmaps for its own commits (over
 * everything they reach, in the layers below too) and type bitmaps for its own objects. Undefined
 * when there is no chain, or a layer has no bitmap or no reverse index.
 */
function chainBitmap(packDir: string, hash: HashAlgorithm): ReachBitmap | undefined {
  const loaded = loadChain(chainSourceIn(storeFiles(nodeStorage()), packDir, packDir), hash);
  if (loaded === undefined || loaded.layers.length === 0) return undefined;
  return layeredBitmap(new MidxChain(loaded.layers), path.join(packDir, CHAIN_DIR), hash);
}

/**
 * The bitmaps of `chain` (a flat MIDX as one layer), each layer's `.bitmap` in `dir`, with
 * positions in pseudo-pack order from the layers' RIDX chunks. Undefined when a layer has no
 * bitmap or no reverse index; the chain is closed then (or on an error), else kept open for the
 * lookups.
 */
function layeredBitmap(chain: MidxChain, dir: string, hash: HashAlgorithm): ReachBitmap | undefined {
  let ok = false;
  try {
    const N = chain.numObjects;
    const pseudoOf = pseudoPackPositions(chain.layers, (hex, j) => {
      const git = `multi-pack-index ${hex}: reverse index entry ${j} is out of place`;
      return new GitMidxError('BITMAP_CORRUPT', git, { data: { git } });
    });
    if (pseudoOf === undefined) return undefined;
    const types: [Bitset, Bitset, Bitset, Bitset] = [
      new Bitset(N),
      new Bitset(N),
      new Bitset(N),
      new Bitset(N),
    ];
    const commits = new Map<number, Bitset>();
    for (const l of chain.layers) {
      const file = path.join(dir, `${MIDX_NAME}-${l.name}.bitmap`);
      const bytes = readFileIfExists(file, MAX_BITMAP);
      if (bytes === undefined) return undefined;
      const index = readBitmap(bytes, hash, N, l.midx.checksum(), file);
      for (let t = 0; t < 4; t++) types[t].or(index.types[t]);
      for (const [pos, bits] of index.commits) commits.set(pos, bits);
    }
    ok = true;
    return {
      size: N,
      types,
      positionOf(oid) {
        const hit = chain.lookup(oid);
        return hit === undefined ? -1 : pseudoOf[hit.position];
      },
      commitBitmap(oid): Bitset | undefined {
        const hit = chain.lookup(oid);
        return hit === undefined ? undefined : commits.get(hit.position);
      },
    };
  } finally {
    // The chain stays open for the lookups when it is used.
    if (!ok) chain.close();
  }
}
