/**
 * Inflating one zlib stream piece by piece, with memory bounded by the chunk sizes rather than by
 * the object: whole objects of any size go from the `.pack` or loose file to the caller in chunks
 * (spec/objects-format.md §2.3, §5), or straight into one buffer of their declared size (1×, not
 * the 2× of inflating into growing buffers and joining them).
 *
 * Portable: input comes through a positioned `read` function and inflating through an
 * `InflateStream` (src/node/zlib.ts adapts node:zlib). `InflateReader` performs no I/O of its own
 * beyond calling `read`, so an asynchronous driver can reuse it by handing it a `read` over bytes
 * it fetched beforehand.
 */
import { isPending } from '../storage/resident.js';
import type { ObjectType } from './pack.js';

/** One zlib stream inflated incrementally and synchronously. */
export interface InflateStream {
  /**
   * Inflates from `input[inOff, inOff + inLen)` into `out[outOff, outOff + outLen)` and returns the
   * bytes written; `used` then says how many input bytes were consumed. Once the stream has ended
   * (its Adler-32 checked), nothing more is consumed or written. Throws on corrupt data.
   */
  write(
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): number;
  /** Input bytes consumed by the last `write`. */
  readonly used: number;
  /**
   * There is no more input: throws (preferably an `InflateError` with `truncated: true`) unless the
   * stream has ended; returns the bytes it still wrote to `out` (output the stream still held).
   */
  finish(out: Uint8Array, outOff: number, outLen: number): number;
  /** Releases the stream; safe to call more than once. */
  close(): void;
}

/** What went wrong, for the caller's typed error. */
export type InflateProblem =
  /** The inflater threw (corrupt data, bad Adler-32). */
  | 'corrupt'
  /** The input ended before the stream did. */
  | 'truncated'
  /** The stream ended before `size` bytes. */
  | 'short'
  /** The stream goes on past `size` bytes. */
  | 'long'
  /** Bytes follow the stream where none may (`toEnd`). */
  | 'trailing';

export interface InflateReaderOptions {
  /** Positioned reads of the input (a pack or loose file). */
  read: (into: Uint8Array, offset: number, length: number, position: number) => void;
  /** Where the zlib stream starts. */
  start: number;
  /** Where readable input ends. */
  end: number;
  /** Output bytes the stream must produce after `skip`. */
  size: number;
  /** Leading output bytes dropped first (a loose object's `"<type> <size>\0"`; at most 64). */
  skip?: number;
  stream: InflateStream;
  /** Input read at a time (default 64 KiB). */
  inputChunk?: number;
  /** The stream must end exactly at `end` (a loose file: nothing after it). */
  toEnd?: boolean;
  /** The error to throw for each problem. */
  fail: (problem: InflateProblem, cause?: unknown) => Error;
  /** Called once by `close()`, after the inflater is released (e.g. to close the file). */
  onClose?: () => void;
}

/**
 * Inflates a zlib stream of known output size from positioned reads, in pieces: `fill` writes the
 * next bytes wherever the caller wants them, `end` checks that the stream ends right after them
 * (and, with `toEnd`, that the input does too).
 */
export class InflateReader {
  readonly size: number;
  /** Output bytes delivered so far (after `skip`). */
  done = 0;
  private readonly o: InflateReaderOptions;
  private readonly inBuf: Uint8Array;
  /** Where the next input read starts. */
  private inPos: number;
  /** The unconsumed input in `inBuf`. */
  private inAt = 0;
  private inLen = 0;
  private skip: number;
  private ended = false;
  private closed = false;
  private partial: { out: Uint8Array; off: number; len: number; w: number } | undefined;
  private head: Uint8Array | undefined;

  constructor(o: InflateReaderOptions) {
    this.o = o;
    this.size = o.size;
    this.inPos = o.start;
    this.skip = o.skip ?? 0;
    this.inBuf = new Uint8Array(Math.max(1, Math.min(o.inputChunk ?? 1 << 16, o.end - o.start)));
  }

  /** Reads more input when none is buffered; false when the input is exhausted. */
  private more(): boolean {
    if (this.inLen > 0) return true;
    const n = Math.min(this.inBuf.length, this.o.end - this.inPos);
    if (n <= 0) return false;
    this.o.read(this.inBuf, 0, n, this.inPos);
    this.inPos += n;
    this.inAt = 0;
    this.inLen = n;
    return true;
  }

  /**
   * Output into `out[off, off + len)` until it is full; throws when the stream gives less. When a
   * read of input has to wait (a `Pending` from src/storage/resident.ts), the bytes already written
   * are remembered: the same call made again goes on from there.
   */
  private pull(out: Uint8Array, off: number, len: number): void {
    const s = this.o.stream;
    let w = 0;
    const p = this.partial;
    if (p !== undefined && p.out === out && p.off === off && p.len === len) w = p.w;
    this.partial = undefined;
    while (w < len) {
      let more: boolean;
      try {
        more = this.more();
      } catch (e) {
        this.partial = { out, off, len, w };
        throw e;
      }
      if (!more) {
        let n: number;
        try {
          n = s.finish(out, off + w, len - w);
        } catch (e) {
          throw this.o.fail('truncated', e);
        }
        if (n === 0) throw this.o.fail('short');
        w += n;
        continue;
      }
      let n: number;
      try {
        n = s.write(this.inBuf, this.inAt, this.inLen, out, off + w, len - w);
      } catch (e) {
        throw this.o.fail('corrupt', e);
      }
      const used = s.used;
      this.inAt += used;
      this.inLen -= used;
      // Input left, room left, and nothing happened: the stream has ended.
      if (n === 0 && used === 0) throw this.o.fail('short');
      w += n;
    }
  }

