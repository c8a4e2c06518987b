/**
 * Finding the repository (spec/objects-format.md §6.4), its format (§6.5) and its alternates
 * (§6.3), with Git's own error messages (minus the `fatal: ` / `error: ` prefix).
 *
 * Deliberately not done, as the spec allows:
 * - filesystem boundaries (GIT_DISCOVERY_ACROSS_FILESYSTEM): the walk up never stops at a mount point;
 * - ownership checks (`safe.directory`, "detected dubious ownership"): every repository is trusted;
 * - Windows paths and separators.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitMidxError } from '../errors.js';
import { type HashAlgorithm, hashByName, SHA1 } from '../hash.js';
import { forEachAlternate } from '../store/alternates.js';
import {
  type ConfigEntry,
  GitConfig,
  loadProtectedConfig,
  loadRepoConfig,
  parseBool,
  parseConfigInt,
} from './config.js';
import { readRegularFile, readRegularFilePrefix } from './fs.js';

export interface Repository {
  /** Absolute path of the git directory (`.git`, a bare repository, or `.git/worktrees/<name>`). */
  gitDir: string;
  /** Where `objects/`, `refs/` and `config` live: gitDir, or the main repository's for a linked worktree. */
  commonDir: string;
  /** $GIT_OBJECT_DIRECTORY or `<commonDir>/objects`, absolute. */
  objectDir: string;
  /** What `git rev-parse --is-bare-repository` says. */
  bare: boolean;
  hash: HashAlgorithm;
  /** System, global, repository (and worktree) config, then the command line (§6.5). */
  config: GitConfig;
}

