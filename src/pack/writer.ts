/**
 * Pack writer core (spec/objects-format.md §8): a `.pack` streamed entry by entry through a hashing
 * sink, and its `.idx` version 2. Platform-free: hashing, deflating and CRC-32 come in through small
 * interfaces, bytes go out through a `ByteSink`; the Node layer owns the files (src/node/repack.ts).
 *
 * What the writer guarantees (§8.1): a version-2 header with the exact count, entries back to back,
 * the trailer = hash of everything before it; the idx with sorted unique OIDs, CRC-32 over each
 * entry's raw bytes as written, offsets ≥ 2³¹ in the large table in OID order, the pack checksum,
 * then the idx checksum — byte-identical with what `git index-pack` rebuilds from the pack.
 * Choosing entries (which to copy verbatim, which to store whole, in which order) is the caller's.
 */
import { compareBytes, writeU32, writeU64 } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm, Hasher, HashFunction } from '../hash.js';
import type { ByteSink } from '../io.js';
import { OBJ_OFS_DELTA, OBJ_REF_DELTA } from './pack.js';

// ---------------------------------------------------------------------------------------------
// Interfaces

/** Compresses one object into one complete zlib stream (any level: readers accept all of them). */
export interface Deflater {
  deflate(data: Uint8Array): Uint8Array;
}

/** zlib/IEEE CRC-32, continuing from `previous` (0 to start). */
export type Crc32Function = (data: Uint8Array, previous?: number) => number;

// ---------------------------------------------------------------------------------------------
// CRC-32 (portable; the Node adapter may hand in node:zlib's, which is faster)

let CRC_TABLE: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (CRC_TABLE) return CRC_TABLE;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  CRC_TABLE = t;
  return t;
}

/** The standard reflected CRC-32 (polynomial 0xedb88320) that the idx v2 stores (§2.4). */
export const crc32: Crc32Function = (data, previous = 0) => {
  const t = crcTable();
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
};

// ---------------------------------------------------------------------------------------------
// Entry encodings (§2.2)

/** Git writes at most this many header bytes (`MAX_PACK_OBJECT_HEADER`). */
const MAX_HEADER = 10;

/**
 * The type-and-size header: `C TTT SSSS`, then 7 more size bits per byte, little-endian. `size` is
 * the inflated payload length (the delta length for types 6 and 7).
 */
export function encodeEntryHeader(type: number, size: number): Uint8Array {
  if (type < 1 || type > 7 || type === 5 || !Number.isSafeInteger(size) || size < 0) {
    throw new GitMidxError('INVALID_ARGUMENT', `cannot encode a pack entry of type ${type}, size ${size}`, {
      data: { type, size },
    });
  }
  const out: number[] = [];
  let c = (type << 4) | (size % 16);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    out.push(c | 0x80);
    c = rest % 128;
    rest = Math.floor(rest / 128);
  }
  out.push(c);
  if (out.length > MAX_HEADER) {
    throw new GitMidxError(
      'INVALID_ARGUMENT',
      `pack entry size ${size} needs more than ${MAX_HEADER} bytes`,
      {
        data: { size },
      },
    );
  }
  return Uint8Array.from(out);
}

/** The OFS_DELTA distance: big-endian base-128 with +1 per continuation byte (§2.2). */
export function encodeOfsDistance(distance: number): Uint8Array {
  if (!Number.isSafeInteger(distance) || distance <= 0) {
    throw new GitMidxError('INVALID_ARGUMENT', `OFS_DELTA distance ${distance} is not a positive integer`, {
      data: { distance },
    });
  }
  const out: number[] = [distance % 128];
  let d = Math.floor(distance / 128);
  while (d > 0) {
    d -= 1;
    out.push(0x80 | (d % 128));
    d = Math.floor(d / 128);
  }
  return Uint8Array.from(out.reverse());
}

// ---------------------------------------------------------------------------------------------
// The pack

export interface PackWriterOptions {
  hash: HashAlgorithm;
  hashFn: HashFunction;
  /** Number of entries that will be written: the header holds it, `finish()` checks it. */
  count: number;
  /** CRC-32 implementation (default: the portable table-driven one). */
  crc32?: Crc32Function;
}

/** Where an entry went, for the idx. */
export interface WrittenEntry {
  readonly offset: number;
  readonly crc: number;
}

const PACK_HEADER_SIZE = 12;

