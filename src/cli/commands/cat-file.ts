/**
 * `git-midx cat-file`: objects through the MIDX, answered as `git cat-file` answers
 * (spec/objects-format.md §7.1), from src/node/odb.ts.
 *
 *   cat-file (-t | -s | -e | -p) <object>
 *   cat-file <type> <object>
 *   cat-file (--batch | --batch-check)[=<format>] [--batch-all-objects] [-z] [--buffer]
 *
 * Object names are hex ids only: a full id, or an abbreviation of at least 4 hex digits (any case).
 * Anything else (`HEAD`, `v1.0`, `HEAD:path`, `@{u}`) is not resolved: it is "not a valid object
 * name", or `missing` in the batch modes, as for a name Git cannot resolve.
 *
 * `-p` prints trees as Git does (`<mode> <type> <oid>\t<name>`, C-quoted names under
 * core.quotePath) and every other object as its raw bytes (Git does the same for commits, tags and
 * blobs; no textconv, no mailmap). Batch formats support `%(objectname)`, `%(objecttype)`,
 * `%(objectsize)`, `%(objectsize:disk)`, `%(deltabase)` and `%(rest)`. Not supported: `--batch-command`,
 * `--unordered`, `--follow-symlinks`, `--textconv`, `--filters`, `--allow-unknown-type`, `--use-mailmap`.
 *
 * Stricter than git 2.39: a loose object whose body does not match its header, or with bytes after
 * its zlib stream, is an error (git streams such blobs as they are). Ambiguity hints list the
 * candidates as Git does (tags, commits, trees, blobs; commits and tags with date and subject); the
 * abbreviation length follows Git's automatic rule on the packed object count, which can differ from
 * Git's in edge cases.
 */
import { countLines, fromHex, hexBytesInto, isHex, toHex } from '../../bytes.js';
import { GitMidxError, isGitMidxError } from '../../errors.js';
import type { ObjectStore, ObjectStream, StoredObject } from '../../node/odb.js';
import { type ObjectType, TYPE_NUMBER, zlibComplaint } from '../../pack/pack.js';
import type { Diagnostic } from '../../progress.js';
import { loosePath } from '../../store/loose.js';
import { RevisionResolver } from '../../store/revision.js';
import { type CliIO, type Context, makeContext } from '../context.js';
import type { Command } from '../dispatch.js';
import { type OptionHelp, parseCommand } from '../options.js';
import { bufferSource, commandInput, LineBlockReader } from '../stdin.js';
import { openCliRefs, openCliStore } from '../store.js';
import { USAGES } from '../usage.js';
import { BatchLineWriter, FormatError, Output } from './batch-format.js';

const USAGE = USAGES['cat-file'];

const DEFAULT_FORMAT = '%(objectname) %(objecttype) %(objectsize)';

const OPTIONS = {
  'show-type': { type: 'boolean', short: 't' },
  'show-size': { type: 'boolean', short: 's' },
  'show-exists': { type: 'boolean', short: 'e' },
  'show-pretty': { type: 'boolean', short: 'p' },
  nul: { type: 'boolean', short: 'z' },
  buffer: { type: 'boolean' },
  'batch-all-objects': { type: 'boolean' },
  'max-object-size': { type: 'string' },
} as const;

/** `-h`'s option list, in Git's words where Git has the option. */
const OPTION_HELP: OptionHelp = [
  ['-e', 'check if <object> exists'],
  ['-p', 'pretty-print <object> content'],
  ['-t', "show object type (one of 'blob', 'tree', 'commit', 'tag', ...)"],
  ['-s', 'show object size'],
  ['--batch[=<format>]', 'show full <object> contents'],
  ['--batch-check[=<format>]', "like --batch, but don't emit <contents>"],
  ['-z', 'stdin is NUL-terminated'],
  ['--batch-all-objects', 'with --batch[-check]: ignores stdin, batches all known objects'],
  ['--buffer', 'buffer --batch output'],
  [
    '--max-object-size <n>',
    'largest object built in memory (k, m, g; default 1g or $GIT_MIDX_MAX_OBJECT_SIZE)',
  ],
];

/** The environment variable that sets `--max-object-size` when the option is not given. */
const MAX_OBJECT_SIZE_ENV = 'GIT_MIDX_MAX_OBJECT_SIZE';

/**
 * Whole objects larger than this are printed through `ObjectStore.streamObject` (memory bounded
 * by its chunks), smaller ones read whole (the batch fast path); so are those above the store's
 * size limit (`streamAbove`), which streaming does not need.
 */
const STREAM_ABOVE = 4 * 1024 * 1024;

function streamAbove(store: ObjectStore): number {
  return Math.min(STREAM_ABOVE, store.objectSizeLimit);
}
/** Chunks of a streamed object. */
const STREAM_CHUNK = 1 << 18;

/** The context of one run: the repository's, and the limit on objects built in memory. */
type CatContext = Context & { maxObjectSize: number | undefined };

/** A byte count as Git's options take them: digits and an optional k, m or g (×1024 each). */
function parseMagnitude(text: string): number | undefined {
  const m = /^(\d+)([kmg]?)$/i.exec(text);
  if (!m) return undefined;
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const v = Number(m[1]) * scale;
  return Number.isSafeInteger(v) ? v : undefined;
}

type Mode = 't' | 's' | 'e' | 'p';

/** Ends the command with Git's usage error: `<level>: <message>` then the usage, exit 129. */
function usageFail(io: CliIO, level: 'error' | 'fatal', message: string): number {
  io.stderr(`${level}: ${message}\n${level === 'fatal' ? '\n' : ''}usage: git-midx [<options>] ${USAGE}\n`);
  return 129;
}

/** A fatal error after which Git exits 128. */
function fatal(io: CliIO, message: string): number {
  io.stderr(`fatal: ${message}\n`);
  return 128;
}

