/**
 * Files that are not regular files, where a repository should have one: a FIFO (a blocking open or
 * read would hang), a device (`/dev/zero` and `/dev/urandom` never end), a directory. Every verb
 * must answer at once with a typed error naming the file (CLI: a one-line message, no stack trace,
 * Git's exit codes), within bounded memory; readers may warn and carry on from the other sources.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../src/bytes.js';
import { GitMidxError } from '../src/errors.js';
import { SHA1 } from '../src/hash.js';
import { openFileReader, readRegularFile } from '../src/node/fs.js';
import { openMidxFile } from '../src/node/midx.js';
import { ObjectStore } from '../src/node/odb.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'git-midx');

/** Hostile cases must stay under this peak RSS (KiB, as /usr/bin/time reports it). */
const MAX_RSS_KB = 512 * 1024;

type Kind = 'fifo' | 'zero' | 'urandom' | 'directory';
const KINDS: Kind[] = ['fifo', 'zero', 'urandom', 'directory'];

/** Replaces `file` with a special file of `kind`. */
function makeSpecial(file: string, kind: Kind): void {
  fs.rmSync(file, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (kind === 'fifo') {
    const r = spawnSync('mkfifo', [file]);
    assert.equal(r.status, 0, 'mkfifo');
  } else if (kind === 'directory') {
    fs.mkdirSync(file);
  } else {
    fs.symlinkSync(kind === 'zero' ? '/dev/zero' : '/dev/urandom', file);
  }
}

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  rssKb: number;
}

/** Runs our CLI under /usr/bin/time (peak RSS); a hang is cut off by a generous timeout and fails. */
function cli(r: TestRepo, args: string[], input = ''): Run {
  const res = spawnSync('/usr/bin/time', ['-f', '%M', bin, ...args], {
    cwd: r.dir,
    env: r.env,
    input,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 1 << 26,
  });
  const lines = res.stderr.trimEnd().split('\n');
  const rss = Number(lines.at(-1));
  const stderr = Number.isFinite(rss) ? lines.slice(0, -1).join('\n') : res.stderr;
  // /usr/bin/time reports a child that died by a signal as "Command terminated by signal N".
  const m = /Command (?:terminated by signal|exited with non-zero status) (\d+)/.exec(stderr);
  return {
    status: res.status,
    signal: res.signal,
    stdout: res.stdout,
    stderr: m ? stderr.replace(/\n?Command .*$/m, '') : stderr,
    rssKb: Number.isFinite(rss) ? rss : Number.NaN,
  };
}

function assertPrompt(run: Run, what: string): void {
  assert.equal(run.signal, null, `${what}: ended by ${run.signal} (a hang cut off by the timeout?)`);
  assert.ok(run.status === 0 || run.status === 1 || run.status === 128, `${what}: exit ${run.status}`);
  assert.doesNotMatch(
    run.stderr,
    /\n\s+at |node:internal|EISDIR|ENXIO|EAGAIN|RangeError/,
    `${what}: ${run.stderr}`,
  );
  assert.ok(run.rssKb < MAX_RSS_KB, `${what}: peak RSS ${run.rssKb} KiB`);
}

