/**
 * `git-midx [--object-dir=<dir>] [--[no-]progress] <command>`: Git's option names, messages and exit
 * codes (0 success, 1 reported errors, 128 fatal, 129 usage).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { workerThreads } from '../node/builtins.js';
import {
  ownLeftovers,
  pendingCleanup,
  readSharedCleanup,
  setCleanupMirror,
  sharedCleanupBuffer,
  sharedCleanupMirror,
  stopCreates,
} from '../node/cleanup.js';
import { removeInPackDir } from '../node/packdir.js';
import { type DeltaHelperData, runDeltaHelper, setDeltaHelperScript } from '../node/repack-threads.js';
import { catFileCommand } from './commands/cat-file.js';
import { compactCommand } from './commands/compact.js';
import { expireCommand } from './commands/expire.js';
import { lookupCommand } from './commands/lookup.js';
import { repackCommand } from './commands/repack.js';
import { revListCommand } from './commands/rev-list.js';
import { showCommand } from './commands/show.js';
import { verifyCommand } from './commands/verify.js';
import { writeCommand } from './commands/write.js';
import type { CliIO } from './context.js';
import { MoveToWorker } from './context.js';
import { type Command, dispatch, isTerminal, nodeIO, report } from './dispatch.js';
import { parseCommon } from './options.js';

export { type Command, nodeIO, report };

const COMMANDS: Command[] = [
  writeCommand,
  compactCommand,
  revListCommand,
  verifyCommand,
  expireCommand,
  repackCommand,
  showCommand,
  lookupCommand,
  catFileCommand,
];

/** Runs the command `argv` names (any command of the CLI). */
export function main(argv: string[], io: CliIO): Promise<number> {
  return dispatch(argv, io, COMMANDS);
}

/** Commands that create lock or temporary files: run on a worker thread (see `run`). */
const WRITING = new Set(['write', 'expire', 'repack', 'compact']);

/** The signals that end a command, and Git's exit status for each (128 + its number). */
const SIGNALS: ReadonlyArray<readonly [NodeJS.Signals, number]> = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
];

/** The subcommand named by `argv`, or undefined (a usage error, reported by `main`). */
function commandName(argv: string[]): string | undefined {
  try {
    return parseCommon(argv, true).rest[0];
  } catch {
    return undefined;
  }
}

/**
 * Entry point for bin/git-midx.
 *
 * Signals must end every command within a second, from any point. JavaScript signal handlers run
 * only when the event loop turns, which synchronous work never lets it do; so:
 * - a command that only reads installs no handler at all: a signal ends the process at once, as
 *   its default action does (nothing of ours is left to clean up);
 * - a `write` whose indexes are small (smaller still with `--bitmap`) runs on the main thread
 *   with handlers, which act at its turns of the event loop (`runHere`: its synchronous stretches
 *   are short);
 * - every other command that writes (larger writes, `expire`, `repack`,
 *   `compact`) runs on a worker thread while the main thread waits with the handlers. On a signal, the main thread stops the worker (V8 interrupts it
 *   wherever it is), removes the lock and temporary files the worker had registered in shared
 *   memory (src/node/cleanup.ts), and dies by the same signal, as Git does. Every write goes
 *   through a lock file and a rename, so the repository is as it was before, or as after.
 */
export async function run(): Promise<void> {
  const argv = process.argv.slice(2);
  const name = commandName(argv);
  if (name === undefined || !WRITING.has(name)) {
    process.exitCode = await main(argv, nodeIO());
    return;
  }
  if (name === 'write') {
    const here = await runHere(argv);
    if (typeof here === 'number') {
      process.exitCode = here;
      return;
    }
    process.exitCode = await runOnWorker(argv, here);
  } else {
    process.exitCode = await runOnWorker(argv);
  }
  // A signal that came as the worker ended still ends the process by the signal.
  await signalsDelivered();
}

/**
 * Index bytes up to which a plain `write` runs on the main thread: its longest stretch of
 * synchronous work between two turns of the event loop (reading the indexes, planning, writing)
 * then stays well under a second (about a quarter of one for 2,000,000 objects), so the signal
 * handlers below still end it in time; starting a worker would cost more than such a write.
 */
const INLINE_WRITE_MAX_IDX_BYTES = 64 * 1024 * 1024;
/**
 * The same for `write --bitmap` (about 280,000 objects). Its bitmap step turns the event loop
 * between slices of its graph read and of its later phases; what is left in one stretch (the
 * commit walk, tables over every object) stays well under its 0.5 s limit under this bound.
 */
const INLINE_BITMAP_MAX_IDX_BYTES = 8 * 1024 * 1024;

/** Whether the `.idx` files of `objectDir/pack` are small enough for `runHere`. */
function smallEnough(objectDir: string, bitmap: boolean): boolean {
  const limit = bitmap ? INLINE_BITMAP_MAX_IDX_BYTES : INLINE_WRITE_MAX_IDX_BYTES;
  const packDir = path.join(objectDir, 'pack');
  let total = 0;
  try {
    for (const name of fs.readdirSync(packDir)) {
      if (!name.endsWith('.idx')) continue;
      total += fs.statSync(path.join(packDir, name)).size;
      if (total > limit) return false;
    }
  } catch {
    // Unreadable: the worker will say what is wrong.
    return false;
  }
  return true;
}

