// The list of files to remove on an interruption (src/node/cleanup.ts): a file is claimed before
// its exclusive create and confirmed after it, and of what a stopped worker left listed, a claimed
// file is removed only if this process holds it open (else it may be another process's file whose
// name the create met).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import {
  claimCleanup,
  ownLeftovers,
  pendingCleanup,
  readSharedCleanup,
  registerCleanup,
  setCleanupMirror,
  sharedCleanupBuffer,
  sharedCleanupMirror,
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

test('a claimed file is ours only while this process holds it open', () => {
  const held = path.join(dir, 'held');
  const foreign = path.join(dir, 'foreign');
  const owned = path.join(dir, 'owned');
  const fd = fs.openSync(held, 'wx');
  fs.writeFileSync(foreign, 'not ours\n');
  try {
    const left = ownLeftovers([
      { file: held, claimed: true },
      { file: foreign, claimed: true },
      { file: owned, claimed: false },
    ]);
    // (Where /proc/self/fd cannot be read, claimed files all stay: never another's removed.)
    const proc = fs.existsSync('/proc/self/fd');
    assert.deepEqual(left, proc ? [held, owned] : [owned]);
  } finally {
    fs.closeSync(fd);
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
