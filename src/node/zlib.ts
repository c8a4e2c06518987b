/**
 * node:zlib behind the portable `Inflater` interface, and a convenience opener for `.pack` files.
 *
 * `inflateSync(input, { info: true })` stops at the end of the zlib stream and reports the input
 * bytes it used in `engine.bytesWritten` (style.md), which is how one entry's stream is found inside
 * a larger window of the pack (objects-format.md §2.3).
 */
import { constants as bufferConstants } from 'node:buffer';
import type { PackIndex } from '../pack/idx.js';
import { inflateZlib, inflateZlibExact, inflateZlibPrefix } from '../pack/inflate.js';
import { InflateError, type Inflater, PackFile, type PackFileOptions } from '../pack/pack.js';
import type { InflateStream } from '../pack/stream.js';
import { zlib, zlibLoaded } from './builtins.js';
import { openFileReader } from './fs.js';
import { nodeHash } from './hash.js';

interface InfoResult {
  buffer: Buffer;
  engine: { bytesWritten: number };
}

/** A plain Uint8Array over a Buffer's bytes (so that `.slice()` copies, as it does for Uint8Array). */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function toInflateError(e: unknown, expectedSize: number): InflateError {
  const code = (e as { code?: unknown }).code;
  if (code === 'ERR_BUFFER_TOO_LARGE') {
    return new InflateError(`stream inflates to more than ${expectedSize} bytes`, false, {
      cause: e,
      tooLong: true,
    });
  }
  const message = e instanceof Error ? e.message : String(e);
  // Z_BUF_ERROR from inflateSync: the input ended before the stream did.
  return new InflateError(message, code === 'Z_BUF_ERROR', { cause: e });
}

/**
 * Outputs up to this size are inflated by src/pack/inflate.ts first in `inflate` and
 * `inflatePrefix` (faster than `zlib.inflateSync`, which sets up a handle per call, up to about
 * 1 KB of output, measured by bench/inflate-micro.ts). `inflateExact` reuses one handle instead.
 */
const JS_INFLATE_MAX = 512;
/**
 * Until node:zlib is loaded, outputs up to COLD_JS_MAX go to our decoder too, for COLD_JS_BYTES of
 * output in all: loading node:zlib costs a few milliseconds, which a one-object command (a
 * commit, a tree) would otherwise spend on a few kilobytes. Past that budget, or once node:zlib is
 * loaded, JS_INFLATE_MAX decides again. Not more: after some 20 KB our decoder's loop is hot enough
 * for V8 to optimise it on another thread, and the process then waits for that at its exit (a
 * 35 KB tree printed by `cat-file -p` took 25 ms longer than through node:zlib).
 */
const COLD_JS_MAX = 16 * 1024;
const COLD_JS_BYTES = 24 * 1024;
let coldJsLeft = COLD_JS_BYTES;

/** Whether our decoder takes an output of `size` bytes (see JS_INFLATE_MAX and COLD_JS_MAX). */
function jsFirst(size: number): boolean {
  if (size <= JS_INFLATE_MAX) return true;
  if (size > COLD_JS_MAX || size > coldJsLeft || zlibLoaded()) return false;
  coldJsLeft -= size;
  return true;
}

/** `jsFirst` without the small-output rule: our decoder only while node:zlib is not loaded. */
function jsColdOnly(size: number): boolean {
  if (size > COLD_JS_MAX || size > coldJsLeft || zlibLoaded()) return false;
  coldJsLeft -= size;
  return true;
}

/** Input given to our decoder for a prefix: enough for any delta header. */
const JS_PREFIX_INPUT = 4096;

/** Input tried first by `inflatePrefix`; it grows ×4 while too little comes out. */
const PREFIX_START = 64;

/** Object bytes from this size on are allocated without zeroing (see `allocate`). */
const UNZEROED_MIN = 4096;

