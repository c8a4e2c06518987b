/**
 * One error class for everything git-midx reports. `code` is stable and closed (tests assert it);
 * `message` names the file and the numbers; `data` carries the same facts for programs.
 */
export type ErrorCode =
  // chunk-file table of contents (spec/midx-format.md §3)
  | 'CHUNK_TOC_TRUNCATED'
  | 'CHUNK_TERMINATOR_EARLY'
  | 'CHUNK_UNALIGNED'
  | 'CHUNK_BAD_OFFSETS'
  | 'CHUNK_DUPLICATE'
  | 'CHUNK_FINAL_NONZERO'
  | 'CHUNK_MISSING'
  | 'CHUNK_WRONG_SIZE'
  // MIDX header and chunk contents (§2, §4, §9)
  | 'MIDX_TOO_SMALL'
  | 'MIDX_BAD_SIGNATURE'
  | 'MIDX_BAD_VERSION'
  | 'MIDX_BAD_HASH_VERSION'
  | 'MIDX_PNAM_TOO_SHORT'
  | 'MIDX_PNAM_ORDER'
  | 'MIDX_BAD_PACK_NAME'
  | 'MIDX_FANOUT_ORDER'
  | 'MIDX_BAD_PACK_ID'
  | 'MIDX_LOFF_BOUNDS'
  | 'MIDX_OID_ORDER'
  | 'MIDX_BAD_OFFSET'
  | 'MIDX_CHECKSUM'
  | 'MIDX_CLOSED'
  // pack index (.idx) (objects-format.md §1)
  | 'IDX_TOO_SMALL'
  | 'IDX_BAD_VERSION'
  | 'IDX_NON_MONOTONIC'
  | 'IDX_BAD_SIZE'
  | 'IDX_LOFF_BOUNDS'
  | 'IDX_OID_ORDER'
  // writing
  | 'NO_PACKS'
  | 'LOCK_EXISTS'
  | 'PREFERRED_PACK_EMPTY'
  | 'PACK_NOT_FOUND'
  | 'PACK_LOAD_FAILED'
  // repository discovery and config (objects-format.md §6)
  | 'NOT_A_REPOSITORY'
  | 'BAD_GITFILE'
  | 'REPO_FORMAT'
  | 'BAD_CONFIG'
  | 'OBJECT_DIR_NOT_FOUND'
  // general
  | 'INVALID_ARGUMENT'
  | 'IO_ERROR'
  | 'NOT_REGULAR_FILE'
  | 'PACK_DIR_BAD_NAME'
  | 'FILE_TOO_LARGE'
  | 'ABORTED'
  /** An HTTP request failed, was refused, or was answered with other bytes than asked for. */
  | 'HTTP_ERROR'
  | 'STORAGE_ASYNC'
  | 'INCREMENTAL_UNSUPPORTED'
  | 'MIDX_BASE_NOT_FOUND'
  | 'COMPACT_REFUSED'
  | 'OBJECT_CORRUPT'
  | 'OBJECT_MISSING'
  | 'BITMAP_CORRUPT'
  | 'BITMAP_CLOSURE'
  /** A layer below a new `--bitmap` layer has no reverse index (RIDX), or a damaged one. */
  | 'MIDX_NO_REVERSE_INDEX'
  // packfile (.pack) and deltas (objects-format.md §2, §3)
  | 'PACK_TOO_SHORT'
  | 'PACK_BAD_SIGNATURE'
  | 'PACK_BAD_VERSION'
  | 'PACK_MISMATCH'
  | 'PACK_BAD_OBJECT'
  | 'PACK_BAD_DELTA'
  | 'PACK_DELTA_CYCLE'
  | 'PACK_INFLATE'
  | 'PACK_HASH_MISMATCH'
  // object store (objects-format.md §5, §6.1)
  | 'OBJECT_AMBIGUOUS'
  // refs and revisions
  | 'REVISION_NOT_FOUND'
  | 'REFS_UNSUPPORTED'
  | 'LOOSE_CORRUPT'
  /** An object (or delta, or delta base) declares more bytes than the limit to build in memory. */
  | 'OBJECT_TOO_LARGE';

export class GitMidxError extends Error {
  override readonly name = 'GitMidxError';
  readonly code: ErrorCode;
  /** The file the problem is in, when there is one. */
  readonly file: string | undefined;
  readonly data: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { file?: string; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = options.file;
    this.data = options.data ?? {};
  }
}

export function isGitMidxError(e: unknown, code?: ErrorCode): e is GitMidxError {
  return e instanceof GitMidxError && (code === undefined || e.code === code);
}

/**
 * `new Uint8Array(size)` for an object's bytes; when the memory cannot be had (V8's RangeError), an
 * `OBJECT_TOO_LARGE` error saying so (`data.role`: 'allocation') instead of the engine's text.
 */
export function allocateObjectBytes(
  size: number,
  file?: string,
  allocate?: (size: number) => Uint8Array,
): Uint8Array {
  try {
    return allocate !== undefined ? allocate(size) : new Uint8Array(size);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new GitMidxError(
      'OBJECT_TOO_LARGE',
      `${file !== undefined ? `${file}: ` : ''}cannot allocate ${size} bytes for an object`,
      { file, data: { size, role: 'allocation' }, cause: e },
    );
  }
}
