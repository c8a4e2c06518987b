/**
 * The object store and `git-midx cat-file` against `git cat-file` (spec/objects-format.md §5–§7.1,
 * midx-format.md §9–§10), in SHA-1 and SHA-256 repositories built here: deep delta chains of both
 * kinds, many packs behind a MIDX, packs outside it, loose objects and an alternate with its own
 * MIDX. Then the failure cases: a pack deleted under the MIDX, a concurrent repack, a MIDX that
 * cannot be loaded or lies, core.multiPackIndex=false, broken loose objects.
 *
 * The big comparisons spawn bin/git-midx (needs `dist/`; `npm test` builds first); the many small
 * ones run the same `main()` in-process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { fromHex, readU32, toHex, writeU32 } from '../src/bytes.js';
import { main } from '../src/cli/main.js';
import { isGitMidxError } from '../src/errors.js';
import { type HashAlgorithm, SHA1, SHA256 } from '../src/hash.js';
import { CHUNK_OOFF } from '../src/midx/chunks.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import { ObjectStore } from '../src/node/odb.js';
import { discoverRepository } from '../src/node/repo.js';
import { nodeStorage } from '../src/node/storage.js';
import { nodeInflater, openPackFile } from '../src/node/zlib.js';
import { PackIndex } from '../src/pack/idx.js';
import { crc32 } from '../src/pack/writer.js';
import type { Diagnostic } from '../src/progress.js';
import type { Storage } from '../src/storage/storage.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function newRepo(format: 'sha1' | 'sha256', bare = false): TestRepo {
  const r = TestRepo.create({ objectFormat: format, bare });
  repos.push(r);
  return r;
}

function hashOf(format: 'sha1' | 'sha256'): HashAlgorithm {
  return format === 'sha256' ? SHA256 : SHA1;
}

interface Run {
  status: number;
  stdout: Buffer;
  stderr: string;
}

/** bin/git-midx, spawned as a user runs it. */
function spawnCli(r: TestRepo, args: string[], input = '', env: NodeJS.ProcessEnv = r.env): Run {
  const res = spawnSync(bin, args, { cwd: r.dir, env, input, maxBuffer: 1 << 28 });
  return { status: res.status ?? 129, stdout: res.stdout, stderr: res.stderr.toString('utf8') };
}

/** The same `main()` in-process (fast, for many small runs). */
async function runCli(r: TestRepo, args: string[], input = ''): Promise<Run> {
  const out: Buffer[] = [];
  let err = '';
  const io = {
    stdout: (s: string | Uint8Array) => {
      out.push(Buffer.from(s));
    },
    stderr: (s: string) => {
      err += s;
    },
    readStdin: () => input,
    readStdinBytes: () => Buffer.from(input),
    stderrIsTTY: false,
    env: r.env,
    cwd: r.dir,
  };
  const status = await main(args, io);
  return { status, stdout: Buffer.concat(out), stderr: err };
}

function gitRun(r: TestRepo, args: string[], input = ''): Run {
  const g = r.git(args, { input, allowFail: true });
  return { status: g.status, stdout: g.stdout, stderr: g.stderr };
}

function assertSameBytes(ours: Buffer, theirs: Buffer, what: string): void {
  if (ours.equals(theirs)) return;
  let i = 0;
  while (i < ours.length && i < theirs.length && ours[i] === theirs[i]) i++;
  assert.fail(
    `${what}: outputs differ at byte ${i} (ours ${ours.length} bytes, git ${theirs.length}):\n` +
      `ours: ${JSON.stringify(ours.subarray(Math.max(0, i - 80), i + 80).toString('latin1'))}\n` +
      `git:  ${JSON.stringify(theirs.subarray(Math.max(0, i - 80), i + 80).toString('latin1'))}`,
  );
}

/** Contents whose blob ids share their first 4 hex digits (found by hashing, no git needed). */
function ambiguousPair(format: 'sha1' | 'sha256'): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; ; i++) {
    const content = `ambiguous candidate ${i}\n`;
    const id = createHash(format).update(`blob ${content.length}\0${content}`).digest('hex');
    const other = seen.get(id.slice(0, 4));
    if (other !== undefined) return [other, content];
    seen.set(id.slice(0, 4), content);
  }
}

/**
 * `versions` blobs; each rewrites one more line of the previous one, so its nearest neighbour is the
 * best delta base and pack-objects builds chains as deep as there are versions.
 */
function growingTexts(tag: string, versions: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 3 * versions; i++)
    lines.push(`${tag} base line ${i}: the quick brown fox jumps over the lazy dog\n`);
  const out: string[] = [];
  for (let v = 0; v < versions; v++) {
    lines[3 * v] = `${tag} line ${3 * v} was rewritten in version ${v} of this text\n`;
    out.push(lines.join(''));
  }
  return out;
}

/** Entry kinds and the longest delta chain in a pack, read with our pack reader. */
function packShape(r: TestRepo, stem: string, hash: HashAlgorithm): { kinds: Set<number>; depth: number } {
  const idx = PackIndex.fromBytes(fs.readFileSync(path.join(r.packDir, `${stem}.idx`)), { hash });
  const pack = openPackFile(path.join(r.packDir, `${stem}.pack`), idx);
  try {
    const kinds = new Set<number>();
    let depth = 0;
    for (let i = 0; i < idx.numObjects; i++) {
      let e = pack.entryAt(idx.offsetAt(i));
      kinds.add(e.type);
      let d = 0;
      while (e.type === 6 || e.type === 7) {
        const next = e.type === 6 ? e.baseOffset! : idx.lookup(e.baseOid!)!;
        e = pack.entryAt(next);
        d++;
      }
      depth = Math.max(depth, d);
    }
    return { kinds, depth };
  } finally {
    pack.close();
    idx.close();
  }
}

interface Fixture {
  r: TestRepo;
  alt: TestRepo;
  ambiguous: [string, string];
  looseIds: string[];
}

/**
 * Commits, trees (odd names), an annotated tag; a deep OFS_DELTA chain and a deep REF_DELTA chain
 * in their own packs; four more packs with duplicates; a MIDX over those six packs; then a pack of
 * everything reachable and a REF_DELTA pack, both outside the MIDX (so objects are in a MIDX pack and
 * a plain pack at once); loose blobs including two with the same 4-hex prefix; and an alternate
 * with its own MIDX, a pack outside it, loose objects and an object the main store has too.
 */
