/**
 * The portable `Inflater`: src/pack/inflate.ts alone, for platforms without node:zlib. It answers
 * as `nodeInflater` (src/node/zlib.ts) does where PackFile relies on it: the same output and
 * consumed input, and an `InflateError` whose `truncated` flag is zlib's Z_BUF_ERROR, with zlib's
 * message, where node:zlib throws. One difference: output past `expectedSize` is reported as soon
 * as it is made, where node:zlib may first report a problem further on in the same output chunk.
 */
import { inflateZlib, inflateZlibExact, inflateZlibPrefix, lastInflateFailure } from './inflate.js';
import { InflateError, type Inflater } from './pack.js';

/** The largest output our decoder makes in one call, in bytes. */
const OUTPUT_MAX = 0x7fffffff;
/** deflate's best ratio: 258 bytes from a 1-bit length code and a 1-bit distance code. */
const MAX_RATIO = 1032;

/**
 * Output room for `input`: what it could possibly inflate to (the decoder only writes output made
 * of bits present in the input), so that a size claim never allocates more than the data allows.
 */
function room(input: Uint8Array, want: number): number {
  return Math.min(want, input.length * MAX_RATIO + MAX_RATIO, OUTPUT_MAX);
}

function failure(limit: number): InflateError {
  const f = lastInflateFailure();
  if (f.kind === 'long')
    return new InflateError(`stream inflates to more than ${limit} bytes`, false, { tooLong: true });
  return new InflateError(f.message, f.kind === 'truncated');
}

/**
 * A synchronous zlib `Inflater` in plain TypeScript (no `node:*`): `inflate` gives the whole
 * stream and the input bytes it used (header, deflate data, Adler-32), throwing an `InflateError`
 * on corrupt data, on input that ends first (`truncated: true`) and on output past `expectedSize`
 * bytes; `inflatePrefix` gives at least the first `want` bytes unless the stream or the input ends
 * first. Outputs of at most 4 KiB are views into a shared buffer (see `ownedBytes` in
 * src/pack/pack.ts). It has no `stream`: PackFile then inflates large objects whole and
 * `openStream` is undefined.
 */
export const jsInflater: Inflater = {
  inflate(input: Uint8Array, expectedSize: number) {
    // One byte more than expected tells "too long" apart, as with node:zlib's maxOutputLength.
    const cap = room(input, Math.max(1, expectedSize + 1));
    const r = inflateZlib(input, cap);
    if (r === undefined) throw failure(cap - 1);
    return r;
  },

  inflatePrefix(input: Uint8Array, want: number) {
    const r = inflateZlibPrefix(input, room(input, Math.max(0, want)));
    if (r === undefined) throw failure(want);
    return r;
  },

  inflateExact: inflateZlibExact,
};