export const catFileCommand: Command = {
  name: 'cat-file',
  usage: USAGE,
  run(io, global, args) {
    // `--batch[=<format>]` takes an optional value, which parseArgs cannot express.
    let batch: { mode: 'batch' | 'batch-check'; format: string | undefined } | undefined;
    const rest: string[] = [];
    let ended = false;
    for (const a of args) {
      if (!ended) {
        if (a === '--') ended = true;
        const m = /^--(batch|batch-check)(?:=([\s\S]*))?$/.exec(a);
        if (m) {
          if (batch) return usageFail(io, 'error', 'only one batch option may be specified');
          batch = { mode: m[1] as 'batch' | 'batch-check', format: m[2] };
          continue;
        }
      }
      rest.push(a);
    }
    const p = parseCommand(io, rest, OPTIONS, USAGE, global, true, OPTION_HELP);
    let maxObjectSize: number | undefined;
    const given = p.values['max-object-size'];
    if (typeof given === 'string') {
      maxObjectSize = parseMagnitude(given);
      if (maxObjectSize === undefined) {
        return usageFail(
          io,
          'error',
          "option `max-object-size' expects a non-negative integer value with an optional k/m/g suffix",
        );
      }
    } else {
      const env = io.env[MAX_OBJECT_SIZE_ENV];
      if (env !== undefined && env !== '') {
        maxObjectSize = parseMagnitude(env.trim());
        if (maxObjectSize === undefined) {
          return fatal(
            io,
            `bad numeric value '${env}' for ${MAX_OBJECT_SIZE_ENV}: expected a non-negative integer with an optional k/m/g suffix`,
          );
        }
      }
    }
    // Object.assign, not a spread: a spread would read the context's lazy `progress` (node:tty).
    const context = () => Object.assign(makeContext(io, p.global), { maxObjectSize });
    const modes = modeOrder(rest);
    const allObjects = p.values['batch-all-objects'] === true;
    const positional = p.rest;
    if (modes.length > 1) {
      return usageFail(io, 'error', `switch \`${modes[1]}' is incompatible with -${modes[0]}`);
    }
    const mode = modes[0];
    if (batch) {
      if (mode) return usageFail(io, 'fatal', `'-${mode}' is incompatible with batch mode`);
      if (positional.length > 0) return usageFail(io, 'fatal', 'batch modes take no arguments');
      return runBatch(io, context(), batch.mode, batch.format ?? DEFAULT_FORMAT, {
        allObjects,
        nul: p.values.nul === true,
        buffer: p.values.buffer === true,
      });
    }
    if (allObjects) {
      if (mode) return usageFail(io, 'error', `switch \`${mode}' is incompatible with --batch-all-objects`);
      return usageFail(io, 'fatal', "'--batch-all-objects' requires a batch mode");
    }
    if (p.values.nul === true) return usageFail(io, 'fatal', "'-z' requires a batch mode");
    if (p.values.buffer === true) return usageFail(io, 'fatal', "'--buffer' requires a batch mode");
    if (!mode) {
      if (positional.length !== 2) {
        return usageFail(
          io,
          'fatal',
          `only two arguments allowed in <type> <object> mode, not ${positional.length}`,
        );
      }
      return runTyped(io, context(), positional[0], positional[1]);
    }
    if (positional.length === 0) return usageFail(io, 'fatal', `<object> required with '-${mode}'`);
    if (positional.length > 1) return usageFail(io, 'fatal', 'too many arguments');
    return runSingle(io, context(), mode, positional[0]);
  },
};

/** `-t`/`-s`/`-e`/`-p` in the order given (combined short flags included), repeats dropped. */
function modeOrder(args: readonly string[]): Mode[] {
  const out: Mode[] = [];
  for (const a of args) {
    if (a === '--') break;
    if (!a.startsWith('-') || a.startsWith('--')) continue;
    for (const c of a.slice(1)) {
      if ((c === 't' || c === 's' || c === 'e' || c === 'p') && !out.includes(c)) out.push(c);
    }
  }
  return out;
}

/**
 * Ids answered together: a window is looked up in one pass and read pack by pack in offset order
 * (ObjectStore's batch forms), then printed in input order. `--batch` holds a window's bytes, so
 * its window is smaller.
 */
const CHECK_WINDOW = 1 << 18;
/** Ids answered at once by `--batch-check --batch-all-objects` (each pack read once per window). */
const ALL_WINDOW = 1 << 20;
const BATCH_WINDOW = 1 << 10;
/** Lines of stdin read and answered together: memory is bounded by a block, not by the input. */
const BLOCK_LINES = 1 << 17;

/** One object's answer in a batch: the fields of ObjectInfo/ObjectDetails/StoredObject it has. */
interface Found {
  type?: ObjectType;
  size?: number;
  diskSize?: number;
  deltaBase?: Uint8Array;
  data?: Uint8Array;
  /** For --batch, a large object to stream when its turn comes (its id). */
  streamOid?: Uint8Array;
  /** For --batch: found, but its read failed (done again Git's way when its turn comes). */
  unreadable?: true;
}
const PRESENT: Found = {};

/**
 * The diagnostics of a batch run's store, held until the object being read is answered: a read
 * that fails is done again Git's way (`replayFailedRead`), whose lines are the ones Git prints.
 */
class HeldDiagnostics {
  private held: Diagnostic[] = [];
  constructor(private readonly print: (d: Diagnostic) => void) {}
  readonly add = (d: Diagnostic): void => {
    this.held.push(d);
  };
  /** Prints what is held (an object answered: Git printed these on its way). */
  flush(): void {
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    for (const d of held) this.print(d);
  }
  /** Forgets what is held (the failed read's lines: the replay prints Git's). */
  drop(): void {
    this.held = [];
  }
}

/** Whether `e` is a store's verdict that no copy of an object could be read. */
function isCorruptRead(e: unknown): e is GitMidxError {
  if (!isGitMidxError(e) || typeof e.data.oid !== 'string') return false;
  return /^packed object /.test(String(e.data.git)) || isCorruptLoose(e);
}

/** A blob's bytes from a stream that does not look past the zlib stream's end (or undefined). */
function streamedWhole(store: ObjectStore, oid: Uint8Array): Uint8Array | undefined {
  const s = store.streamObject(oid, { ignoreTrailingBytes: true });
  if (s === undefined) return undefined;
  try {
    const parts: Uint8Array[] = [];
    for (let c = s.read(); c !== undefined; c = s.read()) parts.push(c.slice());
    return Buffer.concat(parts);
  } catch {
    return undefined;
  } finally {
    s.close();
  }
}

/** A loose object whose zlib stream is whole, with bytes after it. */
function hasTrailingBytes(e: unknown): boolean {
  return isCorruptLoose(e) && /^garbage at end of loose object /.test(String(e.data.detail));
}

/** Git's last words when a blob cannot be streamed. */
function unableToStream(oid: Uint8Array): string {
  return `unable to stream ${toHex(oid)} to stdout`;
}

/** A loose object whose body cannot be read (its header could). */
function isCorruptLoose(e: unknown): e is GitMidxError {
  return isGitMidxError(e, 'LOOSE_CORRUPT') && e.data.missing === false;
}

/**
 * A blob that Git streams and whose stream fails: a loose one (Git streams every loose blob) ends
 * with zlib's complaint, if any, and `unable to stream <oid> to stdout`. Anything else is thrown.
 */
function streamFailure(e: unknown, oid: Uint8Array): GitMidxError {
  if (!isCorruptLoose(e)) throw e;
  let cause: unknown = e.cause;
  while (cause instanceof GitMidxError) cause = cause.cause;
  const zlib = zlibComplaint(cause);
  const git = unableToStream(oid);
  return new GitMidxError('LOOSE_CORRUPT', git, {
    file: e.file,
    data: { git, oid: toHex(oid), missing: false, errors: zlib === undefined ? [] : [zlib] },
    cause: e,
  });
}

