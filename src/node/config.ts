/**
 * Git config files (spec/objects-format.md §6.6) and the layered configuration Git reads
 * (system, global, repository, command line; §6.5).
 *
 * The parser follows what git 2.39 does, checked against `git config -f` (test/repo.test.ts):
 * the whitespace rules, the escapes, the line numbers in `bad config line <n> in file <path>`,
 * booleans, and integers with `k`/`m`/`g` suffixes.
 *
 * `include.path` and `[includeIf "gitdir:…"/"gitdir/i:…"/"onbranch:…"]` are followed as Git
 * follows them, with its depth limit of 10 (and the message Git gives for a cycle). Not supported:
 * `hasconfig:` conditions (never hold), blobs or stdin as config sources.
 *
 * Time and memory are linear in the file: the parser works on the file's bytes, and a GitConfig
 * keeps plain values as ranges of them (see GitConfig).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import { isMissingFile, readFileIfExists, readRegularFile } from './fs.js';

/** Where a value came from, in Git's reading order. `file` = a lone file given to parseConfig. */
export type ConfigScope = 'system' | 'global' | 'local' | 'worktree' | 'command' | 'file';

export interface ConfigEntry {
  /** Canonical name: section and key lowercase, subsection as written (`remote.Origin.url`). */
  readonly key: string;
  /** null = a bare `name` line with no `=`, which as a boolean means true. */
  readonly value: string | null;
  readonly scope: ConfigScope;
  /** The file the value is in (absent for command-line values). */
  readonly file?: string;
  /** 1-based line where the value ends (a continued value ends on a later line than it starts). */
  readonly line?: number;
}

/** A key as Git canonicalises it for lookups: section and key lowercase, subsection kept. */
function lookupKey(key: string): string {
  const first = key.indexOf('.');
  const last = key.lastIndexOf('.');
  if (first < 0 || first === last) return key.toLowerCase();
  return key.slice(0, first).toLowerCase() + key.slice(first, last) + key.slice(last).toLowerCase();
}

/** Where the entries of one stretch of a GitConfig come from. */
interface Source {
  scope: ConfigScope;
  file: string | undefined;
  /** The file's bytes: values that are a plain range of it are kept as that range. */
  text: Buffer | undefined;
}

/**
 * An ordered list of config values; the last value of a key wins (§6.6).
 *
 * Kept compact, so that memory grows with the file and not with a multiple of it: one interned
 * string per distinct key, and per entry a few numbers in typed arrays. A value that is a plain
 * range of its file (the common case: no quotes, escapes, comments or tabs) is kept as that range
 * of the file's bytes and decoded when asked for; others are kept as strings.
 */
export class GitConfig {
  private readonly keys: string[] = [];
  private readonly keyIds = new Map<string, number>();
  /** The last entry of each key, -1 none. */
  private lastOf = new Int32Array(8).fill(-1);
  private count = 0;
  private keyOf = new Int32Array(16);
  /** >= 0: start of the value in the source's text; -1: no value (a bare key); <= -2: strings[-2 - v]. */
  private valueStart = new Int32Array(16);
  private valueEnd = new Int32Array(16);
  private lineOf = new Int32Array(16);
  private sourceOf = new Int32Array(16);
  private readonly sources: Source[] = [];
  private readonly strings: string[] = [];

  constructor(entries: Iterable<ConfigEntry> = []) {
    for (const e of entries) this.push(e);
  }

  /** Concatenates configurations; values of later ones win. */
  static merge(...configs: GitConfig[]): GitConfig {
    const out = new GitConfig();
    for (const c of configs) out.append(c);
    return out;
  }

  /** Appends every entry of `other`, values kept as they are stored (nothing is decoded). */
  append(other: GitConfig): void {
    let lastSource = -1;
    let src = -1;
    for (let i = 0; i < other.count; i++) {
      const o = other.sourceOf[i];
      if (o !== lastSource) {
        const s = other.sources[o];
        src = this.sourceFor(s.scope, s.file, s.text);
        lastSource = o;
      }
      const vs = other.valueStart[i];
      const key = other.keys[other.keyOf[i]];
      if (vs < -1) this.addString(key, other.strings[-2 - vs], other.lineOf[i], src);
      else this.add(key, vs, other.valueEnd[i], other.lineOf[i], src);
    }
  }

  /** The entries in reading order, as objects (made on each call: prefer `each()` for a large config). */
  get entries(): readonly ConfigEntry[] {
    return [...this.each()];
  }

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /**
   * The entries in reading order, one object at a time; with `keep`, only those whose key and
   * scope it accepts (the others cost no object and no decoding).
   */
  *each(keep?: (key: string, scope: ConfigScope) => boolean): IterableIterator<ConfigEntry> {
    for (let i = 0; i < this.count; i++) {
      if (keep === undefined || keep(this.keys[this.keyOf[i]], this.sources[this.sourceOf[i]].scope)) {
        yield this.entryAt(i);
      }
    }
  }

  /** Appends an entry. */
  push(e: ConfigEntry): void {
    const src = this.sourceFor(e.scope, e.file, undefined);
    const v = e.value === null ? -1 : -2 - this.strings.push(e.value) + 1;
    this.add(e.key, v, 0, e.line ?? 0, src);
  }

  /** @internal The source index for entries read from `file` (the last one, when it is the same). */
  sourceFor(scope: ConfigScope, file: string | undefined, text: Buffer | undefined): number {
    const last = this.sources.length - 1;
    const s = this.sources[last];
    if (s !== undefined && s.scope === scope && s.file === file && s.text === text) return last;
    return this.sources.push({ scope, file, text }) - 1;
  }

