/**
 * `git-midx [--object-dir=<dir>] [--[no-]progress] <command>`: Git's option names, messages and exit
 * codes (0 success, 1 reported errors, 128 fatal, 129 usage).
 */
import * as fs from 'node:fs';
import { isGitMidxError } from '../errors.js';
import { isFatalMidxError } from '../midx/reader.js';
import { rollbackAllLocks } from '../node/lockfile.js';
import { catFileCommand } from './commands/cat-file.js';
import { expireCommand } from './commands/expire.js';
import { lookupCommand } from './commands/lookup.js';
import { repackCommand } from './commands/repack.js';
import { showCommand } from './commands/show.js';
import { verifyCommand } from './commands/verify.js';
import { writeCommand } from './commands/write.js';
import { type CliIO, Exit, type GlobalOptions, interrupt } from './context.js';
import { parseCommon, UsageError } from './options.js';
import { readAll, stdinSource } from './stdin.js';

export interface Command {
  name: string;
  usage: string;
  run(io: CliIO, global: GlobalOptions, args: string[]): number | Promise<number>;
}

const COMMANDS: Command[] = [
  writeCommand,
  verifyCommand,
  expireCommand,
  repackCommand,
  showCommand,
  lookupCommand,
  catFileCommand,
];

function usageText(): string {
  const lines = COMMANDS.map((c, i) => `${i === 0 ? 'usage: ' : '   or: '}git-midx [<options>] ${c.usage}`);
  return `${lines.join('\n')}\n\n    --object-dir <directory>\n                          object directory containing set of packfile and pack-index pairs\n    --[no-]progress       force progress reporting\n\n`;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
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
    const cmd = COMMANDS.find((c) => c.name === rest[0]);
    if (!cmd) {
      io.stderr(`error: unknown subcommand: \`${rest[0]}'\n${usageText()}`);
      return 129;
    }
    return await cmd.run(io, global, rest.slice(1));
  } catch (e) {
    return report(e, io);
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
    switch (e.code) {
      case 'NO_PACKS':
      case 'PREFERRED_PACK_EMPTY':
      case 'PACK_NOT_FOUND':
      case 'PACK_LOAD_FAILED':
        io.stderr(`error: ${text}\n`);
        return 1;
      case 'ABORTED':
        // Interrupted by a signal: like Git, say nothing and exit as the signal asks.
        return typeof e.data.reason === 'number' ? e.data.reason : 130;
      default:
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
    stderr: (s) => {
      writeFully(2, Buffer.from(s));
    },
    readStdin: () => readAll(stdinSource()).toString('utf8'),
    readStdinBytes: () => readAll(stdinSource()),
    stdinSource: () => stdinSource(),
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}

function writeFully(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) {
    try {
      done += fs.writeSync(fd, b, done, b.length - done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') return;
      throw e;
    }
  }
}

/** Entry point for bin/git-midx. */
export async function run(): Promise<void> {
  const onSignal = (sig: NodeJS.Signals, status: number) => {
    process.on(sig, () => {
      // A write in progress notices the abort at its next step, removes its lock and keeps the
      // old file; anything else simply stops.
      if (!interrupt.signal.aborted) interrupt.abort(status);
      setTimeout(() => {
        rollbackAllLocks();
        process.exit(status);
      }, 2000).unref();
    });
  };
  onSignal('SIGINT', 130);
  onSignal('SIGTERM', 143);
  onSignal('SIGHUP', 129);
  process.exitCode = await main(process.argv.slice(2), nodeIO());
}
