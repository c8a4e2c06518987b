/**
 * Interop: for the same packs, our MIDX must be byte-identical to `git multi-pack-index write`
 * (git 2.39 here), `git multi-pack-index verify` must accept it, and our lookups must agree with
 * `git show-index` for the pack Git's own MIDX chose. Every repository is built here by git.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fromHex, toHex } from '../src/bytes.js';
import { isGitMidxError } from '../src/errors.js';
import { SHA1, SHA256 } from '../src/hash.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import { openMidx, type WriteMidxOptions, writeMidxFile } from '../src/node/midx.js';
import type { Diagnostic } from '../src/progress.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function newRepo(format: 'sha1' | 'sha256', bare = true): TestRepo {
  const r = TestRepo.create({ objectFormat: format, bare });
  repos.push(r);
  return r;
}

function hashOf(r: TestRepo) {
  return r.objectFormat === 'sha256' ? SHA256 : SHA1;
}

function ours(r: TestRepo, opts: Partial<WriteMidxOptions> = {}) {
  const diags: Diagnostic[] = [];
  const result = writeMidxFile({
    objectDir: r.objectDir,
    hash: hashOf(r),
    onDiagnostic: (d) => diags.push(d),
    ...opts,
  });
  return { result, diags };
}

/**
 * Runs git's write and ours from the same starting state (the existing MIDX, if any, restored in
 * between) and asserts identical bytes; returns them.
 */
function compareWrite(
  r: TestRepo,
  gitArgs: string[] = [],
  opts: Partial<WriteMidxOptions> = {},
  input?: string,
): { bytes: Buffer; gitStderr: string; diags: Diagnostic[] } {
  const before = r.readMidx();
  const g = r.git(['multi-pack-index', 'write', '--no-progress', ...gitArgs], { input });
  const gitBytes = r.readMidx();
  assert.ok(gitBytes, 'git wrote a MIDX');
  if (before) fs.writeFileSync(r.midxPath, before);
  else fs.rmSync(r.midxPath);
  const { diags } = ours(r, opts);
  const ourBytes = r.readMidx();
  assert.ok(ourBytes, 'we wrote a MIDX');
  if (!ourBytes.equals(gitBytes)) {
    const at = ourBytes.findIndex((b, i) => b !== gitBytes[i]);
    assert.fail(
      `MIDX differs from git's: sizes ${ourBytes.length}/${gitBytes.length}, first difference at ${at}`,
    );
  }
  const v = r.git(['multi-pack-index', 'verify'], { allowFail: true });
  assert.equal(v.status, 0, `git multi-pack-index verify: ${v.stderr}`);
  return { bytes: ourBytes, gitStderr: g.stderr, diags };
}

/** For every object: our lookup gives the pack and offset `git show-index` gives for that pack. */
function checkLookupsAgainstShowIndex(r: TestRepo): void {
  const m = openMidx(r.objectDir, { hash: hashOf(r) });
  assert.ok(m);
  try {
    const showIndex = new Map<string, Map<string, number>>();
    for (const name of m.packNames) {
      const out = r
        .git(['show-index', `--object-format=${r.objectFormat}`], {
          input: fs.readFileSync(path.join(r.packDir, name)),
        })
        .stdout.toString();
      const map = new Map<string, number>();
      for (const line of out.split('\n')) {
        if (!line) continue;
        const [off, oid] = line.split(' ');
        map.set(oid, Number(off));
      }
      showIndex.set(name, map);
    }
    let n = 0;
    for (const e of m.entries()) {
      const hex = toHex(e.oid);
      const hit = m.lookup(fromHex(hex)!);
      assert.ok(hit, `lookup ${hex}`);
      const name: string = m.packNames[hit.packId];
      assert.equal(hit.offset, showIndex.get(name)!.get(hex), `offset of ${hex} in ${name}`);
      n++;
    }
    assert.equal(n, m.numObjects);
    // And a miss.
    const missing = new Uint8Array(m.hash.size).fill(0xff);
    if (!m.has(missing)) assert.equal(m.lookup(missing), undefined);
  } finally {
    m.close();
  }
}

