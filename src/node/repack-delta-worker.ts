/**
 * The script of a delta-search helper thread of `repack` (src/node/repack-threads.ts): it runs
 * the part of the search it is given and posts its decisions back.
 */
import { workerThreads } from './builtins.js';
import { type DeltaHelperData, runDeltaHelper } from './repack-threads.js';

const { parentPort, workerData } = workerThreads();
const data = workerData as DeltaHelperData | undefined;
if (parentPort !== null && data?.kind === 'git-midx-delta-helper') {
  runDeltaHelper(data, (b, transfer) => parentPort.postMessage(b, transfer));
}
