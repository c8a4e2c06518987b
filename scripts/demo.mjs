#!/usr/bin/env node
// `npm start`: build a throw-away bare repository with many packs, write its multi-pack-index with
// git-midx, check it with `git multi-pack-index verify`, and look a few objects up.
// Usage: npm start [-- --packs=N --objects=N --keep]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');
const { values } = parseArgs({
  options: {
    packs: { type: 'string', default: '40' },
    objects: { type: 'string', default: '250' },
    keep: { type: 'boolean', default: false },
  },
});
const packs = Number(values.packs);
const perPack = Number(values.objects);

if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
  console.error('git-midx is not built yet: run `npm install` (or `npm run build`) first.');
  process.exit(1);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'git-midx-demo-'));
const repo = path.join(tmp, 'demo.git');
const home = path.join(tmp, 'home');
fs.mkdirSync(home);
fs.writeFileSync(path.join(home, '.gitconfig'), '');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GIT_')));
Object.assign(env, {
  HOME: home,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: path.join(home, '.gitconfig'),
  GIT_AUTHOR_NAME: 'Demo',
  GIT_AUTHOR_EMAIL: 'demo@example.com',
  GIT_COMMITTER_NAME: 'Demo',
  GIT_COMMITTER_EMAIL: 'demo@example.com',
  LC_ALL: 'C',
});

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  }
  return r;
}

function step(s) {
  process.stdout.write(`\n== ${s}\n`);
}

try {
  if (spawnSync('git', ['--version']).status !== 0) {
    console.error('The demo builds its repository with git, which is not on PATH.');
    process.exit(1);
  }
  step(`Building ${repo}: ${packs} packs of ${perPack} blobs each, as a repository that fetches often looks`);
  run('git', ['init', '-q', '--bare', repo]);
  run('git', ['-C', repo, 'config', 'gc.auto', '0']);
  // One fast-import run writes every blob, cutting a new pack at each checkpoint.
  let stream = '';
  for (let p = 0; p < packs; p++) {
    for (let i = 0; i < perPack; i++) {
      const data = `demo blob ${p}/${i}\n`;
      stream += `blob\ndata ${Buffer.byteLength(data)}\n${data}\n`;
    }
    stream += 'checkpoint\n\n';
  }
  stream += 'done\n';
  const t0 = Date.now();
  run('git', ['-C', repo, 'fast-import', '--quiet', '--done'], { input: stream });
  const packDir = path.join(repo, 'objects', 'pack');
  const idxs = fs.readdirSync(packDir).filter((n) => n.endsWith('.idx'));
  console.log(`${idxs.length} packs, ${packs * perPack} objects (${Date.now() - t0} ms)`);

  step('git-midx write --progress');
  const w = run(bin, ['write', '--progress'], { cwd: repo, env: { ...env, GIT_PROGRESS_DELAY: '0' } });
  process.stdout.write(w.stderr.replace(/[^\n]*\r/g, ''));
  const midx = path.join(packDir, 'multi-pack-index');
  const ours = fs.readFileSync(midx);

  step('git multi-pack-index write, for comparison');
  fs.rmSync(midx);
  run('git', ['-C', repo, 'multi-pack-index', 'write']);
  const same = fs.readFileSync(midx).equals(ours);
  console.log(same ? `byte-identical: both files are ${ours.length} bytes, equal` : 'DIFFERENT from git!');
  if (!same) process.exitCode = 1;
  fs.writeFileSync(midx, ours);

  step('git multi-pack-index verify (the real git checks our file)');
  const v = run('git', ['-C', repo, 'multi-pack-index', 'verify'], { allowFail: true });
  console.log(v.status === 0 ? 'verify: OK' : `verify FAILED (${v.status}):\n${v.stderr}`);
  if (v.status !== 0) process.exitCode = 1;

  step('git-midx show');
  const s = run(bin, ['show'], { cwd: repo });
  const lines = s.stdout.trimEnd().split('\n');
  const pi = lines.indexOf('packs:');
  console.log(
    [
      ...lines.slice(0, pi + 4),
      `... (${idxs.length - 3} more packs)`,
      ...lines.slice(pi + 1 + idxs.length),
    ].join('\n'),
  );

  step('git-midx lookup: one binary search finds the pack and offset, whatever the number of packs');
  const ids = run('git', ['-C', repo, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname)'])
    .stdout.trim()
    .split('\n');
  const pick = [ids[0], ids[Math.floor(ids.length / 2)], ids[ids.length - 1], 'f'.repeat(ids[0].length)];
  const l = run(bin, ['lookup', ...pick], { cwd: repo });
  process.stdout.write(l.stdout);
  console.log(
    values.keep ? `\nkept: ${repo}` : '\n(the demo repository is removed; pass -- --keep to keep it)',
  );
} finally {
  if (!values.keep) fs.rmSync(tmp, { recursive: true, force: true });
}