/** Which pack (name) the MIDX at hand selected for `oid`. */
function selectedPack(r: TestRepo, oid: string): string {
  const m = openMidx(r.objectDir, { hash: hashOf(r) })!;
  try {
    const hit = m.lookup(fromHex(oid)!);
    assert.ok(hit);
    return hit.packName;
  } finally {
    m.close();
  }
}

for (const format of ['sha1', 'sha256'] as const) {
  describe(`write, ${format}`, () => {
    test('1, 2 and 50 packs', () => {
      const r = newRepo(format);
      makeManyPacks(r, 1, 30);
      compareWrite(r);
      checkLookupsAgainstShowIndex(r);
      fs.rmSync(r.midxPath);
      makeManyPacks(r, 1, 7);
      compareWrite(r);
      fs.rmSync(r.midxPath);
      makeManyPacks(r, 48, 13, { duplicateEvery: 4 });
      assert.equal(r.listPackStems().length, 50);
      compareWrite(r);
      checkLookupsAgainstShowIndex(r);
    });

    test('duplicates across packs: newest mtime wins, equal mtimes fall back to readdir order', () => {
      const r = newRepo(format);
      const [x, y, z] = r.writeBlobs(['xxx\n', 'yyy\n', 'zzz\n']);
      const p1 = r.packObjects([x, y], { mtime: 946684800 }); // 2000
      const p2 = r.packObjects([x, z], { mtime: 1262304000 }); // 2010
      const p3 = r.packObjects([x, y, z], { mtime: 1262304000 }); // 2010 as well
      compareWrite(r);
      // x is in all three: one of the two 2010 packs, the first in directory order.
      const order = r
        .listPackDirRaw()
        .filter((n) => n.endsWith('.idx'))
        .map((n) => n.slice(0, -4));
      const first2010 = order.find((s) => s === p2 || s === p3);
      assert.equal(selectedPack(r, x), `${first2010}.idx`);
      assert.notEqual(selectedPack(r, x), `${p1}.idx`);
      // Sub-second differences do not count: Git compares whole seconds.
      fs.rmSync(r.midxPath);
      r.setPackMtime(p1, 1262304000.9);
      compareWrite(r);
      checkLookupsAgainstShowIndex(r);
    });

    test('an existing MIDX plus new packs: new copies beat reused ones', () => {
      const r = newRepo(format);
      const [x, y] = r.writeBlobs(['old x\n', 'old y\n']);
      r.packObjects([x, y], { mtime: 1262304000 });
      r.git(['multi-pack-index', 'write']);
      const [z] = r.writeBlobs(['new z\n']);
      const p4 = r.packObjects([x, z], { mtime: 631152000 }); // 1990: older, yet it wins
      compareWrite(r);
      assert.equal(selectedPack(r, x), `${p4}.idx`);
      checkLookupsAgainstShowIndex(r);
      // and again with several more packs on top
      makeManyPacks(r, 5, 9, { duplicateEvery: 2 });
      compareWrite(r);
      checkLookupsAgainstShowIndex(r);
    });

    test('no new pack: the MIDX is left as it is', () => {
      const r = newRepo(format);
      makeManyPacks(r, 3, 5);
      ours(r);
      const st1 = fs.statSync(r.midxPath);
      const bitmap = path.join(r.packDir, 'multi-pack-index-0000.bitmap');
      fs.writeFileSync(bitmap, 'stale');
      const { result } = ours(r);
      assert.equal(result.written, false);
      const st2 = fs.statSync(r.midxPath);
      assert.equal(st2.ino, st1.ino);
      assert.equal(st2.mtimeMs, st1.mtimeMs);
      assert.equal(fs.existsSync(bitmap), false, 'a stale MIDX bitmap is removed, as git does');
    });

    test('--preferred-pack, by .pack and by .idx name', () => {
      const r = newRepo(format);
      const [x, y, z] = r.writeBlobs(['p x\n', 'p y\n', 'p z\n']);
      const old = r.packObjects([x, y], { mtime: 946684800 });
      r.packObjects([x, z], { mtime: 1262304000 });
      r.packObjects([y, z], { mtime: 1262304000 });
      compareWrite(r, [`--preferred-pack=${old}.pack`], { preferredPack: `${old}.pack` });
      assert.equal(selectedPack(r, x), `${old}.idx`);
      assert.equal(selectedPack(r, y), `${old}.idx`);
      fs.rmSync(r.midxPath);
      compareWrite(r, [`--preferred-pack=${old}.idx`], { preferredPack: `${old}.idx` });
    });

    test('--preferred-pack naming an unknown pack warns and prefers nothing (as Git 2.41+)', () => {
      const r = newRepo(format);
      const [x] = r.writeBlobs(['u x\n']);
      r.packObjects([x], { mtime: 946684800 });
      const newer = r.packObjects([x], { mtime: 1262304000 });
      // Git 2.39 silently prefers pack 0 here; current Git (and we) prefer none, so the result is
      // that of a plain write.
      const plain = compareWrite(r).bytes;
      fs.rmSync(r.midxPath);
      const { diags } = ours(r, { preferredPack: 'nonexistent' });
      assert.deepEqual(diags, [{ level: 'warning', message: "unknown preferred pack: 'nonexistent'" }]);
      assert.ok(r.readMidx()!.equals(plain));
      assert.equal(selectedPack(r, x), `${newer}.idx`);
    });

    test('--preferred-pack naming a pack of the existing MIDX (Git 2.39 crashed; 2.46+ honours it)', () => {
      const r = newRepo(format);
      const [x, y] = r.writeBlobs(['pp x\n', 'pp y\n']);
      const p = r.packObjects([x, y], { mtime: 946684800 });
      ours(r);
      r.packObjects([x], { mtime: 1262304000 });
      ours(r, { preferredPack: `${p}.pack` });
      assert.equal(selectedPack(r, x), `${p}.idx`);
      assert.equal(r.git(['multi-pack-index', 'verify'], { allowFail: true }).status, 0);
      checkLookupsAgainstShowIndex(r);
    });

    test('--stdin-packs indexes only the named packs and ignores other names', () => {
      const r = newRepo(format);
      const { stems } = makeManyPacks(r, 6, 8, { duplicateEvery: 3 });
      r.git(['multi-pack-index', 'write']); // an existing MIDX is not reused with --stdin-packs
      const input = `${stems[1]}.idx\n${stems[4]}.idx\n${stems[5]}.pack\nbogus.idx\n`;
      compareWrite(r, ['--stdin-packs'], { stdinPacks: input.trim().split('\n') }, input);
      const m = openMidx(r.objectDir, { hash: hashOf(r) })!;
      assert.deepEqual([...m.packNames].sort(), [`${stems[1]}.idx`, `${stems[4]}.idx`].sort());
      m.close();
    });

    test('.keep, .promisor and .mtimes packs are indexed like any other; loose-* names sort first', () => {
      const r = newRepo(format);
      const { stems } = makeManyPacks(r, 4, 6, { duplicateEvery: 2 });
      fs.writeFileSync(path.join(r.packDir, `${stems[0]}.keep`), '');
      fs.writeFileSync(path.join(r.packDir, `${stems[1]}.promisor`), '');
      fs.writeFileSync(path.join(r.packDir, `${stems[2]}.mtimes`), 'not really');
      const blobs = r.writeBlobs(['loose a\n', 'loose b\n']);
      const loose = r.packObjects(blobs, { prefix: 'loose', mtime: 1262304000 });
      assert.match(loose, /^loose-[0-9a-f]+$/);
      const { bytes } = compareWrite(r);
      const m = MultiPackIndex.fromBytes(bytes);
      assert.equal(m.packNames[0], `${loose}.idx`);
      assert.equal(m.numPacks, 5);
      checkLookupsAgainstShowIndex(r);
    });

    test('a stray .idx without its .pack and a broken .idx are skipped with Git warnings', () => {
      const r = newRepo(format);
      const { stems } = makeManyPacks(r, 2, 5);
      const zeros = '0'.repeat(r.hexLength);
      const ones = '1'.repeat(r.hexLength);
      const stray = path.join(r.packDir, `pack-${zeros}.idx`);
      fs.copyFileSync(path.join(r.packDir, `${stems[0]}.idx`), stray);
      const small = path.join(r.packDir, `pack-${ones}.idx`);
      fs.writeFileSync(small, Buffer.alloc(100));
      fs.writeFileSync(path.join(r.packDir, `pack-${ones}.pack`), Buffer.alloc(100));
      const { gitStderr, diags } = compareWrite(r);
      const ourLines = diags.map((d) => `${d.level}: ${d.message}`);
      // Git prints the path as it built it; compare the message shapes.
      const norm = (s: string) =>
        s.replace(/'[^']*\/(pack-[0-9a-f]+\.idx)'/g, "'$1'").replace(/file \S*\/(pack-)/, 'file $1');
      assert.deepEqual(
        ourLines.map(norm).sort(),
        gitStderr
          .trim()
          .split('\n')
          .filter((l) => l)
          .map(norm)
          .sort(),
      );
    });

    test('no packs: "no pack files to index." and no file written', () => {
      const r = newRepo(format);
      const g = r.git(['multi-pack-index', 'write'], { allowFail: true });
      assert.equal(g.status, 1);
      assert.match(g.stderr, /error: no pack files to index\./);
      assert.throws(
        () => ours(r),
        (e) => isGitMidxError(e, 'NO_PACKS') && e.data.git === 'no pack files to index.',
      );
      assert.equal(fs.existsSync(r.midxPath), false);
      assert.equal(fs.existsSync(`${r.midxPath}.lock`), false);
    });

    test('we read every MIDX git writes, including one with RIDX (--bitmap)', () => {
      const r = newRepo(format, false);
      for (let i = 0; i < 4; i++) {
        r.commitFiles({ [`f${i}`]: `content ${i}\n`, [`g${i}`]: `more ${i}\n` }, `c${i}`);
        r.git(['repack', '-q', '-d']);
      }
      r.git(['multi-pack-index', 'write', '--bitmap']);
      const m = openMidx(r.objectDir, { hash: hashOf(r) })!;
      try {
        assert.ok(m.hasReverseIndex, 'RIDX chunk present');
        assert.equal(m.chunks.length, 5);
      } finally {
        m.close();
      }
      checkLookupsAgainstShowIndex(r);
      // our write over it: no pack added, so git keeps it and so do we
      const { result } = ours(r);
      assert.equal(result.written, false);
    });
  });
}

