/**
 * Git's delta format (spec/objects-format.md §3): a header of two little-endian base-128 sizes
 * (base, result), then copy and insert instructions. `applyDelta` checks every rule of §3.3 and
 * reports failures as `PACK_BAD_DELTA`, with Git's own wording in `data.git`.
 *
 * The delta is validated completely (one pass that only counts) before the result is allocated, so a
 * header claiming a huge result size cannot make us allocate it unless the instructions really
 * produce that many bytes.
 */
import { allocateObjectBytes, GitMidxError } from '../errors.js';

/** Git's `DELTA_SIZE_MIN`: a delta shorter than this is rejected outright. */
const DELTA_SIZE_MIN = 4;

/** Where a delta came from, for messages. */
export interface DeltaContext {
  /** The pack file (or any name) shown in messages. */
  file?: string;
  /** Offset of the delta's pack entry. */
  offset?: number;
}

export interface ApplyDeltaOptions extends DeltaContext {
  /** Refuse results larger than this many bytes (default 2^32 − 1). */
  maxResultSize?: number;
  /** Memory for the result, which the delta fills completely (default: a zeroed Uint8Array). */
  allocate?: (size: number) => Uint8Array;
}

export interface DeltaHeader {
  /** The size the base must have. */
  baseSize: number;
  /** The size of the result. */
  resultSize: number;
  /** Where the instructions start. */
  offset: number;
}

const DEFAULT_MAX_RESULT = 0xffffffff;

function deltaError(
  ctx: DeltaContext | undefined,
  what: string,
  git: string,
  extra: Record<string, unknown> = {},
) {
  const file = ctx?.file;
  const where =
    ctx?.offset !== undefined
      ? `${file ?? '<memory>'}: delta at offset ${ctx.offset}`
      : file !== undefined
        ? `${file}: delta`
        : 'delta';
  return new GitMidxError('PACK_BAD_DELTA', `${where}: ${what}`, {
    file,
    data: { ...extra, offset: ctx?.offset, git },
  });
}

/**
 * Reads one little-endian base-128 varint at `pos`. Like Git's header parser it stops at the end of
 * the buffer even if the continuation bit is still set (§3.1); values past 2^53 are refused.
 */
function readSize(delta: Uint8Array, pos: number, end: number, ctx: DeltaContext | undefined): number {
  let value = 0;
  let scale = 1;
  while (pos < end) {
    const c = delta[pos++];
    value += (c & 0x7f) * scale;
    if ((c & 0x80) === 0) break;
    scale *= 128;
    if (value > Number.MAX_SAFE_INTEGER || scale > 2 ** 56) {
      throw deltaError(ctx, 'size in the delta header is too large', 'failed to apply delta');
    }
  }
  if (value > Number.MAX_SAFE_INTEGER) {
    throw deltaError(ctx, 'size in the delta header is too large', 'failed to apply delta');
  }
  sizeEnd = pos;
  return value;
}

/** Where the varint read by the last `readSize` call ended (no tuple allocated per call). */
let sizeEnd = 0;

/** Parses the delta header: base size, result size, and the offset of the first instruction. */
export function deltaHeader(delta: Uint8Array, ctx?: DeltaContext): DeltaHeader {
  const baseSize = readSize(delta, 0, delta.length, ctx);
  const resultSize = readSize(delta, sizeEnd, delta.length, ctx);
  return { baseSize, resultSize, offset: sizeEnd };
}

/** `deltaHeader(delta, ctx).resultSize`, with the same checks, without building the header. */
export function deltaResultSize(delta: Uint8Array, ctx?: DeltaContext): number {
  readSize(delta, 0, delta.length, ctx);
  return readSize(delta, sizeEnd, delta.length, ctx);
}

/** Copies shorter than this are byte loops: a view per copy would cost more than the copy. */
const SHORT_COPY = 32;

/**
 * Walks the instructions; with `out` undefined it only validates (and returns the length produced),
 * with `out` it writes the result. Both passes run the same checks, in Git's order (§3.3).
 */
