/** The CLI bundle for `cat-file` alone (see bin/cli-loader.cjs and scripts/bundle-cli.mjs). */
import { catFileCommand } from '../commands/cat-file.js';
import { readOnlyEntry } from '../dispatch.js';

export const { main, nodeIO, run } = readOnlyEntry([catFileCommand]);
