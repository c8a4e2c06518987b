/** What every command needs: the object directory, its hash and config, output streams, progress. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import type { GitConfig } from '../node/config.js';
import { discoverRepository, repositoryForObjectDir } from '../node/repo.js';
import type { Diagnostic, ProgressCallback } from '../progress.js';
import { progressRenderer } from './progress.js';
import type { ChunkSource } from './stdin.js';

export interface CliIO {
  stdout: (s: string | Uint8Array) => void;
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
}

/** Thrown to end the process with Git's exit code after the message has been printed. */
export class Exit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

export interface GlobalOptions {
  objectDir?: string;
  progress?: boolean;
}

export function makeContext(io: CliIO, g: GlobalOptions, delayed: ReadonlySet<string> = new Set()): Context {
  let objectDir: string;
  let hash: HashAlgorithm;
  let config: GitConfig;
  let gitDir: string | undefined;
  let commonDir: string | undefined;
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
  const enabled = g.progress ?? io.stderrIsTTY;
  return {
    io,
    objectDir,
    hash,
    config,
    progress: progressRenderer({ enabled, write: io.stderr, delayed }),
    diag: (d) => io.stderr(`${d.level}: ${d.message}\n`),
    gitDir,
    commonDir,
  };
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
