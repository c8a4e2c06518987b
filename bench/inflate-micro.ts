/**
 * Micro benchmark: the portable `inflateZlib` against node:zlib's `inflateSync(buf, { info: true })`
 * (as src/node/zlib.ts calls it, with `maxOutputLength` and `chunkSize` sized from the expected
 * size), per call, over many streams shaped like pack entries.
 *
 *   node --import tsx bench/inflate-micro.ts [streams per corpus, default 100000]
 *
 * Prints, per corpus, the mean time per call of each, their ratio, and then the same for single
 * output sizes from 64 bytes to 1 MiB (text-like and incompressible data), which shows the output
 * size above which node:zlib is the faster of the two.
 */
import * as zlib from 'node:zlib';
import { inflateZlib } from '../src/pack/inflate.js';

const COUNT = Number(process.argv[2] ?? 100000);

function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const WORDS =
  'the of and to in is that for it as with was on be by this are from at or an have not which but all were when we there can more if will one about so out up what into has only other its'.split(
    ' ',
  );

/** Text with repeats, like commit messages, source files and trees' names. */
function textLike(r: () => number, size: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const w = r() % 8 === 0 ? `ident_${(r() % 4096).toString(16)}` : WORDS[r() % WORDS.length];
    parts.push(w);
    n += w.length + 1;
    parts.push(r() % 12 === 0 ? '\n' : ' ');
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

/** Tree-like: `<mode> <name>\0<20 random bytes>` entries. */
function treeLike(r: () => number, size: number): Buffer {
  const out: Buffer[] = [];
  let n = 0;
  while (n < size) {
    const e = Buffer.concat([
      Buffer.from(`${r() % 4 === 0 ? '40000' : '100644'} file_${(r() % 997).toString(36)}.ts\0`),
      Buffer.from(Array.from({ length: 20 }, () => r() & 255)),
    ]);
    out.push(e);
    n += e.length;
  }
  return Buffer.concat(out).subarray(0, size);
}

function random(r: () => number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = r() & 255;
  return b;
}

interface Corpus {
  name: string;
  streams: Buffer[];
  sizes: number[];
}

/** `count` streams whose compressed size lies in [minC, maxC], from a mix of shapes. */
function corpus(name: string, count: number, minC: number, maxC: number, seed: number): Corpus {
  const r = prng(seed);
  const streams: Buffer[] = [];
  const sizes: number[] = [];
  // Distinct templates, reused with a random tail so that making 100 000 streams stays quick.
  const templates: { c: Buffer; size: number }[] = [];
  let tries = 0;
  while (templates.length < 2000 && tries < 200000) {
    tries++;
    const shape = r() % 10;
    const target = minC + (r() % (maxC - minC + 1));
    // Rough raw size for the target compressed size.
    const size = shape < 6 ? target * 2 + (r() % target) : shape < 9 ? Math.round(target * 1.3) : target;
    const data = shape < 6 ? textLike(r, size) : shape < 9 ? treeLike(r, size) : random(r, size);
    const c = zlib.deflateSync(data);
    if (c.length >= minC && c.length <= maxC) templates.push({ c, size });
  }
  for (let i = 0; i < count; i++) {
    const t = templates[r() % templates.length];
    // A copy, so that the calls do not all hit the same cache lines.
    streams.push(Buffer.from(t.c));
    sizes.push(t.size);
  }
  return { name, streams, sizes };
}

function timeIt(fn: () => void, rounds: number): number {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function nodeInflate(s: Buffer, expected: number): number {
  const r = zlib.inflateSync(s, {
    info: true,
    maxOutputLength: expected + 1,
    chunkSize: Math.min(Math.max(64, expected + 64), 1 << 20),
  }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
  return r.engine.bytesWritten;
}

function compare(c: Corpus, rounds: number): void {
  const { streams, sizes } = c;
  // Both must agree before they are timed.
  for (let i = 0; i < streams.length; i++) {
    const ours = inflateZlib(streams[i], sizes[i] + 1);
    if (ours === undefined || ours.consumed !== nodeInflate(streams[i], sizes[i])) {
      throw new Error(`${c.name}: stream ${i} disagrees`);
    }
  }
  let sink = 0;
  const tOurs = timeIt(() => {
    for (let i = 0; i < streams.length; i++) sink += inflateZlib(streams[i], sizes[i] + 1)!.consumed;
  }, rounds);
  const tNode = timeIt(() => {
    for (let i = 0; i < streams.length; i++) sink += nodeInflate(streams[i], sizes[i]);
  }, rounds);
  const tPlain = timeIt(() => {
    for (let i = 0; i < streams.length; i++) {
      sink += (
        zlib.inflateSync(streams[i], { info: true }) as unknown as { engine: { bytesWritten: number } }
      ).engine.bytesWritten;
    }
  }, rounds);
  const n = streams.length;
  const inBytes = streams.reduce((a, s) => a + s.length, 0) / n;
  const outBytes = sizes.reduce((a, s) => a + s, 0) / n;
  console.log(
    `${c.name.padEnd(28)} ${n} streams, mean ${inBytes.toFixed(0)} → ${outBytes.toFixed(0)} bytes: ` +
      `inflateZlib ${(tOurs / n / 1000).toFixed(2)} µs, inflateSync ${(tNode / n / 1000).toFixed(2)} µs ` +
      `(plain {info:true} ${(tPlain / n / 1000).toFixed(2)} µs), ratio ${(tNode / tOurs).toFixed(2)}×` +
      (sink === -1 ? '!' : ''),
  );
}

compare(corpus('small (50–300 B compressed)', COUNT, 50, 300, 1), 5);
compare(corpus('medium (2–20 KB compressed)', Math.max(1, Math.floor(COUNT / 10)), 2000, 20000, 2), 3);

console.log('\nsingle output sizes (per call; text-like at level 6, and incompressible):');
for (const size of [64, 128, 256, 512, 768, 1024, 2048, 4096, 8192, 16384, 65536, 262144, 1048576]) {
  for (const shape of ['text', 'random'] as const) {
    const r = prng(size + (shape === 'text' ? 0 : 7));
    const data = shape === 'text' ? textLike(r, size) : random(r, size);
    const s = zlib.deflateSync(data);
    const reps = Math.max(20, Math.floor(4_000_000 / (size + 200)));
    let sink = 0;
    const tOurs = timeIt(() => {
      for (let i = 0; i < reps; i++) sink += inflateZlib(s, size + 1)!.consumed;
    }, 5);
    const tNode = timeIt(() => {
      for (let i = 0; i < reps; i++) sink += nodeInflate(s, size);
    }, 5);
    console.log(
      `  ${String(size).padStart(8)} B ${shape.padEnd(6)} (${String(s.length).padStart(7)} compressed): ` +
        `inflateZlib ${(tOurs / reps / 1000).toFixed(2).padStart(8)} µs, inflateSync ` +
        `${(tNode / reps / 1000).toFixed(2).padStart(8)} µs, ratio ${(tNode / tOurs).toFixed(2)}×` +
        (sink === -1 ? '!' : ''),
    );
  }
}
