/**
 * Names read from a MIDX are data, not paths: a PNAM entry that leaves `objects/pack` makes the
 * file corrupt for every verb, and every delete and rename goes through node/packdir.ts. `expire`
 * deletes a pack only when the new MIDX answers each of its objects from a pack that stays.
 * A "victim" directory next to the repository holds files named like packs; nothing may touch it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isGitMidxError } from '../src/errors.js';
import { SHA1, SHA256 } from '../src/hash.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import { packNameProblem } from '../src/names.js';
import { expireMidx } from '../src/node/expire.js';
import { LockFile } from '../src/node/lockfile.js';
import { ObjectStore } from '../src/node/odb.js';
import { publishFile, TempFile } from '../src/node/pack-write.js';
import { linkInPackDir, packDirPath, removeInPackDir, renameInPackDir } from '../src/node/packdir.js';
import { TestRepo } from './helpers/git.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'git-midx');
const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

type Format = 'sha1' | 'sha256';

// ---------------------------------------------------------------------------------------------
// Crafting MIDX bytes: parse into chunks, change them, write back with a fresh table of contents
// and trailer (spec/midx-format.md §2–§4).

interface MidxParts {
  version: number;
  hashId: number;
  numPacks: number;
  /** Chunks in file order. */
  chunks: { id: string; data: Buffer }[];
}

function parseMidx(bytes: Buffer, H: number): MidxParts {
  const numChunks = bytes[6];
  const rows: { id: string; offset: number }[] = [];
  for (let i = 0; i <= numChunks; i++) {
    const r = 12 + i * 12;
    rows.push({ id: bytes.toString('latin1', r, r + 4), offset: Number(bytes.readBigUInt64BE(r + 4)) });
  }
  const chunks = [];
  for (let i = 0; i < numChunks; i++) {
    chunks.push({ id: rows[i].id, data: Buffer.from(bytes.subarray(rows[i].offset, rows[i + 1].offset)) });
  }
  assert.equal(rows[numChunks].offset, bytes.length - H);
  return { version: bytes[4], hashId: bytes[5], numPacks: bytes.readUInt32BE(8), chunks };
}

function buildMidx(p: MidxParts, format: Format): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt32BE(0x4d494458, 0);
  header[4] = p.version;
  header[5] = p.hashId;
  header[6] = p.chunks.length;
  header.writeUInt32BE(p.numPacks, 8);
  const toc = Buffer.alloc((p.chunks.length + 1) * 12);
  let offset = 12 + toc.length;
  p.chunks.forEach((c, i) => {
    toc.write(c.id, i * 12, 'latin1');
    toc.writeBigUInt64BE(BigInt(offset), i * 12 + 4);
    offset += c.data.length;
  });
  toc.writeBigUInt64BE(BigInt(offset), p.chunks.length * 12 + 4);
  const body = Buffer.concat([header, toc, ...p.chunks.map((c) => c.data)]);
  const sum = createHash(format === 'sha1' ? 'sha1' : 'sha256')
    .update(body)
    .digest();
  return Buffer.concat([body, sum]);
}

function chunk(p: MidxParts, id: string): Buffer {
  const c = p.chunks.find((x) => x.id === id);
  assert.ok(c, `chunk ${id}`);
  return c.data;
}

function setChunk(p: MidxParts, id: string, data: Buffer): void {
  p.chunks.find((x) => x.id === id)!.data = data;
}

function packNames(p: MidxParts): string[] {
  return chunk(p, 'PNAM').toString('latin1').split('\0').slice(0, p.numPacks);
}

/**
 * Gives pack-int-id i the name names[i], then sorts PNAM in strcmp order (Git's rule for version
 * 1) and renumbers the OOFF pack ids to match; PNAM is padded with NULs to a multiple of 4.
 */
function setPackNames(p: MidxParts, names: string[]): void {
  const order = names
    .map((_, i) => i)
    .sort((a, b) => Buffer.compare(Buffer.from(names[a]), Buffer.from(names[b])));
  const newId = new Uint32Array(names.length);
  order.forEach((old, i) => {
    newId[old] = i;
  });
  let pnam = Buffer.concat(
    order.map((i) => Buffer.concat([Buffer.from(names[i], 'latin1'), Buffer.alloc(1)])),
  );
  pnam = Buffer.concat([pnam, Buffer.alloc((4 - (pnam.length % 4)) % 4)]);
  setChunk(p, 'PNAM', pnam);
  const ooff = chunk(p, 'OOFF');
  for (let o = 0; o < ooff.length; o += 8) ooff.writeUInt32BE(newId[ooff.readUInt32BE(o)], o);
  p.numPacks = names.length;
}

