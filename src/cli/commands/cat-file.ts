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
import { concatBytes, fromHex, isHex, toHex } from '../../bytes.js';
import { isGitMidxError } from '../../errors.js';
import { type ObjectStore, ObjectStore as Store, type StoredObject } from '../../node/odb.js';
import type { ObjectType } from '../../pack/pack.js';
import { type CliIO, type Context, makeContext } from '../context.js';
import type { Command } from '../main.js';
import { parseCommon } from '../options.js';

const USAGE =
  'cat-file (-t | -s | -e | -p) <object> | <type> <object> | (--batch | --batch-check)[=<format>] [--batch-all-objects] [-z]';

const DEFAULT_FORMAT = '%(objectname) %(objecttype) %(objectsize)';

const OPTIONS = {
  'show-type': { type: 'boolean', short: 't' },
  'show-size': { type: 'boolean', short: 's' },
  'show-exists': { type: 'boolean', short: 'e' },
  'show-pretty': { type: 'boolean', short: 'p' },
  nul: { type: 'boolean', short: 'z' },
  buffer: { type: 'boolean' },
  'batch-all-objects': { type: 'boolean' },
} as const;

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
    const p = parseCommon(rest, false, OPTIONS, USAGE, global);
    if (p.help) {
      io.stdout(`usage: git-midx [<options>] ${USAGE}\n`);
      return 129;
    }
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
      return runBatch(io, makeContext(io, p.global), batch.mode, batch.format ?? DEFAULT_FORMAT, {
        allObjects,
        nul: p.values.nul === true,
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
      return runTyped(io, makeContext(io, p.global), positional[0], positional[1]);
    }
    if (positional.length === 0) return usageFail(io, 'fatal', `<object> required with '-${mode}'`);
    if (positional.length > 1) return usageFail(io, 'fatal', 'too many arguments');
    return runSingle(io, makeContext(io, p.global), mode, positional[0]);
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

/** Lookups from which a batch reads each MIDX whole rather than page by page. */
const WHOLE_MIDX_BATCH = 1024;

function openStore(ctx: Context, readMidxWhole = false): ObjectStore {
  return Store.open({
    readMidxWhole,
    objectDir: ctx.objectDir,
    hash: ctx.hash,
    useMidx: ctx.config.getBool('core.multipackindex', true),
    env: ctx.io.env,
    cwd: ctx.io.cwd,
    onDiagnostic: ctx.diag,
  });
}

// ---------------------------------------------------------------------------------------------
// Names

/** `fromFullHex`: the name was the full hex id itself. */
type Resolved = { oid: Uint8Array; fromFullHex?: boolean } | { missing: true } | { ambiguous: string[] };

/**
 * A full hex id is taken as it is (existence is checked by the caller, as Git does); 4 or more hex
 * digits are an abbreviation; anything else does not resolve.
 */
function resolveName(store: ObjectStore, name: string): Resolved {
  const hexSize = store.hash.hexSize;
  if (!isHex(name)) return { missing: true };
  if (name.length === hexSize) return { oid: fromHex(name)!, fromFullHex: true };
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

function runSingle(io: CliIO, ctx: Context, mode: Mode, name: string): number {
  const store = openStore(ctx);
  try {
    const r = resolveOrDie(io, store, name);
    if (typeof r === 'number') return r;
    switch (mode) {
      case 'e':
        return store.hasObject(r) ? 0 : 1;
      case 't':
      case 's': {
        const info = store.objectInfo(r);
        if (!info) return fatal(io, 'git cat-file: could not get object info');
        io.stdout(`${mode === 't' ? info.type : info.size}\n`);
        return 0;
      }
      case 'p': {
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
function runTyped(io: CliIO, ctx: Context, type: string, name: string): number {
  if (!TYPES.has(type)) return fatal(io, `invalid object type "${type}"`);
  const store = openStore(ctx);
  try {
    const r = resolveOrDie(io, store, name);
    if (typeof r === 'number') return r;
    let obj = store.readObject(r);
    for (let hops = 0; obj && obj.type !== type && hops < 64; hops++) {
      const text = latin1.decode(obj.data.subarray(0, Math.min(obj.data.length, 200)));
      let next: RegExpExecArray | null = null;
      if (obj.type === 'tag') next = /^object ([0-9a-f]+)\n/.exec(text);
      else if (obj.type === 'commit' && type === 'tree') next = /^tree ([0-9a-f]+)\n/.exec(text);
      const oid = next && next[1].length === store.hash.hexSize ? fromHex(next[1]) : undefined;
      obj = oid ? store.readObject(oid) : undefined;
    }
    if (!obj || obj.type !== type) return fatal(io, `git cat-file ${name}: bad file`);
    io.stdout(obj.data);
    return 0;
  } finally {
    store.close();
  }
}

/** `ls-tree` lines for a tree object (what `cat-file -p` prints for trees). */
function prettyTree(data: Uint8Array, H: number, quotePath: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
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
    const name = data.subarray(sp + 1, nul);
    if (name.length === 0) throw new Error('empty filename in tree entry');
    const kind = mode & 0o170000;
    const type: ObjectType = kind === 0o040000 ? 'tree' : kind === 0o160000 ? 'commit' : 'blob';
    parts.push(
      enc.encode(`${mode.toString(8).padStart(6, '0')} ${type} ${toHex(data, nul + 1, nul + 1 + H)}\t`),
    );
    parts.push(quoteC(name, quotePath));
    parts.push(NEWLINE);
    pos = nul + 1 + H;
  }
  return concatBytes(parts);
}

const NEWLINE = new Uint8Array([0x0a]);
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
  if (!name.some(needs)) return name;
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

type Atom =
  | { kind: 'text'; text: string }
  | { kind: 'objectname' | 'objecttype' | 'objectsize' | 'objectsize:disk' | 'deltabase' | 'rest' };

class FormatError extends Error {}

/** Parses a batch format the way Git expands it: `%(atom)`, `%%` → `%`, any other `%` literal. */
function parseFormat(format: string): Atom[] {
  const atoms: Atom[] = [];
  let text = '';
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
    switch (name) {
      case 'objectname':
      case 'objecttype':
      case 'objectsize':
      case 'objectsize:disk':
      case 'deltabase':
      case 'rest':
        if (text) atoms.push({ kind: 'text', text });
        text = '';
        atoms.push({ kind: name });
        break;
      default:
        throw new FormatError(`unknown format element: ${name}`);
    }
    i = close;
  }
  if (text) atoms.push({ kind: 'text', text });
  return atoms;
}

/**
 * Output collected into large writes (a fresh buffer each time, so no write can see it change).
 * Strings are latin1: names come from stdin decoded as latin1, so they go back out byte for byte.
 */
class Output {
  private static readonly SIZE = 1 << 20;
  private buf = Buffer.allocUnsafe(Output.SIZE);
  private pos = 0;
  constructor(private readonly io: CliIO) {}
  push(s: string | Uint8Array): void {
    if (typeof s === 'string') {
      if (this.pos + s.length > this.buf.length) this.flush();
      if (s.length > this.buf.length) {
        this.io.stdout(Buffer.from(s, 'latin1'));
        return;
      }
      this.pos += this.buf.write(s, this.pos, 'latin1');
      return;
    }
    if (this.pos + s.length > this.buf.length) this.flush();
    if (s.length > this.buf.length / 2) {
      this.io.stdout(s);
      return;
    }
    this.buf.set(s, this.pos);
    this.pos += s.length;
  }
  flush(): void {
    if (this.pos === 0) return;
    this.io.stdout(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Output.SIZE);
    this.pos = 0;
  }
}

function runBatch(
  io: CliIO,
  ctx: Context,
  mode: 'batch' | 'batch-check',
  format: string,
  opts: { allObjects: boolean; nul: boolean },
): number {
  let atoms: Atom[];
  try {
    atoms = parseFormat(format);
  } catch (e) {
    if (e instanceof FormatError) return fatal(io, e.message);
    throw e;
  }
  const has = (k: Atom['kind']) => atoms.some((a) => a.kind === k);
  const usesRest = has('rest');
  const needsInfo = has('objecttype') || has('objectsize');
  const needsDetails = has('objectsize:disk') || has('deltabase');
  const nullOid = '0'.repeat(ctx.hash.hexSize);
  const hexSize = ctx.hash.hexSize;
  // Bytes as latin1: any name, valid UTF-8 or not, is echoed exactly as it came.
  const input = opts.allObjects ? '' : io.readStdinBytes().toString('latin1');
  const sep = opts.nul ? '\0' : '\n';
  let batchSize = 0;
  for (let i = input.indexOf(sep); i >= 0 && batchSize < WHOLE_MIDX_BATCH; i = input.indexOf(sep, i + 1)) {
    batchSize++;
  }
  const store = openStore(ctx, opts.allObjects || batchSize >= WHOLE_MIDX_BATCH);
  const out = new Output(io);
  try {
    const one = (name: string, rest: string, resolved: Resolved) => {
      if ('missing' in resolved) {
        out.push(`${name} missing\n`);
        return;
      }
      if ('ambiguous' in resolved) {
        out.flush();
        reportAmbiguous(io, store, name, resolved.ambiguous);
        out.push(`${name} ambiguous\n`);
        return;
      }
      const oid = resolved.oid;
      let type: ObjectType | undefined;
      let size = 0;
      let diskSize = 0;
      let deltaBase = nullOid;
      let data: Uint8Array | undefined;
      if (needsDetails) {
        const d = store.objectDetails(oid);
        if (!d) {
          out.push(`${name} missing\n`);
          return;
        }
        ({ type, size, diskSize } = d);
        if (d.deltaBase) deltaBase = toHex(d.deltaBase);
      }
      if (mode === 'batch') {
        const obj = store.readObject(oid);
        if (!obj) {
          out.push(`${name} missing\n`);
          return;
        }
        ({ type, size, data } = obj);
      } else if (needsInfo && !needsDetails) {
        const info = store.objectInfo(oid);
        if (!info) {
          out.push(`${name} missing\n`);
          return;
        }
        ({ type, size } = info);
      } else if (!needsDetails && !store.hasObject(oid)) {
        out.push(`${name} missing\n`);
        return;
      }
      let line = '';
      for (const a of atoms) {
        switch (a.kind) {
          case 'text':
            line += a.text;
            break;
          case 'objectname':
            // A full-length name is the id already (lowercased, as Git prints it).
            line +=
              name.length === hexSize && resolved.fromFullHex === true ? name.toLowerCase() : toHex(oid);
            break;
          case 'objecttype':
            line += type;
            break;
          case 'objectsize':
            line += String(size);
            break;
          case 'objectsize:disk':
            line += String(diskSize);
            break;
          case 'deltabase':
            line += deltaBase;
            break;
          case 'rest':
            line += rest;
            break;
        }
      }
      out.push(`${line}\n`);
      if (data !== undefined) {
        out.push(data);
        out.push('\n');
      }
    };

    if (opts.allObjects) {
      for (const hex of store.allObjectIdsHex()) one(hex, '', { oid: fromHex(hex)!, fromFullHex: true });
    } else {
      const lines = input.split(opts.nul ? '\0' : '\n');
      if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
      for (let line of lines) {
        if (!opts.nul && line.endsWith('\r')) line = line.slice(0, -1);
        let name = line;
        let rest = '';
        if (usesRest) {
          const m = /[ \t]/.exec(line);
          if (m) {
            name = line.slice(0, m.index);
            rest = line.slice(m.index + 1).replace(/^[ \t\n\v\f\r]+/, '');
          }
        }
        one(name, rest, resolveName(store, name));
      }
    }
    return 0;
  } finally {
    out.flush();
    store.close();
  }
}