/** Parses the TOC of a MIDX by hand (independently of src/) into id → [offset, size]. */
function tocOf(b: Buffer): Map<string, [number, number]> {
  const n = b[6];
  const map = new Map<string, [number, number]>();
  for (let i = 0; i < n; i++) {
    const r = 12 + i * 12;
    const id = b.subarray(r, r + 4).toString('latin1');
    const off = Number(b.readBigUInt64BE(r + 4));
    const next = Number(b.readBigUInt64BE(r + 16));
    map.set(id, [off, next - off]);
  }
  return map;
}

/**
 * Patches entries of a v2 `.idx` 64-bit offset table (the MIDX writer trusts `.idx` offsets, §17.6)
 * and returns the resulting offset of every object in idx order.
 */
function patchLargeOffsets(idxPath: string, hashSize: number, values: bigint[]): bigint[] {
  const b = fs.readFileSync(idxPath);
  const n = b.readUInt32BE(8 + 255 * 4);
  const offTable = 1032 + n * (hashSize + 4);
  const largeTable = offTable + n * 4;
  values.forEach((v, k) => {
    b.writeBigUInt64BE(v, largeTable + k * 8);
  });
  fs.chmodSync(idxPath, 0o644);
  fs.writeFileSync(idxPath, b);
  const offsets: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const w = b.readUInt32BE(offTable + i * 4);
    offsets.push(w & 0x80000000 ? b.readBigUInt64BE(largeTable + (w & 0x7fffffff) * 8) : BigInt(w));
  }
  return offsets;
}

