/**
 * The event-loop measurement of `npm run bench`, run in a process of its own (a fresh heap, as a
 * server starts): reads the ids in `<objectDir>` (file `ids`, hex, one per line) with the async
 * store of the built package three times, a fresh store each time, under a 1 ms timer, and prints
 * the longest gap of each run (JSON, milliseconds).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// The built package, as users run it.
import { fromHex } from '../dist/bytes.js';
import { openAsyncObjectStore } from '../dist/node/index.js';

const [objectDir, idFile] = process.argv.slice(2);
const ids = readFileSync(idFile ?? join(objectDir, 'ids'), 'utf8')
  .split('\n')
  .filter((l) => l.length > 0)
  .map((h) => fromHex(h)!);
const gaps: number[] = [];
for (let run = 0; run < 3; run++) {
  const store = await openAsyncObjectStore({ objectDir });
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    const got = await store.readObjects(ids);
    if (got.some((o) => o === undefined)) throw new Error('event loop bench: an object is missing');
  } finally {
    clearInterval(timer);
    store.close();
  }
  gaps.push(Math.round(longest * 10) / 10);
}
process.stdout.write(`${JSON.stringify({ gaps })}\n`);
