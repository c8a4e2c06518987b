// A delta-search helper thread of `repack` run from the TypeScript sources, for the tests: a worker
// thread does not get the test process's TypeScript loader, so this script registers it first.
import { register } from 'tsx/esm/api';

register();
await import('../../src/node/repack-delta-worker.ts');