/** Removes every object of pack-int-id `packId` from OIDF, OIDL and OOFF: a MIDX that lies. */
function omitPackObjects(p: MidxParts, packId: number, H: number): void {
  const oidl = chunk(p, 'OIDL');
  const ooff = chunk(p, 'OOFF');
  const n = oidl.length / H;
  const keepIds: Buffer[] = [];
  const keepOff: Buffer[] = [];
  const fanout = Buffer.alloc(1024);
  const counts = new Uint32Array(256);
  for (let i = 0; i < n; i++) {
    if (ooff.readUInt32BE(i * 8) === packId) continue;
    keepIds.push(oidl.subarray(i * H, (i + 1) * H));
    keepOff.push(ooff.subarray(i * 8, i * 8 + 8));
    counts[oidl[i * H]]++;
  }
  assert.ok(keepIds.length < n, 'the pack had objects in the MIDX');
  let total = 0;
  for (let b = 0; b < 256; b++) {
    total += counts[b];
    fanout.writeUInt32BE(total, b * 4);
  }
  setChunk(p, 'OIDF', fanout);
  setChunk(p, 'OIDL', Buffer.concat(keepIds));
  setChunk(p, 'OOFF', Buffer.concat(keepOff));
  p.chunks = p.chunks.filter((c) => c.id !== 'RIDX' && c.id !== 'BTMP');
}

// ---------------------------------------------------------------------------------------------
// Repositories

function newRepo(format: Format): TestRepo {
  const r = TestRepo.create({ objectFormat: format });
  repos.push(r);
  return r;
}

function hashOf(format: Format) {
  return format === 'sha1' ? SHA1 : SHA256;
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function cli(r: TestRepo, args: string[], input = ''): Run {
  const res = spawnSync(bin, args, { cwd: r.dir, env: r.env, input, encoding: 'utf8' });
  return { status: res.status ?? 129, stdout: res.stdout, stderr: res.stderr };
}

function assertNoStack(run: Run): void {
  assert.doesNotMatch(run.stderr, /\n\s+at |Error:|node:internal/, `no stack trace: ${run.stderr}`);
}

/** Every file under `dir`: its bytes and mtime, to prove that nothing there changed. */
function snapshot(dir: string): Map<string, { bytes: Buffer; mtimeMs: number }> {
  const out = new Map<string, { bytes: Buffer; mtimeMs: number }>();
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = fs.statSync(p);
    if (st.isFile()) out.set(name, { bytes: fs.readFileSync(p), mtimeMs: st.mtimeMs });
  }
  return out;
}

function batchAll(r: TestRepo): string {
  return r.gitText(['cat-file', '--batch-all-objects', '--batch-check']);
}

/**
 * Packs A{x} (old), B{x, y} (newer: x comes from B, so A is unreferenced), C{z}; git writes the
 * MIDX. A's files are then moved to a sibling "victim" directory as `x.*` (plus `x.rev`,
 * `x.bitmap`), real data outside the repository.
 */
function victimSetup(format: Format) {
  const r = newRepo(format);
  const [x, y, z] = r.writeBlobs(['confine x\n', 'confine y\n', 'confine z\n']);
  const a = r.packObjects([x], { mtime: 946684800 });
  r.packObjects([x, y], { mtime: 1262304000 });
  r.packObjects([z], { mtime: 1262304000 });
  r.git(['multi-pack-index', 'write']);
  const victim = path.join(path.dirname(r.dir), 'victim');
  fs.mkdirSync(victim);
  for (const ext of ['.idx', '.pack'])
    fs.renameSync(path.join(r.packDir, a + ext), path.join(victim, `x${ext}`));
  for (const ext of ['.rev', '.bitmap']) fs.writeFileSync(path.join(victim, `x${ext}`), `victim ${ext}\n`);
  // Let a later write show up in mtimes even on a coarse clock.
  const old = new Date('2001-01-01T00:00:00Z');
  for (const name of fs.readdirSync(victim)) fs.utimesSync(path.join(victim, name), old, old);
  return { r, a: `${a}.idx`, victim, oids: [x, y, z] };
}