  /** @internal Appends an entry whose value is `text[start, end)` of its source (or -1: none). */
  addRange(key: string, start: number, end: number, line: number, src: number): void {
    this.add(key, start, end, line, src);
  }

  /** @internal Appends an entry with a value that is not a range of the file. */
  addString(key: string, value: string, line: number, src: number): void {
    this.add(key, -2 - this.strings.push(value) + 1, 0, line, src);
  }

  private add(key: string, vs: number, ve: number, line: number, src: number): void {
    let id = this.keyIds.get(key);
    if (id === undefined) {
      id = this.keys.push(key) - 1;
      this.keyIds.set(key, id);
      if (id >= this.lastOf.length) this.lastOf = grow(this.lastOf, -1);
    }
    const i = this.count;
    if (i === this.keyOf.length) {
      this.keyOf = grow(this.keyOf, 0);
      this.valueStart = grow(this.valueStart, 0);
      this.valueEnd = grow(this.valueEnd, 0);
      this.lineOf = grow(this.lineOf, 0);
      this.sourceOf = grow(this.sourceOf, 0);
    }
    this.keyOf[i] = id;
    this.valueStart[i] = vs;
    this.valueEnd[i] = ve;
    this.lineOf[i] = line;
    this.sourceOf[i] = src;
    this.lastOf[id] = i;
    this.count = i + 1;
  }

  private valueAt(i: number): string | null {
    const vs = this.valueStart[i];
    if (vs === -1) return null;
    if (vs < -1) return this.strings[-2 - vs];
    return this.sources[this.sourceOf[i]].text!.toString('utf8', vs, this.valueEnd[i]);
  }

  private entryAt(i: number): ConfigEntry {
    const src = this.sources[this.sourceOf[i]];
    const e: { -readonly [K in keyof ConfigEntry]: ConfigEntry[K] } = {
      key: this.keys[this.keyOf[i]],
      value: this.valueAt(i),
      scope: src.scope,
    };
    if (src.file !== undefined) e.file = src.file;
    if (this.lineOf[i] !== 0) e.line = this.lineOf[i];
    return e;
  }

  /** The last entry for `section.key` or `section.subsection.key`, or undefined. */
  getEntry(key: string): ConfigEntry | undefined {
    const id = this.keyIds.get(lookupKey(key));
    return id === undefined ? undefined : this.entryAt(this.lastOf[id]);
  }

  /** The last value; null for a bare key (`[core]\n\tbare`), undefined when the key is absent. */
  get(key: string): string | null | undefined {
    const id = this.keyIds.get(lookupKey(key));
    return id === undefined ? undefined : this.valueAt(this.lastOf[id]);
  }

  /** Every value of a multi-valued key, in reading order. */
  getAll(key: string): (string | null)[] {
    const id = this.keyIds.get(lookupKey(key));
    const out: (string | null)[] = [];
    if (id === undefined) return out;
    const last = this.lastOf[id];
    for (let i = 0; i <= last; i++) if (this.keyOf[i] === id) out.push(this.valueAt(i));
    return out;
  }

  /** The key as a boolean (§6.6), `def` when absent; a non-boolean value throws BAD_CONFIG. */
  getBool(key: string, def: boolean): boolean {
    const e = this.getEntry(key);
    return e === undefined ? def : parseBool(e.value, e.key);
  }

  /** The key as an `int` with an optional k/m/g suffix, `def` when absent; bad values throw BAD_CONFIG. */
  getInt(key: string, def: number): number {
    const e = this.getEntry(key);
    return e === undefined ? def : parseConfigInt(e.value, e.key, e.file);
  }
}

