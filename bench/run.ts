/**
 * `npm run bench`: git-midx against the real git, side by side, on the cached benchmark corpus
 * (bench/corpus.ts: a bare SHA-1 repository with 2,000,000 small blobs in 200 packs).
 *
 * 1. write: `git multi-pack-index write` vs `bin/git-midx write`, whole processes, each from the same
 *    state (no MIDX, so both do a full write), interleaved; our file is compared with git's bytes.
 * 2. CLI lookups: 100,000 present ids through `bin/git-midx lookup --stdin` vs
 *    `git cat-file --batch-check='%(objectname)'` (the MIDX present), stdin and stdout being files;
 *    `git cat-file --buffer` (no flush per object) is shown beside it for information.
 * 3. In-process `findPosition` rate, hits and misses separately, in a fresh process (bench/inproc.ts).
 * 4. Peak RSS of our write (GNU time `%M`, or a Node wrapper printing `maxRSS`).
 * 5. `cat-file --batch-check` and `--batch` on 100,000 random ids vs `git cat-file` (same ids,
 *    stdin and stdout files, outputs compared byte for byte), on this corpus and on the history
 *    corpus (ensureHistoryCorpus: 3,000 commits split into 100 packs, MIDX written by git).
 *    Targets: ≤ 1.5× and ≤ 2.0× git's wall time. Then `--batch-check --batch-all-objects` (the
 *    default format, and `%(objectname) %(objectsize:disk) %(deltabase)`) on the history corpus
 *    (or the repository given): target ≤ 1.0× after node's start-up.
 * 6. In-process `ObjectStore.readObject` on 10,000 random ids of the history corpus vs
 *    isomorphic-git's `readObject` (format 'content': the inflated, delta-resolved object, as ours
 *    returns it), both warm (a warm-up pass, then timed passes with the same store / cache
 *    object); target ≥ 20× isomorphic-git's throughput.
 *
 * 7. `verify` vs `git multi-pack-index verify` (git's MIDX, both corpora; target ≤ 1.0×) and
 *    `repack --batch-size=0` vs git's (each run on a fresh copy; target ≤ 2.0×; after each of our
 *    runs git's verify must pass and `cat-file --batch-all-objects` must list the same objects).
 *
 * Options: `--quick` (fewer runs), `--runs N` (timed runs per side; default 5, quick 3).
 * Prints one table at the end and writes everything to `.bench-cache/results.json`.
 * A correctness check failing (bytes differ, wrong lookup output) sets exit status 1; missed
 * performance targets are only reported.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as nodeFs from 'node:fs';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as isoGit from 'isomorphic-git';
import { fromHex } from '../src/bytes.js';
import { SHA1 } from '../src/hash.js';
import { ObjectStore } from '../src/node/odb.js';
import { gitEnv } from '../test/helpers/git.js';
import {
  type Corpus,
  ensureCorpus,
  ensureHistoryCorpus,
  ensureRepoCorpus,
  type HistoryCorpus,
  sampleOids,
} from './corpus.js';
import { buildPeer, libgit2Rows } from './libgit2.js';
import { median, peakRssGnuTime, peakRssNodeWrapper, rssMethod, type Timed, timeSpawn } from './measure.js';
import { asyncRows, bitmapRows, eventLoopRows, httpRows } from './remote.js';
import type { Row } from './row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, '.bench-cache');
const BIN = join(ROOT, 'bin', 'git-midx');
const MAIN_JS = join(ROOT, 'dist', 'cli', 'main.js');

const CLI_LOOKUPS = 100_000;
const INPROC_IDS = 1_000_000;
const INPROC_TARGET_RATE = 2_000_000;
/** In-process timing: at least this long in total per case, and at least MIN_REPS full passes. */
const INPROC_MIN_MS = 1000;
const INPROC_MIN_REPS = 3;
const INPROC_MAX_REPS = 15;
const CAT_FILE_IDS = 100_000;
const CAT_FILE_TARGETS = { '--batch-check': 1.5, '--batch': 2.0 } as const;
const READ_OBJECT_IDS = 10_000;
const READ_OBJECT_TARGET = 20;