describe('special files where a repository has regular ones', () => {
  let r: TestRepo;
  let oids: string[];
  let idxFile: string;
  let packFile: string;
  let midxBytes: Buffer;
  let looseId: string;
  const victims: Array<{ file: string; restore: () => void }> = [];

  before(() => {
    r = TestRepo.create();
    ({ oids } = makeManyPacks(r, 3, 20));
    r.git(['multi-pack-index', 'write']);
    midxBytes = r.readMidx()!;
    const stem = r.listPackStems()[0];
    idxFile = path.join(r.packDir, `${stem}.idx`);
    packFile = path.join(r.packDir, `${stem}.pack`);
    looseId = r.writeBlobs(['a loose object\n'])[0];
  });
  after(() => r.cleanup());

  /** Saves `file`'s bytes so that it can be put back after it was replaced. */
  function saved(file: string): () => void {
    const bytes = fs.readFileSync(file);
    const mode = fs.statSync(file).mode;
    return () => {
      fs.rmSync(file, { recursive: true, force: true });
      fs.writeFileSync(file, bytes, { mode });
    };
  }

  const loosePath = () => path.join(r.objectDir, looseId.slice(0, 2), looseId.slice(2));

  const cases: Array<{ name: string; file: () => string; verbs: () => string[][] }> = [
    {
      name: 'the MIDX',
      file: () => r.midxPath,
      verbs: () => [['show'], ['verify'], ['write'], ['lookup', oids[0]], ['cat-file', '-p', oids[0]]],
    },
    {
      name: 'a .idx',
      file: () => idxFile,
      verbs: () => [['verify'], ['cat-file', '-p', oids[0]], ['cat-file', '--batch-check'], ['write']],
    },
    {
      name: 'a .pack',
      file: () => packFile,
      verbs: () => [['verify'], ['cat-file', '-p', oids[0]], ['cat-file', '--batch-check']],
    },
    {
      name: 'a loose object',
      file: loosePath,
      verbs: () => [
        ['cat-file', '-p', looseId],
        ['cat-file', '-s', looseId],
        ['cat-file', '--batch-check'],
      ],
    },
    {
      name: 'the config',
      file: () => path.join(r.gitDir, 'config'),
      verbs: () => [['show'], ['cat-file', '-t', oids[1]]],
    },
    {
      name: 'info/alternates',
      file: () => path.join(r.objectDir, 'info', 'alternates'),
      verbs: () => [
        ['cat-file', '-t', oids[1]],
        ['cat-file', '-p', looseId],
      ],
    },
  ];

  for (const c of cases) {
    test(`${c.name} as a FIFO, /dev/zero, /dev/urandom or a directory: every verb answers at once`, () => {
      const file = c.file();
      const restore = fs.existsSync(file)
        ? saved(file)
        : () => fs.rmSync(file, { recursive: true, force: true });
      victims.push({ file, restore });
      try {
        for (const kind of KINDS) {
          makeSpecial(file, kind);
          for (const args of c.verbs()) {
            const input = args.includes('--batch-check')
              ? `${oids.slice(0, 5).join('\n')}\n${looseId}\n`
              : '';
            const run = cli(r, args, input);
            const what = `${c.name} as ${kind}: ${args.join(' ')}`;
            assertPrompt(run, what);
            if (run.status !== 0) {
              // The message names the file (relative or absolute), or is Git's own for verify, which
              // names the pack by its position in the MIDX.
              assert.ok(
                run.stderr.includes(path.basename(file)) ||
                  /failed to load pack in position \d/.test(run.stderr),
                `${what}: names the file: ${run.stderr}`,
              );
            }
          }
        }
      } finally {
        restore();
      }
      // Put back, everything answers again.
      assert.equal(cli(r, ['cat-file', '-t', oids[0]]).stdout, 'blob\n');
    });
  }

  test('the library: NOT_REGULAR_FILE naming the file, for readers and whole-file reads', () => {
    const scratch = r.scratchDir();
    for (const kind of KINDS) {
      const file = path.join(scratch, `special-${kind}`);
      makeSpecial(file, kind);
      for (const [name, fn] of [
        ['openFileReader', () => openFileReader(file)],
        ['readRegularFile', () => readRegularFile(file)],
        ['openMidxFile', () => openMidxFile(file, { hash: SHA1 })],
      ] as const) {
        assert.throws(
          fn,
          (e: unknown) =>
            e instanceof GitMidxError && e.code === 'NOT_REGULAR_FILE' && e.message.includes(file),
          `${name} on ${kind}`,
        );
      }
    }
  });

  test('the library: a loose object that is a directory or a FIFO is an error or missing, never a hang', () => {
    const file = loosePath();
    const restore = saved(file);
    try {
      for (const kind of KINDS) {
        makeSpecial(file, kind);
        const store = ObjectStore.open({ objectDir: r.objectDir, hash: SHA1 });
        try {
          try {
            const o = store.readObject(fromHex(looseId)!);
            assert.equal(o, undefined, `${kind}: not read as an object`);
          } catch (e) {
            assert.ok(e instanceof GitMidxError, `${kind}: ${String(e)}`);
          }
        } finally {
          store.close();
        }
      }
    } finally {
      restore();
    }
  });

  test('a MIDX put back byte for byte is read again', () => {
    fs.writeFileSync(r.midxPath, midxBytes);
    const run = cli(r, ['verify']);
    assert.equal(run.status, 0, run.stderr);
  });
});
