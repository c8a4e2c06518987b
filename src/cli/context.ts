/** What every command needs: the object directory, its hash and config, output streams, progress. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { hashByName, SHA1 } from '../hash.js';
import { GitConfig, parseConfig } from '../node/config.js';
import { syncHttpStorage } from '../node/http-sync.js';
import { discoverRepository, repositoryForObjectDir } from '../node/repo.js';
import type { Diagnostic, ProgressCallback } from '../progress.js';
import { type StoreFiles, storeFiles } from '../storage/resident.js';
import { objectFormatOf } from '../store/async-store.js';
import { progressRenderer } from './progress.js';
import type { ChunkSource } from './stdin.js';

export interface CliIO {
  stdout: (s: string | Uint8Array) => void;
  /**
   * True when `stdout` is done with the bytes it is given when it returns (written, or copied):
   * a caller may then fill the same buffer again. Otherwise each call gets bytes of its own.
   */
  stdoutCopies?: boolean;
  stderr: (s: string) => void;
  readStdin: () => string;
  readStdinBytes: () => Buffer;
  /**
   * Standard input read in chunks (src/cli/stdin.ts), for commands that stream it; without it they
   * take `readStdinBytes()` whole.
   */
  stdinSource?: () => ChunkSource;
  stderrIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /**
   * Set when a writing command runs on the main thread (src/cli/main.ts): asked with the object
   * directory once it is known, says whether the write is small enough to stay there; when it is
   * not, the command throws `MoveToWorker` before it has read or written anything.
   */
  inlineWrite?: (objectDir: string, bitmap: boolean) => boolean;
}

/** Thrown by a command told by `CliIO.inlineWrite` to run on the worker thread instead. */
export class MoveToWorker extends Error {
  constructor() {
    super('to be run on the worker thread');
  }
}

export interface Context {
  io: CliIO;
  objectDir: string;
  hash: HashAlgorithm;
  config: GitConfig;
  progress: ProgressCallback | undefined;
  diag: (d: Diagnostic) => void;
  /** The repository's git directory and common directory (refs live there). */
  gitDir?: string;
  commonDir?: string;
  /**
   * A repository served over HTTP (`--git-dir=<url>`): its files, read synchronously; `objectDir`
   * and `gitDir` are then paths relative to the URL.
   */
  remote?: { url: string; files: StoreFiles };
}

/** Thrown to end the process with Git's exit code after the message has been printed. */
export class Exit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

export interface GlobalOptions {
  objectDir?: string;
  /** `--git-dir`: a repository directory, or the http(s) URL of one served as static files. */
  gitDir?: string;
  progress?: boolean;
}

export function makeContext(io: CliIO, g: GlobalOptions, delayed: ReadonlySet<string> = new Set()): Context {
  let objectDir: string;
  let hash: HashAlgorithm;
  let config: GitConfig;
  let gitDir: string | undefined;
  let commonDir: string | undefined;
  if (g.gitDir !== undefined && /^https?:\/\//i.test(g.gitDir)) {
    return remoteContext(io, g, delayed);
  }
  if (g.gitDir !== undefined) {
    // As GIT_DIR: the repository is the directory given.
    const repo = discoverRepository({ cwd: io.cwd, env: { ...io.env, GIT_DIR: g.gitDir } });
    return lazyProgress(
      {
        io,
        objectDir: repo.objectDir,
        hash: repo.hash,
        config: repo.config,
        progress: undefined,
        diag: (d) => io.stderr(`${d.level}: ${d.message}\n`),
        gitDir: repo.gitDir,
        commonDir: repo.commonDir,
      },
      io,
      g,
      delayed,
    );
  }
  if (g.objectDir !== undefined) {
    const dir = path.resolve(io.cwd, g.objectDir);
    if (!isDir(dir)) {
      throw new GitMidxError(
        'OBJECT_DIR_NOT_FOUND',
        `could not find object directory matching ${g.objectDir}`,
        {
          file: dir,
        },
      );
    }
    const repo = repositoryForObjectDir(dir, { cwd: io.cwd, env: io.env });
    objectDir = g.objectDir;
    hash = repo.hash;
    config = repo.config;
  } else {
    const repo = discoverRepository({ cwd: io.cwd, env: io.env });
    objectDir = path.relative(io.cwd, repo.objectDir) || '.';
    if (objectDir.startsWith('..')) objectDir = repo.objectDir;
    hash = repo.hash;
    config = repo.config;
    gitDir = repo.gitDir;
    commonDir = repo.commonDir;
  }
  return lazyProgress(
    {
      io,
      objectDir,
      hash,
      config,
      progress: undefined,
      diag: (d) => io.stderr(`${d.level}: ${d.message}\n`),
      gitDir,
      commonDir,
    },
    io,
    g,
    delayed,
  );
}

