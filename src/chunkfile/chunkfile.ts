/**
 * Git's chunk-file format (gitformat-chunk; spec/midx-format.md §3): after a fixed header, a table
 * of contents of `C + 1` rows (BE32 id, BE64 offset), the last with id 0 marking where the last chunk
 * ends. Chunk i spans [offset[i], offset[i+1]). Used by the MIDX, and usable by other chunked files.
 */
import { readU32, writeU32, writeU64 } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { ByteSink } from '../io.js';

export const TOC_ROW_SIZE = 12;

export interface ChunkEntry {
  readonly id: number;
  readonly offset: number;
  readonly size: number;
}

export function chunkIdName(id: number): string {
  let s = '';
  for (let shift = 24; shift >= 0; shift -= 8) {
    const c = (id >>> shift) & 0xff;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return s;
}

export function chunkId(name: string): number {
  return (
    ((name.charCodeAt(0) << 24) |
      (name.charCodeAt(1) << 16) |
      (name.charCodeAt(2) << 8) |
      name.charCodeAt(3)) >>>
    0
  );
}

/** A 64-bit big-endian value in lowercase hex without leading zeros (as Git's `%"PRIx64"`). */
function hex64(b: Uint8Array, o: number): string {
  const hi = readU32(b, o);
  const lo = readU32(b, o + 4);
  return hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
}

function u64(b: Uint8Array, o: number): number {
  // Values beyond 2^53 are only ever compared with a file size, which they exceed either way.
  return readU32(b, o) * 0x100000000 + readU32(b, o + 4);
}

export interface ReadTocOptions {
  /** Name used in messages. */
  file: string;
  /** File offset of the first TOC row (for messages and the header-overlap check). */
  tocOffset: number;
  /** Number of chunks C (rows before the terminator). */
  count: number;
  /** The file size. */
  fileSize: number;
  /** Bytes reserved at the end (the trailing checksum); chunks must end before them. */
  trailerSize: number;
  /** Require 4-byte aligned chunk offsets (Git 2.43+). */
  align?: number;
}

/**
 * Parses and validates a table of contents. `toc` holds the `count + 1` rows. Checks, in Git's
 * order (§3): terminator too early, alignment, offsets in order and within the file, duplicates, a
 * non-zero final id; and in addition (Git does not) that no chunk overlaps the header or the TOC.
 */
export function parseToc(toc: Uint8Array, opts: ReadTocOptions): ChunkEntry[] {
  const { file, count, fileSize, trailerSize } = opts;
  const limit = fileSize - trailerSize;
  const tocEnd = opts.tocOffset + (count + 1) * TOC_ROW_SIZE;
  if (toc.length < (count + 1) * TOC_ROW_SIZE || tocEnd > limit) {
    throw new GitMidxError(
      'CHUNK_TOC_TRUNCATED',
      `${file}: table of contents of ${count} chunks (${count + 1} rows, ending at ${tocEnd}) does not fit in the file (${fileSize} bytes)`,
      { file, data: { count, fileSize } },
    );
  }
  const chunks: ChunkEntry[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const r = i * TOC_ROW_SIZE;
    const id = readU32(toc, r);
    if (id === 0) {
      throw new GitMidxError(
        'CHUNK_TERMINATOR_EARLY',
        `${file}: terminating chunk id appears earlier than expected (row ${i} of ${count})`,
        { file, data: { git: 'terminating chunk id appears earlier than expected', row: i } },
      );
    }
    const start = u64(toc, r + 4);
    const end = u64(toc, r + 4 + TOC_ROW_SIZE);
    if (opts.align && start % opts.align !== 0) {
      const git = `chunk id ${id.toString(16)} not ${opts.align}-byte aligned`;
      throw new GitMidxError('CHUNK_UNALIGNED', `${file}: ${git} (offset ${start})`, {
        file,
        data: { git, id, offset: start },
      });
    }
    if (end < start || end > limit) {
      const git = `improper chunk offset(s) ${hex64(toc, r + 4)} and ${hex64(toc, r + 4 + TOC_ROW_SIZE)}`;
      const why =
        end < start
          ? `chunk ${chunkIdName(id)} ends before it starts`
          : `chunk ${chunkIdName(id)} ends past the data (${limit} bytes before the trailer)`;
      throw new GitMidxError('CHUNK_BAD_OFFSETS', `${file}: ${git}: ${why}`, {
        file,
        data: { git, id, start, end },
      });
    }
    if (seen.has(id)) {
      const git = `duplicate chunk ID ${id.toString(16)} found`;
      throw new GitMidxError('CHUNK_DUPLICATE', `${file}: ${git} (${chunkIdName(id)})`, {
        file,
        data: { git, id },
      });
    }
    seen.add(id);
    chunks.push({ id, offset: start, size: end - start });
  }
  const finalId = readU32(toc, count * TOC_ROW_SIZE);
  if (finalId !== 0) {
    const git = `final chunk has non-zero id ${finalId.toString(16)}`;
    throw new GitMidxError('CHUNK_FINAL_NONZERO', `${file}: ${git}`, { file, data: { git, id: finalId } });
  }
  // Beyond Git, after its checks (so that Git's findings come first): no chunk may start inside
  // the header or the table of contents.
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i];
    if (c.offset < tocEnd) {
      const r = i * TOC_ROW_SIZE;
      const git = `improper chunk offset(s) ${hex64(toc, r + 4)} and ${hex64(toc, r + 4 + TOC_ROW_SIZE)}`;
      throw new GitMidxError(
        'CHUNK_BAD_OFFSETS',
        `${file}: ${git}: chunk ${chunkIdName(c.id)} starts inside the header or table of contents`,
        { file, data: { git, id: c.id, start: c.offset, end: c.offset + c.size } },
      );
    }
  }
  return chunks;
}

