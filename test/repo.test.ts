/**
 * Repository discovery, repository format, config parsing and alternates (spec/objects-format.md
 * §6.3–§6.6), each compared with what the real git says about the same files: `git rev-parse`,
 * `git config -f … --list -z / --bool / --int`, `git count-objects -v`, and git's `fatal:` /
 * `error:` lines for the failures.
 */
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GitMidxError } from '../src/errors.js';
import { SHA1, SHA256 } from '../src/hash.js';
import {
  type ConfigEntry,
  GitConfig,
  loadRepoConfig,
  parseBool,
  parseConfig,
  parseConfigInt,
  readConfigFiles,
} from '../src/node/config.js';
import { discoverRepository, readAlternates, repositoryForObjectDir } from '../src/node/repo.js';
import { git, gitEnv, makeTempDir, removeDir } from './helpers/git.js';

let root: string;
let baseEnv: NodeJS.ProcessEnv;

before(() => {
  root = realpathSync(makeTempDir('git-midx-repo-test-'));
  // gitEnv: no GIT_* inherited, no system config, an empty global file in HOME, fixed identity/dates.
  // The ceiling keeps every walk inside `root`, whatever lies above the temp directory.
  baseEnv = { ...gitEnv(join(root, 'home')), GIT_CEILING_DIRECTORIES: dirname(root) };
});

after(() => removeDir(root));

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = baseEnv) {
  const r = git(args, { cwd, env, allowFail: true });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/** git's message without the `fatal: ` prefix (the last fatal line and anything after it). */
function fatalMessage(stderr: string): string {
  const at = stderr.lastIndexOf('fatal: ');
  assert.ok(at >= 0, `no fatal: line in ${JSON.stringify(stderr)}`);
  return stderr.slice(at + 'fatal: '.length).replace(/\n$/, '');
}

/** The error our function throws: code and message. */
function caught(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GitMidxError, `not a GitMidxError: ${err}`);
    return { code: err.code, message: err.message };
  }
  assert.fail('expected an error');
}

// ---------------------------------------------------------------------------------------------
// Repository discovery (§6.4)

interface View {
  gitDir: string;
  commonDir: string;
  bare: boolean;
  objectDir: string;
  hash: string;
}

/** What git says from `cwd`; relative paths are resolved against cwd. */
function gitView(cwd: string, env: NodeJS.ProcessEnv = baseEnv): View {
  const r = run(
    [
      'rev-parse',
      '--git-dir',
      '--git-common-dir',
      '--is-bare-repository',
      '--git-path',
      'objects',
      '--show-object-format',
    ],
    cwd,
    env,
  );
  assert.equal(r.status, 0, r.stderr);
  const [gitDir, commonDir, bare, objectDir, hash] = r.stdout.trimEnd().split('\n');
  return {
    gitDir: resolve(cwd, gitDir),
    commonDir: resolve(cwd, commonDir),
    bare: bare === 'true',
    objectDir: resolve(cwd, objectDir),
    hash,
  };
}

function ourView(cwd: string, env: NodeJS.ProcessEnv = baseEnv): View {
  const repo = discoverRepository({ cwd, env });
  return {
    gitDir: repo.gitDir,
    commonDir: repo.commonDir,
    bare: repo.bare,
    objectDir: repo.objectDir,
    hash: repo.hash.name,
  };
}

function sameAsGit(cwd: string, env: NodeJS.ProcessEnv = baseEnv): View {
  const ours = ourView(cwd, env);
  assert.deepEqual(ours, gitView(cwd, env));
  return ours;
}

/** Both fail: the same message, and our error code. */
function sameFailure(cwd: string, env: NodeJS.ProcessEnv, code: string): string {
  const r = run(['rev-parse', '--git-dir'], cwd, env);
  assert.notEqual(r.status, 0, `git succeeded: ${r.stdout}`);
  const ours = caught(() => discoverRepository({ cwd, env }));
  assert.equal(ours.message, fatalMessage(r.stderr));
  assert.equal(ours.code, code);
  return ours.message;
}