function buildFixture(format: 'sha1' | 'sha256'): Fixture {
  const r = newRepo(format);
  const hash = hashOf(format);
  r.commitFiles(
    { 'a.txt': 'hello\n', 'dir/b.txt': 'b\n', 'q"uote\tand tab.txt': 'odd\n', 'é.txt': 'é\n' },
    'first',
  );
  r.commitFiles({ 'a.txt': 'hello again\n', 'dir/c.txt': 'c\n' }, 'second\n\nwith a body');
  r.git(['tag', '-a', 'v1', '-m', 'tag message']);

  const ofs = r.writeBlobs(growingTexts('ofs', 40));
  const ref = r.writeBlobs(growingTexts('ref', 40));
  // pack-objects writes REF_DELTA unless asked for offsets (repack asks; the helper does not).
  const ofsStem = `pack-${r.gitText(['pack-objects', '-q', '--delta-base-offset', path.join(r.packDir, 'pack')], `${ofs.join('\n')}\n`)}`;
  const refStem = r.packObjects(ref, { deltaBaseOffset: false });
  const ofsShape = packShape(r, ofsStem, hash);
  const refShape = packShape(r, refStem, hash);
  assert.ok(ofsShape.kinds.has(6) && !ofsShape.kinds.has(7), 'the OFS pack holds OFS_DELTA entries');
  assert.ok(refShape.kinds.has(7) && !refShape.kinds.has(6), 'the REF pack holds REF_DELTA entries');
  assert.ok(
    ofsShape.depth >= 20 && refShape.depth >= 20,
    `deep chains (${ofsShape.depth}, ${refShape.depth})`,
  );
  makeManyPacks(r, 4, 12, { duplicateEvery: 4 });
  r.git(['multi-pack-index', 'write']);

  // Outside the MIDX: everything reachable (commits, trees, tag and blobs), and the REF chain again.
  const reachable = r
    .gitText(['rev-list', '--objects', '--all'])
    .split('\n')
    .map((l) => l.split(' ')[0]);
  r.packObjects([...reachable, ...ofs.slice(0, 5)]);
  r.packObjects(ref.slice(10, 30), { deltaBaseOffset: false, prefix: 'other' });
  r.git(['prune-packed']);
  const ambiguous = ambiguousPair(format);
  const looseIds = r.writeBlobs(['loose one\n', 'loose two\n', '', ...ambiguous]);

  const alt = newRepo(format, true);
  // Enough objects behind the alternate's MIDX that a batch looks them up there too (BATCH_MIN).
  makeManyPacks(alt, 3, 30);
  alt.git(['multi-pack-index', 'write']);
  alt.packObjects(alt.writeBlobs(['alternate packed outside its MIDX\n', 'hello\n']));
  alt.git(['prune-packed']);
  alt.writeBlobs(['alternate loose\n', 'loose one\n']);
  fs.mkdirSync(path.join(r.objectDir, 'info'), { recursive: true });
  fs.writeFileSync(path.join(r.objectDir, 'info', 'alternates'), `${alt.objectDir}\n`);
  return { r, alt, ambiguous, looseIds };
}

function ids(r: TestRepo): string[] {
  return r
    .git(['cat-file', '--batch-check=%(objectname)', '--batch-all-objects'])
    .stdout.toString()
    .trimEnd()
    .split('\n');
}