/** Writes a --batch object's line, and its contents when given. */
type WriteLine = (
  type: ObjectType,
  size: number,
  details: Found | undefined,
  contents: Uint8Array | undefined,
) => void;

/** `replayFailedRead` for one object of a batch run (see runBatch). */
type Replay = (
  oid: Uint8Array,
  failure: GitMidxError,
  writeLine: WriteLine,
  writeMissing: () => void,
) => boolean;

/**
 * A --batch object whose read failed, answered in Git's order on a store of its own (no copy marked
 * bad yet; its lines printed as they come): Git first gets what the format needs (the type for the
 * contents, the size where the format shows it); when that fails the object's line says `missing`
 * and the run goes on (false here). Otherwise the line is written, then the contents are read: a
 * blob needs its size to be streamed (`unable to stream <oid> to stdout`), and a read that fails
 * again ends the run with Git's `packed object … is corrupt`. Returns true when it was answered
 * after all (the first failure did not happen again).
 */
function replayFailedRead(
  ctx: CatContext,
  oid: Uint8Array,
  needs: { size: boolean; details: boolean },
  failure: GitMidxError,
  writeLine: WriteLine,
  writeMissing: () => void,
): boolean {
  const store = openStore(ctx, false);
  try {
    const type = store.objectType(oid);
    // `%(objectsize:disk)` and `%(deltabase)` come from headers and indexes, without the size.
    let details: Found | undefined;
    if (type !== undefined && needs.details) {
      const d = store.objectDetailsPacked(oid, 1, false);
      if (d.found[0] === 1) {
        details = {
          diskSize: d.diskSizes[0],
          deltaBase: d.hasBase[0] === 1 ? d.bases.slice(0, oid.length) : undefined,
        };
      }
    }
    const info =
      type === undefined || (needs.details && details === undefined)
        ? undefined
        : needs.size
          ? store.objectInfo(oid)
          : { type, size: -1 };
    if (info === undefined) {
      writeMissing();
      return false;
    }
    const shown = Math.max(0, info.size);
    if (info.type === 'blob' && info.size < 0 && store.objectInfo(oid) === undefined) {
      writeLine(info.type, shown, details, undefined);
      const git = unableToStream(oid);
      throw new GitMidxError('OBJECT_CORRUPT', git, { data: { git, oid: toHex(oid) } });
    }
    let obj: StoredObject | undefined;
    try {
      obj = store.readObject(oid);
    } catch (e) {
      // Bytes after a loose blob's stream: Git's stream of it never reads them.
      const whole = info.type === 'blob' && hasTrailingBytes(e) ? streamedWhole(store, oid) : undefined;
      if (whole !== undefined) {
        writeLine(info.type, whole.length, details, whole);
        return true;
      }
      // The line goes out before the failure ends the run (Git writes it before reading).
      writeLine(info.type, shown, details, undefined);
      throw info.type === 'blob' ? streamFailure(e, oid) : e;
    }
    if (obj === undefined) {
      writeLine(info.type, shown, details, undefined);
      throw failure;
    }
    writeLine(obj.type, obj.size, details, obj.data);
    return true;
  } finally {
    store.close();
  }
}

/**
 * The store of a run: `batch` for many objects (the batch modes), else for one or two. Its
 * diagnostics go to `diag` (by default straight to stderr).
 */
function openStore(
  ctx: CatContext,
  batch: boolean,
  readMidxWhole = false,
  diag: (d: Diagnostic) => void = ctx.diag,
): ObjectStore {
  const store = openCliStore(ctx, {
    readMidxWhole,
    readSmallPacksWhole: batch,
    maxObjectSize: ctx.maxObjectSize,
    maxObjectSizeHint: `--max-object-size=<n> or ${MAX_OBJECT_SIZE_ENV}`,
    objectDir: ctx.objectDir,
    hash: ctx.hash,
    useMidx: ctx.config.getBool('core.multipackindex', true),
    env: ctx.io.env,
    cwd: ctx.io.cwd,
    onDiagnostic: diag,
  });
  if (ctx.gitDir !== undefined) {
    // Made on the first name that is not an id: reading refs costs nothing before.
    let revs: RevisionResolver | undefined;
    revisions.set(store, () => {
      revs ??= new RevisionResolver(store, openCliRefs(ctx)!);
      return revs;
    });
  }
  return store;
}

// ---------------------------------------------------------------------------------------------
// Names

/** The revision resolver of each store opened for a repository (refs need its git directory). */
const revisions = new WeakMap<ObjectStore, () => RevisionResolver>();

type Resolved = { oid: Uint8Array } | { missing: true } | { ambiguous: string[] };

/**
 * A full hex id is taken as it is (existence is checked by the caller, as Git does); 4 or more hex
 * digits are an abbreviation; anything else does not resolve.
 */
function resolveName(store: ObjectStore, name: string): Resolved {
  const hexSize = store.hash.hexSize;
  if (isHex(name) && name.length === hexSize) return { oid: fromHex(name)! };
  const revs = revisions.get(store);
  if (revs !== undefined) {
    // Refs, `<rev>^{type}`, `~n`, `^n`, `:path`, and abbreviations, in git's order.
    try {
      return { oid: revs().resolve(name) };
    } catch (e) {
      if (isGitMidxError(e, 'OBJECT_AMBIGUOUS')) return { ambiguous: e.data.candidates as string[] };
      if (isGitMidxError(e, 'REVISION_NOT_FOUND')) return { missing: true };
      throw e;
    }
  }
  if (!isHex(name)) return { missing: true };
  if (name.length > hexSize) return { missing: true };
  try {
    const oid = store.resolvePrefix(name);
    return oid ? { oid } : { missing: true };
  } catch (e) {
    if (isGitMidxError(e, 'OBJECT_AMBIGUOUS')) return { ambiguous: e.data.candidates as string[] };
    throw e;
  }
}

const TYPE_ORDER: Readonly<Record<string, number>> = { tag: 0, commit: 1, tree: 2, blob: 3 };

/** Git's `error: short object ID … is ambiguous` and the `hint:` list of candidates. */
function reportAmbiguous(io: CliIO, store: ObjectStore, name: string, candidates: readonly string[]): void {
  const rows = candidates.map((hex) => {
    const oid = fromHex(hex)!;
    const info = store.objectInfo(oid);
    let text = info ? info.type : 'unknown type';
    if (info && (info.type === 'commit' || info.type === 'tag')) {
      const obj = store.readObject(oid);
      if (obj) text = describeForHint(obj);
    }
    return { hex, order: info ? TYPE_ORDER[info.type] : 4, text };
  });
  rows.sort((a, b) => a.order - b.order || (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0));
  let s = `error: short object ID ${name.toLowerCase()} is ambiguous\nhint: The candidates are:\n`;
  for (const r of rows) s += `hint:   ${abbreviate(store, r.hex)} ${r.text}\n`;
  io.stderr(s);
}

