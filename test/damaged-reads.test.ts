// Reads of damaged objects, against git: the same stdout, the same `error:` and `fatal:` lines and
// the same exit status for each way `cat-file` reads (type only, size, contents one by one and in
// batches). Pack entries: a delta whose data is damaged, a delta whose base's stream is damaged, a
// base whose header lies about its size, a damaged base with a good copy in another pack. Loose
// objects: a damaged header, body or checksum. And two packs whose damaged bases need each other
// (docs/architecture.md, Errors).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { diffDelta } from '../src/pack/delta-encode.js';
import { TestRepo } from './helpers/git.js';
import { entryHeader, ofsBytes } from './helpers/pack-bytes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

interface Outcome {
  status: number;
  stdout: Buffer;
  stderr: string;
}

/** Where an entry's compressed data starts, after its type/size header and its base reference. */
function dataStart(pack: Buffer, offset: number, H: number): { data: number; type: number; size: number } {
  let i = offset;
  let c = pack[i++];
  const type = (c >> 4) & 7;
  let size = c & 15;
  let shift = 4;
  while (c & 0x80) {
    c = pack[i++];
    size += (c & 0x7f) * 2 ** shift;
    shift += 7;
  }
  if (type === 6) {
    do c = pack[i++];
    while (c & 0x80);
  } else if (type === 7) i += H;
  return { data: i, type, size };
}

