/**
 * Bench rows against libgit2 (in process, C): our `hasObject`, `MultiPackIndex.lookup` and
 * `readObject` beside `git_odb_exists` and `git_odb_read` (strict hash checking off) on the same
 * ids, each side in a fresh process. The C peer (bench/libgit2/peer.c) is compiled here when `cc`
 * and libgit2's headers (Debian's `libgit2-dev`) are present; otherwise the rows are skipped.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './row.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Builds the peer into `cacheDir`; undefined (with the reason logged) when it cannot be built. */
export function buildPeer(cacheDir: string, log: (s: string) => void): string | undefined {
  const out = join(cacheDir, 'libgit2-peer');
  const src = join(HERE, 'libgit2', 'peer.c');
  mkdirSync(cacheDir, { recursive: true });
  const r = spawnSync('cc', ['-O2', '-o', out, src, '-lgit2'], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(out)) {
    log(
      `libgit2 rows skipped: cannot build the peer (${(r.stderr || r.error?.message || '').trim().split('\n')[0]})`,
    );
    return undefined;
  }
  return out;
}

/** Fresh processes per side and row. */
const PROCESSES = 3;

export function libgit2Rows(
  peer: string,
  gitDir: string,
  objectDir: string,
  hexIds: readonly string[],
  passes: number,
  cacheDir: string,
  rows: Row[],
  log: (s: string) => void,
): void {
  const distinct = new Set(hexIds).size;
  const idsFile = join(cacheDir, 'libgit2-ids.txt');
  writeFileSync(idsFile, `${hexIds.join('\n')}\n`);
  const run = (cmd: string, args: string[]): { rate: number; found: number; maxRssKiB?: number } => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim());
  };
  const ours = (mode: string, cacheMiB?: number) =>
    run(process.execPath, [
      '--import',
      'tsx',
      resolve(HERE, 'peer-ours.ts'),
      objectDir,
      idsFile,
      mode,
      String(passes),
      ...(cacheMiB === undefined ? [] : [String(cacheMiB)]),
    ]);
  const theirs = (mode: string) => run(peer, [gitDir, idsFile, mode, String(passes)]);
  log(
    `libgit2: ${hexIds.length} ids, ${passes} passes each side, ${PROCESSES} fresh processes per side in back-to-back pairs (each process: its best pass; the ratio: the median of the pairs' ratios)`,
  );
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  /** The median peak resident memory of a side's processes (an older peer binary has none). */
  const rss = (rs: { maxRssKiB?: number }[]) => {
    const kib = rs.map((r) => r.maxRssKiB).filter((k): k is number => typeof k === 'number' && k >= 0);
    return kib.length === 0 ? 'n/a' : `${Math.round(median(kib) / 1024)} MiB`;
  };
  // The last row, informational, gives the store a cache budget of 1 GiB (`cacheBytes`; the
  // default is 256 MiB): libgit2 keeps a delta-base cache of up to 16 MiB per pack, gigabytes over
  // many packs. Its note gives both sides' peak memory.
  for (const [label, our, their, cacheMiB] of [
    ['hasObject / git_odb_exists', 'has', 'exists', undefined],
    ['MultiPackIndex.lookup / git_odb_exists', 'lookup', 'exists', undefined],
    ['readObject / git_odb_read', 'read', 'read', undefined],
    ['readObject, cacheBytes 1 GiB / git_odb_read', 'read', 'read', 1024],
  ] as const) {
    // A process's JIT decisions vary from run to run: several per side, in pairs run back to back
    // (which side first alternates). This machine's speed drifts by tens of percent within a
    // minute, so the ratio is the median of the pairs' ratios, each taken over a few seconds.
    const ts: { rate: number; found: number; maxRssKiB?: number }[] = [];
    const os: { rate: number; found: number; maxRssKiB?: number }[] = [];
    for (let i = 0; i < PROCESSES; i++) {
      if (i % 2 === 0) {
        ts.push(theirs(their));
        os.push(ours(our, cacheMiB));
      } else {
        os.push(ours(our, cacheMiB));
        ts.push(theirs(their));
      }
    }
    const t = { rate: median(ts.map((r) => r.rate)), found: ts[0].found };
    const o = { rate: median(os.map((r) => r.rate)), found: os[0].found };
    const ratio = median(os.map((r, i) => r.rate / ts[i].rate));
    if (ts.some((r) => r.found !== t.found) || os.some((r) => r.found !== o.found)) {
      throw new Error(`libgit2 rows: found counts varied between processes`);
    }
    rows.push({
      name: `in process: ${label}, ${hexIds.length} ids${distinct < hexIds.length ? ` (${distinct} distinct)` : ''}`,
      unit: 'ids/s',
      git: t.rate,
      ours: o.rate,
      ratio,
      target: cacheMiB === undefined ? 'ours/libgit2 ≥ 1.00×' : 'informational',
      pass: o.found !== t.found ? false : cacheMiB === undefined ? ratio >= 1 : undefined,
      note: `the "git" column is libgit2 (rates: medians per side); ratio: the median of ${PROCESSES} back-to-back pairs' ratios (${os.map((r, i) => (r.rate / ts[i].rate).toFixed(2)).join(', ')}); found ${o.found} (ours) / ${t.found} (libgit2); peak RSS ${rss(os)} (ours) / ${rss(ts)} (libgit2)`,
    });
  }
}
