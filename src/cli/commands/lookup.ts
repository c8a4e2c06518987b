import { hexBytesInto, toHex, writeDecimal } from '../../bytes.js';
import type { MultiPackIndex } from '../../midx/reader.js';
import { type CliIO, makeContext, openMidxOrSay } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand, UsageError } from '../options.js';
import { bufferSource, commandInput, LineBlockReader } from '../stdin.js';
import { cliMidxPath, openCliMidx } from '../store.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['lookup'];

const MISSING = Buffer.from(' missing\n');
const AMBIGUOUS = Buffer.from(' ambiguous\n');
/** Git's shortest abbreviation. */
const MIN_ABBREV = 4;

/** Lines answered together (one lookupMany): the MIDX merge-join pays up to 8M objects; few MiB. */
const BLOCK_LINES = 1 << 17;

/**
 * One line per id: `<oid> <pack-name> <offset>`, or `<oid> missing` (the input echoed as given).
 * Works on bytes end to end: ids are parsed from stdin's bytes and lines are assembled in a reused
 * output buffer.
 */
export const lookupCommand: Command = {
  name: 'lookup',
  usage: USAGE,
  async run(io, global, args) {
    const p = parseCommand(io, args, { stdin: { type: 'boolean' } }, USAGE, global, true, [
      ['--stdin', 'read object ids (full or abbreviated) from stdin, one per line'],
    ]);
    const fromStdin = p.values.stdin === true;
    if (fromStdin === p.rest.length > 0) throw new UsageError('give object ids or --stdin, not both', USAGE);
    const ctx = makeContext(io, p.global);
    const file = cliMidxPath(ctx);
    const H = ctx.hash.size;
    // Opened by pages: a large batch is answered by one forward walk over the file through a
    // reused buffer (lookupMany), which beats reading it whole into fresh memory.
    const m = await openMidxOrSay(io, file, async () => openCliMidx(ctx));
    if (!m) return 1;
    try {
      const names = m.packNames.map((n) => Buffer.from(` ${n} `));
      // The input is answered block by block (each block in one lookupMany), so that memory is
      // bounded by the block whatever the length of the input.
      const source = fromStdin
        ? commandInput(io)
        : bufferSource(Buffer.from(p.rest.map((a) => `${a}\n`).join('')));
      if (!fromStdin) {
        // As git's object-name parsing: a name that cannot be an id (prefix) is fatal.
        const bad = p.rest.find((a) => !isIdPrefix(a, ctx.hash.hexSize));
        if (bad !== undefined) {
          io.stderr(`fatal: Not a valid object name ${bad}\n`);
          return 128;
        }
      }
      const reader = new LineBlockReader(source, { sep: 10, maxLines: BLOCK_LINES });
      const starts = new Int32Array(BLOCK_LINES);
      const ends = new Int32Array(BLOCK_LINES);
      const ids = new Uint8Array(BLOCK_LINES * H);
      const valid = new Uint8Array(BLOCK_LINES);
      for (let input = reader.next(); input !== undefined; input = reader.next()) {
        // Pass 1: split lines and parse ids into one packed buffer.
        const nl = parseIds(input, ctx.hash.hexSize, H, starts, ends, ids, valid);
        resolveAbbreviations(m, input, ctx.hash.hexSize, H, starts, ends, ids, valid, nl);
        // Pass 2: look them all up at once (in id order internally).
        const found = m.lookupMany(ids, nl);
        // Pass 3: answer in input order, before the next block is read.
        writeAnswers(io, input, starts, ends, valid, found, names, nl, ids, H);
      }
      return 0;
    } finally {
      m.close();
    }
  },
};

/**
 * Splits `input` into lines (`starts`/`ends`, a CR before the LF dropped) and decodes each full hex
 * id into `ids` (`valid[k]` = 1). Returns the number of lines. (Each loop of the command is a
 * function of its own: V8 then optimises it early in a one-shot run.)
 */
