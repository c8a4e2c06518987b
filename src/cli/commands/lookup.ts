import { hexBytesInto, writeDecimal } from '../../bytes.js';
import { midxPath, openMidxFile } from '../../node/midx.js';
import { type CliIO, makeContext, openMidxOrSay } from '../context.js';
import type { Command } from '../main.js';
import { parseCommand, UsageError } from '../options.js';
import { bufferSource, commandInput, LineBlockReader } from '../stdin.js';

const USAGE = 'lookup (--stdin | <oid>...)';

const MISSING = Buffer.from(' missing\n');

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
    const p = parseCommand(io, args, { stdin: { type: 'boolean' } }, USAGE, global, true);
    const fromStdin = p.values.stdin === true;
    if (fromStdin === p.rest.length > 0) throw new UsageError('give object ids or --stdin, not both', USAGE);
    const ctx = makeContext(io, p.global);
    const file = midxPath(ctx.objectDir);
    const H = ctx.hash.size;
    // Opened by pages: a large batch is answered by one forward walk over the file through a
    // reused buffer (lookupMany), which beats reading it whole into fresh memory.
    const m = await openMidxOrSay(io, file, async () => openMidxFile(file, { hash: ctx.hash }));
    if (!m) return 1;
    try {
      const names = m.packNames.map((n) => Buffer.from(` ${n} `));
      // The input is answered block by block (each block in one lookupMany), so that memory is
      // bounded by the block whatever the length of the input.
      const source = fromStdin
        ? commandInput(io)
        : bufferSource(Buffer.from(p.rest.map((a) => `${a}\n`).join('')));
      const reader = new LineBlockReader(source, { sep: 10, maxLines: BLOCK_LINES });
      const starts = new Int32Array(BLOCK_LINES);
      const ends = new Int32Array(BLOCK_LINES);
      const ids = new Uint8Array(BLOCK_LINES * H);
      const valid = new Uint8Array(BLOCK_LINES);
      for (let input = reader.next(); input !== undefined; input = reader.next()) {
        // Pass 1: split lines and parse ids into one packed buffer.
        const nl = parseIds(input, ctx.hash.hexSize, H, starts, ends, ids, valid);
        // Pass 2: look them all up at once (in id order internally).
        const found = m.lookupMany(ids, nl);
        // Pass 3: answer in input order, before the next block is read.
        writeAnswers(io, input, starts, ends, valid, found, names, nl);
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
): void {
  const maxName = names.reduce((a, b) => Math.max(a, b.length), 0);
  // Sized for the block (a short one, from a pausing pipe, needs little).
  let out = Buffer.allocUnsafe(Math.min(1 << 20, input.length + nl * (maxName + 24)));
  let w = 0;
  for (let k = 0; k < nl; k++) {
    const start = starts[k];
    const lineEnd = ends[k];
    const hit = valid[k] ? found.positions[k] : -1;
    const need = lineEnd - start + maxName + 24;
    if (w + need > out.length) {
      io.stdout(out.subarray(0, w));
      w = 0;
      if (need > out.length) out = Buffer.allocUnsafe(need);
    }
    // Byte loops: short copies, where Buffer.copy's call costs more than the bytes.
    for (let i = start; i < lineEnd; i++) out[w++] = input[i];
    const tail = hit < 0 ? MISSING : names[found.packIds[k]];
    for (let i = 0; i < tail.length; i++) out[w++] = tail[i];
    if (hit >= 0) {
      w = writeDecimal(out, w, found.offsets[k]);
      out[w++] = 10;
    }
  }
  if (w > 0) io.stdout(out.subarray(0, w));
}