/** A typed array twice as long, the new half filled with `fill`. */
function grow(a: Int32Array, fill: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Booleans and integers (§6.6)

const INT32_MAX = 2 ** 31 - 1;
const INT64_MAX = 2n ** 63n - 1n;

/** C `isspace()` as strtol uses it: leading whitespace before a number is skipped. */
export function isCSpace(c: string | undefined): boolean {
  return c === ' ' || (c !== undefined && c >= '\t' && c <= '\r');
}

/**
 * The digits C `strto*max(s, &end, 0)` reads at `value[i]` (after blanks and sign): `0x` hex, a
 * leading `0` octal, else decimal. `end === start` when there are none.
 */
export function scanCDigits(value: string, i: number): { n: bigint; start: number; end: number } {
  let radix = 10;
  let digits = /[0-9]/;
  if (
    value[i] === '0' &&
    (value[i + 1] === 'x' || value[i + 1] === 'X') &&
    /[0-9a-fA-F]/.test(value[i + 2] ?? '')
  ) {
    radix = 16;
    digits = /[0-9a-fA-F]/;
    i += 2;
  } else if (value[i] === '0') {
    radix = 8;
    digits = /[0-7]/;
  }
  const start = i;
  while (i < value.length && digits.test(value[i])) i++;
  let n = 0n;
  for (const d of value.slice(start, i)) n = n * BigInt(radix) + BigInt(Number.parseInt(d, radix));
  return { n, start, end: i };
}

const UNIT_FACTORS: Readonly<Record<string, bigint>> = {
  '': 1n,
  k: 1024n,
  K: 1024n,
  m: 1024n ** 2n,
  M: 1024n ** 2n,
  g: 1024n ** 3n,
  G: 1024n ** 3n,
};

/**
 * Git's signed number syntax: what C `strtoimax(s, &end, 0)` accepts (leading whitespace, a sign,
 * `0x` hex, a leading `0` for octal, decimal), then at most one unit letter. The range is
 * symmetric, [-max, max], and is checked after the unit (Git divides max by the factor).
 */
function parseSigned(value: string, max: bigint): bigint | 'invalid unit' | 'out of range' {
  let i = 0;
  while (i < value.length && isCSpace(value[i])) i++;
  let negative = false;
  if (value[i] === '+' || value[i] === '-') negative = value[i++] === '-';
  const scan = scanCDigits(value, i);
  if (scan.end === scan.start) return 'invalid unit'; // no digits at all: strtoimax converts nothing
  const n = negative ? -scan.n : scan.n;
  const factor = UNIT_FACTORS[value.slice(scan.end)];
  if (factor === undefined) return 'invalid unit';
  // strtoimax itself saturates at 64 bits; then Git's own check against max / factor.
  if (n > INT64_MAX || n < -INT64_MAX - 1n) return 'out of range';
  const limit = max / factor;
  if (n > limit || n < -limit) return 'out of range';
  return n * factor;
}

/**
 * A config value as an integer, like git_config_int(): C `int` range by default, `bits: 64` for
 * the 64-bit variant (`git config --int`; results beyond 2^53 are rejected as out of range).
 * A bare key counts as an empty value. Errors carry Git's message, e.g.
 * `bad numeric config value 'x' for 'pack.depth' in file /r/.git/config: invalid unit`.
 */
export function parseConfigInt(value: string | null, key: string, file?: string, bits: 32 | 64 = 32): number {
  const text = value ?? '';
  const max = bits === 32 ? BigInt(INT32_MAX) : INT64_MAX;
  const n = parseSigned(text, max);
  if (
    typeof n === 'bigint' &&
    n <= BigInt(Number.MAX_SAFE_INTEGER) &&
    n >= -BigInt(Number.MAX_SAFE_INTEGER)
  ) {
    return Number(n);
  }
  const reason = typeof n === 'bigint' ? 'out of range' : n;
  const where = file === undefined ? '' : ` in file ${file}`;
  throw new GitMidxError('BAD_CONFIG', `bad numeric config value '${text}' for '${key}'${where}: ${reason}`, {
    file,
    data: { key, value },
  });
}

/** true/yes/on, false/no/off (any case), '' = false, null = true, otherwise a C `int`; undefined if none. */
function parseMaybeBool(value: string | null): boolean | undefined {
  if (value === null) return true;
  if (value === '') return false;
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === 'yes' || lower === 'on') return true;
  if (lower === 'false' || lower === 'no' || lower === 'off') return false;
  const n = parseSigned(value, BigInt(INT32_MAX));
  return typeof n === 'bigint' ? n !== 0n : undefined;
}

