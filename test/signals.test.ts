/**
 * SIGINT and SIGTERM end every verb from any point, even in the middle of synchronous work: the
 * reading verbs by the signal's default action, the writing ones (write, expire, repack) by their
 * main thread, which stops the worker doing the work and removes its lock and temporary files.
 * After each interruption the repository is as valid as before: git's verify passes, no lock, no
 * temporary file, every object still readable.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

interface Proc {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Milliseconds from the signal to the exit (reported, never asserted on). */
  afterSignal: number;
  /** What `atSend` said when the signal was sent (false when none was sent). */
  doneAtSend: boolean;
}

/**
 * Starts our CLI, sends `sig` once `trigger` resolves (or at once when the process has already
 * ended), and waits for the end. Stdin stays open (a pipe nobody writes) unless `input` is given.
 */
function interrupt(
  r: TestRepo,
  args: string[],
  sig: NodeJS.Signals,
  trigger: (child: ReturnType<typeof spawn>, firstStderr: Promise<void>) => Promise<void>,
  env: NodeJS.ProcessEnv = {},
  atSend: () => boolean = () => false,
): Promise<Proc> {
  const child = spawn(bin, args, {
    cwd: r.dir,
    env: { ...r.env, GIT_PROGRESS_DELAY: '0', ...env },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  let onFirst: () => void = () => {};
  const firstStderr = new Promise<void>((resolve) => {
    onFirst = resolve;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    onFirst();
  });
  let sentAt = 0;
  let doneAtSend = false;
  const done = new Promise<Proc>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      onFirst();
      resolve({ code, signal, stderr, afterSignal: sentAt ? performance.now() - sentAt : 0, doneAtSend });
    });
  });
  void trigger(child, firstStderr).then(() => {
    if (child.exitCode === null && child.signalCode === null && isRunning(child.pid)) {
      doneAtSend = atSend();
      sentAt = performance.now();
      child.kill(sig);
    }
  });
  return done;
}

/** Whether the process is alive and not a zombie (it has not finished yet). */
function isRunning(pid: number | undefined): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** No lock, no temporary file of ours in the pack directory. */
function leftovers(r: TestRepo): string[] {
  return fs.readdirSync(r.packDir).filter((n) => n.endsWith('.lock') || n.startsWith('tmp_'));
}

/** The MIDX's bytes, or undefined when there is none. */
function midxBytes(r: TestRepo): Buffer | undefined {
  try {
    return fs.readFileSync(r.midxPath);
  } catch {
    return undefined;
  }
}

/** Whether the command's work is in place: a MIDX other than `before`, and its bitmap if asked for. */
function finished(r: TestRepo, before: Buffer | undefined, bitmap: boolean): boolean {
  const now = midxBytes(r);
  if (now === undefined || (before !== undefined && now.equals(before))) return false;
  return !bitmap || fs.readdirSync(r.packDir).some((n) => /^multi-pack-index-[0-9a-f]+\.bitmap$/.test(n));
}

function allObjects(r: TestRepo): string {
  return r.gitText(['cat-file', '--batch-all-objects', '--batch-check']);
}

/** The pack directory's files and their mtimes, to put back before each run. */
function snapshot(r: TestRepo): string {
  const dir = path.join(r.scratchDir(), 'pack-snapshot');
  fs.cpSync(r.packDir, dir, { recursive: true, preserveTimestamps: true });
  return dir;
}

function restore(r: TestRepo, snap: string): void {
  fs.rmSync(r.packDir, { recursive: true, force: true });
  fs.cpSync(snap, r.packDir, { recursive: true, preserveTimestamps: true });
}

