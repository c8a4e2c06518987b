/**
 * Loose objects (spec/objects-format.md §5): `<objdir>/<2 hex>/<rest>`, one zlib stream of
 * `"<type> <size>\0" + body`.
 *
 * Git's reader rules and wording are kept: a header that cannot be read makes the object count as
 * missing after an `error:` (`object file … is empty`, `unable to unpack … header`,
 * `header for … too long, exceeds 32 bytes`, `unable to parse … header`); an unknown type word and a
 * size past 64 bits are fatal. Unlike git 2.39 (which streams blobs and pads or cuts other objects
 * silently), a body whose length differs from the header, a truncated or corrupt stream, and bytes
 * after the stream are all reported as corruption, never returned.
 */
import { compareBytes, fromHex, toHex, utf8 } from '../bytes.js';
import { allocateObjectBytes, GitMidxError } from '../errors.js';
import type { HashAlgorithm, HashFunction } from '../hash.js';
import type { RandomAccessReader } from '../io.js';
import {
  DEFAULT_MAX_OBJECT_SIZE,
  EAGER_ALLOCATION,
  type Inflater,
  type ObjectType,
  ownedBytes,
} from '../pack/pack.js';
import { BytesObjectStream, InflatedObjectStream, InflateReader, type ObjectStream } from '../pack/stream.js';
import type { StoreFiles } from '../storage/resident.js';

/** The header must end (NUL) within this many inflated bytes (§5). */
export const LOOSE_HEADER_MAX = 32;
/** Compressed bytes read first for a header-only query; a header never needs more in practice. */
const HEADER_READ = 4096;
/** deflate's best ratio is about 1032:1; a header size beyond this for the file's length is a lie. */
const MAX_INFLATE_RATIO = 1032;
/**
 * Loose files up to this size are read whole and inflated in one call; larger ones are inflated a
 * piece at a time, straight into a buffer of the declared size (1× memory) or as a stream.
 */
const WHOLE_FILE_MAX = 1 << 20;
/** Compressed bytes read at a time when a loose object is inflated piece by piece. */
const STREAM_INPUT = 1 << 20;

export interface LooseHeader {
  type: ObjectType;
  size: number;
  /** Bytes of `"<type> <size>\0"`. */
  headerLength: number;
}

export interface LooseObject {
  type: ObjectType;
  size: number;
  data: Uint8Array;
  /** With `streamAbove`, for an object larger than that: its body, to read (`data` is empty). */
  stream?: ObjectStream;
}

/** How loose files are inflated and hashed (Node's zlib and crypto, or the portable ones). */
export interface LooseCodec {
  inflate: Inflater;
  hashFn: HashFunction;
}

export interface LooseReadOptions {
  /** Largest body we agree to build in memory (default 1 GiB); beyond it, `OBJECT_TOO_LARGE`. */
  maxObjectSize?: number;
  /** Check that `"<type> <size>\0" + body` hashes to the id (what `fsck` does; plain reads do not). */
  verifyHash?: boolean;
  /** Called with the number of bytes read from disk. */
  onRead?: (bytes: number) => void;
  /** The path as messages should name it (default: the path read), e.g. relative to the user's cwd. */
  shownAs?: string;
  /** Objects larger than this come back as a stream (`LooseObject.stream`), not read. */
  streamAbove?: number;
  /** Chunk size of such a stream (default 256 KiB). */
  chunkSize?: number;
}

/**
 * `<objectDir>/<xx>/<rest>` for a lowercase hex id, glued the way Git prints it (no normalisation,
 * so a relative object directory stays relative in messages).
 */
export function loosePath(objectDir: string, hex: string): string {
  const dir = objectDir.endsWith('/') ? objectDir : `${objectDir}/`;
  return `${dir}${hex.slice(0, 2)}/${hex.slice(2)}`;
}

/** A hash for calls that do not check one (`verifyHash` unset). */
const HASH_UNUSED: HashAlgorithm = { name: 'sha1', formatId: 1, size: 20, hexSize: 40 };

const TYPES: ReadonlySet<string> = new Set(['commit', 'tree', 'blob', 'tag']);

/**
 * An error for this loose object. `missing: true` is what Git treats as "print the error, then the
 * object is missing"; otherwise Git dies.
 */
function looseError(
  message: string,
  file: string,
  hex: string,
  missing: boolean,
  extra: Record<string, unknown> = {},
  cause?: unknown,
): GitMidxError {
  return new GitMidxError('LOOSE_CORRUPT', `${file}: ${message}`, {
    file,
    data: { git: message, oid: hex, missing, ...extra },
    cause,
  });
}

/**
 * Parses the start of an inflated loose object (§5). Throws LOOSE_CORRUPT: `data.missing` true for
 * `header … too long` and `unable to parse … header`, false for `invalid object type` and sizes
 * beyond 2^53 (Git dies on both; on sizes beyond 2^64 with `size_t overflow`).
 */