/** A config value as a boolean (§6.6); anything else throws `bad boolean config value '<v>' for '<key>'`. */
export function parseBool(value: string | null, key: string): boolean {
  const b = parseMaybeBool(value);
  if (b === undefined) {
    throw new GitMidxError('BAD_CONFIG', `bad boolean config value '${value}' for '${key}'`, {
      data: { key, value },
    });
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// The file parser (§6.6)

function isAlpha(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

function isKeyChar(c: string): boolean {
  return isAlpha(c) || (c >= '0' && c <= '9') || c === '-';
}

function isAlphaByte(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

function isKeyByte(c: number): boolean {
  return isAlphaByte(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Git's include depth limit: the files a file includes are one level deeper. */
const MAX_INCLUDE_DEPTH = 10;

/**
 * Most bytes one configuration may read through includes. Git has no such bound, but a file that
 * includes another many times, which does the same, 10 levels deep, would read without end.
 */
const MAX_INCLUDED_BYTES = 32 * 1024 * 1024;

/** Most includes one configuration may follow (the same bound, counted in files, found or not). */
const MAX_INCLUDES = 10_000;

/** Bytes and files read through includes so far, per configuration being loaded. */
const includedBytes = new WeakMap<GitConfig, { bytes: number; files: number }>();

/** Counts an included file against MAX_INCLUDED_BYTES and MAX_INCLUDES. */
function chargeInclude(config: GitConfig, file: string, size: number): void {
  const total = includedBytes.get(config) ?? { bytes: 0, files: 0 };
  total.bytes += size;
  total.files++;
  if (total.bytes > MAX_INCLUDED_BYTES || total.files > MAX_INCLUDES) {
    throw new GitMidxError(
      'BAD_CONFIG',
      `too much included config: more than ${MAX_INCLUDES} files or ${MAX_INCLUDED_BYTES} bytes read through includes (at ${file})`,
      { file, data: { limit: MAX_INCLUDED_BYTES, files: MAX_INCLUDES } },
    );
  }
  includedBytes.set(config, total);
}

/**
 * A byte source shaped like Git's: CRLF reads as LF, and the end of the text reads as one more LF
 * (every time it is read). `line` counts the LFs read so far, the final one included; the error
 * sites below subtract one where Git reports the line that holds the offending newline. `at` is
 * where the byte last read starts.
 */
class Reader {
  i = 0;
  at = 0;
  line = 1;
  eof = false;

  constructor(readonly s: Buffer) {
    // A UTF-8 BOM, only at the very start.
    if (s[0] === 0xef && s[1] === 0xbb && s[2] === 0xbf) this.i = 3;
  }

  next(): number {
    const s = this.s;
    if (this.i >= s.length) {
      this.eof = true;
      this.at = s.length;
      this.line++;
      return LF;
    }
    this.at = this.i;
    let c = s[this.i++];
    if (c === CR && s[this.i] === LF) {
      this.i++;
      c = LF;
    }
    if (c === LF) this.line++;
    return c;
  }
}

/** A growable byte buffer for the values and subsections that are not a plain range of the file. */
class Scratch {
  buf = Buffer.allocUnsafe(256);
  len = 0;
  push(c: number): void {
    if (this.len === this.buf.length) {
      const b = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(b, 0, 0, this.len);
      this.buf = b;
    }
    this.buf[this.len++] = c;
  }
  pushRange(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.len + n > this.buf.length) {
      const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(b, 0, 0, this.len);
      this.buf = b;
    }
    src.copy(this.buf, this.len, start, end);
    this.len += n;
  }
  text(): string {
    return this.buf.toString('utf8', 0, this.len);
  }
}

/** How a file's entries are read: into which config, and what an `include.path` entry does. */
interface ParseTarget {
  config: GitConfig;
  src: number;
  /** Called after each entry with its key and (for `include.path` only) its value. */
  onInclude?: (key: string, value: string | null, line: number) => void;
}

class Parser {
  private readonly r: Reader;
  /** The current section as a key prefix: `core`, `remote.Origin`, or '' before any header. */
  private section = '';
  private readonly scratch = new Scratch();

  constructor(
    text: Buffer,
    private readonly file: string,
    private readonly target: ParseTarget,
  ) {
    this.r = new Reader(text);
  }

  private fail(line: number): never {
    throw new GitMidxError('BAD_CONFIG', `bad config line ${line} in file ${this.file}`, {
      file: this.file,
      data: { line },
    });
  }

  parse(): void {
    const r = this.r;
    for (;;) {
      let c = r.next();
      if (c === LF) {
        if (r.eof) return;
        continue;
      }
      // Git's isspace(): space, tab, CR, LF (not \v or \f).
      if (c === SPACE || c === TAB || c === CR) continue;
      if (c === 0x23 || c === 0x3b) {
        // `#` or `;`: a comment to the end of the line.
        const nl = r.s.indexOf(LF, r.i);
        if (nl < 0) r.i = r.s.length;
        else r.i = nl;
        while (c !== LF) c = r.next();
        if (r.eof) return;
        continue;
      }
      if (c === 0x5b) {
        this.section = this.parseSectionHeader();
        continue; // a key may follow `]` on the same line
      }
      if (!isAlphaByte(c)) this.fail(r.line);
      this.parseVariable();
    }
  }

  /** After `[`: `[name]`, `[name "sub"]` or the old `[name.sub]`; returns the key prefix. */
  private parseSectionHeader(): string {
    const r = this.r;
    const start = r.i;
    for (;;) {
      const c = r.next();
      if (c === LF) this.fail(r.eof ? r.line : r.line - 1);
      if (c === 0x5d) {
        if (r.at === start) this.fail(r.line);
        // `[Section.Sub]` lowercases the whole name, sub included.
        return r.s.toString('latin1', start, r.at).toLowerCase();
      }
      if (c === SPACE || c === TAB || c === CR) {
        return this.parseSubsection(r.s.toString('latin1', start, r.at).toLowerCase());
      }
      if (!isKeyByte(c) && c !== 0x2e) this.fail(r.line);
    }
  }

  /** `[base "sub"]` after the whitespace: the subsection keeps its case; `\x` stands for `x`. */
  private parseSubsection(base: string): string {
    const r = this.r;
    let c: number;
    do c = r.next();
    while (c === SPACE || c === TAB || c === CR);
    if (c === LF) this.fail(r.line - 1);
    if (c !== QUOTE) this.fail(r.line);
    const sub = this.scratch;
    sub.len = 0;
    for (;;) {
      c = r.next();
      if (c === LF) this.fail(r.line - 1); // a subsection cannot contain a newline
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        c = r.next();
        if (c === LF) this.fail(r.line - 1);
      }
      sub.push(c);
    }
    if (r.next() !== 0x5d) this.fail(r.line); // nothing, not even a space, before `]`
    return `${base}.${sub.text()}`;
  }

  /** `name`, `name = value`: the name starts with a letter and holds letters, digits and `-`. */
  private parseVariable(): void {
    const r = this.r;
    const start = r.at;
    let c = r.next();
    while (isKeyByte(c)) c = r.next();
    const name = r.s.toString('latin1', start, r.at).toLowerCase();
    while (c === SPACE || c === TAB) c = r.next();
    const key = this.section === '' ? name : `${this.section}.${name}`;
    const t = this.target;
    if (c !== LF) {
      if (c !== 0x3d) this.fail(r.line); // includes `name ; comment`
      this.parseValue(key);
    } else {
      // The terminating LF has been read, so the entry ended on the line before `r.line`.
      t.config.addRange(key, -1, 0, r.line - 1, t.src);
    }
    if (
      t.onInclude !== undefined &&
      (key === 'include.path' || (key.startsWith('includeif.') && key.endsWith('.path')))
    ) {
      t.onInclude(key, t.config.get(key) ?? null, r.line - 1);
    }
  }

  /**
   * The value after `=`, up to the end of the line: leading and trailing whitespace dropped, each
   * whitespace character between words kept as one space, `"…"` taken literally, escapes
   * `\n \t \b \\ \"`, `\` + newline continues the line, `#`/`;` outside quotes start a comment.
   * While every byte written is the next byte of the file, the value is kept as that range.
   */
  private parseValue(key: string): void {
    const r = this.r;
    const s = r.s;
    const out = this.scratch;
    out.len = 0;
    /** Where the value starts in the file, how much of it is still exactly that range. */
    let rawStart = -1;
    let rawLen = 0;
    let raw = true;
    /** Bytes of value so far. */
    let written = 0;
    let pendingSpaces = 0;
    let pendingAllSpace = true;
    let quoted = false;
    let comment = false;
    /** The value stops being a range of the file: what it has so far goes to the scratch buffer. */
    const unraw = () => {
      if (!raw) return;
      raw = false;
      if (rawLen > 0) out.pushRange(s, rawStart, rawStart + rawLen);
    };
    const write = (c: number, at: number) => {
      written++;
      if (raw) {
        if (rawStart < 0) rawStart = at;
        if (at === rawStart + rawLen && s[at] === c) {
          rawLen++;
          return;
        }
        unraw();
      }
      out.push(c);
    };
    for (;;) {
      let c = r.next();
      if (c === LF) {
        if (quoted) this.fail(r.line - 1);
        break;
      }
      if (comment) continue;
      if (!quoted) {
        if (c === 0x3b || c === 0x23) {
          comment = true;
          continue;
        }
        if (c === SPACE || c === TAB || c === CR) {
          if (written > 0) {
            pendingSpaces++; // spaces before anything else are dropped
            if (c !== SPACE) pendingAllSpace = false;
          }
          continue;
        }
      }
      // Spaces are written out only when something follows them, so trailing ones vanish.
      if (pendingSpaces > 0) {
        if (!pendingAllSpace) unraw();
        const from = r.at - pendingSpaces;
        for (let k = 0; k < pendingSpaces; k++) write(SPACE, from + k);
        pendingSpaces = 0;
        pendingAllSpace = true;
      }
      if (c === BACKSLASH) {
        c = r.next();
        if (c === LF) continue;
        unraw();
        written++;
        if (c === 0x6e) out.push(LF);
        else if (c === 0x74) out.push(TAB);
        else if (c === 0x62) out.push(8);
        else if (c === BACKSLASH || c === QUOTE) out.push(c);
        else this.fail(r.line);
        continue;
      }
      if (c === QUOTE) {
        quoted = !quoted;
        continue;
      }
      write(c, r.at);
      // A run of ordinary bytes (the bulk of most values) in one go.
      let j = r.i;
      while (j < s.length && PLAIN[s[j]] === 1) j++;
      if (j > r.i) {
        const n = j - r.i;
        if (raw && r.i === rawStart + rawLen) rawLen += n;
        else {
          unraw();
          out.pushRange(s, r.i, j);
        }
        written += n;
        r.i = j;
        r.at = j - 1;
      }
    }
    const t = this.target;
    // The terminating LF has been read, so the value ended on the line before `r.line`.
    const line = r.line - 1;
    const from = Math.max(rawStart, 0);
    if (raw) t.config.addRange(key, from, from + rawLen, line, t.src);
    else t.config.addString(key, out.text(), line, t.src);
  }
}

/** Bytes that stand for themselves in a value, quoted or not (no whitespace, quote, escape, comment). */
const PLAIN = new Uint8Array(256).fill(1);
for (const c of [LF, CR, SPACE, TAB, QUOTE, BACKSLASH, 0x23, 0x3b]) PLAIN[c] = 0;

/** Parses one config file's text; `path` only names the file in error messages. Includes are not followed. */
export function parseConfig(text: string | Uint8Array, path: string): GitConfig {
  const config = new GitConfig();
  const bytes =
    typeof text === 'string'
      ? Buffer.from(text, 'utf8')
      : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  new Parser(bytes, path, { config, src: config.sourceFor('file', path, bytes) }).parse();
  return config;
}

/**
 * Largest config file read (FILE_TOO_LARGE beyond): values are kept as 32-bit offsets into it,
 * and no real configuration comes near.
 */
const MAX_CONFIG_FILE = 1024 * 1024 * 1024;

/** Reads a file's bytes, or undefined when it does not exist (Git skips missing config files). */
function readIfExists(file: string): Buffer | undefined {
  // The usual way to say "no such configuration" (GIT_CONFIG_GLOBAL=/dev/null): empty, as in Git.
  if (file === '/dev/null') return Buffer.alloc(0);
  try {
    return readRegularFile(file, MAX_CONFIG_FILE);
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    if (err instanceof GitMidxError) throw err;
    throw new GitMidxError('IO_ERROR', `unable to access '${file}': ${(err as Error).message}`, {
      file,
      cause: err,
    });
  }
}

/**
 * Reads `file` into `config`, following `include.path` entries (§6.6) as Git does: a relative
 * path is relative to the directory of the file that names it, `~/` is $HOME, a missing file is
 * skipped, and a file included more than 10 levels deep ends the reading with Git's message (a
 * cycle of includes reaches it too). `[includeIf "<condition>"]` sections are followed when their
 * condition holds (see includeCondition).
 */
function readFileInto(
  config: GitConfig,
  file: string,
  text: Buffer,
  scope: ConfigScope,
  env: NodeJS.ProcessEnv,
  depth: number,
): void {
  const src = config.sourceFor(scope, file, text);
  const target: ParseTarget = {
    config,
    src,
    onInclude: (key, value, line) => {
      if (value === null) {
        throw new GitMidxError('BAD_CONFIG', `bad config line ${line} in file ${file}`, {
          file,
          data: { line, reason: `missing value for '${key}'` },
        });
      }
      if (
        key !== 'include.path' &&
        !includeCondition(key.slice('includeif.'.length, -'.path'.length), config, file, env)
      ) {
        return;
      }
      const included = includePath(value, file, env);
      if (included === undefined) return;
      const bytes = readIfExists(included);
      // Missing files count too: looking for one is work as well.
      chargeInclude(config, included, bytes?.length ?? 0);
      if (bytes === undefined) return;
      if (depth + 1 > MAX_INCLUDE_DEPTH) {
        throw new GitMidxError(
          'BAD_CONFIG',
          `exceeded maximum include depth (${MAX_INCLUDE_DEPTH}) while including\n\t${included}\nfrom\n\t${file}\nThis might be due to circular includes.`,
          { file, data: { included, depth: MAX_INCLUDE_DEPTH } },
        );
      }
      readFileInto(config, included, bytes, scope, env, depth + 1);
      // Entries after the include are the including file's again.
      target.src = config.sourceFor(scope, file, text);
    },
  };
  new Parser(text, file, target).parse();
}

/** The git directory whose conditions `includeIf` tests, per configuration being loaded. */
const gitDirOf = new WeakMap<GitConfig, string>();

/**
 * Whether an `[includeIf "<condition>"]` holds (checked against git 2.39): `gitdir:<pattern>` and
 * `gitdir/i:<pattern>` (case-insensitive) match the git directory, `onbranch:<pattern>` the
 * branch HEAD names, with wildmatch patterns (`*`, `?`, `[…]`, `**`, as for paths). A gitdir
 * pattern starting with `./` is relative to the config file's directory, `~/` to $HOME; one not
 * starting with `/` gets `** /` in front; a trailing `/` gets `**` after. Other conditions
 * (`hasconfig:…`), and any condition outside a repository, do not hold.
 */
function includeCondition(cond: string, config: GitConfig, file: string, env: NodeJS.ProcessEnv): boolean {
  const gitDir = gitDirOf.get(config);
  if (gitDir === undefined) return false;
  const gitdir = /^gitdir(\/i)?:/.exec(cond);
  if (gitdir) {
    let pattern = cond.slice(gitdir[0].length);
    if (pattern.startsWith('./')) {
      const slash = file.lastIndexOf('/');
      pattern = (slash < 0 ? '' : file.slice(0, slash + 1)) + pattern.slice(2);
    } else if (pattern.startsWith('~/')) {
      if (!env.HOME) return false;
      pattern = env.HOME + pattern.slice(1);
    }
    if (!pattern.startsWith('/')) pattern = `**/${pattern}`;
    if (pattern.endsWith('/')) pattern += '**';
    const re = wildmatchRegExp(pattern, gitdir[1] !== undefined);
    const dir = path.resolve(gitDir);
    if (re.test(dir)) return true;
    try {
      return re.test(fs.realpathSync.native(dir));
    } catch {
      return false;
    }
  }
  if (cond.startsWith('onbranch:')) {
    let pattern = cond.slice('onbranch:'.length);
    if (pattern.endsWith('/')) pattern += '**';
    let head: Buffer | undefined;
    try {
      head = readFileIfExists(path.join(gitDir, 'HEAD'), 4096);
    } catch {
      return false;
    }
    const m = head === undefined ? null : /^ref: refs\/heads\/([^\n]+)\n?$/.exec(head.toString('utf8'));
    return m !== null && wildmatchRegExp(pattern, false).test(m[1]);
  }
  return false;
}

/** A wildmatch pattern with WM_PATHNAME (wildcards never match `/`, except `**` between slashes) as a RegExp. */
function wildmatchRegExp(p: string, icase: boolean): RegExp {
  let re = '';
  const special = /[.*+?^${}()|[\]\\/]/;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    const atSegmentStart = i === 0 || p[i - 1] === '/';
    if (c === '*' && p[i + 1] === '*' && atSegmentStart && (p[i + 2] === '/' || i + 2 === p.length)) {
      if (i + 2 === p.length) {
        re += '.*'; // `dir/**`: everything inside
        i += 1;
      } else {
        re += '(?:.*/)?'; // `**/`: zero or more directories
        i += 2;
      }
      continue;
    }
    if (c === '*') {
      while (p[i + 1] === '*') i++;
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '\\' && i + 1 < p.length) {
      i++;
      re += special.test(p[i]) ? `\\${p[i]}` : p[i];
    } else if (c === '[') {
      const close = classEnd(p, i);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = p.slice(i + 1, close);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      body = body.replace(
        /\[:(alpha|digit|alnum|upper|lower|space|xdigit|punct):\]/g,
        (_m, k: string) => POSIX_CLASSES[k],
      );
      body = body.replace(/[\]\\^]/g, (x) => `\\${x}`).replace(/\\\\(.)/g, '\\$1');
      re += `(?!/)[${negate ? '^' : ''}${body}]`;
      i = close;
    } else {
      re += special.test(c) ? `\\${c}` : c;
    }
  }
  return new RegExp(`^${re}$`, icase ? 'is' : 's');
}

/** Where the `]` closing the bracket expression at p[i] is (`[:alpha:]` and `\]` inside skipped), or -1. */
function classEnd(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '!' || p[j] === '^') j++;
  if (p[j] === ']') j++; // a `]` first is a member
  while (j < p.length) {
    if (p.startsWith('[:', j)) {
      const end = p.indexOf(':]', j + 2);
      if (end < 0) return -1;
      j = end + 2;
    } else if (p[j] === '\\') j += 2;
    else if (p[j] === ']') return j;
    else j++;
  }
  return -1;
}

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\v\\f',
  xdigit: '0-9a-fA-F',
  punct: '!-\\/:-@\\[-`{-~',
};