for (const format of ['sha1', 'sha256'] as const) {
  describe(`cat-file interop (${format})`, () => {
    let fx: Fixture;
    before(() => {
      fx = buildFixture(format);
    });

    test('--batch --batch-all-objects is byte-identical to git; so is --batch-check with disk sizes and delta bases', () => {
      const { r } = fx;
      const ours = spawnCli(r, ['cat-file', '--batch', '--batch-all-objects']);
      const theirs = gitRun(r, ['cat-file', '--batch', '--batch-all-objects']);
      assert.equal(theirs.status, 0, theirs.stderr);
      assert.equal(ours.status, 0, ours.stderr);
      assert.equal(ours.stderr, '');
      assertSameBytes(ours.stdout, theirs.stdout, '--batch --batch-all-objects');
      // Sanity: the listing spans the alternate, loose objects and both chains.
      const listed = new Set(ids(r));
      for (const id of [...fx.looseIds.filter((x) => x !== fx.looseIds[2]), ...ids(fx.alt)]) {
        assert.ok(listed.has(id), `${id} listed`);
      }

      const fmt = '--batch-check=%(objectname) %(objecttype) %(objectsize) %(objectsize:disk) %(deltabase)';
      const o2 = spawnCli(r, ['cat-file', fmt, '--batch-all-objects']);
      const g2 = gitRun(r, ['cat-file', fmt, '--batch-all-objects']);
      assert.equal(o2.status, 0, o2.stderr);
      assertSameBytes(o2.stdout, g2.stdout, 'disk sizes and delta bases');
      assert.match(o2.stdout.toString(), / [0-9a-f]{40,64}\n/, 'some objects are deltas');
    });

    test('--batch-check and --batch with --batch-all-objects over one MIDX holding everything equal git in every format', () => {
      // The listing then comes straight from the MIDX (no loose object, no pack outside it).
      const r = newRepo(format);
      r.commitFiles({ 'a.txt': 'one\n', 'b/c.txt': 'two\n' }, 'first');
      r.commitFiles({ 'a.txt': 'one more\n' }, 'second');
      r.git(['tag', '-a', 'v1', '-m', 'tag']);
      const ofs = r.writeBlobs(growingTexts('ofs', 25));
      const ref = r.writeBlobs(growingTexts('ref', 25));
      r.gitText(
        ['pack-objects', '-q', '--delta-base-offset', path.join(r.packDir, 'pack')],
        `${ofs.join('\n')}\n`,
      );
      r.packObjects(ref, { deltaBaseOffset: false });
      const reachable = r
        .gitText(['rev-list', '--objects', '--all'])
        .split('\n')
        .map((l) => l.split(' ')[0]);
      r.packObjects([...reachable, ...ofs.slice(0, 3)]);
      // More than a batch's minimum, some in two packs.
      makeManyPacks(r, 3, 30, { duplicateEvery: 4 });
      r.git(['prune-packed']);
      r.git(['multi-pack-index', 'write']);
      assert.match(r.gitText(['count-objects', '-v']), /^count: 0$/m);
      for (const fmt of [
        '--batch-check=%(objectname) %(objectsize:disk) %(deltabase)',
        '--batch-check=%(objectname) %(objecttype) %(objectsize) %(objectsize:disk) %(deltabase)',
        '--batch-check',
        '--batch-check=%(objectname)',
        '--batch-check=%(objectsize:disk) %(objecttype)',
        '--batch',
        '--batch=%(objectname) %(objectsize)',
        '--batch=%(objectname) %(objectsize:disk) %(deltabase)',
      ]) {
        const ours = spawnCli(r, ['cat-file', fmt, '--batch-all-objects']);
        const theirs = gitRun(r, ['cat-file', fmt, '--batch-all-objects']);
        assert.equal(ours.status, 0, ours.stderr);
        assertSameBytes(ours.stdout, theirs.stdout, fmt);
      }
      const bases = spawnCli(r, [
        'cat-file',
        '--batch-check=%(deltabase)',
        '--batch-all-objects',
      ]).stdout.toString();
      const nul = '0'.repeat(r.hexLength);
      assert.ok(
        bases.split('\n').filter((l) => l !== '' && l !== nul).length >= 40,
        'OFS and REF deltas listed',
      );
    });

    test('--batch-check on present, missing, abbreviated, ambiguous and odd names equals git', () => {
      const { r } = fx;
      const all = ids(r);
      const hexSize = r.hexLength;
      const [a, b] = fx.ambiguous.map((c) =>
        createHash(format).update(`blob ${c.length}\0${c}`).digest('hex'),
      );
      assert.equal(a.slice(0, 4), b.slice(0, 4));
      const names = [
        ...all.filter((_, i) => i % 3 === 0),
        ...all.filter((_, i) => i % 7 === 1).map((x) => x.slice(0, 7)),
        ...all.filter((_, i) => i % 11 === 2).map((x) => x.toUpperCase()),
        ...all.filter((_, i) => i % 13 === 3).map((x) => x.slice(0, 40)),
        a.slice(0, 4),
        a.slice(0, 4).toUpperCase(),
        a.slice(0, 6),
        b,
        `${'0'.repeat(hexSize - 1)}1`,
        'deadbeef'.padEnd(hexSize, '0'),
        'abc',
        '',
        'not hex at all',
        `${all[0]} extra words`,
        `${all[1]}\r`,
        `${all[2]}0`,
        format === 'sha1'
          ? '4b825dc642cb6eb9a060e54bf8d69288fbee4904'
          : '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321',
        fx.looseIds[2],
      ];
      const input = `${names.join('\n')}\n`;
      const ours = spawnCli(r, ['cat-file', '--batch-check'], input);
      const theirs = gitRun(r, ['cat-file', '--batch-check'], input);
      assert.equal(ours.status, 0, ours.stderr);
      assertSameBytes(ours.stdout, theirs.stdout, '--batch-check');
      assert.equal(ours.stderr, theirs.stderr, 'the ambiguity errors and hints');
      assert.match(ours.stdout.toString(), / ambiguous\n/);
      assert.match(ours.stdout.toString(), / missing\n/);
      // The same names, twice over (repeated ids), with contents: the batch path, pack by pack.
      assert.ok(names.length >= 64, `${names.length} names take the batch path`);
      const twice = input + input;
      const ob = spawnCli(r, ['cat-file', '--batch'], twice);
      const gb = gitRun(r, ['cat-file', '--batch'], twice);
      assert.equal(ob.status, 0, ob.stderr);
      assertSameBytes(ob.stdout, gb.stdout, '--batch on the same names, twice');
      assert.equal(ob.stderr, gb.stderr, 'the ambiguity errors and hints (--batch)');
      assertSameBytes(
        spawnCli(r, ['cat-file', '--batch-check'], twice).stdout,
        gitRun(r, ['cat-file', '--batch-check'], twice).stdout,
        '--batch-check on the same names, twice',
      );

      // %(rest), -z and --batch on the same names.
      const restFmt = '--batch-check=%(objecttype) %(objectname) [%(rest)]';
      const tail = `${all[3]}  \t rest of line \n${all[4]}\n`;
      const o2 = spawnCli(r, ['cat-file', restFmt], tail + input);
      const g2 = gitRun(r, ['cat-file', restFmt], tail + input);
      assertSameBytes(o2.stdout, g2.stdout, '%(rest)');
      // Literal text beyond ASCII is printed as the argument's bytes, on both batch roads.
      for (const fmt of ['--batch-check=%(objectname) é→ %(objecttype)', '--batch-check=« %(rest) »']) {
        assertSameBytes(
          spawnCli(r, ['cat-file', fmt], tail).stdout,
          gitRun(r, ['cat-file', fmt], tail).stdout,
          fmt,
        );
      }
      const zin = `${all[5]}\0${all[6].slice(0, 9)}\0nothing\0`;
      assertSameBytes(
        spawnCli(r, ['cat-file', '--batch', '-z'], zin).stdout,
        gitRun(r, ['cat-file', '--batch', '-z'], zin).stdout,
        '--batch -z',
      );
    });

    test('-t, -s, -e, -p and <type> <object> answer as git does, exit codes and messages included', async () => {
      const { r } = fx;
      const [a] = fx.ambiguous.map((c) => createHash(format).update(`blob ${c.length}\0${c}`).digest('hex'));
      const head = r.gitText(['rev-parse', 'HEAD']);
      const tree = r.gitText(['rev-parse', 'HEAD^{tree}']);
      const firstTree = r.gitText(['rev-parse', 'HEAD~1^{tree}']);
      const tag = r.gitText(['rev-parse', 'v1']);
      const blob = r.gitText(['rev-parse', 'HEAD:a.txt']);
      const missing = 'e'.repeat(r.hexLength);
      const names = [head, tree, firstTree, tag, blob, blob.slice(0, 8), missing, 'nonsense', a.slice(0, 4)];
      for (const mode of ['-t', '-s', '-e', '-p']) {
        for (const name of names) {
          const ours = await runCli(r, ['cat-file', mode, name]);
          const theirs = gitRun(r, ['cat-file', mode, name]);
          const what = `cat-file ${mode} ${name}`;
          assert.equal(ours.status, theirs.status, `${what}: ${ours.stderr}`);
          assertSameBytes(ours.stdout, theirs.stdout, what);
          assert.equal(ours.stderr, theirs.stderr, what);
        }
      }
      const typed: [string, string][] = [
        ['commit', tag],
        ['tree', head],
        ['tree', tag],
        ['blob', blob],
        ['blob', head],
        ['blob', missing],
        ['bogus', head],
      ];
      for (const [type, name] of typed) {
        const ours = await runCli(r, ['cat-file', type, name]);
        const theirs = gitRun(r, ['cat-file', type, name]);
        assert.equal(ours.status, theirs.status, `cat-file ${type} ${name}: ${ours.stderr}`);
        assertSameBytes(ours.stdout, theirs.stdout, `cat-file ${type} ${name}`);
        assert.equal(ours.stderr, theirs.stderr);
      }
      // Usage errors: Git's exit code 129.
      for (const args of [
        ['-t', '-s', head],
        ['--batch', head],
        ['--batch-all-objects'],
        ['-t'],
        ['-z', '-t', head],
      ]) {
        const ours = await runCli(r, ['cat-file', ...args]);
        assert.equal(ours.status, 129, args.join(' '));
        assert.equal(gitRun(r, ['cat-file', ...args]).status, 129);
      }
      const badFormat = await runCli(r, ['cat-file', '--batch-check=%(nope)'], '');
      assert.equal(badFormat.status, 128);
      assert.equal(badFormat.stderr, 'fatal: unknown format element: nope\n');
    });

    test('library: reads, infos, batch forms in input order, prefixes, counters, hash checks', () => {
      const { r } = fx;
      const hash = hashOf(format);
      const store = ObjectStore.forRepository(discoverRepository({ cwd: r.dir, env: r.env }), {
        verifyHashes: true,
      });
      try {
        const all = store.allObjectIdsHex();
        assert.deepEqual(all, ids(r));
        const oids = all.map((h) => fromHex(h)!);
        const missing = fromHex('f'.repeat(hash.hexSize))!;
        const objects = store.readObjects([...oids, missing]);
        assert.equal(objects.length, oids.length + 1);
        assert.equal(objects[oids.length], undefined);
        const infos = store.objectInfos([missing, ...oids]);
        assert.equal(infos[0], undefined);
        for (let i = 0; i < oids.length; i++) {
          const o = objects[i]!;
          const h = createHash(hash.name).update(`${o.type} ${o.data.length}\0`).update(o.data).digest('hex');
          assert.equal(h, all[i]);
          assert.deepEqual(infos[i + 1], { type: o.type, size: o.size });
        }
        // The packed and streaming forms give the same answers, repeated ids included.
        const H = hash.size;
        const list = [...oids, missing, ...oids.slice(0, 9)];
        const packed = new Uint8Array(list.length * H);
        for (let i = 0; i < list.length; i++) packed.set(list[i], i * H);
        const TYPES = ['', 'commit', 'tree', 'blob', 'tag'];
        const pi = store.objectInfoPacked(packed, list.length);
        const seen: number[] = [];
        store.readObjectsEach(
          packed,
          list.length,
          (k, o) => {
            seen.push(k);
            const want =
              k < oids.length ? objects[k] : k === oids.length ? undefined : objects[k - oids.length - 1];
            assert.deepEqual(o, want, `readObjectsEach #${k}`);
            assert.equal(TYPES[pi.types[k]] || undefined, want?.type, `objectInfoPacked type #${k}`);
            assert.equal(pi.sizes[k], want?.size ?? 0, `objectInfoPacked size #${k}`);
          },
          { window: 50 },
        );
        assert.deepEqual(
          seen,
          list.map((_, i) => i),
        );
        // Transient bytes (one buffer refilled window by window): the same answers while delivered.
        for (const window of [3, 50]) {
          let delivered = 0;
          store.readObjectsEach(
            packed,
            list.length,
            (k, o) => {
              delivered++;
              const want =
                k < oids.length ? objects[k] : k === oids.length ? undefined : objects[k - oids.length - 1];
              assert.deepEqual(o === undefined ? o : { ...o, data: o.data.slice() }, want, `transient #${k}`);
            },
            { window, transient: true },
          );
          assert.equal(delivered, list.length);
        }
        assert.deepEqual(
          store.hasObjects(list),
          list.map((_, i) => i !== oids.length),
        );
        assert.equal(store.hasObject(missing), false);
        assert.ok(store.hasObject(oids[0]));
        const c = store.counters;
        assert.ok(c.midxHits > 0 && c.packHits > 0 && c.looseHits > 0, JSON.stringify(c));
        assert.ok(c.misses >= 3 && c.rescans >= 3 && c.bytesRead > 0, JSON.stringify(c));
        assert.equal(c.stalePackSkips, 0);

        const [x, y] = fx.ambiguous.map((t) =>
          createHash(format).update(`blob ${t.length}\0${t}`).digest('hex'),
        );
        assert.equal(toHex(store.resolvePrefix(x.slice(0, 12))!), x);
        assert.equal(toHex(store.resolvePrefix(y.toUpperCase())!), y);
        assert.throws(
          () => store.resolvePrefix(x.slice(0, 4)),
          (e) => isGitMidxError(e, 'OBJECT_AMBIGUOUS') && (e.data.candidates as string[]).includes(y),
        );
        assert.equal(store.resolvePrefix(x.slice(0, 3)), undefined);
        assert.equal(store.resolvePrefix('zzzz'), undefined);

        // A loose file stored under the wrong name reads without the check and is refused with it.
        const fake = `${x.slice(0, 2)}${'1'.repeat(hash.hexSize - 2)}`;
        fs.copyFileSync(
          path.join(r.objectDir, x.slice(0, 2), x.slice(2)),
          path.join(r.objectDir, fake.slice(0, 2), fake.slice(2)),
        );
        assert.throws(
          () => store.readObject(fromHex(fake)!),
          (e) => isGitMidxError(e, 'LOOSE_CORRUPT'),
        );
        const lax = ObjectStore.forRepository(discoverRepository({ cwd: r.dir, env: r.env }));
        assert.equal(lax.readObject(fromHex(fake)!)?.size, fx.ambiguous[0].length);
        lax.close();
        fs.rmSync(path.join(r.objectDir, fake.slice(0, 2), fake.slice(2)), { force: true });
      } finally {
        store.close();
      }
    });
  });
}

