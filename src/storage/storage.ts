/**
 * Where an object store's files come from. The store never touches a file system itself: it asks a
 * `Storage` to list a directory, read a small file, stat a file or open one for positioned reads.
 * Three kinds are shipped: Node files (`git-midx/node`), memory (`memoryStorage`) and static HTTP
 * (`httpStorage`). See docs/architecture.md, "Storage and the async store".
 *
 * Paths are strings joined with `/`, relative to nothing in particular: the store only joins the
 * object directory it was given with names below it (`pack/`, `info/alternates`, `ab/cdef…`).
 */
import type { RandomAccessReader } from '../io.js';

/** What `stat` knows about a file. */
export interface FileStat {
  /** Size in bytes. */
  size: number;
  /** Modification time in milliseconds since the epoch (0 when the storage cannot tell). */
  mtimeMs: number;
  /** Changes whenever the file is replaced (device, inode, size, times); '' when unknown. */
  identity: string;
}

/** A file opened for positioned reads whose reads may take time (a Promise). */
export interface AsyncFile {
  /** Size in bytes. */
  readonly size: number;
  /** `length` bytes at `position` (the range lies within `size`). */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): void;
  /** Bytes from position 0 already read at open, which a cache may keep (at most `size` bytes). */
  readonly prefix?: Uint8Array;
}

/**
 * The storage a store runs on. Every method may answer at once (a value: Node files, memory) or
 * later (a Promise: Node's `fs.promises`, HTTP). A store over a storage that answers later is used
 * through the async API (`AsyncObjectStore`); one that answers at once serves both APIs.
 */
export interface Storage {
  /** Shown in messages and errors (a directory, a URL). */
  readonly name: string;
  /**
   * True when every read costs a round trip (HTTP): the store then reads as little as it can
   * (no sample tables, no whole-table reads, no re-scans on a miss).
   */
  readonly remote: boolean;
  /**
   * The names in a directory in the storage's order, `undefined` when the directory is missing,
   * or `null` when this storage cannot list directories (static HTTP: the store then reads
   * `objects/info/packs`).
   */
  list(dir: string): MaybePromise<string[] | undefined | null>;
  /** A whole small file (at most `maxBytes`, else FILE_TOO_LARGE), `undefined` when it is missing. */
  readFile(path: string, maxBytes: number): MaybePromise<Uint8Array | undefined>;
  /** Size, time and identity of a regular file, `undefined` when it is missing. */
  stat(path: string): MaybePromise<FileStat | undefined>;
  /** A regular file for positioned reads, `undefined` when it is missing. */
  open(path: string): MaybePromise<RandomAccessReader | AsyncFile | undefined>;
  /** The path of `relative` (a line of `info/alternates`) seen from directory `base`. */
  resolve(base: string, relative: string): string;
}

export type MaybePromise<T> = T | Promise<T>;

/** Joins a directory and a name with one `/`. */
export function joinPath(dir: string, name: string): string {
  if (dir === '') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** `a/b/../c` → `a/c` (for storages whose paths are not file system paths). */
export function normalizePath(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
      continue;
    }
    out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}
