/**
 * The in-process lookup rate (`npm run bench` row 3), run by bench/run.ts in a fresh process:
 * `node --import tsx bench/inproc.ts <objectDir> <count>` prints JSON with the rates of
 * `MultiPackIndex.findPosition` over `count` present ids and `count` absent ones, after a warm-up
 * (JIT, the sampled key table built after 4,096 lookups, the page cache).
 */
import { fromHex } from '../src/bytes.js';
import { SHA1 } from '../src/hash.js';
import type { MultiPackIndex } from '../src/midx/reader.js';
import { openMidx } from '../src/node/midx.js';
import { randomMissingOids, sampleOids } from './corpus.js';

const MIN_MS = 1000;
const MIN_REPS = 3;
const MAX_REPS = 15;

const [objectDir, countArg] = process.argv.slice(2);
const count = Number(countArg);
const H = SHA1.size;

function toBytes(hex: readonly string[]): Uint8Array {
  const out = new Uint8Array(hex.length * H);
  for (let i = 0; i < hex.length; i++) {
    if (!fromHex(hex[i], out, i * H)) throw new Error(`bad hex id ${hex[i]}`);
  }
  return out;
}

/** Looks up `count` ids laid out back to back in `buf`; returns how many were found. */
function countFound(m: MultiPackIndex, buf: Uint8Array): number {
  let found = 0;
  for (let i = 0, o = 0; i < count; i++, o += H) {
    if (m.findPosition(buf, o) >= 0) found++;
  }
  return found;
}

const hits = toBytes(sampleOids(objectDir, count, 2));
const misses = toBytes(randomMissingOids(count, 3));
const m = openMidx(objectDir, { hash: SHA1 });
if (!m) throw new Error(`no MIDX in ${objectDir}`);
const result: Record<string, { rates: number[]; cpuRates: number[]; found: number }> = {};
try {
  for (let w = 0; w < 2; w++) {
    countFound(m, hits);
    countFound(m, misses);
  }
  for (const [label, buf] of [
    ['hits', hits],
    ['misses', misses],
  ] as const) {
    const rates: number[] = [];
    const cpuRates: number[] = [];
    let total = 0;
    let found = -1;
    while (rates.length < MAX_REPS && (rates.length < MIN_REPS || total < MIN_MS)) {
      const cpu0 = process.cpuUsage();
      const start = process.hrtime.bigint();
      found = countFound(m, buf);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const cpu = process.cpuUsage(cpu0);
      total += ms;
      rates.push(count / (ms / 1000));
      cpuRates.push(count / ((cpu.user + cpu.system) / 1e6));
    }
    result[label] = { rates, cpuRates, found };
  }
} finally {
  m.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
