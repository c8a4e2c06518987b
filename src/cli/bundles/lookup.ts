/** The CLI bundle for `lookup` alone (see bin/cli-loader.cjs and scripts/bundle-cli.mjs). */
import { lookupCommand } from '../commands/lookup.js';
import { readOnlyEntry } from '../dispatch.js';

export const { main, nodeIO, run } = readOnlyEntry([lookupCommand]);
