/**
 * Incremental MIDX chains (docs/formats.md, "Incremental chains"): `pack/multi-pack-index.d/`
 * holds `multi-pack-index-chain` (one layer checksum per line, base first) and one ordinary MIDX
 * file per layer, `multi-pack-index-<checksum>.midx`. A layer's positions and pack ids are local;
 * globally, a layer's objects come after all of its bases' objects (position + objects in base)
 * and likewise its packs. No layer repeats an object or a pack of its bases, so a lookup asks the
 * newest layer first and stops at the first hit.
 *
 * Loading follows current Git: an empty chain file is no chain; a file shorter than one hash is a
 * warning; a line that is not a hash, or a layer that cannot be loaded, stops the chain there with
 * a warning, and the layers loaded so far are used.
 */
import { fromHex, readU32, toHex } from '../bytes.js';
import type { HashAlgorithm } from '../hash.js';
import type { RandomAccessReader } from '../io.js';
import { isPending } from '../storage/resident.js';
import { joinPath } from '../storage/storage.js';
import { CHUNK_RIDX } from './chunks.js';
import { type MidxLookup, MultiPackIndex } from './reader.js';

export const CHAIN_DIR = 'multi-pack-index.d';
export const CHAIN_FILE = 'multi-pack-index-chain';

/** The file name of a layer in the chain directory. */
export function layerFileName(checksumHex: string): string {
  return `multi-pack-index-${checksumHex}.midx`;
}

/** One layer of a loaded chain. */
export interface ChainLayer {
  /** The checksum the chain file names it by (lowercase hex). */
  name: string;
  midx: MultiPackIndex;
  /** Objects and packs of all the layers below it. */
  objectsInBase: number;
  packsInBase: number;
}

export interface ChainFileParse {
  /** Layer checksums, base first, up to the first line that is not a hash. */
  names: string[];
  /** Git's warning text, when the file was too small or a line was not a hash. */
  warning?: string;
}

/** Parses the chain file's text as current Git does (at most `size / (hexlen + 1)` lines). */
export function parseChainFile(text: string, hash: HashAlgorithm): ChainFileParse {
  const hexLen = hash.hexSize;
  if (text.length === 0) return { names: [] };
  if (text.length < hexLen) return { names: [], warning: 'multi-pack-index chain file too small' };
  const max = Math.floor(text.length / (hexLen + 1));
  const names: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && names.length < max; i++) {
    const line = lines[i];
    if (line.length !== hexLen || !/^[0-9a-f]+$/.test(line) || fromHex(line) === undefined) {
      // (Git reads up to `max` lines; a line that does not parse ends the chain.)
      if (line === '' && i === lines.length - 1) break;
      return { names, warning: `invalid multi-pack-index chain: line '${line}' not a hash` };
    }
    names.push(line);
  }
  return { names };
}

/** How the loader reaches the layer files. */
export interface ChainSource {
  /** The chain file's bytes, or undefined when there is none. */
  readChain(): Uint8Array | undefined;
  /** A layer file for positioned reads, or undefined when it is missing. */
  openLayer(fileName: string): RandomAccessReader | undefined;
  /** How messages name a layer file. */
  shown(fileName: string): string;
}

/** Largest chain file read (a line per layer). */
const CHAIN_FILE_MAX = 16 * 1024 * 1024;

/**
 * The chain of the pack directory `packDir` as seen through `files` (any storage's view, see
 * src/storage/resident.ts); layers are named in messages below `shownPackDir`, and go through
 * `wrap` when given (a store counts the bytes it reads).
 */
export function chainSourceIn(
  files: {
    readFile(path: string, maxBytes: number): Uint8Array | undefined;
    open(path: string): RandomAccessReader | undefined;
  },
  packDir: string,
  shownPackDir: string,
  wrap: (r: RandomAccessReader) => RandomAccessReader = (r) => r,
): ChainSource {
  const dir = joinPath(packDir, CHAIN_DIR);
  return {
    readChain: () => files.readFile(joinPath(dir, CHAIN_FILE), CHAIN_FILE_MAX),
    openLayer: (f) => {
      const r = files.open(joinPath(dir, f));
      return r === undefined ? undefined : wrap(r);
    },
    shown: (f) => `${shownPackDir}/${CHAIN_DIR}/${f}`,
  };
}

export interface LoadedChain {
  /** Base first. */
  layers: ChainLayer[];
  /** Git's warnings, in order (`unable to find all multi-pack index files`, …). */
  warnings: string[];
}

/**
 * Loads the chain: undefined when there is no chain file (or it is empty). Layers that load are
 * kept even when a later one fails (with Git's warning).
 */
export function loadChain(
  src: ChainSource,
  hash: HashAlgorithm,
  options: { lenient?: boolean } = {},
): LoadedChain | undefined {
  const bytes = src.readChain();
  if (bytes === undefined || bytes.length === 0) return undefined;
  const parsed = parseChainFile(new TextDecoder().decode(bytes), hash);
  const warnings: string[] = [];
  const layers: ChainLayer[] = [];
  let objects = 0;
  let packs = 0;
  try {
    for (const name of parsed.names) {
      const file = layerFileName(name);
      let midx: MultiPackIndex | undefined;
      let reader: RandomAccessReader | undefined;
      try {
        reader = src.openLayer(file);
        if (reader !== undefined) {
          midx = MultiPackIndex.open(reader, { hash, file: src.shown(file), lenient: options.lenient });
        }
      } catch (e) {
        if (isPending(e)) throw e;
        midx = undefined;
      }
      if (midx === undefined) {
        warnings.push('unable to find all multi-pack index files');
        return { layers, warnings };
      }
      layers.push({ name, midx, objectsInBase: objects, packsInBase: packs });
      objects += midx.numObjects;
      packs += midx.numPacks;
    }
  } catch (e) {
    for (const l of layers) l.midx.close();
    throw e;
  }
  if (parsed.warning !== undefined) warnings.unshift(parsed.warning);
  return { layers, warnings };
}