/**
 * The file an `include.path` value names: `~/…` under $HOME, a relative path next to the file
 * that names it (`from`; undefined for the command line, where Git refuses relative includes).
 */
function includePath(value: string, from: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  let p = value;
  if (p === '~' || p.startsWith('~/')) {
    const home = env.HOME;
    if (!home) return undefined;
    p = home + p.slice(1);
  }
  if (path.isAbsolute(p)) return p;
  if (from === undefined)
    throw new GitMidxError('BAD_CONFIG', 'relative config includes must come from files');
  const slash = from.lastIndexOf('/');
  return slash < 0 ? p : from.slice(0, slash + 1) + p;
}

function readScoped(
  config: GitConfig,
  paths: readonly string[],
  scope: ConfigScope,
  env: NodeJS.ProcessEnv,
): void {
  for (const file of paths) {
    const text = readIfExists(file);
    if (text !== undefined) readFileInto(config, file, text, scope, env, 0);
  }
}

/** Reads the files in order, skipping missing ones and following includes; values of later files win. */
export function readConfigFiles(paths: string[], env: NodeJS.ProcessEnv = process.env): GitConfig {
  const config = new GitConfig();
  readScoped(config, paths, 'file', env);
  return config;
}

// ---------------------------------------------------------------------------------------------
// Command-line config: GIT_CONFIG_COUNT / GIT_CONFIG_KEY_<n> / GIT_CONFIG_VALUE_<n> and
// GIT_CONFIG_PARAMETERS (what `git -c` passes to child processes)

