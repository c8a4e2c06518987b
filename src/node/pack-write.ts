/**
 * The Node side of writing a pack (spec/objects-format.md §8.4): node:zlib deflate and CRC-32 behind
 * the portable interfaces of src/pack/writer.ts, temporary files in `objects/pack`, and Git's
 * publication order — `.pack` first, `.idx` last (a pack becomes visible when its `.idx` appears),
 * final mode 0444, never clobbering a pack that already has the name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { ByteSink } from '../io.js';
import { type Crc32Function, type Deflater, crc32 as portableCrc32 } from '../pack/writer.js';
import { crypto, zlib } from './builtins.js';
import { createListed, unregisterCleanup } from './cleanup.js';
import { linkInPackDir, packDirPath, removeInPackDir, renameInPackDir } from './packdir.js';
import type { ZlibEngine } from './zlib.js';

/**
 * node:zlib's deflate at `level` (-1 = zlib's default, 6; Git's default for packs, §2.3).
 *
 * One zlib stream serves every object, reset after each: `deflateSync` makes a stream per call,
 * with its few hundred KiB of state, which costs more than deflating a small object does (a pack
 * has thousands). Its output is the same bytes. Where this Node's zlib object lacks the
 * synchronous handle it needs, or the stream fails, `deflateSync` does the work.
 */
export function nodeDeflater(level = -1): Deflater {
  let stream: ZlibEngine | undefined;
  let broken = false;
  let out = new Uint8Array(1 << 16);
  const once = (data: Uint8Array): Uint8Array => {
    const b = zlib().deflateSync(data, { level });
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  };
  return {
    deflate(data) {
      // A large object: a stream of its own costs nothing next to deflating it, and the reused
      // output buffer is not grown to its size (it would be kept).
      if (broken || data.length > REUSED_STREAM_MAX) return once(data);
      if (stream === undefined) {
        const s = zlib().createDeflate({ level }) as unknown as ZlibEngine;
        if (s._handle?.writeSync === undefined || s._writeState === undefined) {
          s.close();
          broken = true;
          return once(data);
        }
        s._handle.onerror = () => {
          broken = true;
        };
        stream = s;
      }
      const handle = stream._handle!;
      const state = stream._writeState!;
      const FINISH = zlib().constants.Z_FINISH;
      // A bound on the output, so that one call mostly finishes (more room is made if not).
      const bound = data.length + (data.length >>> 8) + 64;
      if (out.length < bound) out = new Uint8Array(Math.max(bound, 2 * out.length));
      let inOff = 0;
      let inLen = data.length;
      let produced = 0;
      for (;;) {
        handle.writeSync!(FINISH, data, inOff, inLen, out, produced, out.length - produced);
        if (broken) break;
        const availOut = state[0];
        const availIn = state[1];
        inOff += inLen - availIn;
        inLen = availIn;
        produced = out.length - availOut;
        if (availOut !== 0) break;
        const grown = new Uint8Array(2 * out.length);
        grown.set(out);
        out = grown;
      }
      if (broken) {
        stream.close();
        stream = undefined;
        return once(data);
      }
      stream.reset();
      return out.slice(0, produced);
    },
  };
}

/** Objects up to this size go through `nodeDeflater`'s reused stream; larger ones through deflateSync. */
const REUSED_STREAM_MAX = 8 * 1024 * 1024;

/** node:zlib's CRC-32 where this Node has it (20.15+, 22.2+), else the portable one. */
export const nodeCrc32: Crc32Function = (data, previous = 0) => {
  const z = zlib() as { crc32?: (data: Uint8Array, previous: number) => number };
  return z.crc32 !== undefined ? z.crc32(data, previous) : portableCrc32(data, previous);
};

