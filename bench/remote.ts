/**
 * Bench rows for the portable store: async throughput beside sync on Node files, and the HTTP
 * economy of a repository served as static files (100 packs, 200,000 objects, a MIDX): requests
 * and bytes to open, per cold lookup, per whole object, per warm lookup.
 */

import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../src/bytes.js';
import { AsyncObjectStore, httpStorage } from '../src/index.js';
import { ObjectStore, openAsyncObjectStore } from '../src/node/index.js';
import { openMidxFile } from '../src/node/midx.js';
import { writeMidxBitmap } from '../src/node/midx-bitmap.js';
import { makeManyPacks, TestRepo } from '../test/helpers/git.js';
import { startStaticServer } from '../test/helpers/static-server.js';
import { median, timeSpawn } from './measure.js';
import type { Row } from './row.js';

/** Async (`fs.promises`) beside sync `readObject` on the same ids, objects per second. */
export async function asyncRows(objectDir: string, hexIds: readonly string[], rows: Row[]): Promise<void> {
  const oids = hexIds.map((h) => fromHex(h)!);
  const sync = ObjectStore.open({ objectDir });
  const syncRates: number[] = [];
  const asyncRates: number[] = [];
  const store = await openAsyncObjectStore({ objectDir });
  try {
    for (const oid of oids) sync.readObject(oid);
    await store.readObjects(oids);
    for (let rep = 0; rep < 3; rep++) {
      let t = performance.now();
      for (const oid of oids) sync.readObject(oid);
      syncRates.push(oids.length / ((performance.now() - t) / 1000));
      t = performance.now();
      await store.readObjects(oids);
      asyncRates.push(oids.length / ((performance.now() - t) / 1000));
    }
  } finally {
    sync.close();
    store.close();
  }
  const s = median(syncRates);
  const a = median(asyncRates);
  rows.push({
    name: `readObjects async (fs.promises) beside sync readObject, ${hexIds.length} ids`,
    unit: 'objects/s',
    git: s,
    ours: a,
    ratio: a / s,
    target: 'informational',
    pass: undefined,
    note: 'the "git" column is our synchronous API; ratio = async/sync throughput',
  });
}

