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
import { TestRepo } from '../test/helpers/git.js';
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

  // The same blob loose: hash-object reads it whole below a raised core.bigFileThreshold.
  for (const p of fs.readdirSync(r.packDir)) fs.rmSync(path.join(r.packDir, p));
  r.gitText(['-c', 'core.compression=0', '-c', 'core.bigFileThreshold=100g', 'hash-object', '-w', file]);
  fs.rmSync(file);
  assert.ok(fs.existsSync(path.join(r.objectDir, id.slice(0, 2), id.slice(2))), 'the blob is loose');
  await compare('loose');
});