describe('stale and broken MIDX', () => {
  test('a pack deleted after the MIDX was written: every remaining object reads, duplicates from their other pack', () => {
    const r = newRepo('sha1');
    // 80 objects: more than a batch needs to take the pack-by-pack path.
    const { stems } = makeManyPacks(r, 4, 20, { duplicateEvery: 3 });
    r.git(['multi-pack-index', 'write']);
    const before = new Map<string, Buffer>();
    const batch = r.git(['cat-file', '--batch', '--batch-all-objects']).stdout;
    for (let p = 0; p < batch.length; ) {
      const nl = batch.indexOf(10, p);
      const [oid, , size] = batch.subarray(p, nl).toString().split(' ');
      before.set(oid, batch.subarray(nl + 1, nl + 1 + Number(size)));
      p = nl + 1 + Number(size) + 1;
    }
    // The newest pack wins duplicates in the MIDX: delete pack 1 (its objects and pack 0's copies),
    // and only the .pack of pack 3.
    fs.rmSync(path.join(r.packDir, `${stems[1]}.pack`));
    fs.rmSync(path.join(r.packDir, `${stems[1]}.idx`));
    fs.rmSync(path.join(r.packDir, `${stems[3]}.pack`));

    // Reference: git over the remaining packs without the MIDX.
    const plain = r.git([
      '-c',
      'core.multiPackIndex=false',
      'cat-file',
      '--batch',
      '--batch-all-objects',
    ]).stdout;
    const ours = spawnCli(r, ['cat-file', '--batch', '--batch-all-objects']);
    assert.equal(ours.status, 0, ours.stderr);
    assertSameBytes(ours.stdout, plain, 'stale MIDX --batch --batch-all-objects');

    const diags: Diagnostic[] = [];
    const store = ObjectStore.open({
      objectDir: r.objectDir,
      hash: SHA1,
      onDiagnostic: (d) => diags.push(d),
    });
    try {
      const remaining = new Set(ids(r).filter((id) => id !== ''));
      let present = 0;
      for (const [oid, data] of before) {
        const got = store.readObject(fromHex(oid)!);
        if (plain.includes(Buffer.from(`${oid} blob`))) {
          assert.ok(got, `${oid} still readable`);
          assert.ok(Buffer.from(got.data).equals(data));
          present++;
        } else {
          assert.equal(got, undefined, `${oid} is gone`);
        }
      }
      assert.ok(present > 0 && present < before.size && remaining.size > 0);
      const c = store.counters;
      assert.ok(c.stalePackSkips > 0, JSON.stringify(c));
      assert.ok(c.midxFallbackHits > 0, JSON.stringify(c));
      assert.ok(c.rescans > 0 && c.misses > 0, JSON.stringify(c));
      assert.deepEqual(diags, [], 'a deleted pack is not an error');
    } finally {
      store.close();
    }
  });

  test('with a MIDX, what it holds is read without listing the pack directory; a miss lists it once', () => {
    const r = newRepo('sha1');
    const { oids } = makeManyPacks(r, 3, 5);
    r.git(['multi-pack-index', 'write']);
    // A pack the MIDX does not cover.
    const [extra] = r.writeBlobs(['not in the MIDX\n']);
    r.git(['pack-objects', '-q', path.join(r.packDir, 'pack')], { input: `${extra}\n` });
    const listed: string[] = [];
    const base = nodeStorage();
    const storage: Storage = {
      ...base,
      name: base.name,
      remote: false,
      list: (dir) => {
        listed.push(dir);
        return base.list(dir);
      },
    };
    const store = ObjectStore.create({ storage, objectDir: r.objectDir, hash: SHA1, inflate: nodeInflater });
    try {
      for (const oid of oids) assert.ok(store.readObject(fromHex(oid)!), oid);
      assert.deepEqual(
        listed.filter((d) => d.endsWith('pack')),
        [],
        'no listing while the MIDX answers',
      );
      assert.equal(store.readObject(fromHex(extra)!)?.type, 'blob');
      assert.equal(listed.filter((d) => d.endsWith('pack')).length, 1, listed.join(', '));
      assert.equal(store.counters.misses, 0);
    } finally {
      store.close();
    }
  });

  test('an object loose and in a pack the MIDX does not cover: the packed copy, as git (cat-file %(objectsize:disk))', async () => {
    for (const format of ['sha1', 'sha256'] as const) {
      const r = newRepo(format);
      makeManyPacks(r, 2, 4);
      r.git(['multi-pack-index', 'write']);
      const [both] = r.writeBlobs(['loose and packed\n'.repeat(40)]);
      r.git(['pack-objects', '-q', path.join(r.packDir, 'pack')], { input: `${both}\n` });
      assert.ok(fs.existsSync(path.join(r.objectDir, both.slice(0, 2), both.slice(2))), 'still loose');
      const fmt = '--batch-check=%(objectname) %(objecttype) %(objectsize) %(objectsize:disk)';
      const want = r.git(['cat-file', fmt], { input: `${both}\n` }).stdout.toString();
      const ours = await runCli(r, ['cat-file', fmt], `${both}\n`);
      assert.equal(ours.status, 0, ours.stderr);
      assert.equal(ours.stdout.toString(), want);
    }
  });

  test('a concurrent repack (new pack, old packs and MIDX deleted) is seen, the directory read again at most once', () => {
    const r = newRepo('sha256');
    const { oids } = makeManyPacks(r, 3, 6);
    r.git(['multi-pack-index', 'write']);
    const store = ObjectStore.open({ objectDir: r.objectDir, hash: SHA256 });
    try {
      assert.ok(store.readObject(fromHex(oids[0])!));
      // -k keeps these unreachable blobs in the new pack.
      r.git(['repack', '-a', '-d', '-k', '-q']);
      for (const oid of oids) {
        const got = store.readObject(fromHex(oid)!);
        assert.ok(got, `${oid} after repack`);
        assert.equal(got.type, 'blob');
      }
      // The pack directory was first listed after the repack (the MIDX answered the first read),
      // or listed at open and read again once.
      assert.ok(store.counters.rescans <= 1, JSON.stringify(store.counters));
      assert.ok(store.counters.stalePackSkips >= 1, JSON.stringify(store.counters));
      assert.equal(store.counters.misses, 0);
    } finally {
      store.close();
    }
  });

  test('small commits and trees read again come from the small-object cache as bytes of their own, equal to git cat-file', () => {
    const r = newRepo('sha256');
    for (let i = 0; i < 4; i++) r.commitFiles({ [`f${i}.txt`]: `file ${i}\n` }, `commit ${i}`);
    r.git(['repack', '-a', '-d', '-q']);
    const head = r.gitText(['rev-parse', 'HEAD']).trim();
    const tree = r.gitText(['rev-parse', 'HEAD^{tree}']).trim();
    const store = ObjectStore.open({ objectDir: r.objectDir, hash: SHA256 });
    try {
      for (const [hex, type] of [
        [head, 'commit'],
        [tree, 'tree'],
      ] as const) {
        const want = r.git(['cat-file', type, hex]).stdout as Buffer;
        const first = store.readObject(fromHex(hex)!)!;
        assert.equal(first.type, type);
        assert.deepEqual(Buffer.from(first.data), want);
        first.data.fill(0x41);
        // The second read is a cache hit: the first caller's changes do not reach it.
        for (let k = 0; k < 2; k++) {
          const again = store.readObject(fromHex(hex)!)!;
          assert.equal(again.type, type);
          assert.deepEqual(Buffer.from(again.data), want);
          again.data.fill(0x42);
        }
      }
    } finally {
      store.close();
    }
  });

  test('a listing of objects/pack kept while the directory is unchanged: a pack added later is found, even with its time rolled back', () => {
    const r = newRepo('sha1');
    makeManyPacks(r, 2, 4);
    r.git(['multi-pack-index', 'write']);
    const packDir = path.join(r.objectDir, 'pack');
    const old = new Date(Date.now() - 3600_000);
    fs.utimesSync(packDir, old, old);
    const store = ObjectStore.open({ objectDir: r.objectDir, hash: SHA1 });
    try {
      const absent = fromHex('ab'.repeat(20))!;
      // Misses re-scan; the settled directory's listing is kept and reused.
      assert.equal(store.readObject(absent), undefined);
      assert.equal(store.readObject(absent), undefined);
      const before = store.counters.rescans;
      assert.ok(before >= 2, JSON.stringify(store.counters));
      // A new pack; then the directory's time set back to what the listing saw. The change time
      // cannot be set back, so the next miss still lists again.
      const [blob] = r.writeBlobs(['a blob only the new pack holds\n']);
      r.packObjects([blob]);
      fs.rmSync(path.join(r.objectDir, blob.slice(0, 2), blob.slice(2)), { force: true });
      fs.utimesSync(packDir, old, old);
      const got = store.readObject(fromHex(blob)!);
      assert.ok(got, 'the new pack is listed');
      assert.equal(got.type, 'blob');
    } finally {
      store.close();
    }
  });

  test('a MIDX with a bad signature, an unknown version or a lying offset: one warning, correct answers', () => {
    for (const damage of ['signature', 'version', 'offset'] as const) {
      const r = newRepo(damage === 'version' ? 'sha256' : 'sha1');
      const hash = damage === 'version' ? SHA256 : SHA1;
      const { oids } = makeManyPacks(r, 3, 5);
      r.git(['multi-pack-index', 'write']);
      const reference = r.git(['cat-file', '--batch', '--batch-all-objects']).stdout;
      const bytes = fs.readFileSync(r.midxPath);
      if (damage === 'signature') bytes.write('XIDM', 0, 'latin1');
      else if (damage === 'version') bytes[4] = 9;
      else {
        // Object 0 claims object 1's pack and offset: without a cross-check it would read as object 1.
        const m = MultiPackIndex.fromBytes(bytes, { hash });
        const ooff = m.chunk(CHUNK_OOFF)!.offset;
        writeU32(bytes, ooff, readU32(bytes, ooff + 8));
        writeU32(bytes, ooff + 4, readU32(bytes, ooff + 12));
      }
      fs.chmodSync(r.midxPath, 0o644);
      fs.writeFileSync(r.midxPath, bytes);

      const ours = spawnCli(r, ['cat-file', '--batch', '--batch-all-objects']);
      assert.equal(ours.status, 0, ours.stderr);
      assertSameBytes(ours.stdout, reference, `MIDX with a bad ${damage}`);
      const warnings = ours.stderr.split('\n').filter((l) => l !== '');
      assert.equal(warnings.length, 1, ours.stderr);
      assert.match(warnings[0], /^warning: .*ignoring multi-pack-index/);

      const diags: Diagnostic[] = [];
      const store = ObjectStore.open({ objectDir: r.objectDir, hash, onDiagnostic: (d) => diags.push(d) });
      try {
        for (const oid of oids) assert.ok(store.readObject(fromHex(oid)!), oid);
        assert.equal(store.readObject(fromHex('1'.repeat(hash.hexSize))!), undefined);
        store.rescan();
        assert.equal(diags.length, 1, JSON.stringify(diags));
        assert.equal(diags[0].level, 'warning');
        assert.equal(store.counters.midxRejected, 1);
      } finally {
        store.close();
      }

      // core.multiPackIndex=false: the file is never read, so no warning at all (git agrees).
      r.git(['config', 'core.multiPackIndex', 'false']);
      const off = spawnCli(r, ['cat-file', '--batch', '--batch-all-objects']);
      assert.equal(off.stderr, '');
      assertSameBytes(
        off.stdout,
        gitRun(r, ['cat-file', '--batch', '--batch-all-objects']).stdout,
        'MIDX off',
      );
      const offStore = ObjectStore.forRepository(discoverRepository({ cwd: r.dir, env: r.env }));
      assert.ok(offStore.readObject(fromHex(oids[0])!));
      assert.equal(offStore.counters.midxLoads, 0);
      assert.equal(offStore.counters.midxHits, 0);
      offStore.close();
    }
  });

  test('an unreadable packed copy is marked bad and another copy answers; a pack failing is_pack_valid is skipped', () => {
    const r = newRepo('sha1');
    const { stems, oids } = makeManyPacks(r, 2, 6, { duplicateEvery: 1 });
    r.git(['multi-pack-index', 'write']);
    const damage = (stem: string, oid: string) => {
      const idx = PackIndex.fromBytes(fs.readFileSync(path.join(r.packDir, `${stem}.idx`)), { hash: SHA1 });
      const off = idx.lookup(fromHex(oid)!)!;
      const file = path.join(r.packDir, `${stem}.pack`);
      const bytes = fs.readFileSync(file);
      for (let i = 2; i < 8; i++) bytes[off + i] ^= 0x5a;
      fs.chmodSync(file, 0o644);
      fs.writeFileSync(file, bytes);
    };
    // Pack 1 also holds all of pack 0's objects, and the MIDX takes them from pack 1 (the newer).
    const twice = oids[0];
    const once = oids[7];
    const expected = r.git(['cat-file', 'blob', twice]).stdout;
    damage(stems[1], twice);
    damage(stems[1], once);
    const diags: Diagnostic[] = [];
    const store = ObjectStore.open({
      objectDir: r.objectDir,
      hash: SHA1,
      onDiagnostic: (d) => diags.push(d),
    });
    try {
      for (let round = 0; round < 2; round++) {
        const got = store.readObject(fromHex(twice)!);
        assert.ok(got && Buffer.from(got.data).equals(expected));
      }
      assert.equal(store.counters.badObjects, 1, 'the bad copy is not tried again');
      assert.ok(store.counters.midxFallbackHits >= 1);
      // Git's line for the damaged copy (its inflate's complaint), and no line of our own.
      assert.deepEqual(
        diags.map((d) => `${d.level}: ${d.message.replace(/\(.*\)$/, '(…)')}`),
        ['error: inflate: data stream error (…)'],
      );
      assert.throws(
        () => store.readObject(fromHex(once)!),
        (e) =>
          isGitMidxError(e) &&
          /^packed object [0-9a-f]+ \(stored in .*\) is corrupt$/.test(String(e.data.git)),
      );
    } finally {
      store.close();
    }

    // Without the MIDX: the newer pack's trailer no longer matches its index, so it is skipped
    // (one error) and pack 0 answers for the objects it has; git agrees on what is there.
    fs.rmSync(r.midxPath);
    const file = path.join(r.packDir, `${stems[1]}.pack`);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(file, bytes);
    const diags2: Diagnostic[] = [];
    const plain = ObjectStore.open({
      objectDir: r.objectDir,
      hash: SHA1,
      onDiagnostic: (d) => diags2.push(d),
    });
    try {
      for (const oid of oids) {
        assert.equal(plain.hasObject(fromHex(oid)!), oids.indexOf(oid) < 6, oid);
      }
      assert.ok(plain.counters.stalePackSkips > 0);
      assert.deepEqual(
        diags2.map((d) => d.message),
        [`packfile ${r.objectDir}/pack/${stems[1]}.pack does not match index`],
      );
    } finally {
      plain.close();
    }
    const input = `${oids.join('\n')}\n`;
    assertSameBytes(
      spawnCli(r, ['cat-file', '--batch'], input).stdout,
      gitRun(r, ['cat-file', '--batch'], input).stdout,
      'invalid pack skipped',
    );
  });

  test('open packs stay bounded: LRU packs are closed and reopened', () => {
    const r = newRepo('sha1');
    const { oids } = makeManyPacks(r, 8, 4);
    r.git(['multi-pack-index', 'write']);
    makeManyPacks(r, 4, 4);
    const all = ids(r);
    const store = ObjectStore.open({ objectDir: r.objectDir, hash: SHA1, maxOpenPacks: 2 });
    try {
      for (let round = 0; round < 2; round++) {
        for (const oid of all) assert.ok(store.objectInfo(fromHex(oid)!), oid);
      }
      assert.ok(store.counters.packsClosed > 0, JSON.stringify(store.counters));
      assert.ok(store.counters.midxHits >= 2 * oids.length);
    } finally {
      store.close();
    }
  });
});

