/**
 * Git config files (spec/objects-format.md §6.6) and the layered configuration Git reads
 * (system, global, repository, command line; §6.5).
 *
 * The parser follows what git 2.39 does, checked against `git config -f` (test/repo.test.ts):
 * the whitespace rules, the escapes, the line numbers in `bad config line <n> in file <path>`,
 * booleans, and integers with `k`/`m`/`g` suffixes.
 *
 * Not supported: `[include]`/`[includeIf]` (they are read as ordinary keys and never followed; the
 * spec makes them optional for object access), and blobs or stdin as config sources.
 */
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import { isMissingFile, readRegularFile } from './fs.js';

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

/** An ordered list of config values; the last value of a key wins (§6.6). */
export class GitConfig {
  readonly entries: readonly ConfigEntry[];
  private readonly byKey = new Map<string, ConfigEntry[]>();

  constructor(entries: Iterable<ConfigEntry> = []) {
    this.entries = [...entries];
    for (const e of this.entries) {
      const list = this.byKey.get(e.key);
      if (list) list.push(e);
      else this.byKey.set(e.key, [e]);
    }
  }

  /** Concatenates configurations; values of later ones win. */
  static merge(...configs: GitConfig[]): GitConfig {
    return new GitConfig(configs.flatMap((c) => c.entries));
  }

  /** The last entry for `section.key` or `section.subsection.key`, or undefined. */
  getEntry(key: string): ConfigEntry | undefined {
    const list = this.byKey.get(lookupKey(key));
    return list?.[list.length - 1];
  }

  /** The last value; null for a bare key (`[core]\n\tbare`), undefined when the key is absent. */
  get(key: string): string | null | undefined {
    return this.getEntry(key)?.value;
  }