describe('discoverRepository against git rev-parse', () => {
  let d: string;
  before(() => {
    d = join(root, 'disc');
    mkdirSync(d);
    run(['init', '-q', 'work'], d);
    mkdirSync(join(d, 'work', 'sub', 'deep'), { recursive: true });
    run(['commit', '-q', '--allow-empty', '-m', 'one'], join(d, 'work'));
    run(['worktree', 'add', '-q', '../wt'], join(d, 'work'));
    run(['init', '-q', '--bare', 'bare.git'], d);
    mkdirSync(join(d, 'bare.git', 'refs', 'x'), { recursive: true });
    run(['init', '-q', '--separate-git-dir', join(d, 'sep.git'), 'sep'], d);
    mkdirSync(join(d, 'sep', 'sub'));
    run(['init', '-q', '--separate-git-dir', join(d, 'real.git'), 'rel'], d);
    writeFileSync(join(d, 'rel', '.git'), 'gitdir: ../real.git\r\n');
    mkdirSync(join(d, 'rel', 'a', 'b'), { recursive: true });
    run(['init', '-q', '--object-format=sha256', 's256'], d);
    mkdirSync(join(d, 'plain', 'x'), { recursive: true });
    mkdirSync(join(d, 'gf', 'a'), { recursive: true });
  });

  it('finds a normal repository from its root and from a subdirectory', () => {
    const top = sameAsGit(join(d, 'work'));
    assert.equal(top.gitDir, join(d, 'work', '.git'));
    assert.equal(top.bare, false);
    assert.deepEqual(sameAsGit(join(d, 'work', 'sub', 'deep')), top);
  });

  it('finds a bare repository from itself, objects/ and refs/x', () => {
    const bare = sameAsGit(join(d, 'bare.git'));
    assert.equal(bare.bare, true);
    assert.equal(bare.objectDir, join(d, 'bare.git', 'objects'));
    assert.deepEqual(sameAsGit(join(d, 'bare.git', 'objects')), bare);
    assert.deepEqual(sameAsGit(join(d, 'bare.git', 'refs', 'x')), bare);
  });

  it('inside .git the git directory is found as a bare-style directory with core.bare=false', () => {
    const v = sameAsGit(join(d, 'work', '.git'));
    assert.equal(v.gitDir, join(d, 'work', '.git'));
    assert.equal(v.bare, false);
  });

  it('follows an absolute gitdir file (git init --separate-git-dir)', () => {
    const v = sameAsGit(join(d, 'sep', 'sub'));
    assert.equal(v.gitDir, join(d, 'sep.git'));
  });

  it('follows a relative gitdir file with CRLF, resolved against the directory holding it', () => {
    const v = sameAsGit(join(d, 'rel', 'a', 'b'));
    assert.equal(v.gitDir, join(d, 'real.git'));
  });

  it('uses the commondir of a linked worktree', () => {
    const v = sameAsGit(join(d, 'wt'));
    assert.equal(v.gitDir, join(d, 'work', '.git', 'worktrees', 'wt'));
    assert.equal(v.commonDir, join(d, 'work', '.git'));
    assert.equal(v.objectDir, join(d, 'work', '.git', 'objects'));
    // And from inside the worktree's own git directory.
    sameAsGit(join(d, 'work', '.git', 'worktrees', 'wt'));
  });

  it('reads the SHA-256 object format', () => {
    const v = sameAsGit(join(d, 's256'));
    assert.equal(v.hash, 'sha256');
    assert.equal(discoverRepository({ cwd: join(d, 's256'), env: baseEnv }).hash, SHA256);
    assert.equal(discoverRepository({ cwd: join(d, 'work'), env: baseEnv }).hash, SHA1);
  });

  it('honours GIT_DIR (absolute, relative, a gitfile) without walking', () => {
    const env = (gitDir: string) => ({ ...baseEnv, GIT_DIR: gitDir });
    assert.equal(sameAsGit(join(d, 'work', 'sub'), env('../.git')).gitDir, join(d, 'work', '.git'));
    assert.equal(sameAsGit(join(d, 'plain'), env(join(d, 'bare.git'))).bare, true);
    assert.equal(sameAsGit(join(d, 'plain'), env(join(d, 'sep', '.git'))).gitDir, join(d, 'sep.git'));
    sameFailure(join(d, 'work'), env(join(d, 'nope')), 'NOT_A_REPOSITORY');
    sameFailure(join(d, 'work'), env('nope'), 'NOT_A_REPOSITORY');
    sameFailure(join(d, 'work'), env(''), 'NOT_A_REPOSITORY');
    sameFailure(join(d, 'work'), env(join(d, 'work')), 'NOT_A_REPOSITORY');
  });

  it('honours GIT_OBJECT_DIRECTORY and GIT_COMMON_DIR', () => {
    const objects = join(d, 'bare.git', 'objects');
    const v = sameAsGit(join(d, 'work', 'sub'), { ...baseEnv, GIT_OBJECT_DIRECTORY: objects });
    assert.equal(v.objectDir, objects);
    assert.equal(v.gitDir, join(d, 'work', '.git'));
    // A missing object directory fails the "is a git directory" test everywhere.
    sameFailure(
      join(d, 'work'),
      { ...baseEnv, GIT_OBJECT_DIRECTORY: join(d, 'missing') },
      'NOT_A_REPOSITORY',
    );
    const c = sameAsGit(join(d, 'work', 'sub'), { ...baseEnv, GIT_COMMON_DIR: join(d, 'bare.git') });
    assert.equal(c.commonDir, join(d, 'bare.git'));
    assert.equal(c.objectDir, objects);
  });

  it('stops below GIT_CEILING_DIRECTORIES', () => {
    const deep = join(d, 'work', 'sub', 'deep');
    const ceil = (value: string) => ({ ...baseEnv, GIT_CEILING_DIRECTORIES: value });
    sameFailure(deep, ceil(join(d, 'work', 'sub')), 'NOT_A_REPOSITORY');
    sameFailure(deep, ceil(join(d, 'work')), 'NOT_A_REPOSITORY');
    sameFailure(deep, ceil(`${join(d, 'work')}/`), 'NOT_A_REPOSITORY');
    sameFailure(deep, ceil(`/nonexistent:${join(d, 'work', 'sub')}/../sub`), 'NOT_A_REPOSITORY');
    sameFailure(join(d, 'bare.git', 'objects'), ceil(join(d, 'bare.git')), 'NOT_A_REPOSITORY');
    // Not ceilings: cwd itself, a relative path, `/`, a sibling prefix, an unresolved entry after `::`.
    sameAsGit(deep, ceil(deep));
    sameAsGit(deep, ceil('work/sub'));
    sameAsGit(deep, ceil('/'));
    sameAsGit(deep, ceil(join(d, 'work', 's')));
    symlinkSync(join(d, 'work', 'sub'), join(d, 'sublink'));
    sameFailure(deep, ceil(join(d, 'sublink')), 'NOT_A_REPOSITORY');
    sameAsGit(deep, ceil(`:${join(d, 'sublink')}`));
    sameAsGit(deep, ceil(`:${join(d, 'work', 'sub')}/.`));
    // After `::` one trailing slash is dropped, not two.
    sameFailure(deep, ceil(`:${join(d, 'work', 'sub')}/`), 'NOT_A_REPOSITORY');
    sameAsGit(deep, ceil(`:${join(d, 'work', 'sub')}//`));
    sameFailure(deep, ceil(`${join(d, 'work', 'sub')}//`), 'NOT_A_REPOSITORY');
  });

  it('fails like git outside any repository', () => {
    const msg = sameFailure(join(d, 'plain', 'x'), baseEnv, 'NOT_A_REPOSITORY');
    assert.equal(msg, 'not a git repository (or any of the parent directories): .git');
    // An empty .git directory is not a repository; the walk goes on (and fails here).
    mkdirSync(join(d, 'plain', 'x', '.git'));
    sameFailure(join(d, 'plain', 'x'), baseEnv, 'NOT_A_REPOSITORY');
  });

  it('rejects bad gitdir files with git’s messages', () => {
    const cwd = join(d, 'gf', 'a');
    const cases: [string | Buffer, string][] = [
      ['gitdir:../real.git\n', 'BAD_GITFILE'],
      ['Gitdir: ../real.git\n', 'BAD_GITFILE'],
      ['', 'BAD_GITFILE'],
      ['gitdir:', 'BAD_GITFILE'],
      ['gitdir: \n', 'BAD_GITFILE'],
      ['gitdir: ', 'BAD_GITFILE'],
      ['gitdir: ../nope.git\n', 'NOT_A_REPOSITORY'],
      ['gitdir: ../real.git \n', 'NOT_A_REPOSITORY'],
      ['gitdir:  ../real.git\n', 'NOT_A_REPOSITORY'],
      ['gitdir: ../real.git\nextra\n', 'NOT_A_REPOSITORY'],
      [`gitdir: ${join(d, 'work')}\n`, 'NOT_A_REPOSITORY'],
      [Buffer.alloc((1 << 20) + 1, 0x20), 'BAD_GITFILE'],
    ];
    for (const [content, code] of cases) {
      writeFileSync(join(d, 'gf', '.git'), content);
      sameFailure(cwd, baseEnv, code);
    }
    // The same file through GIT_DIR, named as written.
    writeFileSync(join(d, 'gf', '.git'), 'gitdir: ../nope\n');
    sameFailure(d, { ...baseEnv, GIT_DIR: 'gf/.git' }, 'NOT_A_REPOSITORY');
    writeFileSync(join(d, 'gf', '.git'), 'gitdir:x\n');
    sameFailure(d, { ...baseEnv, GIT_DIR: 'gf/.git' }, 'BAD_GITFILE');
    // Good forms: several trailing newlines, a trailing slash, an absolute path.
    for (const good of ['gitdir: ../real.git\n\n', `gitdir: ${join(d, 'real.git')}/`]) {
      writeFileSync(join(d, 'gf', '.git'), good);
      assert.equal(sameAsGit(cwd).gitDir, join(d, 'real.git'));
    }
  });

  it('checks safe.bareRepository from protected config only', () => {
    const explicit = { ...baseEnv, GIT_CONFIG_PARAMETERS: "'safe.bareRepository'='explicit'" };
    const msg = sameFailure(join(d, 'bare.git'), explicit, 'NOT_A_REPOSITORY');
    assert.match(msg, /^cannot use bare repository '.*bare\.git' \(safe\.bareRepository is 'explicit'\)$/);
    sameFailure(join(d, 'work', '.git'), explicit, 'NOT_A_REPOSITORY');
    // Non-bare discovery and GIT_DIR are not affected.
    sameAsGit(join(d, 'work', 'sub'), explicit);
    sameAsGit(d, { ...explicit, GIT_DIR: join(d, 'bare.git') });
    // Bad values: from the command line, and from a global file (with its line).
    sameFailure(
      join(d, 'bare.git'),
      { ...baseEnv, GIT_CONFIG_PARAMETERS: "'safe.bareRepository'='Explicit'" },
      'BAD_CONFIG',
    );
    const global = join(root, 'safe-global.cfg');
    writeFileSync(global, '[safe]\n\tbareRepository = \\\nnope\n');
    sameFailure(join(d, 'bare.git'), { ...baseEnv, GIT_CONFIG_GLOBAL: global }, 'BAD_CONFIG');
    // The repository's own config does not count.
    writeFileSync(
      join(d, 'bare.git', 'config'),
      '[core]\n\trepositoryformatversion = 0\n\tbare = true\n[safe]\n\tbareRepository = explicit\n',
    );
    sameAsGit(join(d, 'bare.git'));
  });
});

