/**
 * `npm run bench:hostile [-- --root <checkout>] [--only F5a,F7]`: replays hostile repositories
 * against a build of git-midx (this checkout by default, or another one's `bin/` and `dist/`) and
 * prints one row per case: exit status, the first line of stderr, peak RSS, wall time, and what
 * was checked (output equal to git's, files outside the repository untouched, …).
 *
 * Every run is watched: one still going after TIME_LIMIT seconds, or past MEMORY_LIMIT of RSS, is
 * killed and reported as such (that is the finding). The repositories are built in a temporary
 * directory, removed afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { deflateSync } from 'node:zlib';
import { crc32 } from '../src/pack/writer.js';
import { makeManyPacks, TestRepo } from '../test/helpers/git.js';
import { entryHeader, leb, ofsBytes } from '../test/helpers/pack-bytes.js';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    root: { type: 'string', default: here },
    only: { type: 'string' },
    'time-limit': { type: 'string', default: '60' },
    'memory-limit-mb': { type: 'string', default: '5000' },
  },
});
const ROOT = path.resolve(values.root!);
const BIN = path.join(ROOT, 'bin', 'git-midx');
const TIME_LIMIT = Number(values['time-limit']) * 1000;
const MEMORY_LIMIT = Number(values['memory-limit-mb']) * 1024 * 1024;
const only = values.only?.split(',');

interface Outcome {
  exit: string;
  message: string;
  rssMiB: number;
  seconds: number;
  stdout: Buffer;
}

/** Runs `args` of our CLI, watching its RSS and time; kills it past the limits. */
function run(
  cwd: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  opts: { input?: string | Buffer; inputFile?: string; signalAfterMs?: number; keepStdout?: boolean } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const stdin = opts.inputFile ? fs.openSync(opts.inputFile, 'r') : 'pipe';
    const child = spawn(BIN, args, { cwd, env, stdio: [stdin, 'pipe', 'pipe'] });
    if (typeof stdin === 'number') fs.closeSync(stdin);
    const t0 = performance.now();
    let peak = 0;
    let killed = '';
    const out: Buffer[] = [];
    let outBytes = 0;
    let hash = createHash('sha1');
    let err = '';
    child.stdout?.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (opts.keepStdout) out.push(b);
      else hash.update(b);
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (err.length < 4096) err += s;
    });
    if (child.stdin) {
      child.stdin.on('error', () => {});
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else if (opts.signalAfterMs === undefined) child.stdin.end();
    }
    let signalledAt = 0;
    if (opts.signalAfterMs !== undefined) {
      setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        signalledAt = performance.now();
        child.kill('SIGTERM');
      }, opts.signalAfterMs);
    }
    const watch = setInterval(() => {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'latin1');
        const m = /VmRSS:\s+(\d+) kB/.exec(status);
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {
        return;
      }
      const t = performance.now() - t0;
      if (peak > MEMORY_LIMIT) {
        killed = `killed at ${(peak / 2 ** 20).toFixed(0)} MiB RSS`;
        child.kill('SIGKILL');
      } else if (t > TIME_LIMIT) {
        killed = `killed after ${(t / 1000).toFixed(0)} s${signalledAt ? ' (SIGTERM ignored)' : ''}`;
        child.kill('SIGKILL');
      }
    }, 20);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      const end = performance.now();
      const seconds = (signalledAt ? end - signalledAt : end - t0) / 1000;
      const first = err.split('\n').find((l) => l.trim() !== '') ?? '';
      resolve({
        exit: killed || (signal ? `signal ${signal}` : String(code)),
        message: first.length > 110 ? `${first.slice(0, 107)}...` : first,
        rssMiB: peak / 2 ** 20,
        seconds,
        stdout: opts.keepStdout ? Buffer.concat(out) : Buffer.from(`${outBytes}:${hash.digest('hex')}`),
      });
      hash = createHash('sha1');
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Crafting files

/** The chunk table of a MIDX: id → [offset, end). */
function midxChunks(b: Buffer): Map<string, [number, number]> {
  const n = b[6];
  const m = new Map<string, [number, number]>();
  for (let i = 0; i < n; i++) {
    const at = 12 + i * 12;
    const id = b.toString('latin1', at, at + 4);
    const off = Number(b.readBigUInt64BE(at + 4));
    const next = Number(b.readBigUInt64BE(at + 16));
    m.set(id, [off, next]);
  }
  return m;
}

