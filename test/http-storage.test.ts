/**
 * Static HTTP storage (src/storage/http.ts) against a local server (test/helpers/static-server.ts):
 * whole files, HEAD, ranged reads at random positions, the prefix read at open and kept by the
 * resident layer (src/storage/resident.ts), coalesced reads, request and byte counts, and servers
 * that ignore Range, lie, never stop sending or never answer, each a typed error within a time limit.
 * Its synchronous bridge (src/node/http-sync.ts) must give the same bytes and errors, from
 * TypeScript source and from an esbuild bundle like the CLI's.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { GitMidxError, isGitMidxError } from '../src/errors.js';
import type { RandomAccessReader } from '../src/io.js';
import { syncHttpStorage } from '../src/node/http-sync.js';
import { httpStorage } from '../src/storage/http.js';
import { drive, isPending, storeFiles } from '../src/storage/resident.js';
import { prng } from './helpers/prng.js';
import {
  type StaticServer,
  type StaticServerOptions,
  type StaticServerThread,
  startStaticServer,
  startStaticServerThread,
} from './helpers/static-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const T = { timeout: 20000 };

let dir: string;
let server: StaticServer;
let big: Uint8Array;
const small = new TextEncoder().encode('P pack-1234.pack\n\n');

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'git-midx-http-'));
  const rnd = prng(7);
  big = new Uint8Array(200 * 1024 + 123).map(() => Math.floor(rnd() * 256));
  fs.mkdirSync(path.join(dir, 'objects', 'info'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'big.bin'), big);
  fs.writeFileSync(path.join(dir, 'objects', 'info', 'packs'), small);
  fs.writeFileSync(path.join(dir, 'empty'), '');
  server = await startStaticServer(dir);
});

after(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The error `p` rejects with, which must be a GitMidxError. */
async function failure(p: Promise<unknown> | (() => unknown)): Promise<GitMidxError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.ok(e instanceof GitMidxError, `not a GitMidxError: ${e}`);
    return e;
  }
  assert.fail('did not fail');
}

/** Runs `fn` with the server's options set to `o`, then puts them back. */
async function misbehaving<R>(o: StaticServer['options'], fn: () => Promise<R>): Promise<R> {
  const saved = server.options;
  server.options = o;
  try {
    return await fn();
  } finally {
    server.options = saved;
  }
}

function readAll(r: RandomAccessReader, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  r.readInto(out, 0, length, position);
  return out;
}