describe('repository format (§6.5) and bare detection against git', () => {
  let f: string;
  let work: string;
  before(() => {
    f = join(root, 'fmt.git');
    run(['init', '-q', '--bare', f], root);
    work = join(root, 'fmtwork');
    run(['init', '-q', work], root);
  });

  const setConfig = (dir: string, text: string) => writeFileSync(join(dir, 'config'), text);

  it('accepts the valid formats and picks the hash', () => {
    const ok: [string, string][] = [
      ['[core]\n\trepositoryformatversion = 0\n', 'sha1'],
      ['[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectformat = sha256\n', 'sha256'],
      ['[core]\n\trepositoryformatversion = 1\n[Extensions]\n\tOBJECTFORMAT = sha256\n', 'sha256'],
      [
        '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectformat = sha256\n\tobjectformat = sha1\n',
        'sha1',
      ],
      // Without the version key, extensions are ignored (git 2.39 reads sha1 here).
      ['[extensions]\n\tobjectformat = sha256\n', 'sha1'],
      ['[core]\n\trepositoryformatversion = 0\n[extensions]\n\tfooBar = 1\n', 'sha1'],
      [
        '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tnoop = 1\n\tnoop-v1\n\tpreciousObjects = true\n\tworktreeConfig = false\n\tpartialClone = origin\n',
        'sha1',
      ],
    ];
    for (const [text, hash] of ok) {
      setConfig(f, text);
      assert.equal(sameAsGit(f).hash, hash, text);
    }
  });

  it('rejects bad formats with git’s messages', () => {
    const bad: [string, string][] = [
      ['[core]\n\trepositoryformatversion = 2\n', 'REPO_FORMAT'],
      ['[core]\n\trepositoryformatversion = 0\n[extensions]\n\tobjectformat = sha256\n', 'REPO_FORMAT'],
      [
        '[core]\n\trepositoryformatversion = 0\n[extensions]\n\tnoop-v1\n\tobjectformat = sha1\n',
        'REPO_FORMAT',
      ],
      ['[core]\n\trepositoryformatversion = 1\n[extensions]\n\tfooBar = 1\n', 'REPO_FORMAT'],
      [
        '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tfooBar = 1\n\tbaz\n[extensions "X"]\n\ty\n',
        'REPO_FORMAT',
      ],
      ['[core]\n\trepositoryformatversion = x\n', 'BAD_CONFIG'],
      ['[core]\n\tbare = maybe\n', 'BAD_CONFIG'],
      ['[core]\n\trepositoryformatversion = 0\n[extensions]\n\tpreciousObjects = maybe\n', 'BAD_CONFIG'],
      ['[core\n', 'BAD_CONFIG'],
    ];
    for (const [text, code] of bad) {
      setConfig(f, text);
      const r = run(['rev-parse', '--git-dir'], f);
      assert.notEqual(r.status, 0, text);
      const ours = caught(() => discoverRepository({ cwd: f, env: baseEnv }));
      assert.equal(ours.code, code, text);
      // Git names the file `./config`; we name it by its absolute path.
      assert.equal(ours.message, fatalMessage(r.stderr).replace('./config', join(f, 'config')), text);
    }
  });

  it('reports a bad objectFormat with git’s error: line', () => {
    for (const value of ['SHA256', 'bad', '']) {
      setConfig(f, `[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectformat = ${value}\n`);
      const r = run(['rev-parse', '--git-dir'], f);
      assert.equal(r.status, 128);
      const ours = caught(() => discoverRepository({ cwd: f, env: baseEnv }));
      assert.equal(ours.code, 'BAD_CONFIG');
      assert.equal(`error: ${ours.message}`, r.stderr.split('\n')[0]);
    }
    setConfig(f, '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectformat\n');
    const r = run(['rev-parse', '--git-dir'], f);
    assert.equal(
      `error: ${caught(() => discoverRepository({ cwd: f, env: baseEnv })).message}`,
      r.stderr.split('\n')[0],
    );
  });

  it('decides bare like git rev-parse --is-bare-repository', () => {
    const configs = [
      '',
      '[core]\n\tbare = true\n',
      '[core]\n\tbare = false\n',
      '[core]\n\trepositoryformatversion = 0\n',
      '[core]\n\trepositoryformatversion = 0\n\tbare = true\n',
      '[core]\n\trepositoryformatversion = 0\n\tbare = false\n',
    ];
    for (const text of configs) {
      setConfig(f, text);
      setConfig(join(work, '.git'), text);
      sameAsGit(f);
      sameAsGit(join(f, 'objects'));
      sameAsGit(root, { ...baseEnv, GIT_DIR: f });
      sameAsGit(root, { ...baseEnv, GIT_DIR: f, GIT_WORK_TREE: root });
      sameAsGit(work);
      sameAsGit(join(work, '.git'));
    }
    setConfig(f, '[core]\n\trepositoryformatversion = 0\n\tbare = true\n');
    setConfig(join(work, '.git'), '[core]\n\trepositoryformatversion = 0\n\tbare = false\n');
  });
});

