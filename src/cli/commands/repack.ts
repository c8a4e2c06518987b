import * as path from 'node:path';
import { isCSpace, scanCDigits } from '../../node/config.js';
import { planRepack, repackMidxAsync } from '../../node/repack.js';
import { makeContext, shownObjectDir } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand, UsageError } from '../options.js';
import { refuseChain } from '../store.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['repack'];

const MAGNITUDE_ERROR =
  "option `batch-size' expects a non-negative integer value with an optional k/m/g suffix";

const UNITS: Readonly<Record<string, bigint>> = { '': 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n };

/**
 * `--batch-size` as Git's `OPT_MAGNITUDE` reads it (`git_parse_ulong`): no `-` anywhere, then what
 * C `strtoumax(s, &end, 0)` takes (leading blanks, `+`, `0x` hex, a leading `0` for octal), then at
 * most one of k/m/g in either case; the product must fit 64 bits. Undefined when it is not valid.
 * Values beyond 2^53 are held as 2^53 − 1: no pack comes near either.
 */
export function parseBatchSize(value: string): number | undefined {
  if (value === '' || value.includes('-')) return undefined;
  let i = 0;
  while (isCSpace(value[i])) i++;
  if (value[i] === '+') i++;
  const { n, start, end: stop } = scanCDigits(value, i);
  // No digits at all: strtoumax converts nothing and leaves `end` at the very start.
  const end = stop === start ? 0 : stop;
  const factor = UNITS[value.slice(end).toLowerCase()];
  if (factor === undefined) return undefined;
  const v = n * factor;
  if (v > 2n ** 64n - 1n) return undefined;
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/**
 * Combines small packs of the MIDX into one new pack written by git-midx, then rewrites the MIDX.
 * `--dry-run` lists the packs that would be combined, their objects and the estimated bytes,
 * touching nothing. Like Git, a real run prints nothing (progress aside).
 */
export const repackCommand: Command = {
  name: 'repack',
  usage: USAGE,
  async run(io, global, args) {
    const p = parseCommand(
      io,
      args,
      { 'batch-size': { type: 'string' }, 'dry-run': { type: 'boolean' } },
      USAGE,
      global,
      false,
      [
        [
          '--batch-size <n>',
          'during repack, collect pack-files of smaller size into a batch that is larger than this size',
        ],
        ['--dry-run', 'list the packs that would be combined and their bytes; touch nothing'],
      ],
    );
    let batchSize = 0;
    const given = p.values['batch-size'];
    if (typeof given === 'string') {
      const v = parseBatchSize(given);
      if (v === undefined) throw new UsageError(MAGNITUDE_ERROR, USAGE);
      batchSize = v;
    }
    const ctx = makeContext(io, p.global, new Set(['Adding packfiles to multi-pack-index']));
    refuseChain(ctx, 'cannot repack an incremental multi-pack-index');
    const options = {
      objectDir: ctx.objectDir,
      displayDir: shownObjectDir(io, p.global.objectDir, path.resolve(io.cwd, ctx.objectDir)),
      hash: ctx.hash,
      batchSize,
      config: ctx.config,
      onProgress: ctx.progress,
      onDiagnostic: ctx.diag,
    };
    if (p.values['dry-run']) {
      const plan = planRepack(options);
      if (plan.status === 'no-midx') {
        io.stdout('nothing to repack: no multi-pack-index\n');
        return 0;
      }
      let out = '';
      if (plan.status === 'ready') {
        for (const k of plan.packs) {
          out += `would repack ${k.name} (${k.objects} objects, ${k.expectedBytes} bytes)\n`;
        }
      }
      for (const k of plan.skipped) out += `would skip ${k.name}: ${k.reason}\n`;
      if (plan.status === 'ready') {
        out += `${plan.packs.length} pack(s) to repack, ${plan.objects} objects, ${plan.estimatedBytes} bytes estimated\n`;
      } else if (plan.packs.length < 2) {
        out += `nothing to repack: ${plan.packs.length} pack(s) selected, at least 2 needed\n`;
      } else {
        out += `nothing to repack: the selected packs hold no object of the multi-pack-index\n`;
      }
      io.stdout(out);
      return 0;
    }
    await repackMidxAsync(options);
    return 0;
  },
};
