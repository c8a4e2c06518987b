/**
 * Damaged MIDX files (spec/midx-format.md §2–§5, §9, §17.14): every corruption must end in our
 * typed error (exact `code`, `file` set, the file named in `message`) or, where the damage is
 * harmless, in a file that still opens and answers like the original. For the corruptions §17.14
 * lists, `git multi-pack-index verify` (2.39) runs on the same bytes and is the reference for the
 * fatal (`fatal:`, exit 128) / ignored (`error:`, exit 1) split and for the wording in `data.git`.
 *
 * Our reader applies the checks Git added in 2.43+ ([new] in the spec): chunk alignment, fanout
 * order at load, chunk sizes against the object count, PNAM terminators and LOFF bounds. Where
 * 2.39 behaves differently the test expects the [new] behaviour and says so in a comment.
 *
 * Every fixture is written by the real git; the only hand-made bytes are the corruptions.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ErrorCode, GitMidxError } from '../src/errors.js';
import { type HashAlgorithm, SHA1, SHA256 } from '../src/hash.js';
import { isFatalMidxError, type MidxLookup, MultiPackIndex } from '../src/midx/reader.js';
import { openMidxFile } from '../src/node/midx.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

/** The verify comparisons pin git 2.39's behaviour (the spec's reference); other versions skip them. */
const GIT_VERSION = execFileSync('git', ['version'], { encoding: 'utf8' }).trim();
const GIT_IS_239 = /^git version 2\.39\./.test(GIT_VERSION);
const VERIFY_SKIP = GIT_IS_239 ? false : `verify comparisons need git 2.39.x (have ${GIT_VERSION})`;

// ---------------------------------------------------------------------------------------------
// Fixture: a MIDX over 4 packs × 8 objects, written by git, and an independent TOC decoder.

interface TocRow {
  id: string;
  offset: number;
}

interface Fixture {
  repo: TestRepo;
  hash: HashAlgorithm;
  H: number;
  good: Buffer;
  /** TOC rows including the terminator. */
  toc: TocRow[];
  /** Sorted raw ids of every object (from makeManyPacks, not from our reader). */
  oids: Buffer[];
  /** Our lookups on the good file, by hex id (cross-checked against git in midx-write.test.ts). */
  lookups: Map<string, MidxLookup>;
  /** The file name our errors must carry. */
  file: string;
}

function decodeToc(b: Uint8Array): TocRow[] {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  const count = buf[6];
  const rows: TocRow[] = [];
  for (let i = 0; i <= count; i++) {
    const o = 12 + 12 * i;
    rows.push({ id: buf.toString('latin1', o, o + 4), offset: Number(buf.readBigUInt64BE(o + 4)) });
  }
  return rows;
}

function chunkOf(fx: Fixture, id: string): { offset: number; size: number } {
  const i = fx.toc.findIndex((r) => r.id === id);
  assert.ok(i >= 0 && i < fx.toc.length - 1, `chunk ${id} in the good file`);
  return { offset: fx.toc[i].offset, size: fx.toc[i + 1].offset - fx.toc[i].offset };
}

function tocRowAt(i: number): number {
  return 12 + 12 * i;
}

function buildFixture(format: 'sha1' | 'sha256'): Fixture {
  const repo = TestRepo.create({ objectFormat: format, bare: true });
  repos.push(repo);
  const hash = format === 'sha256' ? SHA256 : SHA1;
  const { oids } = makeManyPacks(repo, 4, 8);
  repo.git(['multi-pack-index', 'write', '--no-progress']);
  const good = repo.readMidx();
  assert.ok(good, 'git wrote a MIDX');
  const toc = decodeToc(good);
  assert.deepEqual(
    toc.map((r) => r.id),
    ['PNAM', 'OIDF', 'OIDL', 'OOFF', '\0\0\0\0'],
    'git writes the four required chunks',
  );
  const raw = oids.map((h) => Buffer.from(h, 'hex')).sort(Buffer.compare);
  const m = MultiPackIndex.fromBytes(good, { hash, file: repo.midxPath });
  const lookups = new Map<string, MidxLookup>();
  try {
    assert.equal(m.numObjects, 32);
    assert.equal(m.numPacks, 4);
    for (const oid of raw) {
      const l = m.lookup(oid);
      assert.ok(l, `good file has ${oid.toString('hex')}`);
      lookups.set(oid.toString('hex'), l);
    }
  } finally {
    m.close();
  }
  return { repo, hash, H: hash.size, good, toc, oids: raw, lookups, file: repo.midxPath };
}

/** A copy of the good file with `data` written at `pos`. */
function patched(fx: Fixture, pos: number, data: Uint8Array | string | number[]): Buffer {
  const b = Buffer.from(fx.good);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
  assert.ok(pos + bytes.length <= b.length);
  bytes.copy(b, pos);
  return b;
}