/**
 * Streams a pack to a sink. Each entry is written as `beginEntry(header)` (the type-and-size header
 * plus any base field), then its zlib stream in one or more `entryData` calls, then `endEntry()`;
 * `writeEntry` does all three at once. Nothing of the pack is held in memory.
 */
export class PackWriter {
  readonly hash: HashAlgorithm;
  readonly count: number;
  private readonly sink: ByteSink;
  private readonly hasher: Hasher;
  private readonly crcFn: Crc32Function;
  private pos = 0;
  private written = 0;
  private entryStart = -1;
  private crc = 0;
  private done = false;

  constructor(sink: ByteSink, options: PackWriterOptions) {
    if (!Number.isInteger(options.count) || options.count < 0 || options.count > 0xffffffff) {
      throw new GitMidxError('INVALID_ARGUMENT', `a pack cannot hold ${options.count} objects`, {
        data: { count: options.count },
      });
    }
    this.sink = sink;
    this.hash = options.hash;
    this.count = options.count;
    this.hasher = options.hashFn(options.hash);
    this.crcFn = options.crc32 ?? crc32;
    const head = new Uint8Array(PACK_HEADER_SIZE);
    writeU32(head, 0, 0x5041434b); // "PACK"
    writeU32(head, 4, 2);
    writeU32(head, 8, options.count);
    this.out(head);
  }

  /** Bytes written so far: the offset the next entry will get. */
  get offset(): number {
    return this.pos;
  }

  /** Entries completed so far. */
  get entries(): number {
    return this.written;
  }

  private out(b: Uint8Array): void {
    if (b.length === 0) return;
    this.hasher.update(b);
    this.sink.write(b);
    this.pos += b.length;
  }

  /** Starts an entry with its header bytes (type-and-size header, then the base field of a delta). */
  beginEntry(header: Uint8Array): number {
    if (this.done || this.entryStart >= 0) throw new Error('BUG: beginEntry inside an entry or after finish');
    if (this.written >= this.count) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `pack announced ${this.count} objects; one more was written`,
        {
          data: { count: this.count },
        },
      );
    }
    this.entryStart = this.pos;
    this.crc = this.crcFn(header, 0);
    this.out(header);
    return this.entryStart;
  }

  /** Appends bytes of the current entry's zlib stream. */
  entryData(chunk: Uint8Array): void {
    if (this.entryStart < 0) throw new Error('BUG: entryData outside an entry');
    this.crc = this.crcFn(chunk, this.crc);
    this.out(chunk);
  }

  /** Ends the current entry; returns its offset and the CRC-32 of its raw bytes as written. */
  endEntry(): WrittenEntry {
    if (this.entryStart < 0) throw new Error('BUG: endEntry outside an entry');
    const e = { offset: this.entryStart, crc: this.crc };
    this.entryStart = -1;
    this.written++;
    return e;
  }

  /** One whole entry: header (with base field) and its complete zlib stream. */
  writeEntry(header: Uint8Array, stream: Uint8Array): WrittenEntry {
    this.beginEntry(header);
    this.entryData(stream);
    return this.endEntry();
  }

  /** A whole object (type 1–4), deflated here. */
  writeObject(type: number, data: Uint8Array, deflater: Deflater): WrittenEntry {
    return this.writeEntry(encodeEntryHeader(type, data.length), deflater.deflate(data));
  }

  /**
   * A delta entry whose compressed delta is `stream` (its inflated length `deltaSize`): OFS_DELTA
   * against the entry written at `baseOffset`, or REF_DELTA naming `baseOid`.
   */
  deltaHeader(deltaSize: number, base: { offset: number } | { oid: Uint8Array }): Uint8Array {
    if ('offset' in base) {
      const h = encodeEntryHeader(OBJ_OFS_DELTA, deltaSize);
      const d = encodeOfsDistance(this.pos - base.offset);
      const out = new Uint8Array(h.length + d.length);
      out.set(h, 0);
      out.set(d, h.length);
      return out;
    }
    const h = encodeEntryHeader(OBJ_REF_DELTA, deltaSize);
    const out = new Uint8Array(h.length + this.hash.size);
    out.set(h, 0);
    out.set(base.oid.subarray(0, this.hash.size), h.length);
    return out;
  }

  /** Appends the trailer (hash of everything before it) and returns it. */
  finish(): Uint8Array {
    if (this.entryStart >= 0) throw new Error('BUG: finish inside an entry');
    if (this.done) throw new Error('BUG: finish called twice');
    if (this.written !== this.count) {
      throw new GitMidxError(
        'INVALID_ARGUMENT',
        `pack announced ${this.count} objects but ${this.written} were written`,
        { data: { count: this.count, written: this.written } },
      );
    }
    this.done = true;
    const sum = this.hasher.digest();
    this.sink.write(sum);
    this.pos += sum.length;
    return sum;
  }
}

