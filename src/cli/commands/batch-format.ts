/**
 * The output of `cat-file --batch` and `--batch-check` (src/cli/commands/cat-file.ts): the format
 * compiled once into a BatchLineWriter, which every batch road (lines answered window by window,
 * or one name at a time) calls to print an object's line and, for `--batch`, its contents; and
 * Output, the buffer the lines are written into.
 *
 * Formats are Git's: `%(objectname)`, `%(objecttype)`, `%(objectsize)`, `%(objectsize:disk)`,
 * `%(deltabase)` and `%(rest)`, `%%` for `%`, any other `%` and all other text literal. Literal
 * text is printed as the argument's bytes (UTF-8); names and `%(rest)` as they came on stdin.
 */
import { writeDecimal } from '../../bytes.js';
import type { ObjectStream } from '../../node/odb.js';
import type { CliIO } from '../context.js';

/** A format Git refuses; the message is Git's, after `fatal: `. */
export class FormatError extends Error {}

// The steps of a compiled format.
const TEXT = 0;
const OBJECTNAME = 1;
const OBJECTTYPE = 2;
const OBJECTSIZE = 3;
const OBJECTSIZE_DISK = 4;
const DELTABASE = 5;
const REST = 6;

const ATOMS: Readonly<Record<string, number>> = {
  objectname: OBJECTNAME,
  objecttype: OBJECTTYPE,
  objectsize: OBJECTSIZE,
  'objectsize:disk': OBJECTSIZE_DISK,
  deltabase: DELTABASE,
  rest: REST,
};

/** Parses a format the way Git expands it into steps, and the literal text of each TEXT step. */
function parseFormat(format: string): { steps: number[]; texts: string[] } {
  const steps: number[] = [];
  const texts: string[] = [];
  let text = '';
  const step = (s: number, t: string) => {
    steps.push(s);
    texts.push(t);
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%' || i + 1 >= format.length) {
      text += c;
      continue;
    }
    const n = format[i + 1];
    if (n === '%') {
      text += '%';
      i++;
      continue;
    }
    if (n !== '(') {
      text += c;
      continue;
    }
    const close = format.indexOf(')', i + 2);
    if (close < 0) throw new FormatError(`format element '${format.slice(i + 1)}' does not end in ')'`);
    const name = format.slice(i + 2, close);
    const atom = Object.hasOwn(ATOMS, name) ? ATOMS[name] : undefined;
    if (atom === undefined) throw new FormatError(`unknown format element: ${name}`);
    if (text) step(TEXT, text);
    text = '';
    step(atom, '');
    i = close;
  }
  if (text) step(TEXT, text);
  return { steps, texts };
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Type names by TYPE_NUMBER (src/pack/pack.ts). */
const TYPE_BYTES = ['', 'commit', 'tree', 'blob', 'tag'].map((t) => Buffer.from(t, 'latin1'));
const MISSING = Buffer.from(' missing\n', 'latin1');
const AMBIGUOUS = Buffer.from(' ambiguous\n', 'latin1');

/** Each byte's two lowercase hex digits as one big-endian 16-bit word. */
const HEX_PAIRS = Uint16Array.from({ length: 256 }, (_, v) => (HEX_DIGITS[v >> 4] << 8) | HEX_DIGITS[v & 15]);

/** `src[at, at + len)` in lowercase hex at `p` of the bytes `dv` views; returns the end. */
function hexInto(dv: DataView, p: number, src: Uint8Array, at: number, len: number): number {
  // One 16-bit store per byte (half the stores and lookups of a digit at a time).
  for (let i = at; i < at + len; i++) {
    dv.setUint16(p, HEX_PAIRS[src[i]]);
    p += 2;
  }
  return p;
}

/** The fields a line takes from `ObjectStore.objectDetails`, for `%(objectsize:disk)` and `%(deltabase)`. */
export interface LineDetails {
  readonly diskSize?: number;
  /** The base's id, at `deltaBaseAt` (default 0) in these bytes. */
  readonly deltaBase?: Uint8Array;
  readonly deltaBaseAt?: number;
}

/**
 * A batch format, compiled: what it asks of the store, and the writer of its lines. The default
 * format (`%(objectname) %(objecttype) %(objectsize)`) is written in one go.
 */
export class BatchLineWriter {
  /** The format has `%(rest)`: a name ends at its first space or tab, the rest is kept. */
  readonly usesRest: boolean;
  /** The format has `%(objecttype)` or `%(objectsize)`. */
  readonly needsInfo: boolean;
  /** The format has `%(objectsize:disk)` or `%(deltabase)`. */
  readonly needsDetails: boolean;
  /** The format has `%(objectsize)`. */
  readonly needsSize: boolean;
  private readonly steps: Uint8Array;
  private readonly texts: Buffer[];
  private readonly isDefault: boolean;
  /** Bytes in an id. */
  private readonly H: number;
  /** `%(deltabase)` of an object stored whole. */
  private readonly nullOid: Buffer;