  /** Every value of a multi-valued key, in reading order. */
  getAll(key: string): (string | null)[] {
    return (this.byKey.get(lookupKey(key)) ?? []).map((e) => e.value);
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

/**
 * A character source shaped like Git's: CRLF reads as LF, and the end of the text reads as one more
 * LF (every time it is read). `line` counts the LFs read so far, the final one included; the error
 * sites below subtract one where Git reports the line that holds the offending newline.
 */
class Reader {
  private i = 0;
  line = 1;
  eof = false;

  constructor(private readonly s: string) {
    if (s.charCodeAt(0) === 0xfeff) this.i = 1; // a UTF-8 BOM, only at the very start
  }

  next(): string {
    if (this.i >= this.s.length) {
      this.eof = true;
      this.line++;
      return '\n';
    }
    let c = this.s[this.i++];
    if (c === '\r' && this.s[this.i] === '\n') {
      this.i++;
      c = '\n';
    }
    if (c === '\n') this.line++;
    return c;
  }
}

class Parser {
  private readonly r: Reader;
  /** The current section as a key prefix: `core`, `remote.Origin`, or '' before any header. */
  private section = '';
  readonly entries: ConfigEntry[] = [];

  constructor(
    text: string,
    private readonly file: string,
    private readonly scope: ConfigScope,
  ) {
    this.r = new Reader(text);
  }

  private fail(line: number): never {
    throw new GitMidxError('BAD_CONFIG', `bad config line ${line} in file ${this.file}`, {
      file: this.file,
      data: { line },
    });
  }

  parse(): ConfigEntry[] {
    const r = this.r;
    for (;;) {
      let c = r.next();
      if (c === '\n') {
        if (r.eof) return this.entries;
        continue;
      }
      // Git's isspace(): space, tab, CR, LF (not \v or \f).
      if (c === ' ' || c === '\t' || c === '\r') continue;
      if (c === '#' || c === ';') {
        while (c !== '\n') c = r.next();
        if (r.eof) return this.entries;
        continue;
      }
      if (c === '[') {
        this.section = this.parseSectionHeader();
        continue; // a key may follow `]` on the same line
      }
      if (!isAlpha(c)) this.fail(r.line);
      this.parseVariable(c);
    }
  }

  /** After `[`: `[name]`, `[name "sub"]` or the old `[name.sub]`; returns the key prefix. */
  private parseSectionHeader(): string {
    const r = this.r;
    let base = '';
    for (;;) {
      const c = r.next();
      if (c === '\n') this.fail(r.eof ? r.line : r.line - 1);
      if (c === ']') {
        if (base === '') this.fail(r.line);
        return base;
      }
      if (c === ' ' || c === '\t' || c === '\r') return this.parseSubsection(base);
      if (!isKeyChar(c) && c !== '.') this.fail(r.line);
      base += c.toLowerCase(); // `[Section.Sub]` lowercases the whole name, sub included
    }
  }

  /** `[base "sub"]` after the whitespace: the subsection keeps its case; `\x` stands for `x`. */
  private parseSubsection(base: string): string {
    const r = this.r;
    let c: string;
    do c = r.next();
    while (c === ' ' || c === '\t' || c === '\r');
    if (c === '\n') this.fail(r.line - 1);
    if (c !== '"') this.fail(r.line);
    let sub = '';
    for (;;) {
      c = r.next();
      if (c === '\n') this.fail(r.line - 1); // a subsection cannot contain a newline
      if (c === '"') break;
      if (c === '\\') {
        c = r.next();
        if (c === '\n') this.fail(r.line - 1);
      }
      sub += c;
    }
    if (r.next() !== ']') this.fail(r.line); // nothing, not even a space, before `]`
    return `${base}.${sub}`;
  }

  /** `name`, `name = value`: the name starts with a letter and holds letters, digits and `-`. */
  private parseVariable(first: string): void {
    const r = this.r;
    let name = first.toLowerCase();
    let c = r.next();
    while (isKeyChar(c)) {
      name += c.toLowerCase();
      c = r.next();
    }
    while (c === ' ' || c === '\t') c = r.next();
    let value: string | null = null;
    if (c !== '\n') {
      if (c !== '=') this.fail(r.line); // includes `name ; comment`
      value = this.parseValue();
    }
    const key = this.section === '' ? name : `${this.section}.${name}`;
    // The terminating LF has been read, so the value ended on the line before `r.line`.
    this.entries.push({ key, value, scope: this.scope, file: this.file, line: r.line - 1 });
  }

  /**
   * The value after `=`, up to the end of the line: leading and trailing whitespace dropped, each
   * whitespace character between words kept as one space, `"…"` taken literally, escapes
   * `\n \t \b \\ \"`, `\` + newline continues the line, `#`/`;` outside quotes start a comment.
   */
  private parseValue(): string {
    const r = this.r;
    let value = '';
    let pendingSpaces = 0;
    let quoted = false;
    let comment = false;
    for (;;) {
      let c = r.next();
      if (c === '\n') {
        if (quoted) this.fail(r.line - 1);
        return value;
      }
      if (comment) continue;
      if (!quoted) {
        if (c === ';' || c === '#') {
          comment = true;
          continue;
        }
        if (c === ' ' || c === '\t' || c === '\r') {
          if (value.length > 0) pendingSpaces++; // spaces before anything else are dropped
          continue;
        }
      }
      // Spaces are written out only when something follows them, so trailing ones vanish.
      value += ' '.repeat(pendingSpaces);
      pendingSpaces = 0;
      if (c === '\\') {
        c = r.next();
        if (c === '\n') continue;
        if (c === 'n') value += '\n';
        else if (c === 't') value += '\t';
        else if (c === 'b') value += '\b';
        else if (c === '\\' || c === '"') value += c;
        else this.fail(r.line);
        continue;
      }
      if (c === '"') {
        quoted = !quoted;
        continue;
      }
      value += c;
    }
  }
}

function parseEntries(text: string, file: string, scope: ConfigScope): ConfigEntry[] {
  return new Parser(text, file, scope).parse();
}

/** Parses one config file's text; `path` only names the file in error messages. */
export function parseConfig(text: string, path: string): GitConfig {
  return new GitConfig(parseEntries(text, path, 'file'));
}

/** Reads a file's text, or undefined when it does not exist (Git skips missing config files). */
function readIfExists(file: string): string | undefined {
  try {
    return readRegularFile(file).toString('utf8');
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    if (err instanceof GitMidxError) throw err;
    throw new GitMidxError('IO_ERROR', `unable to access '${file}': ${(err as Error).message}`, {
      file,
      cause: err,
    });
  }
}

function readScoped(paths: readonly string[], scope: ConfigScope): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  for (const file of paths) {
    const text = readIfExists(file);
    if (text !== undefined) out.push(...parseEntries(text, file, scope));
  }
  return out;
}

/** Reads the files in order, skipping missing ones; values of later files win. */
export function readConfigFiles(paths: string[]): GitConfig {
  return new GitConfig(readScoped(paths, 'file'));
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

/**
 * The "protected" configuration: system, global and command line, without any repository file.
 * Git reads security settings such as `safe.bareRepository` only from these.
 */
export function loadProtectedConfig(env: NodeJS.ProcessEnv = process.env): GitConfig {
  return new GitConfig([
    ...readScoped(systemFiles(env), 'system'),
    ...readScoped(globalFiles(env), 'global'),
    ...commandLineEntries(env),
  ]);
}

/**
 * Everything a command in the repository sees: system, global, `<commonDir>/config`, then the
 * command line (GIT_CONFIG_COUNT…, GIT_CONFIG_PARAMETERS). With `gitDir` given and
 * `extensions.worktreeConfig` true in the repository file, `<gitDir>/config.worktree` is read
 * after it (the worktree layer).
 */
export function loadRepoConfig(
  commonDir: string,
  env: NodeJS.ProcessEnv = process.env,
  gitDir?: string,
): GitConfig {
  const local = readScoped([path.join(commonDir, 'config')], 'local');
  let worktree: ConfigEntry[] = [];
  if (gitDir !== undefined) {
    const ext = new GitConfig(local).getEntry('extensions.worktreeConfig');
    if (ext && parseBool(ext.value, ext.key))
      worktree = readScoped([path.join(gitDir, 'config.worktree')], 'worktree');
  }
  return new GitConfig([
    ...readScoped(systemFiles(env), 'system'),
    ...readScoped(globalFiles(env), 'global'),
    ...local,
    ...worktree,
    ...commandLineEntries(env),
  ]);
}