function parseIds(
  input: Buffer,
  hexLen: number,
  H: number,
  starts: Int32Array,
  ends: Int32Array,
  ids: Uint8Array,
  valid: Uint8Array,
): number {
  let nl = 0;
  for (let start = 0; start < input.length; nl++) {
    // Well-formed lines are exactly one id and a newline: skip the search for the newline.
    let end =
      start + hexLen < input.length && input[start + hexLen] === 10
        ? start + hexLen
        : input.indexOf(10, start);
    if (end < 0) end = input.length;
    let lineEnd = end;
    if (lineEnd > start && input[lineEnd - 1] === 13) lineEnd--;
    starts[nl] = start;
    ends[nl] = lineEnd;
    valid[nl] = lineEnd - start === hexLen && hexBytesInto(input, start, ids, nl * H, H) >= 0 ? 1 : 0;
    start = end + 1;
  }
  return nl;
}

/** A full id or an abbreviation of at least MIN_ABBREV hex digits (Git's shortest). */
function isIdPrefix(s: string, hexLen: number): boolean {
  return s.length >= MIN_ABBREV && s.length <= hexLen && /^[0-9a-fA-F]+$/.test(s);
}

/**
 * Lines that are abbreviated ids (4 or more hex digits) are looked up as prefixes in the MIDX, as
 * `cat-file` resolves them: one match gives its full id (`valid` 2: the answer names the full id),
 * several make the line ambiguous (`valid` 3); none, or anything that is not hex, stays missing.
 */
function resolveAbbreviations(
  m: Pick<MultiPackIndex, 'prefixRange' | 'oidAt'>,
  input: Buffer,
  hexLen: number,
  H: number,
  starts: Int32Array,
  ends: Int32Array,
  ids: Uint8Array,
  valid: Uint8Array,
  nl: number,
): void {
  for (let k = 0; k < nl; k++) {
    if (valid[k] !== 0) continue;
    const len = ends[k] - starts[k];
    if (len < MIN_ABBREV || len >= hexLen) continue;
    const text = input.toString('latin1', starts[k], ends[k]);
    if (!isIdPrefix(text, hexLen)) continue;
    const [from, to] = m.prefixRange(text);
    if (to - from === 1) {
      ids.set(m.oidAt(from), k * H);
      valid[k] = 2;
    } else if (to - from > 1) {
      valid[k] = 3;
    }
  }
}

/** The answer lines, in input order, through a reused output buffer. */
function writeAnswers(
  io: CliIO,
  input: Buffer,
  starts: Int32Array,
  ends: Int32Array,
  valid: Uint8Array,
  found: { positions: Int32Array; packIds: Int32Array; offsets: Float64Array },
  names: Buffer[],
  nl: number,
  ids: Uint8Array,
  H: number,
): void {
  const maxName = names.reduce((a, b) => Math.max(a, b.length), 0);
  // Sized for the block (a short one, from a pausing pipe, needs little).
  let out = Buffer.allocUnsafe(Math.min(1 << 20, input.length + nl * (maxName + 24)));
  let w = 0;
  for (let k = 0; k < nl; k++) {
    const start = starts[k];
    const lineEnd = ends[k];
    const v = valid[k];
    const hit = v === 1 || v === 2 ? found.positions[k] : -1;
    const need = lineEnd - start + 2 * H + maxName + 24;
    if (w + need > out.length) {
      io.stdout(out.subarray(0, w));
      w = 0;
      if (need > out.length) out = Buffer.allocUnsafe(need);
    }
    if (v === 2 && hit >= 0) {
      // An abbreviation is answered under the full id it resolved to.
      w += out.write(toHex(ids, k * H, k * H + H), w, 'latin1');
    } else {
      // Byte loops: short copies, where Buffer.copy's call costs more than the bytes.
      for (let i = start; i < lineEnd; i++) out[w++] = input[i];
    }
    const tail = v === 3 ? AMBIGUOUS : hit < 0 ? MISSING : names[found.packIds[k]];
    for (let i = 0; i < tail.length; i++) out[w++] = tail[i];
    if (hit >= 0) {
      w = writeDecimal(out, w, found.offsets[k]);
      out[w++] = 10;
    }
  }
  if (w > 0) io.stdout(out.subarray(0, w));
}