describe('loose objects', () => {
  test("Git's header rules: errors then missing; corrupt bodies are refused", async () => {
    const r = newRepo('sha1');
    const write = (hex: string, bytes: Uint8Array) => {
      fs.mkdirSync(path.join(r.objectDir, hex.slice(0, 2)), { recursive: true });
      fs.writeFileSync(path.join(r.objectDir, hex.slice(0, 2), hex.slice(2)), bytes);
    };
    const z = (s: string) => zlib.deflateSync(Buffer.from(s, 'latin1'));
    const cases: [string, Uint8Array][] = [
      ['a1', new Uint8Array(0)],
      ['a2', z('blob 05\0hello')],
      ['a3', z('blob5\0hello')],
      ['a4', z('x'.repeat(40))],
      ['a5', Buffer.from('not zlib at all')],
      ['a6', z('blob 5 \0hello')],
      ['a7', z('blob 0\0')],
    ];
    const names = cases.map(([p, bytes]) => {
      const hex = p.padEnd(40, '0');
      write(hex, bytes);
      return hex;
    });
    const input = `${names.join('\n')}\n`;
    const ours = await runCli(r, ['cat-file', '--batch-check'], input);
    const theirs = gitRun(r, ['cat-file', '--batch-check'], input);
    assertSameBytes(ours.stdout, theirs.stdout, 'broken loose headers');
    assert.equal(ours.stderr, theirs.stderr);

    // Bodies: trailing garbage, truncated, longer and shorter than the header says.
    const bodies: [string, Uint8Array][] = [
      ['b1', Buffer.concat([z('commit 5\0hello'), Buffer.from('garbage')])],
      ['b2', z('commit 5\0hello').subarray(0, 12)],
      ['b3', z('blob 5\0hello world')],
      ['b4', z('blob 9\0hello')],
    ];
    const store = ObjectStore.open({ objectDir: r.objectDir, hash: SHA1 });
    try {
      for (const [p, bytes] of bodies) {
        const hex = p.padEnd(40, '0');
        write(hex, bytes);
        assert.ok(store.objectInfo(fromHex(hex)!), `${p}: the header alone is fine`);
        assert.throws(
          () => store.readObject(fromHex(hex)!),
          (e) => isGitMidxError(e, 'LOOSE_CORRUPT') && e.data.missing === false,
          p,
        );
      }
      // Git's own lines for a commit with garbage after the stream.
      const hex = 'b1'.padEnd(40, '0');
      const p = await runCli(r, ['cat-file', '-p', hex]);
      assert.equal(p.status, 128);
      assert.equal(
        p.stderr,
        `error: garbage at end of loose object '${hex}'\n` +
          `fatal: loose object ${hex} (stored in .git/objects/b1/${hex.slice(2)}) is corrupt\n`,
      );
      assert.equal(p.stderr, gitRun(r, ['cat-file', '-p', hex]).stderr);
      const badType = 'c1'.padEnd(40, '0');
      write(badType, z('blobx 5\0hello'));
      assert.throws(
        () => store.objectInfo(fromHex(badType)!),
        (e) => isGitMidxError(e, 'LOOSE_CORRUPT') && e.data.git === 'invalid object type',
      );
    } finally {
      store.close();
    }
  });
});