function be64(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/**
 * Lays out a chunk file the way Git's writer does (header, TOC, chunks in order, trailer = hash of
 * everything before), so that a chunk can be made shorter or longer while the file stays consistent.
 */
function buildMidx(
  fx: Fixture,
  chunks: { id: string; data: Uint8Array }[],
  opts: { extraAfterChunks?: Uint8Array } = {},
): Buffer {
  const header = Buffer.from(fx.good.subarray(0, 12));
  header[6] = chunks.length;
  const toc = Buffer.alloc(12 * (chunks.length + 1));
  let o = 12 + toc.length;
  chunks.forEach((c, i) => {
    toc.write(c.id, 12 * i, 'latin1');
    toc.writeBigUInt64BE(BigInt(o), 12 * i + 4);
    o += c.data.length;
  });
  toc.writeBigUInt64BE(BigInt(o), 12 * chunks.length + 4);
  const body = Buffer.concat([
    header,
    toc,
    ...chunks.map((c) => Buffer.from(c.data)),
    Buffer.from(opts.extraAfterChunks ?? []),
  ]);
  const trailer = createHash(fx.hash.name).update(body).digest();
  return Buffer.concat([body, trailer]);
}

function goodChunks(fx: Fixture): { id: string; data: Buffer }[] {
  return fx.toc.slice(0, -1).map((r, i) => ({
    id: r.id,
    data: Buffer.from(fx.good.subarray(r.offset, fx.toc[i + 1].offset)),
  }));
}

// ---------------------------------------------------------------------------------------------
// Opening and asserting

type Opened = { m: MultiPackIndex; e?: undefined } | { m?: undefined; e: GitMidxError };

/** Asserts the shape every error of ours has: a GitMidxError naming the file. */
function assertOurError(e: unknown, file: string): asserts e is GitMidxError {
  if (!(e instanceof GitMidxError)) {
    assert.fail(`expected a GitMidxError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  assert.equal(e.file, file, `e.file of ${e.code}`);
  assert.ok(e.message.includes(file), `message of ${e.code} names the file: ${e.message}`);
}

function openBytes(
  fx: Fixture,
  bytes: Uint8Array,
  opts: { lenient?: boolean; hash?: HashAlgorithm | null } = {},
): Opened {
  const hash = opts.hash === null ? undefined : (opts.hash ?? fx.hash);
  try {
    return { m: MultiPackIndex.fromBytes(bytes, { hash, lenient: opts.lenient, file: fx.file }) };
  } catch (e) {
    assertOurError(e, fx.file);
    return { e };
  }
}

/** Asserts that opening fails with exactly `code` (or one of `code`); returns the error. */
function expectOpenError(
  fx: Fixture,
  bytes: Uint8Array,
  code: ErrorCode | readonly ErrorCode[],
  opts: { lenient?: boolean; hash?: HashAlgorithm | null } = {},
): GitMidxError {
  const r = openBytes(fx, bytes, opts);
  if (r.m) {
    r.m.close();
    assert.fail(`file opened; expected ${String(code)}`);
  }
  const codes: readonly ErrorCode[] = typeof code === 'string' ? [code] : code;
  assert.ok(codes.includes(r.e.code), `got ${r.e.code} (${r.e.message}), expected ${codes.join(' or ')}`);
  return r.e;
}

function expectOpens(fx: Fixture, bytes: Uint8Array, opts: { lenient?: boolean } = {}): MultiPackIndex {
  const r = openBytes(fx, bytes, opts);
  if (r.e) assert.fail(`expected the file to open, got ${r.e.code}: ${r.e.message}`);
  return r.m;
}

/** Every id resolves exactly as in the good file (for ids accepted by `which`). */
function assertLookupsLikeGood(fx: Fixture, m: MultiPackIndex, which: (oid: Buffer) => boolean = () => true) {
  let n = 0;
  for (const oid of fx.oids) {
    if (!which(oid)) continue;
    assert.deepEqual(m.lookup(oid), fx.lookups.get(oid.toString('hex')), `lookup ${oid.toString('hex')}`);
    n++;
  }
  assert.ok(n > 0, 'compared at least one id');
}

/** Calls `fn` and returns the error, which must be ours with `code`. */
function throwsCode(fx: Fixture, fn: () => unknown, code: ErrorCode): GitMidxError {
  try {
    fn();
  } catch (e) {
    assertOurError(e, fx.file);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`did not throw ${code}`);
}

// ---------------------------------------------------------------------------------------------
// git multi-pack-index verify on the same bytes

interface VerifyResult {
  status: number;
  lines: string[];
}

function putMidx(fx: Fixture, bytes: Uint8Array): void {
  fs.rmSync(fx.repo.midxPath, { force: true });
  fs.writeFileSync(fx.repo.midxPath, bytes);
}

/** Runs our open (through the file, as openMidxFile) and git's verify on `bytes`; restores the file. */
function withGit(fx: Fixture, bytes: Uint8Array): { ours: Opened; git: VerifyResult } {
  putMidx(fx, bytes);
  try {
    let ours: Opened;
    try {
      ours = { m: openMidxFile(fx.repo.midxPath, { hash: fx.hash }) };
    } catch (e) {
      assertOurError(e, fx.file);
      ours = { e };
    }
    const r = fx.repo.git(['multi-pack-index', 'verify', '--no-progress'], { allowFail: true });
    return { ours, git: { status: r.status, lines: r.stderr.split('\n').filter((l) => l !== '') } };
  } finally {
    putMidx(fx, fx.good);
  }
}

const PARSE_FAILED = 'error: multi-pack-index file exists, but failed to parse';

/** Git's first `fatal:`/`error:` line without the prefix, and its level. */
function gitDiagnostic(v: VerifyResult): { level: 'fatal' | 'error'; text: string } | undefined {
  for (const l of v.lines) {
    if (l.startsWith('fatal: ')) return { level: 'fatal', text: l.slice(7) };
    if (l.startsWith('error: ')) return { level: 'error', text: l.slice(7) };
  }
  return undefined;
}

/**
 * The load fails for git and for us, with the same fatal/ignored split; with `sameText` our
 * `data.git` is git's message.
 */
function assertAgreesWithGit(
  fx: Fixture,
  bytes: Uint8Array,
  code: ErrorCode,
  sameText = true,
): { e: GitMidxError; git: VerifyResult } {
  const { ours, git } = withGit(fx, bytes);
  if (ours.m) {
    ours.m.close();
    assert.fail(`we opened the file; expected ${code}; git said ${git.lines.join(' | ')}`);
  }
  const e = ours.e;
  assert.equal(e.code, code, e.message);
  const fatal = isFatalMidxError(code);
  const d = gitDiagnostic(git);
  assert.ok(d, `git printed a diagnostic: ${git.lines.join(' | ')}`);
  if (fatal) {
    assert.equal(git.status, 128, `git dies on ${code}: ${git.lines.join(' | ')}`);
    assert.equal(d.level, 'fatal');
  } else {
    assert.equal(git.status, 1, `git ignores the file on ${code}: ${git.lines.join(' | ')}`);
    assert.equal(d.level, 'error');
    assert.ok(git.lines.includes(PARSE_FAILED), git.lines.join(' | '));
  }
  if (sameText) assert.equal(e.data.git, d.text);
  return { e, git };
}

/** The file opens for us; git 2.39 does not die on it either (it may report findings, exit 1). */
function assertOpensAndGitDoesNotDie(fx: Fixture, bytes: Uint8Array): VerifyResult {
  const { ours, git } = withGit(fx, bytes);
  if (ours.e) assert.fail(`expected the file to open, got ${ours.e.code}: ${ours.e.message}`);
  ours.m.close();
  assert.equal(git.status, 1, git.lines.join(' | '));
  assert.ok(!git.lines.some((l) => l.startsWith('fatal: ') || l === PARSE_FAILED), git.lines.join(' | '));
  return git;
}

// ---------------------------------------------------------------------------------------------

for (const format of ['sha1', 'sha256'] as const) {
  describe(`corrupt MIDX (${format})`, () => {
    let fx: Fixture;
    before(() => {
      fx = buildFixture(format);
    });

    test('the unmodified file opens and rebuilding it with the test layout is byte-identical', () => {
      const m = expectOpens(fx, fx.good);
      try {
        assertLookupsLikeGood(fx, m);
      } finally {
        m.close();
      }
      // The helper that resizes chunks must reproduce git's layout exactly, trailer included.
      assert.ok(buildMidx(fx, goodChunks(fx)).equals(fx.good));
      const v = withGit(fx, fx.good);
      assert.equal(v.git.status, 0, v.git.lines.join(' | '));
      v.ours.m?.close();
    });

    // --- header bytes 0..11 ------------------------------------------------------------------

    test('every header byte changed to other values', () => {
      const values = [0x00, 0x01, 0x02, 0x03, 0x05, 0x7f, 0x80, 0xff];
      const numPacks = fx.good.readUInt32BE(8);
      const pnam = chunkOf(fx, 'PNAM');
      // A name past the P-th is "" when PNAM has padding, else the chunk has no more terminators.
      const pnamPadded = fx.good[pnam.offset + pnam.size - 2] === 0;
      let opened = 0;
      let failed = 0;
      for (let pos = 0; pos < 12; pos++) {
        if (pos === 6) continue; // the chunk count: next test
        for (const v of values) {
          if (fx.good[pos] === v) continue;
          const b = patched(fx, pos, [v]);
          const what = `byte ${pos} = ${v}`;
          if (pos < 4) {
            const e = expectOpenError(fx, b, 'MIDX_BAD_SIGNATURE');
            const sig = b.readUInt32BE(0).toString(16).padStart(8, '0');
            assert.equal(
              e.data.git,
              `multi-pack-index signature 0x${sig} does not match signature 0x4d494458`,
            );
            failed++;
          } else if (pos === 4) {
            if (v === 2) {
              // Version 2 is readable ([new]); the v1 pack-name order rule is then not applied.
              const m = expectOpens(fx, b);
              assert.equal(m.version, 2);
              assertLookupsLikeGood(fx, m);
              m.close();
              opened++;
            } else {
              const e = expectOpenError(fx, b, 'MIDX_BAD_VERSION');
              assert.equal(e.data.git, `multi-pack-index version ${v} not recognized`);
              failed++;
            }
          } else if (pos === 5) {
            const e = expectOpenError(fx, b, 'MIDX_BAD_HASH_VERSION');
            assert.equal(
              e.data.git,
              `multi-pack-index hash version ${v} does not match version ${fx.hash.formatId}`,
              what,
            );
            failed++;
          } else if (pos === 7) {
            // The number of base MIDX files is never read (§2).
            const m = expectOpens(fx, b);
            assertLookupsLikeGood(fx, m);
            m.close();
            opened++;
          } else {
            const p = b.readUInt32BE(8);
            if (p > numPacks) {
              expectOpenError(fx, b, pnamPadded ? 'MIDX_PNAM_ORDER' : 'MIDX_PNAM_TOO_SHORT');
              failed++;
            } else {
              // Fewer packs: the file opens, objects of the packs beyond P name no pack.
              const m = expectOpens(fx, b);
              assert.equal(m.packNames.length, p);
              for (const oid of fx.oids) {
                const want = fx.lookups.get(oid.toString('hex'))!;
                if (want.packId < p) {
                  assert.deepEqual(m.lookup(oid), want);
                } else {
                  const e = throwsCode(fx, () => m.lookup(oid), 'MIDX_BAD_PACK_ID');
                  assert.equal(e.data.git, `bad pack-int-id: ${want.packId} (${p} total packs)`);
                  throwsCode(fx, () => m.packIdAt(want.position), 'MIDX_BAD_PACK_ID');
                }
              }
              m.close();
              opened++;
            }
          }
        }
      }
      assert.ok(opened >= 3 && failed > 50, `opened ${opened}, failed ${failed}`);
    });

    test('chunk-count byte (6) changed: the CHUNK_* error git reports', () => {
      const limit = fx.good.length - fx.H;
      for (const v of [0, 1, 2, 3, 5, 6, 7, 8, 20, 0x7f, 0x80, 0xff]) {
        const b = patched(fx, 6, [v]);
        if (v < 4) {
          // Fewer chunks: row C is a real chunk (non-zero id).
          const e = expectOpenError(fx, b, 'CHUNK_FINAL_NONZERO');
          const id = fx.good.readUInt32BE(tocRowAt(v)).toString(16);
          assert.equal(e.data.git, `final chunk has non-zero id ${id}`);
        } else if (12 + 12 * (v + 1) > limit) {
          // A TOC running past the data: Git checks row by row (reading past EOF if it gets
          // there) and stops at row 4, git's terminator, which is still inside the file; a
          // bounds-checking reader may refuse the TOC as a whole first. Both are non-fatal.
          expectOpenError(fx, b, ['CHUNK_TOC_TRUNCATED', 'CHUNK_TERMINATOR_EARLY']);
        } else {
          // More chunks: row 4 (git's terminator, id 0) comes too early. Git checks rows in
          // order and never checks that a chunk overlaps the (now longer) TOC, so this is the
          // first error it reports — §17.14 "6: \7".
          const e = expectOpenError(fx, b, 'CHUNK_TERMINATOR_EARLY');
          assert.equal(e.data.git, 'terminating chunk id appears earlier than expected');
          assert.equal(e.data.row, 4);
        }
      }
    });

    test('hash byte of the other algorithm: rejected with the repository hash, read as that hash without', () => {
      const other = fx.hash === SHA1 ? SHA256 : SHA1;
      const b = patched(fx, 5, [other.formatId]);
      const e = expectOpenError(fx, b, 'MIDX_BAD_HASH_VERSION');
      assert.equal(
        e.data.git,
        `multi-pack-index hash version ${other.formatId} does not match version ${fx.hash.formatId}`,
      );
      // Without a repository hash the file is taken at its word. Read as SHA-256, a SHA-1 file's
      // last chunk runs into the (now 32-byte) trailer; read as SHA-1, a SHA-256 file's OIDL has
      // the wrong size for N 20-byte ids.
      if (fx.hash === SHA1) {
        const e2 = expectOpenError(fx, b, 'CHUNK_BAD_OFFSETS', { hash: null });
        assert.equal(e2.data.end, fx.toc[fx.toc.length - 1].offset);
      } else {
        const e2 = expectOpenError(fx, b, 'CHUNK_WRONG_SIZE', { hash: null });
        assert.equal(e2.data.chunk, 'OIDL');
        assert.equal(e2.data.expected, fx.oids.length * 20);
      }
    });

    // --- truncation ------------------------------------------------------------------------

    test('truncation at 0, 11, 12+H−1, every chunk boundary and inside chunks', () => {
      const H = fx.H;
      const sizes = new Set<number>([0, 1, 11, 12, 12 + H - 1, 12 + H, 12 + H + 1, fx.good.length - 1]);
      for (let i = 0; i < fx.toc.length; i++) {
        const o = fx.toc[i].offset;
        for (const s of [o - 1, o, o + 1, o + H - 1, o + H, o + H + 1]) sizes.add(s);
        if (i + 1 < fx.toc.length) sizes.add(Math.floor((o + fx.toc[i + 1].offset) / 2));
      }
      for (let i = 0; i <= fx.toc.length; i++) sizes.add(tocRowAt(i)); // TOC row boundaries
      const tocEnd = tocRowAt(fx.toc.length);
      for (const s of [...sizes].sort((a, b) => a - b)) {
        if (s < 0 || s >= fx.good.length) continue;
        const b = fx.good.subarray(0, s);
        if (s < 12 + H) {
          const e = expectOpenError(fx, b, 'MIDX_TOO_SMALL');
          assert.equal(e.data.git, `multi-pack-index file ${fx.file} is too small`);
          continue;
        }
        const limit = s - H;
        if (tocEnd > limit) {
          expectOpenError(fx, b, 'CHUNK_TOC_TRUNCATED');
          continue;
        }
        // The first chunk that now ends past the data is reported with git's wording.
        const row = fx.toc.findIndex((_r, i) => i + 1 < fx.toc.length && fx.toc[i + 1].offset > limit);
        assert.ok(row >= 0, `size ${s}`);
        const e = expectOpenError(fx, b, 'CHUNK_BAD_OFFSETS');
        assert.equal(
          e.data.git,
          `improper chunk offset(s) ${fx.toc[row].offset.toString(16)} and ${fx.toc[row + 1].offset.toString(16)}`,
          `size ${s}`,
        );
      }
    });

    // --- table of contents -----------------------------------------------------------------

    test('chunk offsets out of range, decreasing, or inside the header/TOC → CHUNK_BAD_OFFSETS', () => {
      const rows = fx.toc;
      const size = fx.good.length;
      const cases: [string, number, Buffer][] = [
        ['terminator at the file end (over the trailer)', rows.length - 1, be64(size)],
        ['terminator one past size − H', rows.length - 1, be64(size - fx.H + 4)],
        ['OIDL far beyond the file', 2, be64(2 ** 40)],
        ['OIDL beyond 2^53', 2, be64(0x7fff_ffff_ffff_fff0n)],
        ['OIDL after OOFF (decreasing)', 2, be64(rows[3].offset + 4)],
        ['OIDF before PNAM (decreasing)', 1, be64(rows[0].offset - 4)],
        ['terminator before OOFF', rows.length - 1, be64(rows[3].offset - 8)],
        ['PNAM inside the TOC', 0, be64(0x24)],
        ['PNAM at offset 0', 0, be64(0)],
        ['OOFF inside the header', 3, be64(4)],
      ];
      for (const [name, row, value] of cases) {
        const e = expectOpenError(fx, patched(fx, tocRowAt(row) + 4, value), 'CHUNK_BAD_OFFSETS');
        assert.match(String(e.data.git), /^improper chunk offset\(s\) [0-9a-f]+ and [0-9a-f]+$/, name);
      }
    });

    test('unaligned chunk offset → CHUNK_UNALIGNED (Git 2.43+)', () => {
      for (const [row, delta] of [
        [0, 1],
        [1, 2],
        [2, 3],
        [3, -1],
      ] as const) {
        const b = patched(fx, tocRowAt(row) + 4, be64(fx.toc[row].offset + delta));
        const e = expectOpenError(fx, b, 'CHUNK_UNALIGNED');
        const id = Buffer.from(fx.toc[row].id, 'latin1').readUInt32BE(0).toString(16);
        assert.equal(e.data.git, `chunk id ${id} not 4-byte aligned`);
      }
    });

    test('duplicate chunk id, early terminator, non-zero final id', () => {
      let e = expectOpenError(fx, patched(fx, tocRowAt(1), 'PNAM'), 'CHUNK_DUPLICATE');
      assert.equal(e.data.git, 'duplicate chunk ID 504e414d found');
      e = expectOpenError(fx, patched(fx, tocRowAt(3), 'OIDL'), 'CHUNK_DUPLICATE');
      assert.equal(e.data.git, 'duplicate chunk ID 4f49444c found');
      for (const row of [0, 1, 2, 3]) {
        e = expectOpenError(fx, patched(fx, tocRowAt(row), [0, 0, 0, 0]), 'CHUNK_TERMINATOR_EARLY');
        assert.equal(e.data.row, row);
      }
      e = expectOpenError(fx, patched(fx, tocRowAt(4), 'ZZZZ'), 'CHUNK_FINAL_NONZERO');
      assert.equal(e.data.git, 'final chunk has non-zero id 5a5a5a5a');
      e = expectOpenError(fx, patched(fx, tocRowAt(4) + 3, [1]), 'CHUNK_FINAL_NONZERO');
      assert.equal(e.data.git, 'final chunk has non-zero id 1');
    });

    test('each required chunk renamed → CHUNK_MISSING naming it', () => {
      const what: Record<string, string> = {
        PNAM: 'pack-name',
        OIDF: 'OID fanout',
        OIDL: 'OID lookup',
        OOFF: 'object offsets',
      };
      for (let row = 0; row < 4; row++) {
        const id = fx.toc[row].id;
        for (const renamed of [`X${id.slice(1)}`, id.toLowerCase()]) {
          const e = expectOpenError(fx, patched(fx, tocRowAt(row), renamed), 'CHUNK_MISSING');
          assert.equal(e.data.chunk, id);
          assert.equal(e.data.git, `multi-pack-index missing required ${what[id]} chunk`);
        }
      }
    });

    test('unknown extra chunks, another chunk order and bytes before the trailer are accepted', () => {
      const chunks = goodChunks(fx);
      const extra = buildMidx(fx, [...chunks, { id: 'XTRA', data: Buffer.from('12345678') }]);
      let m = expectOpens(fx, extra);
      assertLookupsLikeGood(fx, m);
      m.close();
      const reordered = buildMidx(fx, [chunks[3], chunks[1], chunks[0], chunks[2]]);
      m = expectOpens(fx, reordered);
      assertLookupsLikeGood(fx, m);
      m.close();
      const tail = buildMidx(fx, chunks, { extraAfterChunks: Buffer.alloc(12, 0xee) });
      m = expectOpens(fx, tail);
      assertLookupsLikeGood(fx, m);
      m.close();
    });

    // --- chunk sizes ([new]: 2.39 checks none but the fanout's, and carries on after it) ------

    test('OIDF/OIDL/OOFF of the wrong size → CHUNK_WRONG_SIZE (Git 2.43+ dies)', () => {
      const n = fx.oids.length;
      const H = fx.H;
      const base = goodChunks(fx);
      const resized = (id: string, data: Buffer) =>
        buildMidx(
          fx,
          base.map((c) => (c.id === id ? { id, data } : c)),
        );
      const chunk = (id: string) => base.find((c) => c.id === id)!.data;
      const cases: [string, Buffer, string][] = [
        ['OIDF', chunk('OIDF').subarray(0, 1020), 'multi-pack-index OID fanout is of the wrong size'],
        ['OIDF', Buffer.concat([chunk('OIDF'), be32(n)]), 'multi-pack-index OID fanout is of the wrong size'],
        [
          'OIDL',
          chunk('OIDL').subarray(0, (n - 1) * H),
          'multi-pack-index OID lookup chunk is the wrong size',
        ],
        [
          'OIDL',
          Buffer.concat([chunk('OIDL'), Buffer.alloc(4)]),
          'multi-pack-index OID lookup chunk is the wrong size',
        ],
        ['OIDL', Buffer.alloc(0), 'multi-pack-index OID lookup chunk is the wrong size'],
        [
          'OOFF',
          chunk('OOFF').subarray(0, (n - 1) * 8),
          'multi-pack-index object offset chunk is the wrong size',
        ],
        [
          'OOFF',
          Buffer.concat([chunk('OOFF'), Buffer.alloc(4)]),
          'multi-pack-index object offset chunk is the wrong size',
        ],
      ];
      for (const [id, data, git] of cases) {
        const e = expectOpenError(fx, resized(id, data), 'CHUNK_WRONG_SIZE');
        assert.equal(e.data.chunk, id);
        assert.equal(e.data.git, git);
        assert.equal(e.data.size, data.length);
        // [new] prints this error and then dies with the required-chunk message: fatal.
        assert.equal(isFatalMidxError(e.code), true);
      }
      // The object count comes from fanout[255]: one object less in the fanout (every count of n
      // lowered to n − 1, so it stays monotonic) makes OIDL too long.
      const oidf = chunkOf(fx, 'OIDF');
      const fewer = Buffer.from(fx.good);
      for (let i = 0; i < 256; i++) {
        const at = oidf.offset + 4 * i;
        if (fewer.readUInt32BE(at) === n) fewer.writeUInt32BE(n - 1, at);
      }
      const e = expectOpenError(fx, fewer, 'CHUNK_WRONG_SIZE');
      assert.equal(e.data.chunk, 'OIDL');
      assert.equal(e.data.expected, (n - 1) * H);
    });

    // --- pack names --------------------------------------------------------------------------

    test('pack names: order, missing terminator, version 2 accepts any order', () => {
      const pnam = chunkOf(fx, 'PNAM');
      const unsorted = patched(fx, pnam.offset + 2, 'z');
      const e = expectOpenError(fx, unsorted, 'MIDX_PNAM_ORDER');
      const names = fx.good.toString('latin1', pnam.offset, pnam.offset + pnam.size).split('\0');
      assert.equal(
        e.data.git,
        `multi-pack-index pack names out of order: 'pazk${names[0].slice(4)}' before '${names[1]}'`,
      );
      // Two equal names are out of order too (strictly increasing).
      const dup = Buffer.from(fx.good);
      dup.write(names[0], pnam.offset + names[0].length + 1, 'latin1');
      expectOpenError(fx, dup, 'MIDX_PNAM_ORDER');
      // In a version-2 file the order is free ([new]).
      const v2 = Buffer.from(unsorted);
      v2[4] = 2;
      const m = expectOpens(fx, v2);
      assert.equal(m.packNames[0], `pazk${names[0].slice(4)}`);
      assertLookupsLikeGood(fx, m, (oid) => fx.lookups.get(oid.toString('hex'))!.packId !== 0);
      m.close();
      // The last name loses its NUL: Git 2.43+ dies "pack-name chunk is too short"; 2.39 read past
      // the chunk with strlen. We follow [new].
      const last = pnam.offset + pnam.size - 1;
      const noNul = Buffer.from(fx.good);
      for (let i = last; noNul[i] === 0; i--) noNul[i] = 0x78;
      const e2 = expectOpenError(fx, noNul, 'MIDX_PNAM_TOO_SHORT');
      assert.equal(e2.data.git, 'multi-pack-index pack-name chunk is too short');
      assert.equal(isFatalMidxError(e2.code), true);
      // A PNAM of zero bytes cannot hold any name.
      const empty = buildMidx(
        fx,
        goodChunks(fx).map((c) => (c.id === 'PNAM' ? { id: 'PNAM', data: Buffer.alloc(0) } : c)),
      );
      expectOpenError(fx, empty, 'MIDX_PNAM_TOO_SHORT');
    });

    // --- fanout, OIDL, OOFF contents ---------------------------------------------------------

    test('non-monotonic fanout → MIDX_FANOUT_ORDER; lenient open stays bounds-safe', () => {
      const oidf = chunkOf(fx, 'OIDF');
      const fan = (b: Buffer, i: number) => b.readUInt32BE(oidf.offset + 4 * i);
      for (const [i, value] of [
        [250, fan(fx.good, 250) + 0x10000],
        [0, 0xffffffff],
        [100, fx.oids.length + 1],
        [254, fx.oids.length * 1000],
      ] as const) {
        const b = patched(fx, oidf.offset + 4 * i, be32(value));
        const e = expectOpenError(fx, b, 'MIDX_FANOUT_ORDER');
        assert.equal(
          e.data.git,
          `oid fanout out of order: fanout[${i}] = ${value.toString(16)} > ${fan(b, i + 1).toString(16)} = fanout[${i + 1}]`,
        );
        // Lenient (what verify uses): opens; ids outside the damaged buckets resolve as before,
        // ids in bucket i+1 (now starting past its end) are not found, nothing else is thrown.
        const m = expectOpens(fx, b, { lenient: true });
        // (Bucket i now extends further but still contains its ids.)
        for (const oid of fx.oids) {
          if (oid[0] === i + 1) assert.equal(m.has(oid), false);
          else assert.deepEqual(m.lookup(oid), fx.lookups.get(oid.toString('hex')));
        }
        for (let n = 0; n < m.numObjects; n++) m.entryAt(n);
        assert.equal([...m.entries()].length, fx.oids.length);
        // Probing every first byte never reads outside the file.
        for (let first = 0; first < 256; first++) {
          const probe = Buffer.alloc(fx.H, 0xab);
          probe[0] = first;
          assert.equal(m.findPosition(probe), -1);
        }
        m.close();
      }
    });

    test('OIDL out of order or OOFF offset word changed: the file opens, lookups read the damage', () => {
      const oidl = chunkOf(fx, 'OIDL');
      const ooff = chunkOf(fx, 'OOFF');
      const b = patched(fx, oidl.offset + 16 * fx.H, [0]);
      let m = expectOpens(fx, b);
      assert.equal(m.oidAt(16)[0], 0);
      assert.equal(m.has(fx.oids[16]), false, 'the damaged id is gone');
      m.close();
      const good16 = fx.lookups.get(fx.oids[16].toString('hex'))!;
      m = expectOpens(fx, patched(fx, ooff.offset + 16 * 8 + 6, [0xff]));
      assert.equal(m.offsetAt(16), (good16.offset & 0xffff00ff) | 0xff00);
      m.close();
      // Without a LOFF chunk an MSB-set word is a plain 32-bit offset (§4.5).
      m = expectOpens(fx, patched(fx, ooff.offset + 16 * 8 + 4, be32(0x80000507)));
      assert.equal(m.offsetAt(16), 0x80000507);
      assert.equal(m.hasLargeOffsets, false);
      m.close();
    });

    test('pack-int-id ≥ P in OOFF → MIDX_BAD_PACK_ID on that object only', () => {
      const ooff = chunkOf(fx, 'OOFF');
      for (const value of [4, 0x0701, 0xffffffff]) {
        const m = expectOpens(fx, patched(fx, ooff.offset + 16 * 8, be32(value)));
        const oid = fx.oids[16];
        let e = throwsCode(fx, () => m.packIdAt(16), 'MIDX_BAD_PACK_ID');
        assert.equal(e.data.git, `bad pack-int-id: ${value} (4 total packs)`);
        e = throwsCode(fx, () => m.lookup(oid), 'MIDX_BAD_PACK_ID');
        assert.equal(e.data.position, 16);
        throwsCode(fx, () => [...m.entries()], 'MIDX_BAD_PACK_ID');
        assert.equal(m.has(oid), true, 'the id itself is still there');
        assertLookupsLikeGood(fx, m, (o) => !o.equals(oid));
        m.close();
      }
    });

    test('trailer damage is not noticed at open (normal reads never hash the file)', () => {
      const b = Buffer.from(fx.good);
      b.fill(0xff, b.length - 10);
      const m = expectOpens(fx, b);
      assertLookupsLikeGood(fx, m);
      m.close();
    });

    // --- git multi-pack-index verify as the reference (§17.14) -------------------------------

    test('§17.14 corruptions: same fatal/ignored split and wording as git verify', {
      skip: VERIFY_SKIP,
    }, () => {
      const pnam = chunkOf(fx, 'PNAM');
      const same: [string, Buffer, ErrorCode][] = [
        ['0: \\0', patched(fx, 0, [0]), 'MIDX_BAD_SIGNATURE'],
        ['4: \\0', patched(fx, 4, [0]), 'MIDX_BAD_VERSION'],
        ['4: \\3', patched(fx, 4, [3]), 'MIDX_BAD_VERSION'],
        ['5: \\3', patched(fx, 5, [3]), 'MIDX_BAD_HASH_VERSION'],
        ['6: \\1', patched(fx, 6, [1]), 'CHUNK_FINAL_NONZERO'],
        ['6: \\7', patched(fx, 6, [7]), 'CHUNK_TERMINATOR_EARLY'],
        ['6: \\0', patched(fx, 6, [0]), 'CHUNK_FINAL_NONZERO'],
        ['12: \\1', patched(fx, 12, [1]), 'CHUNK_MISSING'],
        ['24: XIDF', patched(fx, 24, 'XIDF'), 'CHUNK_MISSING'],
        ['36: XIDL', patched(fx, 36, 'XIDL'), 'CHUNK_MISSING'],
        ['48: XOFF', patched(fx, 48, 'XOFF'), 'CHUNK_MISSING'],
        ['16: \\1', patched(fx, 16, [1]), 'CHUNK_BAD_OFFSETS'],
        ['24: PNAM', patched(fx, 24, 'PNAM'), 'CHUNK_DUPLICATE'],
        ['60: ZZZZ', patched(fx, 60, 'ZZZZ'), 'CHUNK_FINAL_NONZERO'],
        ['PNAM+2: z', patched(fx, pnam.offset + 2, 'z'), 'MIDX_PNAM_ORDER'],
        ['truncated to 1000', fx.good.subarray(0, 1000), 'CHUNK_BAD_OFFSETS'],
      ];
      // Every case runs; the failures are listed together.
      const failures: string[] = [];
      for (const [name, bytes, code] of same) {
        try {
          assertAgreesWithGit(fx, bytes, code);
        } catch (err) {
          failures.push(`case ${name}: ${(err as Error).message}`);
        }
      }
      assert.deepEqual(failures, []);
      // If 2.39 also wrote "6: \1" as a 1-row TOC, its first line names OIDF (as §17.14 shows).
      const { git } = withGit(fx, patched(fx, 6, [1]));
      assert.equal(git.lines[0], 'error: final chunk has non-zero id 4f494446');
    });

    test('§17.14 too small (31 bytes, empty): same, git names the path it was given', {
      skip: VERIFY_SKIP,
    }, () => {
      for (const size of [31, 0, 12 + fx.H - 1]) {
        const { e, git } = assertAgreesWithGit(fx, fx.good.subarray(0, size), 'MIDX_TOO_SMALL', false);
        const m = /^multi-pack-index file (.+) is too small$/.exec(gitDiagnostic(git)!.text);
        assert.ok(m, git.lines.join(' | '));
        assert.equal(path.resolve(fx.repo.dir, m[1]), fx.repo.midxPath);
        assert.equal(e.data.git, `multi-pack-index file ${fx.repo.midxPath} is too small`);
      }
    });

    test('§17.14 truncated to 12+H bytes: both ignore the file; git read past EOF', {
      skip: VERIFY_SKIP,
    }, () => {
      // Exception: Git does not check that the TOC fits (it reads the mmap's zero-fill past EOF;
      // SHA-1 at 32 bytes: "improper chunk offset(s) 48 and 0"); we report the truncated TOC.
      // Both are non-fatal. (§17.14 used 32 bytes = 12+H for SHA-1; SHA-256 needs 44.)
      const { e, git } = assertAgreesWithGit(
        fx,
        fx.good.subarray(0, 12 + fx.H),
        'CHUNK_TOC_TRUNCATED',
        false,
      );
      if (fx.H === 20) assert.equal(git.lines[0], 'error: improper chunk offset(s) 48 and 0');
      else assert.match(git.lines[0], /^error: improper chunk offset\(s\) 48 and [0-9a-f]+$/);
      assert.equal(isFatalMidxError(e.code), false);
    });

    test('§17.14 bad pack-int-id: same fatal message at lookup time', { skip: VERIFY_SKIP }, () => {
      const ooff = chunkOf(fx, 'OOFF');
      const b = patched(fx, ooff.offset + 16 * 8 + 2, [7]);
      const { ours, git } = withGit(fx, b);
      assert.ok(ours.m, 'opens: the pack id is only checked when used');
      const e = throwsCode(fx, () => ours.m.packIdAt(16), 'MIDX_BAD_PACK_ID');
      ours.m.close();
      assert.equal(git.status, 128);
      assert.equal(isFatalMidxError(e.code), true);
      assert.deepEqual(gitDiagnostic(git), { level: 'fatal', text: e.data.git });
    });

    test('§17.14 damage git only finds in verify: we open the file too', { skip: VERIFY_SKIP }, () => {
      const pnam = chunkOf(fx, 'PNAM');
      const oidl = chunkOf(fx, 'OIDL');
      const ooff = chunkOf(fx, 'OOFF');
      let git = assertOpensAndGitDoesNotDie(fx, patched(fx, 7, [9]));
      assert.deepEqual(git.lines, ['incorrect checksum']);
      const trailer = Buffer.from(fx.good);
      trailer.fill(0xff, trailer.length - 10);
      git = assertOpensAndGitDoesNotDie(fx, trailer);
      assert.deepEqual(git.lines, ['incorrect checksum']);
      git = assertOpensAndGitDoesNotDie(fx, patched(fx, pnam.offset + 2, 'a'));
      assert.ok(git.lines.includes('failed to load pack in position 0'), git.lines.join(' | '));
      git = assertOpensAndGitDoesNotDie(fx, patched(fx, oidl.offset + 16 * fx.H, [0]));
      assert.ok(
        git.lines.some((l) => l.startsWith('oid lookup out of order: oid[15] = ')),
        git.lines.join(' | '),
      );
      // The offset git's verify finds wrong is the one we read.
      const b = patched(fx, ooff.offset + 16 * 8 + 6, [0xff]);
      git = assertOpensAndGitDoesNotDie(fx, b);
      const m = expectOpens(fx, b);
      const good16 = fx.lookups.get(fx.oids[16].toString('hex'))!;
      assert.ok(
        git.lines.includes(
          `incorrect object offset for oid[16] = ${fx.oids[16].toString('hex')}: ${m.offsetAt(16).toString(16)} != ${good16.offset.toString(16)}`,
        ),
        git.lines.join(' | '),
      );
      m.close();
    });

    test('§17.14 cases where we follow Git 2.43+ ([new]) rather than 2.39', { skip: VERIFY_SKIP }, () => {
      // Version 2: 2.39 dies "version 2 not recognized"; [new] reads v2 files, and so do we.
      {
        const { ours, git } = withGit(fx, patched(fx, 4, [2]));
        assert.ok(ours.m, 'v2 opens');
        ours.m.close();
        assert.equal(git.status, 128);
        assert.equal(git.lines[0], 'fatal: multi-pack-index version 2 not recognized');
      }
      // Alignment: 2.39 has no check (verify then trips over the shifted PNAM, exit 1); [new]
      // prints "chunk id 504e414d not 4-byte aligned" and ignores the file — not fatal either way.
      {
        const { ours, git } = withGit(fx, patched(fx, 23, [0x49]));
        assert.ok(ours.e);
        assert.equal(ours.e.code, 'CHUNK_UNALIGNED');
        assert.equal(ours.e.data.git, 'chunk id 504e414d not 4-byte aligned');
        assert.equal(isFatalMidxError(ours.e.code), false);
        assert.equal(git.status, 1);
        assert.ok(git.lines.includes('failed to load pack in position 0'), git.lines.join(' | '));
      }
      // Fanout order: 2.39 finds it only in verify (no prefix, exit 1); [new] checks at load and
      // dies. We are fatal like [new]; the wording is the same as 2.39's verify line.
      {
        const oidf = chunkOf(fx, 'OIDF');
        const { ours, git } = withGit(fx, patched(fx, oidf.offset + 250 * 4 + 1, [1]));
        assert.ok(ours.e);
        assert.equal(ours.e.code, 'MIDX_FANOUT_ORDER');
        assert.equal(isFatalMidxError(ours.e.code), true);
        assert.equal(git.status, 1);
        assert.ok(
          git.lines.includes(String(ours.e.data.git)),
          `${ours.e.data.git} in ${git.lines.join(' | ')}`,
        );
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A MIDX with a LOFF chunk (§4.5, §17.6): pack with `--index-version=2,0x40` so every offset
// above 0x40 sits in the .idx 64-bit table, patch two of them beyond 31/32 bits, let git write.

describe('corrupt MIDX with large offsets (LOFF)', () => {
  let fx: Fixture;
  const patchedOffsets = [0x1_0000_0408, 0x8000_0507];
  let loffPositions: number[] = [];

  before(() => {
    const repo = TestRepo.create({ objectFormat: 'sha1', bare: true });
    repos.push(repo);
    const hex = repo.writeBlobs(Array.from({ length: 8 }, (_, i) => `large offset blob ${i}\n`));
    const stem = repo.packObjects(hex, { indexVersion: '2,0x40' });
    const idxPath = path.join(repo.packDir, `${stem}.idx`);
    const idx = fs.readFileSync(idxPath);
    const H = 20;
    const n = idx.readUInt32BE(8 + 255 * 4);
    const offBase = 1032 + n * (H + 4);
    const largeBase = 1032 + n * (H + 8);
    const patchedAt: number[] = [];
    for (let i = 0; i < n && patchedAt.length < 2; i++) {
      const w = idx.readUInt32BE(offBase + 4 * i);
      if (w & 0x80000000) {
        idx.writeBigUInt64BE(BigInt(patchedOffsets[patchedAt.length]), largeBase + 8 * (w & 0x7fffffff));
        patchedAt.push(i);
      }
    }
    assert.equal(patchedAt.length, 2, 'two offsets in the 64-bit table');
    fs.chmodSync(idxPath, 0o644);
    fs.writeFileSync(idxPath, idx);
    repo.git(['multi-pack-index', 'write', '--no-progress']);
    const good = repo.readMidx();
    assert.ok(good);
    const toc = decodeToc(good);
    assert.deepEqual(
      toc.map((r) => r.id),
      ['PNAM', 'OIDF', 'OIDL', 'OOFF', 'LOFF', '\0\0\0\0'],
    );
    const oids = hex.map((h) => Buffer.from(h, 'hex')).sort(Buffer.compare);
    const m = MultiPackIndex.fromBytes(good, { hash: SHA1, file: repo.midxPath });
    const lookups = new Map<string, MidxLookup>();
    for (const oid of oids) lookups.set(oid.toString('hex'), m.lookup(oid)!);
    m.close();
    // One pack: MIDX positions are the .idx positions.
    loffPositions = patchedAt;
    fx = { repo, hash: SHA1, H, good, toc, oids, lookups, file: repo.midxPath };
  });

  test('git verify accepts it and we read both large offsets through LOFF', () => {
    const v = fx.repo.git(['multi-pack-index', 'verify', '--no-progress'], { allowFail: true });
    assert.equal(v.status, 0, v.stderr);
    const m = expectOpens(fx, fx.good);
    assert.equal(m.hasLargeOffsets, true);
    assert.equal(m.numLargeOffsets, 2);
    assert.deepEqual(
      loffPositions.map((p) => m.offsetAt(p)),
      patchedOffsets,
    );
    const ooff = chunkOf(fx, 'OOFF');
    assert.deepEqual(
      loffPositions.map((p) => fx.good.readUInt32BE(ooff.offset + 8 * p + 4)),
      [0x80000000, 0x80000001],
    );
    m.close();
  });

  test('a LOFF index out of range → MIDX_LOFF_BOUNDS on offsetAt (Git 2.43+ dies; 2.39 read past)', () => {
    const ooff = chunkOf(fx, 'OOFF');
    const p = loffPositions[0];
    for (const word of [0x80000002, 0x80000003, 0xffffffff]) {
      const m = expectOpens(fx, patched(fx, ooff.offset + 8 * p + 4, be32(word)));
      const e = throwsCode(fx, () => m.offsetAt(p), 'MIDX_LOFF_BOUNDS');
      assert.equal(e.data.git, 'multi-pack-index large offset out of bounds');
      assert.equal(e.data.index, word & 0x7fffffff);
      assert.equal(isFatalMidxError(e.code), true);
      throwsCode(fx, () => m.lookup(fx.oids[p]), 'MIDX_LOFF_BOUNDS');
      throwsCode(fx, () => [...m.entries()], 'MIDX_LOFF_BOUNDS');
      assertLookupsLikeGood(fx, m, (o) => !o.equals(fx.oids[p]));
      m.close();
    }
    // A LOFF entry beyond 2^53 cannot be represented: also MIDX_LOFF_BOUNDS.
    const loff = chunkOf(fx, 'LOFF');
    const m = expectOpens(fx, patched(fx, loff.offset, be64(0xffff_0000_0000_0000n)));
    throwsCode(fx, () => m.offsetAt(p), 'MIDX_LOFF_BOUNDS');
    assert.equal(m.offsetAt(loffPositions[1]), patchedOffsets[1]);
    m.close();
  });
});

// ---------------------------------------------------------------------------------------------
// File descriptors: open + lookup + close, 100,000 times.

describe('file descriptors', { skip: fs.existsSync('/proc/self/fd') ? false : 'needs /proc/self/fd' }, () => {
  let fx: Fixture;
  before(() => {
    fx = buildFixture('sha1');
  });

  const fdCount = () => fs.readdirSync('/proc/self/fd').length;

  test('100,000 × openMidxFile + lookup + close leaks no descriptor', () => {
    const file = fx.repo.midxPath;
    const oid = fx.oids[7];
    const want = fx.lookups.get(oid.toString('hex'))!.position;
    const before = fdCount();
    for (let i = 0; i < 100_000; i++) {
      const m = openMidxFile(file, { hash: SHA1 });
      const l = m.lookup(oid);
      m.close();
      if (l === undefined || l.position !== want)
        assert.fail(`iteration ${i}: lookup gave ${JSON.stringify(l)}`);
    }
    assert.equal(fdCount(), before);
  });

  test('failed opens close their descriptor too', () => {
    const bad = path.join(fx.repo.scratchDir(), 'multi-pack-index');
    const before = fdCount();
    for (const bytes of [fx.good.subarray(0, 31), patched(fx, 0, [0]), patched(fx, 23, [0x49])]) {
      fs.writeFileSync(bad, bytes);
      for (let i = 0; i < 2000; i++) {
        try {
          openMidxFile(bad, { hash: SHA1 }).close();
          assert.fail('opened a damaged file');
        } catch (e) {
          assertOurError(e, bad);
        }
      }
    }
    assert.equal(fdCount(), before);
  });

  test('a second close is harmless (it does not close a reused descriptor); lookups after close throw', () => {
    const file = fx.repo.midxPath;
    const before = fdCount();
    const a = openMidxFile(file, { hash: SHA1 });
    assert.equal(fdCount(), before + 1);
    a.close();
    assert.equal(a.closed, true);
    // b most likely gets a's old descriptor number: closing a again must not close b's.
    const b = openMidxFile(file, { hash: SHA1 });
    a.close();
    assert.equal(fdCount(), before + 1);
    for (const oid of fx.oids) assert.deepEqual(b.lookup(oid), fx.lookups.get(oid.toString('hex')));
    b.close();
    b.close();
    assert.equal(fdCount(), before);
    for (const m of [a, b]) {
      throwsCode(fx, () => m.lookup(fx.oids[3]), 'MIDX_CLOSED');
      throwsCode(fx, () => m.oidAt(0), 'MIDX_CLOSED');
      throwsCode(fx, () => m.offsetAt(0), 'MIDX_CLOSED');
    }
    // The in-memory form behaves the same.
    const mem = MultiPackIndex.fromBytes(fx.good, { hash: SHA1, file });
    mem.close();
    mem.close();
    throwsCode(fx, () => mem.lookup(fx.oids[3]), 'MIDX_CLOSED');
  });
});