// ---------------------------------------------------------------------------------------------
// The idx, version 2 (§1.2)

export interface PackIndexInput {
  hash: HashAlgorithm;
  hashFn: HashFunction;
  /** N ids of H bytes each, back to back, strictly ascending. */
  oids: Uint8Array;
  /** Pack offset of each object, in the same order. */
  offsets: ArrayLike<number>;
  /** CRC-32 of each object's raw entry, in the same order. */
  crcs: ArrayLike<number>;
  /** The pack's trailer. */
  packChecksum: Uint8Array;
}

/** Offsets from here on go to the 64-bit table (Git's default `off32_limit`, §1.2). */
const LARGE_OFFSET = 0x80000000;

/** Size of the idx v2 for `n` objects of which `large` need the 64-bit table. */
export function packIndexSize(hash: HashAlgorithm, n: number, large: number): number {
  return 1032 + n * (hash.size + 8) + 8 * large + 2 * hash.size;
}

/** Writes an idx v2 to `sink`; returns its checksum. Memory: one 1 KiB block besides the inputs. */
export function writePackIndex(sink: ByteSink, input: PackIndexInput): Uint8Array {
  const { hash, oids, offsets, crcs } = input;
  const H = hash.size;
  if (oids.length % H !== 0) {
    throw new GitMidxError('INVALID_ARGUMENT', `${oids.length} bytes of ids is not a multiple of ${H}`);
  }
  const n = oids.length / H;
  if (offsets.length !== n || crcs.length !== n) {
    throw new GitMidxError(
      'INVALID_ARGUMENT',
      `idx: ${n} ids, ${offsets.length} offsets, ${crcs.length} CRCs`,
    );
  }
  for (let i = 1; i < n; i++) {
    if (compareBytes(oids, (i - 1) * H, oids, i * H, H) >= 0) {
      throw new GitMidxError('INVALID_ARGUMENT', `idx: ids not strictly ascending at position ${i}`, {
        data: { position: i },
      });
    }
  }
  const hasher = input.hashFn(hash);
  const put = (b: Uint8Array) => {
    hasher.update(b);
    sink.write(b);
  };
  const BLOCK = 4096;
  const head = new Uint8Array(8 + 1024);
  writeU32(head, 0, 0xff744f63);
  writeU32(head, 4, 2);
  let i = 0;
  for (let b = 0; b < 256; b++) {
    while (i < n && oids[i * H] <= b) i++;
    writeU32(head, 8 + b * 4, i);
  }
  put(head);
  for (let o = 0; o < oids.length; o += BLOCK * H)
    put(oids.subarray(o, Math.min(oids.length, o + BLOCK * H)));
  const block = new Uint8Array(BLOCK * 4);
  for (let s = 0; s < n; s += BLOCK) {
    const e = Math.min(n, s + BLOCK);
    for (let j = s; j < e; j++) writeU32(block, (j - s) * 4, crcs[j] >>> 0);
    put(block.subarray(0, (e - s) * 4));
  }
  let large = 0;
  for (let s = 0; s < n; s += BLOCK) {
    const e = Math.min(n, s + BLOCK);
    for (let j = s; j < e; j++) {
      const off = offsets[j];
      if (!Number.isSafeInteger(off) || off < 0) {
        throw new GitMidxError('INVALID_ARGUMENT', `idx: bad offset ${off} at position ${j}`);
      }
      writeU32(block, (j - s) * 4, off >= LARGE_OFFSET ? (LARGE_OFFSET | large++) >>> 0 : off);
    }
    put(block.subarray(0, (e - s) * 4));
  }
  if (large > 0) {
    // The 64-bit table, in OID order (what `show-index` demands).
    const b8 = new Uint8Array(8);
    for (let j = 0; j < n; j++) {
      if (offsets[j] < LARGE_OFFSET) continue;
      writeU64(b8, 0, offsets[j]);
      put(b8);
    }
  }
  put(input.packChecksum.subarray(0, H));
  const sum = hasher.digest();
  sink.write(sum);
  return sum;
}