describe('sizes from entry headers', () => {
  test('--batch-check prints a blob header size past 2 GiB as git does (no inflate), through the MIDX batch path', () => {
    const r = newRepo('sha1', true);
    // A hand-made pack: a blob whose header claims 3,000,000,000 bytes (batch-check reads only the
    // header, as git does), and an ordinary one. Ids are made up; both tools trust the index.
    const header = (type: number, size: number): Buffer => {
      const out = [(type << 4) | (size & 15) | (size >= 16 ? 0x80 : 0)];
      for (let v = Math.floor(size / 16); v > 0; v = Math.floor(v / 128))
        out.push((v & 0x7f) | (v >= 128 ? 0x80 : 0));
      return Buffer.from(out);
    };
    const entries = [
      Buffer.concat([header(3, 3_000_000_000), zlib.deflateSync('x')]),
      Buffer.concat([header(3, 6), zlib.deflateSync('hello\n')]),
    ];
    const head = Buffer.alloc(12);
    head.write('PACK', 0, 'latin1');
    head.writeUInt32BE(2, 4);
    head.writeUInt32BE(entries.length, 8);
    const body = Buffer.concat([head, ...entries]);
    const trailer = createHash('sha1').update(body).digest();
    const ids = [Buffer.alloc(20, 0xaa), Buffer.alloc(20, 0xbb)];
    const offsets = [12, 12 + entries[0].length];
    // idx v2 (§1.2): magic, version, fanout, ids, CRCs, offsets, pack checksum, idx checksum.
    const fan = Buffer.alloc(1024);
    for (let b = 0; b < 256; b++) fan.writeUInt32BE(ids.filter((id) => id[0] <= b).length, b * 4);
    const crcs = Buffer.alloc(8);
    for (let i = 0; i < entries.length; i++) crcs.writeUInt32BE(crc32(entries[i]), i * 4);
    const offs = Buffer.alloc(8);
    for (let i = 0; i < offsets.length; i++) offs.writeUInt32BE(offsets[i], i * 4);
    const idxBody = Buffer.concat([
      Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]),
      fan,
      ...ids,
      crcs,
      offs,
      trailer,
    ]);
    const stem = `pack-${trailer.toString('hex')}`;
    fs.writeFileSync(path.join(r.packDir, `${stem}.pack`), Buffer.concat([body, trailer]));
    fs.writeFileSync(
      path.join(r.packDir, `${stem}.idx`),
      Buffer.concat([idxBody, createHash('sha1').update(idxBody).digest()]),
    );
    r.git(['multi-pack-index', 'write']);
    const lines = ids.map((id) => id.toString('hex'));
    const input = `${Array.from({ length: 40 }, () => lines.join('\n')).join('\n')}\n`;
    const theirs = r.git(['cat-file', '--batch-check'], { input });
    assert.match(theirs.stdout.toString(), /^a{40} blob 3000000000\nb{40} blob 6\n/);
    const ours = spawnCli(r, ['cat-file', '--batch-check'], input);
    assert.equal(ours.status, 0, ours.stderr);
    assertSameBytes(ours.stdout, theirs.stdout, 'batch-check sizes');
    // And one id at a time (-s), past 2^31 too.
    assert.equal(spawnCli(r, ['cat-file', '-s', lines[0]]).stdout.toString(), '3000000000\n');
  });
});

