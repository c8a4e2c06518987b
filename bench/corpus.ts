/**
 * Benchmark corpus: a bare SHA-1 repository holding `objects` small distinct blobs in `packs` packs
 * (default 2,000,000 in 200 packs of 10,000), built once by the real git and cached under
 * `<repo root>/.bench-cache/` (git-ignored).
 *
 * Build: `git fast-import` writes the blobs and cuts a pack at every `checkpoint`, so git makes each
 * pack directly (no loose objects, no pack-objects pass). One fast-import process gets 20 packs: its
 * in-memory object table and its "already in a pack?" scan grow with everything it has seen, so one
 * process for all 2,000,000 blobs takes ~40 s where ten processes of 200,000 take ~1.7 s each, two
 * at a time. Each process writes into its own scratch object directory (so none of them scans the
 * packs of another) and the packs are then moved into the repository. Pack i (creation order) gets
 * mtime 2001-01-01 + i days: distinct and deterministic, as MIDX duplicate resolution cares about
 * mtimes (spec/midx-format.md §8.6). Blob contents are a pure function of (seed, index), so pack
 * names are the same on every machine with the same git.
 *
 * Run by itself: `node --import tsx bench/corpus.ts [--objects N] [--packs N] [--rebuild]`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BASE_MTIME, git, gitEnv } from '../test/helpers/git.js';

export interface Corpus {
  /** The bare repository (its git dir). */
  dir: string;
  objectDir: string;
  packDir: string;
  objects: number;
  packs: number;
}

export interface EnsureCorpusOptions {
  /** Number of distinct blobs; default 2,000,000. */
  objects?: number;
  /** Number of packs; default 200. Objects are spread as evenly as possible. */
  packs?: number;
  log?: (s: string) => void;
  /** Where corpora are cached; default `<repo root>/.bench-cache`. */
  cacheDir?: string;
  /** Build again even when a valid cached corpus exists. */
  rebuild?: boolean;
}

const CORPUS_FORMAT = 1;
const DEFAULT_OBJECTS = 2_000_000;
const DEFAULT_PACKS = 200;
/** Seed of the blob contents; part of the cache key (through the marker). */
const CONTENT_SEED = 1;
/** Packs written by one fast-import process (see the module comment for why not all of them). */
const PACKS_PER_IMPORT = 20;
const DAY = 86_400;
const IDX_HEADER = 8 + 256 * 4;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Marker {
  format: number;
  objectFormat: 'sha1';
  objects: number;
  packs: number;
  seed: number;
  /** Pack stems in creation order; pack i has mtime BASE_MTIME + i days. */
  stems: string[];
  gitVersion: string;
  buildSeconds: number;
}

/**
 * Returns the cached corpus for these parameters, building it first when the cache has none (or
 * `rebuild` is set). The cache is valid when its marker file has the same parameters and every pack
 * it lists is present, and no other pack is.
 */