export const nodeInflater: Inflater = {
  stream: nodeInflateStream,

  // Memory the reader fills completely before anyone sees it: from 4 KiB on, not zeroed first (its
  // own ArrayBuffer, never a slice of Node's shared pool), seen as a plain Uint8Array like every
  // other object's bytes. Smaller ones stay plain arrays, which V8 keeps on its heap more cheaply.
  allocate: (size: number) =>
    size < UNZEROED_MIN ? new Uint8Array(size) : new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size),

  inflate(input: Uint8Array, expectedSize: number) {
    // Small objects: our own decoder first (node:zlib costs a few µs per call to set up, more
    // than inflating a few hundred bytes). Anything it does not answer — an error, a truncated
    // window, an oversized output — goes to node:zlib, which then gives the exact outcome.
    if (jsFirst(expectedSize)) {
      const r = inflateZlib(input, expectedSize + 1);
      if (r !== undefined) return r;
    }
    // The output may exceed the expected size by one byte before zlib stops us; that is enough
    // to tell "too long" and keeps a lying stream from allocating more.
    const limit = Math.min(Math.max(1, expectedSize + 1), bufferConstants.MAX_LENGTH);
    const chunkSize = Math.min(Math.max(64, expectedSize + 64), 1 << 20);
    let r: InfoResult;
    try {
      r = zlib().inflateSync(input, {
        info: true,
        maxOutputLength: limit,
        chunkSize,
      }) as unknown as InfoResult;
    } catch (e) {
      throw toInflateError(e, expectedSize);
    }
    return { data: plain(r.buffer), consumed: r.engine.bytesWritten };
  },

  inflateExact(input: Uint8Array, start: number, end: number, out: Uint8Array, size: number) {
    // node:zlib through one reused handle, in one call when `out` has a byte of room (scratch
    // memory): that beats our decoder at every size (a bitmap write's trees and commits: 6% of its
    // time). Without room it takes two calls, and our decoder is faster for small outputs (many
    // small blobs through cat-file --batch: 3%). Until node:zlib is loaded, our decoder takes the
    // few kilobytes of a one-object command (COLD_JS_MAX). Anything either does not answer goes
    // to `inflate`, which gives the exact outcome.
    return (out.length > size ? jsColdOnly(size) : jsFirst(size))
      ? inflateZlibExact(input, start, end, out, size)
      : exactEngine(input, start, end, out, size);
  },

  inflatePrefix(input: Uint8Array, want: number) {
    if (want <= JS_INFLATE_MAX) {
      const r = inflateZlibPrefix(
        input.length <= JS_PREFIX_INPUT ? input : input.subarray(0, JS_PREFIX_INPUT),
        want,
      );
      if (r !== undefined && r.length >= want) return r;
    }
    let w = Math.min(input.length, PREFIX_START);
    for (;;) {
      let r: InfoResult;
      try {
        // Z_SYNC_FLUSH: a stream cut short by the window end gives what it has, without an error.
        r = zlib().inflateSync(input.subarray(0, w), {
          info: true,
          finishFlush: zlib().constants.Z_SYNC_FLUSH,
        }) as unknown as InfoResult;
      } catch (e) {
        throw toInflateError(e, want);
      }
      // Enough bytes, the whole input tried, or the stream ended inside the window.
      if (r.buffer.length >= want || w >= input.length || r.engine.bytesWritten < w) return plain(r.buffer);
      w = Math.min(input.length, w * 4);
    }
  },
};

/**
 * The parts of a node:zlib Inflate or Deflate object that its own synchronous functions drive
 * (here, and `nodeDeflater` in src/node/pack-write.ts).
 */
export interface ZlibEngine {
  _handle?: {
    writeSync?(
      flush: number,
      input: Uint8Array,
      inOff: number,
      inLen: number,
      out: Uint8Array,
      outOff: number,
      outLen: number,
    ): void;
    onerror?: (message: string, errno: number, code?: string) => void;
  };
  _writeState?: Uint32Array;
  reset(): void;
  close(): void;
}

const EMPTY = new Uint8Array(0);

/**
 * An incremental, synchronous node:zlib inflater over caller-owned buffers: the native handle's
 * `writeSync`, which `zlib.inflateSync` itself loops over. node:zlib offers no public synchronous
 * form that writes into a given buffer or stops at a given output size; this one has no copies
 * and no output growing with the object.
 */
