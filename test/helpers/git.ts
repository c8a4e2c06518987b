/**
 * Test helper: throw-away repositories built by the real `git`, fully isolated from the machine's
 * configuration (no system or global config, fixed identity and dates, English messages).
 *
 * Every interop test builds its fixtures through this module, so that what we compare against is
 * always git's own output (style.md, habit 8). Pack discovery, mtimes and duplicates follow
 * spec/midx-format.md §8.3–§8.6; the recipes are the ones of §17.0.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  opendirSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const TEMP_PREFIX = 'git-midx-test-';

/** Git's own test date (t/test-lib.sh); every commit and tag made here carries it. */
export const FIXED_DATE = '2005-04-07T22:13:13Z';

/** 2001-01-01T00:00:00Z in seconds: the first mtime `makeManyPacks` hands out. */
export const BASE_MTIME = 978_307_200;

const DAY = 86_400;

// ---------------------------------------------------------------------------------------------
// Temporary directories

/** Creates a fresh directory under os.tmpdir(); pair it with `removeDir` (e.g. node:test before/after). */
export function makeTempDir(prefix = TEMP_PREFIX): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a directory tree; a missing directory is not an error. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Runs `fn` with a fresh temporary directory that is removed afterwards, whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), TEMP_PREFIX));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

// ---------------------------------------------------------------------------------------------
// Environment and the low-level spawn helper

/** Config every helper repository runs with, passed through GIT_CONFIG_COUNT (no file involved). */
const ISOLATED_CONFIG: ReadonlyArray<readonly [string, string]> = [
  ['gc.auto', '0'],
  ['maintenance.auto', 'false'],
  ['init.defaultBranch', 'main'],
  // fast-import explodes packs with fewer objects than this into loose objects; makeManyPacks and
  // the bench corpus need its packs as packs.
  ['fastimport.unpackLimit', '0'],
];

/**
 * A fully isolated environment for `git`: a copy of process.env without any `GIT_*` variable, no
 * system config, an empty global config file inside `home`, a fixed identity and dates, C locale,
 * and `gc.auto=0`, `maintenance.auto=false`, `init.defaultBranch=main` (core.multiPackIndex is left
 * at its default). Creates `home` and the empty config file if needed.
 */
export function gitEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_') && key !== 'LANGUAGE') env[key] = value;
  }
  mkdirSync(home, { recursive: true });
  const globalConfig = join(home, '.gitconfig');
  if (!existsSync(globalConfig)) writeFileSync(globalConfig, '');
  Object.assign(env, {
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: globalConfig,
    GIT_AUTHOR_NAME: 'A U Thor',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'C O Mitter',
    GIT_COMMITTER_EMAIL: 'committer@example.com',
    GIT_AUTHOR_DATE: FIXED_DATE,
    GIT_COMMITTER_DATE: FIXED_DATE,
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_COUNT: String(ISOLATED_CONFIG.length),
  });
  ISOLATED_CONFIG.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  /** Exit code; a death by signal is reported like a shell does, 128 + signal (segfault → 139). */
  status: number;
}

export interface GitSpawnOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Given to git's stdin; without it stdin is empty (never inherited: CI has none). */
  input?: string | Buffer;
  /** Return a failing result instead of throwing. */
  allowFail?: boolean;
}

/** Runs `git <args>` synchronously; throws an error quoting the command and stderr when it fails. */
export function git(args: readonly string[], opts: GitSpawnOptions): GitResult {
  const result = spawnSync('git', args, {
    cwd: opts.cwd,
    env: opts.env,
    input: opts.input ?? '',
    maxBuffer: 1 << 30,
    windowsHide: true,
  });
  if (result.error) {
    throw new Error(`git ${args.join(' ')}: could not run git: ${result.error.message}`);
  }
  const stderr = result.stderr.toString('utf8');
  let status = result.status;
  if (status === null) {
    const signal = result.signal ?? 'SIGKILL';
    status = 128 + (osConstants.signals[signal] ?? 0);
  }
  if (status !== 0 && !opts.allowFail) {
    const shown = stderr.trim() || '(no stderr)';
    throw new Error(`git ${args.join(' ')} failed with exit code ${status} in ${opts.cwd}:\n${shown}`);
  }
  return { stdout: result.stdout, stderr, status };
}

// ---------------------------------------------------------------------------------------------
// Test repositories

export interface TestRepoOptions {
  objectFormat?: 'sha1' | 'sha256';
  bare?: boolean;
  /** Where to create the repository (must not exist or be empty); default: a new temp dir. */
  dir?: string;
}