  /** Compiles `format` for ids of `hashSize` bytes; a format Git refuses throws FormatError. */
  constructor(format: string, hashSize: number) {
    const { steps, texts } = parseFormat(format);
    const has = (s: number) => steps.includes(s);
    this.usesRest = has(REST);
    this.needsInfo = has(OBJECTTYPE) || has(OBJECTSIZE);
    this.needsDetails = has(OBJECTSIZE_DISK) || has(DELTABASE);
    this.needsSize = has(OBJECTSIZE);
    this.steps = Uint8Array.from(steps);
    this.texts = texts.map((t) => Buffer.from(t, 'utf8'));
    this.isDefault =
      steps.length === 5 &&
      steps[0] === OBJECTNAME &&
      steps[1] === TEXT &&
      texts[1] === ' ' &&
      steps[2] === OBJECTTYPE &&
      steps[3] === TEXT &&
      texts[3] === ' ' &&
      steps[4] === OBJECTSIZE;
    this.H = hashSize;
    this.nullOid = Buffer.alloc(2 * hashSize, '0', 'latin1');
  }

  /**
   * A present object's line, then, when `contents` is given (its bytes, or a stream read here to
   * its end), those and a newline.
   *
   * @param ids, at  the id, `ids[at, at + H)`
   * @param name, nameAt  unless undefined, the name as it came (`name[nameAt, nameAt + 2H)`),
   *   the id in lowercase hex already: `%(objectname)` copies it instead of encoding the id
   * @param type  TYPE_NUMBER of the object's type (src/pack/pack.ts); unused unless `needsInfo`
   * @param details  unused unless `needsDetails`
   * @param rest  `%(rest)`, a latin1 string (bytes as they came)
   */
  object(
    out: Output,
    ids: Uint8Array,
    at: number,
    name: Uint8Array | undefined,
    nameAt: number,
    type: number,
    size: number,
    details: LineDetails | undefined,
    rest: string,
    contents: Uint8Array | ObjectStream | undefined,
  ): void {
    if (this.isDefault) this.defaultLine(out, ids, at, name, nameAt, TYPE_BYTES[type], size);
    else this.line(out, ids, at, name, nameAt, type, size, details, rest);
    if (contents !== undefined) {
      if (contents instanceof Uint8Array) out.push(contents);
      else out.stream(contents);
      out.pushByte(10);
    }
  }

  /** `<name> missing`: `name` a latin1 string, or the input's bytes `[start, end)`. */
  missing(out: Output, name: string | Uint8Array, start = 0, end = name.length): void {
    this.named(out, name, start, end, MISSING);
  }

  /** `<name> ambiguous` (Git's error and hints are the caller's, before it). */
  ambiguous(out: Output, name: string | Uint8Array, start = 0, end = name.length): void {
    this.named(out, name, start, end, AMBIGUOUS);
  }

  private named(out: Output, name: string | Uint8Array, start: number, end: number, word: Buffer): void {
    if (typeof name === 'string') out.push(name);
    else out.pushBytes(name, start, end);
    out.pushBytes(word, 0, word.length);
  }

  /** `<hex id> <type> <size>\n` straight into the buffer. */
  private defaultLine(
    out: Output,
    ids: Uint8Array,
    at: number,
    name: Uint8Array | undefined,
    nameAt: number,
    type: Uint8Array,
    size: number,
  ): void {
    const H = this.H;
    out.room(2 * H + type.length + 20);
    const b = out.buf;
    let p = out.pos;
    if (name !== undefined) {
      // A short copy: a byte loop beats Buffer.copy's call here.
      for (let i = nameAt; i < nameAt + 2 * H; i++) b[p++] = name[i];
    } else {
      p = hexInto(out.view, p, ids, at, H);
    }
    b[p++] = 32;
    for (let i = 0; i < type.length; i++) b[p++] = type[i];
    b[p++] = 32;
    p = writeDecimal(b, p, size);
    b[p++] = 10;
    out.pos = p;
  }

