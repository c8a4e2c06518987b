/**
 * Node built-ins that most commands never touch (zlib, crypto, worker_threads, tty), loaded on first use: loading them
 * up front costs a few milliseconds on every start of the CLI, which only reads small objects (our
 * own inflater) and hashes nothing on most calls.
 */
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Tty from 'node:tty';
import type * as WorkerThreads from 'node:worker_threads';
import type * as Zlib from 'node:zlib';

let loader: NodeJS.Require | undefined;

/**
 * `require` for the built-ins: the CLI bundle (CommonJS) has its own; an ES module asks node:module
 * for one (on first use: making it costs a fraction of a millisecond at every start).
 */
function load(id: string): unknown {
  loader ??= typeof require === 'function' ? require : createRequire(import.meta.url);
  return loader(id);
}
let zlibModule: typeof Zlib | undefined;
let cryptoModule: typeof Crypto | undefined;
let workersModule: typeof WorkerThreads | undefined;
let ttyModule: typeof Tty | undefined;

/** Whether node:zlib is loaded already. */
export function zlibLoaded(): boolean {
  return zlibModule !== undefined;
}

/** node:zlib. */
export function zlib(): typeof Zlib {
  zlibModule ??= load('node:zlib') as typeof Zlib;
  return zlibModule;
}

/** node:crypto. */
export function crypto(): typeof Crypto {
  cryptoModule ??= load('node:crypto') as typeof Crypto;
  return cryptoModule;
}

/** node:worker_threads (writing commands and synchronous HTTP only). */
export function workerThreads(): typeof WorkerThreads {
  workersModule ??= load('node:worker_threads') as typeof WorkerThreads;
  return workersModule;
}

/** node:tty (whether stderr is a terminal: progress display only; loading it costs ~2 ms). */
export function tty(): typeof Tty {
  ttyModule ??= load('node:tty') as typeof Tty;
  return ttyModule;
}