function commandLineError(message: string): GitMidxError {
  return new GitMidxError('BAD_CONFIG', message);
}

/**
 * Validates and canonicalises a key given on the command line (`git -c`, GIT_CONFIG_KEY_<n>):
 * section and name lowercase, subsection kept, with Git's messages for bad keys.
 */
export function canonicalConfigKey(key: string): string {
  const first = key.indexOf('.');
  const last = key.lastIndexOf('.');
  if (first < 0) throw commandLineError(`key does not contain a section: ${key}`);
  if (last === key.length - 1) throw commandLineError(`key does not contain variable name: ${key}`);
  const section = key.slice(0, first);
  const name = key.slice(last + 1);
  const sub = key.slice(first, last); // '' or '.sub'
  const ok =
    [...section].every(isKeyChar) && isAlpha(name[0]) && [...name].every(isKeyChar) && !sub.includes('\n');
  if (!ok) throw commandLineError(`invalid key: ${key}`);
  return `${section.toLowerCase()}${sub}.${name.toLowerCase()}`;
}

/**
 * One shell single-quoted word of GIT_CONFIG_PARAMETERS at `s[i]` (which must be `'`). Inside the
 * quotes everything is literal; `'\''` and `'\!'` insert a quote or `!`. Returns the text and the
 * index after the closing quote, or undefined for a malformed word.
 */