/** The shortest unique abbreviation, at least Git's automatic length for a store this size. */
function abbreviate(store: ObjectStore, hex: string): string {
  const count = store.approximateObjectCount();
  const bits = count > 0 ? Math.floor(Math.log2(count)) + 1 : 0;
  let len = Math.max(7, Math.ceil(bits / 2));
  for (; len < hex.length; len++) {
    try {
      store.resolvePrefix(hex.slice(0, len));
      break;
    } catch (e) {
      if (!isGitMidxError(e, 'OBJECT_AMBIGUOUS')) throw e;
    }
  }
  return hex.slice(0, len);
}

const latin1 = new TextDecoder('latin1');
const utf8Decoder = new TextDecoder();

/** `commit <date> - <subject>` / `tag <date> - <name>` as Git's hints show them. */
function describeForHint(obj: StoredObject): string {
  const text = utf8Decoder.decode(obj.data);
  const split = text.indexOf('\n\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 2);
  const field = (key: string) =>
    head
      .split('\n')
      .find((l) => l.startsWith(`${key} `))
      ?.slice(key.length + 1);
  if (obj.type === 'commit') {
    const date = shortDate(field('author'));
    const subject = body.split('\n\n')[0].trim().split('\n').join(' ');
    return `commit ${date} - ${subject}`;
  }
  const date = shortDate(field('tagger'));
  return `tag ${date} - ${field('tag') ?? ''}`;
}

/** `YYYY-MM-DD` of an ident line's `<seconds> <±hhmm>`, in its own time zone. */
function shortDate(ident: string | undefined): string {
  const m = ident ? /(\d+) ([+-])(\d\d)(\d\d)$/.exec(ident) : null;
  if (!m) return '1970-01-01';
  const offset = (m[2] === '-' ? -1 : 1) * (Number(m[3]) * 60 + Number(m[4])) * 60;
  return new Date((Number(m[1]) + offset) * 1000).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// -t, -s, -e, -p and <type> <object>

/** The id `name` stands for, or Git's fatal exit status after saying why it stands for none. */
function resolveOrDie(io: CliIO, store: ObjectStore, name: string): Uint8Array | number {
  const r = resolveName(store, name);
  if ('ambiguous' in r) reportAmbiguous(io, store, name, r.ambiguous);
  if ('ambiguous' in r || 'missing' in r) return fatal(io, `Not a valid object name ${name}`);
  return r.oid;
}

/**
 * Everything left of a stream, straight to stdout (chunks are written before the next is read).
 * A packed copy whose stream turns out damaged ends the command as Git's read of it does: zlib's
 * complaint, then `packed object <oid> (stored in <pack>) is corrupt` (Git reads such a blob whole
 * before it writes a byte; we have written what came before the damage).
 */
function writeStream(io: CliIO, s: ObjectStream, oid: Uint8Array): number {
  try {
    for (let c = s.read(); c !== undefined; c = s.read()) io.stdout(c);
    return 0;
  } catch (e) {
    if (!isGitMidxError(e) || !e.code.startsWith('PACK_') || e.data.oid !== undefined || e.file === undefined)
      throw e;
    for (const line of Array.isArray(e.data.readErrors) ? e.data.readErrors : [])
      io.stderr(`error: ${line}\n`);
    return fatal(io, `packed object ${toHex(oid)} (stored in ${e.file}) is corrupt`);
  }
}

/**
 * A blob on its way to stdout (`-p`, `cat-file blob`): Git streams it, and opening the stream needs
 * its size, which a delta whose header cannot be read does not give (`unable to stream`).
 */
function writeBlob(io: CliIO, store: ObjectStore, oid: Uint8Array): number {
  const info = store.objectInfo(oid);
  if (!info) return fatal(io, unableToStream(oid));
  const stream = () => {
    const s = store.streamObject(oid, { chunkSize: STREAM_CHUNK, ignoreTrailingBytes: true });
    if (!s) return fatal(io, unableToStream(oid));
    try {
      return writeStream(io, s, oid);
    } catch (e) {
      throw streamFailure(e, oid);
    } finally {
      s.close();
    }
  };
  if (info.size > streamAbove(store)) return stream();
  let obj: StoredObject | undefined;
  try {
    obj = store.readObject(oid);
  } catch (e) {
    // Bytes after a loose blob's stream: Git's stream of it never reads them.
    if (hasTrailingBytes(e)) return stream();
    throw streamFailure(e, oid);
  }
  if (!obj) return fatal(io, unableToStream(oid));
  io.stdout(obj.data);
  return 0;
}

function runSingle(io: CliIO, ctx: CatContext, mode: Mode, name: string): number {
  const store = openStore(ctx, false);
  try {
    const r = resolveOrDie(io, store, name);
    if (typeof r === 'number') return r;
    switch (mode) {
      case 'e':
        return store.hasObject(r) ? 0 : 1;
      case 't': {
        // The type alone: from entry headers, whatever the state of the object's data.
        const type = store.objectType(r);
        if (!type) return fatal(io, 'git cat-file: could not get object info');
        io.stdout(`${type}\n`);
        return 0;
      }
      case 's': {
        const info = store.objectInfo(r);
        if (!info) return fatal(io, 'git cat-file: could not get object info');
        io.stdout(`${info.size}\n`);
        return 0;
      }
      case 'p': {
        // Git asks for the type first, then streams a blob; anything else it reads whole.
        const type = store.objectType(r);
        if (!type) return fatal(io, `Not a valid object name ${name}`);
        if (type === 'blob') return writeBlob(io, store, r);
        const obj = store.readObject(r);
        if (!obj) return fatal(io, `Not a valid object name ${name}`);
        if (obj.type === 'tree') {
          io.stdout(prettyTree(obj.data, store.hash.size, ctx.config.getBool('core.quotepath', true)));
        } else {
          io.stdout(obj.data);
        }
        return 0;
      }
    }
  } finally {
    store.close();
  }
}

const TYPES: ReadonlySet<string> = new Set(['commit', 'tree', 'blob', 'tag']);

/** `cat-file <type> <object>`: the object, peeled through tags (and commit → tree) to that type. */
function runTyped(io: CliIO, ctx: CatContext, type: string, name: string): number {
  if (!TYPES.has(type)) return fatal(io, `invalid object type "${type}"`);
  const store = openStore(ctx, false);
  try {
    const r = resolveOrDie(io, store, name);
    if (typeof r === 'number') return r;
    let oid: Uint8Array | undefined = r;
    /** The object could not be read, though its file is there. */
    let unreadable = false;
    // A blob asked for as a blob: Git asks the type twice (a tag to peel? a blob?), then streams
    // it as `-p` does (its size first).
    if (type === 'blob') {
      const first = store.objectType(r);
      if (first !== 'tag' && store.objectType(r) === 'blob') return writeBlob(io, store, r);
    }
    for (let hops = 0; oid !== undefined && hops <= 64; hops++) {
      // Each object on the way: its type from its headers; tags and commits are read to peel.
      const found = store.objectType(oid);
      if (found === undefined) {
        unreadable = store.hasObject(oid);
        break;
      }
      // A blob is streamed; any other type Git reads whole before it writes a byte.
      if (found === type && type === 'blob') return writeBlob(io, store, oid);
      if (found === type) {
        const whole = store.readObject(oid);
        if (whole === undefined) {
          unreadable = store.hasObject(oid);
          break;
        }
        io.stdout(whole.data);
        return 0;
      }
      // (Git's read_object_with_reference: a commit leads to its tree, whatever type is asked for.)
      if (found !== 'tag' && found !== 'commit') break;
      const obj = store.readObject(oid);
      if (!obj) break;
      const text = latin1.decode(obj.data.subarray(0, Math.min(obj.data.length, 200)));
      const next = (found === 'tag' ? /^object ([0-9a-f]+)\n/ : /^tree ([0-9a-f]+)\n/).exec(text);
      oid = next && next[1].length === store.hash.hexSize ? fromHex(next[1]) : undefined;
    }
    // Git reads the object whole before it finds it is not of that type: a damaged one dies there.
    if (oid !== undefined && !unreadable) store.readObject(oid);
    // A loose file that could not be read: Git's read of it dies saying so.
    if (oid !== undefined && unreadable) {
      const hex = toHex(oid);
      return fatal(io, `loose object ${hex} (stored in ${loosePath(ctx.objectDir, hex)}) is corrupt`);
    }
    return fatal(io, `git cat-file ${name}: bad file`);
  } finally {
    store.close();
  }
}

/** `ls-tree` lines for a tree object (what `cat-file -p` prints for trees). */
function prettyTree(data: Uint8Array, H: number, quotePath: boolean): Uint8Array {
  // One string for the whole listing, bytes kept as they are (latin1 both ways): a tree of
  // hundreds of entries, printed once, in code not yet optimised, costs far less so than with
  // pieces of bytes per entry.
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  let out = '';
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const nul = sp < 0 ? -1 : data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + H > data.length) throw new Error('too-short tree file');
    let mode = 0;
    for (let i = pos; i < sp; i++) {
      const c = data[i];
      if (c < 0x30 || c > 0x37) throw new Error('malformed mode in tree entry');
      mode = mode * 8 + (c - 0x30);
    }
    if (sp === pos) throw new Error('malformed mode in tree entry');
    if (nul === sp + 1) throw new Error('empty filename in tree entry');
    const kind = mode & 0o170000;
    const type: ObjectType = kind === 0o040000 ? 'tree' : kind === 0o160000 ? 'commit' : 'blob';
    const q = quoteC(data.subarray(sp + 1, nul), quotePath);
    out += `${mode.toString(8).padStart(6, '0')} ${type} ${buf.toString('hex', nul + 1, nul + 1 + H)}\t${Buffer.from(q.buffer, q.byteOffset, q.length).toString('latin1')}\n`;
    pos = nul + 1 + H;
  }
  return Buffer.from(out, 'latin1');
}

