/**
 * Standard input in blocks of whole lines, so that a command answering a stream of names keeps
 * its memory bounded by the block size whatever the length of the input (`lookup --stdin`,
 * `cat-file --batch*`), and answers a writer that waits for its answers.
 *
 * A block ends after `maxLines` lines, after about `maxBytes` bytes, when the input pauses (a read
 * that returned less than was asked, or "nothing now" on non-blocking stdin: the lines so far are
 * answered before the next read can block) or at the end of the input, where the last line may
 * lack its separator. A single line longer than `maxBytes` is held whole (Git holds it too).
 */
import * as fs from 'node:fs';
import type { CliIO } from './context.js';

/**
 * One read of standard input into `into`: the number of bytes read, 0 at the end of the input, or
 * -1 when non-blocking stdin has nothing now (then `wait()` before reading again).
 */
export interface ChunkSource {
  read(into: Uint8Array): number;
  /** Sleeps a little: what to do after -1 when there is nothing to answer. */
  wait(): void;
}

const WAIT_MS = 5;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Standard input (fd 0) as a ChunkSource: EAGAIN is "nothing now", never the end of the input. */
export function stdinSource(fd = 0): ChunkSource {
  return {
    read(into) {
      for (;;) {
        try {
          return fs.readSync(fd, into, 0, into.length, null);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return -1;
          if (code === 'EINTR') continue;
          // A closed stdin (EBADF) or a hung-up terminal (EIO) has nothing more to give.
          if (code === 'EOF' || code === 'EBADF' || code === 'EIO') return 0;
          throw e;
        }
      }
    },
    wait() {
      Atomics.wait(sleeper, 0, 0, WAIT_MS);
    },
  };
}

/** The whole of a ChunkSource (for the few inputs that are small by nature: pack names). */
export function readAll(src: ChunkSource): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const b = Buffer.allocUnsafe(1 << 16);
    const n = src.read(b);
    if (n === 0) break;
    if (n < 0) {
      src.wait();
      continue;
    }
    parts.push(b.subarray(0, n));
    total += n;
  }
  return Buffer.concat(parts, total);
}

/** A ChunkSource over bytes already in memory (ids given as arguments, tests). */
export function bufferSource(bytes: Uint8Array): ChunkSource {
  let at = 0;
  return {
    read(into) {
      const n = Math.min(into.length, bytes.length - at);
      into.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
    wait() {},
  };
}

/**
 * Standard input of a command: the CliIO's chunked reader, or (an CliIO without one, as tests
 * build) its whole input at once.
 */
export function commandInput(io: CliIO): ChunkSource {
  return io.stdinSource ? io.stdinSource() : bufferSource(io.readStdinBytes());
}

/** Bytes asked for in one read: more than a pipe or socket holds, so a short read means a pause. */
const READ_SIZE = 1 << 20;

export interface LineBlockOptions {
  /** The line separator: 10 (LF) or 0 (NUL, `-z`). */
  sep: number;
  /** Most lines in one block. */
  maxLines: number;
  /** A block ends once it holds at least one line and this many bytes (default 16 MiB). */
  maxBytes?: number;
  /**
   * Answer what has come when the input pauses (default true); false (`--buffer`) reads on until a
   * block is full or the input ends.
   */
  interactive?: boolean;
}

/** Whole lines of a ChunkSource, block by block (see the module comment). */
export class LineBlockReader {
  private buf: Buffer;
  /** Unconsumed bytes are buf[start, end). */
  private start = 0;
  private end = 0;
  /** Separators counted in buf[start, scanned); `lastLineEnd` is just after the last of them. */
  private scanned = 0;
  private lines = 0;
  private lastLineEnd = 0;
  private eof = false;
  private paused = false;
  private readonly sep: number;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly interactive: boolean;

  constructor(
    private readonly src: ChunkSource,
    opts: LineBlockOptions,
  ) {
    this.sep = opts.sep;
    this.maxLines = Math.max(1, opts.maxLines);
    this.maxBytes = opts.maxBytes ?? 1 << 24;
    this.interactive = opts.interactive ?? true;
    this.buf = Buffer.allocUnsafe(READ_SIZE);
  }

  /**
   * The next block: whole lines with their separators (only the input's last line may lack one),
   * or undefined at the end. The view is valid until the next call.
   */
  next(): Buffer | undefined {
    for (;;) {
      this.scan();
      if (this.lines >= this.maxLines || (this.lines > 0 && this.lastLineEnd - this.start >= this.maxBytes)) {
        return this.take(this.lastLineEnd);
      }
      if (this.eof) return this.start < this.end ? this.take(this.end) : undefined;
      if (this.paused && this.lines > 0) return this.take(this.lastLineEnd);
      this.fill();
    }
  }

  /** Counts separators from `scanned`, stopping after the `maxLines`-th or past `maxBytes`. */
  private scan(): void {
    const b = this.buf;
    const sep = this.sep;
    let p = this.scanned;
    while (
      p < this.end &&
      this.lines < this.maxLines &&
      (this.lines === 0 || this.lastLineEnd - this.start < this.maxBytes)
    ) {
      const i = b.indexOf(sep, p);
      if (i < 0 || i >= this.end) {
        p = this.end;
        break;
      }
      p = i + 1;
      this.lines++;
      this.lastLineEnd = p;
    }
    this.scanned = p;
  }

  private take(to: number): Buffer {
    const block = this.buf.subarray(this.start, to);
    this.start = to;
    this.scanned = to;
    this.lastLineEnd = to;
    this.lines = 0;
    this.paused = false;
    return block;
  }

  /** One read into the free space (moving the unconsumed bytes down or growing the buffer first). */
  private fill(): void {
    if (this.buf.length - this.end < READ_SIZE) {
      const live = this.end - this.start;
      // The block handed out last is consumed by now: its bytes may be overwritten.
      const target =
        live + READ_SIZE > this.buf.length ? Buffer.allocUnsafe(2 * (live + READ_SIZE)) : this.buf;
      this.buf.copy(target, 0, this.start, this.end);
      this.buf = target;
      this.scanned -= this.start;
      this.lastLineEnd -= this.start;
      this.start = 0;
      this.end = live;
    }
    const space = this.buf.length - this.end;
    const n = this.src.read(this.buf.subarray(this.end, this.end + Math.min(space, READ_SIZE)));
    if (n === 0) {
      this.eof = true;
      return;
    }
    if (n < 0) {
      // Nothing now: answer what is complete, or wait for more.
      if (this.lines > 0 && this.interactive) this.paused = true;
      else this.src.wait();
      return;
    }
    this.end += n;
    if (this.interactive && n < Math.min(space, READ_SIZE)) this.paused = true;
  }
}