/**
 * The layers of a chain seen as one index: global positions and pack ids, lookups newest layer
 * first.
 */
export class MidxChain {
  /** Base first. */
  readonly layers: readonly ChainLayer[];
  readonly numObjects: number;
  readonly numPacks: number;
  /** Every layer's pack names, base layer first (global pack ids index this list). */
  readonly packNames: readonly string[];

  constructor(layers: readonly ChainLayer[]) {
    this.layers = layers;
    let n = 0;
    const names: string[] = [];
    for (const l of layers) {
      n += l.midx.numObjects;
      names.push(...l.midx.packNames);
    }
    this.numObjects = n;
    this.numPacks = names.length;
    this.packNames = names;
  }

  /** The tip (newest) layer. */
  get tip(): ChainLayer {
    return this.layers[this.layers.length - 1];
  }

  /** Where the chain places `oid`: global position and pack id, the pack's name and the offset. */
  lookup(oid: Uint8Array): MidxLookup | undefined {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      const hit = l.midx.lookup(oid);
      if (hit !== undefined) {
        return {
          ...hit,
          position: hit.position + l.objectsInBase,
          packId: hit.packId + l.packsInBase,
        };
      }
    }
    return undefined;
  }

  /** The layer holding global position `n`, and the position within it. */
  layerOf(n: number): { layer: ChainLayer; local: number } {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      if (n >= l.objectsInBase) return { layer: l, local: n - l.objectsInBase };
    }
    throw new RangeError(`position ${n} outside the chain`);
  }

  /** The id at global position `n`. */
  oidAt(n: number): Uint8Array {
    const { layer, local } = this.layerOf(n);
    return layer.midx.oidAt(local);
  }

  /**
   * Global positions of the ids starting with `hexPrefix`, as a range when they form one: the
   * chain's layers are sorted each on its own, so matches in several layers give a range of their
   * count starting at the first match (enough to tell none, one and several apart).
   */
  prefixRange(hexPrefix: string): [number, number] {
    let first = -1;
    let count = 0;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      const [from, to] = l.midx.prefixRange(hexPrefix);
      if (to > from && first < 0) first = from + l.objectsInBase;
      count += to - from;
    }
    return count === 0 ? [0, 0] : [first, first + count];
  }

  /** `MultiPackIndex.lookupMany` over every layer (newest first), with global positions and pack ids. */
  lookupMany(
    ids: Uint8Array,
    count: number,
  ): { positions: Int32Array; packIds: Int32Array; offsets: Float64Array; repeatOf: Int32Array } {
    const positions = new Int32Array(count).fill(-1);
    const packIds = new Int32Array(count).fill(-1);
    const offsets = new Float64Array(count);
    let repeatOf: Int32Array | undefined;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      const r = l.midx.lookupMany(ids, count);
      repeatOf ??= r.repeatOf;
      for (let k = 0; k < count; k++) {
        if (positions[k] >= 0 || r.positions[k] < 0) continue;
        positions[k] = r.positions[k] + l.objectsInBase;
        packIds[k] = r.packIds[k] + l.packsInBase;
        offsets[k] = r.offsets[k];
      }
    }
    return { positions, packIds, offsets, repeatOf: repeatOf ?? new Int32Array(count).fill(-1) };
  }

  close(): void {
    for (const l of this.layers) l.midx.close();
  }
}

/**
 * Global MIDX position → position in the chain's pseudo-pack order, from the RIDX chunk of each
 * layer (`layers` base first, `objectsInBase` their offsets; a flat MIDX is one layer at 0). RIDX
 * values are global positions, and a layer's pseudo-pack order follows its bases'. Undefined when a
 * layer has no RIDX (its checksum in `missing`); throws `corrupt(checksumHex, entry)` for an entry
 * outside its layer or repeated.
 */
export function pseudoPackPositions(
  layers: readonly { readonly midx: MultiPackIndex; readonly objectsInBase: number }[],
  corrupt: (checksumHex: string, entry: number) => Error,
  missing?: { checksumHex?: string },
): Uint32Array | undefined {
  let total = 0;
  for (const l of layers) total += l.midx.numObjects;
  const out = new Uint32Array(total).fill(0xffffffff);
  for (const { midx, objectsInBase: at } of layers) {
    const n = midx.numObjects;
    const ridx = midx.readChunk(CHUNK_RIDX);
    if (ridx === undefined || ridx.length !== n * 4) {
      if (missing !== undefined) missing.checksumHex = toHex(midx.checksum());
      return undefined;
    }
    for (let j = 0; j < n; j++) {
      const pos = readU32(ridx, j * 4);
      if (pos < at || pos >= at + n || out[pos] !== 0xffffffff) throw corrupt(toHex(midx.checksum()), j);
      out[pos] = at + j;
    }
  }
  return out;
}
