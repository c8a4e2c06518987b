import { compactMidxLayers } from '../../node/midx-chain.js';
import { makeContext } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand, UsageError } from '../options.js';
import { USAGES } from '../usage.js';
import { midxVersion } from './write.js';

const USAGE = USAGES['compact'];

/**
 * `git multi-pack-index compact`: merges the layers of an incremental chain from `<from>` up to
 * `<to>` (checksums, `<from>` the older) into one version-2 layer (src/node/midx-chain.ts).
 */
export const compactCommand: Command = {
  name: 'compact',
  usage: USAGE,
  run(io, global, args) {
    const p = parseCommand(
      io,
      args,
      { incremental: { type: 'boolean' }, 'no-incremental': { type: 'boolean' } },
      USAGE,
      global,
      true,
      [['--[no-]incremental', 'write a new incremental MIDX']],
    );
    if (p.rest.length !== 2) throw new UsageError('need the two layers to compact: <from> <to>', USAGE);
    const ctx = makeContext(io, p.global);
    compactMidxLayers({
      objectDir: ctx.objectDir,
      hash: ctx.hash,
      from: p.rest[0],
      to: p.rest[1],
      // Compaction writes version 2; version 1 asked for is refused (Git's message).
      version: midxVersion(ctx.config.get('midx.version') ?? undefined) ?? 2,
      onDiagnostic: ctx.diag,
    });
    return 0;
  },
};