export interface RepoGitOptions {
  input?: string | Buffer;
  allowFail?: boolean;
  /** Extra variables on top of the repository's isolated env. */
  env?: Record<string, string>;
}

export interface PackObjectsOptions {
  /** `.pack`/`.idx` mtime: a Date or whole seconds since the epoch. */
  mtime?: Date | number;
  /** false → `--no-delta-base-offset` (REF_DELTA instead of OFS_DELTA). Default: git's default. */
  deltaBaseOffset?: boolean;
  /** Passed as `--index-version=<value>`, e.g. `1` or `2,0x40`. */
  indexVersion?: string;
  /** Base name prefix inside objects/pack; default `pack`. */
  prefix?: string;
}

/** A throw-away repository made with `git init`; `cleanup()` removes everything it created. */
export class TestRepo {
  /** Work tree (or the repository itself when bare). */
  readonly dir: string;
  readonly gitDir: string;
  readonly objectDir: string;
  readonly packDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly objectFormat: 'sha1' | 'sha256';
  readonly bare: boolean;
  /** Length of a hex object id in this repository (40 or 64). */
  readonly hexLength: 40 | 64;
  /** Temp root holding HOME, scratch files and (unless `dir` was given) the repository. */
  private readonly root: string;
  private scratchCounter = 0;
  private seedCounter = 0;

  private constructor(root: string, dir: string, objectFormat: 'sha1' | 'sha256', bare: boolean) {
    this.root = root;
    this.dir = dir;
    this.objectFormat = objectFormat;
    this.bare = bare;
    this.hexLength = objectFormat === 'sha256' ? 64 : 40;
    this.gitDir = bare ? dir : join(dir, '.git');
    this.objectDir = join(this.gitDir, 'objects');
    this.packDir = join(this.objectDir, 'pack');
    this.env = gitEnv(join(root, 'home'));
  }

  static create(opts: TestRepoOptions = {}): TestRepo {
    const objectFormat = opts.objectFormat ?? 'sha1';
    const bare = opts.bare ?? false;
    const root = makeTempDir();
    try {
      const dir = opts.dir ?? join(root, bare ? 'repo.git' : 'repo');
      const repo = new TestRepo(root, dir, objectFormat, bare);
      const args = ['init', '-q', `--object-format=${objectFormat}`];
      if (bare) args.push('--bare');
      args.push(dir);
      git(args, { cwd: root, env: repo.env });
      mkdirSync(repo.packDir, { recursive: true });
      return repo;
    } catch (err) {
      removeDir(root);
      throw err;
    }
  }

  /** Runs git inside the repository. */
  git(args: readonly string[], opts: RepoGitOptions = {}): GitResult {
    const env = opts.env ? { ...this.env, ...opts.env } : this.env;
    return git(args, { cwd: this.dir, env, input: opts.input, allowFail: opts.allowFail });
  }

  /** Runs git and returns its stdout as text, trimmed. */
  gitText(args: readonly string[], input?: string | Buffer): string {
    return this.git(args, { input }).stdout.toString('utf8').trim();
  }

