/**
 * One store, every way to reach it: the synchronous API on Node files, the async API on
 * `fs.promises`, both APIs on memory — each must answer exactly what `git cat-file --batch`
 * answers, in SHA-1 and SHA-256 repositories holding deltas of both kinds, a MIDX, a pack outside
 * it, loose objects, an alternate and annotated tags.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../src/bytes.js';
import { SHA1, SHA256 } from '../src/hash.js';
import { AsyncObjectStore, httpStorage, memoryStorage, ObjectStore as PortableStore } from '../src/index.js';
import { ObjectStore, openAsyncObjectStore } from '../src/node/index.js';
import { startStaticServer } from './helpers/static-server.js';
import { buildStoreRepo, filesUnder, type StoreRepo } from './helpers/store-repo.js';

/** Runs the CLI without blocking this thread (the test's HTTP server answers on it). */
function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  input = '',
): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [bin, ...args], { env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => err.push(b));
    c.on('error', reject);
    c.on('close', (status) =>
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    );
    c.stdin.end(input);
  });
}

const bin = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'git-midx');

const REVS = [
  'HEAD',
  'main',
  'side',
  'loose-branch',
  'v1',
  'light',
  'v1^{}',
  'v1^{tree}',
  'HEAD~3',
  'HEAD^',
  'HEAD:file.txt',
  'side:dir/f1.txt',
  'HEAD~2^{tree}',
];

const built: StoreRepo[] = [];
after(() => {
  for (const r of built) r.cleanup();
});

interface Reader {
  readObject(oid: Uint8Array): unknown;
}

async function compareAll(r: StoreRepo, store: Reader, label: string): Promise<void> {
  let n = 0;
  for (const [hex, want] of r.objects) {
    const got = (await store.readObject(fromHex(hex)!)) as
      | { type: string; size: number; data: Uint8Array }
      | undefined;
    assert.ok(got, `${label}: ${hex} missing`);
    assert.equal(got.type, want.type, `${label}: type of ${hex}`);
    assert.equal(got.size, want.size, `${label}: size of ${hex}`);
    assert.ok(Buffer.from(got.data).equals(want.data), `${label}: bytes of ${hex}`);
    n++;
  }
  for (const hex of r.missing) {
    assert.equal(await store.readObject(fromHex(hex)!), undefined, `${label}: ${hex} should be missing`);
  }
  assert.ok(n > 50, `${label}: only ${n} objects`);
}

for (const format of ['sha1', 'sha256'] as const) {
  test(`${format}: sync, async and memory stores answer as git cat-file --batch`, async () => {
    const r = buildStoreRepo(format);
    built.push(r);
    const hash = format === 'sha1' ? SHA1 : SHA256;

    const sync = ObjectStore.open({ objectDir: r.main.objectDir });
    try {
      await compareAll(r, sync, 'sync');
    } finally {
      sync.close();
    }

    const asyncStore = await openAsyncObjectStore({ objectDir: r.main.objectDir });
    try {
      await compareAll(r, asyncStore, 'async');
      // Batch forms, in input order, with the missing ones in between.
      const ids = [...r.objects.keys(), ...r.missing];
      const infos = await asyncStore.objectInfos(ids.map((h) => fromHex(h)!));
      ids.forEach((h, k) => {
        const want = r.objects.get(h);
        assert.deepEqual(infos[k], want ? { type: want.type, size: want.size } : undefined, h);
      });
      const has = await asyncStore.hasObjects(ids.map((h) => fromHex(h)!));
      assert.deepEqual(
        has,
        ids.map((h) => r.objects.has(h)),
      );
      const listed: string[] = [];
      for await (const id of asyncStore.objectIds()) listed.push(id);
      assert.deepEqual(listed, [...r.objects.keys()].sort());
      // A unique abbreviation resolves; streaming gives the bytes.
      const [first] = r.objects.keys();
      assert.equal(toHex((await asyncStore.resolvePrefix(first.slice(0, 12)))!), first);
      const s = await asyncStore.streamObject(fromHex(first)!, { chunkSize: 7 });
      const chunks: Uint8Array[] = [];
      for await (const c of s!) chunks.push(c);
      assert.ok(Buffer.concat(chunks).equals(r.objects.get(first)!.data));
    } finally {
      asyncStore.close();
    }

    // The synchronous API refuses a storage that answers later.
    assert.throws(
      () => PortableStore.create({ storage: httpStorage('http://127.0.0.1:9/'), objectDir: 'objects', hash }),
      (e: unknown) => (e as { code?: string }).code === 'STORAGE_ASYNC',
    );

    // Memory: the files of both repositories, the alternate reached by its relative path.
    const files = filesUnder(r.root, r.root);
    const objectDir = 'main/.git/objects';
    const mem = PortableStore.create({
      storage: memoryStorage(files),
      objectDir,
      hash,
    });
    try {
      assert.deepEqual(mem.objectDirs, [objectDir, 'alt/.git/objects']);
      await compareAll(r, mem, 'memory sync');
    } finally {
      mem.close();
    }
    const memAsync = await AsyncObjectStore.open({ storage: memoryStorage(files), objectDir });
    try {
      assert.equal(memAsync.hash.name, format, 'hash read from the config');
      await compareAll(r, memAsync, 'memory async');
    } finally {
      memAsync.close();
    }

    // HTTP: the repositories served as static files; the async API, revisions, and the CLI.
    const server = await startStaticServer(r.root);
    try {
      const base = `${server.url}main/.git/`;
      const storage = httpStorage(base);
      const web = await AsyncObjectStore.open({ storage, objectDir: 'objects' });
      try {
        assert.equal(web.hash.name, format);
        await compareAll(r, web, 'http async');
        for (const rev of REVS) {
          const want = r.main.gitText(['rev-parse', '--verify', '-q', rev]);
          assert.equal(toHex(await web.resolveRevision(rev)), want, `http revision ${rev}`);
        }
      } finally {
        web.close();
      }
      const ids = [...r.objects.keys(), ...r.missing, ...REVS];
      const want = r.catFileBatch(ids);
      const cli = await runCli(
        [`--git-dir=${base}`, 'cat-file', '--batch'],
        r.main.env,
        `${ids.join('\n')}\n`,
      );
      assert.equal(cli.stderr.toString(), '');
      assert.ok(Buffer.from(cli.stdout).equals(want), 'cat-file --batch over HTTP equals git');
      const p = await runCli([`--git-dir=${base}`, 'cat-file', '-p', 'HEAD:file.txt'], r.main.env);
      assert.equal(p.stdout.toString(), `${r.main.gitText(['cat-file', '-p', 'HEAD:file.txt'])}\n`);
      for (const args of [['show'], ['verify'], ['lookup', [...r.objects.keys()][0].slice(0, 10)]]) {
        const c = await runCli([`--git-dir=${base}`, ...args], r.main.env);
        assert.equal(c.status, 0, `${args.join(' ')}: ${c.stderr}`);
      }
    } finally {
      await server.close();
    }
  });
}