for (const format of ['sha1', 'sha256'] as const) {
  describe(`damaged entries read as git reads them (${format})`, () => {
    const r = TestRepo.create({ objectFormat: format });
    repos.push(r);
    const H = format === 'sha1' ? 20 : 32;
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}\n`).join('');
    r.commitFiles({ 'f.txt': lines(3000) }, 'one');
    r.commitFiles({ 'f.txt': lines(3001) }, 'two');
    r.git(['repack', '-adq']);
    r.git(['multi-pack-index', 'write']);
    const commit = r.gitText(['rev-parse', 'HEAD']);
    const stem = r.listPackStems()[0];
    const packFile = path.join(r.packDir, `${stem}.pack`);
    const original = fs.readFileSync(packFile);
    // git verify-pack -v: `<oid> <type> <size> <size in pack> <offset> [<depth> <base>]`.
    const entries = r
      .gitText(['verify-pack', '-v', packFile])
      .split('\n')
      .map((l) => l.split(/\s+/))
      .filter((f) => f[1] === 'blob');
    const delta = entries.find((f) => f.length >= 7)!;
    const whole = entries.find((f) => f[0] === delta[6])!;
    assert.ok(delta && whole, 'one blob stored as a delta of the other');
    const [target, base] = [delta[0], whole[0]];
    const targetBytes = r.git(['cat-file', 'blob', target]).stdout;
    const deltaAt = dataStart(original, Number(delta[4]), H);
    const baseAt = dataStart(original, Number(whole[4]), H);

    const damages: { what: string; apply: (b: Buffer) => void; detailsFormat: boolean }[] = [
      {
        // Its first deflate block: the delta's header cannot be read either (no size).
        what: 'the delta’s data',
        apply: (b) => b.fill(0xff, deltaAt.data + 3, deltaAt.data + 6),
        detailsFormat: true,
      },
      {
        what: 'the base’s stream',
        apply: (b) => b.fill(0xff, baseAt.data + 40, baseAt.data + 44),
        detailsFormat: true,
      },
      {
        what: 'the base’s header (5 bytes more than its stream holds)',
        apply: (b) => {
          const h = entryHeader(baseAt.type, baseAt.size + 5);
          assert.equal(h.length, entryHeader(baseAt.type, baseAt.size).length);
          Buffer.from(h).copy(b, Number(whole[4]));
        },
        detailsFormat: true,
      },
    ];

    const runs: { args: string[]; input?: string; details?: boolean }[] = [
      { args: ['-t', target] },
      { args: ['-s', target] },
      { args: ['-p', target] },
      { args: ['blob', target] },
      { args: ['-p', base] },
      { args: ['blob', base] },
      { args: ['--batch'], input: `${commit}\n${target}\n${commit}\n` },
      { args: ['--batch-check'], input: `${commit}\n${target}\n${commit}\n` },
      { args: ['--batch'], input: `${base}\n${commit}\n` },
      { args: ['--batch=%(objectname) %(objectsize:disk)'], input: `${commit}\n${target}\n`, details: true },
    ];

    /** Runs every mode with git and with us on the pack as it is, and compares. */
    const compareAll = (what: string, details: boolean) => {
      for (const run of runs) {
        if (run.details === true && !details) continue;
        const args = ['cat-file', ...run.args];
        const theirs: Outcome = r.git(args, { allowFail: true, input: run.input ?? '' });
        const res = spawnSync(bin, args, { cwd: r.dir, env: r.env, input: run.input ?? '' });
        const ours: Outcome = { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr.toString() };
        const label = `${args.join(' ')} (${what})`;
        assert.equal(ours.stderr, theirs.stderr, `${label}: stderr`);
        assert.equal(ours.status, theirs.status, `${label}: exit status`);
        assert.ok(ours.stdout.equals(theirs.stdout), `${label}: stdout`);
      }
    };

    for (const damage of damages) {
      test(`damaged: ${damage.what}`, () => {
        const bytes = Buffer.from(original);
        damage.apply(bytes);
        fs.chmodSync(packFile, 0o644);
        fs.writeFileSync(packFile, bytes);
        try {
          compareAll(damage.what, damage.detailsFormat);
        } finally {
          fs.writeFileSync(packFile, original);
        }
      });
    }

    test('a damaged base with a good copy in another pack: the delta is applied to that copy', () => {
      // The base alone in a second pack, newer (the MIDX takes its copy of the base; the delta's
      // own pack still points at its damaged entry).
      fs.utimesSync(packFile, new Date('2020-01-01'), new Date('2020-01-01'));
      const second = r.gitText(['pack-objects', '-q', path.join(r.packDir, 'pack')], `${base}\n`);
      r.git(['multi-pack-index', 'write']);
      const bytes = Buffer.from(original);
      bytes.fill(0xff, baseAt.data + 40, baseAt.data + 44);
      fs.chmodSync(packFile, 0o644);
      fs.writeFileSync(packFile, bytes);
      try {
        const got = spawnSync(bin, ['cat-file', '-p', target], { cwd: r.dir, env: r.env });
        assert.equal(got.status, 0, got.stderr.toString());
        assert.ok(got.stdout.equals(targetBytes), 'the object, built on the other copy of its base');
        assert.match(got.stderr.toString(), /^error: failed to read delta base object /m);
        compareAll('a good copy of the base in another pack', true);
      } finally {
        fs.writeFileSync(packFile, original);
        for (const ext of ['.pack', '.idx'])
          fs.rmSync(path.join(r.packDir, `pack-${second}${ext}`), { force: true });
        r.git(['multi-pack-index', 'write']);
      }
    });
  });
}

describe('damaged loose objects read as git reads them', () => {
  const r = TestRepo.create({});
  repos.push(r);
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}\n`).join('');
  r.commitFiles({ 'a.txt': lines(2000), 'b.txt': 'small\n' }, 'one');
  const commit = r.gitText(['rev-parse', 'HEAD']);
  const blob = r.gitText(['rev-parse', 'HEAD:a.txt']);
  const tree = r.gitText(['rev-parse', 'HEAD^{tree}']);
  const fileOf = (hex: string) => path.join(r.objectDir, hex.slice(0, 2), hex.slice(2));

  const cases: { what: string; hex: string; damage: (b: Buffer) => Buffer }[] = [
    { what: 'a blob’s header', hex: blob, damage: (b) => b.fill(0xff, 30, 34) },
    { what: 'a blob’s body', hex: blob, damage: (b) => b.fill(0xff, 200, 204) },
    { what: 'a tree’s checksum', hex: tree, damage: (b) => b.fill(0xff, b.length - 6, b.length - 4) },
    {
      what: 'bytes after a blob’s stream',
      hex: blob,
      damage: (b) => Buffer.concat([b, Buffer.from('trailing')]),
    },
    {
      what: 'bytes after a tree’s stream',
      hex: tree,
      damage: (b) => Buffer.concat([b, Buffer.from('trailing')]),
    },
  ];
  for (const c of cases) {
    test(`damaged: ${c.what}`, () => {
      const file = fileOf(c.hex);
      const original = fs.readFileSync(file);
      const bytes = c.damage(Buffer.from(original));
      fs.chmodSync(file, 0o644);
      fs.writeFileSync(file, bytes);
      try {
        const runs: { args: string[]; input?: string }[] = [
          { args: ['-t', c.hex] },
          { args: ['-s', c.hex] },
          { args: ['-p', c.hex] },
          { args: ['blob', c.hex] },
          { args: ['blob', commit] },
          { args: ['tree', commit] },
          { args: ['--batch'], input: `${commit}\n${c.hex}\n${commit}\n` },
          { args: ['--batch-check'], input: `${c.hex}\n${commit}\n` },
          { args: ['--batch=%(objectname) %(objectsize:disk)'], input: `${commit}\n${c.hex}\n` },
        ];
        for (const run of runs) {
          const args = ['cat-file', ...run.args];
          const theirs = r.git(args, { allowFail: true, input: run.input ?? '' });
          const res = spawnSync(bin, args, { cwd: r.dir, env: r.env, input: run.input ?? '' });
          const label = `${args.join(' ')} (${c.what})`;
          assert.equal(res.stderr.toString(), theirs.stderr, `${label}: stderr`);
          assert.equal(res.status, theirs.status, `${label}: exit status`);
          assert.ok(res.stdout.equals(theirs.stdout), `${label}: stdout`);
        }
      } finally {
        fs.writeFileSync(file, original);
      }
    });
  }
});