describe('repository config layers', () => {
  it('reads system/global/local/worktree/command-line config like git config --get', () => {
    const dir = join(root, 'layers');
    mkdirSync(dir);
    run(['init', '-q', 'main'], dir);
    const main = join(dir, 'main');
    run(['commit', '-q', '--allow-empty', '-m', 'x'], main);
    run(['worktree', 'add', '-q', '../lw'], main);
    const lw = join(dir, 'lw');
    const system = join(dir, 'system.cfg');
    writeFileSync(system, '[t]\n\tsys = s\n\tall = system\n');
    const global = join(dir, 'global.cfg');
    writeFileSync(global, '[t]\n\tglob = g\n\tall = global\n');
    run(['config', 't.all', 'local'], main);
    run(['config', 't.loc', 'l'], main);
    run(['config', 'extensions.worktreeConfig', 'true'], main);
    run(['config', '--worktree', 't.all', 'worktree'], lw);
    const env: NodeJS.ProcessEnv = {
      ...baseEnv,
      GIT_CONFIG_NOSYSTEM: '0',
      GIT_CONFIG_SYSTEM: system,
      GIT_CONFIG_GLOBAL: global,
    };
    const keys = ['t.sys', 't.glob', 't.loc', 't.all', 'init.defaultbranch'];
    for (const [cwd, extra] of [
      [main, {}],
      [lw, {}],
      [lw, { GIT_CONFIG_PARAMETERS: "'t.all'='param' 'T.Sub.K'" }],
    ] as const) {
      const e = { ...env, ...extra };
      const repo = discoverRepository({ cwd, env: e });
      for (const key of keys) {
        const r = run(['config', '--get-all', key], cwd, e);
        assert.deepEqual(repo.config.getAll(key).join('\n'), r.stdout.replace(/\n$/, ''), `${cwd} ${key}`);
      }
    }
    assert.equal(
      discoverRepository({ cwd: lw, env: { ...env, GIT_CONFIG_PARAMETERS: "'T.Sub.K'" } }).config.get(
        't.Sub.k',
      ),
      null,
    );
  });

  it('reads XDG and ~/.gitconfig in git’s order when GIT_CONFIG_GLOBAL is unset', () => {
    const home = join(root, 'xdghome');
    mkdirSync(join(home, '.config', 'git'), { recursive: true });
    mkdirSync(join(home, 'xdg', 'git'), { recursive: true });
    writeFileSync(join(home, '.config', 'git', 'config'), '[a]\n\tb = dotconfig\n');
    writeFileSync(join(home, 'xdg', 'git', 'config'), '[a]\n\tb = xdg\n');
    writeFileSync(join(home, '.gitconfig'), '[a]\n\tb = home\n');
    const cwd = join(root, 'home');
    const env: NodeJS.ProcessEnv = { ...baseEnv, HOME: home };
    delete env.GIT_CONFIG_GLOBAL;
    delete env.XDG_CONFIG_HOME;
    const missing = join(root, 'no-such-repo');
    for (const extra of [
      {},
      { XDG_CONFIG_HOME: join(home, 'xdg') },
      { XDG_CONFIG_HOME: '' },
      { GIT_CONFIG_GLOBAL: '' },
    ]) {
      const e = { ...env, ...extra };
      const r = run(['config', '--get-all', 'a.b'], cwd, e);
      assert.deepEqual(loadRepoConfig(missing, e).getAll('a.b').join('\n'), r.stdout.replace(/\n$/, ''));
    }
  });
});