export function nodeInflateStream(): InflateStream {
  const z = zlib();
  const engine = z.createInflate() as unknown as ZlibEngine;
  const handle = engine._handle;
  const state = engine._writeState;
  if (handle?.writeSync === undefined || state === undefined) {
    engine.close();
    throw new InflateError('this Node.js has no synchronous zlib handle to stream with', false);
  }
  const write = handle.writeSync.bind(handle);
  let failure: InflateError | undefined;
  // Errors are reported through this callback during writeSync (node:zlib would destroy the stream).
  handle.onerror = (message, _errno, code) => {
    failure = new InflateError(message, code === 'Z_BUF_ERROR');
  };
  const SYNC = z.constants.Z_SYNC_FLUSH;
  const FINISH = z.constants.Z_FINISH;
  let closed = false;
  const s = {
    used: 0,
    write(input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number) {
      return run(SYNC, input, inOff, inLen, out, outOff, outLen);
    },
    finish(out: Uint8Array, outOff: number, outLen: number) {
      return run(FINISH, EMPTY, 0, 0, out, outOff, outLen);
    },
    close() {
      if (closed) return;
      closed = true;
      engine.close();
    },
  };
  function run(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): number {
    if (closed) throw new InflateError('inflate stream used after close', false);
    if (failure !== undefined) throw failure;
    write(flush, input, inOff, inLen, out, outOff, outLen);
    if (failure !== undefined) throw failure;
    // [avail_out, avail_in] after the call.
    s.used = inLen - state![1];
    return outLen - state![0];
  }
  return s;
}

/**
 * One node:zlib inflate handle, reset and reused for every `inflateExact` beyond our decoder's
 * sizes: `inflateSync` makes (and tears down) a handle per call, which costs more than inflating a
 * few kilobytes. Dropped after any failure, so that a damaged stream never leaves it in a state
 * the next one would see.
 */
let engine: { engine: ZlibEngine; failed: boolean } | undefined;
const PROBE = new Uint8Array(1);

function exactEngine(input: Uint8Array, start: number, end: number, out: Uint8Array, size: number): number {
  const z = zlib();
  if (engine === undefined) {
    const e = z.createInflate() as unknown as ZlibEngine;
    if (e._handle?.writeSync === undefined || e._writeState === undefined) {
      e.close();
      return -1;
    }
    const holder = { engine: e, failed: false };
    e._handle.onerror = () => {
      holder.failed = true;
    };
    engine = holder;
  }
  const h = engine;
  const handle = h.engine._handle!;
  const state = h.engine._writeState!;
  const FINISH = z.constants.Z_FINISH;
  const inLen = end - start;
  let ended: boolean;
  let used: number;
  if (out.length > size) {
    // Room for one byte more: one call tells it all. The stream must end (its checksum checked)
    // with exactly that byte unused; a longer one fills it, a shorter one or an input that ends
    // first leaves more (zlib then reports "unexpected end of file", as `failed`).
    handle.writeSync!(FINISH, input, start, inLen, out, 0, size + 1);
    ended = state[0] === 1;
    used = inLen - state[1];
  } else {
    handle.writeSync!(FINISH, input, start, inLen, out, 0, size);
    // [avail_out, avail_in] after the call: the whole of `out` filled, and then nothing more (a
    // stream longer than `size`, or one whose end is not in the input, is left to `inflate`).
    const filled = state[0] === 0;
    used = inLen - state[1];
    if (!h.failed && filled) {
      // The stream's end (its checksum may still be in the input): no byte more may come out.
      const rest = inLen - used;
      handle.writeSync!(FINISH, input, start + used, rest, PROBE, 0, 1);
      used += rest - state[1];
    }
    ended = filled && state[0] === 1;
  }
  if (h.failed) {
    engine = undefined;
    h.engine.close();
    return -1;
  }
  h.engine.reset();
  return ended ? used : -1;
}

export interface OpenPackFileOptions extends Partial<PackFileOptions> {
  /** Run Git's open-time checks (default true). */
  validate?: boolean;
}

/**
 * Opens `<pack>.pack` for positioned reads with node:zlib and node:crypto, and (by default) runs
 * Git's validity checks against its index. The file is closed again if they fail.
 */
export function openPackFile(packPath: string, idx: PackIndex, opts: OpenPackFileOptions = {}): PackFile {
  const { validate = true, ...rest } = opts;
  const reader = openFileReader(packPath);
  try {
    const pack = new PackFile(reader, idx, {
      file: packPath,
      hashFn: nodeHash,
      ...rest,
      inflate: rest.inflate ?? nodeInflater,
    });
    if (validate) pack.validate();
    return pack;
  } catch (e) {
    reader.close();
    throw e;
  }
}
