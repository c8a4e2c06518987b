/**
 * Crash safety of the maintenance verbs (spec/midx-format.md §12, §13): `git-midx expire` and
 * `git-midx repack --batch-size=0` are SIGKILLed at random points — half spread over the measured
 * duration of an uninterrupted run, half inside the measured window where files in objects/pack
 * change (from the first created `.lock`/`tmp_` file to the last unlink/rename). Every round starts
 * from a fresh copy of the same starting repository (mtimes preserved), and after every kill:
 *
 *   - `git fsck --full` passes;
 *   - every object of the starting repository is still readable by `git cat-file --batch`, with
 *     identical content (one digest over the whole output, compared with the starting one);
 *   - the MIDX is still there and `git multi-pack-index verify` passes;
 *   - the verb's own invariants hold (expire: the MIDX is the old or the new file, and no pack file
 *     is deleted before the new MIDX is in place; repack: no pack is deleted);
 *   - on every fifth kill, and after every kill that left a rare state (expire: new MIDX but dropped
 *     files not all deleted; repack: new pack in place but MIDX not rewritten, or a `.pack` without
 *     its `.idx`), running the verb again to completion succeeds and leaves a repository passing all
 *     of the above (expire: with the very MIDX an uninterrupted run writes).
 *
 * The kill goes to the whole process group, so a child the verb spawned (`git pack-objects`) dies
 * with it instead of finishing on its own. Leftovers Git also leaves on SIGKILL — a stale
 * `multi-pack-index.lock`, `tmp_pack_*`/`tmp_idx_*` files, a `.pack` without its `.idx` — are
 * allowed and counted; a stale lock is removed after each round, as crash.test.ts does.
 *
 * Not part of `npm test` (run with `npm run test:long`; needs `dist/`, i.e. `npm run build`).
 * CRASH_KILLS (default 50) sets the kills per verb: rounds go on until that many runs were killed
 * (some runs finish before their kill time; at most 4× as many rounds);
 * CRASH_SEED replays a run's kill times.
 * CRASH_IMPL=git runs Git's own `git multi-pack-index <verb>` through the same harness instead (a
 * check of the harness: Git 2.39 deletes the packs before rewriting the MIDX, so its expire fails
 * here when a kill lands between the two).
 * The repack test is skipped while `git-midx repack` does not exist.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BASE_MTIME, makeManyPacks, TestRepo } from '../test/helpers/git.js';
import { prng } from '../test/helpers/prng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

const KILLS = Number(process.env.CRASH_KILLS ?? 50);
const MAX_ROUNDS = 4 * KILLS;
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const IMPL: 'git-midx' | 'git' = process.env.CRASH_IMPL === 'git' ? 'git' : 'git-midx';
/** Uninterrupted runs measured before the kills. */
const MEASURE_RUNS = 5;
/** Every n-th kill is followed by a re-run of the verb to completion. */
const RERUN_EVERY = 5;
/** Extra time around the measured change window for the focused kills, in ms. */
const WINDOW_MARGIN = 5;

const DAY = 86_400;
const LOCK = 'multi-pack-index.lock';

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// ---------------------------------------------------------------------------------------------
// The state of objects/pack

/** What a kill can leave in objects/pack. */
export interface PackDirState {
  /** Every name in objects/pack, sorted. */
  names: string[];
  midx: Buffer | undefined;
  lock: boolean;
  /** `tmp_*` files (pack-objects' temporaries). */
  tmp: string[];
  /** `<stem>.pack` without `<stem>.idx`, and the reverse. */
  packWithoutIdx: string[];
  idxWithoutPack: string[];
}