  /** A new empty scratch directory outside the repository (removed by cleanup()). */
  scratchDir(): string {
    const dir = join(this.root, 'scratch', String(this.scratchCounter++));
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Writes blobs as loose objects (`git hash-object -w --no-filters --stdin-paths`, one spawn for
   * all of them) and returns their hex ids in input order.
   */
  writeBlobs(contents: readonly (string | Buffer)[]): string[] {
    if (contents.length === 0) return [];
    const scratch = this.scratchDir();
    try {
      const paths = contents.map((content, i) => {
        const path = join(scratch, String(i));
        writeFileSync(path, content);
        return path;
      });
      const out = this.gitText(
        ['hash-object', '-w', '--no-filters', '--stdin-paths'],
        `${paths.join('\n')}\n`,
      );
      const oids = out.split('\n');
      if (oids.length !== contents.length) {
        throw new Error(`hash-object returned ${oids.length} ids for ${contents.length} blobs`);
      }
      return oids;
    } finally {
      removeDir(scratch);
    }
  }

  /**
   * Creates a pack in objects/pack holding exactly `oids` (`git pack-objects -q …`, §17.0) and returns
   * its stem (`pack-<hex>`). The objects may be loose, packed, or in an alternate.
   */
  packObjects(oids: readonly string[], opts: PackObjectsOptions = {}): string {
    return packObjectsIn(this, oids, opts, undefined);
  }

  /** Sets the mtime (and atime) of `<stem>.pack` and `<stem>.idx`; Git reads whole seconds (§8.3). */
  setPackMtime(stem: string, mtime: Date | number): void {
    const seconds = toSeconds(mtime);
    for (const ext of ['.pack', '.idx']) {
      const path = join(this.packDir, stem + ext);
      if (existsSync(path)) utimesSync(path, seconds, seconds);
    }
  }

  /** Names in objects/pack in raw readdir order, as git discovers packs (§8.3, §17.4). */
  listPackDirRaw(): string[] {
    return listDirRaw(this.packDir);
  }

  /** Stems of the packs present (one per `.idx`), sorted like Git sorts PNAM (strcmp). */
  listPackStems(): string[] {
    return readdirSync(this.packDir)
      .filter((name) => name.endsWith('.idx'))
      .map((name) => name.slice(0, -'.idx'.length))
      .sort(compareBytes);
  }

  /** Writes files into the work tree, `git add`s them and commits; returns the commit id. */
  commitFiles(files: Record<string, string>, message: string): string {
    if (this.bare) throw new Error('commitFiles needs a repository with a work tree');
    const names = Object.keys(files);
    for (const name of names) {
      const path = join(this.dir, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, files[name]);
    }
    if (names.length > 0) this.git(['add', '--', ...names]);
    this.git(['commit', '-q', '--allow-empty', '-m', message]);
    return this.gitText(['rev-parse', 'HEAD']);
  }

  /**
   * `git repack -q -d` (without -a): packs the loose objects into one new pack and deletes them,
   * leaving the older packs alone. Returns the new pack's stem; throws unless exactly one appeared.
   */
  repackIncremental(): string {
    const before = new Set(this.listPackStems());
    this.git(['repack', '-q', '-d']);
    const added = this.listPackStems().filter((stem) => !before.has(stem));
    if (added.length !== 1) {
      throw new Error(`git repack -d made ${added.length} new packs (${added.join(', ')}), expected one`);
    }
    return added[0];
  }

  get midxPath(): string {
    return join(this.packDir, 'multi-pack-index');
  }

  /** The MIDX file's bytes, or undefined when there is none. */
  readMidx(): Buffer | undefined {
    try {
      return readFileSync(this.midxPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Removes the temp root (HOME, scratch files, and the repository unless `dir` was given). */
  cleanup(): void {
    removeDir(this.root);
  }

  /** @internal next default seed for makeManyPacks: distinct per call, deterministic by call order. */
  nextSeed(): number {
    return ++this.seedCounter;
  }
}

// ---------------------------------------------------------------------------------------------
// Many packs at once

export interface ManyPacksOptions {
  /** Makes the blob contents (and thus the ids); default: 1, 2, … per call on the same repo. */
  seed?: number;
  /**
   * Duplicates: every pack i > 0 also holds objects 0, k, 2k, … of pack i − 1 (k = duplicateEvery),
   * so those ids are in two packs. Default: no duplicates.
   */
  duplicateEvery?: number;
  /**
   * Pack mtimes in seconds: pack i gets `mtimeBase + i * mtimeStep`. Defaults: 2001-01-01 and one day;
   * `mtimeStep: 0` gives every pack the same mtime.
   */
  mtimeBase?: number;
  mtimeStep?: number;
  /** true: OFS_DELTA (`--delta-base-offset`, what `git repack` and fetches give); default: pack-objects' REF_DELTA. */
  deltaBaseOffset?: boolean;
}

/**
 * Builds `packs` packs of `objectsPerPack` small distinct blobs each: one `git fast-import` run
 * writes all blobs into a scratch object directory, then one `git pack-objects` per pack (reading
 * the scratch directory as an alternate) writes the packs into the repository; nothing loose is left.
 * Returns the stems in creation order and the distinct ids (pack by pack, in input order).
 * Pack i has mtime `mtimeBase + i * mtimeStep` (distinct by default).
 */
export function makeManyPacks(
  repo: TestRepo,
  packs: number,
  objectsPerPack: number,
  opts: ManyPacksOptions = {},
): { stems: string[]; oids: string[] } {
  if (!Number.isInteger(packs) || packs < 1) throw new RangeError(`packs must be ≥ 1, got ${packs}`);
  if (!Number.isInteger(objectsPerPack) || objectsPerPack < 1) {
    throw new RangeError(`objectsPerPack must be ≥ 1, got ${objectsPerPack}`);
  }
  const dupEvery = opts.duplicateEvery ?? 0;
  if (!Number.isInteger(dupEvery) || dupEvery < 0) {
    throw new RangeError(`duplicateEvery must be a whole number ≥ 0, got ${dupEvery}`);
  }
  const seed = opts.seed ?? repo.nextSeed();
  const mtimeBase = opts.mtimeBase ?? BASE_MTIME;
  const mtimeStep = opts.mtimeStep ?? DAY;

  const total = packs * objectsPerPack;
  const stream: string[] = [];
  for (let i = 0; i < total; i++) {
    const content = `makeManyPacks seed ${seed} pack ${Math.floor(i / objectsPerPack)} object ${i % objectsPerPack}\n`;
    stream.push(`blob\nmark :${i + 1}\ndata ${Buffer.byteLength(content)}\n${content}\n`);
  }
  stream.push('done\n');

  const staging = repo.scratchDir();
  try {
    const stagingObjects = join(staging, 'objects');
    mkdirSync(join(stagingObjects, 'pack'), { recursive: true });
    const marks = join(staging, 'marks');
    repo.git(['fast-import', '--quiet', '--done', `--export-marks=${marks}`], {
      input: stream.join(''),
      env: { GIT_OBJECT_DIRECTORY: stagingObjects },
    });
    const oids = parseMarks(readFileSync(marks, 'utf8'), total);

    const stems: string[] = [];
    for (let p = 0; p < packs; p++) {
      const members = oids.slice(p * objectsPerPack, (p + 1) * objectsPerPack);
      if (dupEvery > 0 && p > 0) {
        for (let j = 0; j < objectsPerPack; j += dupEvery) members.push(oids[(p - 1) * objectsPerPack + j]);
      }
      stems.push(
        packObjectsIn(
          repo,
          members,
          { mtime: mtimeBase + p * mtimeStep, deltaBaseOffset: opts.deltaBaseOffset },
          stagingObjects,
        ),
      );
    }
    return { stems, oids };
  } finally {
    removeDir(staging);
  }
}

// ---------------------------------------------------------------------------------------------
// Internals

function packObjectsIn(
  repo: TestRepo,
  oids: readonly string[],
  opts: PackObjectsOptions,
  alternate: string | undefined,
): string {
  const prefix = opts.prefix ?? 'pack';
  const args = ['pack-objects', '-q'];
  if (opts.deltaBaseOffset === false) args.push('--no-delta-base-offset');
  if (opts.deltaBaseOffset === true) args.push('--delta-base-offset');
  if (opts.indexVersion !== undefined) args.push(`--index-version=${opts.indexVersion}`);
  args.push(join(repo.packDir, prefix));
  const input = oids.length > 0 ? `${oids.join('\n')}\n` : '';
  const env = alternate ? { GIT_ALTERNATE_OBJECT_DIRECTORIES: alternate } : undefined;
  const hex = repo.git(args, { input, env }).stdout.toString('utf8').trim();
  if (!/^[0-9a-f]+$/.test(hex) || hex.length !== repo.hexLength) {
    throw new Error(`git pack-objects printed ${JSON.stringify(hex)}, expected a pack hash`);
  }
  const stem = `${prefix}-${hex}`;
  if (opts.mtime !== undefined) repo.setPackMtime(stem, opts.mtime);
  return stem;
}

/** Parses fast-import's `--export-marks` file (`:<mark> <oid>` lines) into ids by mark 1..count. */
function parseMarks(text: string, count: number): string[] {
  const oids = new Array<string>(count);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^:(\d+) ([0-9a-f]+)$/.exec(line);
    if (!m) throw new Error(`unexpected line in fast-import marks: ${JSON.stringify(line)}`);
    oids[Number(m[1]) - 1] = m[2];
  }
  for (let i = 0; i < count; i++) {
    if (oids[i] === undefined) throw new Error(`fast-import exported no id for mark :${i + 1}`);
  }
  return oids;
}

/** Directory entries in the order the OS returns them (fs.readdirSync sorts; opendir does not). */
export function listDirRaw(dir: string): string[] {
  const handle = opendirSync(dir);
  const names: string[] = [];
  try {
    for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) names.push(entry.name);
  } finally {
    handle.closeSync();
  }
  return names;
}

function toSeconds(mtime: Date | number): number {
  return typeof mtime === 'number' ? mtime : Math.floor(mtime.getTime() / 1000);
}

/** strcmp order on names (they are ASCII here), which is what Git sorts pack names by. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
