/** The CLI bundle for `rev-list` alone (see bin/cli-loader.cjs and scripts/bundle-cli.mjs). */
import { revListCommand } from '../commands/rev-list.js';
import { readOnlyEntry } from '../dispatch.js';

export const { main, nodeIO, run } = readOnlyEntry([revListCommand]);