const C_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x07, 'a'],
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0b, 'v'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [0x22, '"'],
  [0x5c, '\\'],
]);

/** Git's C-style quoting of a path: `"…"` with escapes when a byte needs it, else as it is. */
function quoteC(name: Uint8Array, quoteHigh: boolean): Uint8Array {
  const needs = (c: number) => c < 0x20 || c === 0x22 || c === 0x5c || c === 0x7f || (quoteHigh && c >= 0x80);
  let plain = true;
  for (let i = 0; i < name.length && plain; i++) plain = !needs(name[i]);
  if (plain) return name;
  const out: number[] = [0x22];
  for (const c of name) {
    if (!needs(c)) {
      out.push(c);
      continue;
    }
    out.push(0x5c);
    const e = C_ESCAPES.get(c);
    if (e !== undefined) out.push(e.charCodeAt(0));
    else for (const d of c.toString(8).padStart(3, '0')) out.push(d.charCodeAt(0));
  }
  out.push(0x22);
  return new Uint8Array(out);
}

// ---------------------------------------------------------------------------------------------
// Batch modes

/**
 * Parses the lines from `pos` on (at most the window's `starts.length`): where each is, and the
 * slot of its id in `ids` (-1 missing, -2 ambiguous, with Git's candidates in `ambiguous`). Full
 * hex ids are decoded in place; other names take the usual road. Sets `counts` to the number of
 * lines and of ids; returns where the next line starts. (A function of its own, like each batch
 * loop: V8 then optimises it early in a one-shot run.)
 */
function parseLines(
  store: ObjectStore,
  input: Buffer,
  pos: number,
  nul: boolean,
  W: number,
  starts: Int32Array,
  ends: Int32Array,
  slots: Int32Array,
  lowercase: Uint8Array,
  ids: Uint8Array,
  ambiguous: Map<number, string[]>,
  counts: Int32Array,
): number {
  const H = store.hash.size;
  const hexSize = store.hash.hexSize;
  const sep = nul ? 0 : 10;
  const total = input.length;
  let lines = 0;
  let count = 0;
  while (pos < total && lines < W) {
    // Most lines are a full hex id: one look at where its end would be instead of a search. The
    // guess holds only when the id decodes (`a` LF and 38 more bytes also end there).
    let slot = -1;
    let end = -1;
    lowercase[lines] = 0;
    if (pos + hexSize < total && input[pos + hexSize] === sep) {
      const upper = hexBytesInto(input, pos, ids, count * H, H);
      if (upper >= 0) {
        end = pos + hexSize;
        slot = count++;
        // Already lowercase: the name can be printed as it came.
        lowercase[lines] = upper === 0 ? 1 : 0;
      }
    }
    if (end < 0) end = input.indexOf(sep, pos);
    const next = end < 0 ? total : end + 1;
    // CR LF ends a line as LF does; a CR at the very end of the input stays (as in Git).
    if (end < 0) end = total;
    else if (!nul && end > pos && input[end - 1] === 13) end--;
    starts[lines] = pos;
    ends[lines] = end;
    if (slot === -1 && end - pos === hexSize) {
      const at = count * H;
      const upper = hexBytesInto(input, pos, ids, at, H);
      if (upper >= 0) {
        slot = count++;
        lowercase[lines] = upper === 0 ? 1 : 0;
      }
    }
    if (slot === -1) {
      const r = resolveName(
        store,
        Buffer.from(input.buffer, input.byteOffset + pos, end - pos).toString('latin1'),
      );
      if ('oid' in r) {
        ids.set(r.oid, count * H);
        slot = count++;
      } else if ('ambiguous' in r) {
        ambiguous.set(lines, r.ambiguous);
        slot = -2;
      }
    }
    slots[lines] = slot;
    lines++;
    pos = next;
  }
  counts[0] = lines;
  counts[1] = count;
  return pos;
}