describe('httpStorage', () => {
  test('readFile: whole files, missing files, the size limit, HTTP errors', T, async () => {
    const s = httpStorage(server.url);
    assert.equal(s.remote, true);
    assert.equal(s.list('objects/pack'), null);
    assert.deepEqual(await s.readFile('objects/info/packs', 1000), small);
    assert.deepEqual(await s.readFile('objects/info/packs', small.length), small);
    assert.equal(await s.readFile('objects/info/nothing', 1000), undefined);
    assert.equal(await s.readFile(`${server.url}nothing`, 1000), undefined);
    const big = await failure(s.readFile('big.bin', 1000));
    assert.equal(big.code, 'FILE_TOO_LARGE');
    assert.equal(big.file, `${server.url}big.bin`);
    const e = await misbehaving({ status: 500 }, () => failure(s.readFile('big.bin', 1e9)));
    assert.equal(e.code, 'HTTP_ERROR');
    assert.equal(e.message, `${server.url}big.bin: HTTP 500`);
  });

  test('stat: size, time and identity from HEAD', T, async () => {
    const s = httpStorage(new URL(server.url));
    const st = await s.stat('big.bin');
    assert.ok(st !== undefined);
    assert.equal(st.size, big.length);
    const mtime = fs.statSync(path.join(dir, 'big.bin')).mtimeMs;
    assert.equal(st.mtimeMs, Math.floor(mtime / 1000) * 1000);
    assert.match(st.identity, /^".+"\x00.+GMT\x00204923$/);
    assert.equal(await s.stat('missing'), undefined);
    assert.equal((await s.stat('empty'))?.size, 0);
    fs.writeFileSync(path.join(dir, 'changing'), 'one');
    const a = await s.stat('changing');
    fs.writeFileSync(path.join(dir, 'changing'), 'three');
    assert.notEqual((await s.stat('changing'))?.identity, a?.identity);
  });

  test('open and read: the prefix, random ranges, empty and missing files', T, async () => {
    const s = httpStorage(server.url, { prefixBytes: 1000 });
    const before = server.requests;
    const f = (await s.open('big.bin'))!;
    assert.equal(server.requests, before + 1);
    assert.equal(server.log.at(-1)?.range, 'bytes=0-999');
    assert.equal(f.size, big.length);
    assert.deepEqual(f.prefix, big.subarray(0, 1000));
    assert.deepEqual(await f.read(10, 500), big.subarray(10, 510));
    assert.equal(server.requests, before + 1, 'reads within the prefix are free');
    const rnd = prng(42);
    for (let i = 0; i < 40; i++) {
      const pos = Math.floor(rnd() * big.length);
      const len = 1 + Math.floor(rnd() * Math.min(70000, big.length - pos));
      assert.deepEqual(await f.read(pos, len), big.subarray(pos, pos + len), `${pos}+${len}`);
    }
    assert.deepEqual(await f.read(big.length - 1, 1), big.subarray(big.length - 1));
    assert.equal((await failure(f.read(big.length - 1, 2))).code, 'INVALID_ARGUMENT');
    f.close();
    assert.equal((await failure(f.read(5000, 1))).code, 'MIDX_CLOSED');

    const e = (await s.open('empty'))!;
    assert.equal(e.size, 0);
    assert.equal(e.prefix.length, 0);
    assert.equal(await s.open('missing'), undefined);
    const p = (await s.open('objects/info/packs'))!;
    assert.equal(p.size, small.length);
    const n = server.requests;
    assert.deepEqual(await p.read(2, 4), small.subarray(2, 6));
    assert.equal(server.requests, n, 'a file within the prefix is read whole at open');
  });

  test('stats count every request and body byte', T, async () => {
    const s = httpStorage(server.url, { prefixBytes: 100 });
    assert.deepEqual(s.stats, { requests: 0, bytes: 0 });
    await s.readFile('objects/info/packs', 1000);
    assert.deepEqual(s.stats, { requests: 1, bytes: small.length });
    await s.stat('big.bin');
    assert.deepEqual(s.stats, { requests: 2, bytes: small.length });
    const f = (await s.open('big.bin'))!;
    await f.read(5000, 3000);
    assert.deepEqual(s.stats, { requests: 4, bytes: small.length + 100 + 3000 });
    await s.readFile('missing', 10);
    assert.equal(s.stats.requests, 5);
  });

  test('resolve: alternates as relative paths, server paths and URLs', () => {
    const s = httpStorage(`${server.url}repo`);
    assert.equal(s.name, `${server.url}repo/`);
    assert.equal(s.resolve('objects', '../objects2'), 'objects2');
    assert.equal(s.resolve('objects', 'sub/objects/'), 'objects/sub/objects');
    assert.equal(s.resolve('objects', '../../other/objects'), `${server.url}other/objects`);
    assert.equal(s.resolve('objects', '/shared/objects'), `${server.url}shared/objects`);
    assert.equal(s.resolve('objects', 'https://example.com/x/objects'), 'https://example.com/x/objects');
    assert.equal(
      s.resolve('https://example.com/x/objects', '../../y/objects'),
      'https://example.com/y/objects',
    );
  });

  test('the server refuses paths outside its root', T, async () => {
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get(`${server.url}..%2f..%2fetc%2fpasswd`, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    assert.equal(status, 404);
  });
});

describe('the resident layer over HTTP', () => {
  test('the prefix read at open is resident: whole blocks, and the end of a short file', T, async () => {
    const files = storeFiles(httpStorage(server.url, { prefixBytes: 10000 }), { blockSize: 4096 });
    const r = await drive(() => files.open('big.bin'))!;
    assert.ok(r !== undefined);
    const n = server.requests;
    assert.deepEqual(readAll(r, 0, 8192), big.subarray(0, 8192));
    assert.equal(server.requests, n);
    assert.throws(() => readAll(r, 8000, 300), isPending, 'block 2 is only partly in the prefix');
    assert.deepEqual(await drive(() => readAll(r, 8000, 300)), big.subarray(8000, 8300));
    r.close();

    const p = await drive(() => files.open('objects/info/packs'))!;
    assert.ok(p !== undefined);
    assert.deepEqual(readAll(p, 0, small.length), small);
    assert.equal(server.requests, n + 2);
  });

  test('two reads in the same tick are one request', T, async () => {
    const files = storeFiles(httpStorage(server.url, { prefixBytes: 4096 }), { blockSize: 4096 });
    const r = (await drive(() => files.open('big.bin')))!;
    const n = server.requests;
    const [a, b] = await Promise.all([
      drive(() => readAll(r, 40000, 100)),
      drive(() => readAll(r, 52000, 200)),
    ]);
    assert.deepEqual(a, big.subarray(40000, 40100));
    assert.deepEqual(b, big.subarray(52000, 52200));
    assert.equal(server.requests, n + 1);
    assert.match(server.log.at(-1)?.range ?? '', /^bytes=36864-53247$/);
  });
});

describe('servers that misbehave', () => {
  test('a server that ignores Range: small files whole, large ones refused', T, async () => {
    await misbehaving({ ignoreRange: true }, async () => {
      const s = httpStorage(server.url, { prefixBytes: 1000 });
      const f = (await s.open('big.bin'))!;
      assert.equal(f.size, big.length);
      const n = server.requests;
      assert.deepEqual(await f.read(100000, 5000), big.subarray(100000, 105000));
      assert.equal(server.requests, n);
      const limited = httpStorage(server.url, { maxWholeBytes: 100000 });
      const e = await failure(limited.open('big.bin'));
      assert.equal(e.code, 'HTTP_ERROR');
      assert.match(e.message, /ignores Range/);
    });
    const s = httpStorage(server.url, { prefixBytes: 1000 });
    const f = (await s.open('big.bin'))!;
    await misbehaving({ ignoreRange: true }, async () => {
      const e = await failure(f.read(5000, 10));
      assert.equal(e.message, `${server.url}big.bin: HTTP 200 for bytes 5000-5009 (expected 206)`);
    });
  });

  test('lies in Content-Range and Content-Length, bodies longer than said', T, async () => {
    const s = httpStorage(server.url, { prefixBytes: 1000 });
    assert.match(
      (await misbehaving({ contentRangeShift: 1 }, () => failure(s.open('big.bin')))).message,
      /asked for bytes 0-999/,
    );
    const f = (await s.open('big.bin'))!;
    const shifted = await misbehaving({ contentRangeShift: 1 }, () => failure(f.read(5000, 10)));
    assert.equal(shifted.code, 'HTTP_ERROR');
    assert.match(
      shifted.message,
      /asked for bytes 5000-5009\/204923, got Content-Range "bytes 5001-5010\/204923"/,
    );
    const longer = await misbehaving({ extraBytes: 100000 }, () => failure(f.read(5000, 10)));
    assert.match(longer.message, /more than the 10 bytes asked for at 5000/);
    const short = await misbehaving({ contentLength: 20 }, () => failure(f.read(5000, 10)));
    assert.equal(short.code, 'HTTP_ERROR');
    const huge = await misbehaving({ contentLength: 1e12 }, () =>
      failure(s.readFile('objects/info/packs', 1000)),
    );
    assert.equal(huge.code, 'FILE_TOO_LARGE');
    assert.equal(huge.data.size, 1e12);
  });

  test('an endless body is cut at the bound', T, async () => {
    const s = httpStorage(server.url, { prefixBytes: 1000 });
    const f = (await s.open('big.bin'))!;
    await misbehaving({ endlessBody: true }, async () => {
      assert.equal((await failure(s.readFile('objects/info/packs', 100000))).code, 'FILE_TOO_LARGE');
      assert.match((await failure(f.read(5000, 10))).message, /more than the 10 bytes/);
      assert.match((await failure(s.open('big.bin'))).message, /more than the 1000 bytes/);
    });
    assert.ok(s.stats.bytes < 10 * 1024 * 1024, `${s.stats.bytes} bytes received`);
  });

  test('no answer: the time limit, the caller signal, a closed port', T, async () => {
    await misbehaving({ delayMs: 5000 }, async () => {
      const slow = httpStorage(server.url, { timeoutMs: 200 });
      const e = await failure(slow.readFile('objects/info/packs', 100));
      assert.equal(e.message, `${server.url}objects/info/packs: no answer in 200 ms`);
      const ac = new AbortController();
      const aborted = httpStorage(server.url, { signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      assert.equal((await failure(aborted.stat('big.bin'))).code, 'ABORTED');
    });
    const closed = await startStaticServer(dir);
    const url = closed.url;
    await closed.close();
    const e = await failure(httpStorage(url).readFile('big.bin', 10));
    assert.equal(e.code, 'HTTP_ERROR');
    assert.ok(e.message.startsWith(`${url}big.bin: `), e.message);
  });

  test('an injected fetch and headers', T, async () => {
    const seen: string[] = [];
    const s = httpStorage('https://example.invalid/r/', {
      headers: { Authorization: 'Bearer x' },
      fetch: async (input, init) => {
        seen.push(`${input} ${new Headers(init?.headers).get('authorization')}`);
        return new Response('abc', { status: 200 });
      },
    });
    assert.deepEqual(await s.readFile('HEAD', 10), new TextEncoder().encode('abc'));
    assert.deepEqual(seen, ['https://example.invalid/r/HEAD Bearer x']);
  });
});

// The bridge blocks this thread while it waits: its server runs on another one.
describe('syncHttpStorage', () => {
  let remote: StaticServerThread;
  before(async () => {
    remote = await startStaticServerThread(dir);
  });
  after(() => remote.close());

  test('same bytes and stats, synchronously', T, () => {
    const s = syncHttpStorage(remote.url, { prefixBytes: 1000 });
    const n = remote.requests;
    let bytes = 0;
    try {
      assert.equal(s.list('objects'), null);
      assert.deepEqual(s.readFile('objects/info/packs', 1000), small);
      assert.equal(s.readFile('missing', 1000), undefined);
      assert.equal(s.stat('big.bin')?.size, big.length);
      assert.equal(s.stat('missing'), undefined);
      assert.equal(s.open('missing'), undefined);
      assert.equal(s.open('empty')?.size, 0);
      const r = s.open('big.bin')!;
      assert.equal(r.size, big.length);
      const rnd = prng(9);
      for (let i = 0; i < 20; i++) {
        const pos = Math.floor(rnd() * big.length);
        const len = 1 + Math.floor(rnd() * Math.min(50000, big.length - pos));
        assert.deepEqual(readAll(r, pos, len), big.subarray(pos, pos + len));
        bytes += pos + len <= 1000 ? 0 : len;
      }
      assert.deepEqual(readAll(r, 10, 20), big.subarray(10, 30));
      assert.deepEqual(s.stats, { requests: remote.requests - n, bytes: small.length + 1000 + bytes });
      r.close();
      assert.throws(
        () => readAll(r, 5000, 1),
        (e) => isGitMidxError(e, 'MIDX_CLOSED'),
      );
      assert.equal(s.resolve('objects', '/x/objects'), 'x/objects');
      assert.equal(s.resolve('objects', '/../x/objects'), 'x/objects');
    } finally {
      s.close();
    }
    assert.throws(
      () => s.stat('big.bin'),
      (e) => isGitMidxError(e, 'MIDX_CLOSED'),
    );
  });

  test('the same errors as the async storage', T, async () => {
    const a = httpStorage(remote.url, { prefixBytes: 1000, timeoutMs: 300 });
    const s = syncHttpStorage(remote.url, { prefixBytes: 1000, timeoutMs: 300 });
    try {
      const af = (await a.open('big.bin'))!;
      const sf = s.open('big.bin')!;
      const cases: [StaticServerOptions, () => Promise<unknown>, () => unknown][] = [
        [{}, () => a.readFile('big.bin', 10), () => s.readFile('big.bin', 10)],
        [{ status: 503 }, () => a.stat('big.bin'), () => s.stat('big.bin')],
        [{ contentRangeShift: 2 }, () => af.read(7000, 9), () => readAll(sf, 7000, 9)],
        [{ contentRangeShift: 2 }, () => a.open('big.bin'), () => s.open('big.bin')],
        [{ extraBytes: 50 }, () => af.read(7000, 9), () => readAll(sf, 7000, 9)],
        [{ contentLength: 1e12 }, () => a.readFile('empty', 10), () => s.readFile('empty', 10)],
        [{ endlessBody: true }, () => a.readFile('big.bin', 5000), () => s.readFile('big.bin', 5000)],
        [{ ignoreRange: true }, () => af.read(7000, 9), () => readAll(sf, 7000, 9)],
        [{ delayMs: 2000 }, () => a.readFile('empty', 10), () => s.readFile('empty', 10)],
      ];
      for (const [o, async, sync] of cases) {
        await remote.setOptions(o);
        const ea = await failure(async());
        const es = await failure(sync);
        assert.deepEqual(
          { code: es.code, message: es.message, file: es.file },
          { code: ea.code, message: ea.message, file: ea.file },
          JSON.stringify(o),
        );
      }
    } finally {
      await remote.setOptions({});
      s.close();
    }
  });

  /** Runs a script that reads `big.bin` through the bridge, without closing it. */
  async function runScript(
    args: string[],
  ): Promise<{ stdout: string; stderr: string; status: number | null }> {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const [status] = (await once(child, 'close')) as [number | null];
    return { stdout, stderr, status };
  }

  const script = `import { syncHttpStorage } from ${JSON.stringify(path.join(here, '..', 'src', 'node', 'http-sync.ts'))};
    const s = syncHttpStorage(process.argv.at(-1));
    const f = s.open('big.bin');
    const b = new Uint8Array(3);
    f.readInto(b, 0, 3, 100000);
    process.stdout.write(JSON.stringify([f.size, Array.from(b), s.stats.requests]));`;
  const expected = () => JSON.stringify([big.length, Array.from(big.subarray(100000, 100003)), 2]);

  test('from TypeScript source, without keeping the process alive', T, async () => {
    const r = await runScript(['--import', 'tsx', '--input-type=module', '-e', script, remote.url]);
    assert.deepEqual(r, { stdout: expected(), stderr: '', status: 0 });
  });

  test('from a CommonJS bundle like the CLI', T, async () => {
    const out = path.join(dir, 'bundle.cjs');
    const entry = path.join(dir, 'entry.ts');
    fs.writeFileSync(entry, script);
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: out,
      define: { 'import.meta.url': '__filename' },
      logLevel: 'warning',
    });
    const r = await runScript([out, remote.url]);
    assert.deepEqual(r, { stdout: expected(), stderr: '', status: 0 });
  });
});