const USAGE = 'usage: npm run bench [-- [--quick] [--runs N] [--repo <path> [--packs N]]]';
let quick = false;
let runs = 5;
/** `--repo`: a real repository to split into packs and measure on instead of the built-in corpora. */
let repoArg: string | undefined;
let packsArg = 150;
try {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      repo: { type: 'string' },
      packs: { type: 'string' },
    },
  });
  repoArg = values.repo;
  if (values.packs !== undefined) packsArg = Number(values.packs);
  if (!Number.isInteger(packsArg) || packsArg < 2) throw new RangeError('--packs must be a whole number ≥ 2');
  quick = values.quick === true;
  runs = values.runs === undefined ? (quick ? 3 : 5) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be a whole number ≥ 1`);
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}

const log = (s: string) => console.error(`[bench] ${s}`);

/** Wall and CPU milliseconds of a series of runs. */
class Series {
  readonly ms: number[] = [];
  readonly cpuMs: number[] = [];
  add(t: Timed): Timed {
    this.ms.push(t.ms);
    if (t.cpuMs !== undefined) this.cpuMs.push(t.cpuMs);
    return t;
  }
}

/**
 * `node -e 0`, timed among a row's own runs: what a row's "ratio − node" subtracts is Node's
 * start-up at the moment that row ran (on a busy machine it varies by tens of milliseconds
 * between rows measured minutes apart).
 */
function nodeSample(into: Series): void {
  into.add(timeSpawn(process.execPath, ['-e', '0'], { cwd: ROOT }));
}

interface Machine {
  node: string;
  git: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  platform: string;
  loadAvg: { start: number; end: number };
  corpus: string;
  runs: number;
  quick: boolean;
}

const rows: Row[] = [];
let correctnessFailed = false;
/** Puts the corpus's MIDX back as it was (set while the bench may have replaced or removed it). */
let restoreMidx: (() => void) | undefined;

async function main(): Promise<void> {
  const t0 = performance.now();
  // With --repo, the real repository split into packs stands in for both built-in corpora.
  const corpus =
    repoArg !== undefined ? ensureRepoCorpus(repoArg, packsArg, { log }) : await ensureCorpus({ log });
  const objectDir = corpus.objectDir;
  const midxFile = join(corpus.packDir, 'multi-pack-index');
  const hadMidx = existsSync(midxFile);
  restoreMidx = () => {
    rmSync(midxFile, { force: true });
    if (hadMidx) spawnSync('git', ['multi-pack-index', `--object-dir=${objectDir}`, 'write'], spawnOpts);
  };
  const env = gitEnv(join(CACHE, 'bench-home'));
  const spawnOpts = { cwd: corpus.dir, env };

  const gitVersion = timeSpawn('git', ['version'], spawnOpts).stdout.toString().trim();
  const machine: Machine = {
    node: process.version,
    git: gitVersion,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform} ${process.arch}`,
    /** 1-minute load average when the bench started and when it ended: other work skews timings. */
    loadAvg: { start: round2(loadavg()[0]), end: 0 },
    corpus: `${corpus.objects} objects in ${corpus.packs} packs (history corpus for cat-file and readObject rows too)`,
    runs,
    quick,
  };
  log(`${machine.node}, ${machine.git}, ${machine.cores} cores, ${machine.cpu}`);
  if (machine.loadAvg.start > 0.5) {
    log(`warning: load average ${machine.loadAvg.start} before starting; timings will be noisy`);
  }

  const gitWrite = ['multi-pack-index', `--object-dir=${objectDir}`, 'write', '--no-progress'];
  const ourWrite = [BIN, `--object-dir=${objectDir}`, 'write', '--no-progress'];

  // ------------------------------------------------------------------------------------------
  // 1. write
  log(`write: ${runs} runs each, interleaved (plus one warm-up each)`);
  const removeMidx = () => rmSync(midxFile, { force: true });
  const runGitWrite = () => {
    removeMidx();
    return timeSpawn('git', gitWrite, spawnOpts);
  };
  const runOurWrite = () => {
    removeMidx();
    const r = timeSpawn(process.execPath, ourWrite, spawnOpts);
    if (r.stderr !== '') log(`our write printed on stderr: ${r.stderr.trim()}`);
    return r;
  };
  runGitWrite();
  const gitBytes = readFileSync(midxFile);
  runOurWrite();
  const gitW = new Series();
  const ourW = new Series();
  const nodeW = new Series();
  let identical = 0;
  let gitStable = true;
  for (let i = 0; i < runs; i++) {
    // alternate which side goes first, so neither always runs right after the other
    for (const side of i % 2 === 0 ? ['git', 'ours'] : ['ours', 'git']) {
      if (side === 'git') {
        gitW.add(runGitWrite());
        if (!readFileSync(midxFile).equals(gitBytes)) gitStable = false;
      } else {
        ourW.add(runOurWrite());
        if (readFileSync(midxFile).equals(gitBytes)) identical++;
      }
    }
    nodeSample(nodeW);
  }
  const midxSize = gitBytes.length;
  addTimeRow(`write (${fmtInt(corpus.objects)} objects, ${corpus.packs} packs)`, gitW, ourW, true, 1, nodeW);
  const allSame = identical === runs && gitStable;
  if (!allSame) correctnessFailed = true;
  rows.push({
    name: 'write: our file byte-identical to git’s',
    unit: 'runs',
    ours: identical,
    target: `${runs}/${runs}`,
    pass: allSame,
    note: `${identical}/${runs} identical (${fmtInt(midxSize)} bytes)${gitStable ? '' : '; git’s own output varied'}`,
  });

  // ------------------------------------------------------------------------------------------
  // 2. CLI lookups (git's MIDX in place)
  removeMidx();
  timeSpawn('git', gitWrite, spawnOpts);
  log(`CLI lookups: sampling ${fmtInt(CLI_LOOKUPS)} present ids`);
  // (A smaller repository gives its ids more than once.)
  const ids = idsWithRepeats(objectDir, corpus.objects, CLI_LOOKUPS, 1);
  // stdin and stdout are files for both sides (as with `< ids > out`): reading a pipe from this
  // process would charge git's per-object flushes (100,000 small writes) to the harness.
  const scratch = mkdtempSync(join(tmpdir(), 'git-midx-bench-'));
  const idsFile = join(scratch, 'ids');
  const outFile = join(scratch, 'out');
  writeFileSync(idsFile, `${ids.join('\n')}\n`);
  const lookupRun = (cmd: string, args: readonly string[]): { t: Timed; out: string } => {
    const inFd = openSync(idsFile, 'r');
    const outFd = openSync(outFile, 'w');
    try {
      const t = timeSpawn(cmd, args, { ...spawnOpts, stdio: [inFd, outFd, 'pipe'] });
      return { t, out: readFileSync(outFile, 'utf8') };
    } finally {
      closeSync(inFd);
      closeSync(outFd);
    }
  };
  const gitLookup = ['cat-file', '--batch-check=%(objectname)'];
  const gitLookupBuffered = ['cat-file', '--buffer', '--batch-check=%(objectname)'];
  const ourLookup = [BIN, `--object-dir=${objectDir}`, 'lookup', '--stdin'];
  const checkGit = (out: string) => {
    const lines = out.split('\n');
    lines.pop();
    if (lines.length !== ids.length || lines.some((l, i) => l !== ids[i])) {
      throw new Error(`git cat-file answered ${lines.length} lines, not the ${ids.length} ids given`);
    }
  };
  let ourLookupOk = true;
  let ourLookupNote = '';
  const checkOurs = (out: string) => {
    const lines = out.split('\n');
    lines.pop();
    const missing = lines.filter((l) => l.endsWith(' missing')).length;
    const misfit = lines.filter(
      (l, i) => !/^[0-9a-f]{40} pack-[0-9a-f]{40}\.idx \d+$/.test(l) || !l.startsWith(ids[i]),
    ).length;
    if (lines.length !== ids.length || missing > 0 || misfit > 0) {
      ourLookupOk = false;
      ourLookupNote = `${lines.length} lines, ${missing} missing, ${misfit} not of the form <id> <pack>.idx <offset>`;
    }
  };
  const gitLk = new Series();
  const gitLkBuf = new Series();
  const ourLk = new Series();
  const nodeLk = new Series();
  try {
    checkGit(lookupRun('git', gitLookup).out); // warm-up
    checkGit(lookupRun('git', gitLookupBuffered).out);
    checkOurs(lookupRun(process.execPath, ourLookup).out);
    for (let i = 0; i < runs; i++) {
      for (const side of i % 2 === 0 ? ['git', 'ours', 'buf'] : ['ours', 'buf', 'git']) {
        if (side === 'ours') {
          const r = lookupRun(process.execPath, ourLookup);
          checkOurs(r.out);
          ourLk.add(r.t);
        } else {
          const r = lookupRun('git', side === 'git' ? gitLookup : gitLookupBuffered);
          checkGit(r.out);
          (side === 'git' ? gitLk : gitLkBuf).add(r.t);
        }
      }
      nodeSample(nodeLk);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  addTimeRow(`CLI lookup --stdin, ${fmtInt(CLI_LOOKUPS)} present ids`, gitLk, ourLk, true, 1, nodeLk);
  addTimeRow(`  same, against git cat-file --buffer`, gitLkBuf, ourLk, false, 1, nodeLk);
  if (!ourLookupOk) correctnessFailed = true;
  rows.push({
    name: 'CLI lookup: output checked',
    unit: 'ok',
    ours: ourLookupOk ? 1 : 0,
    target: `${fmtInt(CLI_LOOKUPS)} lines, 0 missing`,
    pass: ourLookupOk,
    note: ourLookupOk ? `${fmtInt(CLI_LOOKUPS)} lines, 0 missing` : ourLookupNote,
  });
  // Context for the CLI figure: what starting Node alone costs.
  const nodeStart: number[] = [];
  for (let i = 0; i < runs; i++) nodeStart.push(timeSpawn(process.execPath, ['-e', '0'], spawnOpts).ms);

  // ------------------------------------------------------------------------------------------
  // 3. peak memory of our write
  const method = rssMethod();
  const memRuns = quick ? 1 : 2;
  log(`peak RSS of write via ${method}, ${memRuns} run(s)`);
  const ourKb: number[] = [];
  const gitKb: number[] = [];
  for (let i = 0; i < memRuns; i++) {
    removeMidx();
    if (method === 'gnu-time') {
      ourKb.push(peakRssGnuTime(process.execPath, ourWrite, spawnOpts));
      removeMidx();
      gitKb.push(peakRssGnuTime('git', gitWrite, spawnOpts));
    } else {
      ourKb.push(peakRssNodeWrapper(MAIN_JS, ourWrite.slice(1), spawnOpts));
    }
  }
  const MiB = 1024 * 1024;
  const memTarget = (1.5 * midxSize) / MiB + 100;
  const ourMem = Math.max(...ourKb) / 1024;
  const gitMem = gitKb.length > 0 ? Math.max(...gitKb) / 1024 : undefined;
  rows.push({
    name: `write peak RSS (${method})`,
    unit: 'MiB',
    git: gitMem,
    ours: ourMem,
    ratio: gitMem === undefined ? undefined : ourMem / gitMem,
    target: `≤ ${memTarget.toFixed(0)} MiB (1.5×${(midxSize / MiB).toFixed(1)}+100)`,
    pass: ourMem <= memTarget,
    runs: {
      git: gitKb.length > 0 ? gitKb.map((k) => k / 1024) : undefined,
      ours: ourKb.map((k) => k / 1024),
    },
  });

  // The in-process lookups read git's file.
  removeMidx();
  timeSpawn('git', gitWrite, spawnOpts);

  // ------------------------------------------------------------------------------------------
  // 4. in-process findPosition
  // Measured in a fresh process (bench/inproc.ts), as a tool using the library would run it: the
  // heap of this long-running bench does not weigh on the figures.
  const inprocIds = Math.min(INPROC_IDS, corpus.objects);
  log(`in-process: ${fmtInt(inprocIds)} hits and as many misses, in a fresh process`);
  const inproc = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', 'inproc.ts'), objectDir, String(inprocIds)],
    { cwd: ROOT, env: process.env, encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (inproc.status !== 0) throw new Error(`bench/inproc.ts failed: ${inproc.stderr}`);
  const measured = JSON.parse(inproc.stdout) as Record<
    'hits' | 'misses',
    { rates: number[]; cpuRates: number[]; found: number }
  >;
  for (const [label, expect] of [
    ['hits', inprocIds],
    ['misses', 0],
  ] as const) {
    const { rates, cpuRates, found } = measured[label];
    const ok = found === expect;
    if (!ok) correctnessFailed = true;
    const rate = median(rates);
    rows.push({
      name: `in-process findPosition, ${label}`,
      unit: 'lookups/s',
      ours: rate,
      target: `≥ ${fmtInt(INPROC_TARGET_RATE)}/s`,
      pass: ok && rate >= INPROC_TARGET_RATE,
      runs: { ours: rates },
      cpu: { ours: median(cpuRates), runs: { ours: cpuRates } },
      note: `${rates.length} passes of ${fmtInt(inprocIds)}; found ${fmtInt(found)} (expected ${fmtInt(expect)})`,
    });
  }
  // ------------------------------------------------------------------------------------------
  // 5. cat-file --batch-check / --batch, on this corpus (git's MIDX in place) and the history corpus
  const history = repoArg !== undefined ? (corpus as HistoryCorpus) : ensureHistoryCorpus({ log });
  const historyEnv = { cwd: history.dir, env };
  catFileRows(
    `${fmtInt(corpus.objects)}/${corpus.packs}`,
    idsWithRepeats(objectDir, corpus.objects, CAT_FILE_IDS, 4),
    spawnOpts,
  );
  catFileRows(
    `history ${fmtInt(history.objects)}/${history.packs}`,
    idsWithRepeats(history.objectDir, history.objects, CAT_FILE_IDS, 5),
    historyEnv,
  );

  allObjectsRows(`history ${fmtInt(history.objects)}/${history.packs}`, historyEnv);

  oneObjectRows(`${fmtInt(corpus.objects)}/${corpus.packs}`, sampleOids(objectDir, 2, 8), spawnOpts);
  if (history.dir !== corpus.dir) {
    oneObjectRows(
      `history ${fmtInt(history.objects)}/${history.packs}`,
      sampleOids(history.objectDir, 2, 9),
      historyEnv,
    );
  }

  // ------------------------------------------------------------------------------------------
  // 6. readObject in process, against isomorphic-git
  await readObjectRows(history);
  await asyncRows(
    history.objectDir,
    sampleOids(history.objectDir, Math.min(READ_OBJECT_IDS, history.objects), 7),
    rows,
  );
  await httpRows(rows, log);
  await eventLoopRows(rows, log);
  bitmapRows(
    history.dir,
    env,
    runs,
    BIN,
    rows,
    log,
    repoArg !== undefined ? 'this repository' : 'history corpus',
  );
  const peer = buildPeer(CACHE, log);
  if (peer !== undefined) {
    libgit2Rows(
      peer,
      corpus.dir,
      corpus.objectDir,
      repeatTo(sampleOids(corpus.objectDir, Math.min(LIBGIT2_IDS, corpus.objects), 11), LIBGIT2_IDS, 12),
      quick ? 1 : 3,
      CACHE,
      rows,
      log,
    );
  }

  // ------------------------------------------------------------------------------------------
  // 7. verify (git's MIDX in place) and repack --batch-size=0 (on copies), both corpora
  verifyRows(`${fmtInt(corpus.objects)}/${corpus.packs}`, spawnOpts);
  verifyRows(`history ${fmtInt(history.objects)}/${history.packs}`, historyEnv);
  repackRows(`history ${fmtInt(history.objects)}/${history.packs}`, history.dir, env, runs);
  repackRows(`${fmtInt(corpus.objects)}/${corpus.packs}`, corpus.dir, env, Math.min(runs, quick ? 1 : 2));

  // Leave the MIDX as we found it: git's file when there was one, none otherwise.
  if (!hadMidx) removeMidx();
  restoreMidx = undefined;

  // ------------------------------------------------------------------------------------------
  const seconds = (performance.now() - t0) / 1000;
  machine.loadAvg.end = round2(loadavg()[0]);
  printTable(machine, median(nodeStart), seconds);
  mkdirSync(CACHE, { recursive: true });
  const resultsPath = join(CACHE, 'results.json');
  writeFileSync(
    resultsPath,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        midxBytes: midxSize,
        nodeStartupMs: { median: median(nodeStart), runs: nodeStart },
        seconds: Math.round(seconds * 10) / 10,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${resultsPath} (bench took ${seconds.toFixed(1)} s)`);
  if (correctnessFailed) process.exitCode = 1;
}

/** A row comparing two series of whole-process times; `graded: false` makes it informational. */
function addTimeRow(name: string, git: Series, ours: Series, graded = true, limit = 1, node?: Series): void {
  const g = median(git.ms);
  const o = median(ours.ms);
  const gc = median(git.cpuMs);
  const oc = median(ours.cpuMs);
  // Clock ticks are 10 ms: a process shorter than that may show none.
  const haveCpu = git.cpuMs.length > 0 && ours.cpuMs.length > 0 && gc > 0;
  rows.push({
    name,
    unit: 'ms',
    git: g,
    ours: o,
    ratio: o / g,
    target: graded ? `ratio − node ≤ ${limit.toFixed(2)}` : 'info',
    pass: graded ? o / g <= limit : undefined,
    startup: {
      limit: graded ? limit : undefined,
      nodeMs: node !== undefined && node.ms.length > 0 ? median(node.ms) : undefined,
    },
    runs: { git: git.ms, ours: ours.ms },
    cpu: haveCpu
      ? { git: gc, ours: oc, ratio: oc / gc, runs: { git: git.cpuMs, ours: ours.cpuMs } }
      : undefined,
  });
}

/**
 * `count` ids of a repository with fewer objects than that: every object once in a random order
 * (fixed by `seed`), repeated in that order until there are `count`.
 */
function idsWithRepeats(objectDir: string, objects: number, count: number, seed: number): string[] {
  const all = sampleOids(objectDir, Math.min(objects, count), seed);
  return Array.from({ length: count }, (_, i) => all[i % all.length]);
}

const VERIFY_TARGET = 1.0;
/**
 * `repack --batch-size=0`'s time: within 2× git's on the built-in corpora; on a real repository
 * (`--repo`), where the delta search has real work, no slower than git.
 */
const REPACK_TARGET = 2.0;
const REPACK_TARGET_REAL = 1.0;

/** `verify` vs `git multi-pack-index verify` on the same MIDX (git's), both must say it is clean. */
function verifyRows(label: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): void {
  log(`verify, ${label}: ${runs} runs each, interleaved`);
  const gitArgs = ['multi-pack-index', 'verify', '--no-progress'];
  const ourArgs = [BIN, 'verify', '--no-progress'];
  timeSpawn('git', gitArgs, opts); // warm-up (timeSpawn throws unless the exit status is 0)
  timeSpawn(process.execPath, ourArgs, opts);
  const g = new Series();
  const o = new Series();
  const n = new Series();
  for (let i = 0; i < runs; i++) {
    for (const side of i % 2 === 0 ? ['git', 'ours'] : ['ours', 'git']) {
      if (side === 'git') g.add(timeSpawn('git', gitArgs, opts));
      else o.add(timeSpawn(process.execPath, ourArgs, opts));
    }
    nodeSample(n);
  }
  addTimeRow(`verify (${label})`, g, o, true, VERIFY_TARGET, n);
}

/**
 * `repack --batch-size=0` vs `git multi-pack-index repack --batch-size=0`, each run on a fresh copy
 * of the corpus (the copy is not timed). After each of our runs, git must accept the MIDX and see
 * the same objects; the new pack must hold every object.
 */
function repackRows(label: string, dir: string, env: NodeJS.ProcessEnv, n: number): void {
  log(`repack --batch-size=0, ${label}: ${n} runs each, interleaved, each on a fresh copy`);
  const scratch = mkdtempSync(join(tmpdir(), 'git-midx-bench-repack-'));
  const g = new Series();
  const o = new Series();
  const nodeR = new Series();
  let checked = 0;
  let good = 0;
  let note = '';
  let gitPack = 0;
  let ourPack = 0;
  let gitRss: number | undefined;
  let ourRss: number | undefined;
  try {
    const copy = (): string => {
      const d = join(scratch, 'repo');
      rmSync(d, { recursive: true, force: true });
      nodeFs.cpSync(dir, d, { recursive: true, preserveTimestamps: true });
      return d;
    };
    const objectsOf = (cwd: string): string =>
      createHash('sha1')
        .update(
          spawnSync('git', ['cat-file', '--batch-check', '--batch-all-objects'], {
            cwd,
            env,
            maxBuffer: 1 << 30,
          }).stdout,
        )
        .digest('hex');
    const before = objectsOf(dir);
    // The size of the pack a repack made: the `.pack` files that were not there before.
    const packDirOf = (d: string) => join(d, 'objects', 'pack');
    const original = new Set(nodeFs.readdirSync(packDirOf(dir)));
    const newPackBytes = (d: string): number => {
      let bytes = 0;
      for (const f of nodeFs.readdirSync(packDirOf(d))) {
        if (f.endsWith('.pack') && !original.has(f)) bytes += nodeFs.statSync(join(packDirOf(d), f)).size;
      }
      return bytes;
    };
    const gitArgs = ['multi-pack-index', 'repack', '--batch-size=0', '--no-progress'];
    const ourArgs = [BIN, 'repack', '--batch-size=0', '--no-progress'];
    for (let i = 0; i < n; i++) {
      for (const side of i % 2 === 0 ? ['git', 'ours'] : ['ours', 'git']) {
        const cwd = copy();
        if (side === 'git') {
          g.add(timeSpawn('git', gitArgs, { cwd, env }));
          gitPack = newPackBytes(cwd);
        } else {
          o.add(timeSpawn(process.execPath, ourArgs, { cwd, env }));
          ourPack = newPackBytes(cwd);
          checked++;
          const verify = spawnSync('git', ['multi-pack-index', 'verify', '--no-progress'], { cwd, env });
          const same = objectsOf(cwd) === before;
          if (verify.status === 0 && same) good++;
          else note = `git verify exit ${verify.status}, objects ${same ? 'same' : 'differ'}`;
        }
      }
      nodeSample(nodeR);
    }
    // Peak memory: one more run each, under GNU time.
    if (rssMethod() === 'gnu-time') {
      gitRss = peakRssGnuTime('git', gitArgs, { cwd: copy(), env }) / 1024;
      ourRss = peakRssGnuTime(process.execPath, ourArgs, { cwd: copy(), env }) / 1024;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const target = repoArg === undefined ? REPACK_TARGET : REPACK_TARGET_REAL;
  addTimeRow(`repack --batch-size=0 (${label})`, g, o, true, target, nodeR);
  rows.push({
    name: `  repack (${label}): size of the new pack`,
    unit: 'MiB',
    git: gitPack / 2 ** 20,
    ours: ourPack / 2 ** 20,
    ratio: ourPack / gitPack,
    target: 'ratio ≤ 1.05',
    pass: ourPack / gitPack <= 1.05,
    note: `${fmtInt(ourPack)} bytes (ours), ${fmtInt(gitPack)} (git)`,
  });
  if (gitRss !== undefined && ourRss !== undefined) {
    rows.push({
      name: `  repack (${label}): peak RSS (gnu-time)`,
      unit: 'MiB',
      git: gitRss,
      ours: ourRss,
      ratio: ourRss / gitRss,
      target: 'ratio ≤ 1.00',
      pass: ourRss <= gitRss,
    });
  }
  const ok = good === checked;
  if (!ok) correctnessFailed = true;
  rows.push({
    name: `  repack (${label}): git verify accepts, same objects`,
    unit: 'ok',
    ours: ok ? 1 : 0,
    target: `${checked}/${checked}`,
    pass: ok,
    note: ok ? `${good}/${checked} runs` : note,
  });
}

/**
 * Ids of the in-process rows against libgit2: 200,000 on every repository, as many distinct ones
 * as it holds, the rest drawn again from them at random. A pass over a small repository's 30,000
 * ids would time the JIT's warm-up more than the lookups.
 */
const LIBGIT2_IDS = 200_000;

function repeatTo(ids: readonly string[], count: number, seed: number): string[] {
  const out = ids.slice(0, count);
  let x = seed >>> 0;
  while (out.length < count && ids.length > 0) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(ids[x % ids.length]);
  }
  return out;
}

/**
 * The SHA-1 of a file and its size, read in pieces: outputs of hundreds of megabytes held whole
 * would leave this process large, and every later spawn slower (fork copies its page tables).
 */
function digestFile(file: string): { digest: string; bytes: number } {
  const h = createHash('sha1');
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  try {
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) {
      h.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { digest: h.digest('hex'), bytes };
}

/** `cat-file --batch-check` and `--batch` rows: ours vs git on the same ids, outputs compared. */
function catFileRows(
  label: string,
  ids: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): void {
  const scratch = mkdtempSync(join(tmpdir(), 'git-midx-bench-'));
  const idsFile = join(scratch, 'ids');
  const outFile = join(scratch, 'out');
  writeFileSync(idsFile, `${ids.join('\n')}\n`);
  const distinct = new Set(ids).size;
  try {
    for (const mode of ['--batch-check', '--batch'] as const) {
      log(`cat-file ${mode}, ${label}: ${runs} runs each, interleaved`);
      const run = (cmd: string, args: readonly string[]): { t: Timed; digest: string; bytes: number } => {
        const inFd = openSync(idsFile, 'r');
        const outFd = openSync(outFile, 'w');
        try {
          const t = timeSpawn(cmd, args, { ...opts, stdio: [inFd, outFd, 'pipe'] });
          return { t, ...digestFile(outFile) };
        } finally {
          closeSync(inFd);
          closeSync(outFd);
        }
      };
      const gitArgs = ['cat-file', mode];
      const ourArgs = [BIN, 'cat-file', mode];
      const want = run('git', gitArgs); // warm-up, and the reference output
      let same = 0;
      let checked = 0;
      const check = (r: { digest: string }) => {
        checked++;
        if (r.digest === want.digest) same++;
      };
      check(run(process.execPath, ourArgs));
      const g = new Series();
      const o = new Series();
      const n = new Series();
      for (let i = 0; i < runs; i++) {
        for (const side of i % 2 === 0 ? ['git', 'ours'] : ['ours', 'git']) {
          if (side === 'git') {
            const r = run('git', gitArgs);
            if (r.digest !== want.digest) throw new Error(`git cat-file ${mode} output varied between runs`);
            g.add(r.t);
          } else {
            const r = run(process.execPath, ourArgs);
            check(r);
            o.add(r.t);
          }
        }
        nodeSample(n);
      }
      const limit = CAT_FILE_TARGETS[mode];
      addTimeRow(`cat-file ${mode}, ${fmtInt(ids.length)} ids (${label})`, g, o, true, limit, n);
      const ok = same === checked;
      if (!ok) correctnessFailed = true;
      rows.push({
        name: `  cat-file ${mode} (${label}): output = git’s`,
        unit: 'ok',
        ours: ok ? 1 : 0,
        target: `${checked}/${checked} identical`,
        pass: ok,
        note: `${same}/${checked} runs byte-identical to git’s (${fmtInt(want.bytes)} bytes; ${fmtInt(distinct)} distinct ids)`,
      });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * `cat-file --batch-check --batch-all-objects`, in the default format and with
 * `%(objectname) %(objectsize:disk) %(deltabase)`: ours vs git, outputs compared (target ≤ 1.0
 * after node's start-up).
 */
function allObjectsRows(label: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): void {
  const scratch = mkdtempSync(join(tmpdir(), 'git-midx-bench-'));
  const outFile = join(scratch, 'out');
  try {
    for (const format of ['', '=%(objectname) %(objectsize:disk) %(deltabase)']) {
      const args = ['cat-file', `--batch-check${format}`, '--batch-all-objects'];
      log(`cat-file ${args.slice(1).join(' ')}, ${label}: ${runs} runs each, interleaved`);
      const run = (cmd: string, argv: readonly string[]): { t: Timed; digest: string; bytes: number } => {
        const outFd = openSync(outFile, 'w');
        try {
          const t = timeSpawn(cmd, argv, { ...opts, stdio: ['ignore', outFd, 'pipe'] });
          return { t, ...digestFile(outFile) };
        } finally {
          closeSync(outFd);
        }
      };
      const want = run('git', args);
      let same = 0;
      let checked = 0;
      const g = new Series();
      const o = new Series();
      const n = new Series();
      const first = run(process.execPath, [BIN, ...args]);
      checked++;
      if (first.digest === want.digest) same++;
      for (let i = 0; i < runs; i++) {
        for (const side of i % 2 === 0 ? ['git', 'ours'] : ['ours', 'git']) {
          const r = side === 'git' ? run('git', args) : run(process.execPath, [BIN, ...args]);
          if (side === 'git') {
            if (r.digest !== want.digest)
              throw new Error(`git ${args.join(' ')}: output varied between runs`);
            g.add(r.t);
          } else {
            checked++;
            if (r.digest === want.digest) same++;
            o.add(r.t);
          }
        }
        nodeSample(n);
      }
      const shown = format === '' ? '' : ` '${format.slice(1)}'`;
      addTimeRow(`cat-file --batch-check${shown} --batch-all-objects (${label})`, g, o, true, 1, n);
      const ok = same === checked;
      if (!ok) correctnessFailed = true;
      rows.push({
        name: `  --batch-all-objects${shown} (${label}): output = git’s`,
        unit: 'ok',
        ours: ok ? 1 : 0,
        target: `${checked}/${checked} identical`,
        pass: ok,
        note: `${same}/${checked} runs byte-identical to git’s (${fmtInt(want.bytes)} bytes)`,
      });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const ONE_OBJECT_TARGET = 1.5;

/**
 * One-object commands, `cat-file -p <object>` and `cat-file -t <object>`, ours vs git: each run
 * asks for every one of a few objects by name (HEAD's commit and tree when there is a HEAD, and
 * `sampled` ids), one process per object; outputs compared with git's first.
 */
function oneObjectRows(
  label: string,
  sampled: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): void {
  const names = [...sampled];
  const head = spawnSync('git', ['rev-parse', '--verify', '--quiet', 'HEAD'], opts);
  if (head.status === 0) names.unshift('HEAD', 'HEAD^{tree}');
  // At least five processes per object and side: each takes a few milliseconds.
  const n = Math.max(runs, 5);
  for (const mode of ['-p', '-t'] as const) {
    log(`cat-file ${mode} <object>, ${label}: ${names.length} objects × ${n} runs each, interleaved`);
    let same = 0;
    for (const name of names) {
      const want = timeSpawn('git', ['cat-file', mode, name], opts).stdout;
      if (timeSpawn(process.execPath, [BIN, 'cat-file', mode, name], opts).stdout.equals(want)) same++;
    }
    // Timed from a small process of its own (bench/time-helper.ts), with Node's start-up alongside.
    const commands: [string, string[]][] = [[process.execPath, ['-e', '0']]];
    for (const name of names) {
      commands.push(['git', ['cat-file', mode, name]], [process.execPath, [BIN, 'cat-file', mode, name]]);
    }
    const helper = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench', 'time-helper.ts'),
        JSON.stringify({ ...opts, commands, rounds: n }),
      ],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    if (helper.status !== 0) throw new Error(`bench/time-helper.ts: ${helper.stderr}`);
    const { ms } = JSON.parse(helper.stdout) as { ms: number[][] };
    const g = new Series();
    const o = new Series();
    for (let k = 0; k < names.length; k++) {
      g.ms.push(...ms[1 + 2 * k]);
      o.ms.push(...ms[2 + 2 * k]);
    }
    addTimeRow(`cat-file ${mode} <object>, one process each (${label})`, g, o, true, ONE_OBJECT_TARGET);
    const row = rows[rows.length - 1];
    row.startup = { ...row.startup, nodeMs: median(ms[0]) };
    row.note = `node -e 0 beside it, median ${median(ms[0]).toFixed(1)} ms (judged against that)`;
    const ok = same === names.length;
    if (!ok) correctnessFailed = true;
    rows.push({
      name: `  cat-file ${mode} <object> (${label}): output = git’s`,
      unit: 'ok',
      ours: ok ? 1 : 0,
      target: `${names.length}/${names.length} identical`,
      pass: ok,
      note: `${same}/${names.length} objects byte-identical to git’s (${names.join(', ')})`,
    });
  }
}

/** Our `ObjectStore.readObject` vs isomorphic-git's `readObject` on the same random ids, in process. */
async function readObjectRows(c: Corpus): Promise<void> {
  const hexIds = sampleOids(c.objectDir, Math.min(READ_OBJECT_IDS, c.objects), 6);
  const oids = hexIds.map((h) => fromHex(h)!);
  log(`readObject: ${fmtInt(hexIds.length)} ids of the history corpus, ours vs isomorphic-git`);
  const store = ObjectStore.open({ objectDir: c.objectDir, hash: SHA1 });
  const cache = {};
  const iso = async (hex: string) =>
    isoGit.readObject({ fs: nodeFs, gitdir: c.dir, oid: hex, format: 'content', cache });
  let mismatches = 0;
  try {
    // warm-up, and the check: the same type and bytes for every id
    for (let i = 0; i < hexIds.length; i++) {
      const ours = store.readObject(oids[i]);
      const theirs = await iso(hexIds[i]);
      const data = theirs.object as Uint8Array;
      if (
        ours === undefined ||
        ours.type !== theirs.type ||
        !Buffer.from(ours.data.buffer, ours.data.byteOffset, ours.data.length).equals(data)
      ) {
        mismatches++;
      }
    }
    const time = async (
      fn: () => Promise<void> | void,
      minReps: number,
    ): Promise<{ rates: number[]; cpu: number[] }> => {
      const rates: number[] = [];
      const cpu: number[] = [];
      let total = 0;
      while (rates.length < INPROC_MAX_REPS && (rates.length < minReps || total < INPROC_MIN_MS)) {
        const cpu0 = process.cpuUsage();
        const start = process.hrtime.bigint();
        await fn();
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const u = process.cpuUsage(cpu0);
        total += ms;
        rates.push(hexIds.length / (ms / 1000));
        cpu.push(hexIds.length / ((u.user + u.system) / 1e6));
      }
      return { rates, cpu };
    };
    const ours = await time(() => {
      for (const oid of oids) store.readObject(oid);
    }, INPROC_MIN_REPS);
    const theirs = await time(async () => {
      for (const hex of hexIds) await iso(hex);
    }, 1);
    const o = median(ours.rates);
    const t = median(theirs.rates);
    const ok = mismatches === 0;
    if (!ok) correctnessFailed = true;
    rows.push({
      name: `readObject, ${fmtInt(hexIds.length)} random ids (history), vs isomorphic-git`,
      unit: 'objects/s',
      git: t,
      ours: o,
      ratio: o / t,
      target: `ours/iso ≥ ${READ_OBJECT_TARGET}×`,
      pass: ok && o / t >= READ_OBJECT_TARGET,
      runs: { git: theirs.rates, ours: ours.rates },
      cpu: {
        git: median(theirs.cpu),
        ours: median(ours.cpu),
        ratio: median(ours.cpu) / median(theirs.cpu),
        runs: { git: theirs.cpu, ours: ours.cpu },
      },
      note:
        `isomorphic-git ${isoGit.version()} readObject format 'content' (shared cache object); ` +
        `the "git" column is isomorphic-git, ratio = ours/iso throughput (higher is better); ` +
        `${mismatches} of ${fmtInt(hexIds.length)} objects differ`,
    });
  } finally {
    store.close();
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtValue(v: number | undefined, unit: string): string {
  if (v === undefined) return '–';
  if (unit === 'ms') return `${v.toFixed(1)} ms`;
  if (unit === 'MiB') return `${v.toFixed(1)} MiB`;
  if (unit === 'lookups/s' || unit === 'objects/s') return `${fmtInt(v)}/s`;
  return String(v);
}

function printTable(machine: Machine, nodeStartMs: number, seconds: number): void {
  // Whole runs of our CLI are judged without Node's own start-up, which no Node program avoids.
  for (const r of rows) {
    if (r.startup === undefined || r.git === undefined || !(r.git > 0)) continue;
    r.netRatio = Math.max(0, r.ours - (r.startup.nodeMs ?? nodeStartMs)) / r.git;
    if (r.startup.limit !== undefined)
      r.pass = r.startup.alsoNeeds !== false && r.netRatio <= r.startup.limit;
  }
  const head = [
    'benchmark',
    'git (median)',
    'ours (median)',
    'ratio',
    'ratio − node',
    'CPU ratio',
    'target',
    'result',
  ];
  const textRow = (r: Row) => r.unit === 'runs' || r.unit === 'ok';
  const body = rows.map((r) => [
    r.name,
    textRow(r) ? '' : fmtValue(r.git, r.unit),
    textRow(r) ? (r.note ?? '') : fmtValue(r.ours, r.unit),
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
    r.netRatio === undefined ? '' : r.netRatio.toFixed(2),
    r.cpu?.ratio === undefined ? '' : r.cpu.ratio.toFixed(2),
    r.target,
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]) =>
    cells.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ');
  const out: string[] = [''];
  out.push(
    `machine: node ${machine.node}, ${machine.git}, ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, ${machine.platform}`,
  );
  out.push(
    `corpus: ${machine.corpus}; ${machine.runs} timed runs per side${machine.quick ? ' (--quick)' : ''}; ` +
      `load average ${machine.loadAvg.start} at start, ${machine.loadAvg.end} at end`,
  );
  out.push('');
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) out.push(line(b));
  out.push('');
  out.push(
    "ratio: ours/git of the wall-time medians; ratio − node: (ours − the median of `node -e 0` timed among that row's runs)/git, which whole-process rows are judged on; CPU ratio: ours/git of child user+sys time",
  );
  for (const r of rows) {
    if (r.runs === undefined) continue;
    const rate = r.unit === 'lookups/s' || r.unit === 'objects/s';
    const f = (xs: number[]) => xs.map((x) => (rate ? fmtInt(x) : x.toFixed(1))).join(', ');
    const series = (label: string, runs: { git?: number[]; ours: number[] }) =>
      [runs.git ? `git [${f(runs.git)}]` : '', `ours [${f(runs.ours)}]`].filter(Boolean).join(' ') +
      (label ? ` ${label}` : '');
    out.push(`  ${r.name}`);
    out.push(
      `    ${rate ? 'wall rate' : r.unit === 'MiB' ? 'peak RSS MiB' : 'wall ms'}: ${series('', r.runs)}`,
    );
    if (r.cpu) {
      const med = r.unit === 'lookups/s' ? ` median ${fmtInt(r.cpu.ours)}/s` : '';
      out.push(`    ${rate ? 'CPU-time rate' : 'CPU ms'}: ${series('', r.cpu.runs)}${med}`);
    }
    if (r.startup?.nodeMs !== undefined)
      out.push(`    node -e 0 among these runs, median: ${r.startup.nodeMs.toFixed(1)} ms`);
    if (r.note) out.push(`    ${r.note}`);
  }
  out.push(`  node startup alone (node -e 0), median at the start: ${nodeStartMs.toFixed(1)} ms`);
  out.push(`  bench wall time: ${seconds.toFixed(1)} s`);
  console.log(out.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
  restoreMidx?.();
});