  /**
   * All `size` bytes of the object in one buffer of their own. A declared size is only a claim
   * until the bytes arrive: up to `eager` bytes are allocated at once (1× memory for most objects);
   * beyond that the buffer doubles as the stream actually produces them, so a header that lies
   * costs what the data really inflates to, not what it says.
   */
  readAll(eager: number, alloc: (n: number) => Uint8Array): Uint8Array {
    const size = this.size - this.done;
    let cap = Math.min(size, Math.max(1, eager));
    let out = alloc(cap);
    let got = 0;
    for (;;) {
      this.fill(out, got, cap - got);
      got = cap;
      if (got === size) return out;
      cap = Math.min(size, cap * 2);
      const next = alloc(cap);
      next.set(out);
      out = next;
    }
  }

  /** Writes the next `len` bytes of the object (at most what is left) into `out` at `off`. */
  fill(out: Uint8Array, off: number, len: number): void {
    this.skipHead();
    const n = Math.min(len, this.size - this.done);
    this.pull(out, off, n);
    this.done += n;
  }

  /** Drops the `skip` leading bytes, once. */
  private skipHead(): void {
    if (this.skip === 0) return;
    this.head ??= new Uint8Array(this.skip);
    this.pull(this.head, 0, this.head.length);
    this.skip = 0;
    this.head = undefined;
  }

  /** After all `size` bytes: checks that the stream ends here (and the input with it, `toEnd`). */
  end(): void {
    if (this.ended) return;
    this.skipHead();
    const s = this.o.stream;
    const probe = new Uint8Array(1);
    for (;;) {
      // (`more()` may have to wait; nothing below has changed yet when it does.)
      if (!this.more()) {
        let n: number;
        try {
          n = s.finish(probe, 0, 1);
        } catch (e) {
          throw this.o.fail('truncated', e);
        }
        if (n > 0) throw this.o.fail('long');
        break;
      }
      let n: number;
      try {
        n = s.write(this.inBuf, this.inAt, this.inLen, probe, 0, 1);
      } catch (e) {
        throw this.o.fail('corrupt', e);
      }
      if (n > 0) throw this.o.fail('long');
      const used = s.used;
      this.inAt += used;
      this.inLen -= used;
      if (used === 0) {
        // Ended, with input after it.
        if (this.o.toEnd === true) throw this.o.fail('trailing');
        break;
      }
    }
    this.ended = true;
  }

  /** Releases the inflater (and whatever `onClose` releases); safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.o.stream.close();
    } finally {
      this.o.onClose?.();
    }
  }
}

/** A whole object, streamed: `read()` gives the next chunk until it returns undefined. */
export interface ObjectStream {
  readonly type: ObjectType;
  readonly size: number;
  /**
   * The next chunk (a view, valid until the next `read()`), or undefined at the end, after the
   * size and the end of the zlib stream were checked (a typed error if they are wrong).
   */
  read(): Uint8Array | undefined;
  /** Releases what the stream holds; safe to call more than once, and at any point. */
  close(): void;
}

/** The chunks of an `InflateReader`, `chunkSize` bytes at a time, in one reused buffer. */
export class InflatedObjectStream implements ObjectStream {
  private readonly buf: Uint8Array;
  private closed = false;
  constructor(
    readonly type: ObjectType,
    private readonly reader: InflateReader,
    chunkSize: number,
  ) {
    this.buf = new Uint8Array(Math.max(1, Math.min(chunkSize, reader.size)));
  }
  get size(): number {
    return this.reader.size;
  }
  read(): Uint8Array | undefined {
    if (this.closed) return undefined;
    const r = this.reader;
    if (r.done >= r.size) {
      try {
        r.end();
      } catch (e) {
        if (!isPending(e)) this.close();
        throw e;
      }
      this.close();
      return undefined;
    }
    const n = Math.min(this.buf.length, r.size - r.done);
    try {
      r.fill(this.buf, 0, n);
    } catch (e) {
      // A read that has to wait is asked again later; anything else ends the stream.
      if (!isPending(e)) this.close();
      throw e;
    }
    return this.buf.subarray(0, n);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close();
  }
}

/** An object already in memory (a resolved delta), served as views of `chunkSize` bytes. */
export class BytesObjectStream implements ObjectStream {
  readonly size: number;
  private pos = 0;
  private data: Uint8Array | undefined;
  constructor(
    readonly type: ObjectType,
    data: Uint8Array,
    private readonly chunkSize: number,
  ) {
    this.data = data;
    this.size = data.length;
  }
  read(): Uint8Array | undefined {
    const d = this.data;
    if (d === undefined || this.pos >= d.length) {
      this.data = undefined;
      return undefined;
    }
    const n = Math.min(this.chunkSize, d.length - this.pos);
    const chunk = d.subarray(this.pos, this.pos + n);
    this.pos += n;
    return chunk;
  }
  close(): void {
    this.data = undefined;
  }
}
