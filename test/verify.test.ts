/**
 * `git-midx verify` against `git multi-pack-index verify` (git 2.39.5): the same exit status and the
 * same stderr lines on a valid file and on every corruption of spec/midx-format.md §17.14, applied at
 * the same places relative to this file's own table of contents. Needs `dist/` (npm test builds).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MultiPackIndex } from '../src/midx/reader.js';
import { verifyMidx } from '../src/midx/verify.js';
import { nodeHash } from '../src/node/hash.js';
import { verifyMidxFile } from '../src/node/verify.js';
import { PackIndex } from '../src/pack/idx.js';
import type { ProgressEvent } from '../src/progress.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

interface Run {
  status: number;
  stderr: string;
}

interface Layout {
  pnam: number;
  oidf: number;
  oidl: number;
  ooff: number;
  size: number;
}

function layout(b: Buffer): Layout {
  const chunks = new Map<string, number>();
  for (let i = 0; i < b[6]; i++) {
    const row = 12 + i * 12;
    chunks.set(b.toString('latin1', row, row + 4), Number(b.readBigUInt64BE(row + 4)));
  }
  return {
    pnam: chunks.get('PNAM')!,
    oidf: chunks.get('OIDF')!,
    oidl: chunks.get('OIDL')!,
    ooff: chunks.get('OOFF')!,
    size: b.length,
  };
}

class Fixture {
  readonly repo: TestRepo;
  readonly good: Buffer;
  readonly at: Layout;
  readonly H: number;

  constructor(format: 'sha1' | 'sha256', packs: number, perPack: number) {
    this.repo = TestRepo.create({ objectFormat: format });
    makeManyPacks(this.repo, packs, perPack, { duplicateEvery: 3 });
    this.repo.git(['multi-pack-index', 'write']);
    this.good = this.repo.readMidx()!;
    this.at = layout(this.good);
    this.H = format === 'sha1' ? 20 : 32;
  }

  install(bytes: Buffer): void {
    fs.rmSync(this.repo.midxPath, { force: true });
    fs.writeFileSync(this.repo.midxPath, bytes);
  }

  /** A copy of the good file with `data` written at `pos` (dd conv=notrunc). */
  patched(pos: number, data: Buffer | string): Buffer {
    const b = Buffer.from(this.good);
    const d = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    d.copy(b, pos);
    return b;
  }

  git(args: string[] = [], env: Record<string, string> = {}, cwd = this.repo.dir): Run {
    const r = spawnSync('git', ['multi-pack-index', 'verify', ...args], {
      cwd,
      env: { ...this.repo.env, ...env },
      input: '',
      encoding: 'utf8',
    });
    return { status: r.status ?? 255, stderr: r.stderr };
  }

  ours(args: string[] = [], env: Record<string, string> = {}, cwd = this.repo.dir): Run {
    const r = spawnSync(bin, ['verify', ...args], {
      cwd,
      env: { ...this.repo.env, ...env },
      input: '',
      encoding: 'utf8',
    });
    return { status: r.status ?? 255, stderr: r.stderr };
  }

  /** Runs both on `bytes`; asserts equal status and stderr, and returns them. */
  same(bytes: Buffer, what: string): Run {
    this.install(bytes);
    const g = this.git();
    const o = this.ours();
    assert.deepEqual(lines(o.stderr), lines(g.stderr), `${what}: stderr`);
    assert.equal(o.status, g.status, `${what}: status`);
    return g;
  }

  cleanup(): void {
    this.repo.cleanup();
  }
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.length > 0);
}