/**
 * `ctx` with its `progress` made when first asked for: whether stderr is a terminal is a question
 * that costs milliseconds (node:tty), and commands without progress never ask it.
 */
function lazyProgress(ctx: Context, io: CliIO, g: GlobalOptions, delayed: ReadonlySet<string>): Context {
  let made = false;
  let progress: ProgressCallback | undefined;
  return Object.defineProperty(ctx, 'progress', {
    enumerable: true,
    get() {
      if (!made) {
        made = true;
        progress = progressRenderer({ enabled: g.progress ?? io.stderrIsTTY, write: io.stderr, delayed });
      }
      return progress;
    },
  });
}

/**
 * A repository served as static files: its config says the hash (and `core.multiPackIndex`); its
 * files are read through `syncHttpStorage` (a worker thread does the requests).
 */
function remoteContext(io: CliIO, g: GlobalOptions, delayed: ReadonlySet<string>): Context {
  const url = g.gitDir!.endsWith('/') ? g.gitDir! : `${g.gitDir}/`;
  const files = storeFiles(syncHttpStorage(url));
  const text = files.readFile('config', 1 << 20);
  const config = text === undefined ? new GitConfig() : parseConfig(new TextDecoder().decode(text), 'config');
  const format = objectFormatOf(text === undefined ? '' : new TextDecoder().decode(text));
  const hash = format === undefined ? SHA1 : hashByName(format);
  if (hash === undefined) {
    throw new GitMidxError('INVALID_ARGUMENT', `unknown object format ${format} in ${url}config`);
  }
  return lazyProgress(
    {
      io,
      objectDir: 'objects',
      hash,
      config,
      progress: undefined,
      diag: (d) => io.stderr(`${d.level}: ${d.message}\n`),
      gitDir: '',
      commonDir: '',
      remote: { url, files },
    },
    io,
    g,
    delayed,
  );
}

/**
 * Runs `open` for the MIDX at `file`; when there is none, says so (`error: no multi-pack-index at …`)
 * and returns undefined, for the caller to exit 1.
 */
export async function openMidxOrSay<T>(
  io: CliIO,
  file: string,
  open: () => T | Promise<T>,
): Promise<T | undefined> {
  try {
    return await open();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    io.stderr(`error: no multi-pack-index at ${file}\n`);
    return undefined;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The object directory as git 2.39 names it in verify's messages and in the
 * pack-objects messages of repack (observed): `--object-dir` as its
 * real path; otherwise `.git/objects` from anywhere in a work tree (Git moves to its top),
 * `./objects` at the top of a bare repository, `$GIT_OBJECT_DIRECTORY` as given, else absolute.
 */
export function shownObjectDir(io: CliIO, given: string | undefined, objectDir: string): string {
  if (given !== undefined) {
    try {
      return fs.realpathSync(objectDir);
    } catch {
      return objectDir;
    }
  }
  const env = io.env.GIT_OBJECT_DIRECTORY;
  if (env !== undefined && env !== '') return env;
  try {
    const repo = discoverRepository({ cwd: io.cwd, env: io.env });
    if (io.env.GIT_DIR !== undefined) return objectDir;
    const cwd = fs.realpathSync(io.cwd);
    const gitDir = fs.realpathSync(repo.gitDir);
    const objects = fs.realpathSync(objectDir);
    if (repo.bare)
      return cwd === gitDir && objects === path.join(gitDir, 'objects') ? './objects' : objectDir;
    const top = path.dirname(gitDir);
    const inside = cwd === top || (cwd.startsWith(`${top}/`) && !`${cwd}/`.startsWith(`${gitDir}/`));
    if (path.basename(gitDir) === '.git' && inside && objects === path.join(gitDir, 'objects')) {
      return '.git/objects';
    }
  } catch {
    // keep the absolute path
  }
  return objectDir;
}