const TEMP_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A new file `<dir>/<prefix>XXXXXX` (Git's `tmp_pack_`/`tmp_idx_` names), created exclusively with
 * mode 0444 like Git's `odb_mkstemp()`, written through a 1 MiB buffer. `commit()` flushes, fsyncs
 * and closes; `discard()` closes and removes it. Both are safe to call more than once. `dir` is an
 * `objects/pack` directory, and the name a plain name in it (node/packdir.ts): it is created,
 * published and removed there only.
 */
export class TempFile implements ByteSink {
  readonly path: string;
  /** The pack directory and the file's name in it. */
  readonly dir: string;
  readonly name: string;
  private fd: number | undefined;
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  private removed = false;

  private constructor(dir: string, name: string, file: string, fd: number) {
    this.dir = dir;
    this.name = name;
    this.path = file;
    this.fd = fd;
  }

  static create(dir: string, prefix: string): TempFile {
    for (let attempt = 0; ; attempt++) {
      const rnd = crypto().randomBytes(6);
      let name = prefix;
      for (const b of rnd) name += TEMP_CHARS[b % TEMP_CHARS.length];
      const file = packDirPath(dir, name);
      // Listed around the create (src/node/cleanup.ts): a worker stopped right after it still has
      // the file listed.
      try {
        const fd = createListed(file, () => fs.openSync(file, 'wx', 0o444));
        return new TempFile(dir, name, file, fd);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && attempt < 100) continue;
        const git = `unable to create temporary file: ${(e as Error).message}`;
        throw new GitMidxError('IO_ERROR', `${file}: ${git}`, { file, data: { git }, cause: e });
      }
    }
  }

  write(bytes: Uint8Array): void {
    if (this.fd === undefined) throw new Error('BUG: write to a closed temporary file');
    if (bytes.length > this.buf.length - this.used) {
      this.flush();
      if (bytes.length > this.buf.length) {
        this.writeAll(bytes);
        return;
      }
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  private flush(): void {
    if (this.used > 0) {
      this.writeAll(this.buf.subarray(0, this.used));
      this.used = 0;
    }
  }

  private writeAll(bytes: Uint8Array): void {
    let done = 0;
    try {
      while (done < bytes.length) done += fs.writeSync(this.fd!, bytes, done, bytes.length - done);
    } catch (e) {
      throw new GitMidxError('IO_ERROR', `${this.path}: write failed: ${(e as Error).message}`, {
        file: this.path,
        cause: e,
      });
    }
  }

  /** Flushes, fsyncs and closes the file (it stays under its temporary name). */
  commit(): void {
    if (this.fd === undefined) return;
    this.flush();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /** Closes (if open) and removes the file. */
  discard(): void {
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    if (!this.removed) {
      this.removed = true;
      try {
        removeInPackDir(this.dir, this.name);
      } catch {
        // cannot be removed: the temporary stays, as Git's does
      }
      unregisterCleanup(this.path);
    }
  }

  /** Marks the file as moved away (after a rename): `discard()` then leaves the path alone. */
  released(): void {
    this.removed = true;
    unregisterCleanup(this.path);
  }
}

/**
 * Moves a finished temporary file to `target` without replacing an existing file (Git's
 * `finalize_object_file()`: link, then unlink the temporary; an existing target is kept). Returns
 * false when the target already existed (the temporary is removed either way). `target` must be a
 * plain name in the temporary's own pack directory (PACK_DIR_BAD_NAME otherwise).
 */
export function publishFile(tmp: TempFile, target: string): boolean {
  const dir = tmp.dir;
  const name = path.basename(target);
  packDirPath(dir, name); // a plain name in a pack directory, or PACK_DIR_BAD_NAME
  if (path.resolve(dir, name) !== path.resolve(target)) {
    const git = `refusing to publish ${tmp.path} as ${target}: not in ${dir}`;
    throw new GitMidxError('PACK_DIR_BAD_NAME', git, { file: target, data: { git, packDir: dir } });
  }
  try {
    fs.chmodSync(tmp.path, 0o444);
  } catch {
    // created 0444 already; a file system without modes does not matter
  }
  let created = true;
  try {
    created = linkInPackDir(dir, tmp.name, name);
  } catch (e) {
    if (isGitMidxError(e)) throw e;
    if (!fs.existsSync(target)) {
      // No hard links here (some file systems): a rename cannot clobber what does not exist.
      renameInPackDir(dir, tmp.name, name);
      tmp.released();
      return true;
    }
    created = false;
  }
  tmp.discard();
  return created;
}
