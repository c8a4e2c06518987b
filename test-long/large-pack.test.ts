/**
 * A real pack past 4 GiB: it writes ~4.3 GB and takes about a minute, so it is skipped (saying
 * why) when the temporary directory's disk has less than 12 GB free.
 * `git fast-import` stores 43 incompressible 100 MB blobs uncompressed (pack.compression=0), then
 * small blobs whose offsets need 64 bits; git's and our MIDX must be byte-identical, with LOFF, and
 * our lookups must give `git show-index`'s offsets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fromHex } from '../src/bytes.js';
import { SHA1 } from '../src/hash.js';
import { openMidx, writeMidxFile } from '../src/node/midx.js';
import { TestRepo } from '../test/helpers/git.js';

const free = (() => {
  const s = fs.statfsSync(os.tmpdir());
  return s.bavail * s.bsize;
})();
const skip = free < 12e9 ? `only ${(free / 1e9).toFixed(1)} GB free in ${os.tmpdir()}` : false;

test('a pack past 4 GiB: LOFF written as git writes it, lookups through 64-bit offsets', {
  timeout: 900_000,
  skip,
}, async () => {
  const r = TestRepo.create({ bare: true });
  try {
    r.git(['config', 'pack.compression', '0']);
    r.git(['config', 'core.compression', '0']);
    // Streamed: the whole input is larger than a Node Buffer may be.
    const fi = spawn('git', ['fast-import', '--quiet', '--done', '--big-file-threshold=1m'], {
      cwd: r.dir,
      env: r.env,
    });
    let stderr = '';
    fi.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number>((resolve) => fi.on('close', (code) => resolve(code ?? 1)));
    const write = (b: Buffer) =>
      new Promise<void>((resolve, reject) => fi.stdin.write(b, (e) => (e ? reject(e) : resolve())));
    const big = 100 * 1024 * 1024;
    for (let i = 0; i < 43; i++) {
      await write(Buffer.from(`blob\ndata ${big}\n`));
      await write(randomBytes(big));
      await write(Buffer.from('\n'));
    }
    for (let i = 0; i < 5; i++) {
      const d = `small blob past 4 GiB ${i}\n`;
      await write(Buffer.from(`blob\ndata ${d.length}\n${d}\n`));
    }
    fi.stdin.end('done\n');
    assert.equal(await exited, 0, stderr);
    const packs = fs.readdirSync(r.packDir).filter((n) => n.endsWith('.pack'));
    assert.equal(packs.length, 1);
    assert.ok(fs.statSync(path.join(r.packDir, packs[0])).size > 2 ** 32 + 2 ** 20);

    r.git(['multi-pack-index', 'write']);
    const gitBytes = r.readMidx()!;
    fs.rmSync(r.midxPath);
    writeMidxFile({ objectDir: r.objectDir, hash: SHA1 });
    assert.ok(r.readMidx()!.equals(gitBytes), 'byte-identical with git');
    assert.equal(r.git(['multi-pack-index', 'verify'], { allowFail: true }).status, 0);

    const idx = fs.readFileSync(path.join(r.packDir, packs[0].replace(/\.pack$/, '.idx')));
    const shown = r.git(['show-index'], { input: idx }).stdout.toString().trim().split('\n');
    const m = openMidx(r.objectDir, { hash: SHA1 })!;
    try {
      assert.ok(m.hasLargeOffsets, 'LOFF chunk present');
      let past4g = 0;
      for (const line of shown) {
        const [off, oid] = line.split(' ');
        const hit = m.lookup(fromHex(oid)!);
        assert.ok(hit);
        assert.equal(hit.offset, Number(off));
        if (hit.offset > 0xffffffff) past4g++;
      }
      assert.ok(past4g >= 5, `objects past 4 GiB: ${past4g}`);
    } finally {
      m.close();
    }
  } finally {
    r.cleanup();
  }
});