/** The HTTP economy on a 100-pack, 200,000-object repository with a MIDX, served from 127.0.0.1. */
export async function httpRows(rows: Row[], log: (s: string) => void): Promise<void> {
  log('http: building 100 packs × 2,000 objects with a MIDX');
  const repo = TestRepo.create({ bare: true });
  const server = await startStaticServer(repo.dir);
  try {
    // OFS_DELTA packs, as `git repack` and fetches leave them.
    const { oids } = makeManyPacks(repo, 100, 2000, {
      deltaBaseOffset: process.env.REF_DELTA ? undefined : true,
    });
    repo.git(['multi-pack-index', 'write']);
    repo.git(['update-server-info']);
    const ids = oids.filter((_, i) => i % 997 === 0).slice(0, 100);
    const missing = Array.from({ length: 20 }, (_, i) => toHex(new Uint8Array(20).fill(i * 13 + 1)));
    const open = { req: [] as number[], bytes: [] as number[] };
    const cold = { req: [] as number[], bytes: [] as number[] };
    const object = { req: [] as number[], bytes: [] as number[] };
    let wrong = 0;
    for (const hex of ids) {
      const storage = httpStorage(server.url);
      const store = await AsyncObjectStore.open({ storage, objectDir: 'objects' });
      open.req.push(storage.stats.requests);
      open.bytes.push(storage.stats.bytes);
      let r0 = storage.stats.requests;
      let b0 = storage.stats.bytes;
      if (!(await store.hasObject(fromHex(hex)!))) wrong++;
      cold.req.push(storage.stats.requests - r0);
      cold.bytes.push(storage.stats.bytes - b0);
      r0 = storage.stats.requests;
      b0 = storage.stats.bytes;
      const o = await store.readObject(fromHex(hex)!);
      const want = repo.git(['cat-file', 'blob', hex]).stdout as Buffer;
      if (o === undefined || !Buffer.from(o.data).equals(want)) wrong++;
      object.req.push(storage.stats.requests - r0);
      object.bytes.push(storage.stats.bytes - b0);
      store.close();
    }
    // Warm: one store, many lookups (hits and misses) in one batch.
    const storage = httpStorage(server.url);
    const store = await AsyncObjectStore.open({ storage, objectDir: 'objects' });
    const many = oids.filter((_, i) => i % 101 === 0).map((h) => fromHex(h)!);
    const r0 = storage.stats.requests;
    const b0 = storage.stats.bytes;
    const has = await store.hasObjects([...many, ...missing.map((h) => fromHex(h)!)]);
    if (has.slice(0, many.length).some((x) => !x) || has.slice(many.length).some((x) => x)) wrong++;
    const warmReq = (storage.stats.requests - r0) / (many.length + missing.length);
    const warmBytes = (storage.stats.bytes - b0) / (many.length + missing.length);
    store.close();
    const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const max = (a: number[]) => Math.max(...a);
    const add = (
      name: string,
      unit: string,
      v: number,
      target: string,
      pass: boolean | undefined,
      note: string,
    ) =>
      rows.push({
        name,
        unit,
        ours: v,
        target,
        pass: pass === undefined ? undefined : pass && wrong === 0,
        note,
      });
    add(
      'http: open (100 packs, 200,000 objects, MIDX)',
      'requests',
      avg(open.req),
      '≤ 2',
      max(open.req) <= 2,
      `max ${max(open.req)}, ${Math.round(avg(open.bytes))} bytes`,
    );
    add(
      'http: cold lookup (hasObject, fresh store)',
      'requests',
      avg(cold.req),
      '≤ 3',
      max(cold.req) <= 3,
      `max ${max(cold.req)}`,
    );
    add(
      'http: cold lookup bytes',
      'bytes',
      avg(cold.bytes),
      '≤ 16 KiB',
      max(cold.bytes) <= 16384,
      `max ${max(cold.bytes)}`,
    );
    add(
      'http: one whole object after its lookup',
      'requests',
      avg(object.req),
      '≤ 4',
      max(object.req) <= 4,
      `max ${max(object.req)}, ${Math.round(avg(object.bytes))} bytes on average`,
    );
    add(
      `http: warm lookups (${many.length + missing.length} in one batch, hits and misses)`,
      'requests/lookup',
      warmReq,
      'informational',
      undefined,
      `${Math.round(warmBytes)} bytes per lookup; ${wrong} wrong answers`,
    );
  } finally {
    await server.close();
    repo.cleanup();
  }
}

/**
 * The event loop during an async batch read of 100,000 objects (4 packs, a MIDX, Node files): the
 * longest gap between ticks of a 1 ms timer, over three runs (the first one cold), measured in a
 * process of its own (bench/event-loop-child.ts) so that the heap the other rows leave behind does
 * not weigh on it.
 */
export async function eventLoopRows(rows: Row[], log: (s: string) => void): Promise<void> {
  log('event loop: 100,000 objects in 4 packs, async batch reads under a 1 ms timer (fresh process)');
  const repo = TestRepo.create();
  try {
    const { oids } = makeManyPacks(repo, 4, 25_000);
    repo.git(['multi-pack-index', 'write']);
    const idFile = join(repo.scratchDir(), 'ids');
    writeFileSync(idFile, `${oids.join('\n')}\n`);
    const child = join(dirname(fileURLToPath(import.meta.url)), 'event-loop-child.ts');
    const r = timeSpawn(process.execPath, ['--import', 'tsx', child, repo.objectDir, idFile], {});
    const { gaps } = JSON.parse(r.stdout.toString()) as { gaps: number[] };
    const worst = Math.max(...gaps);
    rows.push({
      name: 'async readObjects of 100,000 objects: longest gap of a 1 ms timer',
      unit: 'ms',
      ours: worst,
      target: '< 20 ms',
      pass: worst < 20,
      note: `runs: ${gaps.join(', ')} ms (each a fresh store; the first in a cold process)`,
    });
  } finally {
    repo.cleanup();
  }
}

/**
 * `write --bitmap` against `git multi-pack-index write --bitmap`, and reachability counts with
 * bitmaps against `git rev-list --count --objects --use-bitmap-index --all`, on a copy of a
 * repository with history (the history corpus). Git must accept our bitmap first.
 */