/** The OOFF/LOFF bytes the §4.5 rule demands for these offsets (one pack, id 0), encoded here. */
function expectedOffsetChunks(offsets: bigint[]): { ooff: Buffer; loff: Buffer | undefined } {
  const needed = offsets.some((o) => o > 0xffffffffn);
  const ooff = Buffer.alloc(offsets.length * 8);
  const large: bigint[] = [];
  offsets.forEach((o, i) => {
    ooff.writeUInt32BE(0, i * 8);
    if (needed && o > 0x7fffffffn) {
      ooff.writeUInt32BE((0x80000000 | large.length) >>> 0, i * 8 + 4);
      large.push(o);
    } else {
      ooff.writeUInt32BE(Number(o), i * 8 + 4);
    }
  });
  if (!needed) return { ooff, loff: undefined };
  const loff = Buffer.alloc(large.length * 8);
  large.forEach((o, k) => {
    loff.writeBigUInt64BE(o, k * 8);
  });
  return { ooff, loff };
}

for (const format of ['sha1', 'sha256'] as const) {
  test(`large offsets (LOFF), ${format}: hand-built .idx, git-identical, checked against our own encoding`, () => {
    const r = newRepo(format);
    const H = hashOf(r).size;
    const blobs = r.writeBlobs(Array.from({ length: 8 }, (_, i) => `large offset blob ${i}\n`.repeat(i + 1)));
    const stem = r.packObjects(blobs, { indexVersion: '2,0x40' });
    const idxPath = path.join(r.packDir, `${stem}.idx`);
    const pristine = fs.readFileSync(idxPath);
    const cases: [string, bigint[], boolean][] = [
      ['offsets past 4 GiB and in 2..4 GiB', [0x100000408n, 0x80000507n, 0x7fffffffn, 0x1234567890n], true],
      ['only 2..4 GiB: no LOFF, words stored as they are', [0x80000507n, 0xfffffff0n], false],
    ];
    for (const [what, values, hasLoff] of cases) {
      fs.chmodSync(idxPath, 0o644);
      fs.writeFileSync(idxPath, pristine);
      const offsets = patchLargeOffsets(idxPath, H, values);
      if (fs.existsSync(r.midxPath)) fs.rmSync(r.midxPath);
      const { bytes } = compareWrite(r);
      const toc = tocOf(bytes);
      assert.equal(toc.has('LOFF'), hasLoff, what);
      const want = expectedOffsetChunks(offsets);
      const [oo, os] = toc.get('OOFF')!;
      assert.ok(bytes.subarray(oo, oo + os).equals(want.ooff), `${what}: OOFF`);
      if (want.loff) {
        const [lo, ls] = toc.get('LOFF')!;
        assert.ok(bytes.subarray(lo, lo + ls).equals(want.loff), `${what}: LOFF`);
      }
      // and read back through our reader
      const m = MultiPackIndex.fromBytes(bytes, { hash: hashOf(r) });
      for (let i = 0; i < m.numObjects; i++)
        assert.equal(BigInt(m.offsetAt(i)), offsets[i], `${what}: offset ${i}`);
    }
  });
}
