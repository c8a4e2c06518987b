// The list of files to remove on an interruption (src/node/cleanup.ts): a file is claimed before
// its exclusive create and confirmed after it, in a section the main thread waits out before it
// stops the worker; of what a stopped worker left listed, only confirmed files are removed.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import {
  claimCleanup,
  createListed,
  ownLeftovers,
  pendingCleanup,
  readSharedCleanup,
  registerCleanup,
  setCleanupMirror,
  sharedCleanupBuffer,
  sharedCleanupMirror,
  stopCreates,
  unregisterCleanup,
} from '../src/node/cleanup.js';
import { LockFile } from '../src/node/lockfile.js';
import { TempFile } from '../src/node/pack-write.js';
import { makeTempDir, removeDir } from './helpers/git.js';

const dir = makeTempDir();
after(() => removeDir(dir));

test('claimed, then confirmed or forgotten, through the shared list', () => {
  const buf = sharedCleanupBuffer();
  setCleanupMirror(sharedCleanupMirror(buf));
  try {
    const a = path.join(dir, 'a');
    claimCleanup(a);
    assert.deepEqual(readSharedCleanup(buf), [{ file: a, claimed: true }]);
    assert.deepEqual(pendingCleanup(), []);
    registerCleanup(a);
    assert.deepEqual(readSharedCleanup(buf), [{ file: a, claimed: false }]);
    assert.deepEqual(pendingCleanup(), [a]);
    unregisterCleanup(a);
    assert.deepEqual(readSharedCleanup(buf), []);
    assert.deepEqual(pendingCleanup(), []);
  } finally {
    setCleanupMirror(undefined);
  }
});

test('of what a stopped worker left, only confirmed files are ours', () => {
  const left = ownLeftovers([
    { file: path.join(dir, 'claimed'), claimed: true },
    { file: path.join(dir, 'owned'), claimed: false },
  ]);
  assert.deepEqual(left, [path.join(dir, 'owned')]);
});

test('a worker stopped while it creates files leaves every file it made listed as ours', async () => {
  // The worker creates files through createListed as fast as it can; the main thread stops creates,
  // then the worker, many times over. Every file on disk must be listed, confirmed, and no
  // confirmed entry may be missing from the disk.
  const { Worker } = await import('node:worker_threads');
  const url = new URL('../src/node/cleanup.ts', import.meta.url).href;
  // The worker does not inherit tsx's loader: it registers it through its API.
  const tsx = import.meta.resolve('tsx/esm/api');
  for (let round = 0; round < 12; round++) {
    const sub = path.join(dir, `round-${round}`);
    fs.mkdirSync(sub);
    const buf = sharedCleanupBuffer();
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const fs = require('node:fs');
      import(${JSON.stringify(tsx)}).then(async ({ register }) => {
        register();
        const m = await import(${JSON.stringify(url)});
        m.setCleanupMirror(m.sharedCleanupMirror(workerData.buf));
        parentPort.postMessage('ready');
        for (let i = 0; ; i++) {
          const f = workerData.sub + '/f' + (i % 40);
          try {
            const fd = m.createListed(f, () => fs.openSync(f, 'wx'));
            fs.closeSync(fd);
            fs.unlinkSync(f);
            m.unregisterCleanup(f);
          } catch {}
        }
      });`;
    const w = new Worker(code, { eval: true, workerData: { buf, sub }, execArgv: [] });
    try {
      await new Promise((resolve) => w.once('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, 5 + (round % 5) * 3));
      assert.equal(stopCreates(buf, 1000), true);
    } finally {
      await w.terminate();
    }
    const listed = readSharedCleanup(buf);
    assert.ok(
      listed.every((e) => !e.claimed),
      'no claim left half-done',
    );
    const onDisk = fs.readdirSync(sub).map((n) => path.join(sub, n));
    const own = ownLeftovers(listed);
    for (const f of onDisk) assert.ok(own.includes(f), `${f} exists and is listed as ours`);
  }
});

test('a create section inside another neither blocks nor leaves the section held', {
  timeout: 10_000,
}, () => {
  const buf = sharedCleanupBuffer();
  setCleanupMirror(sharedCleanupMirror(buf));
  try {
    const outer = path.join(dir, 'outer');
    const inner = path.join(dir, 'inner');
    createListed(outer, () => createListed(inner, () => 1));
    assert.deepEqual(
      readSharedCleanup(buf).map((e) => e.file),
      [outer, inner],
    );
    // Out of both sections: the main thread can stop creates at once.
    assert.equal(stopCreates(buf, 0), true);
  } finally {
    setCleanupMirror(undefined);
    unregisterCleanup(path.join(dir, 'outer'));
    unregisterCleanup(path.join(dir, 'inner'));
  }
});

test('a temporary file and a lock are listed as ours once created; a failed create lists nothing', () => {
  const packDir = path.join(dir, 'objects', 'pack');
  fs.mkdirSync(packDir, { recursive: true });
  const t = TempFile.create(packDir, 'tmp_pack_');
  assert.deepEqual(pendingCleanup(), [t.path]);
  t.discard();
  assert.deepEqual(pendingCleanup(), []);
  const target = path.join(packDir, 'multi-pack-index');
  const lock = LockFile.acquire(target, { packDir });
  assert.equal(pendingCleanup().length, 1);
  // Another holder's lock: EEXIST, and nothing of ours stays listed for it.
  assert.throws(() => LockFile.acquire(target, { packDir }), { code: 'LOCK_EXISTS' });
  assert.equal(pendingCleanup().length, 1);
  lock.rollback();
  assert.deepEqual(pendingCleanup(), []);
});
