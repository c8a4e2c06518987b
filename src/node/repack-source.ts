/**
 * The selected packs of a `repack` (src/node/repack.ts) opened for reading, and the reading of a
 * delta-search candidate's content from them: shared by the search on the command's own thread and
 * by its helper threads (src/node/repack-helper.ts), each of which opens the packs for itself.
 */
import { compareBytes, utf8 } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { PagedReader } from '../io.js';
import { PackIndex } from '../pack/idx.js';
import { PackFile } from '../pack/pack.js';
import { openFileReader, readRegularFile } from './fs.js';
import { nodeHash } from './hash.js';
import { packDirPath } from './packdir.js';
import { nodeInflater } from './zlib.js';

/** The `.idx` name without its extension. */
export function stem(idxName: string): string {
  return idxName.endsWith('.idx') ? idxName.slice(0, -4) : idxName;
}

/** A selected pack opened for copying: its index, a reader for entry headers and for raw bytes. */
export interface Source {
  readonly name: string;
  readonly idx: PackIndex;
  readonly pack: PackFile;
  readonly raw: PagedReader;
  /** The entry offsets, ascending, and the idx position of each. */
  readonly offsets: Float64Array | Uint32Array;
  readonly positions: Uint32Array;
  /** Where the entries end (the trailer starts). */
  readonly end: number;
}

/**
 * Byte budgets shared by all the sources' caches (pages for entry headers, pages for raw bytes,
 * resolved delta bases): a run over 150 packs must not keep 150 full-size caches.
 */
const SOURCE_PAGE_BUDGET = 64 << 20;
const SOURCE_BASE_BUDGET = 128 << 20;

function share(budget: number, sources: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(budget / Math.max(1, sources))));
}

export function openSource(packDir: string, name: string, hash: HashAlgorithm, sources: number): Source {
  const idxPath = packDirPath(packDir, name);
  const packPath = packDirPath(packDir, `${stem(name)}.pack`);
  let idx: PackIndex;
  try {
    idx = PackIndex.fromBytes(readRegularFile(idxPath), { hash, file: idxPath });
  } catch (e) {
    const git = `could not open index for ${packPath}`;
    throw new GitMidxError('PACK_LOAD_FAILED', `${idxPath}: ${git}`, {
      file: idxPath,
      data: { git },
      cause: e,
    });
  }
  const reader = openFileReader(packPath);
  let pack: PackFile;
  try {
    pack = new PackFile(reader, idx, {
      file: packPath,
      inflate: nodeInflater,
      hashFn: nodeHash,
      pageCacheBytes: share(SOURCE_PAGE_BUDGET, sources, 256 << 10, 4 << 20),
      cacheBytes: share(SOURCE_BASE_BUDGET, sources, 1 << 20, 32 << 20),
    });
    pack.validate();
  } catch (e) {
    reader.close();
    idx.close();
    throw e;
  }
  const n = idx.numObjects;
  const bytes = idx.bytes;
  const offs = new Float64Array(n);
  for (let i = 0; i < n; i++) offs[i] = bytes ? idx.offsetAtIn(bytes, i) : idx.offsetAt(i);
  const positions = new Uint32Array(n);
  for (let i = 0; i < n; i++) positions[i] = i;
  positions.sort((a, b) => offs[a] - offs[b]);
  // Offsets by rank: 32-bit while the pack is under 4 GiB (most are), half the memory.
  const offsets = pack.size <= 0xffffffff ? new Uint32Array(n) : new Float64Array(n);
  for (let r = 0; r < n; r++) offsets[r] = offs[positions[r]];
  // The pack reader closes `reader`; this second view over it only reads raw entry bytes.
  const raw = new PagedReader(reader, {
    file: packPath,
    pageSize: 65536,
    cacheBytes: share(SOURCE_PAGE_BUDGET, sources, 256 << 10, 4 << 20),
  });
  return { name, idx, pack, raw, offsets, positions, end: pack.size - hash.size };
}

/** Gives back the pages read from `src` (its pack's and the raw view's) and its delta bases. */
export function releaseSource(src: Source): void {
  src.pack.releasePages();
  src.pack.clearCache();
  src.raw.releasePages();
}

