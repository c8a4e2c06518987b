/**
 * Crash safety of `git-midx write` (spec/midx-format.md §8.10): SIGKILL at random points, half of
 * them spread over the whole write and half inside the measured lock window, on a repository with an
 * existing MIDX plus new packs. After every kill the MIDX
 * is byte-identical to the old file or to the complete new one (never torn), git accepts it and can
 * read every object. A SIGKILL while the lock is held leaves a stale `.lock` behind — Git behaves the
 * same — which is counted and removed before the next round.
 *
 * Not part of `npm test` (run with `npm run test:long`; needs `dist/`, i.e. `npm run build`).
 * CRASH_ROUNDS (default 100) sets the number of kills, CRASH_SEED replays a run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeManyPacks, TestRepo } from '../test/helpers/git.js';
import { prng } from '../test/helpers/prng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

const OLD_PACKS = 30;
const NEW_PACKS = 70;
const PER_PACK = 2000;
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 100);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

interface Proc {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
  /** ms after spawn when `multi-pack-index.lock` appeared / the MIDX was renamed into place. */
  lockAt?: number;
  renameAt?: number;
}

/** Runs `bin/git-midx write`, optionally SIGKILLed `killAfter` ms after spawn. */
function runWrite(r: TestRepo, killAfter?: number): Promise<Proc> {
  const t0 = performance.now();
  const result: Partial<Proc> = {};
  const watcher = fs.watch(r.packDir, (_event, name) => {
    const t = performance.now() - t0;
    if (name === 'multi-pack-index.lock' && result.lockAt === undefined) result.lockAt = t;
    if (name === 'multi-pack-index' && result.lockAt !== undefined && result.renameAt === undefined) {
      result.renameAt = t;
    }
  });
  const child = spawn(bin, ['write'], { cwd: r.dir, env: r.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const timer = killAfter === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfter);
  return new Promise<Proc>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      if (timer) clearTimeout(timer);
      // Let inotify events already queued arrive before closing the watcher.
      setImmediate(() => {
        watcher.close();
        resolve({ ...result, code, signal, stderr, ms });
      });
    });
  });
}

function restoreMidx(r: TestRepo, bytes: Buffer): void {
  const tmp = path.join(r.packDir, 'restore.tmp');
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, r.midxPath);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type Outcome = 'before-lock' | 'stale-lock' | 'after-rename' | 'completed';

