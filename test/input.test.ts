/**
 * Input that grows without bound: config files (and their includes), alternates files, and the
 * ids streamed to `lookup --stdin` / `cat-file --batch*`. Memory is measured in child processes
 * (peak RSS), never time; outputs are compared with git's.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ChunkSource, LineBlockReader } from '../src/cli/stdin.js';
import { GitMidxError } from '../src/errors.js';
import { loadRepoConfig } from '../src/node/config.js';
import { TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');
const MiB = 1024 * 1024;

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function repo(objectFormat: 'sha1' | 'sha256' = 'sha1'): TestRepo {
  const r = TestRepo.create({ objectFormat, bare: true });
  repos.push(r);
  return r;
}

/** Peak RSS of a running child, read from /proc as it runs (VmHWM only grows). */
function watchPeak(child: ChildProcess): () => number {
  let peak = 0;
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'latin1'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // gone
    }
  };
  const timer = setInterval(read, 20);
  child.once('exit', () => clearInterval(timer));
  return () => {
    read();
    return peak;
  };
}

/**
 * Runs a script in a child (through tsx) that measures its own RSS before and after `body`; returns
 * the growth of its peak RSS in bytes and what the body printed.
 */
function measureInChild(body: string, env: NodeJS.ProcessEnv = process.env): { growth: number; out: string } {
  const script = `
    const before = process.memoryUsage().rss;
    const out = await (async () => { ${body} })();
    const peak = process.resourceUsage().maxRSS * 1024;
    console.log(JSON.stringify({ growth: peak - before, out }));
  `;
  const file = path.join(root, 'test', `.measure-${process.pid}-${Date.now()}.mts`);
  fs.writeFileSync(file, script);
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const line = r.stdout.trim().split('\n').pop()!;
    return JSON.parse(line);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

describe('LineBlockReader', () => {
  /** A source that gives `steps` in order: bytes, or -1 (nothing now); then the end. */
  function scripted(steps: (string | -1)[]): ChunkSource & { waits: number; reads: number } {
    let k = 0;
    const src = {
      waits: 0,
      reads: 0,
      read(into: Uint8Array): number {
        src.reads++;
        if (k >= steps.length) return 0;
        const step = steps[k];
        if (step === -1) {
          k++;
          return -1;
        }
        const b = Buffer.from(step, 'latin1');
        const n = Math.min(b.length, into.length);
        into.set(b.subarray(0, n));
        if (n < b.length) steps[k] = step.slice(n);
        else k++;
        return n;
      },
      wait() {
        src.waits++;
      },
    };
    return src;
  }
  const blocks = (r: LineBlockReader) => {
    const out: string[] = [];
    for (let b = r.next(); b !== undefined; b = r.next()) out.push(b.toString('latin1'));
    return out;
  };

  it('hands out whole lines, a partial line kept for the next block, the last one unterminated', () => {
    const src = scripted(['ab\ncd', 'e\nf', -1, 'g\nh']);
    assert.deepEqual(blocks(new LineBlockReader(src, { sep: 10, maxLines: 100 })), [
      'ab\n',
      'cde\n',
      'fg\n',
      'h',
    ]);
    assert.equal(src.waits, 1); // `f` alone is no whole line: wait
  });

  it('waits on "nothing now" when no whole line is there, never taking it for the end', () => {
    const src = scripted([-1, -1, 'x', -1, 'y\n']);
    assert.deepEqual(blocks(new LineBlockReader(src, { sep: 10, maxLines: 100 })), ['xy\n']);
    assert.equal(src.waits, 3);
  });

  it('splits at maxLines and maxBytes, with NUL as the separator', () => {
    const input = Array.from({ length: 10 }, (_, i) => `line${i}\0`).join('');
    const byLines = blocks(new LineBlockReader(scripted([input]), { sep: 0, maxLines: 3 }));
    assert.deepEqual(
      byLines.map((b) => b.split('\0').length - 1),
      [3, 3, 3, 1],
    );
    assert.equal(byLines.join(''), input);
    const byBytes = blocks(new LineBlockReader(scripted([input]), { sep: 0, maxLines: 100, maxBytes: 12 }));
    assert.deepEqual(byBytes, [
      'line0\0line1\0',
      'line2\0line3\0',
      'line4\0line5\0',
      'line6\0line7\0',
      'line8\0line9\0',
    ]);
  });

  it('without interactive (--buffer), a pause does not end a block', () => {
    const src = scripted(['a\n', -1, 'b\n', 'c\n']);
    assert.deepEqual(blocks(new LineBlockReader(src, { sep: 10, maxLines: 100, interactive: false })), [
      'a\nb\nc\n',
    ]);
    assert.equal(src.waits, 1);
  });

  it('a line longer than the read size is held whole', () => {
    const long = 'x'.repeat(3 * 1024 * 1024);
    assert.deepEqual(blocks(new LineBlockReader(scripted([`${long}\n`, 'y']), { sep: 10, maxLines: 100 })), [
      `${long}\n`,
      'y',
    ]);
  });
});

describe('config includes', () => {
  it('an include cycle stops at depth 10 with git’s message and exit code', () => {
    const r = repo();
    const cfg = path.join(r.gitDir, 'config');
    fs.appendFileSync(cfg, '[include]\n\tpath = a.inc\n');
    fs.writeFileSync(path.join(r.gitDir, 'a.inc'), '[include]\n\tpath = b.inc\n');
    fs.writeFileSync(path.join(r.gitDir, 'b.inc'), `[include]\n\tpath = ${path.join(r.gitDir, 'a.inc')}\n`);
    const env = { ...r.env, GIT_DIR: r.gitDir };
    const git = spawnSync('git', ['cat-file', '--batch-check'], { env, input: '', encoding: 'utf8' });
    const ours = spawnSync(bin, ['cat-file', '--batch-check'], { env, input: '', encoding: 'utf8' });
    assert.equal(git.status, 128);
    assert.match(git.stderr, /exceeded maximum include depth \(10\)/);
    assert.equal(ours.stderr, git.stderr);
    assert.equal(ours.status, git.status);
  });

  it('ten nested includes are read, an eleventh is the depth error; missing files are skipped', () => {
    const r = repo();
    const chain = (n: number, last = true) => {
      fs.writeFileSync(
        path.join(r.gitDir, 'config'),
        '[core]\n\trepositoryformatversion = 0\n[include]\n\tpath = f1\n',
      );
      for (let i = 1; i <= n; i++) {
        const next = i < n || !last ? `[include]\n\tpath = f${i + 1}\n` : '';
        fs.writeFileSync(path.join(r.gitDir, `f${i}`), `[x]\n\tv${i} = ${i}\n${next}`);
      }
    };
    const env = { ...r.env, GIT_DIR: r.gitDir };
    const gitGet = (key: string) => spawnSync('git', ['config', key], { env, encoding: 'utf8' });
    chain(10, false); // f10 names a missing f11
    assert.equal(gitGet('x.v10').stdout, '10\n');
    assert.equal(loadRepoConfig(r.gitDir, r.env).get('x.v10'), '10');
    assert.equal(loadRepoConfig(r.gitDir, r.env).get('include.path'), 'f11');
    chain(11);
    assert.equal(gitGet('x.v1').status, 128);
    assert.throws(
      () => loadRepoConfig(r.gitDir, r.env),
      (e: unknown) =>
        e instanceof GitMidxError &&
        e.code === 'BAD_CONFIG' &&
        /include depth \(10\)[\s\S]*f11\nfrom\n\t.*f10\n/.test(e.message),
    );
  });
});

describe('config includeIf', () => {
  it('gitdir:, gitdir/i: and onbranch: conditions hold where git says they do; an includeIf cycle is git’s error', () => {
    const r = TestRepo.create({ objectFormat: 'sha1' });
    repos.push(r);
    const inc = path.join(r.dir, 'inc.cfg');
    fs.writeFileSync(inc, '[x]\n\tv = included\n');
    const base = fs.readFileSync(path.join(r.gitDir, 'config'), 'utf8');
    const real = fs.realpathSync(r.gitDir);
    const parent = path.basename(path.dirname(real));
    const conds = [
      `gitdir:${real}`,
      `gitdir:${path.dirname(real)}/`,
      `gitdir:${path.dirname(real).toUpperCase()}/`,
      `gitdir/i:${path.dirname(real).toUpperCase()}/`,
      `gitdir:${parent}/`,
      'gitdir:**/.git',
      'gitdir:.git',
      'gitdir:./',
      `gitdir:${real}/`,
      `gitdir:${path.dirname(real)}/.[g]it`,
      `gitdir:${path.dirname(real)}/.[!g]it`,
      `gitdir:${path.dirname(real)}/.g[[:alpha:]]?`,
      '/tmp/*/x/',
      'onbranch:main',
      'onbranch:ma*',
      'onbranch:m',
      'onbranch:other',
      'hasconfig:remote.*.url:x',
    ];
    const env = { ...r.env, GIT_DIR: r.gitDir };
    let held = 0;
    for (const c of conds) {
      fs.writeFileSync(path.join(r.gitDir, 'config'), `${base}[includeIf "${c}"]\n\tpath = ${inc}\n`);
      const git = spawnSync('git', ['config', 'x.v'], { env, encoding: 'utf8' }).stdout.trim();
      const ours = loadRepoConfig(r.gitDir, r.env, r.gitDir).get('x.v') ?? '';
      assert.equal(ours, git, c);
      if (git !== '') held++;
    }
    assert.ok(held >= 6 && held <= conds.length - 6, `${held} conditions held`);
    // A condition that holds and includes the file itself: git's depth error, from the CLI too.
    fs.writeFileSync(path.join(r.gitDir, 'config'), `${base}[includeIf "gitdir:**"]\n\tpath = config\n`);
    const git = spawnSync('git', ['cat-file', '--batch-check'], { env, input: '', encoding: 'utf8' });
    const ours = spawnSync(bin, ['cat-file', '--batch-check'], { env, input: '', encoding: 'utf8' });
    assert.equal(git.status, 128);
    assert.equal(ours.stderr, git.stderr);
    assert.equal(ours.status, git.status);
  });
});

describe('config includes (bounded)', () => {
  it('a file included many times over, 10 levels deep, stops at a bound instead of reading forever', () => {
    const r = repo();
    fs.writeFileSync(
      path.join(r.gitDir, 'config'),
      '[core]\n\trepositoryformatversion = 0\n[include]\n\tpath = f1\n',
    );
    for (let i = 1; i <= 10; i++) {
      fs.writeFileSync(
        path.join(r.gitDir, `f${i}`),
        `[x]\n\tv${i} = ${i}\n${`[include]\n\tpath = f${i + 1}\n`.repeat(40)}`,
      );
    }
    // 40^9 includes of f10 were it not bounded.
    assert.throws(
      () => loadRepoConfig(r.gitDir, r.env),
      (e: unknown) =>
        e instanceof GitMidxError && e.code === 'BAD_CONFIG' && /too much included config/.test(e.message),
    );
  });
});

describe('config and alternates in linear memory', () => {
  it('a 20 MB config (long values, escapes, many keys) parses with peak RSS growth under 2x its size (+24 MiB for the young generation)', () => {
    const r = repo();
    const file = path.join(r.gitDir, 'config');
    const fd = fs.openSync(file, 'a');
    let size = fs.statSync(file).size;
    const put = (s: string) => {
      fs.writeSync(fd, s);
      size += Buffer.byteLength(s);
    };
    put(`[big]\n\tlong = ${'word '.repeat(1_000_000)}end\n`); // 5 MB in one value
    put(`\tquoted = "${'a\\tb '.repeat(200_000)}"\n`); // 1 MB of escapes
    const lines: string[] = [];
    for (let i = 0; i < 500_000; i++) lines.push(`\tkey${i % 997} = value number ${i}\n`);
    put(`[many "Sub"]\n${lines.join('')}`);
    fs.closeSync(fd);
    assert.ok(size > 18 * MiB, `${size}`);
    const { growth, out } = measureInChild(`
      const { loadRepoConfig } = await import(${JSON.stringify(path.join(root, 'src/node/config.ts'))});
      const c = loadRepoConfig(${JSON.stringify(r.gitDir)}, ${JSON.stringify(r.env)});
      return [c.get('big.long').length, c.get('big.quoted').length, c.get('many.Sub.key996'), c.getAll('many.Sub.key0').length];
    `);
    assert.deepEqual(out, [5_000_003, 800_000, 'value number 499496', 502]);
    assert.ok(
      growth < 2 * size + 24 * MiB,
      `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB for a ${(size / MiB).toFixed(1)} MiB config`,
    );
  });

  it('a 200k-line alternates file is read with peak RSS growth under 64 MiB', () => {
    const r = repo();
    const alt = repo();
    const info = path.join(r.objectDir, 'info');
    fs.mkdirSync(info, { recursive: true });
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      lines.push(
        i % 3 === 0 ? alt.objectDir : i % 3 === 1 ? `"${alt.objectDir}/missing\\t${i}"` : `../missing-${i}`,
      );
    }
    fs.writeFileSync(path.join(info, 'alternates'), `${lines.join('\n')}\n`);
    const size = fs.statSync(path.join(info, 'alternates')).size;
    const { growth, out } = measureInChild(`
      const { readAlternates } = await import(${JSON.stringify(path.join(root, 'src/node/repo.ts'))});
      let warnings = 0;
      const a = readAlternates(${JSON.stringify(r.objectDir)}, {}, ${JSON.stringify(r.dir)}, () => warnings++);
      return [a.dirs.length, warnings];
    `);
    assert.deepEqual(out, [1, 133_333]);
    assert.ok(
      growth < 64 * MiB,
      `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB for a ${(size / MiB).toFixed(1)} MiB file`,
    );
  });
});

