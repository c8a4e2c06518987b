/**
 * Git's lock-file protocol: create `<path>.lock` exclusively, write, fsync, rename over `<path>`.
 * A reader sees the old file or the new one; a failure removes the lock and leaves the old file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import type { ByteSink } from '../io.js';
import { createListed, unregisterCleanup } from './cleanup.js';
import { packDirPath, removeInPackDir, renameInPackDir } from './packdir.js';

const active = new Set<LockFile>();

const LOCK_ADVICE =
  'Another git process seems to be running in this repository, e.g.\n' +
  "an editor opened by 'git commit'. Please make sure all processes\n" +
  'are terminated then try again. If it still fails, a git process\n' +
  'may have crashed in this repository earlier:\n' +
  'remove the file manually to continue.';

export interface LockFileOptions {
  /**
   * The lock is for a file directly inside this `objects/pack` directory (the MIDX): the target is
   * checked to be there (PACK_DIR_BAD_NAME otherwise), and the rename and removal of the lock go
   * through node/packdir.ts.
   */
  packDir?: string;
}

export class LockFile implements ByteSink {
  readonly target: string;
  readonly lockPath: string;
  private readonly packDir: string | undefined;
  private fd: number | undefined;
  private buf: Buffer;
  private used = 0;

  private constructor(target: string, fd: number, lockPath: string, packDir: string | undefined) {
    this.target = target;
    this.lockPath = lockPath;
    this.packDir = packDir;
    this.fd = fd;
    this.buf = Buffer.allocUnsafe(1 << 20);
  }

  /** Takes the lock or throws LOCK_EXISTS with Git's message. */
  static acquire(target: string, options: LockFileOptions = {}): LockFile {
    const abs = path.resolve(target);
    const lockPath = `${abs}.lock`;
    const packDir = options.packDir === undefined ? undefined : path.resolve(options.packDir);
    if (packDir !== undefined) {
      // Both names must be plain names in packDir, and the target must be exactly there.
      const name = path.basename(abs);
      if (packDirPath(packDir, name) !== abs || packDirPath(packDir, `${name}.lock`) !== lockPath) {
        throw new GitMidxError('PACK_DIR_BAD_NAME', `refusing to lock ${abs}: not in ${packDir}`, {
          file: abs,
          data: { git: `refusing to lock ${abs}: not in ${packDir}`, packDir },
        });
      }
    }
    let fd: number;
    // Listed around the create (src/node/cleanup.ts): a worker stopped right after it still has the
    // lock listed, and another process's lock, met here as EEXIST, is never listed as ours.
    try {
      fd = createListed(lockPath, () => fs.openSync(lockPath, 'wx', 0o666));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EEXIST') {
        const git = `Unable to create '${lockPath}': File exists.`;
        throw new GitMidxError('LOCK_EXISTS', `${git}\n\n${LOCK_ADVICE}`, {
          file: lockPath,
          data: { git: `${git}\n\n${LOCK_ADVICE}` },
        });
      }
      const git = `Unable to create '${lockPath}': ${err.message}`;
      throw new GitMidxError('IO_ERROR', git, { file: lockPath, data: { git }, cause: e });
    }
    const lock = new LockFile(abs, fd, lockPath, packDir);
    active.add(lock);
    return lock;
  }

  write(bytes: Uint8Array): void {
    if (this.fd === undefined) throw new Error('BUG: write to a released lock');
    if (bytes.length > this.buf.length - this.used) {
      this.flush();
      if (bytes.length > this.buf.length) {
        writeAll(this.fd, bytes);
        return;
      }
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** Writes out what is buffered (commit does this too). */
  flush(): void {
    if (this.used > 0 && this.fd !== undefined) {
      writeAll(this.fd, this.buf.subarray(0, this.used));
      this.used = 0;
    }
  }

  /** fsync, close and rename into place. */
  commit(): void {
    if (this.fd === undefined) throw new Error('BUG: commit of a released lock');
    try {
      this.flush();
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = undefined;
      if (this.packDir !== undefined) {
        renameInPackDir(this.packDir, path.basename(this.lockPath), path.basename(this.target));
      } else {
        fs.renameSync(this.lockPath, this.target);
      }
      active.delete(this);
      unregisterCleanup(this.lockPath);
    } catch (e) {
      this.rollback();
      throw e;
    }
  }

  /** Closes and removes the lock; the target is untouched. Safe to call more than once. */
  rollback(): void {
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    if (active.delete(this)) {
      try {
        if (this.packDir !== undefined) removeInPackDir(this.packDir, path.basename(this.lockPath));
        else fs.unlinkSync(this.lockPath);
      } catch {
        // gone already
      }
      unregisterCleanup(this.lockPath);
    }
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** Removes every lock this process holds (for signal handlers: interrupted writes leave nothing). */
export function rollbackAllLocks(): void {
  for (const l of [...active]) l.rollback();
}
