/** Node file access for the portable core: positioned reads through `fs.readSync`. */
import * as fs from 'node:fs';
import { GitMidxError } from '../errors.js';
import type { RandomAccessReader } from '../io.js';

/** Opens a file for positioned reads. Its descriptor is released exactly once by `close()`. */
export function openFileReader(path: string): RandomAccessReader {
  const fd = fs.openSync(path, 'r');
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  let open = true;
  return {
    size,
    readInto(into, offset, length, position) {
      if (!open) throw new GitMidxError('MIDX_CLOSED', `${path}: read after close`, { file: path });
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, into, offset + done, length - done, position + done);
        if (n === 0) {
          throw new GitMidxError('IO_ERROR', `${path}: unexpected end of file at ${position + done}`, {
            file: path,
          });
        }
        done += n;
      }
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

/** Whole-file read that turns a missing file into `undefined`. */
export function readFileIfExists(path: string): Buffer | undefined {
  try {
    return fs.readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
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