function run(
  base: Uint8Array,
  delta: Uint8Array,
  start: number,
  top: number,
  resultSize: number,
  out: Uint8Array | undefined,
  ctx: DeltaContext | undefined,
): void {
  const baseSize = base.length;
  // Longer copies go through `set` from a view made with the constructor (about a third cheaper
  // per instruction than `subarray`, which looks up a species constructor first).
  const baseBuf = base.buffer;
  const baseAt = base.byteOffset;
  const deltaBuf = delta.buffer;
  const deltaAt = delta.byteOffset;
  let pos = start;
  let owed = resultSize;
  let w = 0;
  while (pos < top) {
    const cmd = delta[pos++];
    if (cmd & 0x80) {
      // Copy: bits 0-3 select offset bytes, bits 4-6 size bytes; absent bytes are 0 and the
      // present ones keep their place value (§3.2).
      // (Counted only near the end: seven bytes are all an instruction can take.)
      let need = 0;
      if (pos + 7 > top) for (let bit = 0x01; bit <= 0x40; bit <<= 1) if (cmd & bit) need++;
      if (pos + need > top) {
        throw deltaError(
          ctx,
          `copy instruction at delta byte ${pos - 1} needs ${need} argument bytes, ${top - pos} left`,
          'delta replay has gone wild',
        );
      }
      let off = 0;
      if (cmd & 0x01) off = delta[pos++];
      if (cmd & 0x02) off += delta[pos++] * 0x100;
      if (cmd & 0x04) off += delta[pos++] * 0x10000;
      if (cmd & 0x08) off += delta[pos++] * 0x1000000;
      let size = 0;
      if (cmd & 0x10) size = delta[pos++];
      if (cmd & 0x20) size += delta[pos++] * 0x100;
      if (cmd & 0x40) size += delta[pos++] * 0x10000;
      if (size === 0) size = 0x10000;
      if (off + size > baseSize || size > owed) {
        throw deltaError(
          ctx,
          off + size > baseSize
            ? `copy of ${size} bytes from base offset ${off} runs past the base (${baseSize} bytes)`
            : `copy of ${size} bytes exceeds the ${owed} bytes left of the result (${resultSize})`,
          'delta replay has gone wild',
          { copyOffset: off, copySize: size },
        );
      }
      if (out) {
        if (size < SHORT_COPY) for (let k = 0; k < size; k++) out[w + k] = base[off + k];
        else out.set(new Uint8Array(baseBuf, baseAt + off, size), w);
      }
      w += size;
      owed -= size;
    } else if (cmd !== 0) {
      if (cmd > owed || cmd > top - pos) {
        throw deltaError(
          ctx,
          cmd > owed
            ? `insert of ${cmd} bytes exceeds the ${owed} bytes left of the result (${resultSize})`
            : `insert of ${cmd} bytes at delta byte ${pos - 1} runs past the delta end (${top - pos} left)`,
          'delta replay has gone wild',
        );
      }
      if (out) {
        if (cmd < SHORT_COPY) for (let k = 0; k < cmd; k++) out[w + k] = delta[pos + k];
        else out.set(new Uint8Array(deltaBuf, deltaAt + pos, cmd), w);
      }
      pos += cmd;
      w += cmd;
      owed -= cmd;
    } else {
      throw deltaError(ctx, `opcode 0 at delta byte ${pos - 1}`, 'unexpected delta opcode 0');
    }
  }
  if (owed !== 0) {
    throw deltaError(
      ctx,
      `instructions produce ${resultSize - owed} bytes, the header says ${resultSize}`,
      'delta replay has gone wild',
    );
  }
}

/**
 * Applies `delta` to `base` and returns a new array. Throws `PACK_BAD_DELTA` for every failure of
 * §3.3: a delta under 4 bytes, a base of the wrong size, truncated copy arguments, copies outside
 * the base or past the result size, inserts past the delta or the result, opcode 0, or a result of
 * the wrong length.
 */
export function applyDelta(base: Uint8Array, delta: Uint8Array, opts?: ApplyDeltaOptions): Uint8Array {
  return applyDeltaPrefix(base, delta, delta.length, opts);
}

/**
 * `applyDelta` of the delta `delta[0, length)` (the rest of `delta` is not looked at): for a caller
 * that inflates deltas into a buffer it reuses.
 * @internal
 */
export function applyDeltaPrefix(
  base: Uint8Array,
  delta: Uint8Array,
  length: number,
  opts?: ApplyDeltaOptions,
): Uint8Array {
  if (length < DELTA_SIZE_MIN) {
    throw deltaError(
      opts,
      `delta is ${length} bytes, shorter than ${DELTA_SIZE_MIN}`,
      'failed to apply delta',
    );
  }
  const baseSize = readSize(delta, 0, length, opts);
  const resultSize = readSize(delta, sizeEnd, length, opts);
  const start = sizeEnd;
  if (baseSize !== base.length) {
    throw deltaError(
      opts,
      `delta expects a base of ${baseSize} bytes, the base has ${base.length}`,
      'failed to apply delta',
      { baseSize, actualBaseSize: base.length },
    );
  }
  const max = opts?.maxResultSize ?? DEFAULT_MAX_RESULT;
  if (resultSize > max) {
    throw deltaError(
      opts,
      `result of ${resultSize} bytes exceeds the limit of ${max}`,
      'failed to apply delta',
      {
        resultSize,
      },
    );
  }
  // Validate first, allocate after: the header's result size is only trusted once the
  // instructions are known to produce exactly that many bytes.
  run(base, delta, start, length, resultSize, undefined, opts);
  const out = allocateObjectBytes(resultSize, opts?.file, opts?.allocate);
  run(base, delta, start, length, resultSize, out, opts);
  return out;
}