/** Recomputes a MIDX's or idx's trailing checksum. */
function fixTrailer(b: Buffer, hashSize = 20): Buffer {
  const h = createHash(hashSize === 20 ? 'sha1' : 'sha256')
    .update(b.subarray(0, b.length - hashSize))
    .digest();
  h.copy(b, b.length - hashSize);
  return b;
}

/**
 * A pack of a 64 KiB blob of zeros and `levels` OFS deltas on top of each other, each building
 * `declared` bytes for real (copies of 64 KiB from its base: the delta is a run of 0x80 bytes, which
 * deflates to almost nothing), with its idx. Returns the ids the idx gives the deltas (made up).
 */
function writeBombPack(packDir: string, declared: number, levels: number): string[] {
  const entries: Buffer[] = [];
  const offsets: number[] = [];
  let pos = 12;
  const add = (e: Buffer) => {
    offsets.push(pos);
    entries.push(e);
    pos += e.length;
  };
  const base = Buffer.alloc(65536);
  add(Buffer.concat([Buffer.from(entryHeader(3, base.length)), deflateSync(base)]));
  let baseSize = base.length;
  for (let l = 0; l < levels; l++) {
    const delta = Buffer.concat([
      Buffer.from(leb(baseSize)),
      Buffer.from(leb(declared)),
      Buffer.alloc(declared / 65536, 0x80),
    ]);
    add(
      Buffer.concat([
        Buffer.from(entryHeader(6, delta.length)),
        Buffer.from(ofsBytes(pos - offsets.at(-1)!)),
        deflateSync(delta),
      ]),
    );
    baseSize = declared;
  }
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(entries.length, 8);
  let pack = Buffer.concat([head, ...entries]);
  pack = Buffer.concat([pack, createHash('sha1').update(pack).digest()]);
  const blobId = createHash('sha1').update('blob 65536\0').update(base).digest();
  const ids = [blobId];
  for (let l = 0; l < levels; l++) ids.push(createHash('sha1').update(`bomb ${l}`).digest());
  const order = ids.map((_, i) => i).sort((a, b) => Buffer.compare(ids[a], ids[b]));
  const fan = Buffer.alloc(1024);
  for (let b = 0; b < 256; b++) fan.writeUInt32BE(ids.filter((id) => id[0] <= b).length, b * 4);
  const idx = Buffer.concat([
    Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]),
    fan,
    ...order.map((i) => ids[i]),
    ...order.map((i) => {
      const c = Buffer.alloc(4);
      c.writeUInt32BE(crc32(entries[i]));
      return c;
    }),
    ...order.map((i) => {
      const o = Buffer.alloc(4);
      o.writeUInt32BE(offsets[i]);
      return o;
    }),
    pack.subarray(pack.length - 20),
    Buffer.alloc(20),
  ]);
  const stem = `pack-${createHash('sha1').update(pack).digest('hex')}`;
  fs.writeFileSync(path.join(packDir, `${stem}.pack`), pack);
  fs.writeFileSync(path.join(packDir, `${stem}.idx`), fixTrailer(idx));
  return ids.slice(1).map((id) => id.toString('hex'));
}

// ---------------------------------------------------------------------------------------------
// The cases

interface Case {
  id: string;
  what: string;
  run(): Promise<{ outcome: Outcome; check?: string }>;
}

const repos: TestRepo[] = [];
function repo(opts: { bare?: boolean } = {}): TestRepo {
  const r = TestRepo.create({ bare: opts.bare ?? true });
  repos.push(r);
  return r;
}

function gitBatch(r: TestRepo, input: string): Buffer {
  return spawnSync('git', ['cat-file', '--batch'], { cwd: r.dir, env: r.env, input, maxBuffer: 1 << 30 })
    .stdout;
}

