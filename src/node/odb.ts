/**
 * The object store on Node files: `ObjectStore.open({ objectDir })` finds the repository's hash,
 * reads the alternates as Git does (environment, real paths) and serves everything through
 * src/store/object-store.ts over `nodeStorage()`, with Node's zlib and crypto.
 */
import { constants as bufferConstants } from 'node:buffer';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { type StoreFiles, storeFiles } from '../storage/resident.js';
import { AsyncObjectStore, type AsyncObjectStoreOptions } from '../store/async-store.js';
import {
  ObjectStore as PortableObjectStore,
  type ObjectStoreOptions as StoreOptions,
} from '../store/object-store.js';
import { fileError, isMissingFile } from './fs.js';
import { nodeHash } from './hash.js';
import { type Repository, readAlternates, repositoryForObjectDir } from './repo.js';
import { nodeAsyncStorage, nodeStorage } from './storage.js';
import { nodeInflater } from './zlib.js';

export {
  EMPTY_TREE_HEX,
  MIN_ABBREV,
  type ObjectDetails,
  type ObjectInfo,
  type ObjectStoreCounters,
  type ObjectStream,
  type StoredObject,
  type StreamObjectOptions,
} from '../store/object-store.js';

export interface ObjectStoreOptions extends StoreOptions {
  /**
   * The repository's hash. Default: what the repository the object directory belongs to says
   * (`extensions.objectFormat` in `<objectDir>/../config`, else the repository found from `cwd`,
   * as the CLI's `--object-dir` does), SHA-1 when there is none.
   */
  hash?: HashAlgorithm;
  /** Read `GIT_ALTERNATE_OBJECT_DIRECTORIES` and `info/alternates` (default true). */
  alternates?: boolean;
  /** Environment for `GIT_ALTERNATE_OBJECT_DIRECTORIES` (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths are resolved against (default process.cwd()). */
  cwd?: string;
}

/** The object directory must be a directory: a typo is an error naming it, not an empty store. */
function checkObjectDir(dir: string, shown: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if (!isMissingFile(e)) throw fileError(dir, e, 'unable to access');
  }
  if (st?.isDirectory() !== true) {
    const git = `could not find object directory matching ${shown}`;
    const why = st === undefined ? 'does not exist' : 'is not a directory';
    throw new GitMidxError('OBJECT_DIR_NOT_FOUND', `${git} (${dir} ${why})`, {
      file: dir,
      data: { git },
    });
  }
}

/** The object store of a repository on disk (synchronous; see `AsyncObjectStore` for Promises). */
export class ObjectStore extends PortableObjectStore {
  private constructor(files: StoreFiles, opts: ObjectStoreOptions, hash: HashAlgorithm) {
    super(files, {
      ...opts,
      alternates: false,
      hash,
      inflate: nodeInflater,
      hashFn: nodeHash,
      maxBufferBytes: bufferConstants.MAX_LENGTH,
      rescanOnMiss: true,
    });
  }

  /** Opens the store: reads the alternates, loads each MIDX and lists each pack directory. */
  static open(opts: ObjectStoreOptions): ObjectStore {
    if (typeof opts?.objectDir !== 'string' || opts.objectDir === '') {
      throw new GitMidxError('INVALID_ARGUMENT', 'ObjectStore.open needs objectDir, the object directory');
    }
    const cwd = opts.cwd ?? process.cwd();
    const env = opts.env ?? process.env;
    // Files are reached through the absolute path; messages name the directory as it was given.
    const dir = path.resolve(cwd, opts.objectDir);
    checkObjectDir(dir, opts.objectDir);
    const hash = opts.hash ?? repositoryForObjectDir(dir, { cwd, env }).hash;
    const store = new ObjectStore(storeFiles(nodeStorage()), opts, hash);
    store.start(
      dir,
      opts.objectDir,
      opts.alternates === false ? false : (warn) => readAlternates(dir, env, cwd, warn).dirs,
    );
    return store;
  }

  /** A store for a discovered repository: its object directory, hash and `core.multiPackIndex`. */
  static forRepository(repo: Repository, opts: Partial<Omit<ObjectStoreOptions, 'hash'>> = {}): ObjectStore {
    return ObjectStore.open({
      useMidx: repo.config.getBool('core.multipackindex', true),
      ...opts,
      objectDir: opts.objectDir ?? repo.objectDir,
      hash: repo.hash,
    });
  }
}

/**
 * The object store of a repository on disk through Promises (`fs.promises`: the event loop stays
 * free), with Node's zlib and crypto, alternates read as `ObjectStore.open` reads them.
 */
export async function openAsyncObjectStore(
  opts: ObjectStoreOptions & Pick<AsyncObjectStoreOptions, 'concurrency' | 'sliceMs' | 'storageCache'>,
): Promise<AsyncObjectStore> {
  if (typeof opts?.objectDir !== 'string' || opts.objectDir === '') {
    throw new GitMidxError('INVALID_ARGUMENT', 'openAsyncObjectStore needs objectDir, the object directory');
  }
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const dir = path.resolve(cwd, opts.objectDir);
  checkObjectDir(dir, opts.objectDir);
  const hash = opts.hash ?? repositoryForObjectDir(dir, { cwd, env }).hash;
  const alternates = opts.alternates === false ? false : readAlternates(dir, env, cwd, () => {}).dirs;
  return AsyncObjectStore.open({
    ...opts,
    objectDir: dir,
    storage: nodeAsyncStorage(),
    hash,
    alternates,
    inflate: nodeInflater,
    hashFn: nodeHash,
  });
}