export async function ensureCorpus(opts: EnsureCorpusOptions = {}): Promise<Corpus> {
  const objects = opts.objects ?? DEFAULT_OBJECTS;
  const packs = opts.packs ?? DEFAULT_PACKS;
  if (!Number.isInteger(packs) || packs < 1) throw new RangeError(`packs must be ≥ 1, got ${packs}`);
  if (!Number.isInteger(objects) || objects < packs) {
    throw new RangeError(`objects must be a whole number ≥ packs (${packs}), got ${objects}`);
  }
  const log = opts.log ?? (() => {});
  const cacheDir = resolve(opts.cacheDir ?? join(REPO_ROOT, '.bench-cache'));
  const name = `corpus-sha1-${objects}-${packs}`;
  const dir = join(cacheDir, name);
  const markerPath = join(cacheDir, `${name}.json`);
  const corpus: Corpus = {
    dir,
    objectDir: join(dir, 'objects'),
    packDir: join(dir, 'objects', 'pack'),
    objects,
    packs,
  };

  if (!opts.rebuild && cacheIsValid(markerPath, corpus)) {
    log(`corpus: using cached ${dir}`);
    return corpus;
  }

  mkdirSync(cacheDir, { recursive: true });
  removeStaleBuilds(cacheDir, name);
  rmSync(markerPath, { force: true });
  rmSync(dir, { recursive: true, force: true });

  const work = join(cacheDir, `${name}.tmp-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const start = performance.now();
    const stems = await build(work, objects, packs, log);
    const buildSeconds = (performance.now() - start) / 1000;
    renameSync(join(work, 'repo.git'), dir);
    const env = gitEnv(join(work, 'home'));
    const marker: Marker = {
      format: CORPUS_FORMAT,
      objectFormat: 'sha1',
      objects,
      packs,
      seed: CONTENT_SEED,
      stems,
      gitVersion: git(['version'], { cwd: work, env }).stdout.toString().trim(),
      buildSeconds: Math.round(buildSeconds * 10) / 10,
    };
    writeFileSync(markerPath, `${JSON.stringify(marker, null, 2)}\n`);
    log(`corpus: built ${dir} in ${buildSeconds.toFixed(1)} s`);
    return corpus;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function cacheIsValid(markerPath: string, corpus: Corpus): boolean {
  let marker: Marker;
  try {
    marker = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
  } catch {
    return false;
  }
  if (
    marker.format !== CORPUS_FORMAT ||
    marker.objects !== corpus.objects ||
    marker.packs !== corpus.packs ||
    marker.seed !== CONTENT_SEED ||
    !Array.isArray(marker.stems) ||
    marker.stems.length !== corpus.packs
  ) {
    return false;
  }
  let names: string[];
  try {
    names = readdirSync(corpus.packDir);
  } catch {
    return false;
  }
  const present = new Set(names);
  const idxCount = names.filter((n) => n.endsWith('.idx')).length;
  return (
    idxCount === corpus.packs &&
    marker.stems.every((s) => present.has(`${s}.idx`) && present.has(`${s}.pack`))
  );
}

/** Removes `<name>.tmp-<pid>` directories left by builds whose process is gone. */
function removeStaleBuilds(cacheDir: string, name: string): void {
  for (const entry of readdirSync(cacheDir)) {
    if (!entry.startsWith(`${name}.tmp-`)) continue;
    const pid = Number(entry.slice(name.length + 5));
    if (Number.isInteger(pid) && pid !== process.pid && processExists(pid)) continue;
    rmSync(join(cacheDir, entry), { recursive: true, force: true });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Builds the repository at `<work>/repo.git`; returns the pack stems in creation order. */
async function build(
  work: string,
  objects: number,
  packs: number,
  log: (s: string) => void,
): Promise<string[]> {
  const env = gitEnv(join(work, 'home'));
  const repo = join(work, 'repo.git');
  git(['init', '-q', '--bare', '--object-format=sha1', repo], { cwd: work, env });
  const packDir = join(repo, 'objects', 'pack');
  mkdirSync(packDir, { recursive: true });

  // pack p holds blobs [first[p], first[p + 1])
  const first = new Array<number>(packs + 1);
  const base = Math.floor(objects / packs);
  const extra = objects % packs;
  first[0] = 0;
  for (let p = 0; p < packs; p++) first[p + 1] = first[p] + base + (p < extra ? 1 : 0);

  const batches: { from: number; to: number }[] = [];
  for (let p = 0; p < packs; p += PACKS_PER_IMPORT) {
    batches.push({ from: p, to: Math.min(packs, p + PACKS_PER_IMPORT) });
  }
  const results = new Array<string[]>(batches.length);
  const parallel = Math.max(1, Math.min(availableParallelism(), 4, batches.length));
  log(
    `corpus: ${objects} blobs in ${packs} packs, ${batches.length} fast-import runs, ${parallel} at a time`,
  );
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const b = next++;
      const stage = join(work, `stage-${b}`);
      const { from, to } = batches[b];
      results[b] = await fastImportBatch(repo, stage, env, first, from, to);
      for (const stem of results[b]) {
        for (const ext of ['.pack', '.idx'])
          renameSync(join(stage, 'pack', stem + ext), join(packDir, stem + ext));
      }
      const left = readdirSync(join(stage, 'pack'));
      if (left.length > 0) throw new Error(`fast-import left unexpected files: ${left.join(', ')}`);
      rmSync(stage, { recursive: true, force: true });
      done += to - from;
      log(`corpus: ${done}/${packs} packs`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));

  const stems = results.flat();
  stems.forEach((stem, i) => {
    const mtime = BASE_MTIME + i * DAY;
    for (const ext of ['.pack', '.idx']) utimesSync(join(packDir, stem + ext), mtime, mtime);
  });

  // Let git confirm what we built: every object is packed, nothing loose, the right pack count.
  const counts = git(['count-objects', '-v'], { cwd: repo, env }).stdout.toString();
  const get = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, 'm').exec(counts)?.[1]);
  if (
    get('count') !== 0 ||
    get('in-pack') !== objects ||
    get('packs') !== packs ||
    new Set(stems).size !== packs
  ) {
    throw new Error(`corpus check failed: git count-objects -v says\n${counts}`);
  }
  return stems;
}

/**
 * One `git fast-import` run writing packs `from`..`to`−1 into the object directory `<stage>`:
 * a `checkpoint` after each pack but the last, which `done` closes. The pack order comes from
 * `--export-pack-edges` (one line per pack written, in order).
 */
async function fastImportBatch(
  repo: string,
  stage: string,
  env: NodeJS.ProcessEnv,
  first: number[],
  from: number,
  to: number,
): Promise<string[]> {
  mkdirSync(join(stage, 'pack'), { recursive: true });
  const edges = join(stage, 'pack-edges');
  const child = spawn('git', ['fast-import', '--quiet', '--done', `--export-pack-edges=${edges}`], {
    cwd: repo,
    env: { ...env, GIT_OBJECT_DIRECTORY: stage },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<number>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
  let writeError: unknown;
  try {
    for (let p = from; p < to; p++) {
      for (let i = first[p]; i < first[p + 1]; i += 2000) {
        const chunk = blobCommands(i, Math.min(first[p + 1], i + 2000));
        if (!child.stdin.write(chunk)) await once(child.stdin, 'drain');
      }
      child.stdin.write(p + 1 < to ? 'checkpoint\n' : 'done\n');
    }
    child.stdin.end();
  } catch (err) {
    writeError = err; // EPIPE and the like: fast-import died; its stderr says why
  }
  const status = await exited;
  if (status !== 0 || writeError !== undefined) {
    const why = stderr.trim() || String(writeError);
    throw new Error(`git fast-import (packs ${from}..${to - 1}) failed with exit code ${status}:\n${why}`);
  }
  const stems = readFileSync(edges, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => basename(line.replace(/:.*$/, ''), '.pack'));
  if (stems.length !== to - from) {
    throw new Error(`fast-import wrote ${stems.length} packs, expected ${to - from}`);
  }
  return stems;
}

/** fast-import commands for blobs [from, to): `corpus <seed> <index> <16 hex>\n`, all distinct. */
function blobCommands(from: number, to: number): string {
  const parts: string[] = [];
  for (let i = from; i < to; i++) {
    // The hex tail keeps neighbours dissimilar, so fast-import stores every blob whole (no deltas).
    const content = `corpus ${CONTENT_SEED} ${i} ${hex32(mix32(i ^ 0x5bd1e995))}${hex32(mix32(i + 0x6a09e667))}\n`;
    parts.push(`blob\ndata ${content.length}\n${content}\n`);
  }
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// History corpus

export interface HistoryCorpus extends Corpus {
  commits: number;
}

const HISTORY_FORMAT = 2;
const HISTORY_COMMITS = 3000;
const HISTORY_FILES = 300;
const HISTORY_PACKS = 100;

/**
 * A repository with a real-looking history, split into packs the way fetches and repacks leave
 * them: `git fast-import` writes 3,000 commits editing a few hundred text files in nested
 * directories (a few small line edits per commit, a new file now and then), so that commits,
 * trees and blob deltas all exist; then `git rev-list --objects` over 100 consecutive ranges of
 * commits is fed to `git pack-objects` (deltas and all), one pack per range; fast-import's own
 * pack is dropped and git writes the MIDX. Deterministic; cached in `.bench-cache/`.
 */
export function ensureHistoryCorpus(
  opts: { log?: (s: string) => void; cacheDir?: string } = {},
): HistoryCorpus {
  const log = opts.log ?? (() => {});
  const cacheDir = resolve(opts.cacheDir ?? join(REPO_ROOT, '.bench-cache'));
  const name = `history-sha1-${HISTORY_COMMITS}-${HISTORY_PACKS}`;
  const dir = join(cacheDir, name);
  const markerPath = join(cacheDir, `${name}.json`);
  const packDir = join(dir, 'objects', 'pack');
  const result = (objects: number): HistoryCorpus => ({
    dir,
    objectDir: join(dir, 'objects'),
    packDir,
    objects,
    packs: HISTORY_PACKS,
    commits: HISTORY_COMMITS,
  });
  try {
    const m = JSON.parse(readFileSync(markerPath, 'utf8')) as {
      format: number;
      objects: number;
      stems: string[];
    };
    const present = readdirSync(packDir).filter((n) => n.endsWith('.pack'));
    if (
      m.format === HISTORY_FORMAT &&
      present.length === HISTORY_PACKS &&
      m.stems.every((s) => present.includes(`${s}.pack`)) &&
      readdirSync(packDir).includes('multi-pack-index')
    ) {
      return result(m.objects);
    }
  } catch {
    // no valid cache: build
  }
  const start = performance.now();
  log(
    `history corpus: ${HISTORY_COMMITS} commits over ${HISTORY_FILES} files, split into ${HISTORY_PACKS} packs`,
  );
  rmSync(dir, { recursive: true, force: true });
  rmSync(markerPath, { force: true });
  mkdirSync(cacheDir, { recursive: true });
  const env = gitEnv(join(cacheDir, 'bench-home'));
  git(['init', '-q', '--bare', '--object-format=sha1', dir], { cwd: cacheDir, env });
  const marks = join(dir, 'marks');
  git(['fast-import', '--quiet', '--done', `--export-marks=${marks}`], {
    cwd: dir,
    env,
    input: historyStream(HISTORY_COMMITS, HISTORY_FILES),
  });
  const commitOid = new Map<number, string>();
  for (const line of readFileSync(marks, 'utf8').split('\n')) {
    const m = /^:(\d+) ([0-9a-f]{40})$/.exec(line);
    if (m) commitOid.set(Number(m[1]), m[2]);
  }
  rmSync(marks);
  const imported = readdirSync(packDir).filter((n) => n.endsWith('.pack') || n.endsWith('.idx'));
  // Moved aside so that the range packs below cannot take their deltas from it.
  const aside = join(dir, 'fast-import-pack');
  mkdirSync(aside);
  for (const n of imported) renameSync(join(packDir, n), join(aside, n));
  const altDir = join(dir, 'objects', 'info');
  mkdirSync(altDir, { recursive: true });
  writeFileSync(join(altDir, 'alternates'), `${join(dir, 'fast-import-objects')}\n`);
  mkdirSync(join(dir, 'fast-import-objects', 'pack'), { recursive: true });
  for (const n of imported) renameSync(join(aside, n), join(dir, 'fast-import-objects', 'pack', n));
  rmSync(aside, { recursive: true });
  const stems: string[] = [];
  const per = HISTORY_COMMITS / HISTORY_PACKS;
  for (let k = 0; k < HISTORY_PACKS; k++) {
    const hi = commitOid.get((k + 1) * per);
    const lo = k === 0 ? undefined : commitOid.get(k * per);
    if (hi === undefined || (k > 0 && lo === undefined)) throw new Error(`fast-import lost commit marks`);
    const revs = git(['rev-list', '--objects', hi, ...(lo ? [`^${lo}`] : [])], { cwd: dir, env }).stdout;
    const out = git(['pack-objects', '-q', '--delta-base-offset', join(packDir, 'pack')], {
      cwd: dir,
      env,
      input: revs,
    });
    const stem = `pack-${out.stdout.toString().trim()}`;
    // Pack i gets mtime BASE_MTIME + i days: distinct and deterministic (MIDX duplicate order).
    for (const ext of ['.pack', '.idx']) {
      utimesSync(join(packDir, stem + ext), BASE_MTIME + k * DAY, BASE_MTIME + k * DAY);
    }
    stems.push(stem);
  }
  rmSync(join(altDir, 'alternates'));
  rmSync(join(dir, 'fast-import-objects'), { recursive: true });
  git(['update-ref', 'refs/heads/main', commitOid.get(HISTORY_COMMITS)!], { cwd: dir, env });
  git(['symbolic-ref', 'HEAD', 'refs/heads/main'], { cwd: dir, env });
  git(['multi-pack-index', 'write', '--no-progress'], { cwd: dir, env });
  const counts = git(['count-objects', '-v'], { cwd: dir, env }).stdout.toString();
  const get = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, 'm').exec(counts)?.[1]);
  if (get('count') !== 0 || get('packs') !== HISTORY_PACKS) {
    throw new Error(`history corpus check failed: git count-objects -v says\n${counts}`);
  }
  const objects = get('in-pack');
  const seconds = (performance.now() - start) / 1000;
  writeFileSync(
    markerPath,
    `${JSON.stringify({ format: HISTORY_FORMAT, objects, stems, buildSeconds: seconds }, null, 2)}\n`,
  );
  log(`history corpus: ${objects} objects in ${HISTORY_PACKS} packs, built in ${seconds.toFixed(1)} s`);
  return result(objects);
}

/** The fast-import stream of the history corpus; commit i (1-based) has mark :i. */
function historyStream(commits: number, files: number): string {
  const rand = mulberry32(0x51ed);
  const r = (n: number) => rand() % n;
  const words = [
    'const',
    'let',
    'return',
    'if',
    'else',
    'for',
    'value',
    'count',
    'buffer',
    'offset',
    'length',
    'index',
    'result',
    'error',
    'pack',
    'object',
    'reader',
    'write',
    'read',
    'hash',
    'table',
    'entry',
  ];
  const line = () => {
    const n = 2 + r(8);
    let s = '  '.repeat(r(4));
    for (let i = 0; i < n; i++)
      s += `${i ? ' ' : ''}${words[r(words.length)]}${r(4) === 0 ? `(${r(1000)})` : ''}`;
    return `${s};`;
  };
  const dirs = [
    'src',
    'src/core',
    'src/io',
    'src/cli',
    'src/net',
    'lib',
    'lib/util',
    'test',
    'test/unit',
    'docs',
  ];
  const contents: string[][] = [];
  const paths: string[] = [];
  const newFile = () => {
    const lines: string[] = [];
    const n = 20 + r(150);
    for (let i = 0; i < n; i++) lines.push(line());
    contents.push(lines);
    paths.push(`${dirs[r(dirs.length)]}/file${paths.length}.ts`);
  };
  const initial = Math.floor(files * 0.6);
  for (let i = 0; i < initial; i++) newFile();
  const parts: string[] = [];
  const blob = (path: string, lines: readonly string[]) => {
    const data = `${lines.join('\n')}\n`;
    parts.push(`M 100644 inline ${path}\ndata ${Buffer.byteLength(data)}\n${data}\n`);
  };
  for (let c = 1; c <= commits; c++) {
    const when = 1_100_000_000 + c * 3600;
    const msg = `change ${c}: ${words[r(words.length)]} ${words[r(words.length)]}\n`;
    parts.push(`commit refs/heads/main\nmark :${c}\nauthor A U Thor <author@example.com> ${when} +0000\n`);
    parts.push(`committer C O Mitter <committer@example.com> ${when} +0000\ndata ${msg.length}\n${msg}`);
    if (c === 1) {
      for (let f = 0; f < paths.length; f++) blob(paths[f], contents[f]);
      continue;
    }
    if (paths.length < files && r(8) === 0) {
      newFile();
      blob(paths[paths.length - 1], contents[contents.length - 1]);
    }
    const edits = 1 + r(4);
    for (let e = 0; e < edits; e++) {
      // Most edits go to a set of hot files, as in real projects (and so blobs get deltas too).
      const f = r(3) === 0 ? r(paths.length) : r(24);
      const lines = contents[f];
      const ops = 1 + r(3);
      for (let o = 0; o < ops; o++) {
        const at = r(lines.length);
        const kind = r(3);
        if (kind === 0) lines[at] = line();
        else if (kind === 1) lines.splice(at, 0, line());
        else if (lines.length > 5) lines.splice(at, 1);
      }
      blob(paths[f], lines);
    }
  }
  parts.push('done\n');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// Ids for lookups

/**
 * `count` distinct ids present in the packs of `objectDir` (read straight from the version-2 `.idx`
 * files: fanout at 8..1032, ids after), in a random order fixed by `seed`. Packs are taken in name
 * order, so the answer depends only on the packs and the seed.
 */
export function sampleOids(objectDir: string, count: number, seed: number): string[] {
  const packDir = join(objectDir, 'pack');
  const names = readdirSync(packDir)
    .filter((n) => n.endsWith('.idx'))
    .sort();
  const idxs = names.map((name) => openIdx(join(packDir, name), objectDir));
  try {
    const starts: number[] = [];
    let total = 0;
    for (const idx of idxs) {
      starts.push(total);
      total += idx.count;
    }
    if (!Number.isInteger(count) || count < 0 || count > total) {
      throw new RangeError(`cannot sample ${count} distinct ids from ${total} objects in ${packDir}`);
    }
    const rand = mulberry32(seed);
    // partial Fisher–Yates over the virtual array 0..total−1, holding only the swapped slots
    const swapped = new Map<number, number>();
    const out: string[] = [];
    for (let k = 0; k < count; k++) {
      const j = k + Math.floor((rand() / 2 ** 32) * (total - k));
      const pick = swapped.get(j) ?? j;
      swapped.set(j, swapped.get(k) ?? k);
      let lo = 0;
      let hi = idxs.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (starts[mid] <= pick) lo = mid;
        else hi = mid - 1;
      }
      const idx = idxs[lo];
      const i = pick - starts[lo];
      out.push(idxOids(idx).toString('hex', i * idx.hashLength, (i + 1) * idx.hashLength));
    }
    return out;
  } finally {
    for (const idx of idxs) closeSync(idx.fd);
  }
}

/** `count` random ids of `hashHex` hex digits, fixed by `seed`; absent from any repository in practice. */
export function randomMissingOids(count: number, seed: number, hashHex = 40): string[] {
  if (!Number.isInteger(hashHex) || hashHex <= 0) throw new RangeError(`bad hex length ${hashHex}`);
  const rand = mulberry32(mix32(seed ^ 0x2545f491));
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let hex = '';
    while (hex.length < hashHex) hex += hex32(rand());
    out.push(hex.slice(0, hashHex));
  }
  return out;
}

interface IdxFile {
  path: string;
  fd: number;
  count: number;
  hashLength: number;
  oids?: Buffer;
}

function openIdx(path: string, objectDir: string): IdxFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(IDX_HEADER);
    if (size < IDX_HEADER || readSync(fd, header, 0, IDX_HEADER, 0) !== IDX_HEADER) {
      throw new Error(`${path}: too small for a version-2 pack index (${size} bytes)`);
    }
    if (header.readUInt32BE(0) !== 0xff744f63 || header.readUInt32BE(4) !== 2) {
      throw new Error(`${path}: not a version-2 pack index`);
    }
    const count = header.readUInt32BE(IDX_HEADER - 4);
    return { path, fd, count, hashLength: idxHashLength(size, count, path, objectDir) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * The id length of a v2 `.idx`, from its size: 1032 + n·(H + 8) + 8·(large offsets ≤ n) + 2·H.
 * If both SHA-1 and SHA-256 fit, the repository's extensions.objectFormat decides.
 */
function idxHashLength(size: number, count: number, path: string, objectDir: string): number {
  const fits = [20, 32].filter((h) => {
    const rest = size - IDX_HEADER - count * (h + 8) - 2 * h;
    return rest >= 0 && rest % 8 === 0 && rest / 8 <= count;
  });
  if (fits.length === 1) return fits[0];
  if (fits.length === 0) throw new Error(`${path}: size ${size} fits no hash length for ${count} objects`);
  let config = '';
  try {
    config = readFileSync(join(dirname(objectDir), 'config'), 'utf8');
  } catch {
    // no config next to the object directory: Git's default, SHA-1
  }
  return /^\s*objectformat\s*=\s*sha256\s*$/im.test(config) ? 32 : 20;
}

function idxOids(idx: IdxFile): Buffer {
  if (!idx.oids) {
    const buf = Buffer.alloc(idx.count * idx.hashLength);
    if (readSync(idx.fd, buf, 0, buf.length, IDX_HEADER) !== buf.length) {
      throw new Error(`${idx.path}: truncated id table`);
    }
    idx.oids = buf;
  }
  return idx.oids;
}

// ---------------------------------------------------------------------------------------------
// Small deterministic number helpers

/** A 32-bit integer hash (lowbias32 by Chris Wellons). */
function mix32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** mulberry32: a small seeded generator of uint32 values. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function hex32(x: number): string {
  return x.toString(16).padStart(8, '0');
}

// ---------------------------------------------------------------------------------------------
// Command line

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      objects: { type: 'string' },
      packs: { type: 'string' },
      rebuild: { type: 'boolean', default: false },
    },
  });
  const start = performance.now();
  const corpus = await ensureCorpus({
    objects: values.objects === undefined ? undefined : Number(values.objects),
    packs: values.packs === undefined ? undefined : Number(values.packs),
    rebuild: values.rebuild,
    log: (s) => console.log(s),
  });
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  console.log(
    `corpus ready in ${seconds} s: ${corpus.objects} objects in ${corpus.packs} packs at ${corpus.dir}`,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}

/**
 * A real repository's history as a frequently-fetching clone holds it (`npm run bench -- --repo
 * <path> --packs <n>`): the first-parent history of its HEAD cut into `packs` consecutive ranges of
 * commits, each range one pack (`git pack-objects --revs`, deltas and all, objects read from the
 * source repository), packs given increasing mtimes, `refs/heads/main` at the tip, and a MIDX
 * written by git. Cached in `.bench-cache/` by the source's path, HEAD and the pack count; the
 * source (a bare mirror is fine) is only read.
 */
export function ensureRepoCorpus(
  source: string,
  packs: number,
  opts: { log?: (s: string) => void; cacheDir?: string } = {},
): HistoryCorpus {
  const log = opts.log ?? (() => {});
  const cacheDir = resolve(opts.cacheDir ?? join(REPO_ROOT, '.bench-cache'));
  const env = gitEnv(join(cacheDir, 'bench-home'));
  const src = resolve(source);
  const run = (args: string[], cwd: string, input?: string) =>
    git(args, { cwd, env, input }).stdout.toString('utf8').trim();
  const head = run(['rev-parse', 'HEAD'], src);
  const format = run(['rev-parse', '--show-object-format'], src);
  // (A fetched mirror lives in `<owner>+<name>/repo`: name it by its parent then.)
  const label = basename(src) === 'repo' ? basename(dirname(src)) : basename(src);
  const name = `repo-${label.replace(/[^A-Za-z0-9._-]/g, '_')}-${head.slice(0, 12)}-${packs}`;
  const dir = join(cacheDir, name);
  const markerPath = join(cacheDir, `${name}.json`);
  const packDir = join(dir, 'objects', 'pack');
  const commits = run(['rev-list', '--first-parent', '--reverse', 'HEAD'], src).split('\n').filter(Boolean);
  const result = (objects: number): HistoryCorpus => ({
    dir,
    objectDir: join(dir, 'objects'),
    packDir,
    objects,
    packs,
    commits: commits.length,
  });
  try {
    const m = JSON.parse(readFileSync(markerPath, 'utf8')) as { objects: number; packs: number };
    if (m.packs === packs && readdirSync(packDir).filter((n) => n.endsWith('.pack')).length === packs) {
      log(`repository corpus ${name}: cached (${m.objects} objects in ${packs} packs)`);
      return result(m.objects);
    }
  } catch {
    // not built yet
  }
  if (commits.length < packs) throw new Error(`${src}: ${commits.length} commits, fewer than ${packs} packs`);
  rmSync(dir, { recursive: true, force: true });
  rmSync(markerPath, { force: true });
  run(['init', '-q', '--bare', `--object-format=${format}`, dir], cacheDir);
  const t0 = Date.now();
  let prev: string | undefined;
  for (let k = 0; k < packs; k++) {
    const end = Math.round(((k + 1) * commits.length) / packs);
    const tip = commits[end - 1];
    const input = prev === undefined ? `${tip}\n` : `${tip}\n^${prev}\n`;
    const stem = run(['pack-objects', '-q', '--revs', join(packDir, 'pack')], src, input);
    const when = BASE_MTIME + k * 86400;
    for (const ext of ['pack', 'idx']) utimesSync(join(packDir, `pack-${stem}.${ext}`), when, when);
    prev = tip;
    if ((k + 1) % 25 === 0) log(`repository corpus ${name}: ${k + 1}/${packs} packs`);
  }
  run(['update-ref', 'refs/heads/main', commits[commits.length - 1]], dir);
  run(['symbolic-ref', 'HEAD', 'refs/heads/main'], dir);
  run(['multi-pack-index', 'write', '--no-progress'], dir);
  const count = run(['count-objects', '-v'], dir);
  const objects = Number(/in-pack: (\d+)/.exec(count)?.[1] ?? 0);
  writeFileSync(markerPath, JSON.stringify({ objects, packs, source: src, head }));
  log(
    `repository corpus ${name}: ${objects} objects in ${packs} packs, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return result(objects);
}
