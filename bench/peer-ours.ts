/**
 * The Node side of the libgit2 comparison (bench/libgit2.ts), run in a fresh process: times
 * `hasObject`, `MultiPackIndex.lookup` or `readObject` over the ids of a file (hash checking off,
 * as on the libgit2 side) and prints one JSON line with the best pass's rate.
 *
 *   node --import tsx bench/peer-ours.ts <object-dir> <ids-file> <has|lookup|read> <passes> [<cache MiB>]
 *
 * `<cache MiB>`: the store's `cacheBytes` (default: the library's own, 256 MiB).
 */
import { readFileSync } from 'node:fs';

function readStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}

import { fromHex } from '../src/bytes.js';
import { ObjectStore, openMidx } from '../src/node/index.js';

const [objectDir, idsFile, mode, passesArg, cacheArg] = process.argv.slice(2);
const ids = readFileSync(idsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((h) => fromHex(h)!);
const passes = Number(passesArg);
const store = ObjectStore.open({
  objectDir,
  cacheBytes: cacheArg === undefined ? undefined : Number(cacheArg) * 1024 * 1024,
});
const midx = mode === 'lookup' ? openMidx(objectDir, { hash: store.hash }) : undefined;
let best = 0;
let found = 0;
for (let p = 0; p <= passes; p++) {
  found = 0;
  const t0 = performance.now();
  if (mode === 'has') {
    for (const id of ids) if (store.hasObject(id)) found++;
  } else if (mode === 'lookup') {
    for (const id of ids) if (midx!.lookup(id) !== undefined) found++;
  } else {
    for (const id of ids) if (store.readObject(id) !== undefined) found++;
  }
  const rate = ids.length / ((performance.now() - t0) / 1000);
  if (p > 0 && rate > best) best = rate;
}
// Peak resident memory in KiB, as the libgit2 peer reports its own: VmHWM of this process's own
// memory (resourceUsage().maxRSS would include the parent's at fork time); -1 where there is none.
const hwm = /^VmHWM:\s*(\d+)/m.exec(readStatus());
const maxRssKiB = hwm === null ? -1 : Number(hwm[1]);
process.stdout.write(`${JSON.stringify({ ids: ids.length, found, rate: Math.round(best), maxRssKiB })}\n`);
