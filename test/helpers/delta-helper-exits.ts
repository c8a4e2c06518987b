/**
 * A delta-search helper thread of `repack` (src/node/repack-threads.ts) that posts one batch of
 * decisions and ends its thread instead of posting the second: for the test of a helper that dies
 * half-way, with candidates it took and never reported.
 */
import { workerThreads } from '../../src/node/builtins.js';
import { type DeltaHelperData, runDeltaHelper } from '../../src/node/repack-threads.js';

const { parentPort, workerData } = workerThreads();
let batches = 0;
runDeltaHelper(workerData as DeltaHelperData, (b, transfer) => {
  if (++batches === 2) process.exit(3);
  parentPort!.postMessage(b, transfer);
});