test(`SIGKILL at ${ROUNDS} random points of a write never tears the MIDX (seed ${SEED})`, async (t) => {
  const t0 = performance.now();
  const r = TestRepo.create();
  repos.push(r);
  makeManyPacks(r, OLD_PACKS, PER_PACK);
  r.git(['multi-pack-index', 'write']);
  const oldMidx = r.readMidx()!;
  makeManyPacks(r, NEW_PACKS, PER_PACK);
  const totalObjects = (OLD_PACKS + NEW_PACKS) * PER_PACK;
  r.git(['multi-pack-index', 'write']);
  const newMidx = r.readMidx()!;
  fs.rmSync(r.midxPath);
  r.git(['multi-pack-index', 'write']);
  assert.ok(r.readMidx()!.equals(newMidx), 'no duplicates: incremental and fresh writes agree');
  restoreMidx(r, oldMidx);
  const lockPath = `${r.midxPath}.lock`;
  t.diagnostic(
    `setup (${OLD_PACKS} + ${NEW_PACKS} packs × ${PER_PACK}): ${(performance.now() - t0).toFixed(0)} ms`,
  );

  // Measure an uninterrupted write (and check it), to spread the kills over its whole duration.
  const runs: Proc[] = [];
  for (let i = 0; i < 5; i++) {
    restoreMidx(r, oldMidx);
    const p = await runWrite(r);
    assert.equal(p.code, 0, p.stderr);
    assert.ok(r.readMidx()!.equals(newMidx), "an uninterrupted write gives git's file");
    assert.ok(!fs.existsSync(lockPath));
    runs.push(p);
  }
  const duration = median(runs.map((p) => p.ms));
  const lockAt = median(runs.map((p) => p.lockAt ?? Number.NaN));
  const renameAt = median(runs.map((p) => p.renameAt ?? Number.NaN));
  t.diagnostic(
    `uninterrupted write: ${duration.toFixed(0)} ms (runs ${runs.map((p) => p.ms.toFixed(0)).join(', ')}); ` +
      `lock created at ≈ ${lockAt.toFixed(0)} ms, renamed at ≈ ${renameAt.toFixed(0)} ms`,
  );

  const rand = prng(SEED);
  const counts: Record<Outcome, number> = {
    'before-lock': 0,
    'stale-lock': 0,
    'after-rename': 0,
    completed: 0,
  };
  const delays: Record<Outcome, number[]> = {
    'before-lock': [],
    'stale-lock': [],
    'after-rename': [],
    completed: [],
  };
  let staleIsPrefix = 0;
  let staleChecked = false;

  for (let round = 0; round < ROUNDS; round++) {
    restoreMidx(r, oldMidx);
    assert.ok(!fs.existsSync(lockPath));
    // Even rounds: anywhere in the whole write (and a little after). Odd rounds: inside the
    // measured lock window (± a margin), where the interesting states are.
    const focus = round % 2 === 1 && Number.isFinite(lockAt) && Number.isFinite(renameAt);
    const delay = focus
      ? Math.round(lockAt - 15 + rand() * (renameAt - lockAt + 30))
      : Math.round(rand() * 1.1 * duration);
    const p = await runWrite(r, delay);
    const what = `round ${round}, kill at ${delay} ms (seed ${SEED})`;

    const midx = r.readMidx();
    assert.ok(midx, `${what}: the MIDX exists`);
    const isOld = midx.equals(oldMidx);
    const isNew = midx.equals(newMidx);
    assert.ok(isOld || isNew, `${what}: the MIDX is the old or the new file, never torn`);
    const stale = fs.existsSync(lockPath);

    let outcome: Outcome;
    if (p.signal === null) {
      assert.equal(p.code, 0, `${what}: ${p.stderr}`);
      assert.ok(isNew && !stale, `${what}: a finished write left the new file and no lock`);
      outcome = 'completed';
    } else {
      assert.equal(p.signal, 'SIGKILL', what);
      if (isNew) {
        assert.ok(!stale, `${what}: after the rename there is no lock`);
        outcome = 'after-rename';
      } else {
        outcome = stale ? 'stale-lock' : 'before-lock';
      }
    }
    counts[outcome]++;
    delays[outcome].push(delay);

    const v = r.git(['multi-pack-index', 'verify'], { allowFail: true });
    assert.equal(v.status, 0, `${what}: verify: ${v.stderr}`);
    const c = r.git(['cat-file', '--batch-check', '--batch-all-objects'], { allowFail: true });
    assert.equal(c.status, 0, `${what}: cat-file: ${c.stderr}`);
    const lines = c.stdout.toString('utf8').trimEnd().split('\n');
    assert.equal(lines.length, totalObjects, `${what}: every object is readable`);
    assert.ok(!lines.some((l) => l.endsWith(' missing')), what);

    if (stale) {
      const partial = fs.readFileSync(lockPath);
      if (newMidx.subarray(0, partial.length).equals(partial)) staleIsPrefix++;
      if (!staleChecked) {
        // A stale lock blocks git and us alike, with the same message, until it is removed.
        staleChecked = true;
        const g = r.git(['multi-pack-index', 'write'], { allowFail: true });
        const o = await runWrite(r);
        assert.equal(g.status, 128, g.stderr);
        assert.equal(o.code, 128, o.stderr);
        assert.equal(o.stderr, g.stderr);
        assert.ok(r.readMidx()!.equals(oldMidx));
      }
      fs.rmSync(lockPath);
    }
  }

  const range = (xs: number[]) => (xs.length ? `${Math.min(...xs)}–${Math.max(...xs)} ms` : '–');
  t.diagnostic(
    `${ROUNDS} kills (half over 0–${Math.round(1.1 * duration)} ms, half over the lock window ` +
      `${Math.round(lockAt - 15)}–${Math.round(renameAt + 15)} ms): ` +
      (Object.keys(counts) as Outcome[]).map((k) => `${k} ${counts[k]} (${range(delays[k])})`).join(', '),
  );
  t.diagnostic(`stale locks: ${counts['stale-lock']}, of which a prefix of the new file: ${staleIsPrefix}`);
  assert.ok(counts['before-lock'] + counts['stale-lock'] > 0, 'some kills landed before the rename');
  assert.ok(counts['after-rename'] + counts.completed > 0, 'some kills landed after the rename');

  // And the repository is still writable afterwards.
  restoreMidx(r, oldMidx);
  const last = await runWrite(r);
  assert.equal(last.code, 0, last.stderr);
  assert.ok(r.readMidx()!.equals(newMidx));
  t.diagnostic(`total: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});