/** An ambiguous name: Git's error and hints (after the lines before it), then its line. */
function answerAmbiguous(
  io: CliIO,
  store: ObjectStore,
  out: Output,
  writer: BatchLineWriter,
  name: string,
  candidates: readonly string[],
): void {
  out.flush();
  reportAmbiguous(io, store, name, candidates);
  writer.ambiguous(out, name);
}

/**
 * `--batch-check --batch-all-objects`: every id, in order, from one buffer; what the format asks
 * of them (type and size, disk size and delta base) answered window by window into arrays, pack
 * by pack in offset order, with no string or object per id.
 */
function allObjectsCheck(
  store: ObjectStore,
  writer: BatchLineWriter,
  out: Output,
  needsInfo: boolean,
  needsDetails: boolean,
): void {
  const H = store.hash.size;
  const { ids: all, midxFirst } = store.allObjectIdBytes();
  const n = all.length / H;
  const details = { diskSize: 0, deltaBase: undefined as Uint8Array | undefined, deltaBaseAt: 0 };
  for (let first = 0; first < n; first += ALL_WINDOW) {
    const count = Math.min(ALL_WINDOW, n - first);
    const ids = all.subarray(first * H, (first + count) * H);
    if (needsDetails) {
      const r = store.objectDetailsPacked(ids, count, needsInfo, midxFirst < 0 ? -1 : midxFirst + first);
      for (let k = 0; k < count; k++) {
        if (r.found[k] === 0) {
          writer.missing(out, toHex(ids, k * H, k * H + H));
          continue;
        }
        details.diskSize = r.diskSizes[k];
        details.deltaBase = r.hasBase[k] !== 0 ? r.bases : undefined;
        details.deltaBaseAt = k * H;
        writer.object(out, ids, k * H, undefined, 0, r.types[k], r.sizes[k], details, '', undefined);
      }
    } else if (needsInfo) {
      const { types, sizes } = store.objectInfoPacked(ids, count, midxFirst < 0 ? -1 : midxFirst + first);
      for (let k = 0; k < count; k++) {
        if (types[k] === 0) writer.missing(out, toHex(ids, k * H, k * H + H));
        else writer.object(out, ids, k * H, undefined, 0, types[k], sizes[k], undefined, '', undefined);
      }
    } else {
      // Only names: every id listed is there.
      for (let k = 0; k < count; k++)
        writer.object(out, ids, k * H, undefined, 0, 0, 0, undefined, '', undefined);
    }
  }
}

/**
 * `--batch --batch-all-objects`: every id, in order, from one buffer, read as `batchFast` reads
 * named ids (window by window, pack by pack in offset order; large whole objects streamed).
 */
function allObjectsBatch(store: ObjectStore, writer: BatchLineWriter, out: Output): void {
  const H = store.hash.size;
  const { ids } = store.allObjectIdBytes();
  const n = ids.length / H;
  const line = (k: number, type: number, size: number, contents: Uint8Array | ObjectStream | undefined) => {
    if (type === 0) writer.missing(out, toHex(ids, k * H, k * H + H));
    else writer.object(out, ids, k * H, undefined, 0, type, size, undefined, '', contents);
  };
  store.readObjectsEach(
    ids,
    n,
    (k, o) => {
      if (o === undefined) line(k, 0, 0, undefined);
      else line(k, TYPE_NUMBER[o.type], o.size, o.data);
    },
    {
      streamAbove: streamAbove(store),
      chunkSize: STREAM_CHUNK,
      onStream: (k, s) => line(k, TYPE_NUMBER[s.type], s.size, s),
      // Each object is written out in its line (the output copies what it keeps, or writes it).
      transient: out.sinkCopies,
    },
  );
}

/**
 * `--batch-check` and `--batch` with the fields every object has (name, type, size, text),
 * straight from the input bytes: full hex ids are decoded in place, a window of them is answered
 * by one `objectInfoPacked` or `readObjectsEach` call, and the lines are written as bytes. Other
 * names (abbreviations, anything else) take the usual road. Output equals `runBatch`'s.
 */
function batchFast(
  io: CliIO,
  store: ObjectStore,
  blocks: LineBlockReader,
  writer: BatchLineWriter,
  nul: boolean,
  out: Output,
  withData: boolean,
  flushEachBlock: boolean,
  held?: HeldDiagnostics,
  replay?: Replay,
): void {
  const H = store.hash.size;
  const hexSize = store.hash.hexSize;
  const sep = nul ? 0 : 10;
  // Sized for the largest block so far: a short input needs little.
  let W = 0;
  let starts = new Int32Array(0);
  let ends = starts;
  /** Slot of the line's id in `ids`, -1 missing, -2 ambiguous. */
  let slots = starts;
  let lowercase = new Uint8Array(0);
  let ids = lowercase;
  const counts = new Int32Array(2);
  for (let input = blocks.next(); input !== undefined; input = blocks.next()) {
    const need = countLines(input, sep, hexSize, BLOCK_LINES);
    if (need > W) {
      W = need;
      starts = new Int32Array(W);
      ends = new Int32Array(W);
      slots = new Int32Array(W);
      lowercase = new Uint8Array(W);
      ids = new Uint8Array(W * H);
    }
    batchWindows(
      io,
      store,
      input,
      writer,
      nul,
      out,
      withData,
      W,
      starts,
      ends,
      slots,
      lowercase,
      ids,
      counts,
      held,
      replay,
    );
    if (flushEachBlock) out.flush();
  }
}