export function closeSource(src: Source): void {
  src.pack.close();
  src.raw.close();
  src.idx.close();
}

const TYPE_NAMES = ['', 'commit', 'tree', 'blob', 'tag'];

/**
 * The id that `"<type> <size>\0" + data` hashes to, when it is not the id at `oids[j * H]`;
 * undefined when it is.
 */
export function hashMismatch(
  hash: HashAlgorithm,
  oids: Uint8Array,
  j: number,
  type: string,
  data: Uint8Array,
): Uint8Array | undefined {
  const H = hash.size;
  const h = nodeHash(hash);
  h.update(utf8(`${type} ${data.length}\0`));
  h.update(data);
  const got = h.digest();
  return compareBytes(got, 0, oids, j * H, H) === 0 ? undefined : got;
}

/** What the delta search needs to read its candidates from the sources (see `candidateReader`). */
export interface CandidateTable {
  /** The new pack's ids, H bytes each. */
  oids: Uint8Array;
  /** Per object: its source (an index into the sources) and its entry's offset there. */
  srcOf: Uint32Array;
  srcOffset: Uint32Array | Float64Array;
  /** Per whole candidate: where its zlib stream starts, and where its entry ends. */
  dataAt: Uint32Array | Float64Array;
  endAt: Uint32Array | Float64Array;
  /** Per object: its type (1-4) when a candidate; its size; 1 when it must be resolved (a delta). */
  types: Uint8Array;
  sizes: Float64Array;
  resolve: Uint8Array;
  /**
   * The compressed bytes of whole candidates copied out of their packs in advance (shared memory,
   * which helper threads read too), and where each candidate's are in it (−1: not there, read from
   * its pack).
   */
  arena?: Uint8Array;
  arenaAt?: Int32Array;
}

/**
 * Reads candidate `j`'s content: resolved through its pack when it is a delta there, else inflated
 * from its entry's exact bytes; checked against its id. Undefined when it cannot be read or does
 * not hash to its id (the writing meets it again and reports it).
 */
export function candidateReader(
  hash: HashAlgorithm,
  sources: readonly Source[],
  t: CandidateTable,
): (j: number) => Uint8Array | undefined {
  // The compressed bytes of one entry at a time: one buffer, grown as needed (fresh memory for
  // every candidate would cost a page fault per 4 KiB touched).
  let input = new Uint8Array(0);
  return (j) => {
    try {
      // (Its pack only when the bytes are not in the arena: a helper thread opens packs lazily.)
      let type: string;
      let data: Uint8Array;
      if (t.resolve[j]) {
        const obj = sources[t.srcOf[j]].pack.readAt(t.srcOffset[j]);
        type = obj.type;
        data = obj.data;
      } else {
        // One read of the entry's exact bytes: the search visits the packs in no order, and pages
        // around each entry would be read for nothing.
        const n = t.endAt[j] - t.dataAt[j];
        const at = t.arenaAt === undefined ? -1 : t.arenaAt[j];
        let from = 0;
        let bytes: Uint8Array = input;
        if (at >= 0) {
          bytes = t.arena!;
          from = at;
        } else {
          if (input.length < n) input = new Uint8Array(Math.max(n, 2 * input.length, 1 << 16));
          bytes = input;
          sources[t.srcOf[j]].raw.readInto(input, 0, n, t.dataAt[j]);
        }
        // Straight into bytes of its declared size, through the inflater's one reused stream (a
        // stream per object costs more than inflating a small one); else, for the exact outcome,
        // the whole-stream inflate.
        const size = t.sizes[j];
        const out = nodeInflater.allocate?.(size) ?? new Uint8Array(size);
        if ((nodeInflater.inflateExact?.(bytes, from, from + n, out, size) ?? -1) >= 0) {
          data = out;
        } else {
          const r = nodeInflater.inflate(bytes.subarray(from, from + n), size);
          if (r.data.length !== size) return undefined;
          data = r.data;
        }
        type = TYPE_NAMES[t.types[j]];
      }
      return hashMismatch(hash, t.oids, j, type, data) === undefined ? data : undefined;
    } catch {
      return undefined;
    }
  };
}