export function packDirState(packDir: string): PackDirState {
  const names = fs.readdirSync(packDir).sort();
  const has = new Set(names);
  const stems = (ext: string) => names.filter((n) => n.endsWith(ext)).map((n) => n.slice(0, -ext.length));
  let midx: Buffer | undefined;
  try {
    midx = fs.readFileSync(path.join(packDir, 'multi-pack-index'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return {
    names,
    midx,
    lock: has.has(LOCK),
    tmp: names.filter((n) => n.startsWith('tmp_')),
    packWithoutIdx: stems('.pack').filter((s) => !has.has(`${s}.idx`)),
    idxWithoutPack: stems('.idx').filter((s) => !has.has(`${s}.pack`)),
  };
}

function sameMidx(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a !== undefined && b !== undefined && a.equals(b);
}

function minus(a: readonly string[], b: readonly string[]): string[] {
  const s = new Set(b);
  return a.filter((x) => !s.has(x));
}

// ---------------------------------------------------------------------------------------------
// Running a verb

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
  /** ms after spawn of the first and the last change seen in objects/pack (fs.watch). */
  firstChange?: number;
  lastChange?: number;
  changes: number;
}

function verbCommand(args: readonly string[]): [string, string[]] {
  return IMPL === 'git' ? ['git', ['multi-pack-index', ...args]] : [bin, [...args]];
}

/**
 * Whether a process of the process group `pgid` is still running. A killed grandchild stays a zombie
 * until init reaps it, which can take a while in a container; on Linux zombies count as gone.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // After "pid (comm) ": state, ppid, pgrp, …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

/**
 * Runs the verb in `r`, watching objects/pack; with `killAfter`, SIGKILLs its whole process group
 * that many ms after spawn. Resolves once the process has exited and its group is gone.
 */
function runVerb(r: TestRepo, args: readonly string[], killAfter?: number): Promise<Run> {
  const t0 = performance.now();
  const run: Run = { code: null, signal: null, stderr: '', ms: 0, changes: 0 };
  const watcher = fs.watch(r.packDir, () => {
    const t = performance.now() - t0;
    run.firstChange ??= t;
    run.lastChange = t;
    run.changes++;
  });
  const [cmd, argv] = verbCommand(args);
  const child = spawn(cmd, argv, {
    cwd: r.dir,
    env: r.env,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    run.stderr += s;
  });
  const pgid = child.pid;
  let exited = false;
  const timer =
    killAfter === undefined
      ? undefined
      : setTimeout(() => {
          if (pgid !== undefined && !exited) {
            try {
              process.kill(-pgid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }, killAfter);
  return new Promise<Run>((resolve, reject) => {
    child.on('error', (err) => {
      watcher.close();
      reject(err);
    });
    child.on('exit', () => {
      exited = true;
    });
    child.on('close', async (code, signal) => {
      run.ms = performance.now() - t0;
      if (timer) clearTimeout(timer);
      // A child of a killed verb dies with it; wait until the group is gone (bounded).
      for (let i = 0; pgid !== undefined && i < 100 && groupAlive(pgid); i++) {
        await new Promise((res) => setTimeout(res, 10));
      }
      // Let inotify events already queued arrive before closing the watcher.
      setImmediate(() => {
        watcher.close();
        run.code = code;
        run.signal = signal;
        resolve(run);
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Checks on a repository

/**
 * The object ids of the starting repository, one per line, in pack order (`--unordered`): reading
 * them back in that order keeps git's delta-base cache warm.
 */
function allObjectIds(r: TestRepo): string {
  return r
    .git(['cat-file', '--batch-all-objects', '--batch-check=%(objectname)', '--unordered'])
    .stdout.toString('utf8');
}

/**
 * `git cat-file --batch` of the objects listed in `oidsFile`: a digest of the whole output (header
 * and content of each object, in input order), and the number of objects reported missing. Input and
 * output go through files (`scratch`), which is twice as fast as pipes for these sizes.
 */
function contentDigest(
  r: TestRepo,
  oidsFile: string,
  scratch: string,
): { digest: string; missing: number; status: number; stderr: string } {
  const outFile = path.join(scratch, 'cat-file.out');
  const input = fs.openSync(oidsFile, 'r');
  const output = fs.openSync(outFile, 'w');
  let c: ReturnType<typeof spawnSync>;
  try {
    c = spawnSync('git', ['cat-file', '--batch', '--buffer'], {
      cwd: r.dir,
      env: r.env,
      stdio: [input, output, 'pipe'],
      encoding: 'utf8',
    });
  } finally {
    fs.closeSync(input);
    fs.closeSync(output);
  }
  const out = fs.readFileSync(outFile);
  const digest = createHash('sha256').update(out).digest('hex');
  let missing = 0;
  for (let i = out.indexOf(' missing\n'); i >= 0; i = out.indexOf(' missing\n', i + 1)) missing++;
  return { digest, missing, status: c.status ?? -1, stderr: String(c.stderr ?? c.error ?? '') };
}

interface Reference {
  pristine: PackDirState;
  /** State after the first uninterrupted run. */
  final: PackDirState;
  /** The starting repository's object ids (a file, one per line) and how many. */
  oidsFile: string;
  objects: number;
  /** Where `git cat-file --batch` writes its output. */
  scratch: string;
  digest: string;
}

type Notes = Map<string, number>;

function note(notes: Notes, what: string, n = 1): void {
  if (n > 0) notes.set(what, (notes.get(what) ?? 0) + n);
}

/** Time spent per step, in ms, for the summary. */
const spent = new Map<string, number>();

function timed<T>(step: string, fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    spent.set(step, (spent.get(step) ?? 0) + performance.now() - t0);
  }
}

/** fsck, every object readable with the same content, the MIDX present and verified. */
function checkRepository(r: TestRepo, ref: Reference, what: string): void {
  const f = timed('fsck', () =>
    r.git(['fsck', '--full', '--no-dangling', '--no-progress'], { allowFail: true }),
  );
  assert.equal(f.status, 0, `${what}: git fsck --full: ${f.stderr}`);
  const c = timed('cat-file', () => contentDigest(r, ref.oidsFile, ref.scratch));
  assert.equal(c.status, 0, `${what}: git cat-file --batch failed: ${c.stderr}`);
  assert.ok(
    c.digest === ref.digest,
    `${what}: the objects do not all read back with their original content ` +
      `(${c.missing} of ${ref.objects} reported missing)`,
  );
  assert.ok(fs.existsSync(r.midxPath), `${what}: the MIDX is still there`);
  const v = timed('verify', () => r.git(['multi-pack-index', 'verify'], { allowFail: true }));
  assert.equal(v.status, 0, `${what}: git multi-pack-index verify: ${v.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// The verbs

interface Verb {
  name: string;
  args: string[];
  /** Builds the starting repository; returns a description for the log. */
  setup(r: TestRepo): string;
  /** Checks an uninterrupted run's result against the starting state. */
  checkCompleted(s: PackDirState, ref: Pick<Reference, 'pristine'>, what: string): void;
  /** Whether the result of the run under test must be byte-identical to Git's (names and MIDX). */
  sameAsGit: boolean;
  /** Whether a killed run left exactly what a finished run leaves. */
  isFinal(s: PackDirState, ref: Reference): boolean;
  /** The verb's own invariants after a kill (the state includes any stale lock). */
  checkKilled(s: PackDirState, ref: Reference, what: string, notes: Notes): void;
  /** A rare state after a kill that is always followed by a re-run, not only every fifth time. */
  rareState(s: PackDirState, ref: Reference): boolean;
  /** After a killed run and a re-run to completion. */
  checkRerun(s: PackDirState, ref: Reference, what: string, notes: Notes): void;
}

const EXPIRE_PACKS = 40;
const EXPIRE_PER_PACK = 2500;
/** Packs 0..EXPIRE_DROP−1 are made redundant by a newer pack, so expire drops them. */
const EXPIRE_DROP = 16;

const expireVerb: Verb = {
  name: 'expire',
  args: ['expire'],
  sameAsGit: true,
  setup(r) {
    const { stems, oids } = makeManyPacks(r, EXPIRE_PACKS, EXPIRE_PER_PACK);
    r.git(['multi-pack-index', 'write']);
    // A newer pack holding every object of the first packs: the MIDX rewritten on top of the old
    // one takes those objects from it (old entries count as mtime 0, §8.5), leaving them unreferenced.
    const newer = r.packObjects(oids.slice(0, EXPIRE_DROP * EXPIRE_PER_PACK), {
      mtime: BASE_MTIME + (EXPIRE_PACKS + 10) * DAY,
    });
    r.git(['multi-pack-index', 'write']);
    const plan = spawnSync(bin, ['expire', '--dry-run'], { cwd: r.dir, env: r.env, encoding: 'utf8' });
    assert.equal(plan.status, 0, plan.stderr);
    for (const stem of stems.slice(0, EXPIRE_DROP)) assert.ok(plan.stdout.includes(`would drop ${stem}.idx`));
    assert.ok(plan.stdout.includes(`${EXPIRE_DROP} pack(s) to drop`), plan.stdout);
    return (
      `${EXPIRE_PACKS} packs × ${EXPIRE_PER_PACK} objects + 1 newer pack (${newer.slice(0, 12)}…) ` +
      `holding all objects of ${EXPIRE_DROP} of them`
    );
  },
  checkCompleted(s, ref, what) {
    const removed = minus(ref.pristine.names, s.names);
    const added = minus(s.names, ref.pristine.names);
    assert.deepEqual(added, [], `${what}: expire adds no file`);
    assert.equal(removed.length, EXPIRE_DROP * 2, `${what}: the .idx and .pack of ${EXPIRE_DROP} packs go`);
    assert.ok(s.midx && !sameMidx(s.midx, ref.pristine.midx), `${what}: the MIDX was rewritten`);
    assert.ok(!s.lock && s.tmp.length === 0, what);
  },
  isFinal(s, ref) {
    return !s.lock && sameMidx(s.midx, ref.final.midx) && s.names.join('\n') === ref.final.names.join('\n');
  },
  checkKilled(s, ref, what, notes) {
    const isOld = sameMidx(s.midx, ref.pristine.midx);
    const isNew = sameMidx(s.midx, ref.final.midx);
    assert.ok(isOld || isNew, `${what}: the MIDX is the old or the new file, never torn`);
    const gone = minus(ref.pristine.names, s.names);
    const extra = minus(s.names, ref.pristine.names);
    assert.deepEqual(
      extra.filter((n) => n !== LOCK),
      [],
      `${what}: expire creates no file but its lock`,
    );
    if (isOld) {
      // The MIDX is rewritten before any pack is deleted (src/node/expire.ts).
      assert.deepEqual(gone, [], `${what}: no pack file is deleted while the old MIDX is in place`);
    } else {
      assert.ok(!s.lock, `${what}: no lock is left after the rename`);
      assert.deepEqual(
        minus(gone, minus(ref.pristine.names, ref.final.names)),
        [],
        `${what}: only dropped files go`,
      );
      const left = minus(s.names, ref.final.names);
      if (left.length > 0) note(notes, 'new MIDX, some dropped files still present');
      if (s.packWithoutIdx.length > 0) note(notes, 'new MIDX, a dropped .pack without its .idx');
    }
    assert.deepEqual(s.idxWithoutPack, [], `${what}: no .idx without its .pack`);
  },
  rareState(s, ref) {
    // Killed between the MIDX rename and the last unlink.
    return sameMidx(s.midx, ref.final.midx) && minus(s.names, ref.final.names).length > 0;
  },
  checkRerun(s, ref, what, notes) {
    assert.ok(
      sameMidx(s.midx, ref.final.midx),
      `${what}: the re-run leaves the MIDX of an uninterrupted run`,
    );
    assert.deepEqual(minus(ref.final.names, s.names), [], `${what}: the packs that stay are all there`);
    const left = minus(s.names, ref.final.names);
    // Files a kill left after the rename stay (they are in no MIDX any more; a later `write` indexes
    // them again, as with Git).
    note(notes, 're-run: dropped files left over (unreferenced, outside the MIDX)', left.length > 0 ? 1 : 0);
  },
};

const REPACK_PACKS = 30;
const REPACK_PER_PACK = 2500;

const repackVerb: Verb = {
  name: 'repack',
  args: ['repack', '--batch-size=0'],
  sameAsGit: false,
  setup(r) {
    makeManyPacks(r, REPACK_PACKS, REPACK_PER_PACK, { duplicateEvery: 100 });
    r.git(['multi-pack-index', 'write']);
    return `${REPACK_PACKS} packs × ${REPACK_PER_PACK} objects (+ every 100th of the previous pack), one MIDX`;
  },
  checkCompleted(s, ref, what) {
    assert.deepEqual(minus(ref.pristine.names, s.names), [], `${what}: repack deletes no file`);
    const added = minus(s.names, ref.pristine.names);
    assert.equal(added.filter((n) => n.endsWith('.pack')).length, 1, `${what}: one new pack (${added})`);
    assert.equal(added.filter((n) => n.endsWith('.idx')).length, 1, `${what}: one new .idx (${added})`);
    assert.ok(s.midx && !sameMidx(s.midx, ref.pristine.midx), `${what}: the MIDX was rewritten`);
    assert.ok(!s.lock && s.tmp.length === 0 && s.packWithoutIdx.length === 0, what);
  },
  isFinal(s, ref) {
    return (
      !s.lock &&
      s.tmp.length === 0 &&
      s.packWithoutIdx.length === 0 &&
      s.midx !== undefined &&
      !sameMidx(s.midx, ref.pristine.midx) &&
      s.names.length === ref.final.names.length
    );
  },
  checkKilled(s, ref, what, notes) {
    assert.deepEqual(minus(ref.pristine.names, s.names), [], `${what}: repack deletes no file`);
    assert.deepEqual(s.idxWithoutPack, [], `${what}: no .idx without its .pack`);
    const midxChanged = !sameMidx(s.midx, ref.pristine.midx);
    if (s.tmp.length > 0) note(notes, 'tmp_* files left');
    if (s.packWithoutIdx.length > 0) note(notes, '.pack without .idx');
    if (midxChanged) note(notes, 'MIDX rewritten');
    else if (minus(s.names, ref.pristine.names).some((n) => n.endsWith('.idx'))) {
      note(notes, 'new pack in place, MIDX not yet rewritten');
    }
  },
  rareState(s, ref) {
    // Killed between the `.pack` and the `.idx` rename, or before the MIDX was rewritten.
    const newIdx = minus(s.names, ref.pristine.names).some((n) => n.endsWith('.idx'));
    return s.packWithoutIdx.length > 0 || (newIdx && sameMidx(s.midx, ref.pristine.midx));
  },
  checkRerun(s, _ref, what, notes) {
    assert.ok(s.midx, `${what}: a MIDX after the re-run`);
    note(notes, 're-run: tmp_* files still there (from the kill)', s.tmp.length > 0 ? 1 : 0);
  },
};

// ---------------------------------------------------------------------------------------------
// The harness

type Outcome = 'before-change' | 'mid-way' | 'after-last-change' | 'completed';

function restore(r: TestRepo, template: string): void {
  timed('restore', () => {
    fs.rmSync(r.dir, { recursive: true, force: true });
    fs.cpSync(template, r.dir, { recursive: true, preserveTimestamps: true });
  });
}

/** Keeps a failing round's repository for inspection and says where in the error. */
function keepOnFailure<T>(r: TestRepo, verb: Verb, round: number, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const keep = fs.mkdtempSync(path.join(os.tmpdir(), `git-midx-crash-${verb.name}-${SEED}-${round}-`));
    fs.cpSync(r.dir, keep, { recursive: true, preserveTimestamps: true });
    if (err instanceof Error) err.message += `\n(the repository is kept in ${keep})`;
    throw err;
  }
}

async function crashLoop(t: TestContext, verb: Verb): Promise<void> {
  const t0 = performance.now();
  spent.clear();
  const r = TestRepo.create();
  repos.push(r);
  const described = verb.setup(r);
  const template = path.join(r.scratchDir(), 'template');
  fs.cpSync(r.dir, template, { recursive: true, preserveTimestamps: true });
  const scratch = r.scratchDir();
  const oids = allObjectIds(r);
  const objects = oids.split('\n').length - 1;
  const oidsFile = path.join(scratch, 'oids');
  fs.writeFileSync(oidsFile, oids);
  const start = contentDigest(r, oidsFile, scratch);
  assert.equal(start.status, 0, start.stderr);
  assert.equal(start.missing, 0, 'every object of the starting repository reads');
  const pristine = packDirState(r.packDir);
  const partial = { pristine, oidsFile, objects, scratch, digest: start.digest };
  checkRepository(r, { ...partial, final: pristine }, 'starting repository');
  t.diagnostic(
    `${verb.name}: ${described}; ${objects} objects; setup ${(performance.now() - t0).toFixed(0)} ms`,
  );

  // Uninterrupted runs: their result, their duration and when files change.
  const runs: Run[] = [];
  let final: PackDirState | undefined;
  for (let i = 0; i < MEASURE_RUNS; i++) {
    restore(r, template);
    const p = await runVerb(r, verb.args);
    assert.equal(p.code, 0, p.stderr);
    const s = packDirState(r.packDir);
    verb.checkCompleted(s, partial, `uninterrupted run ${i}`);
    if (final === undefined) {
      final = s;
      checkRepository(r, { ...partial, final }, 'after an uninterrupted run');
    } else if (verb.sameAsGit) {
      assert.deepEqual(s.names, final.names, 'uninterrupted runs agree');
      assert.ok(sameMidx(s.midx, final.midx), 'uninterrupted runs agree');
    }
    runs.push(p);
  }
  assert.ok(final);
  const ref: Reference = { ...partial, final };
  if (verb.sameAsGit) {
    restore(r, template);
    r.git(['multi-pack-index', ...verb.args]);
    const g = packDirState(r.packDir);
    assert.deepEqual(final.names, g.names, `the same files as git multi-pack-index ${verb.args.join(' ')}`);
    assert.ok(sameMidx(final.midx, g.midx), `a MIDX byte-identical to git multi-pack-index ${verb.name}'s`);
  }
  const duration = median(runs.map((p) => p.ms));
  const winStart = median(runs.map((p) => p.firstChange ?? Number.NaN));
  const winEnd = median(runs.map((p) => p.lastChange ?? Number.NaN));
  assert.ok(Number.isFinite(winStart) && Number.isFinite(winEnd), 'the runs changed files in objects/pack');
  t.diagnostic(
    `uninterrupted ${IMPL} ${verb.args.join(' ')}: ${duration.toFixed(0)} ms ` +
      `(runs ${runs.map((p) => p.ms.toFixed(0)).join(', ')}); files change from ≈ ${winStart.toFixed(0)} ` +
      `to ≈ ${winEnd.toFixed(0)} ms (${median(runs.map((p) => p.changes))} fs events)`,
  );

  const rand = prng(SEED);
  const outcomes: Outcome[] = ['before-change', 'mid-way', 'after-last-change', 'completed'];
  const counts = new Map<Outcome, number[]>(outcomes.map((o) => [o, []]));
  const notes: Notes = new Map();
  let inWindow = 0;
  let kills = 0;
  let reruns = 0;
  const lo = Math.max(0, winStart - WINDOW_MARGIN);
  const hi = winEnd + WINDOW_MARGIN;

  let rounds = 0;
  for (let round = 0; kills < KILLS && round < MAX_ROUNDS; round++) {
    rounds++;
    restore(r, template);
    // Even rounds: anywhere in the whole run (and a little after). Odd rounds: inside the measured
    // window where files change (± a margin).
    const delay = round % 2 === 1 ? Math.round(lo + rand() * (hi - lo)) : Math.round(rand() * 1.1 * duration);
    if (delay >= winStart && delay <= winEnd) inWindow++;
    const tRun = performance.now();
    const p = await runVerb(r, verb.args, delay);
    spent.set('killed runs', (spent.get('killed runs') ?? 0) + performance.now() - tRun);
    const what = `${verb.name} round ${round}, kill at ${delay} ms (seed ${SEED})`;
    const s = packDirState(r.packDir);

    const outcome = keepOnFailure(r, verb, round, (): Outcome => {
      let outcome: Outcome;
      if (p.signal === null) {
        assert.equal(p.code, 0, `${what}: ${p.stderr}`);
        assert.ok(verb.isFinal(s, ref), `${what}: a finished run leaves the final state`);
        outcome = 'completed';
      } else {
        assert.equal(p.signal, 'SIGKILL', what);
        kills++;
        verb.checkKilled(s, ref, what, notes);
        if (s.names.join('\n') === pristine.names.join('\n') && sameMidx(s.midx, pristine.midx)) {
          outcome = 'before-change';
        } else if (verb.isFinal(s, ref)) {
          outcome = 'after-last-change';
        } else {
          outcome = 'mid-way';
        }
      }
      note(notes, 'tmp_* files (total)', s.tmp.length);
      note(notes, '.pack without .idx (total)', s.packWithoutIdx.length);
      checkRepository(r, ref, what);
      return outcome;
    });
    counts.get(outcome)!.push(delay);
    // A stale lock (Git leaves one too) blocks the next run, for git and us alike, until removed.
    if (s.lock) {
      note(notes, 'stale lock (removed)');
      fs.rmSync(path.join(r.packDir, LOCK));
    }

    if (outcome !== 'completed' && (kills % RERUN_EVERY === 0 || verb.rareState(s, ref))) {
      const again = await runVerb(r, verb.args);
      reruns++;
      keepOnFailure(r, verb, round, () => {
        assert.equal(again.code, 0, `${what}, re-run: ${again.stderr}`);
        const s2 = packDirState(r.packDir);
        assert.ok(!s2.lock, `${what}, re-run: no lock left`);
        verb.checkRerun(s2, ref, `${what}, re-run`, notes);
        checkRepository(r, ref, `${what}, re-run`);
      });
    }
  }

  const range = (xs: number[]) => (xs.length ? `${Math.min(...xs)}–${Math.max(...xs)} ms` : '–');
  t.diagnostic(
    `${rounds} rounds, ${kills} kills (half over 0–${Math.round(1.1 * duration)} ms, half over ` +
      `${Math.round(lo)}–${Math.round(hi)} ms; ${inWindow} inside the change window): ` +
      outcomes.map((o) => `${o} ${counts.get(o)!.length} (${range(counts.get(o)!)})`).join(', '),
  );
  t.diagnostic(
    `left behind: ${[...notes].map(([k, n]) => `${k}: ${n}`).join('; ') || 'nothing'}; ` +
      `${reruns} re-runs to completion`,
  );
  assert.ok(kills >= KILLS, `${kills} kills in ${rounds} rounds, ${KILLS} wanted`);
  if (KILLS >= 30) {
    assert.ok(counts.get('mid-way')!.length > 0, 'some kills landed while files were changing');
    assert.ok(counts.get('before-change')!.length > 0, 'some kills landed before any change');
  }
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  t.diagnostic(
    `${verb.name} total: ${secs(performance.now() - t0)} (${[...spent].map(([k, ms]) => `${k} ${secs(ms)}`).join(', ')})`,
  );
}

// ---------------------------------------------------------------------------------------------

/** Why the repack test cannot run yet, or undefined when `git-midx repack` exists. */
function repackMissing(): string | undefined {
  if (IMPL === 'git') return undefined;
  const h = spawnSync(bin, ['repack', '--help'], { encoding: 'utf8' });
  const usage = /\brepack\b/.test(h.stdout ?? '');
  if ((h.status === 0 || h.status === 129) && usage && !/unknown subcommand/.test(h.stderr ?? '')) {
    return undefined;
  }
  const why = (h.stderr || h.stdout || '').split('\n')[0] || `exit ${h.status}`;
  return `git-midx repack is not available yet (bin/git-midx repack --help: ${why})`;
}

test(`SIGKILL at ${KILLS} random points of ${IMPL} expire (seed ${SEED})`, async (t) => {
  await crashLoop(t, expireVerb);
});

test(`SIGKILL at ${KILLS} random points of ${IMPL} repack --batch-size=0 (seed ${SEED})`, {
  skip: repackMissing(),
}, async (t) => {
  await crashLoop(t, repackVerb);
});