describe('repositoryForObjectDir', () => {
  let d: string;
  before(() => {
    d = join(root, 'objdir');
    mkdirSync(d);
    run(['init', '-q', '--bare', '--object-format=sha256', 's256.git'], d);
    run(['init', '-q', 'sha1'], d);
    mkdirSync(join(d, 'loose', 'objects'), { recursive: true });
  });

  it('uses the object directory’s own repository when it is <X>/objects', () => {
    const objects = join(d, 's256.git', 'objects');
    const repo = repositoryForObjectDir(objects, { cwd: join(d, 'sha1'), env: baseEnv });
    const own = run(['rev-parse', '--show-object-format'], join(d, 's256.git')).stdout.trim();
    assert.equal(repo.hash.name, own);
    assert.equal(repo.objectDir, objects);
    assert.equal(repo.gitDir, join(d, 's256.git'));
    assert.equal(repo.config.get('extensions.objectformat'), 'sha256');
  });

  it('otherwise takes the hash and config of the repository around cwd', () => {
    const objects = join(d, 'loose', 'objects');
    const repo = repositoryForObjectDir(objects, { cwd: join(d, 's256.git'), env: baseEnv });
    assert.equal(
      repo.hash.name,
      run(['rev-parse', '--show-object-format'], join(d, 's256.git')).stdout.trim(),
    );
    assert.equal(repo.objectDir, objects);
  });

  it('falls back to SHA-1 and an empty config outside any repository (git itself dies there)', () => {
    const objects = join(d, 'loose', 'objects');
    const r = run(['multi-pack-index', `--object-dir=${objects}`, 'verify'], join(d, 'loose'));
    assert.equal(fatalMessage(r.stderr), 'not a git repository (or any of the parent directories): .git');
    const repo = repositoryForObjectDir(objects, { cwd: join(d, 'loose'), env: baseEnv });
    assert.equal(repo.hash, SHA1);
    assert.equal(repo.config.entries.length, 0);
    assert.equal(repo.objectDir, objects);
  });
});

// ---------------------------------------------------------------------------------------------
// Config syntax (§6.6)

type Listing = { entries: [string, string | null][] } | { error: string };

/** `git config -f <file> --list -z`: entries in order (null = bare key), or git's fatal message. */
function gitList(file: string): Listing {
  const r = run(['config', '-f', file, '--list', '-z'], root);
  if (r.status !== 0) return { error: fatalMessage(r.stderr) };
  const entries: [string, string | null][] = r.stdout
    .split('\0')
    .slice(0, -1)
    .map((rec) => {
      const nl = rec.indexOf('\n');
      return nl < 0 ? [rec, null] : [rec.slice(0, nl), rec.slice(nl + 1)];
    });
  return { entries };
}

function ourList(text: string, file: string): Listing {
  try {
    return { entries: parseConfig(text, file).entries.map((e): [string, string | null] => [e.key, e.value]) };
  } catch (err) {
    assert.ok(err instanceof GitMidxError && err.code === 'BAD_CONFIG', String(err));
    return { error: err.message };
  }
}

