/**
 * A blob above 2 GiB (2.2 GB), packed (git's bulk check-in, `pack.compression=0`) and loose
 * (`core.compression=0`): `cat-file --batch` and `cat-file -p` print it byte for byte as git does —
 * compared by hashing both outputs as they stream, never held in memory — with our peak RSS far
 * below its size (`/usr/bin/time`).
 *
 * Not part of `npm test` (run with `npm run test:long`; needs `dist/`, i.e. `npm run build`).
 * Skipped when the temporary directory has less than 12 GB free.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { fromHex, toHex } from '../src/bytes.js';
import { isGitMidxError } from '../src/errors.js';
import { SHA1 } from '../src/hash.js';
import { nodeHash } from '../src/node/hash.js';
import { ObjectStore } from '../src/node/odb.js';
import { TestRepo } from '../test/helpers/git.js';
import { entryHeader, leb } from '../test/helpers/pack-bytes.js';
import { prng } from '../test/helpers/prng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');
const TIME = '/usr/bin/time';

const MiB = 1024 * 1024;
/** 2.2 GB: past 2 GiB (Node's write limit) and past 2^31 (signed 32-bit sizes). */
const SIZE = 2100 * MiB + 12345;
const NEEDED = 12e9;
/** Peak RSS we allow ourselves for printing it (the blob is 2.2 GB). */
const MAX_RSS_KIB = 256 * 1024;

function freeBytes(dir: string): number {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

const free = freeBytes(os.tmpdir());
const skip = free < NEEDED ? `needs 12 GB free in ${os.tmpdir()}, has ${(free / 1e9).toFixed(1)} GB` : false;

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

/** Writes the blob's bytes: 1 MiB of noise, each MiB stamped with its number (order shows). */
function writeBlobFile(file: string): void {
  const next = prng(2200);
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) chunk.writeUInt32LE(Math.floor(next() * 2 ** 32), i);
  const fd = fs.openSync(file, 'w');
  try {
    for (let at = 0, n = 0; at < SIZE; at += MiB, n++) {
      chunk.writeUInt32BE(n, 0);
      fs.writeSync(fd, chunk, 0, Math.min(MiB, SIZE - at));
    }
  } finally {
    fs.closeSync(fd);
  }
}

interface Streamed {
  status: number | null;
  stderr: string;
  sha: string;
  bytes: number;
  maxRssKiB: number | undefined;
}

/** Runs a command, hashing its stdout as it comes; under /usr/bin/time when `rssFile` is given. */
function hashRun(
  r: TestRepo,
  cmd: string,
  args: string[],
  input: string,
  rssFile?: string,
): Promise<Streamed> {
  const [c, a] = rssFile !== undefined ? [TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { cwd: r.dir, env: r.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const h = createHash('sha256');
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      h.update(b);
      bytes += b.length;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', reject);
    child.on('close', (status) => {
      let maxRssKiB: number | undefined;
      if (rssFile !== undefined) {
        const v = Number.parseInt(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()!, 10);
        if (Number.isFinite(v)) maxRssKiB = v;
      }
      resolve({ status, stderr, sha: h.digest('hex'), bytes, maxRssKiB });
    });
    child.stdin.end(input);
  });
}

/**
 * A pack (and its idx v2) of 64 KiB of zeros and an OFS_DELTA on it that copies them `copies`
 * times: an honest object of `copies` × 64 KiB zeros, built only by resolving the delta. Returns
 * the delta's id.
 */
function writeZeroDeltaPack(r: TestRepo, copies: number): string {
  const zeros = Buffer.alloc(0x10000);
  const size = copies * 0x10000;
  const idOf = (n: number, chunk: Buffer, times: number) => {
    const h = nodeHash(SHA1);
    h.update(Buffer.from(`blob ${n}\0`));
    for (let i = 0; i < times; i++) h.update(chunk);
    return Buffer.from(h.digest());
  };
  const baseId = idOf(0x10000, zeros, 1);
  const id = idOf(size, zeros, copies);
  const delta = Buffer.concat([Buffer.from([...leb(0x10000), ...leb(size)]), Buffer.alloc(copies, 0x80)]);
  const head = Buffer.from([0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2, 0, 0, 0, 2]);
  const base = Buffer.concat([Buffer.from(entryHeader(3, zeros.length)), zlib.deflateSync(zeros)]);
  const baseAt = 12;
  const deltaAt = 12 + base.length;
  const dist = deltaAt - baseAt;
  const ofs = [dist & 0x7f];
  for (let d = Math.floor(dist / 128); d > 0; ) {
    d -= 1;
    ofs.unshift(0x80 | (d & 0x7f));
    d = Math.floor(d / 128);
  }
  const entry = Buffer.concat([
    Buffer.from([...entryHeader(6, delta.length), ...ofs]),
    zlib.deflateSync(delta),
  ]);
  const body = Buffer.concat([head, base, entry]);
  const ph = nodeHash(SHA1);
  ph.update(body);
  const trailer = Buffer.from(ph.digest());
  const objects = [
    { oid: baseId, offset: baseAt, crc: zlib.crc32(base) },
    { oid: id, offset: deltaAt, crc: zlib.crc32(entry) },
  ].sort((a, b) => Buffer.compare(a.oid, b.oid));
  const idx = Buffer.alloc(1032 + 2 * 28 + 40);
  idx.writeUInt32BE(0xff744f63, 0);
  idx.writeUInt32BE(2, 4);
  for (let b = 0; b < 256; b++) idx.writeUInt32BE(objects.filter((o) => o.oid[0] <= b).length, 8 + 4 * b);
  objects.forEach((o, i) => {
    o.oid.copy(idx, 1032 + i * 20);
    idx.writeUInt32BE(o.crc >>> 0, 1072 + 4 * i);
    idx.writeUInt32BE(o.offset, 1080 + 4 * i);
  });
  trailer.copy(idx, 1088);
  const ih = nodeHash(SHA1);
  ih.update(idx.subarray(0, 1108));
  idx.set(ih.digest(), 1108);
  const stem = path.join(r.packDir, `pack-${toHex(trailer)}`);
  fs.writeFileSync(`${stem}.idx`, idx);
  fs.writeFileSync(`${stem}.pack`, Buffer.concat([body, trailer]));
  return toHex(id);
}