export function parseLooseHeader(inflated: Uint8Array, hex: string, file = hex): LooseHeader {
  const limit = Math.min(inflated.length, LOOSE_HEADER_MAX);
  let nul = -1;
  for (let i = 0; i < limit; i++) {
    if (inflated[i] === 0) {
      nul = i;
      break;
    }
  }
  if (nul < 0) {
    throw looseError(`header for ${hex} too long, exceeds ${LOOSE_HEADER_MAX} bytes`, file, hex, true);
  }
  let sp = -1;
  for (let i = 0; i < nul; i++) {
    if (inflated[i] === 0x20) {
      sp = i;
      break;
    }
  }
  const unparsable = () => looseError(`unable to parse ${hex} header`, file, hex, true);
  if (sp < 0) throw unparsable();
  let type = '';
  for (let i = 0; i < sp; i++) type += String.fromCharCode(inflated[i]);
  if (!TYPES.has(type)) throw looseError('invalid object type', file, hex, false, { type });
  // ASCII decimal, no sign, no leading zero except a bare `0`, nothing after it.
  const first = sp + 1;
  if (first >= nul) throw unparsable();
  if (inflated[first] === 0x30 && nul - first > 1) throw unparsable();
  let size = 0;
  for (let i = first; i < nul; i++) {
    const c = inflated[i];
    if (c < 0x30 || c > 0x39) throw unparsable();
    size = size * 10 + (c - 0x30);
  }
  if (!Number.isSafeInteger(size)) {
    throw looseError(`object size in the header of ${hex} is too large`, file, hex, false);
  }
  return { type: type as ObjectType, size, headerLength: nul + 1 };
}

/**
 * Type and size from the header only (the body is not inflated). Returns undefined when there is
 * no such file; throws LOOSE_CORRUPT as `parseLooseHeader` does, plus `object file … is empty` and
 * `unable to unpack … header` (both `missing: true`).
 */
export function readLooseHeader(
  files: StoreFiles,
  file: string,
  hex: string,
  codec: LooseCodec,
  opts: LooseReadOptions = {},
): LooseHeader | undefined {
  const reader = files.open(file);
  if (reader === undefined) return undefined;
  let head: Uint8Array;
  try {
    head = new Uint8Array(Math.min(HEADER_READ, reader.size));
    reader.readInto(head, 0, head.length, 0);
  } finally {
    reader.close();
  }
  opts.onRead?.(head.length);
  return headerOf(head, hex, opts.shownAs ?? file, codec.inflate);
}

/** Inflates just enough of the stream for the header and parses it. */
function headerOf(input: Uint8Array, hex: string, shown: string, inflater: Inflater): LooseHeader {
  if (input.length === 0) throw looseError(`object file ${shown} is empty`, shown, hex, true);
  let prefix: Uint8Array;
  try {
    prefix = inflatePrefix(inflater, input.subarray(0, HEADER_READ), LOOSE_HEADER_MAX);
  } catch (cause) {
    // Git prints zlib's complaint first, then this.
    const why = cause instanceof Error ? cause.message : String(cause);
    throw looseError(
      `unable to unpack ${hex} header`,
      shown,
      hex,
      true,
      { inflate: `inflate: data stream error (${why})` },
      cause,
    );
  }
  return parseLooseHeader(prefix, hex, shown);
}

/**
 * The whole object. Returns undefined when there is no such file. Header problems throw as in
 * `readLooseHeader`; a body that is not exactly the header's size, a corrupt or truncated stream
 * and bytes after the stream throw LOOSE_CORRUPT with `missing: false` and Git's die message
 * `loose object <oid> (stored in <file>) is corrupt` (`data.detail` says what was wrong, in Git's
 * words where it has some). The size is checked against the file's length before inflating.
 */
