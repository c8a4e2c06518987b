/** The CLI bundle for `verify` alone (see bin/cli-loader.cjs and scripts/bundle-cli.mjs). */
import { verifyCommand } from '../commands/verify.js';
import { readOnlyEntry } from '../dispatch.js';

export const { main, nodeIO, run } = readOnlyEntry([verifyCommand]);
