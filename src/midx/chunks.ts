/**
 * MIDX chunks (spec/midx-format.md §4): ids, sizes for n entries, validation and encoding.
 * PNAM, OIDF, OIDL, OOFF and LOFF are required or written by `write`; RIDX and BTMP are read only
 * to be reported (bitmap writes are not supported).
 */
import { readU32, strcmpBytes, utf8, writeU32 } from '../bytes.js';
import { chunkId } from '../chunkfile/chunkfile.js';
import { GitMidxError } from '../errors.js';
import { packNameProblem, quoteName } from '../names.js';

export const MIDX_SIGNATURE = 0x4d494458; // "MIDX"
export const MIDX_HEADER_SIZE = 12;
/** Every chunk Git writes has a length that is a multiple of 4, so offsets stay 4-aligned (§3). */
export const MIDX_CHUNK_ALIGNMENT = 4;

export const CHUNK_PNAM = chunkId('PNAM');
export const CHUNK_OIDF = chunkId('OIDF');
export const CHUNK_OIDL = chunkId('OIDL');
export const CHUNK_OOFF = chunkId('OOFF');
export const CHUNK_LOFF = chunkId('LOFF');
export const CHUNK_RIDX = chunkId('RIDX');
export const CHUNK_BTMP = chunkId('BTMP');

/** OOFF word flag: with a LOFF chunk present, the low 31 bits index LOFF (§4.5). */
export const MIDX_LARGE_OFFSET_NEEDED = 0x80000000;
/** Offsets above this go to LOFF, but only when some offset exceeds 32 bits (§4.5). */
export const MIDX_MAX_32BIT_OFFSET = 0xffffffff;
export const MIDX_LARGE_THRESHOLD = 0x7fffffff;

// ---------------------------------------------------------------------------------------------
// PNAM: NUL-terminated names in strcmp order, padded with NULs to a multiple of 4 (§4.1).

export function pnamSize(names: readonly Uint8Array[]): number {
  let n = 0;
  for (const name of names) n += name.length + 1;
  return (n + 3) & ~3;
}

export function encodePnam(names: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pnamSize(names));
  let o = 0;
  for (const name of names) {
    out.set(name, o);
    o += name.length + 1; // the NUL is already there
  }
  return out;
}

/**
 * Decodes `count` names. Each must end inside the chunk (Git 2.43+) and be a plain file name ending
 * in `.idx` (MIDX_BAD_PACK_NAME; Git does not check); version-1 files must list them in strictly
 * increasing strcmp order (all versions), version 2 may not (§4.1).
 */
export function decodePnam(chunk: Uint8Array, count: number, version: number, file: string): Uint8Array[] {
  const names: Uint8Array[] = [];
  let o = 0;
  for (let i = 0; i < count; i++) {
    const end = chunk.indexOf(0, o);
    if (end < 0) {
      const git = 'multi-pack-index pack-name chunk is too short';
      throw new GitMidxError('MIDX_PNAM_TOO_SHORT', `${file}: ${git} (${count} names expected, ${i} found)`, {
        file,
        data: { git, expected: count, found: i },
      });
    }
    const name = chunk.subarray(o, end);
    // A name is joined to the pack directory: anything but a plain `.idx` file name could reach
    // outside it (`../../x.idx`, `/abs.idx`), so the whole file is refused.
    const problem = packNameProblem(name);
    if (problem !== undefined) throw badPackName(file, i, name, problem);
    if (version === 1 && i > 0 && strcmpBytes(names[i - 1], name) >= 0) {
      const prev = new TextDecoder().decode(names[i - 1]);
      const cur = new TextDecoder().decode(name);
      const git = `multi-pack-index pack names out of order: '${prev}' before '${cur}'`;
      throw new GitMidxError('MIDX_PNAM_ORDER', `${file}: ${git}`, { file, data: { git, index: i } });
    }
    names.push(name);
    o = end + 1;
  }
  return names;
}

function badPackName(file: string, index: number, name: Uint8Array, problem: string): GitMidxError {
  const quoted = quoteName(name);
  const git = `multi-pack-index file ${file} has a bad pack name ${quoted}: it ${problem}`;
  return new GitMidxError('MIDX_BAD_PACK_NAME', git, {
    file,
    data: { git, index, name: quoted, problem },
  });
}

// ---------------------------------------------------------------------------------------------
// OIDF: 256 BE32 cumulative counts (§4.2).

export const OIDF_SIZE = 1024;

export function decodeFanout(chunk: Uint8Array, file: string, checkOrder: boolean): Uint32Array {
  if (chunk.length !== OIDF_SIZE) {
    const git = 'multi-pack-index OID fanout is of the wrong size';
    throw new GitMidxError('CHUNK_WRONG_SIZE', `${file}: ${git} (${chunk.length} bytes, expected 1024)`, {
      file,
      data: { git, chunk: 'OIDF', size: chunk.length, expected: OIDF_SIZE },
    });
  }
  const f = new Uint32Array(256);
  for (let i = 0; i < 256; i++) f[i] = readU32(chunk, i * 4);
  if (checkOrder) {
    const bad = fanoutDisorder(f);
    if (bad >= 0) {
      const git = fanoutOrderMessage(f, bad);
      throw new GitMidxError('MIDX_FANOUT_ORDER', `${file}: ${git}`, { file, data: { git, index: bad } });
    }
  }
  return f;
}

/** The first i with fanout[i] > fanout[i+1], or -1. */
export function fanoutDisorder(f: Uint32Array): number {
  for (let i = 0; i < 255; i++) if (f[i] > f[i + 1]) return i;
  return -1;
}

export function fanoutOrderMessage(f: Uint32Array, i: number): string {
  return `oid fanout out of order: fanout[${i}] = ${f[i].toString(16)} > ${f[i + 1].toString(16)} = fanout[${i + 1}]`;
}

export function encodeFanout(counts: Uint32Array): Uint8Array {
  const out = new Uint8Array(OIDF_SIZE);
  let total = 0;
  for (let i = 0; i < 256; i++) {
    total += counts[i];
    writeU32(out, i * 4, total);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// OIDL (N·H), OOFF (N·8), LOFF (M·8): sizes checked against the object count (Git 2.43+).

export function checkChunkSize(
  file: string,
  name: 'OIDL' | 'OOFF',
  actual: number,
  expected: number,
  count: number,
  per: number,
): void {
  if (actual === expected) return;
  const git =
    name === 'OIDL'
      ? 'multi-pack-index OID lookup chunk is the wrong size'
      : 'multi-pack-index object offset chunk is the wrong size';
  throw new GitMidxError(
    'CHUNK_WRONG_SIZE',
    `${file}: ${git}: ${name} chunk is ${actual} bytes, expected ${per} × ${count}`,
    {
      file,
      data: { git, chunk: name, size: actual, expected },
    },
  );
}

export function encodeName(name: string): Uint8Array {
  return utf8(name);
}