/** The windows of one block of input lines (see batchFast). */
function batchWindows(
  io: CliIO,
  store: ObjectStore,
  input: Buffer,
  writer: BatchLineWriter,
  nul: boolean,
  out: Output,
  withData: boolean,
  W: number,
  starts: Int32Array,
  ends: Int32Array,
  slots: Int32Array,
  lowercase: Uint8Array,
  ids: Uint8Array,
  counts: Int32Array,
  held: HeldDiagnostics | undefined,
  replay: Replay | undefined,
): void {
  const H = store.hash.size;
  let pos = 0;
  const total = input.length;
  while (pos < total) {
    const ambiguous = new Map<number, string[]>();
    pos = parseLines(store, input, pos, nul, W, starts, ends, slots, lowercase, ids, ambiguous, counts);
    const lines = counts[0];
    const count = counts[1];
    /** Prints line j: found (type ≠ 0) or missing; ambiguous names get Git's hint first. */
    const line = (j: number, type: number, size: number, contents: Uint8Array | ObjectStream | undefined) => {
      held?.flush();
      const slot = slots[j];
      const s = starts[j];
      if (slot === -2) {
        const name = Buffer.from(input.buffer, input.byteOffset + s, ends[j] - s).toString('latin1');
        answerAmbiguous(io, store, out, writer, name, ambiguous.get(j)!);
      } else if (type === 0) {
        writer.missing(out, input, s, ends[j]);
      } else {
        // A name that came as the id in lowercase hex is printed as it came.
        const name = lowercase[j] === 1 ? input : undefined;
        writer.object(out, ids, slot * H, name, s, type, size, undefined, '', contents);
      }
    };
    if (!withData) {
      const { types, sizes } = store.objectInfoPacked(ids, count);
      writeInfoLines(out, writer, input, starts, slots, lowercase, ids, H, types, sizes, lines, line);
      continue;
    }
    // Objects come in id order, which is line order; the lines without an id come between.
    let j = 0;
    const lineOf = (k: number) => {
      while (slots[j] < 0) line(j++, 0, 0, undefined);
      if (slots[j] !== k) throw new Error(`batch order: line ${j} has id ${slots[j]}, got ${k}`);
      return j++;
    };
    // From id `from` on; an object whose read fails is done again Git's way, and the ids after it
    // are read on from there.
    for (let from = 0; from < count; ) {
      let next = from;
      try {
        store.readObjectsEach(
          ids.subarray(from * H, count * H),
          count - from,
          (i, o) => {
            const k = from + i;
            next = k + 1;
            const at = lineOf(k);
            if (o === undefined) line(at, 0, 0, undefined);
            else line(at, TYPE_NUMBER[o.type], o.size, o.data);
          },
          {
            // Large whole objects: the line, then their bytes as they are inflated.
            streamAbove: streamAbove(store),
            chunkSize: STREAM_CHUNK,
            onStream: (i, s) => {
              next = from + i + 1;
              line(lineOf(from + i), TYPE_NUMBER[s.type], s.size, s);
            },
            // Each object is written out in its line (the output copies what it keeps, or writes it).
            transient: out.sinkCopies,
          },
        );
        from = count;
      } catch (e) {
        if (replay === undefined || !isCorruptRead(e) || next >= count) throw e;
        const k = next;
        const at = lineOf(k);
        replay(
          ids.subarray(k * H, k * H + H),
          e,
          (type, size, _details, contents) => line(at, TYPE_NUMBER[type], size, contents),
          () => line(at, 0, 0, undefined),
        );
        from = k + 1;
      }
    }
    while (j < lines) line(j++, 0, 0, undefined);
  }
}

/**
 * The `--batch-check` lines of a window, from `objectInfoPacked`'s answers: each found id's line
 * written here, `line(j, …)` for the others. (A loop of its own, as parseLines.)
 */
function writeInfoLines(
  out: Output,
  writer: BatchLineWriter,
  input: Buffer,
  starts: Int32Array,
  slots: Int32Array,
  lowercase: Uint8Array,
  ids: Uint8Array,
  H: number,
  types: Uint8Array,
  sizes: Float64Array,
  lines: number,
  line: (j: number, type: number, size: number, contents: undefined) => void,
): void {
  for (let j = 0; j < lines; j++) {
    const slot = slots[j];
    const type = slot < 0 ? 0 : types[slot];
    if (type === 0) line(j, 0, 0, undefined);
    else {
      const name = lowercase[j] === 1 ? input : undefined;
      writer.object(out, ids, slot * H, name, starts[j], type, sizes[slot], undefined, '', undefined);
    }
  }
}

