/**
 * Node file access for the portable core. Every file a repository hands us may be hostile: a FIFO
 * (a blocking open or read would hang), a device (`/dev/zero` never ends), a directory. So every
 * read goes through `openRegularFile`: opened without blocking, checked with `fstat` to be a regular
 * file before the first byte is read, and read no further than the size it had when opened.
 */
import * as fs from 'node:fs';
import { GitMidxError } from '../errors.js';
import type { RandomAccessReader } from '../io.js';

/** Flags for reading: never block on open (a FIFO), never make the file our controlling terminal. */
const READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0);

/** An open regular file: its descriptor and what `fstat` said when it was opened. */
export interface RegularFile {
  fd: number;
  size: number;
  mtimeMs: number;
}

/** What a non-regular file is, in words for a message. */
function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Turns an fs error other than "missing" into a GitMidxError naming the file. */
export function fileError(file: string, e: unknown, doing = 'unable to read'): unknown {
  if (e instanceof GitMidxError || isMissingFile(e)) return e;
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string') return e;
  const reason = errnoText(err);
  return new GitMidxError('IO_ERROR', `${doing} ${file}: ${reason}`, {
    file,
    cause: e,
    data: { errno: err.code, git: `${doing} ${file}: ${reason}` },
  });
}

/** The C library's text for an errno (what Git prints after `strerror`), without Node's decoration. */
export function errnoText(err: NodeJS.ErrnoException): string {
  const known: Record<string, string> = {
    EACCES: 'Permission denied',
    EPERM: 'Operation not permitted',
    EISDIR: 'Is a directory',
    ENOENT: 'No such file or directory',
    ENOTDIR: 'Not a directory',
    ELOOP: 'Too many levels of symbolic links',
    EMFILE: 'Too many open files',
    ENFILE: 'Too many open files in system',
    EIO: 'Input/output error',
    ENAMETOOLONG: 'File name too long',
    EAGAIN: 'Resource temporarily unavailable',
    ENXIO: 'No such device or address',
  };
  return known[err.code ?? ''] ?? err.code ?? String(err.message);
}

/**
 * Opens `file` for reading without blocking and checks that it is a regular file. A FIFO, device,
 * socket or directory is `NOT_REGULAR_FILE`; other failures but "missing" are `IO_ERROR`; a missing
 * file throws Node's ENOENT/ENOTDIR error (see `isMissingFile`). The caller closes `fd`.
 */
export function openRegularFile(file: string): RegularFile {
  let fd: number;
  try {
    fd = fs.openSync(file, READ_FLAGS);
  } catch (e) {
    throw fileError(file, e, 'unable to open');
  }
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw fileError(file, e, 'unable to stat');
  }
  if (!st.isFile()) {
    fs.closeSync(fd);
    const kind = kindOf(st);
    throw new GitMidxError('NOT_REGULAR_FILE', `${file}: is ${kind}, not a regular file`, {
      file,
      data: { kind, git: `${file} is not a regular file` },
    });
  }
  return { fd, size: st.size, mtimeMs: st.mtimeMs };
}

/** Reads `length` bytes at `position` of an open file; a short file is a typed error. */
function readFully(
  fd: number,
  file: string,
  into: Uint8Array,
  offset: number,
  length: number,
  position: number,
) {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = fs.readSync(fd, into, offset + done, length - done, position + done);
    } catch (e) {
      throw fileError(file, e);
    }
    if (n === 0) {
      throw new GitMidxError('IO_ERROR', `${file}: unexpected end of file at ${position + done}`, { file });
    }
    done += n;
  }
}

/**
 * The whole of a regular file, as big as it was when opened (a file that grows while read is cut
 * there; one that shrinks is an error). `maxBytes` refuses a larger file with `FILE_TOO_LARGE`
 * before anything is allocated. Missing files throw Node's ENOENT (see `readFileIfExists`).
 */
export function readRegularFile(file: string, maxBytes = Number.MAX_SAFE_INTEGER): Buffer {
  const f = openRegularFile(file);
  try {
    if (f.size > maxBytes) {
      throw new GitMidxError(
        'FILE_TOO_LARGE',
        `${file}: ${f.size} bytes, more than the ${maxBytes} allowed`,
        {
          file,
          data: { size: f.size, limit: maxBytes },
        },
      );
    }
    const out = Buffer.allocUnsafe(f.size);
    readFully(f.fd, file, out, 0, f.size, 0);
    return out;
  } finally {
    fs.closeSync(f.fd);
  }
}

/**
 * At most `length` bytes from the start of a regular file (fewer when it is shorter): for headers
 * (a loose object's first bytes, a `.git` file's first line).
 */
export function readRegularFilePrefix(file: string, length: number): Buffer {
  const f = openRegularFile(file);
  try {
    const n = Math.min(length, f.size);
    const out = Buffer.allocUnsafe(n);
    readFully(f.fd, file, out, 0, n, 0);
    return out;
  } finally {
    fs.closeSync(f.fd);
  }
}

/** Opens a regular file for positioned reads. Its descriptor is released exactly once by `close()`. */
export function openFileReader(path: string): RandomAccessReader {
  const { fd, size } = openRegularFile(path);
  let open = true;
  return {
    size,
    readInto(into, offset, length, position) {
      if (!open) throw new GitMidxError('MIDX_CLOSED', `${path}: read after close`, { file: path });
      readFully(fd, path, into, offset, length, position);
    },
    close() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}

/** Whether an fs error says the path names nothing: the file, or a directory on the way, is missing. */
export function isMissingFile(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Whole-file read (a regular file only, see `readRegularFile`) that turns a missing file into `undefined`. */
export function readFileIfExists(path: string, maxBytes?: number): Buffer | undefined {
  // A missing file is the common case for some callers (a ref looked for under each of Git's
  // prefixes): a stat that does not throw says so without the cost of an error object. A file
  // that appears between the two calls is simply read; one that goes is missing, as before.
  try {
    if (fs.statSync(path, { throwIfNoEntry: false }) === undefined) return undefined;
  } catch (e) {
    if (isMissingFile(e)) return undefined;
    throw e;
  }
  try {
    return readRegularFile(path, maxBytes);
  } catch (e) {
    if (isMissingFile(e)) return undefined;
    throw e;
  }
}

/** `openFileReader` that turns a missing file into `undefined`. */
export function openFileReaderIfExists(path: string): RandomAccessReader | undefined {
  try {
    return openFileReader(path);
  } catch (e) {
    if (isMissingFile(e)) return undefined;
    throw e;
  }
}

/** Directory entries in raw readdir order (not sorted): Git's pack discovery order (§8.3, §17.4). */
export function readdirRaw(dir: string): string[] {
  const d = fs.opendirSync(dir);
  const names: string[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}
