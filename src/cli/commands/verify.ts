import * as path from 'node:path';
import { VERIFY_TITLES } from '../../midx/verify.js';
import { verifyMidxFile } from '../../node/verify.js';
import { makeContext, shownObjectDir } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand } from '../options.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['verify'];

/** `git multi-pack-index verify`: Git's messages on stderr, exit 0 (clean), 1 (findings) or 128. */
export const verifyCommand: Command = {
  name: 'verify',
  usage: USAGE,
  run(io, global, args) {
    const p = parseCommand(io, args, {}, USAGE, global);
    // Only the first meter is delayed in Git; the others are "sparse" meters shown at once.
    const ctx = makeContext(io, p.global, new Set([VERIFY_TITLES.packs]));
    if (ctx.remote !== undefined) {
      return verifyMidxFile({
        objectDir: ctx.objectDir,
        displayDir: `${ctx.remote.url}${ctx.objectDir}`,
        hash: ctx.hash,
        files: ctx.remote.files,
        onProgress: ctx.progress,
        onLine: (line) => io.stderr(`${line}\n`),
      }).status;
    }
    const objectDir = path.resolve(io.cwd, ctx.objectDir);
    const r = verifyMidxFile({
      objectDir,
      displayDir: shownObjectDir(io, p.global.objectDir, objectDir),
      hash: ctx.hash,
      onProgress: ctx.progress,
      onLine: (line) => io.stderr(`${line}\n`),
    });
    return r.status;
  },
};