function dequoteWord(s: string, i: number): { text: string; end: number } | undefined {
  if (s[i] !== "'") return undefined;
  let text = '';
  i++;
  for (;;) {
    const close = s.indexOf("'", i);
    if (close < 0) return undefined;
    text += s.slice(i, close);
    i = close + 1;
    if (s[i] === '\\' && (s[i + 1] === "'" || s[i + 1] === '!') && s[i + 2] === "'") {
      text += s[i + 1];
      i += 3;
      continue;
    }
    return { text, end: i };
  }
}

const isSpaceChar = (c: string | undefined): boolean => c !== undefined && isCSpace(c);

/**
 * GIT_CONFIG_PARAMETERS: space-separated entries, each `'key'='value'` (newer git), `'key'` or
 * `'key'=` (no value: a bare key), or the older `'key=value'` (split at the first `=`). No leading
 * whitespace is allowed; anything malformed is
 * `bogus format in GIT_CONFIG_PARAMETERS`.
 */
function parseConfigParameters(s: string): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  const bogus = () => commandLineError('bogus format in GIT_CONFIG_PARAMETERS');
  let i = 0;
  while (i < s.length) {
    const keyWord = dequoteWord(s, i);
    if (!keyWord) throw bogus();
    i = keyWord.end;
    let key: string;
    let value: string | null = null;
    if (s[i] === '=') {
      i++;
      key = keyWord.text;
      if (i < s.length && !isSpaceChar(s[i])) {
        const valueWord = dequoteWord(s, i);
        if (!valueWord) throw bogus();
        value = valueWord.text;
        i = valueWord.end;
      }
      key = canonicalConfigKey(key);
    } else {
      const eq = keyWord.text.indexOf('=');
      if (eq >= 0) {
        value = keyWord.text.slice(eq + 1);
        key = keyWord.text.slice(0, eq);
      } else {
        key = keyWord.text;
      }
      key = canonicalConfigKey(key);
    }
    out.push({ key, value, scope: 'command' });
    if (i < s.length && !isSpaceChar(s[i])) throw bogus();
    while (isSpaceChar(s[i])) i++;
  }
  return out;
}

