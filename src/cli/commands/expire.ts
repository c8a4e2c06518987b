import { expireMidx, planExpireChecked } from '../../node/expire.js';
import { makeContext } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand } from '../options.js';
import { refuseChain } from '../store.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['expire'];

/**
 * Drops the packs no MIDX object points to. `--dry-run` lists what would go (and what stays
 * unreferenced, with the reason) and the bytes it would free, touching nothing.
 */
export const expireCommand: Command = {
  name: 'expire',
  usage: USAGE,
  run(io, global, args) {
    const p = parseCommand(io, args, { 'dry-run': { type: 'boolean' } }, USAGE, global, false, [
      ['--dry-run', 'list the packs that would be dropped and the bytes freed; touch nothing'],
    ]);
    const ctx = makeContext(io, p.global, new Set(['Counting referenced objects']));
    refuseChain(ctx, 'cannot expire packs from an incremental multi-pack-index');
    const options = {
      objectDir: ctx.objectDir,
      hash: ctx.hash,
      onProgress: ctx.progress,
      onDiagnostic: ctx.diag,
    };
    if (p.values['dry-run']) {
      const plan = planExpireChecked(options);
      let out = '';
      let total = 0;
      for (const d of plan.drop) {
        out += `would drop ${d.name}: ${d.files.join(' ')} (${d.bytes} bytes)\n`;
        total += d.bytes;
      }
      for (const k of plan.kept) out += `would keep ${k.name}: unreferenced but ${k.reason}\n`;
      for (const k of plan.spared) out += `would keep ${k.name}: ${k.reason}\n`;
      if (plan.hasMidx) out += `${plan.drop.length} pack(s) to drop, ${total} bytes to free\n`;
      else out += 'nothing to expire: no multi-pack-index\n';
      io.stdout(out);
      return 0;
    }
    expireMidx(options);
    return 0;
  },
};