function runBatch(
  io: CliIO,
  ctx: CatContext,
  mode: 'batch' | 'batch-check',
  format: string,
  opts: { allObjects: boolean; nul: boolean; buffer: boolean },
): number {
  let writer: BatchLineWriter;
  try {
    writer = new BatchLineWriter(format, ctx.hash.size);
  } catch (e) {
    if (e instanceof FormatError) return fatal(io, e.message);
    throw e;
  }
  const { usesRest, needsInfo, needsDetails } = writer;
  const hexSize = ctx.hash.hexSize;
  const sep = opts.nul ? '\0' : '\n';
  // With contents, a read that fails is done again Git's way (replayFailedRead): the store's
  // lines wait until the object is answered.
  const held = mode === 'batch' ? new HeldDiagnostics(ctx.diag) : undefined;
  const store = openStore(ctx, true, opts.allObjects, held?.add);
  const out = new Output(io);
  const replay: Replay | undefined =
    held === undefined
      ? undefined
      : (oid, failure, writeLine, writeMissing) => {
          held.drop();
          return replayFailedRead(
            ctx,
            oid,
            { size: writer.needsSize, details: needsDetails },
            failure,
            writeLine,
            writeMissing,
          );
        };
  // Stdin is read block by block, each block answered (and, unless --buffer, written out) before
  // the next is read: memory stays bounded whatever the length of the input, and a writer that
  // waits for its answers gets them.
  const blocks = new LineBlockReader(opts.allObjects ? bufferSource(new Uint8Array(0)) : commandInput(io), {
    sep: opts.nul ? 0 : 10,
    maxLines: BLOCK_LINES,
    interactive: !opts.buffer,
  });
  if (!opts.allObjects && !needsDetails && !usesRest) {
    try {
      batchFast(io, store, blocks, writer, opts.nul, out, mode === 'batch', !opts.buffer, held, replay);
      return 0;
    } finally {
      held?.flush();
      out.flush();
      store.close();
    }
  }
  if (opts.allObjects && !usesRest && (mode === 'batch-check' || !needsDetails)) {
    try {
      if (mode === 'batch') allObjectsBatch(store, writer, out);
      else allObjectsCheck(store, writer, out, needsInfo, needsDetails);
      return 0;
    } finally {
      held?.flush();
      out.flush();
      store.close();
    }
  }
  try {
    /** One name's line (and contents): `found` undefined when the object is missing. */
    const emit = (name: string, rest: string, oid: Uint8Array, found: Found | undefined) => {
      if (found?.unreadable === true) {
        oneByOne(name, rest, oid, true);
        return;
      }
      held?.flush();
      let stream: ObjectStream | undefined;
      if (found?.streamOid !== undefined) {
        stream = store.streamObject(found.streamOid, { chunkSize: STREAM_CHUNK });
        if (stream === undefined) found = undefined;
      }
      if (found === undefined) {
        writer.missing(out, name);
        return;
      }
      try {
        const type = found.type === undefined ? 0 : TYPE_NUMBER[found.type];
        writer.object(out, oid, 0, undefined, 0, type, found.size ?? 0, found, rest, stream ?? found.data);
      } finally {
        stream?.close();
      }
    };
    /**
     * The objects' bytes for --batch, next to what `infos` says of them: large ones are left to
     * stream when printed (`streamOid`), the rest read together. With `details`, an object needs
     * both answers (as `objectDetailsMany` and `readObjects` gave them); else the read answers.
     */
    const withData = (
      oids: Uint8Array[],
      infos: (Found | undefined)[],
      details: boolean,
    ): (Found | undefined)[] => {
      const above = streamAbove(store);
      const big = (i: number) => (infos[i]?.size ?? 0) > above;
      // An object whose fields could not be had is `missing` (Git reads no further).
      const toRead = oids.filter((_, i) => infos[i] !== undefined && !big(i));
      const objs = toRead.length > 0 ? store.readObjects(toRead) : [];
      let r = 0;
      return oids.map((oid, i) => {
        const info = infos[i];
        if (info === undefined) return undefined;
        if (big(i)) return { ...info, streamOid: oid };
        const o = objs[r++];
        if (o === undefined && replay !== undefined) return { unreadable: true };
        if (!details) return o;
        return o && { ...info, type: o.type, size: o.size, data: o.data };
      });
    };
    /** `%(objectsize:disk)`, `%(deltabase)`: with the type and size only when the format shows them. */
    const detailsOf = (oids: Uint8Array[]): (Found | undefined)[] => {
      if (needsInfo) return store.objectDetailsMany(oids);
      const H = ctx.hash.size;
      const ids = new Uint8Array(oids.length * H);
      for (let k = 0; k < oids.length; k++) ids.set(oids[k], k * H);
      const d = store.objectDetailsPacked(ids, oids.length, false);
      return oids.map((_, k) =>
        d.found[k] === 1
          ? {
              diskSize: d.diskSizes[k],
              deltaBase: d.hasBase[k] === 1 ? d.bases.slice(k * H, k * H + H) : undefined,
            }
          : undefined,
      );
    };
    /** What one object contributes: the fields the format names, and its bytes for --batch. */
    const lookupMany = (oids: Uint8Array[]): (Found | undefined)[] => {
      if (needsDetails) {
        const details = detailsOf(oids);
        if (mode !== 'batch') return details;
        return withData(oids, details, true);
      }
      if (mode === 'batch') return withData(oids, store.objectInfos(oids), false);
      if (needsInfo) return store.objectInfos(oids);
      return store.hasObjects(oids).map((ok) => (ok ? PRESENT : undefined));
    };

    /**
     * One name's line, looked up alone (unless known to be `unreadable`); a read that fails is done
     * again Git's way (`replay`).
     */
    const oneByOne = (name: string, rest: string, oid: Uint8Array, unreadable = false): void => {
      let f: Found | undefined;
      let failure: GitMidxError | undefined;
      try {
        if (!unreadable) f = lookupMany([oid])[0];
      } catch (e) {
        if (replay === undefined || !isCorruptRead(e)) throw e;
        failure = e;
      }
      if (!unreadable && failure === undefined && f?.unreadable !== true) {
        emit(name, rest, oid, f);
        return;
      }
      const hex = toHex(oid);
      const git = `object ${hex} could not be read`;
      replay!(
        oid,
        failure ?? new GitMidxError('OBJECT_CORRUPT', git, { data: { git, oid: hex } }),
        (type, size, details, contents) =>
          writer.object(out, oid, 0, undefined, 0, TYPE_NUMBER[type], size, details, rest, contents),
        () => writer.missing(out, name),
      );
    };

    /** The lines of one block, window by window (a window of ids looked up at once). */
    const answerLines = (lines: string[], terminated: boolean): void => {
      const window = mode === 'batch' ? BATCH_WINDOW : CHECK_WINDOW;
      const H = ctx.hash.size;
      for (let first = 0; first < lines.length; first += window) {
        const last = Math.min(lines.length, first + window);
        const names: string[] = [];
        const rests: string[] = [];
        const resolved: Resolved[] = [];
        const oids: Uint8Array[] = [];
        const idBytes = new Uint8Array((last - first) * H);
        for (let j = first; j < last; j++) {
          let line = lines[j];
          // CR LF ends a line as LF does; a CR at the very end of the input stays (as in Git).
          if (!opts.nul && line.endsWith('\r') && (terminated || j < lines.length - 1))
            line = line.slice(0, -1);
          let name = line;
          let rest = '';
          if (usesRest) {
            const m = /[ \t]/.exec(line);
            if (m) {
              name = line.slice(0, m.index);
              rest = line.slice(m.index + 1).replace(/^[ \t\n\v\f\r]+/, '');
            }
          }
          names.push(name);
          rests.push(rest);
          // A full hex id needs no store: it is decoded here (into one buffer for the window);
          // abbreviations ask the store.
          let r: Resolved | undefined;
          if (name.length === hexSize) {
            const at = oids.length * H;
            if (fromHex(name, idBytes, at) !== undefined) r = { oid: idBytes.subarray(at, at + H) };
          }
          if (r === undefined) r = resolveName(store, name);
          resolved.push(r);
          if ('oid' in r) oids.push(r.oid);
        }
        let found: (Found | undefined)[] | undefined;
        /** The object whose read failed (its copy is now marked bad: `replay` answers it). */
        let failed: string | undefined;
        try {
          found = lookupMany(oids);
        } catch (e) {
          // An object that cannot be read ends the run after the lines before it, as in Git:
          // this window is done again id by id, and the failure is met in order.
          found = undefined;
          if (isCorruptRead(e)) failed = String(e.data.oid);
        }
        // The window's failed reads are done again in their turn, and say then what Git says.
        if (failed !== undefined || found?.some((f) => f?.unreadable === true)) held?.drop();
        for (let j = 0, k = 0; j < names.length; j++) {
          const r = resolved[j];
          if ('missing' in r) {
            writer.missing(out, names[j]);
          } else if ('ambiguous' in r) {
            answerAmbiguous(io, store, out, writer, names[j], r.ambiguous);
          } else {
            if (found !== undefined) emit(names[j], rests[j], r.oid, found[k++]);
            else oneByOne(names[j], rests[j], r.oid, failed !== undefined && toHex(r.oid) === failed);
          }
        }
      }
    };

    if (opts.allObjects) {
      const all = store.allObjectIdsHex();
      const window = mode === 'batch' ? BATCH_WINDOW : CHECK_WINDOW;
      for (let first = 0; first < all.length; first += window) {
        const hexes = all.slice(first, first + window);
        const oids = hexes.map((h) => fromHex(h)!);
        let found: (Found | undefined)[] | undefined;
        let failed: string | undefined;
        try {
          found = lookupMany(oids);
        } catch (e) {
          found = undefined;
          if (isCorruptRead(e)) failed = String(e.data.oid);
        }
        if (failed !== undefined || found?.some((f) => f?.unreadable === true)) held?.drop();
        for (let i = 0; i < hexes.length; i++) {
          if (found !== undefined) emit(hexes[i], '', oids[i], found[i]);
          else oneByOne(hexes[i], '', oids[i], hexes[i] === failed);
        }
      }
    } else {
      for (let block = blocks.next(); block !== undefined; block = blocks.next()) {
        // Bytes as latin1: any name, valid UTF-8 or not, is echoed exactly as it came.
        const lines = block.toString('latin1').split(sep);
        const terminated = lines[lines.length - 1] === '';
        if (terminated) lines.pop();
        answerLines(lines, terminated);
        if (!opts.buffer) out.flush();
      }
    }
    return 0;
  } finally {
    held?.flush();
    out.flush();
    store.close();
  }
}
