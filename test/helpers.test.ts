/**
 * Exercises test/helpers/git.ts against the real git: the repositories and packs it builds must be
 * ones git itself accepts (count-objects, verify-pack, show-index), in SHA-1 and SHA-256.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  BASE_MTIME,
  FIXED_DATE,
  git,
  gitEnv,
  makeManyPacks,
  makeTempDir,
  removeDir,
  TestRepo,
  withTempDir,
} from './helpers/git.js';

function countObjects(repo: TestRepo): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of repo.gitText(['count-objects', '-v']).split('\n')) {
    const [key, value] = line.split(': ');
    out[key] = Number(value);
  }
  return out;
}

/** `git show-index` of one pack: its object ids, sorted. */
function showIndex(repo: TestRepo, stem: string): string[] {
  const idx = readFileSync(join(repo.packDir, `${stem}.idx`));
  const out = repo.gitText(['show-index', `--object-format=${repo.objectFormat}`], idx);
  return out
    .split('\n')
    .map((line) => line.split(' ')[1])
    .sort();
}

describe('temp dirs and env', () => {
  it('withTempDir removes its directory, also when fn throws', async () => {
    let seen = '';
    const value = await withTempDir((dir) => {
      seen = dir;
      writeFileSync(join(dir, 'f'), 'x');
      return 42;
    });
    assert.equal(value, 42);
    assert.equal(existsSync(seen), false);
    await assert.rejects(
      withTempDir(async (dir) => {
        seen = dir;
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(existsSync(seen), false);
    const dir = makeTempDir();
    assert.equal(statSync(dir).isDirectory(), true);
    removeDir(dir);
    assert.equal(existsSync(dir), false);
  });

  it('gitEnv drops GIT_* variables and sees only its own config', async () => {
    await withTempDir((home) => {
      const saved = process.env.GIT_DIR;
      process.env.GIT_DIR = '/nonexistent';
      let env: NodeJS.ProcessEnv;
      try {
        env = gitEnv(home);
      } finally {
        if (saved === undefined) delete process.env.GIT_DIR;
        else process.env.GIT_DIR = saved;
      }
      assert.equal(env.GIT_DIR, undefined);
      assert.equal(env.HOME, home);
      assert.equal(env.GIT_CONFIG_NOSYSTEM, '1');
      assert.equal(env.GIT_AUTHOR_DATE, FIXED_DATE);
      assert.equal(existsSync(env.GIT_CONFIG_GLOBAL ?? ''), true);
      const list = git(['config', '--list', '--show-origin'], { cwd: home, env }).stdout.toString();
      const origins = new Set(
        list
          .trim()
          .split('\n')
          .map((line) => line.split('\t')[0]),
      );
      assert.deepEqual([...origins], ['command line:']);
      assert.match(list, /gc\.auto=0/);
      assert.match(list, /maintenance\.auto=false/);
      const failed = git(['rev-parse', '--git-dir'], { cwd: home, env, allowFail: true });
      assert.equal(failed.status, 128);
      assert.match(failed.stderr, /not a git repository/);
      assert.throws(
        () => git(['rev-parse', '--git-dir'], { cwd: home, env }),
        /exit code 128[\s\S]*not a git/,
      );
    });
  });
});

describe('TestRepo', () => {
  for (const objectFormat of ['sha1', 'sha256'] as const) {
    it(`${objectFormat}: blobs, packs with mtimes, git accepts them`, () => {
      const repo = TestRepo.create({ objectFormat, bare: true });
      try {
        assert.equal(repo.gitText(['rev-parse', '--show-object-format']), objectFormat);
        assert.equal(repo.gitText(['rev-parse', '--is-bare-repository']), 'true');
        const blobs = repo.writeBlobs(['xxx\n', 'yyy\n', Buffer.from([0, 255, 10]), '']);
        assert.equal(blobs.length, 4);
        assert.equal(blobs[0], repo.gitText(['hash-object', '--stdin'], 'xxx\n'));
        assert.equal(blobs[3], repo.gitText(['hash-object', '--stdin'], ''));
        assert.ok(blobs.every((oid) => oid.length === repo.hexLength));

        const p1 = repo.packObjects(blobs.slice(0, 2), { mtime: new Date('2000-01-01T00:00:00Z') });
        const p2 = repo.packObjects(blobs.slice(1), { mtime: 1_262_304_000, indexVersion: '1' });
        const p3 = repo.packObjects([blobs[2]], { prefix: 'other', deltaBaseOffset: false });
        assert.match(p1, new RegExp(`^pack-[0-9a-f]{${repo.hexLength}}$`));
        assert.match(p3, /^other-/);
        assert.equal(statSync(join(repo.packDir, `${p1}.pack`)).mtimeMs, 946_684_800_000);
        assert.equal(statSync(join(repo.packDir, `${p1}.idx`)).mtimeMs, 946_684_800_000);
        assert.equal(statSync(join(repo.packDir, `${p2}.pack`)).mtimeMs, 1_262_304_000_000);
        repo.setPackMtime(p3, 5);
        assert.equal(statSync(join(repo.packDir, `${p3}.pack`)).mtimeMs, 5000);

        assert.deepEqual(showIndex(repo, p2), blobs.slice(1).sort());
        const counts = countObjects(repo);
        assert.equal(counts.packs, 3);
        assert.equal(counts['in-pack'], 2 + 3 + 1);
        for (const stem of [p1, p2, p3]) {
          repo.git(['verify-pack', join(repo.packDir, `${stem}.idx`)]);
        }
        assert.equal(repo.readMidx(), undefined);
        repo.git(['multi-pack-index', 'write']);
        assert.equal(repo.readMidx()?.subarray(0, 4).toString('latin1'), 'MIDX');
        repo.git(['multi-pack-index', 'verify']);
      } finally {
        repo.cleanup();
      }
      assert.equal(existsSync(repo.dir), false);
    });
  }

  it('commitFiles and repackIncremental make one new pack each time', () => {
    const repo = TestRepo.create({});
    try {
      const c1 = repo.commitFiles({ 'a.txt': 'a\n', 'd/b.txt': 'b\n' }, 'first');
      const s1 = repo.repackIncremental();
      const c2 = repo.commitFiles({ 'a.txt': 'a2\n' }, 'second');
      const s2 = repo.repackIncremental();
      assert.notEqual(s1, s2);
      assert.equal(repo.gitText(['rev-parse', 'HEAD~1']), c1);
      assert.equal(repo.gitText(['rev-parse', 'HEAD']), c2);
      assert.equal(repo.gitText(['log', '-1', '--format=%ad|%an']), 'Thu Apr 7 22:13:13 2005 +0000|A U Thor');
      assert.deepEqual(repo.listPackStems(), [s1, s2].sort());
      const counts = countObjects(repo);
      assert.equal(counts.count, 0);
      assert.equal(counts.packs, 2);
      // first: commit, 2 trees, 2 blobs; second: commit, tree, blob
      assert.equal(counts['in-pack'], 8);
      repo.git(['fsck', '--no-progress']);
      assert.throws(() => repo.repackIncremental(), /made 0 new packs/);
    } finally {
      repo.cleanup();
    }
  });
});

describe('makeManyPacks', () => {
  it('builds 50 packs of 20 objects with duplicates and distinct mtimes, quickly', (t) => {
    const repo = TestRepo.create({ bare: true });
    try {
      const start = performance.now();
      const { stems, oids } = makeManyPacks(repo, 50, 20, { duplicateEvery: 7 });
      t.diagnostic(`makeManyPacks(50, 20): ${(performance.now() - start).toFixed(0)} ms`);
      assert.equal(stems.length, 50);
      assert.equal(new Set(stems).size, 50);
      assert.equal(oids.length, 1000);
      assert.equal(new Set(oids).size, 1000);

      const counts = countObjects(repo);
      assert.equal(counts.packs, 50);
      assert.equal(counts.count, 0);
      // packs 1..49 each repeat objects 0, 7, 14 of the previous pack
      assert.equal(counts['in-pack'], 1000 + 49 * 3);
      assert.deepEqual(
        showIndex(repo, stems[3]),
        [...oids.slice(60, 80), oids[40], oids[47], oids[54]].sort(),
      );

      const mtimes = stems.map((stem) => statSync(join(repo.packDir, `${stem}.pack`)).mtimeMs / 1000);
      assert.deepEqual(
        mtimes,
        stems.map((_, i) => BASE_MTIME + i * 86_400),
      );

      const raw = repo.listPackDirRaw();
      const sorted = readdirSync(repo.packDir);
      assert.equal(raw.length, 100);
      assert.deepEqual([...raw].sort(), [...sorted].sort());
      assert.deepEqual(
        repo.listPackStems(),
        raw
          .filter((n) => n.endsWith('.idx'))
          .map((n) => n.slice(0, -4))
          .sort(),
      );

      // git's own check of every pack at once, through a MIDX over all of them
      repo.git(['multi-pack-index', 'write']);
      repo.git(['multi-pack-index', 'verify']);

      const again = makeManyPacks(repo, 2, 3, { mtimeStep: 0, mtimeBase: 1000 });
      assert.equal(again.oids.filter((oid) => oids.includes(oid)).length, 0, 'next call uses a new seed');
      for (const stem of again.stems) {
        assert.equal(statSync(join(repo.packDir, `${stem}.idx`)).mtimeMs, 1_000_000);
      }
    } finally {
      repo.cleanup();
    }
  });
});