function victimDir(r: TestRepo): string {
  const d = path.join(path.dirname(r.dir), 'victim');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

function snapshotDir(d: string): string {
  return fs
    .readdirSync(d)
    .sort()
    .map(
      (n) =>
        `${n}:${createHash('sha1')
          .update(fs.readFileSync(path.join(d, n)))
          .digest('hex')}`,
    )
    .join(',');
}

const cases: Case[] = [
  {
    id: 'F1',
    what: 'cat-file --batch: a small blob, then a 524,289-byte one',
    async run() {
      const r = repo();
      const ids = r.writeBlobs(['small\n', randomBytes(524_289)]);
      const input = `${ids.join('\n')}\n`;
      const outcome = await run(r.dir, r.env, ['cat-file', '--batch'], { input, keepStdout: true });
      return {
        outcome,
        check: outcome.stdout.equals(gitBatch(r, input)) ? 'output = git' : 'OUTPUT DIFFERS',
      };
    },
  },
  ...(['expire', 'verify', 'repack'] as const).map(
    (verb): Case => ({
      id: `F2-${verb}`,
      what: `PNAM names ../../../victim/…idx: ${verb}`,
      async run() {
        const r = repo();
        const { stems } = makeManyPacks(r, 2, 20);
        // A third pack named to sort first, whose objects all lose to the newer copies: unreferenced.
        const ids = r.gitText(['show-index'], fs.readFileSync(path.join(r.packDir, `${stems[0]}.idx`)));
        // (one object fewer than that pack: the same objects would give the same pack name)
        const dup = ids.split('\n').map((l) => l.split(' ')[1]);
        const stem = r.packObjects(dup.slice(1), { mtime: 900_000_000 });
        const fake = `aaaa${'0'.repeat(stem.length - 4)}`;
        for (const ext of ['.pack', '.idx']) {
          fs.renameSync(path.join(r.packDir, stem + ext), path.join(r.packDir, fake + ext));
        }
        r.git(['multi-pack-index', 'write']);
        // The same length: ../../../victim/ + a stem of 28 + .idx.
        const outside = `../../../victim/${'v'.repeat(fake.length + 4 - 16 - 4)}`;
        const victim = victimDir(r);
        for (const ext of ['.pack', '.idx', '.rev', '.bitmap']) {
          const src = path.join(r.packDir, fake + (ext === '.rev' || ext === '.bitmap' ? '.idx' : ext));
          fs.copyFileSync(src, path.join(victim, path.basename(outside) + ext));
        }
        const midx = fs.readFileSync(r.midxPath);
        const [pnam] = midxChunks(midx).get('PNAM')!;
        midx.write(`${outside}.idx`, pnam, 'latin1');
        fs.writeFileSync(r.midxPath, fixTrailer(midx));
        const before = snapshotDir(victim);
        const args = verb === 'repack' ? ['repack', '--batch-size=0'] : [verb];
        const outcome = await run(r.dir, r.env, args);
        const after = fs.existsSync(victim) ? snapshotDir(victim) : '';
        return { outcome, check: before === after ? 'victim intact' : 'VICTIM TOUCHED' };
      },
    }),
  ),
  {
    id: 'F2-lie',
    what: 'expire under a MIDX that omits one pack (checksum valid)',
    async run() {
      const r = repo();
      const { stems } = makeManyPacks(r, 3, 20);
      r.git(['multi-pack-index', 'write']);
      // Rewrite: every object of the first pack now says it is in pack 1 (whose objects it is not).
      const all = r.gitText(['cat-file', '--batch-all-objects', '--batch-check']);
      const midx = fs.readFileSync(r.midxPath);
      const ch = midxChunks(midx);
      const [ooff, ooffEnd] = ch.get('OOFF')!;
      const pnam = midx.toString('latin1', ...ch.get('PNAM')!).split('\0');
      const victimId = pnam.indexOf(`${stems[0]}.idx`);
      const otherId = victimId === 0 ? 1 : 0;
      for (let at = ooff; at < ooffEnd; at += 8)
        if (midx.readUInt32BE(at) === victimId) midx.writeUInt32BE(otherId, at);
      fs.writeFileSync(r.midxPath, fixTrailer(midx));
      const outcome = await run(r.dir, r.env, ['expire']);
      fs.rmSync(r.midxPath, { force: true });
      const after = r.gitText(['cat-file', '--batch-all-objects', '--batch-check']);
      return { outcome, check: after === all ? 'no object lost' : 'OBJECTS LOST' };
    },
  },
  {
    id: 'F3a',
    what: 'loose object → /dev/zero: cat-file -p',
    async run() {
      const r = repo();
      const [id] = r.writeBlobs(['hello\n']);
      const file = path.join(r.objectDir, id.slice(0, 2), id.slice(2));
      fs.rmSync(file);
      fs.symlinkSync('/dev/zero', file);
      return { outcome: await run(r.dir, r.env, ['cat-file', '-p', id]) };
    },
  },
  {
    id: 'F3b',
    what: 'loose object → /dev/urandom: cat-file -s',
    async run() {
      const r = repo();
      const [id] = r.writeBlobs(['hello\n']);
      const file = path.join(r.objectDir, id.slice(0, 2), id.slice(2));
      fs.rmSync(file);
      fs.symlinkSync('/dev/urandom', file);
      return { outcome: await run(r.dir, r.env, ['cat-file', '-s', id]) };
    },
  },
  {
    id: 'F3c',
    what: 'MIDX is a FIFO: show',
    async run() {
      const r = repo();
      makeManyPacks(r, 2, 5);
      spawnSync('mkfifo', [r.midxPath]);
      return { outcome: await run(r.dir, r.env, ['show']) };
    },
  },
  {
    id: 'F3d',
    what: 'MIDX is a directory: verify',
    async run() {
      const r = repo();
      makeManyPacks(r, 2, 5);
      fs.mkdirSync(r.midxPath);
      return { outcome: await run(r.dir, r.env, ['verify']) };
    },
  },
  {
    id: 'F4a',
    what: 'SIGTERM 100 ms into verify (200,000 objects); time = signal to exit',
    async run() {
      const r = repo();
      makeManyPacks(r, 40, 5000);
      r.git(['multi-pack-index', 'write']);
      return { outcome: await run(r.dir, r.env, ['verify'], { signalAfterMs: 100 }) };
    },
  },
  {
    id: 'F4b',
    what: 'SIGTERM while show reads a FIFO MIDX; time = signal to exit',
    async run() {
      const r = repo();
      makeManyPacks(r, 2, 5);
      spawnSync('mkfifo', [r.midxPath]);
      return { outcome: await run(r.dir, r.env, ['show'], { signalAfterMs: 300 }) };
    },
  },
  {
    id: 'F5a',
    what: 'a delta building 4 GiB − 64 KiB in a tiny pack: cat-file -p',
    async run() {
      const r = repo();
      const [id] = writeBombPack(r.packDir, 2 ** 32 - 65536, 1);
      return { outcome: await run(r.dir, r.env, ['cat-file', '-p', id]) };
    },
  },
  {
    id: 'F5b',
    what: 'two delta levels building 3 GiB each: cat-file -p',
    async run() {
      const r = repo();
      const ids = writeBombPack(r.packDir, 3 * 2 ** 30, 2);
      return { outcome: await run(r.dir, r.env, ['cat-file', '-p', ids[1]]) };
    },
  },
  {
    id: 'F6a',
    what: 'config including itself: show',
    async run() {
      const r = repo();
      makeManyPacks(r, 2, 5);
      r.git(['multi-pack-index', 'write']);
      fs.appendFileSync(path.join(r.gitDir, 'config'), '[include]\n\tpath = config\n');
      return { outcome: await run(r.dir, r.env, ['show']) };
    },
  },
  {
    id: 'F6b',
    what: '100 MB config: show',
    async run() {
      const r = repo();
      makeManyPacks(r, 2, 5);
      r.git(['multi-pack-index', 'write']);
      const fd = fs.openSync(path.join(r.gitDir, 'config'), 'a');
      const block = Buffer.from(`[section "sub"]\n${'\tkey = some value of a line\n'.repeat(4000)}`);
      for (let n = 0; n < 100e6; n += block.length) fs.writeSync(fd, block);
      fs.closeSync(fd);
      return { outcome: await run(r.dir, r.env, ['show']) };
    },
  },
  {
    id: 'F6c',
    what: 'alternates file of 2,000,000 lines: cat-file -t',
    async run() {
      const r = repo();
      const [id] = r.writeBlobs(['x\n']);
      const lines: string[] = [];
      for (let i = 0; i < 2_000_000; i++) lines.push(`/nonexistent/dir/${i}`);
      fs.writeFileSync(path.join(r.objectDir, 'info', 'alternates'), `${lines.join('\n')}\n`);
      return { outcome: await run(r.dir, r.env, ['cat-file', '-t', id]) };
    },
  },
  ...(['lookup --stdin', 'cat-file --batch-check'] as const).map(
    (cmd): Case => ({
      id: `F7-${cmd.split(' ')[0]}`,
      what: `${cmd} over 10,000,000 ids`,
      async run() {
        const r = repo();
        const { oids } = makeManyPacks(r, 4, 500);
        r.git(['multi-pack-index', 'write']);
        const file = path.join(r.scratchDir(), 'ids');
        const fd = fs.openSync(file, 'w');
        const block = Buffer.from(`${oids.join('\n')}\n`);
        for (let n = 0; n < 10_000_000; n += oids.length) fs.writeSync(fd, block);
        fs.closeSync(fd);
        return { outcome: await run(r.dir, r.env, cmd.split(' '), { inputFile: file }) };
      },
    }),
  ),
  ...(['OOFF', 'LOFF'] as const).map(
    (kind): Case => ({
      id: `F8-${kind}`,
      what: `write reusing a MIDX whose ${kind === 'OOFF' ? 'OOFF pack id is out of range' : 'offset has bit 31 set, no LOFF'}`,
      async run() {
        const r = repo();
        makeManyPacks(r, 3, 20);
        r.git(['multi-pack-index', 'write']);
        const midx = fs.readFileSync(r.midxPath);
        const [ooff] = midxChunks(midx).get('OOFF')!;
        if (kind === 'OOFF') midx.writeUInt32BE(77, ooff + 8 * 3);
        else midx.writeUInt32BE(0x80000005, ooff + 8 * 3 + 4);
        fs.writeFileSync(r.midxPath, fixTrailer(midx));
        makeManyPacks(r, 1, 20);
        const outcome = await run(r.dir, r.env, ['write']);
        if (fs.readFileSync(r.midxPath).equals(midx)) return { outcome, check: 'nothing written' };
        const v = r.git(['multi-pack-index', 'verify'], { allowFail: true });
        return {
          outcome,
          check: v.status === 0 ? 'written, git verify passes' : 'WRITTEN, GIT VERIFY FAILS',
        };
      },
    }),
  ),
  {
    id: 'F9a',
    what: 'two OIDL entries swapped (checksum valid): cat-file --batch',
    async run() {
      const r = repo();
      const { oids } = makeManyPacks(r, 2, 20);
      r.git(['multi-pack-index', 'write']);
      const midx = fs.readFileSync(r.midxPath);
      const [oidl] = midxChunks(midx).get('OIDL')!;
      const a = Buffer.from(midx.subarray(oidl + 20 * 5, oidl + 20 * 6));
      midx.copy(midx, oidl + 20 * 5, oidl + 20 * 6, oidl + 20 * 7);
      a.copy(midx, oidl + 20 * 6);
      fs.writeFileSync(r.midxPath, fixTrailer(midx));
      const input = `${oids.join('\n')}\n`;
      const outcome = await run(r.dir, r.env, ['cat-file', '--batch'], { input, keepStdout: true });
      return { outcome, check: wrongObjects(outcome.stdout) };
    },
  },
  {
    id: 'F9b',
    what: '.idx offset damaged, MIDX right: cat-file -p',
    async run() {
      const r = repo();
      const { stems } = makeManyPacks(r, 2, 20);
      r.git(['multi-pack-index', 'write']);
      const idxFile = path.join(r.packDir, `${stems[0]}.idx`);
      const idx = fs.readFileSync(idxFile);
      const n = idx.readUInt32BE(8 + 255 * 4);
      const offs = 8 + 1024 + n * 24;
      // Object 0 now points at object 1's entry.
      idx.writeUInt32BE(idx.readUInt32BE(offs + 4), offs);
      fs.chmodSync(idxFile, 0o644);
      fs.writeFileSync(idxFile, idx);
      const id = idx.subarray(8 + 1024, 8 + 1024 + 20).toString('hex');
      const outcome = await run(r.dir, r.env, ['cat-file', '--batch'], {
        input: `${id}\n`,
        keepStdout: true,
      });
      return { outcome, check: wrongObjects(outcome.stdout) };
    },
  },
  {
    id: 'F10',
    what: 'repack --batch-size=0 with a stale multi-pack-index.lock',
    async run() {
      const r = repo();
      makeManyPacks(r, 3, 20);
      r.git(['multi-pack-index', 'write']);
      fs.writeFileSync(`${r.midxPath}.lock`, '');
      const before = fs.readdirSync(r.packDir).length;
      const outcome = await run(r.dir, r.env, ['repack', '--batch-size=0']);
      const extra = fs.readdirSync(r.packDir).length - before;
      return { outcome, check: extra === 0 ? 'no new file' : `${extra} NEW FILES` };
    },
  },
];

/** Checks each object of a --batch output against its id: the count of objects printed under another's name. */
function wrongObjects(out: Buffer): string {
  let at = 0;
  let wrong = 0;
  let right = 0;
  let missing = 0;
  while (at < out.length) {
    const nl = out.indexOf(10, at);
    const line = out.toString('latin1', at, nl);
    at = nl + 1;
    const [id, type, size] = line.split(' ');
    if (type === 'missing') {
      missing++;
      continue;
    }
    const body = out.subarray(at, at + Number(size));
    at += Number(size) + 1;
    const h = createHash('sha1').update(`${type} ${size}\0`).update(body).digest('hex');
    if (h === id) right++;
    else wrong++;
  }
  return `${right} right, ${missing} missing, ${wrong === 0 ? '0 wrong' : `${wrong} WRONG`}`;
}

/** The library traps of finding 11, checked in a fresh process against `ROOT`'s dist/node. */
function libraryTraps(): string[] {
  const r = repo({ bare: false });
  const ids = r.writeBlobs(['one\n', 'two\n']);
  r.packObjects(ids);
  const s256 = TestRepo.create({ objectFormat: 'sha256', bare: true });
  repos.push(s256);
  s256.writeBlobs(['x\n']);
  const script = `
    const lib = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/node/index.js')).href)});
    const core = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/index.js')).href)});
    const out = [];
    const t = async (name, fn) => { try { out.push(name + ': ' + (await fn())); } catch (e) { out.push(name + ': ' + (e && e.code ? e.code + ' ' : e.constructor.name + ' ') + String(e.message).split('\\n')[0].slice(0, 90)); } };
    const store = lib.ObjectStore.open({ objectDir: ${JSON.stringify(r.objectDir)}, hash: core.SHA1 });
    await t('two small objects share an ArrayBuffer', () => {
      const a = store.readObject(core.fromHex(${JSON.stringify(ids[0])})), b = store.readObject(core.fromHex(${JSON.stringify(ids[1])}));
      return a.data.buffer === b.data.buffer ? 'YES' : 'no';
    });
    await t('readObject("<hex string>")', () => JSON.stringify(store.readObject(${JSON.stringify(ids[0])})?.size));
    await t('ObjectStore.open without hash (SHA-256 repo)', () => { const s = lib.ObjectStore.open({ objectDir: ${JSON.stringify(s256.objectDir)} }); return 'opened, hash ' + s.hash.name; });
    await t('ObjectStore.open on a missing directory', () => { lib.ObjectStore.open({ objectDir: '/nonexistent/objects', hash: core.SHA1 }); return 'opened, no error'; });
    console.log(out.join('\\n'));
  `;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return (res.stdout + res.stderr).trim().split('\n');
}

const rows: string[] = [];
for (const c of cases) {
  if (only && !only.some((o) => c.id === o || c.id.startsWith(`${o}-`))) continue;
  process.stderr.write(`${c.id} ${c.what}…\n`);
  const { outcome, check } = await c.run();
  rows.push(
    `| ${c.id} | ${c.what} | ${outcome.exit} | ${outcome.message.replaceAll('|', '\\|')} | ${outcome.rssMiB.toFixed(0)} | ${outcome.seconds.toFixed(2)} | ${check ?? ''} |`,
  );
}
if (!only || only.includes('F11')) for (const l of libraryTraps()) rows.push(`| F11 | ${l} | | | | | |`);

console.log(`git-midx at ${ROOT}, ${new Date().toISOString()}, ${os.cpus().length} cores`);
console.log('| case | what | exit | first line of stderr | peak RSS MiB | s | check |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
for (const r of repos) r.cleanup();