describe('signals end every verb, from any point', () => {
  let r: TestRepo;
  /** A history small enough for `write --bitmap` to stay on the main thread (src/cli/main.ts). */
  let h: TestRepo;
  let objects: string;
  let historyObjects: string;
  /** Before `write` (no MIDX), before `repack` (many packs and their MIDX), before `expire`. */
  const states: Record<string, string> = {};
  let historyState: string;

  before(() => {
    r = TestRepo.create();
    makeManyPacks(r, 24, 2500, { duplicateEvery: 7 });
    objects = allObjects(r);
    states.write = snapshot(r);
    r.git(['multi-pack-index', 'write']);
    states.repack = snapshot(r);
    r.git(['multi-pack-index', 'repack', '--batch-size=0']);
    states.expire = snapshot(r);
    restore(r, states.repack);

    h = TestRepo.create();
    let stream = '';
    for (let i = 1; i <= 400; i++) {
      const body = `c${i}\n`;
      stream += `commit refs/heads/main\nmark :${i}\ncommitter C <c@example.com> ${1_600_000_000 + i * 60} +0000\n`;
      // Each fast-import run starts from the tip the one before left (marks do not carry over).
      const from = i === 1 ? '' : i % 100 === 1 ? 'from refs/heads/main^0\n' : `from :${i - 1}\n`;
      stream += `data ${body.length}\n${body}${from}`;
      stream += `M 100644 inline d${i % 7}/f${i % 13}.txt\ndata ${String(i).length + 1}\n${i}\n\n`;
      // Four packs: one fast-import run each.
      if (i % 100 === 0) {
        h.git(['fast-import', '--quiet'], { input: stream });
        stream = '';
      }
    }
    historyObjects = allObjects(h);
    historyState = snapshot(h);
  });
  after(() => {
    r.cleanup();
    h.cleanup();
  });

  test('reading verbs die by the signal: verify, cat-file --batch on an open stdin, lookup --stdin', async (t) => {
    const notes: string[] = [];
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const v = await interrupt(r, ['--progress', 'verify'], sig, (_c, first) => first);
      notes.push(`verify ${sig}: ${v.signal ?? v.code} after ${v.afterSignal.toFixed(0)} ms`);
      assert.ok(
        v.signal === sig || (v.afterSignal === 0 && v.code === 0),
        `verify: ${v.code} ${v.signal} ${v.stderr}`,
      );
      for (const args of [
        ['cat-file', '--batch'],
        ['lookup', '--stdin'],
      ]) {
        // stdin stays open and empty: the command waits for input until the signal comes.
        const p = await interrupt(r, args, sig, () => sleep(300));
        notes.push(`${args.join(' ')} ${sig}: ${p.signal ?? p.code} after ${p.afterSignal.toFixed(0)} ms`);
        assert.equal(p.signal, sig, `${args.join(' ')}: ${p.code} ${p.stderr}`);
        assert.ok(p.afterSignal > 0, 'the signal was sent while it waited');
      }
    }
    t.diagnostic(notes.join('; '));
  });

  // `write --bitmap` twice: on the main thread, and after a main-thread attempt that gives up at
  // once and starts again on the worker.
  for (const [verb, budget] of [
    [['write']],
    [['write', '--bitmap']],
    [['write', '--bitmap'], '0'],
    [['repack', '--batch-size=0']],
    [['expire']],
  ] as [string[], string?][]) {
    const name = `${verb.join(' ')}${budget === undefined ? '' : ' (main-thread attempt given up)'}`;
    test(`${name}: interrupted at many points, no lock or temporary file left, the repository intact`, {
      timeout: 300_000,
    }, async (t) => {
      const bitmap = verb[1] === '--bitmap';
      const env = budget === undefined ? {} : { GIT_MIDX_INLINE_BITMAP_MS: budget };
      const repo = bitmap ? h : r;
      const state = bitmap ? historyState : states[verb[0]];
      const expected = bitmap ? historyObjects : objects;
      const notes: string[] = [];
      // How long the verb takes uninterrupted (then the signals fall within that time).
      restore(repo, state);
      const started = performance.now();
      const whole = await interrupt(repo, verb, 'SIGTERM', () => new Promise<void>(() => {}), env);
      const duration = performance.now() - started;
      assert.equal(whole.code, 0, whole.stderr);
      const points: Array<number | 'first-progress'> = ['first-progress', 0];
      for (const f of [0.1, 0.25, 0.4, 0.55, 0.7]) points.push(Math.round(f * duration));
      let i = 0;
      for (const when of points) {
        const sig = i++ % 2 === 0 ? 'SIGINT' : 'SIGTERM';
        restore(repo, state);
        const before = midxBytes(repo);
        const p = await interrupt(
          repo,
          ['--progress', ...verb],
          sig,
          (_c, first) => (when === 'first-progress' ? first : sleep(when)),
          env,
          () => finished(repo, before, bitmap),
        );
        notes.push(`${sig}@${when} → ${p.signal ?? p.code} (${p.afterSignal.toFixed(0)} ms)`);
        // Sent while it was still running: it must die by the signal, not finish and exit 0. A
        // signal that lands while the process is already exiting (its work done, the new MIDX and
        // bitmap in place) cannot be acted on: that is an exit 0 after a signal sent once the
        // files were there, or within a few milliseconds of the signal.
        const sent = p.afterSignal > 0;
        const exiting = p.code === 0 && (p.doneAtSend || p.afterSignal < 20) && fs.existsSync(repo.midxPath);
        assert.ok(
          p.signal === sig || (!sent && p.code === 0) || exiting,
          `${verb[0]} ${sig}@${when}: exit ${p.code} ${p.afterSignal.toFixed(1)} ms after the signal: ${p.stderr}`,
        );
        assert.doesNotMatch(p.stderr, /\n\s+at |node:internal/);
        assert.deepEqual(leftovers(repo), [], `${verb[0]} ${sig}@${when}: leftovers`);
        if (fs.existsSync(repo.midxPath)) {
          const v = repo.git(['multi-pack-index', 'verify'], { allowFail: true });
          assert.equal(v.status, 0, `${verb[0]} ${sig}@${when}: git verify: ${v.stderr}`);
          if (bitmap && !p.signal) {
            const tb = repo.git(['rev-list', '--test-bitmap', 'HEAD'], { allowFail: true });
            assert.match(tb.stdout + tb.stderr, /OK!/, `${sig}@${when}: git accepts the bitmap`);
          }
        }
        assert.equal(allObjects(repo), expected, `${verb[0]} ${sig}@${when}: every object still there`);
      }
      t.diagnostic(`uninterrupted ${duration.toFixed(0)} ms; ${notes.join('; ')}`);
    });
  }
});