/** Rewrites the MIDX so that pack `from` is named `to` (valid checksum, sorted, padded). */
function renamePack(r: TestRepo, format: Format, from: string, to: string): Buffer {
  const H = hashOf(format).size;
  const p = parseMidx(r.readMidx()!, H);
  const names = packNames(p);
  const i = names.indexOf(from);
  assert.ok(i >= 0, `${from} in ${names.join(' ')}`);
  names[i] = to;
  setPackNames(p, names);
  const bytes = buildMidx(p, format);
  fs.writeFileSync(r.midxPath, bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------

for (const format of ['sha1', 'sha256'] as const) {
  describe(`pack names that leave objects/pack, ${format}`, () => {
    const cases = [
      { what: 'a relative path', name: (_victim: string) => '../../../../victim/x.idx' },
      { what: 'an absolute path', name: (victim: string) => `${victim}/x.idx` },
    ];
    for (const c of cases) {
      test(`${c.what}: the MIDX is corrupt for every verb, the victim is untouched`, () => {
        const { r, a, victim, oids } = victimSetup(format);
        const bad = c.name(victim);
        // The path really reaches the victim's files from the pack directory.
        assert.ok(fs.existsSync(path.resolve(r.packDir, bad)));
        const midx = renamePack(r, format, a, bad);
        const before = snapshot(victim);
        const packs = snapshot(r.packDir);

        // The reader: a typed error naming the file and the name.
        assert.throws(
          () => MultiPackIndex.fromBytes(midx, { hash: hashOf(format), file: 'the-midx' }),
          (e) => {
            assert.ok(isGitMidxError(e, 'MIDX_BAD_PACK_NAME'), String(e));
            assert.match(e.message, /the-midx/);
            assert.ok(e.message.includes(`"${bad}"`), e.message);
            return true;
          },
        );

        // verify reports it, as for other PNAM damage (Git dies on those: exit 128).
        const v = cli(r, ['verify']);
        assert.equal(v.status, 128, v.stderr);
        assert.match(v.stderr, /^fatal: multi-pack-index file .*multi-pack-index has a bad pack name/);
        assert.ok(v.stderr.includes(bad), v.stderr);
        assertNoStack(v);

        // write, expire, repack: fatal, nothing written or deleted.
        for (const verb of [['write'], ['expire'], ['repack'], ['repack', '--batch-size=1']]) {
          const run = cli(r, verb);
          assert.equal(run.status, 128, `${verb.join(' ')}: ${run.stderr}`);
          assert.match(run.stderr, /^fatal: .*bad pack name/, run.stderr);
          assertNoStack(run);
          assert.deepEqual(snapshot(victim), before, `${verb.join(' ')} left the victim alone`);
          assert.deepEqual(snapshot(r.packDir), packs, `${verb.join(' ')} changed nothing in objects/pack`);
        }
        const dry = cli(r, ['expire', '--dry-run']);
        assert.equal(dry.status, 128, dry.stderr);

        // Readers warn and answer from the packs.
        const cat = cli(r, ['cat-file', '--batch-check'], `${oids.join('\n')}\n`);
        assert.equal(cat.status, 0, cat.stderr);
        assert.match(cat.stderr, /^warning: .*bad pack name.*; ignoring multi-pack-index /);
        // x's copy in the victim directory is never read: x is answered by B, y and z by theirs.
        assert.deepEqual(
          cat.stdout.trim().split('\n'),
          oids.map((o) => `${o} blob 10`),
        );
        const warnings: string[] = [];
        const store = ObjectStore.open({
          objectDir: r.objectDir,
          hash: hashOf(format),
          onDiagnostic: (d) => warnings.push(d.message),
        });
        try {
          for (const o of oids) assert.ok(store.readObject(Buffer.from(o, 'hex')), o);
          assert.equal(store.counters.midxRejected, 1);
          assert.equal(store.counters.midxLoads, 0);
        } finally {
          store.close();
        }
        assert.equal(warnings.length, 1, warnings.join('\n'));
        assert.ok(warnings[0].includes(bad), warnings[0]);
        assert.deepEqual(snapshot(victim), before);
      });
    }
  });

  for (const paged of [false, true])
    test(`a MIDX that omits one pack's objects: expire keeps that pack, ${format}${paged ? ', MIDX paged' : ''}`, () => {
      const r = newRepo(format);
      const hash = hashOf(format);
      const [x, y, z] = r.writeBlobs(['lie x\n', 'lie y\n', 'lie z\n']);
      r.packObjects([x], { mtime: 1262304000 });
      const b = r.packObjects([y], { mtime: 1262304000 });
      r.packObjects([z], { mtime: 1262304000 });
      for (const o of [x, y, z]) fs.rmSync(path.join(r.objectDir, o.slice(0, 2), o.slice(2)));
      r.git(['multi-pack-index', 'write']);
      const before = batchAll(r);
      assert.equal(before.split('\n').length, 3);

      // The lie: B's objects are gone from the MIDX, B is still listed; the checksum is right.
      const p = parseMidx(r.readMidx()!, hash.size);
      omitPackObjects(p, packNames(p).indexOf(`${b}.idx`), hash.size);
      fs.writeFileSync(r.midxPath, buildMidx(p, format));

      const diags: string[] = [];
      const res = expireMidx({
        objectDir: r.objectDir,
        hash,
        onDiagnostic: (d) => diags.push(`${d.level}: ${d.message}`),
        // 0: the check looks ids up through page caches instead of merging with whole files.
        checkHoldBytes: paged ? 0 : undefined,
      });
      assert.deepEqual(
        res.drop.map((d) => d.name),
        [`${b}.idx`],
        'B looks unreferenced',
      );
      assert.deepEqual(res.deleted, []);
      assert.deepEqual(
        res.spared.map((s) => s.name),
        [`${b}.idx`],
      );
      assert.ok(fs.existsSync(path.join(r.packDir, `${b}.pack`)));
      assert.ok(fs.existsSync(path.join(r.packDir, `${b}.idx`)));
      assert.equal(diags.length, 1, diags.join('\n'));
      assert.match(diags[0], new RegExp(`^warning: not expiring packfile '.*${b}\\.pack': object ${y} `));
      // Every object is still there for git, and for us.
      assert.equal(batchAll(r), before);
      const cat = cli(r, ['cat-file', '--batch-check'], `${[x, y, z].join('\n')}\n`);
      assert.equal(cat.status, 0, cat.stderr);
      assert.doesNotMatch(cat.stdout, /missing/);
      assert.equal(r.git(['multi-pack-index', 'verify'], { allowFail: true }).status, 0);
    });
}

test("a MIDX that places a pack's objects in another pack: expire checks that pack's own index", () => {
  const r = newRepo('sha1');
  const [x, y, z] = r.writeBlobs(['moved x\n', 'moved y\n', 'moved z\n']);
  const a = r.packObjects([x], { mtime: 1262304000 });
  const b = r.packObjects([y], { mtime: 1262304000 });
  r.packObjects([z], { mtime: 1262304000 });
  for (const o of [x, y, z]) fs.rmSync(path.join(r.objectDir, o.slice(0, 2), o.slice(2)));
  r.git(['multi-pack-index', 'write']);
  // The lie: y's entry is x's (pack A, x's offset), so B looks unreferenced; A does not hold y.
  const p = parseMidx(r.readMidx()!, 20);
  const oidl = chunk(p, 'OIDL');
  const ooff = chunk(p, 'OOFF');
  const at = (oid: string) => oidl.indexOf(Buffer.from(oid, 'hex')) / 20;
  ooff.copy(ooff, at(y) * 8, at(x) * 8, at(x) * 8 + 8);
  assert.equal(packNames(p)[ooff.readUInt32BE(at(y) * 8)], `${a}.idx`);
  const lie = buildMidx(p, 'sha1');
  // Held in memory and paged: both ways of checking find the lie.
  for (const checkHoldBytes of [undefined, 0]) {
    fs.writeFileSync(r.midxPath, lie);
    const diags: string[] = [];
    const res = expireMidx({
      objectDir: r.objectDir,
      checkHoldBytes,
      onDiagnostic: (d) => diags.push(d.message),
    });
    assert.deepEqual(
      res.drop.map((d) => d.name),
      [`${b}.idx`],
    );
    assert.deepEqual(res.deleted, []);
    assert.equal(res.spared.length, 1);
    assert.match(
      diags.join('\n'),
      new RegExp(`object ${y} is not in packfile ${a}\\.idx, where the multi-pack-index places it`),
    );
  }
  assert.ok(fs.existsSync(path.join(r.packDir, `${b}.pack`)));
  // y is still there: our store sees through the lie and reads it from B.
  const cat = cli(r, ['cat-file', '-p', y]);
  assert.equal(cat.status, 0, cat.stderr);
  assert.equal(cat.stdout, 'moved y\n');
});

test('expire through the CLI: a lying MIDX costs no data and says so', () => {
  const r = newRepo('sha1');
  const [x, y] = r.writeBlobs(['cli lie x\n', 'cli lie y\n']);
  const a = r.packObjects([x], { mtime: 1262304000 });
  const b = r.packObjects([x, y], { mtime: 946684800 });
  for (const o of [x, y]) fs.rmSync(path.join(r.objectDir, o.slice(0, 2), o.slice(2)));
  r.git(['multi-pack-index', 'write']);
  const before = batchAll(r);
  // Only y is B's in the MIDX (x comes from the newer A); omitting y makes B look unreferenced.
  const p = parseMidx(r.readMidx()!, 20);
  omitPackObjects(p, packNames(p).indexOf(`${b}.idx`), 20);
  fs.writeFileSync(r.midxPath, buildMidx(p, 'sha1'));
  // --dry-run says what the real run will do: B stays, with the reason.
  const dry = cli(r, ['expire', '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^would keep ${b}\\.idx: object ${y} is not in`, 'm'));
  assert.match(dry.stdout, /^0 pack\(s\) to drop, 0 bytes to free$/m);
  const run = cli(r, ['expire']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(
    run.stderr,
    new RegExp(`^warning: not expiring packfile '.*${b}\\.pack': object ${y} is not in`),
  );
  assert.equal(batchAll(r), before);
  assert.ok(fs.existsSync(path.join(r.packDir, `${a}.pack`)));
  assert.ok(fs.existsSync(path.join(r.packDir, `${b}.pack`)));
});

test('expire still deletes a pack whose every object has another copy', () => {
  const r = newRepo('sha1');
  const [x, y, z] = r.writeBlobs(['dup x\n', 'dup y\n', 'dup z\n']);
  const a = r.packObjects([x, y], { mtime: 946684800 });
  r.packObjects([x, y, z], { mtime: 1262304000 });
  r.git(['multi-pack-index', 'write']);
  const before = batchAll(r);
  const res = expireMidx({ objectDir: r.objectDir });
  assert.deepEqual(res.spared, []);
  assert.deepEqual([...res.deleted].sort(), [`${a}.idx`, `${a}.pack`]);
  assert.equal(batchAll(r), before);
});

test('a pack named "..idx" is a plain name: expire never reaches objects/pack.*', () => {
  const r = newRepo('sha1');
  const [x] = r.writeBlobs(['dotdot x\n']);
  const [y] = r.writeBlobs(['dotdot y\n']);
  const a = r.packObjects([x], { mtime: 946684800 });
  r.packObjects([x, y], { mtime: 1262304000 });
  for (const ext of ['.idx', '.pack'])
    fs.renameSync(path.join(r.packDir, a + ext), path.join(r.packDir, `.${ext}`));
  r.git(['multi-pack-index', 'write']);
  assert.ok(r.readMidx()!.includes(Buffer.from('..idx\0')), 'git indexed it');
  // Files that joining the stem "." alone would name: objects/pack.idx, objects/pack.pack, …
  for (const ext of ['.idx', '.pack', '.rev'])
    fs.writeFileSync(path.join(r.objectDir, `pack${ext}`), 'victim');
  const run = cli(r, ['expire']);
  assert.equal(run.status, 0, run.stderr);
  for (const ext of ['.idx', '.pack', '.rev']) {
    assert.equal(fs.readFileSync(path.join(r.objectDir, `pack${ext}`), 'utf8'), 'victim');
  }
  assert.ok(!fs.existsSync(path.join(r.packDir, '..pack')), 'the unreferenced pack itself went');
});

test('write does not index a pack whose name the reader would refuse', () => {
  const r = newRepo('sha1');
  const [x, y] = r.writeBlobs(['bs x\n', 'bs y\n']);
  r.packObjects([x]);
  const b = r.packObjects([y]);
  for (const ext of ['.idx', '.pack'])
    fs.renameSync(path.join(r.packDir, b + ext), path.join(r.packDir, `a\\b${ext}`));
  const run = cli(r, ['write']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /warning: ignoring pack "a\\\\b\.idx": its name contains '\\'/);
  const v = cli(r, ['verify']);
  assert.equal(v.status, 0, v.stderr);
});

describe('packdir: only plain names directly inside objects/pack', () => {
  const bad = ['../x', '/abs', 'a/b', 'a\\b', 'a\0b', '.', '..', ''];

  test('every operation refuses a name that is not plain, touching nothing', () => {
    const r = newRepo('sha1');
    const outside = path.join(r.objectDir, 'x');
    fs.writeFileSync(outside, 'outside');
    fs.writeFileSync(path.join(r.packDir, 'ok'), 'ok');
    for (const name of [...bad, `${outside}`]) {
      const isBad = (e: unknown) => isGitMidxError(e, 'PACK_DIR_BAD_NAME');
      assert.throws(() => packDirPath(r.packDir, name), isBad, JSON.stringify(name));
      assert.throws(() => removeInPackDir(r.packDir, name), isBad, JSON.stringify(name));
      assert.throws(() => renameInPackDir(r.packDir, 'ok', name), isBad, JSON.stringify(name));
      assert.throws(() => renameInPackDir(r.packDir, name, 'ok2'), isBad, JSON.stringify(name));
      assert.throws(() => linkInPackDir(r.packDir, 'ok', name), isBad, JSON.stringify(name));
    }
    assert.equal(fs.readFileSync(outside, 'utf8'), 'outside');
    assert.equal(fs.readFileSync(path.join(r.packDir, 'ok'), 'utf8'), 'ok');
    // A directory that is not a pack directory is refused too.
    assert.throws(
      () => removeInPackDir(r.objectDir, 'x'),
      (e) => isGitMidxError(e, 'PACK_DIR_BAD_NAME'),
    );
    assert.ok(fs.existsSync(outside));
    // Plain names work.
    assert.equal(removeInPackDir(r.packDir, 'ok'), true);
    assert.equal(removeInPackDir(r.packDir, 'ok'), false);
  });

  test('temporary files, publication and the MIDX lock stay in the pack directory', () => {
    const r = newRepo('sha1');
    assert.throws(
      () => TempFile.create(r.objectDir, 'tmp_pack_'),
      (e) => isGitMidxError(e, 'PACK_DIR_BAD_NAME'),
    );
    const tmp = TempFile.create(r.packDir, 'tmp_pack_');
    tmp.write(new Uint8Array([1, 2, 3]));
    tmp.commit();
    for (const target of [
      path.join(r.objectDir, 'escaped.pack'),
      path.join(r.packDir, '..', 'escaped.pack'),
    ]) {
      assert.throws(
        () => publishFile(tmp, target),
        (e) => isGitMidxError(e, 'PACK_DIR_BAD_NAME'),
      );
    }
    assert.ok(!fs.existsSync(path.join(r.objectDir, 'escaped.pack')));
    assert.equal(publishFile(tmp, path.join(r.packDir, 'fine.pack')), true);
    assert.ok(!fs.existsSync(tmp.path));
    assert.throws(
      () => LockFile.acquire(path.join(r.objectDir, 'multi-pack-index'), { packDir: r.packDir }),
      (e) => isGitMidxError(e, 'PACK_DIR_BAD_NAME'),
    );
    assert.ok(!fs.existsSync(path.join(r.objectDir, 'multi-pack-index.lock')));
    const lock = LockFile.acquire(path.join(r.packDir, 'multi-pack-index'), { packDir: r.packDir });
    lock.rollback();
    assert.ok(!fs.existsSync(path.join(r.packDir, 'multi-pack-index.lock')));
  });

  test('PNAM names: what the reader accepts', () => {
    const ok = ['pack-1234.idx', 'x.idx', '..idx', '.idx', 'a b.idx', 'caf\u00e9.idx'];
    const refused = ['../x.idx', '/abs.idx', 'a/b.idx', 'a\\b.idx', '', 'x.pack', 'x.idx.tmp', '.', '..'];
    for (const n of ok) assert.equal(packNameProblem(Buffer.from(n)), undefined, n);
    for (const n of refused) assert.notEqual(packNameProblem(Buffer.from(n)), undefined, n);
  });
});
