/**
 * Node files as a `Storage` (src/storage/storage.ts): `nodeStorage()` answers at once (the CLI and
 * the synchronous `ObjectStore`), `nodeAsyncStorage()` through `fs.promises` (the event loop stays
 * free while the disk works). Both read regular files only, as src/node/fs.ts explains.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import type { AsyncFile, FileStat, Storage } from '../storage/storage.js';
import { fileError, isMissingFile, openFileReaderIfExists, readdirRaw, readFileIfExists } from './fs.js';

/** Flags for reading: never block on open (a FIFO), never make the file our controlling terminal. */
const READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0);

function statOf(st: fs.BigIntStats): FileStat {
  return {
    size: Number(st.size),
    mtimeMs: Number(st.mtimeMs),
    identity: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`,
    regular: st.isFile(),
  };
}

/**
 * A directory listing kept while the directory is unchanged. A store lists `objects/pack` again
 * on every miss (as Git does), which costs a `getdents` pass over every file there; a `stat` says
 * whether anything was added, removed or renamed since. An entry changed after the listing gives
 * the directory a modification time at least that of the change, so the same time and inode
 * prove the same entries, provided the time the listing saw was already older than the listing
 * by more than any clock step or timestamp granularity (LISTING_SETTLED_MS, Git's "racy" rule):
 * a directory modified just before it was listed is listed again each time.
 */
interface Listing {
  readonly names: readonly string[];
  readonly stamp: string;
}

const LISTING_SETTLED_MS = 3000;

/** The directory's `stat`; null when nothing is there, undefined when unknown. */
function dirStat(dir: string): FileStat | null | undefined {
  try {
    const st = fs.statSync(dir, { bigint: true, throwIfNoEntry: false });
    return st === undefined ? null : statOf(st);
  } catch {
    return undefined;
  }
}

/** Node's file system, answering at once. Paths are file system paths. */
export function nodeStorage(): Storage {
  const listings = new Map<string, Listing>();
  return {
    name: 'file system',
    remote: false,
    list(dir) {
      const before = Date.now();
      const at = dirStat(dir);
      // A missing directory (most `objects/xx` of a packed repository): no listing to try.
      if (at === null) {
        listings.delete(dir);
        return undefined;
      }
      const known = listings.get(dir);
      if (at !== undefined && known !== undefined && known.stamp === at.identity) return [...known.names];
      try {
        const names = readdirRaw(dir);
        if (at !== undefined && at.mtimeMs < before - LISTING_SETTLED_MS) {
          listings.set(dir, { names, stamp: at.identity });
        } else {
          listings.delete(dir);
        }
        return [...names];
      } catch {
        listings.delete(dir);
        return undefined;
      }
    },
    readFile: (file, maxBytes) => readFileIfExists(file, maxBytes),
    stat(file) {
      try {
        return statOf(fs.statSync(file, { bigint: true }));
      } catch {
        return undefined;
      }
    },
    open: (file) => openFileReaderIfExists(file),
    resolve: (base, relative) => path.resolve(base, relative),
  };
}

/** Node's file system through `fs.promises`: nothing blocks the event loop. */
export function nodeAsyncStorage(): Storage {
  return {
    name: 'file system',
    remote: false,
    async list(dir) {
      try {
        const names: string[] = [];
        for await (const e of await fs.promises.opendir(dir)) names.push(e.name);
        return names;
      } catch {
        return undefined;
      }
    },
    async readFile(file, maxBytes) {
      const f = await openAsync(file);
      if (f === undefined) return undefined;
      try {
        if (f.size > maxBytes) {
          throw new GitMidxError('FILE_TOO_LARGE', `${file}: ${f.size} bytes, more than ${maxBytes}`, {
            file,
            data: { size: f.size, limit: maxBytes },
          });
        }
        return await f.read(0, f.size);
      } finally {
        f.close();
      }
    },
    async stat(file) {
      try {
        return statOf(await fs.promises.stat(file, { bigint: true }));
      } catch {
        return undefined;
      }
    },
    open: (file) => openAsync(file),
    resolve: (base, relative) => path.resolve(base, relative),
  };
}

/** A regular file opened through `fs.promises`, or undefined when it is missing. */
async function openAsync(file: string): Promise<AsyncFile | undefined> {
  let h: fs.promises.FileHandle;
  try {
    h = await fs.promises.open(file, READ_FLAGS);
  } catch (e) {
    if (isMissingFile(e)) return undefined;
    throw fileError(file, e, 'unable to open');
  }
  let st: fs.Stats;
  try {
    st = await h.stat();
  } catch (e) {
    await h.close();
    throw fileError(file, e, 'unable to stat');
  }
  if (!st.isFile()) {
    await h.close();
    throw new GitMidxError('NOT_REGULAR_FILE', `${file}: not a regular file`, {
      file,
      data: { git: `${file} is not a regular file` },
    });
  }
  const size = st.size;
  let open = true;
  return {
    size,
    async read(position, length) {
      if (!open) throw new GitMidxError('MIDX_CLOSED', `${file}: read after close`, { file });
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        let n: number;
        try {
          ({ bytesRead: n } = await h.read(out, done, length - done, position + done));
        } catch (e) {
          throw fileError(file, e);
        }
        if (n === 0) {
          throw new GitMidxError('IO_ERROR', `${file}: unexpected end of file at ${position + done}`, {
            file,
          });
        }
        done += n;
      }
      return out;
    },
    close() {
      if (!open) return;
      open = false;
      h.close().catch(() => {});
    },
  };
}
