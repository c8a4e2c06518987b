/**
 * The one place that deletes, renames or links files in `<objectDir>/pack`. Names come from files
 * (a MIDX's PNAM chunk) and from our own code; either way they are data, not paths: each is checked
 * again here to be a plain file name directly inside the pack directory (no separator, no NUL, not
 * `.` or `..`, not empty), and the directory itself must be a `pack` directory (or the
 * incremental chain directory `pack/multi-pack-index.d`). Anything else is
 * refused with PACK_DIR_BAD_NAME before the file system is touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import { plainNameProblem, quoteName } from '../names.js';
import { errnoText } from './fs.js';

function refuse(packDir: string, name: string, problem: string): GitMidxError {
  const git = `refusing to touch ${quoteName(name)} in ${packDir}: the name ${problem}`;
  return new GitMidxError('PACK_DIR_BAD_NAME', git, {
    file: packDir,
    data: { git, name, problem },
  });
}

/**
 * `<packDir>/<name>` after checking that `packDir` is a `pack` directory and `name` a plain file
 * name in it; PACK_DIR_BAD_NAME otherwise.
 */
export function packDirPath(packDir: string, name: string): string {
  const abs = path.resolve(packDir);
  // A pack directory, or the incremental chain directory inside one.
  const dir = path.basename(abs) === 'multi-pack-index.d' ? path.dirname(abs) : abs;
  if (path.basename(dir) !== 'pack') {
    throw refuse(packDir, name, 'is not in an objects/pack directory');
  }
  const problem = plainNameProblem(name);
  if (problem !== undefined) throw refuse(packDir, name, problem);
  return path.join(packDir, name);
}

function ioError(file: string, e: unknown, doing: string): GitMidxError {
  const err = e as NodeJS.ErrnoException;
  const git = `${doing} '${file}': ${errnoText(err)}`;
  return new GitMidxError('IO_ERROR', git, { file, cause: e, data: { git, errno: err.code } });
}

/**
 * Removes `<packDir>/<name>`. Returns false when there was nothing to remove; another failure is
 * IO_ERROR (Git's `unable to unlink '…': …`).
 */
export function removeInPackDir(packDir: string, name: string): boolean {
  const file = packDirPath(packDir, name);
  try {
    fs.unlinkSync(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError(file, e, 'unable to unlink');
  }
}

/** Renames `<packDir>/<from>` over `<packDir>/<to>`; IO_ERROR on failure. */
export function renameInPackDir(packDir: string, from: string, to: string): void {
  const src = packDirPath(packDir, from);
  const dst = packDirPath(packDir, to);
  try {
    fs.renameSync(src, dst);
  } catch (e) {
    throw ioError(dst, e, `unable to rename '${src}' to`);
  }
}

/**
 * Hard-links `<packDir>/<from>` as `<toDir>/<to>` (`toDir`: the pack directory, or the chain
 * directory inside it). Returns false when `to` exists already (it is
 * left alone); other failures throw Node's error (the caller decides, e.g. no hard links here).
 */
export function linkInPackDir(packDir: string, from: string, to: string, toDir = packDir): boolean {
  const src = packDirPath(packDir, from);
  const dst = packDirPath(toDir, to);
  try {
    fs.linkSync(src, dst);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}