describe('stdin is streamed', () => {
  let r: TestRepo;
  let ids: string[];

  before(() => {
    r = repo();
    ids = r.writeBlobs(Array.from({ length: 50 }, (_, i) => `streamed blob ${i}\n`));
    r.packObjects(ids);
    r.git(['multi-pack-index', 'write', '--no-progress']);
  });

  /** Line i of the generated input: present ids, missing ids, short names. */
  function lineOf(i: number): string {
    // A few missing ids (each costs a look for a loose file), some names that are no id.
    if (i % 50 === 49) return i.toString(16).padStart(40, 'f').replace(/^f/, '0');
    if (i % 97 === 13) return `not-an-id-${i}`;
    return ids[i % ids.length];
  }

  /** Streams `count` generated lines into the child (with backpressure) and hashes its output. */
  async function stream(
    args: string[],
    count: number,
    keep: number,
  ): Promise<{ status: number; peak: number; head: string; lines: number }> {
    const child = spawn(bin, args, { cwd: r.dir, env: r.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const peak = watchPeak(child);
    let head = '';
    let lines = 0;
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      if (head.length < keep) head += d.toString('latin1');
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
    });
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 128)));
    for (let i = 0; i < count; ) {
      let chunk = '';
      for (let k = 0; k < 20_000 && i < count; k++, i++) chunk += `${lineOf(i)}\n`;
      if (!child.stdin!.write(chunk)) await new Promise((res) => child.stdin!.once('drain', res));
    }
    child.stdin!.end();
    const status = await done;
    assert.equal(stderr, '');
    return { status, peak: peak(), head, lines };
  }

  for (const [name, args] of [
    ['lookup --stdin', ['lookup', '--stdin']],
    ['cat-file --batch-check', ['cat-file', '--batch-check']],
  ] as const) {
    it(`${name}: 2M streamed lines in bounded memory, the same answers as git for a prefix`, async () => {
      const count = 2_000_000;
      const res = await stream([...args], count, 200_000);
      assert.equal(res.status, 0);
      assert.equal(res.lines, count);
      assert.ok(res.peak > 0 && res.peak < 150 * MiB, `peak RSS ${(res.peak / MiB).toFixed(1)} MiB`);
      // The first 2000 answers, against git.
      const prefix = Array.from({ length: 2000 }, (_, i) => `${lineOf(i)}\n`).join('');
      const want =
        name === 'lookup --stdin'
          ? lookupExpected(prefix)
          : r.git(['cat-file', '--batch-check'], { input: prefix }).stdout.toString('latin1');
      assert.equal(res.head.slice(0, want.length), want);
    });
  }

  /** What lookup answers, from git's own `show-index` of the pack. */
  function lookupExpected(input: string): string {
    const stem = r.listPackStems()[0];
    const idx = fs.readFileSync(path.join(r.packDir, `${stem}.idx`));
    const shown = r.git(['show-index'], { input: idx }).stdout.toString('latin1');
    const where = new Map<string, string>();
    for (const l of shown.trim().split('\n')) {
      const [off, id] = l.split(' ');
      where.set(id, off);
    }
    const answer = (l: string): string => {
      if (where.has(l)) return `${l} ${stem}.idx ${where.get(l)}\n`;
      // 4+ hex digits: an abbreviation, answered under the full id when unique.
      if (!/^[0-9a-fA-F]{4,}$/.test(l)) return `${l} missing\n`;
      const ids = [...where.keys()].filter((id) => id.startsWith(l.toLowerCase()));
      if (ids.length > 1) return `${l} ambiguous\n`;
      return ids.length === 1 ? `${ids[0]} ${stem}.idx ${where.get(ids[0])}\n` : `${l} missing\n`;
    };
    return input.split('\n').slice(0, -1).map(answer).join('');
  }

  it('non-blocking stdin that pauses is read to its end, not taken as empty', async () => {
    const fifo = path.join(r.dir, 'stdin.fifo');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, 'mkfifo');
    // The read end is opened O_NONBLOCK and handed to the child as its stdin.
    const rd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wr = fs.openSync(fifo, fs.constants.O_WRONLY);
    const child = spawn(bin, ['cat-file', '--batch-check'], {
      cwd: r.dir,
      env: r.env,
      stdio: [rd, 'pipe', 'pipe'],
    });
    fs.closeSync(rd);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 128)));
    const input = ids.slice(0, 10).map((id) => `${id}\n`);
    await new Promise((res) => setTimeout(res, 300));
    fs.writeSync(wr, input.slice(0, 5).join(''));
    // The first half is answered while the writer still holds the pipe open.
    for (let i = 0; i < 100 && out.split('\n').length < 6; i++)
      await new Promise((res) => setTimeout(res, 50));
    assert.equal(out.split('\n').length, 6, 'answers before the input ends');
    fs.writeSync(wr, input.slice(5).join(''));
    fs.closeSync(wr);
    assert.equal(await done, 0);
    assert.equal(
      out,
      r.git(['cat-file', '--batch-check'], { input: input.join('') }).stdout.toString('latin1'),
    );
  });

  it('CRLF, empty and unterminated last lines answer as before (and as git for cat-file)', () => {
    const cases = [
      `${ids[0]}\r\n${ids[1]}\n\n${ids[2]}`,
      `\n\n${ids[3]}\r\n`,
      `${ids[4]}`,
      `${ids[5].slice(0, 8)}\r\nx\n${ids[6]}\r`,
      '',
    ];
    for (const input of cases) {
      const git = r.git(['cat-file', '--batch-check'], { input }).stdout.toString('latin1');
      const ours = spawnSync(bin, ['cat-file', '--batch-check'], { cwd: r.dir, env: r.env, input });
      assert.equal(ours.stdout.toString('latin1'), git, JSON.stringify(input));
      const lk = spawnSync(bin, ['lookup', '--stdin'], { cwd: r.dir, env: r.env, input });
      const lines = input === '' ? [] : input.split('\n');
      if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
      const want = lookupExpected(lines.map((l) => `${l.replace(/\r$/, '')}\n`).join(''));
      assert.equal(lk.stdout.toString('latin1'), want, JSON.stringify(input));
      const z = spawnSync(bin, ['cat-file', '--batch-check', '-z'], {
        cwd: r.dir,
        env: r.env,
        input: input.replace(/\n/g, '\0'),
      });
      const gz = r.git(['cat-file', '--batch-check', '-z'], { input: input.replace(/\n/g, '\0') });
      assert.equal(z.stdout.toString('latin1'), gz.stdout.toString('latin1'), `-z ${JSON.stringify(input)}`);
    }
  });
});
