/**
 * The async API keeps the event loop free: during a batch read of 100,000 objects a 1 ms timer
 * keeps firing. What is asserted does not depend on the machine's load: the timer ran many times
 * during the batch, and the batch's answers equal the synchronous store's. (The longest gap in milliseconds is printed here and
 * measured by `npm run bench`.)
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fromHex } from '../src/bytes.js';
import { ObjectStore, openAsyncObjectStore } from '../src/node/index.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

test('an async batch of 100,000 objects lets a 1 ms timer run throughout', async (t) => {
  const repo = TestRepo.create();
  repos.push(repo);
  const { oids: ids } = makeManyPacks(repo, 4, 25_000);
  repo.git(['multi-pack-index', 'write']);
  const oids = ids.map((h) => fromHex(h)!);
  assert.equal(oids.length, 100_000);

  const store = await openAsyncObjectStore({ objectDir: repo.objectDir });
  let done = 0;
  let ticks = 0;
  let last = performance.now();
  let longestGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
    ticks++;
  }, 1);
  let got: Awaited<ReturnType<typeof store.readObjects>>;
  try {
    got = await store.readObjects(oids);
    done = got.length;
  } finally {
    clearInterval(timer);
    store.close();
  }
  t.diagnostic(`${done} objects, ${ticks} timer ticks, longest gap ${longestGap.toFixed(1)} ms`);
  assert.equal(done, 100_000);
  assert.ok(ticks >= 20, `the timer ran ${ticks} times during the batch`);

  const sync = ObjectStore.open({ objectDir: repo.objectDir });
  try {
    for (let k = 0; k < oids.length; k += 997) {
      const want = sync.readObject(oids[k])!;
      assert.equal(got[k]?.type, want.type);
      assert.ok(Buffer.from(got[k]!.data).equals(Buffer.from(want.data)), ids[k]);
    }
  } finally {
    sync.close();
  }
});
