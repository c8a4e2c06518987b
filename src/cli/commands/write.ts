import { writeMidxFileAsync } from '../../node/midx.js';
import { makeContext } from '../context.js';
import type { Command } from '../main.js';
import { parseCommand } from '../options.js';

const USAGE = 'write [--preferred-pack=<pack>] [--stdin-packs]';

export const writeCommand: Command = {
  name: 'write',
  usage: USAGE,
  async run(io, global, args) {
    const p = parseCommand(
      io,
      args,
      { 'preferred-pack': { type: 'string' }, 'stdin-packs': { type: 'boolean' } },
      USAGE,
      global,
      false,
      [
        ['--preferred-pack <preferred-pack>', 'pack for reuse when computing a multi-pack bitmap'],
        ['--stdin-packs', 'write multi-pack index containing only given indexes'],
      ],
    );
    const ctx = makeContext(io, p.global, new Set(['Adding packfiles to multi-pack-index']));
    let stdinPacks: string[] | undefined;
    if (p.values['stdin-packs']) {
      stdinPacks = io
        .readStdin()
        .split('\n')
        .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
        .filter((l) => l.length > 0);
    }
    await writeMidxFileAsync({
      objectDir: ctx.objectDir,
      hash: ctx.hash,
      preferredPack: p.values['preferred-pack'] as string | undefined,
      stdinPacks,
      useExistingMidx: ctx.config.getBool('core.multipackindex', true),
      onProgress: ctx.progress,
      onDiagnostic: ctx.diag,
    });
    return 0;
  },
};