describe('--batch over many windows', () => {
  test('objects of many windows (large delta results, a result over 1 MiB, repeats) are byte-identical to git', (t) => {
    const r = TestRepo.create();
    t.after(() => r.cleanup());
    // A deterministic text of `n` bytes, different for each seed.
    const text = (seed: number, n: number) => {
      let x = seed * 2654435761;
      const parts: string[] = [];
      let len = 0;
      while (len < n) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const line = `line ${x.toString(36)} of text ${seed}\n`;
        parts.push(line);
        len += line.length;
      }
      return parts.join('').slice(0, n);
    };
    const blob = (content: string) => `blob\ndata ${Buffer.byteLength(content)}\n${content}\n`;
    // Two fast-import runs: two packs. Versions of a large text become deltas with large results.
    const first: string[] = [];
    for (let i = 0; i < 1500; i++) first.push(blob(text(i, 40 + (i % 200))));
    const big = text(9001, 300_000);
    for (let v = 0; v < 6; v++)
      first.push(blob(`${big.slice(0, 1000 * v)}version ${v}\n${big.slice(1000 * v)}`));
    r.git(['fast-import', '--quiet'], { input: `${first.join('')}done\n` });
    const second: string[] = [];
    for (let i = 1500; i < 2700; i++) second.push(blob(text(i, 40 + (i % 300))));
    const huge = text(9002, 1_300_000);
    for (let v = 0; v < 3; v++) second.push(blob(`${huge}version ${v}\n`));
    r.git(['fast-import', '--quiet'], { input: `${second.join('')}done\n` });
    r.git(['multi-pack-index', 'write']);
    assert.equal(r.listPackStems().length, 2);

    const all = spawnCli(r, ['cat-file', '--batch', '--batch-all-objects']);
    assert.equal(all.status, 0, all.stderr);
    assertSameBytes(
      all.stdout,
      gitRun(r, ['cat-file', '--batch', '--batch-all-objects']).stdout,
      '--batch-all-objects',
    );
    const check = r.gitText(['cat-file', '--batch-check=%(deltabase) %(objectsize)', '--batch-all-objects']);
    assert.ok(/^[0-9a-f]{40} 1300010$/m.test(check), 'a delta whose result is over 1 MiB');
    assert.ok(/^[0-9a-f]{40} 30001[0-9]$/m.test(check), 'deltas with large results');

    // Named ids, shuffled, some repeated, one missing: several windows of 1024 in input order.
    const list = ids(r);
    const names: string[] = [];
    for (let i = 0; i < list.length; i++) names.push(list[(i * 7919) % list.length]);
    names.push(...list.slice(0, 700), 'f'.repeat(40));
    const input = `${names.join('\n')}\n`;
    const ours = spawnCli(r, ['cat-file', '--batch'], input);
    assert.equal(ours.status, 0, ours.stderr);
    assertSameBytes(ours.stdout, gitRun(r, ['cat-file', '--batch'], input).stdout, '--batch');
  });
});