/**
 * A `write` on the main thread, with signal handlers that remove its lock and temporary files
 * (src/node/cleanup.ts) and die by the signal. They run at the write's turns of the event loop,
 * and once more before the process ends. When the command says it belongs on the worker
 * (`--stdin-packs`, indexes past INLINE_WRITE_MAX_IDX_BYTES, or past INLINE_BITMAP_MAX_IDX_BYTES
 * with `--bitmap`, or a bitmap past its deadline), the handlers stay and the result is the
 * function that removes them: `runOnWorker` calls it once its own are in place, so that no signal
 * falls between the two.
 */
async function runHere(argv: string[]): Promise<number | (() => void)> {
  const handlers = SIGNALS.map(([sig, code]) => {
    const h = () => {
      removeLeftovers(pendingCleanup());
      dieBy(sig, code);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  const release = () => {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
  };
  let moving = false;
  try {
    // Object.assign, not a spread: a spread would ask the lazy `stderrIsTTY` at once.
    return await main(argv, Object.assign(nodeIO(), { inlineWrite: smallEnough }));
  } catch (e) {
    if (!(e instanceof MoveToWorker)) throw e;
    moving = true;
    return release;
  } finally {
    // A signal that came during the last synchronous stretch is acted on before the handlers go
    // (removing the last one would drop it unseen), or before a worker starts for nothing.
    await signalsDelivered();
    if (!moving) release();
  }
}

/**
 * Two turns of the event loop. Node delivers a signal to its handlers when the loop polls for
 * I/O; one turn taken from inside an I/O callback goes straight to the immediates and skips that
 * poll, the second one cannot.
 */
async function signalsDelivered(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Where bin/cli-worker.cjs is, from this module (the bundle in dist/cli, or src/cli under tsx). */
function workerScript(): string {
  const here = import.meta.url.startsWith('file:') ? fileURLToPath(import.meta.url) : import.meta.url;
  return path.resolve(path.dirname(here), '..', '..', 'bin', 'cli-worker.cjs');
}

/**
 * Runs the command on a worker thread while this one waits with the signal handlers; `handOver`
 * removes the handlers of a main-thread attempt (`runHere`) once these are in place.
 */
function runOnWorker(argv: string[], handOver?: () => void): Promise<number> {
  const shared = sharedCleanupBuffer();
  const worker = new (workerThreads().Worker)(workerScript(), {
    workerData: { argv, shared, stderrIsTTY: isTerminal(2) },
    // Output goes straight to descriptors 1 and 2 (nodeIO); the worker's own streams stay unused.
    stdout: false,
    stderr: false,
  });
  return new Promise<number>((resolve) => {
    let status: number | undefined;
    let stopping = false;
    worker.on('message', (m: { status?: number }) => {
      if (typeof m?.status === 'number') status = m.status;
    });
    worker.on('error', (e) => {
      // An error that escaped main(): report it as main would.
      status = report(e, nodeIO());
    });
    worker.on('exit', (code) => {
      // No status posted: the worker ended by process.exit(code) or died on an error already reported.
      if (!stopping) resolve(status ?? code);
    });
    for (const [sig, code] of SIGNALS) {
      process.on(sig, () => {
        if (stopping) return;
        stopping = true;
        const finish = () => {
          removeLeftovers(ownLeftovers(readSharedCleanup(shared)));
          dieBy(sig, code);
        };
        // No create may be half-done when the worker stops (src/node/cleanup.ts): wait out one in
        // progress, and allow no more.
        stopCreates(shared, 200);
        // A worker blocked in a system call cannot be stopped by V8; give it a moment, then go anyway.
        const late = setTimeout(finish, 500);
        void worker.terminate().then(() => {
          clearTimeout(late);
          finish();
        });
      });
    }
    handOver?.();
  });
}

/** Removes the files the worker left (locks and temporary packs: only ever inside objects/pack). */
function removeLeftovers(files: string[]): void {
  for (const f of files) {
    try {
      removeInPackDir(path.dirname(f), path.basename(f));
    } catch {
      // gone already, or not in a pack directory (then not ours to remove)
    }
  }
}

/** Ends the process by `sig` (its default action), or with 128 + its number if that is not possible. */
function dieBy(sig: NodeJS.Signals, code: number): never {
  process.removeAllListeners(sig);
  try {
    process.kill(process.pid, sig);
  } catch {
    // fall through
  }
  process.exit(code);
}

/** Entry point of the worker thread (bin/cli-worker.cjs). */
export async function runWorker(): Promise<void> {
  const { parentPort, workerData } = workerThreads();
  if ((workerData as Partial<DeltaHelperData>)?.kind === 'git-midx-delta-helper') {
    // A helper thread of repack's delta search (src/node/repack-threads.ts), started below.
    runDeltaHelper(workerData as DeltaHelperData, (b, transfer) => parentPort?.postMessage(b, transfer));
    return;
  }
  const data = workerData as { argv: string[]; shared: SharedArrayBuffer; stderrIsTTY: boolean };
  setCleanupMirror(sharedCleanupMirror(data.shared));
  // Helpers run this script too: it loads the bundle through its code cache.
  setDeltaHelperScript(pathToFileURL(workerScript()));
  const io = Object.defineProperty(nodeIO(), 'stderrIsTTY', { value: data.stderrIsTTY });
  let status: number;
  try {
    status = await main(data.argv, io);
  } catch (e) {
    status = report(e, io);
  }
  parentPort?.postMessage({ status });
}