  /** Any other format, step by step. */
  private line(
    out: Output,
    ids: Uint8Array,
    at: number,
    name: Uint8Array | undefined,
    nameAt: number,
    type: number,
    size: number,
    details: LineDetails | undefined,
    rest: string,
  ): void {
    const H = this.H;
    const steps = this.steps;
    for (let s = 0; s < steps.length; s++) {
      switch (steps[s]) {
        case TEXT: {
          const t = this.texts[s];
          out.pushBytes(t, 0, t.length);
          break;
        }
        case OBJECTNAME:
          if (name !== undefined) out.pushBytes(name, nameAt, nameAt + 2 * H);
          else out.pushHex(ids, at, H);
          break;
        case OBJECTTYPE: {
          const t = TYPE_BYTES[type];
          out.pushBytes(t, 0, t.length);
          break;
        }
        case OBJECTSIZE:
          out.pushNumber(size);
          break;
        case OBJECTSIZE_DISK:
          out.pushNumber(details?.diskSize ?? 0);
          break;
        case DELTABASE: {
          const base = details?.deltaBase;
          if (base !== undefined) out.pushHex(base, details?.deltaBaseAt ?? 0, H);
          else out.pushBytes(this.nullOid, 0, this.nullOid.length);
          break;
        }
        case REST:
          out.push(rest);
          break;
      }
    }
    out.pushByte(10);
  }
}

/**
 * Output collected into large writes: into one buffer, filled again after each write when the
 * output is done with the bytes it is given on return (`CliIO.stdoutCopies`: a write(2)); else
 * a fresh buffer each time, so no write can see it change. (Fresh memory costs a page fault per
 * 4 KiB the first time it is touched: megabytes of output would touch that many fresh pages.)
 * Strings are latin1: names come from stdin decoded as latin1, so they go back out byte for byte.
 */
export class Output {
  private static readonly SIZE = 1 << 20;
  /** The buffer and the end of what it holds (BatchLineWriter writes there after `room`). */
  buf = Buffer.allocUnsafe(Output.SIZE);
  /** `buf` as a DataView (hex digits are written two at a time). */
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  pos = 0;
  /**
   * Whether whatever is pushed is copied or written out before `push` returns (the output's
   * `stdoutCopies`): bytes valid for the moment only can then be pushed as they are.
   */
  readonly sinkCopies: boolean;
  constructor(private readonly io: CliIO) {
    this.sinkCopies = io.stdoutCopies === true;
  }
  push(s: string | Uint8Array): void {
    if (typeof s === 'string') {
      if (this.pos + s.length > this.buf.length) this.flush();
      if (s.length > this.buf.length) {
        // (`pos + length` was past the end, so the buffer was flushed just above.)
        this.io.stdout(Buffer.from(s, 'latin1'));
        return;
      }
      this.pos += this.buf.write(s, this.pos, 'latin1');
      return;
    }
    if (s.length > this.buf.length / 2) {
      // Written as it is, after everything before it: whatever is buffered goes out first.
      this.flush();
      this.io.stdout(s);
      return;
    }
    if (this.pos + s.length > this.buf.length) this.flush();
    this.buf.set(s, this.pos);
    this.pos += s.length;
  }
  /** Room for `n` more bytes in `buf` at `pos` (n at most the buffer size). */
  room(n: number): void {
    if (this.pos + n > this.buf.length) this.flush();
  }
  /** Bytes `[start, end)` of `src`. */
  pushBytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n > this.buf.length) {
      this.push(src.subarray(start, end));
      return;
    }
    this.room(n);
    const b = this.buf;
    let p = this.pos;
    if (n <= 64) {
      for (let i = start; i < end; i++) b[p++] = src[i];
    } else {
      b.set(src.subarray(start, end), p);
      p += n;
    }
    this.pos = p;
  }
  /** `src[at, at + len)` in lowercase hex. */
  pushHex(src: Uint8Array, at: number, len: number): void {
    this.room(2 * len);
    this.pos = hexInto(this.view, this.pos, src, at, len);
  }
  /** A non-negative integer in decimal. */
  pushNumber(v: number): void {
    if (v < 0 || !Number.isSafeInteger(v)) {
      this.push(String(v));
      return;
    }
    this.room(16);
    this.pos = writeDecimal(this.buf, this.pos, v);
  }
  pushByte(c: number): void {
    this.room(1);
    this.buf[this.pos++] = c;
  }

  /** An object's bytes from its stream, after everything buffered. */
  stream(s: ObjectStream): void {
    this.flush();
    for (let c = s.read(); c !== undefined; c = s.read()) this.io.stdout(c);
  }

  flush(): void {
    if (this.pos === 0) return;
    this.io.stdout(this.buf.subarray(0, this.pos));
    this.pos = 0;
    if (this.sinkCopies) return;
    this.buf = Buffer.allocUnsafe(Output.SIZE);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }
}
