/** The CLI bundle for `show` alone (see bin/cli-loader.cjs and scripts/bundle-cli.mjs). */
import { showCommand } from '../commands/show.js';
import { readOnlyEntry } from '../dispatch.js';

export const { main, nodeIO, run } = readOnlyEntry([showCommand]);