export function bitmapRows(
  repoDir: string,
  env: NodeJS.ProcessEnv,
  runs: number,
  bin: string,
  rows: Row[],
  log: (s: string) => void,
  label = 'history corpus',
): void {
  log(`bitmaps: write --bitmap and reachability counts, ${runs} runs each, interleaved`);
  const work = mkdtempSync(join(tmpdir(), 'git-midx-bitmap-'));
  try {
    const repo = join(work, 'repo.git');
    cpSync(repoDir, repo, { recursive: true });
    const pack = join(repo, 'objects', 'pack');
    const clean = () => {
      for (const f of readdirSync(pack)) if (f.startsWith('multi-pack-index')) rmSync(join(pack, f));
    };
    const opts = { cwd: repo, env };
    const gitW: number[] = [];
    const ourW: number[] = [];
    // Node's start-up, timed among these runs (what "ratio − node" subtracts).
    const nodeW: number[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternately first: neither side always runs right after the other.
      for (const side of i % 2 === 0 ? ['git', 'ours'] : ['ours', 'git']) {
        clean();
        if (side === 'git')
          gitW.push(timeSpawn('git', ['multi-pack-index', 'write', '--bitmap', '--no-progress'], opts).ms);
        else ourW.push(timeSpawn(process.execPath, [bin, 'write', '--bitmap', '--no-progress'], opts).ms);
      }
      nodeW.push(timeSpawn(process.execPath, ['-e', '0'], opts).ms);
    }
    const test = timeSpawn('git', ['rev-list', '--test-bitmap', 'HEAD'], opts);
    const accepted = /OK!/.test(test.stdout.toString() + test.stderr);
    // Bytes: git 2.39's MIDX has no BTMP chunk, so its checksum (in the .bitmap's header) differs
    // from ours; the library writes the bitmap of git's own MIDX in 2.39's entry order instead.
    clean();
    timeSpawn('git', ['multi-pack-index', 'write', '--bitmap', '--no-progress'], opts);
    const theirs = readdirSync(pack).find((f) => f.endsWith('.bitmap'));
    const target = join(pack, 'bench-ours.bitmap');
    const probe = ObjectStore.open({ objectDir: join(repo, 'objects') });
    const hash = probe.hash;
    probe.close();
    const midx = openMidxFile(join(pack, 'multi-pack-index'), { hash });
    try {
      writeMidxBitmap({ objectDir: join(repo, 'objects'), hash, midx, target, entryOrder: 'selection' });
    } finally {
      midx.close();
    }
    const identical = theirs !== undefined && readFileSync(target).equals(readFileSync(join(pack, theirs)));
    const g = median(gitW);
    const o = median(ourW);
    rows.push({
      name: `write --bitmap (${label})`,
      unit: 'ms',
      git: g,
      ours: o,
      ratio: o / g,
      target: 'ratio − node ≤ 1.50',
      pass: accepted && identical && o / g <= 1.5,
      startup: { limit: 1.5, alsoNeeds: accepted && identical, nodeMs: median(nodeW) },
      note: `git rev-list --test-bitmap HEAD on our bitmap: ${accepted ? 'OK' : 'FAILED'}; .bitmap of git's MIDX ${identical ? 'byte-identical to' : 'DIFFERS from'} git's`,
    });
    // Counts with the bitmap (ours in place, git's rev-list reading it too).
    const gitC: number[] = [];
    const ourC: number[] = [];
    let gitOut = '';
    let ourOut = '';
    for (let i = 0; i < runs; i++) {
      const a = timeSpawn('git', ['rev-list', '--count', '--objects', '--use-bitmap-index', '--all'], opts);
      gitC.push(a.ms);
      gitOut = a.stdout.toString();
      const b = timeSpawn(
        process.execPath,
        [bin, 'rev-list', '--count', '--objects', '--use-bitmap-index', '--all'],
        opts,
      );
      ourC.push(b.ms);
      ourOut = b.stdout.toString();
    }
    const same = gitOut === ourOut;
    rows.push({
      name: `rev-list --count --objects --use-bitmap-index --all (${label})`,
      unit: 'ms',
      git: median(gitC),
      ours: median(ourC),
      ratio: median(ourC) / median(gitC),
      target: 'informational',
      pass: same ? undefined : false,
      startup: {},
      note: `counts ${same ? 'equal' : 'DIFFER'}: git ${gitOut.trim()}, ours ${ourOut.trim()}`,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