describe('bases read elsewhere that lead back', () => {
  test('two packs whose damaged bases need each other: the read ends, with git’s kind of verdict', () => {
    const r = TestRepo.create({});
    repos.push(r);
    const text = (tag: string) =>
      Buffer.from(Array.from({ length: 400 }, (_, i) => `${tag} ${i % 7} line ${i}\n`).join(''));
    const C = text('c');
    const B = Buffer.concat([C, Buffer.from('b\n')]);
    const A = Buffer.concat([B, Buffer.from('a\n')]);
    const [hexA, hexB, hexC] = r.writeBlobs([A, B, C]);
    /** A pack of `entries` (a whole object, or a delta on an earlier entry), indexed by git. */
    const writePack = (
      entries: { data: Buffer; type: number; base?: number }[],
    ): { file: string; offsets: number[] } => {
      const parts: Buffer[] = [];
      const header = Buffer.alloc(12);
      header.write('PACK', 0);
      header.writeUInt32BE(2, 4);
      header.writeUInt32BE(entries.length, 8);
      parts.push(header);
      let at = 12;
      const offsets: number[] = [];
      for (const e of entries) {
        offsets.push(at);
        const h = entryHeader(e.base === undefined ? e.type : 6, e.data.length);
        if (e.base !== undefined) h.push(...ofsBytes(at - offsets[e.base]));
        const body = Buffer.concat([Buffer.from(h), zlib.deflateSync(e.data)]);
        parts.push(body);
        at += body.length;
      }
      const pack = Buffer.concat(parts);
      const full = Buffer.concat([pack, createHash('sha1').update(pack).digest()]);
      const tmp = path.join(r.scratchDir(), 'p.pack');
      fs.writeFileSync(tmp, full);
      const sum = r.gitText(['index-pack', tmp]);
      const file = path.join(r.packDir, `pack-${sum}.pack`);
      fs.renameSync(tmp, file);
      fs.renameSync(tmp.replace(/\.pack$/, '.idx'), file.replace(/\.pack$/, '.idx'));
      return { file, offsets };
    };
    const delta = (base: Buffer, target: Buffer) => Buffer.from(diffDelta(base, target)!);
    // Pack 1: B whole, A and C deltas on B. Pack 2: C whole, B a delta on C.
    const p1 = writePack([
      { data: B, type: 3 },
      { data: delta(B, A), type: 3, base: 0 },
      { data: delta(B, C), type: 3, base: 0 },
    ]);
    const p2 = writePack([
      { data: C, type: 3 },
      { data: delta(C, B), type: 3, base: 0 },
    ]);
    for (const hex of [hexA, hexB, hexC]) fs.rmSync(path.join(r.objectDir, hex.slice(0, 2), hex.slice(2)));
    r.git(['multi-pack-index', 'write']);
    // Damage the whole objects: B in pack 1, C in pack 2.
    for (const [p, i] of [
      [p1, 0],
      [p2, 0],
    ] as const) {
      const bytes = fs.readFileSync(p.file);
      bytes.fill(0xff, p.offsets[i] + 8, p.offsets[i] + 12);
      fs.chmodSync(p.file, 0o644);
      fs.writeFileSync(p.file, bytes);
    }
    const res = spawnSync(bin, ['cat-file', '-p', hexA], { cwd: r.dir, env: r.env, timeout: 60_000 });
    assert.equal(res.error, undefined, 'the read ends');
    assert.equal(res.status, 128, res.stderr.toString());
    assert.match(
      res.stderr.toString(),
      new RegExp(`^fatal: packed object ${hexA} \\(stored in .*\\) is corrupt\\n$`, 'm'),
    );
    assert.doesNotMatch(res.stderr.toString(), /RangeError|Maximum call stack|\n\s+at /);
  });
});