export interface RepositoryOptions {
  /** Where discovery starts; default process.cwd(). Relative environment paths resolve against it. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Git refuses to read a `.git` file larger than this (§6.4). */
const MAX_GITFILE_SIZE = 1 << 20;

function notARepository(message: string, data: Record<string, unknown> = {}): GitMidxError {
  return new GitMidxError('NOT_A_REPOSITORY', message, { data });
}

/** The physical current directory, like getcwd(): symlinks resolved, so the walk up is physical. */
function realCwd(cwd: string | undefined): string {
  const dir = path.resolve(cwd ?? process.cwd());
  try {
    return fs.realpathSync(dir);
  } catch (err) {
    throw new GitMidxError('IO_ERROR', `unable to get current working directory: ${dir}`, { cause: err });
  }
}

function accessible(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/** `<dir>/<name>` the way Git glues paths (no normalisation of `..`; `/` is not doubled). */
function joinRaw(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** realpath, or the path as given when it cannot be resolved. */
function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/** Environment context shared by the checks below. */
interface Ctx {
  cwd: string;
  env: NodeJS.ProcessEnv;
}

function envPath(ctx: Ctx, name: string): string | undefined {
  const v = ctx.env[name];
  return v === undefined || v === '' ? undefined : path.resolve(ctx.cwd, v);
}

/**
 * The common directory of a git directory: $GIT_COMMON_DIR, else the path in its `commondir`
 * file (relative to the git directory; trailing CR/LF dropped), else the git directory itself.
 */
function commonDirOf(gitDir: string, ctx: Ctx): string {
  const fromEnv = envPath(ctx, 'GIT_COMMON_DIR');
  if (fromEnv !== undefined) return fromEnv;
  let data: string;
  try {
    data = readRegularFile(path.join(gitDir, 'commondir'), 1 << 20).toString('utf8');
  } catch {
    return gitDir;
  }
  data = data.replace(/[\r\n]+$/, '');
  return realpathOr(path.resolve(gitDir, data));
}

/**
 * `HEAD` is a symlink whose target starts with `refs/`, or a file starting with `ref:`, optional
 * whitespace and `refs/`, or with 40 hex digits (a detached HEAD) (§6.4 item 3).
 */
function validHead(file: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return false;
  }
  if (st.isSymbolicLink()) {
    try {
      return fs.readlinkSync(file).startsWith('refs/');
    } catch {
      return false;
    }
  }
  let text: string;
  try {
    text = readRegularFilePrefix(file, 255).toString('latin1');
  } catch {
    return false;
  }
  if (text.startsWith('ref:')) return /^ref:[ \t\n\r]*refs\//.test(text);
  return /^[0-9a-fA-F]{40}/.test(text);
}

/** Git's "is a git directory" test (§6.4 item 3). */
function isGitDirectory(dir: string, ctx: Ctx): boolean {
  const common = commonDirOf(dir, ctx);
  const objects = envPath(ctx, 'GIT_OBJECT_DIRECTORY') ?? path.join(common, 'objects');
  return accessible(objects) && accessible(path.join(common, 'refs')) && validHead(path.join(dir, 'HEAD'));
}

/**
 * Follows a `.git` file (`gitdir: <path>`, §6.4). Returns undefined when `file` is not a regular
 * file (a directory, missing, a FIFO…); otherwise the real path of the git directory it names, or
 * an error with Git's message. `shown` is `file` as the messages name it (GIT_DIR as written).
 */
function readGitfile(file: string, shown: string, ctx: Ctx): string | undefined {
  const st = statOrUndefined(file);
  if (!st?.isFile()) return undefined;
  if (st.size > MAX_GITFILE_SIZE) {
    throw new GitMidxError('BAD_GITFILE', `too large to be a .git file: '${shown}'`, { file });
  }
  let text: string;
  try {
    text = readRegularFile(file, MAX_GITFILE_SIZE).toString('utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new GitMidxError('IO_ERROR', `error opening '${shown}': ${reason}`, { file, cause: err });
  }
  text = text.replace(/[\r\n]+$/, '');
  if (!text.startsWith('gitdir: ')) {
    throw new GitMidxError('BAD_GITFILE', `invalid gitfile format: ${shown}`, { file });
  }
  const target = text.slice('gitdir: '.length);
  if (target === '') throw new GitMidxError('BAD_GITFILE', `no path in gitfile: ${shown}`, { file });
  // Relative to the directory holding the file; Git names the unnormalised path in the message.
  const slash = shown.lastIndexOf('/');
  const dir = path.isAbsolute(target) || slash < 0 ? target : joinRaw(shown.slice(0, slash + 1), target);
  if (!isGitDirectory(path.resolve(ctx.cwd, dir), ctx))
    throw notARepository(`not a git repository: ${dir}`, { gitfile: file });
  return realpathOr(path.resolve(ctx.cwd, dir));
}

/** How the git directory was found; decides `bare` (checked against git, see test/repo.test.ts). */
type Found = 'explicit' | 'dotgit' | 'bare';

/**
 * Reads the repository format from `<commonDir>/config` only (§6.5): validates
 * core.repositoryFormatVersion, core.bare and `extensions.*` in file order, as Git's callback
 * does, then applies the version rules. Returns the hash and `core.bare` (undefined = unset).
 */
function checkRepositoryFormat(entries: Iterable<ConfigEntry>): {
  hash: HashAlgorithm;
  versionSet: boolean;
  coreBare: boolean | undefined;
} {
  // -1 = no core.repositoryFormatVersion: then Git checks no extension at all (and uses SHA-1).
  let version = -1;
  let coreBare: boolean | undefined;
  let hash = SHA1;
  const unknown: string[] = [];
  const v1Only: string[] = [];
  const missingValue = (e: ConfigEntry) =>
    new GitMidxError('BAD_CONFIG', `missing value for '${e.key}'`, { file: e.file, data: { line: e.line } });
  for (const e of entries) {
    if (e.scope !== 'local') continue;
    if (e.key === 'core.repositoryformatversion') {
      version = parseConfigInt(e.value, e.key, e.file);
    } else if (e.key === 'core.bare') {
      coreBare = parseBool(e.value, e.key);
    } else if (e.key.startsWith('extensions.')) {
      const ext = e.key.slice('extensions.'.length);
      switch (ext) {
        // Allowed with version 0 too.
        case 'noop':
          break;
        case 'preciousobjects':
        case 'worktreeconfig':
          parseBool(e.value, e.key);
          break;
        case 'partialclone':
          if (e.value === null) throw missingValue(e);
          break;
        // Version 1 only.
        case 'noop-v1':
          v1Only.push(ext);
          break;
        case 'objectformat': {
          if (e.value === null) throw missingValue(e);
          const h = hashByName(e.value); // lowercase only: `SHA256` is rejected
          if (!h) {
            throw new GitMidxError(
              'BAD_CONFIG',
              `invalid value for 'extensions.objectformat': '${e.value}'`,
              {
                file: e.file,
                data: { line: e.line, value: e.value },
              },
            );
          }
          hash = h;
          v1Only.push(ext);
          break;
        }
        default:
          unknown.push(ext);
      }
    }
  }
  if (version > 1) throw new GitMidxError('REPO_FORMAT', `Expected git repo version <= 1, found ${version}`);
  const list = (names: string[]) => names.map((n) => `\n\t${n}`).join('');
  const plural = (names: string[]) => (names.length > 1 ? 's' : '');
  if (version >= 1 && unknown.length > 0) {
    throw new GitMidxError(
      'REPO_FORMAT',
      `unknown repository extension${plural(unknown)} found:${list(unknown)}`,
      {
        data: { extensions: unknown },
      },
    );
  }
  if (version === 0 && v1Only.length > 0) {
    throw new GitMidxError(
      'REPO_FORMAT',
      `repo version is 0, but v1-only extension${plural(v1Only)} found:${list(v1Only)}`,
      { data: { extensions: v1Only } },
    );
  }
  // Git applies extensions only from version 1 on; without the version key they are ignored.
  return { hash: version >= 1 ? hash : SHA1, versionSet: version >= 0, coreBare };
}

/** Builds the Repository once the git directory is known. */
function openRepository(gitDir: string, found: Found, ctx: Ctx): Repository {
  const commonDir = commonDirOf(gitDir, ctx);
  const objectDir = envPath(ctx, 'GIT_OBJECT_DIRECTORY') ?? path.join(commonDir, 'objects');
  const config = loadRepoConfig(commonDir, ctx.env, gitDir);
  const format = checkRepositoryFormat(
    config.each(
      (key, scope) =>
        scope === 'local' &&
        (key === 'core.repositoryformatversion' || key === 'core.bare' || key.startsWith('extensions.')),
    ),
  );
  // Observed on git 2.39 (`rev-parse --is-bare-repository`): GIT_WORK_TREE always means non-bare.
  // A directory found as a bare repository by the walk is bare unless core.bare (any layer) is
  // false. For GIT_DIR and `.git`, Git sets up a work tree unless the repository file says
  // core.bare = true, and it only looks there when the file has core.repositoryFormatVersion and
  // the git directory is its own common directory (not a linked worktree, no GIT_COMMON_DIR).
  let bare: boolean;
  if (ctx.env.GIT_WORK_TREE) bare = false;
  else if (found === 'bare') bare = config.getBool('core.bare', true);
  else bare = format.versionSet && commonDir === gitDir && format.coreBare === true;
  return { gitDir, commonDir, objectDir, bare, hash: format.hash, config };
}

/**
 * GIT_CEILING_DIRECTORIES: absolute entries separated by `:`; relative ones are ignored. Entries
 * are canonicalised with realpath, except those after an empty entry, which are taken as written
 * (minus one trailing slash). `/` means nothing.
 */
function ceilingDirectories(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  let resolve = true;
  for (const entry of value.split(':')) {
    if (entry === '') {
      resolve = false;
      continue;
    }
    if (!path.isAbsolute(entry)) continue;
    const dir = resolve ? realpathOr(path.resolve(entry)) : entry.replace(/\/$/, '');
    if (dir === '' || dir === '/') continue;
    out.push(dir);
  }
  return out;
}

/** `safe.bareRepository` from protected config: `all` (default) or `explicit` (§6.4). */
function bareRepositoryPolicy(env: NodeJS.ProcessEnv): string {
  const e = loadProtectedConfig(env).getEntry('safe.bareRepository');
  if (e === undefined) return 'all';
  if (e.value === 'all' || e.value === 'explicit') return e.value;
  throw new GitMidxError(
    'BAD_CONFIG',
    e.file === undefined
      ? `unable to parse '${e.key}' from command-line config`
      : `bad config variable '${e.key}' in file '${e.file}' at line ${e.line}`,
    { file: e.file, data: { key: e.key, value: e.value } },
  );
}

/**
 * Finds the repository like `git rev-parse --git-dir` (§6.4): $GIT_DIR when set (no walk), otherwise
 * walking up from `cwd` for `.git` (directory or gitdir file) or a bare repository, stopping below
 * the nearest GIT_CEILING_DIRECTORIES entry. Then checks the format (§6.5) and loads the config.
 */
export function discoverRepository(opts: RepositoryOptions = {}): Repository {
  const env = opts.env ?? process.env;
  const ctx: Ctx = { cwd: realCwd(opts.cwd), env };

  const gitDirEnv = env.GIT_DIR;
  if (gitDirEnv !== undefined) {
    const given = path.resolve(ctx.cwd, gitDirEnv);
    // A `.git` file named by GIT_DIR is followed; its errors name the path as given.
    const target = gitDirEnv === '' ? undefined : readGitfile(given, gitDirEnv, ctx);
    const gitDir = target ?? given;
    if (gitDirEnv === '' || !isGitDirectory(gitDir, ctx)) {
      throw notARepository(`not a git repository: '${gitDirEnv}'`, { gitDir: gitDirEnv });
    }
    return openRepository(gitDir, 'explicit', ctx);
  }

  // The walk checks cwd and its parents, but never a ceiling directory or anything above it. A
  // ceiling equal to cwd itself does not count (it is not an ancestor).
  const ceiling = ceilingDirectories(env.GIT_CEILING_DIRECTORIES)
    .filter((c) => ctx.cwd.startsWith(`${c}/`))
    .reduce((a, b) => (b.length > a.length ? b : a), '');
  let dir = ctx.cwd;
  for (;;) {
    const dotGit = joinRaw(dir, '.git');
    const target = readGitfile(dotGit, dotGit, ctx);
    if (target !== undefined) return openRepository(target, 'dotgit', ctx);
    if (isGitDirectory(dotGit, ctx)) return openRepository(dotGit, 'dotgit', ctx);
    if (isGitDirectory(dir, ctx)) {
      const policy = bareRepositoryPolicy(env);
      if (policy === 'explicit') {
        throw notARepository(`cannot use bare repository '${dir}' (safe.bareRepository is '${policy}')`, {
          gitDir: dir,
        });
      }
      return openRepository(dir, 'bare', ctx);
    }
    const parent = path.dirname(dir);
    if (parent === dir || (ceiling !== '' && parent.length <= ceiling.length)) break;
    dir = parent;
  }
  throw notARepository('not a git repository (or any of the parent directories): .git');
}

/**
 * The repository to use with an explicit object directory (`--object-dir`).
 *
 * Choice (git 2.39 differs): when `objectDir` is `<X>/objects` and X passes the "is a git
 * directory" test, X's own config and hash are used, so `--object-dir` works on a SHA-256
 * repository from anywhere. Git instead always uses the repository found from the current
 * directory (a SHA-1 one then rejects a SHA-256 MIDX: "hash version 2 does not match version 1").
 * Otherwise the repository discovered from `cwd` supplies hash and config. When there is none, this
 * falls back to SHA-1 with an empty config where git 2.39 would die "not a git repository"; that
 * leniency lets `verify` run on a bare object directory. Only NOT_A_REPOSITORY falls back: a
 * broken repository around cwd (bad gitfile, format, config) is still an error. The caller checks that `objectDir` exists.
 * In every case `objectDir` is the one given (absolute).
 */
export function repositoryForObjectDir(objectDir: string, opts: RepositoryOptions = {}): Repository {
  const env = opts.env ?? process.env;
  const ctx: Ctx = { cwd: realCwd(opts.cwd), env };
  const dir = path.resolve(ctx.cwd, objectDir);
  const parent = path.dirname(dir);
  // Judge X on its own, not through the caller's GIT_DIR/GIT_OBJECT_DIRECTORY/GIT_COMMON_DIR.
  const own: NodeJS.ProcessEnv = { ...env };
  delete own.GIT_OBJECT_DIRECTORY;
  delete own.GIT_COMMON_DIR;
  delete own.GIT_DIR;
  const ownCtx: Ctx = { cwd: ctx.cwd, env: own };
  if (
    path.basename(dir) === 'objects' &&
    isGitDirectory(parent, ownCtx) &&
    commonDirOf(parent, ownCtx) === parent
  ) {
    return { ...openRepository(parent, 'bare', ownCtx), objectDir: dir };
  }
  try {
    return { ...discoverRepository({ cwd: ctx.cwd, env }), objectDir: dir };
  } catch (err) {
    if (!(err instanceof GitMidxError) || err.code !== 'NOT_A_REPOSITORY') throw err;
  }
  return {
    gitDir: parent,
    commonDir: parent,
    objectDir: dir,
    bare: true,
    hash: SHA1,
    config: new GitConfig(),
  };
}

// ---------------------------------------------------------------------------------------------
// Alternates (§6.3)

export interface Alternates {
  /** Real paths of the alternate object directories, in Git's order. */
  dirs: string[];
  /** Git's `error:` text for each entry it skips (message only, no prefix). */
  warnings: string[];
}

/** Deepest alternates file Git reads: the main directory's is depth 0 (§6.3). */
const MAX_ALTERNATE_DEPTH = 5;

/**
 * realpath as Git's alternates use it: every component must exist except the last one, which may
 * be missing (then the path is the real parent plus that name). undefined when it cannot be done.
 * `parents` caches the real paths of parent directories within one reading (a long alternates
 * file names the same parents again and again).
 */
function realpathAllowMissingLast(p: string, parents: Map<string, string | undefined>): string | undefined {
  try {
    return fs.realpathSync.native(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return undefined;
  }
  let end = p.length;
  while (end > 1 && p.charCodeAt(end - 1) === 0x2f) end--;
  const trimmed = p.slice(0, end);
  const slash = trimmed.lastIndexOf('/');
  const last = trimmed.slice(slash + 1);
  if (last === '' || last === '.' || last === '..') return undefined;
  const parentPart = slash <= 0 ? '/' : trimmed.slice(0, slash);
  let real = parents.get(parentPart);
  if (real === undefined && !parents.has(parentPart)) {
    try {
      real = fs.realpathSync.native(parentPart);
    } catch {
      real = undefined;
    }
    parents.set(parentPart, real);
  }
  return real === undefined ? undefined : path.join(real, last);
}

/**
 * The alternate object directories of `objectDir` (§6.3): $GIT_ALTERNATE_OBJECT_DIRECTORIES first
 * (`:`-separated, relative to `cwd`), then `<objectDir>/info/alternates` (relative to the object
 * directory holding the file), each accepted alternate's own file read right after it, one level
 * deeper. Duplicates and the main directory are skipped in silence; missing ones and files nested
 * too deep give a warning with Git's text (in `warnings`, or to `onWarning` as they come). Paths
 * are real paths. Linear in the size of the file: one pass to split it, real paths of parents cached.
 */
export function readAlternates(
  objectDir: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  onWarning?: (message: string) => void,
): Alternates {
  const dirs: string[] = [];
  const warnings: string[] = [];
  // Given a callback, warnings go out as they come (a long file may hold millions of them).
  const warn = onWarning ?? ((w: string) => warnings.push(w));
  const base = path.resolve(cwd, objectDir);
  const main = realpathOr(base);
  const seen = new Set<string>([main]);
  const parents = new Map<string, string | undefined>();

  // `relativeBase` undefined = environment entries, relative to cwd and named as written.
  const link = (entry: string, relativeBase: string | undefined, depth: number): void => {
    const joined =
      relativeBase === undefined || path.isAbsolute(entry) ? entry : joinRaw(relativeBase, entry);
    const real = realpathAllowMissingLast(path.resolve(cwd, joined), parents);
    if (real === undefined) {
      warn(`unable to normalize alternate object path: ${joined}`);
      return;
    }
    if (seen.has(real)) return;
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(real, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (!st?.isDirectory()) {
      warn(`object directory ${real} does not exist; check .git/objects/info/alternates`);
      return;
    }
    seen.add(real);
    dirs.push(real);
    readFile(real, depth + 1);
  };

  const readFile = (dir: string, depth: number): void => {
    let text: string;
    try {
      text = readRegularFile(path.join(dir, 'info', 'alternates')).toString('utf8');
    } catch {
      return;
    }
    if (text === '') return;
    if (depth > MAX_ALTERNATE_DEPTH) {
      warn(`${dir}: ignoring alternate object stores, nesting too deep`);
      return;
    }
    forEachAlternate(text, '\n', (entry) => link(entry, dir, depth));
  };

  const fromEnv = env.GIT_ALTERNATE_OBJECT_DIRECTORIES;
  if (fromEnv) forEachAlternate(fromEnv, ':', (entry) => link(entry, undefined, 0));
  readFile(base, 0);
  return { dirs, warnings };
}