/** GIT_CONFIG_COUNT pairs (read before GIT_CONFIG_PARAMETERS, so the latter win). */
function parseConfigCount(env: NodeJS.ProcessEnv): ConfigEntry[] {
  const raw = env.GIT_CONFIG_COUNT;
  if (raw === undefined || raw === '') return [];
  // strtoul: leading whitespace and a sign, decimal digits, nothing after.
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(raw);
  if (!m) throw commandLineError('bogus count in GIT_CONFIG_COUNT');
  const count = m[1] === '-' && Number(m[2]) !== 0 ? Number.POSITIVE_INFINITY : Number(m[2]);
  if (count > INT32_MAX) throw commandLineError('too many entries in GIT_CONFIG_COUNT');
  const out: ConfigEntry[] = [];
  for (let n = 0; n < count; n++) {
    const key = env[`GIT_CONFIG_KEY_${n}`];
    if (key === undefined) throw commandLineError(`missing config key GIT_CONFIG_KEY_${n}`);
    const value = env[`GIT_CONFIG_VALUE_${n}`];
    if (value === undefined) throw commandLineError(`missing config value GIT_CONFIG_VALUE_${n}`);
    out.push({ key: canonicalConfigKey(key), value, scope: 'command' });
  }
  return out;
}

/** The command-line layer: GIT_CONFIG_COUNT pairs, then GIT_CONFIG_PARAMETERS. */
function commandLineEntries(env: NodeJS.ProcessEnv): ConfigEntry[] {
  return [...parseConfigCount(env), ...parseConfigParameters(env.GIT_CONFIG_PARAMETERS ?? '')];
}

// ---------------------------------------------------------------------------------------------
// Layers (§6.5: system, global, local, worktree, then command line)

/** The system file: $GIT_CONFIG_SYSTEM or /etc/gitconfig, none when GIT_CONFIG_NOSYSTEM is true. */
function systemFiles(env: NodeJS.ProcessEnv): string[] {
  const noSystem = env.GIT_CONFIG_NOSYSTEM;
  if (noSystem !== undefined && parseBool(noSystem, 'GIT_CONFIG_NOSYSTEM')) return [];
  return [env.GIT_CONFIG_SYSTEM ?? '/etc/gitconfig'];
}

/**
 * The global files: only $GIT_CONFIG_GLOBAL when it is set (set but empty = none); otherwise
 * $XDG_CONFIG_HOME/git/config (or ~/.config/git/config), then ~/.gitconfig, which wins.
 */
function globalFiles(env: NodeJS.ProcessEnv): string[] {
  if (env.GIT_CONFIG_GLOBAL !== undefined) return env.GIT_CONFIG_GLOBAL === '' ? [] : [env.GIT_CONFIG_GLOBAL];
  const home = env.HOME || undefined;
  const files: string[] = [];
  if (env.XDG_CONFIG_HOME) files.push(path.join(env.XDG_CONFIG_HOME, 'git', 'config'));
  else if (home) files.push(path.join(home, '.config', 'git', 'config'));
  if (home) files.push(path.join(home, '.gitconfig'));
  return files;
}

/** Command-line entries, with their `include.path` values followed (only absolute ones: Git's rule). */
function addCommandLine(config: GitConfig, env: NodeJS.ProcessEnv): void {
  for (const e of commandLineEntries(env)) {
    config.push(e);
    if (e.key !== 'include.path' || e.value === null) continue;
    const included = includePath(e.value, undefined, env);
    const bytes = included === undefined ? undefined : readIfExists(included);
    if (included !== undefined && bytes !== undefined) {
      chargeInclude(config, included, bytes.length);
      readFileInto(config, included, bytes, 'command', env, 1);
    }
  }
}

/**
 * The "protected" configuration: system, global and command line, without any repository file.
 * Git reads security settings such as `safe.bareRepository` only from these.
 */
export function loadProtectedConfig(env: NodeJS.ProcessEnv = process.env): GitConfig {
  const config = new GitConfig();
  readScoped(config, systemFiles(env), 'system', env);
  readScoped(config, globalFiles(env), 'global', env);
  addCommandLine(config, env);
  return config;
}

/**
 * Everything a command in the repository sees: system, global, `<commonDir>/config`, then the
 * command line (GIT_CONFIG_COUNT…, GIT_CONFIG_PARAMETERS). With `gitDir` given and
 * `extensions.worktreeConfig` true in the repository file, `<gitDir>/config.worktree` is read
 * after it (the worktree layer). Includes are followed (see readFileInto).
 */
export function loadRepoConfig(
  commonDir: string,
  env: NodeJS.ProcessEnv = process.env,
  gitDir?: string,
): GitConfig {
  const config = new GitConfig();
  gitDirOf.set(config, gitDir ?? commonDir);
  readScoped(config, systemFiles(env), 'system', env);
  readScoped(config, globalFiles(env), 'global', env);
  readScoped(config, [path.join(commonDir, 'config')], 'local', env);
  if (gitDir !== undefined) {
    // extensions.worktreeConfig counts only from the repository file (and what it includes).
    const ext = config.getEntry('extensions.worktreeConfig');
    if (ext && ext.scope === 'local' && parseBool(ext.value, ext.key)) {
      readScoped(config, [path.join(gitDir, 'config.worktree')], 'worktree', env);
    }
  }
  addCommandLine(config, env);
  return config;
}
