/**
 * What every build of the CLI shares: finding the command named on the command line, Git's way of
 * reporting errors, and the process's standard streams. The whole CLI is src/cli/main.ts; a bundle
 * of one read-only command (src/cli/bundles/, see bin/cli-loader.cjs) holds only that command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGitMidxError } from '../errors.js';
import { isFatalMidxError } from '../midx/reader.js';
import { tty } from '../node/builtins.js';
import { type CliIO, Exit, type GlobalOptions, MoveToWorker } from './context.js';
import { parseCommon, UsageError } from './options.js';
import { readAll, stdinSource } from './stdin.js';
import { USAGES, usageText } from './usage.js';

export interface Command {
  name: string;
  usage: string;
  run(io: CliIO, global: GlobalOptions, args: string[]): number | Promise<number>;
}

/** Thrown by `dispatch` for a command of the CLI that is not in the bundle running it. */
export class NotInBundle extends Error {
  constructor(readonly command: string) {
    super(`${command} is not in this bundle`);
  }
}

/**
 * Runs the command `argv` names, from `commands`. A command of the CLI that `commands` does not
 * hold (a bundle of one command, asked for another) throws NotInBundle before anything is done.
 */
export async function dispatch(argv: string[], io: CliIO, commands: readonly Command[]): Promise<number> {
  if (argv[0] === '--version' || (argv[0] === 'version' && argv.length === 1)) {
    io.stdout(`git-midx version ${packageVersion()}\n`);
    return 0;
  }
  try {
    const { global, rest, help } = parseCommon(argv, true);
    if (help) {
      io.stdout(usageText());
      return 129;
    }
    if (rest.length === 0) {
      io.stderr(`error: need a subcommand\n${usageText()}`);
      return 129;
    }
    const cmd = commands.find((c) => c.name === rest[0]);
    if (!cmd) {
      if (Object.hasOwn(USAGES, rest[0])) throw new NotInBundle(rest[0]);
      io.stderr(`error: unknown subcommand: \`${rest[0]}'\n${usageText()}`);
      return 129;
    }
    return await cmd.run(io, global, rest.slice(1));
  } catch (e) {
    if (e instanceof MoveToWorker || e instanceof NotInBundle) throw e;
    return report(e, io);
  }
}

/** The package's version, from the package.json two levels above this module (src/cli or dist/cli). */
function packageVersion(): string {
  const here = import.meta.url.startsWith('file:') ? fileURLToPath(import.meta.url) : import.meta.url;
  try {
    const pkg = JSON.parse(
      fs.readFileSync(path.resolve(path.dirname(here), '..', '..', 'package.json'), 'utf8'),
    );
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Prints an error the way Git would and returns the exit status. No stack traces. */
export function report(e: unknown, io: CliIO): number {
  if (e instanceof Exit) return e.status;
  if (e instanceof UsageError) {
    io.stderr(`error: ${e.message}\n${e.usage ? `usage: git-midx [<options>] ${e.usage}\n` : usageText()}`);
    return 129;
  }
  if (isGitMidxError(e)) {
    const text = String(e.data.git ?? e.message);
    // Lines Git prints as errors before it dies (e.g. which object made a walk fail).
    if (Array.isArray(e.data.errors)) for (const line of e.data.errors) io.stderr(`error: ${line}\n`);
    switch (e.code) {
      case 'NO_PACKS':
      case 'PREFERRED_PACK_EMPTY':
      case 'PACK_NOT_FOUND':
      case 'PACK_LOAD_FAILED':
        // (Where Git dies on a pack it cannot load, the error says so.)
        io.stderr(`${e.data.fatal === true ? 'fatal' : 'error'}: ${text}\n`);
        return e.data.fatal === true ? 128 : 1;
      case 'MIDX_NO_REVERSE_INDEX':
        // Only current Git knows layers with bitmaps; it says this and exits with 255.
        io.stderr(`error: ${text}\n`);
        return 255;
      case 'ABORTED':
        // Interrupted by a signal: like Git, say nothing and exit as the signal asks.
        return typeof e.data.reason === 'number' ? e.data.reason : 130;
      default:
        if (e.data.packObjects === true) {
          // Where Git's repack runs pack-objects: that child dies, and repack reports it failed.
          io.stderr(`fatal: ${text}\nerror: could not finish pack-objects\n`);
          return 1;
        }
        if (e.code.startsWith('MIDX_') || e.code.startsWith('CHUNK_')) {
          if (!isFatalMidxError(e.code)) {
            io.stderr(`error: ${text}\n`);
            return 1;
          }
        }
        io.stderr(`fatal: ${text}\n`);
        return 128;
    }
  }
  const err = e as NodeJS.ErrnoException;
  if (process.env.GIT_MIDX_DEBUG) io.stderr(`${err?.stack ?? String(e)}\n`);
  io.stderr(`fatal: ${err?.message ?? String(e)}\n`);
  return 128;
}

export function nodeIO(): CliIO {
  return {
    stdout: (s) => {
      writeFully(1, typeof s === 'string' ? Buffer.from(s) : s);
    },
    // Written with write(2) before the call returns.
    stdoutCopies: true,
    stderr: (s) => {
      writeFully(2, Buffer.from(s));
    },
    readStdin: () => readAll(stdinSource()).toString('utf8'),
    readStdinBytes: () => readAll(stdinSource()),
    stdinSource: () => stdinSource(),
    // Asked of the descriptor, not of process.stderr, whose stream costs milliseconds to create.
    get stderrIsTTY() {
      return isTerminal(2);
    },
    env: process.env,
    cwd: process.cwd(),
  };
}

/**
 * Whether descriptor `fd` is a terminal. Only a character device can be one, and `fstat` says
 * that without node:tty, whose loading (node:net, streams) costs milliseconds: a pipe or a file,
 * what scripts and servers give, is answered at once; a character device (a terminal, or
 * /dev/null) is asked of node:tty.
 */
export function isTerminal(fd: number): boolean {
  try {
    if (!fs.fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return tty().isatty(fd);
}

/** Bytes given to one write(2) at most: Node refuses lengths of 2 GiB and more. */
const WRITE_MAX = 1 << 30;

function writeFully(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) {
    try {
      done += fs.writeSync(fd, b, done, Math.min(WRITE_MAX, b.length - done));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') return;
      throw e;
    }
  }
}

/**
 * The exports of a bundle of read-only commands: `main` over those commands, and `run`, which
 * runs the process's command line and resolves to false, having done nothing, when it names a
 * command the bundle does not hold (bin/cli-loader.cjs then runs the whole CLI).
 */
export function readOnlyEntry(commands: readonly Command[]) {
  return {
    main: (argv: string[], io: CliIO) => dispatch(argv, io, commands),
    nodeIO,
    async run(): Promise<boolean> {
      try {
        process.exitCode = await dispatch(process.argv.slice(2), nodeIO(), commands);
        return true;
      } catch (e) {
        if (e instanceof NotInBundle) return false;
        throw e;
      }
    },
  };
}