describe('config parser against git config -f', () => {
  let n = 0;
  /** Writes `text` to a file and checks parseConfig and readConfigFiles against git. */
  const compare = (text: string | Buffer): Listing => {
    const file = join(root, `cfg-${n++}`);
    writeFileSync(file, text);
    const expected = gitList(file);
    const label = JSON.stringify(text);
    assert.deepEqual(ourList(Buffer.isBuffer(text) ? text.toString('utf8') : text, file), expected, label);
    // readConfigFiles reads the same bytes from disk and skips a missing file.
    const fromDisk = (): Listing => {
      try {
        const entries = readConfigFiles([join(root, 'missing.cfg'), file]).entries;
        return { entries: entries.map((e): [string, string | null] => [e.key, e.value]) };
      } catch (err) {
        return { error: (err as Error).message };
      }
    };
    assert.deepEqual(fromDisk(), expected, label);
    return expected;
  };

  it('parses a file full of whitespace, quoting, escapes and subsection rules', () => {
    const listing = compare(
      [
        '# comment',
        '; another',
        '[core]',
        '\ta = x\ty  z   # comment',
        '\tb = "  q  " r ; c',
        '\tc = a \\',
        '   b',
        '\td',
        '\te =',
        '\tf = "a\\tb\\nc\\\\d\\"e\\b"',
        '\tg = "" x',
        '\th = x"y"z',
        '\ti = "x" "y"',
        '\tj = 1 \\',
        ' # c',
        '\tk = "a\\',
        ' c"',
        '\tl = \\',
        '\\',
        ' x',
        '\tm = x\ry\vz\fw',
        '\tn = 😀 é',
        '\tEmpty=',
        '\tUPPER-case-9 = V',
        '[Sec "Sub\\"x\\\\y\\z"] K = v1',
        '[branch.Main]',
        '\tm = 1',
        '[remote "Origin"]',
        '\turl = O',
        '[remote "origin"]',
        '\turl = o',
        '  [a]  b = 1',
        '[a] # c',
        '[a  "s"]',
        '[a "s"]b = 2',
        '[a ""]',
        'x = 3',
        '[ "x"]',
        'y = 4',
        '[a.]',
        'z = 5',
        '[A.B "C"]',
        'D = 6',
        '[a \t"tab"]',
        'e = 7',
        '[a\r"cr"]',
        'e = 8',
        '[a]',
        'b == 1',
        'c =1 2\t3',
        'd = x\\',
      ].join('\n'),
    );
    assert.ok('entries' in listing && listing.entries.length > 30);
  });

  it('accepts a BOM, CRLF, stray CRs, keys before any section and a missing final newline', () => {
    compare('\ufeff[a]\r\nb = 1\r\n\tc = x  \r\n[d]\r\r\ne = 1\r\r\n');
    compare('b = 1\n[a]\nc');
    compare('[a]\nb = x\\');
    compare('');
  });

  it('reports syntax errors with git’s line numbers', () => {
    const bad = [
      '[a]\nb ; c\n',
      '[a]\nb # c\n',
      '[a]\nb = x\\q\n',
      '[a]\nb = "\\x"\n',
      '[a]\nb = "x',
      '[a]\nb = "x\n',
      '[a]\nb = "x\\',
      '[a]\r\nb = "x\r\n',
      '[a]\nb = "\\\n\\\n',
      '[a]\nb = "\\\n\\\n\n',
      '[a]\nb = 1\\\n\\\n\\q',
      '[a]\nb = 1\nc = "2\n',
      '[ a]\nb = 1\n',
      '[a ]\nb = 1\n',
      '[a "s" ]\nb = 1\n',
      '[a "s\nx"]\nb = 1\n',
      '[]\nb = 1\n',
      '[a_b]\nc = 1\n',
      '[a]\n1b = 1\n',
      '[a]\nb_1 = 1\n',
      '[a]\n\nb=1\n  ; x\n[c\nd=2\n',
      '[a',
      '[a\n',
      '[a ',
      '[a \n',
      '[a \nb=1',
      '[a "s"',
      '[a "s"\n',
      '[a "s"x',
      '[a "s',
      '[a "s\n',
      '[a "s\\\n"]\n',
      '[a "s\\',
      '[a\v"s"]\nb=1',
      '[a]\nb c',
      '[a]\nb\\\n = 1\n',
      '[a]\n\n\n!\n',
      '[a]\nb@\n',
      '[a]\n\vb = 1',
      '[a]\nb\v= 1',
      '[a]\nb\r= 1',
      '[a]\r\n\r\nb = 1\r\n\r\n!',
      '[a]\n-b = 1\n',
      '[a]\nb. = 1\n',
      '[a]\nb\n=1\n',
      '[a]\n\ufeffb = 1\n',
    ];
    for (const text of bad) {
      const listing = compare(text);
      assert.ok('error' in listing, `git accepted ${JSON.stringify(text)}`);
    }
    // A partial BOM (raw bytes) is an error on line 1.
    assert.ok('error' in compare(Buffer.from([0xef, 0xbb, 0x5b, 0x61, 0x5d, 0x0a])));
  });

  it('looks keys up like git config --get (case rules, last value wins, bare keys)', () => {
    const file = join(root, 'lookup.cfg');
    const text =
      '[Core]\n\tBare\n\tEmpty =\n[core]\n\tbare = false\n[Remote "Origin"]\n\tURL = a\n\turl = b\n[branch.Main]\n\tm = 1\n';
    writeFileSync(file, text);
    const config = parseConfig(text, file);
    for (const key of [
      'core.bare',
      'CORE.BARE',
      'core.empty',
      'remote.Origin.url',
      'REMOTE.Origin.URL',
      'remote.origin.url',
      'branch.main.m',
      'branch.Main.m',
      'core.none',
    ]) {
      const r = run(['config', '-f', file, '--get', key], root);
      const ours = config.get(key);
      if (r.status === 1) assert.equal(ours, undefined, key);
      else assert.equal(ours ?? '', r.stdout.replace(/\n$/, ''), key);
    }
    const all = run(['config', '-f', file, '--get-all', 'remote.Origin.url'], root).stdout;
    assert.deepEqual(config.getAll('remote.origin.URL'), []);
    assert.deepEqual(config.getAll('remote.Origin.URL'), all.trimEnd().split('\n'));
    assert.equal(new GitConfig().get('a.b'), undefined);
    assert.equal(parseConfig('[core]\n\tbare\n', file).get('core.bare'), null);
  });
});