test('a 2.2 GB blob prints as git prints it, packed and loose', { skip }, async () => {
  const r = TestRepo.create();
  repos.push(r);
  const file = path.join(r.scratchDir(), 'blob');
  writeBlobFile(file);
  // Above core.bigFileThreshold, hash-object streams the file into a pack of its own.
  const id = r.gitText(['-c', 'pack.compression=0', 'hash-object', '-w', file]);
  const packs = fs.readdirSync(r.packDir).filter((n) => n.endsWith('.pack'));
  assert.equal(packs.length, 1, 'git wrote the blob into a pack');
  const rss = path.join(r.scratchDir(), 'rss');
  const time = fs.existsSync(TIME) ? rss : undefined;

  const compare = async (what: string) => {
    for (const [args, input] of [
      [['cat-file', '-p', id], ''],
      [['cat-file', 'blob', id], ''],
      [['cat-file', '--batch'], `${id}\n`],
    ] as const) {
      const theirs = await hashRun(r, 'git', [...args], input);
      assert.equal(theirs.status, 0, theirs.stderr);
      const ours = await hashRun(r, bin, [...args], input, time);
      assert.equal(ours.status, 0, `${what} ${args.join(' ')}: ${ours.stderr}`);
      assert.equal(ours.stderr, '');
      assert.equal(ours.bytes, theirs.bytes, `${what} ${args.join(' ')}: length`);
      assert.equal(ours.sha, theirs.sha, `${what} ${args.join(' ')}: bytes`);
      if (ours.maxRssKiB !== undefined) {
        assert.ok(ours.maxRssKiB < MAX_RSS_KIB, `${what} ${args.join(' ')}: peak RSS ${ours.maxRssKiB} KiB`);
      }
    }
    // The size comes from the header.
    const s = spawnSync(bin, ['cat-file', '-s', id], { cwd: r.dir, env: r.env, encoding: 'utf8' });
    assert.equal(s.stdout, `${SIZE}\n`, s.stderr);
  };
  await compare('packed');

  // The library builds it in memory only under a limit raised above its size (1× its size).
  const store = ObjectStore.open({ objectDir: r.objectDir, hash: SHA1 });
  try {
    assert.throws(
      () => store.readObject(fromHex(id)!),
      (e: unknown) => isGitMidxError(e, 'OBJECT_TOO_LARGE') && e.message.includes(`is ${SIZE} bytes`),
    );
  } finally {
    store.close();
  }
  const raised = ObjectStore.open({
    objectDir: r.objectDir,
    hash: SHA1,
    maxObjectSize: 4 * 1024 * MiB,
    verifyHashes: true,
  });
  try {
    assert.equal(raised.readObject(fromHex(id)!)?.size, SIZE);
  } finally {
    raised.close();
  }

  // The same blob loose: hash-object reads it whole below a raised core.bigFileThreshold.
  for (const p of fs.readdirSync(r.packDir)) fs.rmSync(path.join(r.packDir, p));
  r.gitText(['-c', 'core.compression=0', '-c', 'core.bigFileThreshold=100g', 'hash-object', '-w', file]);
  fs.rmSync(file);
  assert.ok(fs.existsSync(path.join(r.objectDir, id.slice(0, 2), id.slice(2))), 'the blob is loose');
  await compare('loose');
});

test('a 2.2 GB delta result within a raised limit prints as git prints it', { skip }, async () => {
  const r = TestRepo.create();
  repos.push(r);
  const copies = Math.ceil(SIZE / 0x10000);
  const id = writeZeroDeltaPack(r, copies);
  const rss = path.join(r.scratchDir(), 'rss');
  const time = fs.existsSync(TIME) ? rss : undefined;
  for (const [args, input] of [
    [['cat-file', '-p', id], ''],
    [['cat-file', '--batch'], `${id}\n`],
  ] as const) {
    const theirs = await hashRun(r, 'git', [...args], input);
    assert.equal(theirs.status, 0, theirs.stderr);
    assert.equal(theirs.bytes >= copies * 0x10000, true);
    const refused = await hashRun(r, bin, [...args], input);
    assert.equal(refused.status, 128);
    assert.match(refused.stderr, /^fatal: object [0-9a-f]+ .*more than the limit of 1073741824 bytes/);
    const ours = await hashRun(r, bin, ['cat-file', '--max-object-size=3g', ...args.slice(1)], input, time);
    assert.equal(ours.status, 0, ours.stderr);
    assert.equal(ours.bytes, theirs.bytes);
    assert.equal(ours.sha, theirs.sha);
    // Built once in memory: about its size, not twice.
    if (ours.maxRssKiB !== undefined)
      assert.ok(ours.maxRssKiB < 1.5 * (copies * 64), `${ours.maxRssKiB} KiB`);
  }
});
