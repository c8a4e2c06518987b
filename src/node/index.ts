// The Node adapter: files, hashing, zlib, the lock protocol, repository discovery and config.

export { RefStore, type RefStoreOptions, RevisionResolver } from '../store/revision.js';
export {
  type ConfigEntry,
  type ConfigScope,
  GitConfig,
  loadRepoConfig,
  parseBool,
  parseConfig,
  parseConfigInt,
  readConfigFiles,
} from './config.js';
export {
  type ExpireOptions,
  type ExpirePlan,
  type ExpireResult,
  expireMidx,
  PACK_EXTENSIONS,
  planExpire,
  planExpireChecked,
} from './expire.js';
export { openFileReader, readdirRaw } from './fs.js';
export { nodeHash } from './hash.js';
export { type SyncHttpStorage, type SyncHttpStorageOptions, syncHttpStorage } from './http-sync.js';
export { LockFile, type LockFileOptions, rollbackAllLocks } from './lockfile.js';
export {
  MIDX_NAME,
  midxPath,
  openMidx,
  openMidxFile,
  type WriteMidxOptions,
  type WriteMidxResult,
  writeMidxFile,
} from './midx.js';
export {
  EMPTY_TREE_HEX,
  MIN_ABBREV,
  type ObjectDetails,
  type ObjectInfo,
  ObjectStore,
  type ObjectStoreCounters,
  type ObjectStoreOptions,
  type ObjectStream,
  openAsyncObjectStore,
  type StoredObject,
  type StreamObjectOptions,
} from './odb.js';
export { nodeCrc32, nodeDeflater, publishFile, TempFile } from './pack-write.js';
export { linkInPackDir, packDirPath, removeInPackDir, renameInPackDir } from './packdir.js';
export {
  planRepack,
  type RepackOptions,
  type RepackPackPlan,
  type RepackPackResult,
  type RepackPlan,
  type RepackResult,
  type RepackSkipReason,
  repackMidx,
  repackMidxAsync,
} from './repack.js';
export {
  type Alternates,
  discoverRepository,
  type Repository,
  type RepositoryOptions,
  readAlternates,
  repositoryForObjectDir,
} from './repo.js';
export { nodeAsyncStorage, nodeStorage } from './storage.js';
export { type VerifyMidxFileOptions, type VerifyMidxFileResult, verifyMidxFile } from './verify.js';
export { nodeInflater, nodeInflateStream, type OpenPackFileOptions, openPackFile } from './zlib.js';