describe('verify', () => {
  let f: Fixture;
  let f256: Fixture;
  before(() => {
    // 4 packs, 28 objects with duplicates: the shape of §17.14's repository.
    f = new Fixture('sha1', 4, 7);
    f256 = new Fixture('sha256', 3, 5);
  });
  after(() => {
    f?.cleanup();
    f256?.cleanup();
  });

  test('a valid file: exit 0, nothing printed (SHA-1 and SHA-256)', () => {
    for (const x of [f, f256]) {
      const r = x.same(x.good, `valid ${x.H}`);
      assert.equal(r.status, 0);
      assert.equal(r.stderr, '');
    }
  });

  test('no multi-pack-index: exit 0, silent', () => {
    fs.rmSync(f.repo.midxPath, { force: true });
    const g = f.git();
    const o = f.ours();
    assert.deepEqual([o.status, o.stderr], [0, '']);
    assert.deepEqual([g.status, g.stderr], [0, '']);
  });

  test('header and table-of-contents corruptions (§17.14) match git 2.39.5', () => {
    const cases: [number, string, number][] = [
      [0, '\0', 128], // signature
      [4, '\0', 128], // version 0
      [5, '\x03', 1], // hash version
      [6, '\x01', 1], // final chunk has non-zero id
      [6, '\x07', 1], // terminating chunk id appears earlier
      [6, '\0', 1], // no chunks
      [12, '\x01', 128], // PNAM id gone: missing required pack-name chunk
      [24, 'XIDF', 128],
      [36, 'X', 128],
      [48, 'X', 128],
      [16, '\x01', 1], // improper chunk offset(s)
      [24, 'PNAM', 1], // duplicate chunk ID
      [60, 'ZZZZ', 1], // final chunk has non-zero id 5a5a5a5a
      [f.at.pnam + 2, 'z', 128], // pack names out of order
      [f.at.pnam + 2, 'a', 1], // pack 0 renamed: cannot be loaded
    ];
    for (const [pos, data, status] of cases) {
      const r = f.same(f.patched(pos, data), `pos ${pos}: ${JSON.stringify(data)}`);
      assert.equal(r.status, status, `git's status at pos ${pos}`);
    }
    // SHA-256: a few of the same.
    for (const [pos, data] of [
      [5, '\x01'],
      [24, 'XIDF'],
      [16, '\x01'],
      [f256.at.pnam + 2, 'a'],
    ] as const) {
      f256.same(f256.patched(pos, data), `sha256 pos ${pos}`);
    }
  });

  test('truncated files match git 2.39.5', () => {
    for (const len of [0, 31, 32, 1000]) f.same(f.good.subarray(0, len), `truncated to ${len}`);
  });

  test('chunk-content corruptions match git 2.39.5', () => {
    const { oidf, oidl, ooff, size } = f.at;
    const H = f.H;
    // Fanout: break the order at an empty bucket i (Git 2.39 searches bucket i up to the corrupt
    // bound, out of the file, if it holds ids); ids of bucket i+1 are then not found by either.
    const fan = (i: number) => f.good.readUInt32BE(oidf + i * 4);
    let i = 254;
    while (i > 1 && !(fan(i) === fan(i - 1) && fan(i + 1) > fan(i))) i--;
    const r1 = f.same(f.patched(oidf + i * 4 + 1, '\x01'), 'fanout out of order');
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /oid fanout out of order: fanout\[\d+\] = 1/);
    // OIDL order, a bad pack-int-id, a bad offset, a bad trailer.
    const r2 = f.same(f.patched(oidl + 16 * H, '\0'), 'oid order');
    assert.match(r2.stderr, /oid lookup out of order: oid\[15\]/);
    const r3 = f.same(f.patched(ooff + 16 * 8 + 2, '\x07'), 'pack-int-id');
    assert.equal(r3.status, 128);
    assert.match(r3.stderr, /^fatal: bad pack-int-id: \d+ \(4 total packs\)$/m);
    // The boundaries: an id equal to the one before it, and the first pack-int-id past the packs.
    const dup = f.same(
      f.patched(oidl + 16 * H, Buffer.from(f.good.subarray(oidl + 15 * H, oidl + 16 * H))),
      'equal ids',
    );
    assert.match(dup.stderr, /oid lookup out of order: oid\[15\]/);
    const past = Buffer.from(f.good);
    past.writeUInt32BE(4, ooff + 16 * 8);
    const r3b = f.same(past, 'pack-int-id = number of packs');
    assert.equal(r3b.status, 128);
    assert.match(r3b.stderr, /^fatal: bad pack-int-id: 4 \(4 total packs\)$/m);
    const r4 = f.same(f.patched(ooff + 16 * 8 + 6, '\xff'), 'offset');
    assert.match(r4.stderr, /incorrect object offset for oid\[16\]/);
    const r5 = f.same(f.patched(size - 10, Buffer.alloc(10, 0xff)), 'trailer');
    assert.deepEqual(lines(r5.stderr), ['incorrect checksum']);
    // SHA-256.
    f256.same(f256.patched(f256.at.oidl + 4 * 32, '\0'), 'sha256 oid order');
    f256.same(f256.patched(f256.at.ooff + 4 * 8 + 6, '\xff'), 'sha256 offset');
  });

  test('several bad offsets: all reported, by descending pack-int-id then position', () => {
    const { ooff } = f.at;
    const b = Buffer.from(f.good);
    for (const pos of [1, 5, 9, 14, 20, 27]) {
      const o = ooff + pos * 8 + 4;
      b.writeUInt32BE(b.readUInt32BE(o) + 0x100, o);
    }
    const r = f.same(b, 'several offsets');
    const found = lines(r.stderr).filter((l) => l.startsWith('incorrect object offset'));
    assert.equal(found.length, 6);
  });

  test('alignment is checked at load (Git 2.43+), unlike 2.39.5', () => {
    // Documented exception: our reader rejects a chunk offset that is not a multiple of 4 as
    // current Git does; git 2.39.5 parses the file and reports findings instead.
    f.install(f.patched(23, '\x49'));
    const g = f.git();
    const o = f.ours();
    assert.equal(g.status, 1);
    assert.equal(lines(g.stderr)[0], 'incorrect checksum');
    assert.equal(o.status, 1);
    assert.deepEqual(lines(o.stderr), [
      'error: chunk id 504e414d not 4-byte aligned',
      'error: multi-pack-index file exists, but failed to parse',
    ]);
  });

  test('version 2 is accepted (Git 2.54+), unlike 2.39.5', () => {
    // Documented exception: 2.39.5 dies `multi-pack-index version 2 not recognized`; current Git and
    // our reader accept version 2, so only the checksum is wrong.
    f.install(f.patched(4, '\x02'));
    const g = f.git();
    assert.deepEqual(
      [g.status, lines(g.stderr)],
      [128, ['fatal: multi-pack-index version 2 not recognized']],
    );
    const o = f.ours();
    assert.deepEqual([o.status, lines(o.stderr)], [1, ['incorrect checksum']]);
    // Version 3 is rejected by both.
    f.same(f.patched(4, '\x03'), 'version 3');
  });

  test('a deleted pack and a pack that does not match its index', () => {
    const stems = f.repo.listPackStems();
    const victim = path.join(f.repo.packDir, `${stems[1]}.pack`);
    const saved = fs.readFileSync(victim);
    try {
      fs.rmSync(victim);
      const r = f.same(f.good, 'deleted pack');
      assert.match(r.stderr, /^failed to load pack in position \d+$/m);
      // The header's object count differs from the index's: Git's is_pack_valid() errors.
      const bad = Buffer.from(saved);
      bad.writeUInt32BE(bad.readUInt32BE(8) + 1, 8);
      fs.writeFileSync(victim, bad);
      const r2 = f.same(f.good, 'pack does not match');
      assert.match(r2.stderr, /^error: packfile .* claims to have/m);
    } finally {
      fs.rmSync(victim, { force: true });
      fs.writeFileSync(victim, saved);
    }
    const idx = path.join(f.repo.packDir, `${stems[2]}.idx`);
    const savedIdx = fs.readFileSync(idx);
    try {
      fs.rmSync(idx);
      fs.writeFileSync(idx, savedIdx.subarray(0, 500));
      const r3 = f.same(f.good, 'index too small');
      assert.match(r3.stderr, /index unavailable/);
    } finally {
      fs.rmSync(idx, { force: true });
      fs.writeFileSync(idx, savedIdx);
    }
    f.same(f.good, 'restored');
  });

  test('--progress with GIT_PROGRESS_DELAY=0 ends with the same meter lines as git', () => {
    f.install(f.good);
    const env = { GIT_PROGRESS_DELAY: '0' };
    const done = (s: string) =>
      s
        .split(/[\r\n]/)
        .map((l) => l.trimEnd())
        .filter((l) => l.endsWith(', done.'));
    const g = f.git(['--progress'], env);
    const o = f.ours(['--progress'], env);
    assert.equal(o.status, g.status);
    assert.deepEqual(done(o.stderr), done(g.stderr));
    assert.deepEqual(done(g.stderr), [
      'Looking for referenced packfiles: 100% (4/4), done.',
      'Verifying OID order in multi-pack-index: 100% (27/27), done.',
      'Sorting objects by packfile: 100% (28/28), done.',
      'Verifying object offsets: 100% (28/28), done.',
    ]);
  });

  test('library: verifyMidx opens each pack index once, one at a time, and reports progress', () => {
    const midx = MultiPackIndex.fromBytes(f.good, { lenient: true });
    let open = 0;
    let maxOpen = 0;
    const opened: string[] = [];
    const events: ProgressEvent[] = [];
    const r = verifyMidx(midx, {
      hashFn: nodeHash,
      packExists: (name) => name !== midx.packNames[0],
      openPackIndex: (name) => {
        opened.push(name);
        const idx = PackIndex.fromBytes(fs.readFileSync(path.join(f.repo.packDir, name)), {
          hash: midx.hash,
        });
        open++;
        maxOpen = Math.max(maxOpen, open);
        const close = idx.close.bind(idx);
        idx.close = () => {
          open--;
          close();
        };
        return idx;
      },
      onProgress: (e) => events.push(e),
    });
    assert.equal(r.fatal, undefined);
    assert.equal(r.findings[0], 'failed to load pack in position 0');
    assert.ok(r.findings.slice(1).every((l) => l.startsWith('failed to load pack entry for oid[')));
    assert.equal(r.problems, r.findings.length);
    // Packs 3, 2, 1 in that order, each once; pack 0 is missing so never opened.
    assert.deepEqual(opened, [midx.packNames[3], midx.packNames[2], midx.packNames[1]]);
    assert.equal(maxOpen, 1);
    assert.equal(open, 0);
    assert.deepEqual(
      events.filter((e) => e.end).map((e) => [e.title, e.done, e.total]),
      [
        ['Looking for referenced packfiles', 4, 4],
        ['Verifying OID order in multi-pack-index', 27, 27],
        ['Sorting objects by packfile', 28, 28],
        ['Verifying object offsets', 28, 28],
      ],
    );
  });

  test('library: verifyMidxFile returns the status and the lines', () => {
    f.install(f.patched(f.at.size - 1, '\x00'));
    const lines: string[] = [];
    const r = verifyMidxFile({ objectDir: f.repo.objectDir, onLine: (l) => lines.push(l) });
    const expectOk = f.good[f.at.size - 1] === 0;
    assert.deepEqual(r, { status: expectOk ? 0 : 1, lines: expectOk ? [] : ['incorrect checksum'] });
    assert.deepEqual(lines, r.lines);
    f.install(f.good.subarray(0, 10));
    const small = verifyMidxFile({ objectDir: 'nowhere-relative' });
    assert.deepEqual(small, { status: 0, lines: [] });
    const t = verifyMidxFile({ objectDir: f.repo.objectDir });
    assert.equal(t.status, 1);
    assert.match(t.lines[0], /^error: multi-pack-index file .* is too small$/);
    f.install(f.good);
  });

  test('paths in messages: from a subdirectory, with --object-dir, in a bare repository', () => {
    const sub = path.join(f.repo.dir, 'sub', 'dir');
    fs.mkdirSync(sub, { recursive: true });
    f.install(f.good.subarray(0, 20));
    const bare = TestRepo.create({ bare: true });
    try {
      makeManyPacks(bare, 1, 3);
      bare.git(['multi-pack-index', 'write']);
      fs.rmSync(bare.midxPath);
      fs.writeFileSync(bare.midxPath, Buffer.alloc(20));
      const runs: [string[], string][] = [
        [[], sub], // git moves to the top of the work tree: `.git/objects`
        [['--object-dir=.git/objects'], f.repo.dir], // the real path
        [[], bare.dir], // `./objects`
        [[], bare.objectDir], // absolute
      ];
      for (const [args, cwd] of runs) {
        const env = cwd.startsWith(bare.dir) ? bare.env : f.repo.env;
        const g = spawnSync('git', ['multi-pack-index', 'verify', ...args], { cwd, env, encoding: 'utf8' });
        const o = spawnSync(bin, ['verify', ...args], { cwd, env, encoding: 'utf8' });
        assert.equal(o.stderr, g.stderr, `${args.join(' ')} in ${cwd}`);
        assert.equal(o.status, g.status);
        assert.match(g.stderr, /is too small/);
      }
    } finally {
      bare.cleanup();
      fs.rmSync(path.join(f.repo.dir, 'sub'), { recursive: true, force: true });
      f.install(f.good);
    }
  });
});
