/**
 * Times whole child processes for bench/run.ts from a small process of its own. Forking copies the
 * parent's page tables: from a bench process with 2 GB resident (after reading large outputs) each
 * spawn costs some 30 ms more, which would be counted in every short command's time, git's and
 * ours alike. Here the parent stays small.
 *
 * Input, the JSON in argv[2]: `{ cwd, env, commands: [cmd, args][], rounds }`. Every round runs each
 * command once, in order on even rounds and in reverse order on odd ones; any exit status other
 * than 0 stops it. Output on stdout: `{ "ms": number[][] }`, per command, its wall times in order.
 */
import { spawnSync } from 'node:child_process';

interface Job {
  cwd: string;
  env: NodeJS.ProcessEnv;
  commands: [string, string[]][];
  rounds: number;
}

const job = JSON.parse(process.argv[2]) as Job;
const ms: number[][] = job.commands.map(() => []);
for (let round = 0; round < job.rounds; round++) {
  const order = job.commands.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  for (const i of order) {
    const [cmd, args] = job.commands[i];
    const start = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd: job.cwd, env: job.env, stdio: ['ignore', 'ignore', 'pipe'] });
    const took = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.error || r.status !== 0) {
      process.stderr.write(
        `${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}\n${r.stderr}`,
      );
      process.exit(1);
    }
    ms[i].push(took);
  }
}
process.stdout.write(JSON.stringify({ ms }));
