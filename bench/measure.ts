/**
 * Small measuring helpers for bench/run.ts: whole-process wall time around `spawnSync`, medians,
 * and the peak resident set size of a child process.
 */
import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Timed {
  /** Wall time of the whole child process (spawn to exit), in milliseconds. */
  ms: number;
  /**
   * CPU time (user + system) the child and its own children used, in milliseconds, from the
   * `cutime`/`cstime` of /proc/self/stat (clock-tick resolution, usually 10 ms); undefined where
   * /proc is not there. Less sensitive than wall time to other work on the machine.
   */
  cpuMs: number | undefined;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs `cmd args` synchronously and times it with `process.hrtime.bigint()`. Throws (quoting stderr)
 * when the child cannot start, is killed or exits with a status other than 0.
 */
export function timeSpawn(cmd: string, args: readonly string[], opts: SpawnSyncOptions): Timed {
  const cpu0 = childCpuTicks();
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 30, ...opts });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu1 = childCpuTicks();
  const cpuMs = cpu0 === undefined || cpu1 === undefined ? undefined : ((cpu1 - cpu0) * 1000) / clockTicks();
  const stderr = r.stderr ? r.stderr.toString() : '';
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${stderr.trim() || '(no stderr)'}`,
    );
  }
  return { ms, cpuMs, stdout: (r.stdout as Buffer | null) ?? Buffer.alloc(0), stderr };
}

/** `cutime + cstime` of this process (CPU time of waited-for children), in clock ticks. */
function childCpuTicks(): number | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return undefined;
  }
  // fields after "(comm)": state is field 3, cutime field 16, cstime field 17
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[13]) + Number(f[14]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    ticksPerSecond = r.status === 0 && Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length & 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const GNU_TIME = '/usr/bin/time';

/** How peak memory is measured here: GNU time's `%M`, else a Node wrapper printing `maxRSS`. */
export function rssMethod(): 'gnu-time' | 'node-wrapper' {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    const r = spawnSync(GNU_TIME, ['-f', '%M', 'true'], { encoding: 'utf8' });
    if (r.status === 0 && /^\d+\s*$/m.test(r.stderr)) return 'gnu-time';
  } catch {
    // not there: fall back
  }
  return 'node-wrapper';
}

/**
 * Peak RSS in KiB of `cmd args` under GNU time (`-f %M`, written to a file so the child's own stderr
 * is left alone). Undefined when GNU time is unavailable.
 */
export function peakRssGnuTime(cmd: string, args: readonly string[], opts: SpawnSyncOptions): number {
  const dir = mkdtempSync(join(tmpdir(), 'git-midx-bench-'));
  try {
    const out = join(dir, 'rss');
    timeSpawn(GNU_TIME, ['-f', '%M', '-o', out, cmd, ...args], opts);
    const kb = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
    if (!Number.isFinite(kb)) throw new Error(`${GNU_TIME} printed no %M figure`);
    return kb;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Peak RSS in KiB of our CLI (`dist/cli/main.js`) run inside a Node wrapper that prints
 * `process.resourceUsage().maxRSS` when it exits.
 */
export function peakRssNodeWrapper(
  mainJs: string,
  cliArgs: readonly string[],
  opts: SpawnSyncOptions,
): number {
  const code = [
    "process.on('exit', () => process.stderr.write('\\nBENCH_MAXRSS ' + process.resourceUsage().maxRSS + '\\n'));",
    'process.argv = [process.argv[0], "git-midx", ...process.argv.slice(1)];',
    `import(${JSON.stringify(mainJs)}).then((m) => m.run());`,
  ].join('\n');
  const r = timeSpawn(process.execPath, ['-e', code, ...cliArgs], opts);
  const m = /BENCH_MAXRSS (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`the Node wrapper printed no maxRSS:\n${r.stderr}`);
  return Number(m[1]);
}