describe('booleans and integers against git config --bool / --int', () => {
  const values = [
    'true',
    'TRUE',
    'Yes',
    'on',
    'oN',
    'false',
    'No',
    'OFF',
    '',
    '1',
    '0',
    '2',
    '-1',
    '00',
    '0x0',
    '0x10',
    '010',
    '09',
    '" 1"',
    '"1 "',
    '" yes"',
    '"yes "',
    '1k',
    '0k',
    '1x',
    'maybe',
    '+3',
    '"  Yes  "',
    '2147483647',
    '2147483648',
    '-2147483647',
    '-2147483648',
    '2097151k',
    '2097152k',
    '1m',
    '1M',
    '1g',
    '3g',
    '1G',
    '0.5',
    '0x',
    '-0',
    'k',
    '-',
    '" "',
    '0X1f',
    '"0x 1"',
    '-0x10',
    '" +0"',
    '1kk',
    '0k1',
    '99999999999999999999',
    '8796093022207k',
  ];
  const file = () => join(root, 'numbers.cfg');
  let config: GitConfig;
  before(() => {
    const text = `[a]\n${values.map((v, i) => `\tv${i} = ${v}\n`).join('')}\tbare\n`;
    writeFileSync(file(), text);
    config = parseConfig(text, file());
  });

  const ours = (fn: () => unknown): string => {
    try {
      return String(fn());
    } catch (err) {
      assert.ok(err instanceof GitMidxError && err.code === 'BAD_CONFIG', String(err));
      return `fatal: ${err.message}`;
    }
  };
  const theirs = (type: string, key: string): string => {
    const r = run(['config', '-f', file(), type, key], root);
    return r.status === 0 ? r.stdout.trim() : `fatal: ${fatalMessage(r.stderr)}`;
  };

  it('parseBool / getBool match --bool', () => {
    values.forEach((_, i) => {
      const key = `a.v${i}`;
      const e = config.getEntry(key) as ConfigEntry;
      assert.equal(
        ours(() => parseBool(e.value, e.key)),
        theirs('--bool', key),
        key,
      );
      assert.equal(
        ours(() => config.getBool(key, false)),
        theirs('--bool', key),
        key,
      );
    });
    assert.equal(config.getBool('a.bare', false), theirs('--bool', 'a.bare') === 'true');
    assert.equal(config.getBool('a.absent', true), true);
  });

  it('parseConfigInt (64-bit, like --int) matches; getInt is C int', () => {
    values.forEach((_, i) => {
      const key = `a.v${i}`;
      const e = config.getEntry(key) as ConfigEntry;
      assert.equal(
        ours(() => parseConfigInt(e.value, e.key, e.file, 64)),
        theirs('--int', key),
        key,
      );
    });
    assert.equal(
      ours(() => parseConfigInt(null, 'a.bare', file(), 64)),
      theirs('--int', 'a.bare'),
    );
    assert.equal(config.getInt('a.v28', 0), 2147483647);
    assert.match(
      ours(() => config.getInt('a.v29', 0)),
      /^fatal: bad numeric config value '2147483648' for 'a\.v29' in file .*: out of range$/,
    );
    assert.equal(config.getInt('a.absent', 7), 7);
  });
});