export function readLooseObject(
  files: StoreFiles,
  file: string,
  hex: string,
  hash: HashAlgorithm,
  codec: LooseCodec,
  opts: LooseReadOptions = {},
): LooseObject | undefined {
  const reader = files.open(file);
  if (reader === undefined) return undefined;
  const shown = opts.shownAs ?? file;
  const max = opts.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE;
  const streamAbove = opts.streamAbove ?? Number.POSITIVE_INFINITY;
  let type: ObjectType;
  let size: number;
  let data: Uint8Array;
  let handedOver = false;
  try {
    // Read whole when small, and (with `streamAbove`) too small to inflate past it; always with
    // an inflater that cannot stream.
    const canStream = codec.inflate.stream !== undefined;
    if (
      !canStream ||
      (reader.size <= WHOLE_FILE_MAX && reader.size * MAX_INFLATE_RATIO + 64 <= streamAbove)
    ) {
      const bytes = new Uint8Array(reader.size);
      reader.readInto(bytes, 0, bytes.length, 0);
      opts.onRead?.(bytes.length);
      ({ type, size, data } = inflateWhole(bytes, hex, shown, max, codec.inflate));
      if (size > streamAbove) {
        return {
          type,
          size,
          data: new Uint8Array(0),
          stream: new BytesObjectStream(type, data, opts.chunkSize ?? 1 << 18),
        };
      }
    } else {
      const r = looseReader(reader, hex, shown, codec.inflate, opts.onRead, () => reader.close());
      type = r.type;
      size = r.inflate.size;
      if (size > streamAbove) {
        handedOver = true;
        const stream = new InflatedObjectStream(type, r.inflate, opts.chunkSize ?? 1 << 18);
        return { type, size, data: new Uint8Array(0), stream };
      }
      try {
        if (size > max) throw tooLarge(shown, hex, size, max);
        data = r.inflate.readAll(EAGER_ALLOCATION, (n) => allocateObjectBytes(n, shown));
        r.inflate.end();
      } finally {
        r.inflate.close();
      }
    }
  } finally {
    if (!handedOver) reader.close();
  }
  if (opts.verifyHash) {
    const hasher = codec.hashFn(hash);
    hasher.update(utf8(`${type} ${size}\0`));
    hasher.update(data);
    checkLooseHash(hasher.digest(), hex, hash, shown);
  }
  return { type, size, data };
}

/** A file read whole: the header, then the body inflated in one call (a small file). */
function inflateWhole(
  input: Uint8Array,
  hex: string,
  shown: string,
  max: number,
  inflater: Inflater,
): LooseObject {
  const h = headerOf(input, hex, shown, inflater);
  if (h.size > max) throw tooLarge(shown, hex, h.size, max);
  if (h.size > input.length * MAX_INFLATE_RATIO + 64) {
    throw corruptLoose(hex, shown, `corrupt loose object '${hex}'`);
  }
  const total = h.headerLength + h.size;
  let out: { data: Uint8Array; consumed: number };
  try {
    out = inflater.inflate(input, total);
  } catch (cause) {
    throw corruptLoose(hex, shown, `corrupt loose object '${hex}'`, cause);
  }
  if (out.data.length !== total) {
    throw corruptLoose(hex, shown, `corrupt loose object '${hex}'`);
  }
  if (out.consumed !== input.length) {
    throw corruptLoose(hex, shown, `garbage at end of loose object '${hex}'`);
  }
  // Small outputs are views into a shared slab: the caller gets bytes of its own.
  return { type: h.type, size: h.size, data: ownedBytes(out.data.subarray(h.headerLength)) };
}

/**
 * Git's die message for a loose object whose body cannot be read (`data.detail`: what was wrong,
 * which Git prints as an error before it dies: `data.errors`).
 */
function corruptLoose(hex: string, shown: string, detail: string, cause?: unknown): GitMidxError {
  return looseError(
    `loose object ${hex} (stored in ${shown}) is corrupt`,
    shown,
    hex,
    false,
    { detail, errors: [detail] },
    cause,
  );
}

function tooLarge(shown: string, hex: string, size: number, limit: number): GitMidxError {
  return new GitMidxError(
    'OBJECT_TOO_LARGE',
    `${shown}: object ${hex} is ${size} bytes, more than the limit of ${limit} bytes`,
    { file: shown, data: { oid: hex, size, limit, role: 'object' } },
  );
}

function checkLooseHash(got: Uint8Array, hex: string, hash: HashAlgorithm, shown: string): void {
  const want = fromHex(hex);
  if (want === undefined || compareBytes(got, 0, want, 0, hash.size) !== 0) {
    throw looseError(`hash mismatch for ${shown} (expected ${hex})`, shown, hex, false, {
      actual: toHex(got),
    });
  }
}

/**
 * The header of an open loose file, and an inflater for its body that reads the file a piece at
 * a time (the body must be exactly the header's size, and the stream must end the file).
 */
function looseReader(
  reader: RandomAccessReader,
  hex: string,
  shown: string,
  inflater: Inflater,
  onRead: ((bytes: number) => void) | undefined,
  onClose?: () => void,
  /** Whether bytes after the zlib stream make the object corrupt (Git's whole read: they do). */
  toEnd = true,
): { type: ObjectType; inflate: InflateReader } {
  const head = new Uint8Array(Math.min(HEADER_READ, reader.size));
  reader.readInto(head, 0, head.length, 0);
  onRead?.(head.length);
  const h = headerOf(head, hex, shown, inflater);
  if (h.size > reader.size * MAX_INFLATE_RATIO + 64) {
    throw corruptLoose(hex, shown, `corrupt loose object '${hex}'`);
  }
  if (inflater.stream === undefined) {
    throw new GitMidxError('INVALID_ARGUMENT', 'the inflater cannot stream (Inflater.stream is missing)');
  }
  const inflate = new InflateReader({
    read: (into, off, len, pos) => {
      reader.readInto(into, off, len, pos);
      onRead?.(len);
    },
    start: 0,
    end: reader.size,
    size: h.size,
    skip: h.headerLength,
    stream: inflater.stream(),
    inputChunk: STREAM_INPUT,
    toEnd,
    onClose,
    fail: (problem, cause) => {
      if (cause instanceof GitMidxError) return cause;
      const detail =
        problem === 'trailing' ? `garbage at end of loose object '${hex}'` : `corrupt loose object '${hex}'`;
      return corruptLoose(hex, shown, detail, cause);
    },
  });
  return { type: h.type, inflate };
}

