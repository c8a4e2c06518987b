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

/** Node's file system, answering at once. Paths are file system paths. */
export function nodeStorage(): Storage {
  return {
    name: 'file system',
    remote: false,
    list(dir) {
      try {
        return readdirRaw(dir);
      } catch {
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