export function findChunk(chunks: readonly ChunkEntry[], id: number): ChunkEntry | undefined {
  for (const c of chunks) if (c.id === id) return c;
  return undefined;
}

/** A chunk to write: its id, its exact size, and a function that emits exactly that many bytes. */
export interface ChunkWriter {
  readonly id: number;
  readonly size: number;
  write(sink: ByteSink): void;
}

/** Offsets of each chunk and of the terminator, planned from the sizes. */
export function planChunks(headerSize: number, chunks: readonly ChunkWriter[]): number[] {
  const offsets: number[] = [];
  let o = headerSize + (chunks.length + 1) * TOC_ROW_SIZE;
  for (const c of chunks) {
    offsets.push(o);
    o += c.size;
  }
  offsets.push(o);
  return offsets;
}

export function encodeToc(chunks: readonly ChunkWriter[], offsets: readonly number[]): Uint8Array {
  const toc = new Uint8Array((chunks.length + 1) * TOC_ROW_SIZE);
  for (let i = 0; i <= chunks.length; i++) {
    writeU32(toc, i * TOC_ROW_SIZE, i < chunks.length ? chunks[i].id : 0);
    writeU64(toc, i * TOC_ROW_SIZE + 4, offsets[i]);
  }
  return toc;
}

/** Counts what passes through, to check each chunk writer keeps its promise. */
class CountingSink implements ByteSink {
  count = 0;
  constructor(private readonly inner: ByteSink) {}
  write(bytes: Uint8Array): void {
    this.count += bytes.length;
    this.inner.write(bytes);
  }
}

/**
 * Writes header, TOC and chunks to `sink` (plan, then write: every offset is known before the first
 * byte goes out). A chunk writer that emits a different number of bytes than it declared is a bug.
 */
export function writeChunkFile(sink: ByteSink, header: Uint8Array, chunks: readonly ChunkWriter[]): number {
  const offsets = planChunks(header.length, chunks);
  sink.write(header);
  sink.write(encodeToc(chunks, offsets));
  const counter = new CountingSink(sink);
  for (const c of chunks) {
    const before = counter.count;
    c.write(counter);
    const n = counter.count - before;
    if (n !== c.size) {
      throw new Error(`BUG: chunk ${chunkIdName(c.id)} wrote ${n} bytes, declared ${c.size}`);
    }
  }
  return offsets[offsets.length - 1];
}