/**
 * The object as a stream of chunks of at most `chunkSize` bytes, inflated as they are read (memory
 * bounded by the chunk size whatever the object's size), or undefined when there is no such file.
 * Header problems throw as in `readLooseHeader`; the body is checked as `readLooseObject` checks
 * it, by the stream's last `read()`. The file stays open until the stream ends or is closed.
 */
export function openLooseStream(
  files: StoreFiles,
  file: string,
  hex: string,
  codec: LooseCodec,
  opts: {
    chunkSize?: number;
    shownAs?: string;
    onRead?: (bytes: number) => void;
    /** Bytes after the zlib stream are not looked at (see StreamObjectOptions.ignoreTrailingBytes). */
    ignoreTrailingBytes?: boolean;
  } = {},
): ObjectStream | undefined {
  if (codec.inflate.stream === undefined) {
    // An inflater that cannot stream: the object is inflated whole, then served in chunks.
    const o = readLooseObject(files, file, hex, HASH_UNUSED, codec, { ...opts, maxObjectSize: undefined });
    return o === undefined ? undefined : new BytesObjectStream(o.type, o.data, opts.chunkSize ?? 1 << 18);
  }
  const reader = files.open(file);
  if (reader === undefined) return undefined;
  try {
    // The file is closed with the inflater.
    const r = looseReader(
      reader,
      hex,
      opts.shownAs ?? file,
      codec.inflate,
      opts.onRead,
      () => reader.close(),
      opts.ignoreTrailingBytes !== true,
    );
    return new InflatedObjectStream(r.type, r.inflate, opts.chunkSize ?? 1 << 18);
  } catch (e) {
    reader.close();
    throw e;
  }
}

/** Size of the loose file in bytes (`%(objectsize:disk)`), or undefined when there is none. */
export function looseFileSize(files: StoreFiles, file: string): number | undefined {
  return files.stat(file)?.size;
}

/** Whether the loose file exists (Git's `-e` and name-only queries look no further). */
export function hasLooseFile(files: StoreFiles, file: string): boolean {
  return files.stat(file) !== undefined;
}

/**
 * The ids of the loose objects under `objectDir`: names in `<2 hex>/` directories made of
 * `hexSize − 2` lowercase hex digits (others are not objects). Unsorted.
 */
export function listLooseObjects(files: StoreFiles, objectDir: string, hash: HashAlgorithm): string[] {
  const out: string[] = [];
  const top = files.list(objectDir);
  if (top == null) return out;
  const restLen = hash.hexSize - 2;
  for (const d of top) {
    if (d.length !== 2 || !isLowerHex(d)) continue;
    const names = files.list(`${objectDir}/${d}`);
    if (names == null) continue;
    for (const n of names) if (n.length === restLen && isLowerHex(n)) out.push(d + n);
  }
  return out;
}

/** Loose ids starting with `prefix` (lowercase hex, at least 2 digits). */
export function looseIdsWithPrefix(
  files: StoreFiles,
  objectDir: string,
  hash: HashAlgorithm,
  prefix: string,
): string[] {
  const d = prefix.slice(0, 2);
  const rest = prefix.slice(2);
  const restLen = hash.hexSize - 2;
  const names = files.list(`${objectDir}/${d}`);
  if (names == null) return [];
  return names.filter((n) => n.length === restLen && n.startsWith(rest) && isLowerHex(n)).map((n) => d + n);
}

function isLowerHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** The first `want` inflated bytes: the inflater's own prefix call, else its stream, else a whole inflate. */
function inflatePrefix(inflater: Inflater, input: Uint8Array, want: number): Uint8Array {
  if (inflater.inflatePrefix !== undefined) return inflater.inflatePrefix(input, want);
  if (inflater.stream !== undefined) {
    const s = inflater.stream();
    try {
      const out = new Uint8Array(want);
      const n = s.write(input, 0, input.length, out, 0, want);
      return out.subarray(0, n);
    } finally {
      s.close();
    }
  }
  return inflater.inflate(input, Number.MAX_SAFE_INTEGER).data.subarray(0, want);
}
