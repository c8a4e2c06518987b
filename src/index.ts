// The portable core: no `node:*` imports below this file. Node-specific entry points live in
// `git-midx/node`.
export { compareBytes, fromHex, toHex } from './bytes.js';
export {
  type ChunkEntry,
  type ChunkWriter,
  chunkId,
  chunkIdName,
  parseToc,
  planChunks,
  writeChunkFile,
} from './chunkfile/chunkfile.js';
export { type ErrorCode, GitMidxError, isGitMidxError } from './errors.js';
export {
  type HashAlgorithm,
  type Hasher,
  type HashFunction,
  hashByFormatId,
  hashByName,
  SHA1,
  SHA256,
} from './hash.js';
export {
  type ByteSink,
  bufferReader,
  PagedReader,
  type PagedReaderOptions,
  type RandomAccessReader,
} from './io.js';
export {
  idxName,
  isFatalMidxError,
  type MidxEntry,
  type MidxLookup,
  type MidxOpenOptions,
  MultiPackIndex,
} from './midx/reader.js';
export {
  type PackIndexLoad,
  VERIFY_TITLES,
  type VerifyMidxOptions,
  type VerifyMidxResult,
  verifyMidx,
} from './midx/verify.js';
export {
  HashingSink,
  type MidxPlan,
  type MidxPlanInput,
  planMidx,
  type WriterPack,
  writeMidx,
} from './midx/writer.js';
export { packNameProblem, plainNameProblem, quoteName } from './names.js';
export { type ApplyDeltaOptions, applyDelta, type DeltaHeader, deltaHeader } from './pack/delta.js';
export { PackIndex, type PackIndexOptions } from './pack/idx.js';
/** Portable zlib inflating for `PackFileOptions.inflate`, in plain TypeScript (no streaming). */
export { jsInflater } from './pack/js-inflater.js';
export {
  DEFAULT_MAX_OBJECT_SIZE,
  InflateError,
  type InflateResult,
  type Inflater,
  type ObjectType,
  objectTypeName,
  type PackEntry,
  PackFile,
  type PackFileOptions,
  type PackObject,
  PackObjectCache,
  type PackObjectInfo,
} from './pack/pack.js';
export {
  BytesObjectStream,
  InflatedObjectStream,
  type InflateProblem,
  InflateReader,
  type InflateReaderOptions,
  type InflateStream,
  type ObjectStream,
} from './pack/stream.js';
export {
  type Crc32Function,
  crc32,
  type Deflater,
  encodeEntryHeader,
  encodeOfsDistance,
  type PackIndexInput,
  PackWriter,
  type PackWriterOptions,
  packIndexSize,
  type WrittenEntry,
  writePackIndex,
} from './pack/writer.js';
export type { Diagnostic, DiagnosticCallback, ProgressCallback, ProgressEvent } from './progress.js';
/** Portable SHA-1 and SHA-256 (a `HashFunction`), in plain TypeScript. */
export { jsHash } from './sha.js';
export {
  type HttpFile,
  type HttpStats,
  type HttpStorage,
  type HttpStorageOptions,
  httpStorage,
} from './storage/http.js';
export { memoryStorage } from './storage/memory.js';
export type { ResidentOptions } from './storage/resident.js';
export {
  type AsyncFile,
  type FileStat,
  joinPath,
  type MaybePromise,
  type Storage,
} from './storage/storage.js';
export {
  AsyncObjectStore,
  type AsyncObjectStoreOptions,
  type AsyncObjectStream,
  objectFormatOf,
} from './store/async-store.js';
export {
  EMPTY_TREE_HEX,
  MIN_ABBREV,
  type ObjectDetails,
  type ObjectInfo,
  ObjectStore,
  type ObjectStoreCounters,
  type ObjectStoreOptions,
  type StoreConfig,
  type StoredObject,
  type StreamObjectOptions,
} from './store/object-store.js';
export { RefStore, type RefStoreOptions, RevisionResolver } from './store/revision.js';