describe('command-line config (GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT) against git config --list', () => {
  /** git config --list -z outside any repository, with only the command-line layer. */
  const compareEnv = (extra: NodeJS.ProcessEnv) => {
    const env: NodeJS.ProcessEnv = { ...baseEnv, ...extra };
    const cwd = join(root, 'home');
    const r = run(['config', '--list', '-z'], cwd, env);
    let ours: Listing;
    try {
      const entries = loadRepoConfig(join(root, 'no-such-repo'), env).entries;
      ours = { entries: entries.map((e): [string, string | null] => [e.key, e.value]) };
    } catch (err) {
      assert.ok(err instanceof GitMidxError && err.code === 'BAD_CONFIG', String(err));
      ours = { error: err.message };
    }
    if (r.status === 0) {
      const entries = r.stdout
        .split('\0')
        .slice(0, -1)
        .map((rec): [string, string | null] => {
          const nl = rec.indexOf('\n');
          return nl < 0 ? [rec, null] : [rec.slice(0, nl), rec.slice(nl + 1)];
        });
      assert.deepEqual(ours, { entries }, JSON.stringify(extra));
    } else {
      // git prints `error: <why>` then `fatal: unable to parse command-line config`.
      assert.ok('error' in ours, `we accepted ${JSON.stringify(extra)}`);
      assert.equal(`error: ${ours.error}`, r.stderr.split('\n')[0], JSON.stringify(extra));
    }
  };

  it('parses what git -c produces, and the older form', () => {
    const produced = run(
      [
        '-c',
        'a.b=x',
        '-c',
        'A.X.B=y',
        '-c',
        'a.d',
        '-c',
        'a.e=',
        '-c',
        "a.f=it's",
        '-c',
        'a.g=x=y',
        '-c',
        'alias.e=!env',
        'e',
      ],
      root,
    ).stdout.match(/^GIT_CONFIG_PARAMETERS=(.*)$/m)?.[1];
    assert.ok(produced);
    compareEnv({ GIT_CONFIG_PARAMETERS: produced, GIT_CONFIG_COUNT: '0' });
    const params = [
      "'a.b=old' 'A.C'='new' 'a.D'",
      "'A.X.B'='x' 'A.Y.B=q' 'A.Z.B'",
      "'a.b'=",
      "'a.b'=''",
      "'a.b' 'c.d'",
      "'a.b'= 'c.d'",
      "'a.b'='x'  'c.d'='y'  ",
      "'a.b'='x'\t'c.d'='y'",
      "'a.b'='x'\\''q'",
      "'a.b'='x'\\!'q'",
      "'a.b'='x'\\'''",
      "'a.b'='x\\'",
      '',
    ];
    for (const p of params) compareEnv({ GIT_CONFIG_PARAMETERS: p, GIT_CONFIG_COUNT: '0' });
  });

  it('rejects malformed parameters with git’s messages', () => {
    const bad = [
      "'a.b=old",
      'a.b=x',
      " 'a.b'='x'",
      "'a.b'='x''c.d'='y'",
      "'a.b'='x'  # 'c'",
      "'a.b'='x'zz",
      "'a.b''x'",
      "'a.b'=x",
      "'a.b'='x'=",
      "'a.b'=='x'",
      "'a.b'='x'\\a'q'",
      "'a.b'='x'\\''",
      "'ab'='x'",
      "'a.b c'='x'",
      "'a b.c=d'",
      "'a.=x'",
      "'a.b=x'='y'",
    ];
    for (const p of bad) compareEnv({ GIT_CONFIG_PARAMETERS: p, GIT_CONFIG_COUNT: '0' });
  });

  it('reads GIT_CONFIG_COUNT pairs before GIT_CONFIG_PARAMETERS', () => {
    compareEnv({
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'a.b',
      GIT_CONFIG_VALUE_0: 'count',
      GIT_CONFIG_PARAMETERS: "'a.b'='param'",
    });
    compareEnv({
      GIT_CONFIG_COUNT: '2',
      GIT_CONFIG_KEY_0: 'Ab.Cd.Ef',
      GIT_CONFIG_VALUE_0: '',
      GIT_CONFIG_KEY_1: 'x.y',
      GIT_CONFIG_VALUE_1: 'z',
    });
    compareEnv({ GIT_CONFIG_COUNT: ' +1', GIT_CONFIG_KEY_0: 'a.b', GIT_CONFIG_VALUE_0: 'x' });
    compareEnv({ GIT_CONFIG_COUNT: '' });
    for (const bad of [
      { GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'a.b', GIT_CONFIG_VALUE_0: 'x' },
      { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'a.b' },
      { GIT_CONFIG_COUNT: 'x' },
      { GIT_CONFIG_COUNT: '1 ' },
      { GIT_CONFIG_COUNT: '0x1' },
      { GIT_CONFIG_COUNT: '-1' },
      { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'ab', GIT_CONFIG_VALUE_0: '1' },
    ]) {
      compareEnv({ GIT_CONFIG_KEY_0: undefined, GIT_CONFIG_VALUE_0: undefined, ...bad });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Alternates (§6.3)

describe('readAlternates against git count-objects -v', () => {
  let a: string;
  const objects = (i: number | string) => join(a, `a${i}.git`, 'objects');
  const altFile = (i: number) => join(objects(i), 'info', 'alternates');

  before(() => {
    a = join(root, 'alt');
    mkdirSync(a);
    for (let i = 0; i <= 8; i++) run(['init', '-q', '--bare', `a${i}.git`], a);
    symlinkSync(join(a, 'a3.git'), join(a, 'a3link'));
  });

  const clearFiles = () => {
    for (let i = 0; i <= 8; i++) writeFileSync(altFile(i), '');
  };

  /** Our list and warnings against git's `alternate:` lines and `error:` lines. */
  const compare = (env: NodeJS.ProcessEnv = baseEnv): { dirs: string[]; warnings: string[] } => {
    const r = run(['--git-dir=a0.git', 'count-objects', '-v'], a, env);
    assert.equal(r.status, 0, r.stderr);
    const gitDirs = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('alternate: '))
      .map((l) => l.slice('alternate: '.length));
    // An error text may contain a newline (a path from a quoted entry); split on the prefix instead.
    const gitErrors = r.stderr
      .split(/^error: /m)
      .slice(1)
      .map((s) => s.replace(/\n$/, ''));
    const ours = readAlternates(objects(0), env, a);
    // Git's error() shows control characters other than tab and newline as `?` (a CR, here).
    const shown = ours.warnings.map((w) => w.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?'));
    assert.deepEqual({ dirs: ours.dirs, warnings: shown }, { dirs: gitDirs, warnings: gitErrors });
    return ours;
  };

  it('follows a chain six levels deep and warns at the seventh', () => {
    clearFiles();
    for (let i = 0; i < 8; i++) writeFileSync(altFile(i), `# comment\n\n../../a${i + 1}.git/objects\n`);
    const ours = compare();
    assert.deepEqual(ours.dirs, [1, 2, 3, 4, 5, 6].map(objects));
    assert.deepEqual(ours.warnings, [`${objects(6)}: ignoring alternate object stores, nesting too deep`]);
    // An empty file that deep is not even looked at; a file with only a newline is.
    writeFileSync(altFile(6), '');
    assert.deepEqual(compare().warnings, []);
    writeFileSync(altFile(6), '\n');
    assert.equal(compare().warnings.length, 1);
    // Environment entries' own files are one level deep too.
    writeFileSync(altFile(0), '');
    writeFileSync(altFile(6), '../../a7.git/objects\n');
    compare({ ...baseEnv, GIT_ALTERNATE_OBJECT_DIRECTORIES: objects(1) });
  });

  it('handles comments, quoting, CRLF, spaces, duplicates, the main directory and missing paths like git', () => {
    clearFiles();
    writeFileSync(
      altFile(0),
      [
        '/nonexistent/objects',
        join(a, 'missing'),
        join(objects(1), 'info', 'alternates'),
        '../../a1.git/objects\r',
        '../../a1.git/objects   ',
        '  # x',
        '../../a2.git/objects',
        '../../a2.git/objects/',
        objects(0),
        '../objects',
        '.',
        '"../../a3\\056git/objects"',
        '"../../a4.git/objects" junk',
        '"bad\\q"',
        '""',
        '"unterminated',
        '"../../a5.git/objects',
        '#c',
        '../../a1.git/objects/../../a6.git/objects',
        '../../a3link/objects/../../a7.git/objects',
        '"../../a8.git/objects"#x',
        '',
      ].join('\n'),
    );
    const ours = compare();
    assert.deepEqual(ours.dirs, [2, 3, 4, 6, 7, 8].map(objects));
  });

  it('resolves GIT_ALTERNATE_OBJECT_DIRECTORIES against cwd, before the file', () => {
    clearFiles();
    writeFileSync(altFile(0), '../../a4.git/objects\n../../a1.git/objects\n');
    const ours = compare({
      ...baseEnv,
      GIT_ALTERNATE_OBJECT_DIRECTORIES: `a1.git/objects::${objects(2)}:"a3.git/objects":#x:a0.git/objects:nonexist/objects:${join(a, 'nope')}`,
    });
    assert.deepEqual(ours.dirs, [1, 2, 3, 4].map(objects));
    assert.equal(ours.warnings[0], 'unable to normalize alternate object path: nonexist/objects');
    compare({ ...baseEnv, GIT_ALTERNATE_OBJECT_DIRECTORIES: '"a1.git/objects"x:a2.git/objects' });
  });
});
