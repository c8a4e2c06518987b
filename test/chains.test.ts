/**
 * Incremental MIDX chains written by current Git (../shared/fixtures/git-2.55): every layer read
 * as `test-tool read-midx` shows it (objects, offsets, packs, checksums), and chain loading as Git
 * does it on damaged chains (warnings, layers kept).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../src/bytes.js';
import { SHA1, SHA256 } from '../src/hash.js';
import { CHAIN_DIR, CHAIN_FILE, type ChainSource, loadChain, MidxChain } from '../src/midx/chain.js';
import { openReachBitmap } from '../src/node/bitmaps.js';
import { ObjectStore } from '../src/node/index.js';
import { openMidxFile } from '../src/node/midx.js';
import { writeMidxBitmap } from '../src/node/midx-bitmap.js';
import { nodeStorage } from '../src/node/storage.js';
import { storeFiles } from '../src/storage/resident.js';
import { countReachable } from '../src/store/reach.js';
import { gitEnv, makeTempDir, removeDir } from './helpers/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.resolve(root, '..', 'shared', 'fixtures', 'git-2.55');
const temps: string[] = [];
after(() => {
  for (const t of temps) removeDir(t);
});

/** Unpacks a fixture's repository; returns the bare repository's path. */
export function unpackFixture(name: string): string {
  const dir = makeTempDir();
  temps.push(dir);
  execFileSync('tar', ['-xzf', path.join(FIXTURES, name, 'repo.tar.gz'), '-C', dir]);
  return path.join(dir, 'repo.git');
}

function chainSource(repo: string): ChainSource {
  const files = storeFiles(nodeStorage());
  const dir = path.join(repo, 'objects', 'pack', CHAIN_DIR);
  return {
    readChain: () => files.readFile(path.join(dir, CHAIN_FILE), 1 << 20),
    openLayer: (f) => files.open(path.join(dir, f)),
    shown: (f) => `./objects/pack/${CHAIN_DIR}/${f}`,
  };
}

/** `test-tool read-midx --show-objects` lines for one layer, from our reader. */
function objectLines(chain: MidxChain, layer: number): string[] {
  const m = chain.layers[layer].midx;
  const out: string[] = [];
  for (let i = 0; i < m.numObjects; i++) {
    const pack = m.packNames[m.packIdAt(i)].replace(/\.idx$/, '.pack');
    out.push(`${m.oidHexAt(i)} ${m.offsetAt(i)}\t./objects/pack/${pack}`);
  }
  return out;
}

function expected(name: string, file: string): string[] | undefined {
  const p = path.join(FIXTURES, name, 'expect', file);
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n') : undefined;
}

const haveFixtures = existsSync(FIXTURES);

for (const algo of ['sha1', 'sha256'] as const) {
  const hash = algo === 'sha1' ? SHA1 : SHA256;
  for (const kind of ['chain-3', 'chain-3-bitmap', 'v2-compact']) {
    const name = `${kind}-${algo}`;
    test(`${name}: every layer reads as test-tool read-midx shows it`, { skip: !haveFixtures }, () => {
      const repo = unpackFixture(name);
      const loaded = loadChain(chainSource(repo), hash);
      assert.ok(loaded, 'a chain');
      assert.deepEqual(loaded.warnings, []);
      const chain = new MidxChain(loaded.layers);
      try {
        for (let l = 0; l < chain.layers.length; l++) {
          const want = expected(name, `read-midx-objects-layer${l + 1}.txt`);
          assert.ok(want, `read-midx-objects-layer${l + 1}.txt`);
          const m = chain.layers[l].midx;
          // Header lines: version, chunk count and pack count; then the objects.
          const [, , version, hashLen, chunks, packs] = want[0].split(' ');
          assert.equal(Number(hashLen), hash.size);
          assert.equal(m.version, Number(version), `layer ${l + 1} version`);
          assert.equal(m.chunks.length, Number(chunks), `layer ${l + 1} chunks`);
          assert.equal(m.numPacks, Number(packs), `layer ${l + 1} packs`);
          assert.equal(want[2], `num_objects: ${m.numObjects}`);
          assert.deepEqual(want.slice(4, 4 + m.numPacks), [...m.packNames]);
          const lines = want.slice(5 + m.numPacks).filter(Boolean);
          assert.deepEqual(objectLines(chain, l), lines, `layer ${l + 1} objects`);
          assert.equal(toHex(m.checksum()), chain.layers[l].name, `layer ${l + 1} checksum`);
        }
        const tip = expected(name, 'read-midx-checksum.txt');
        assert.equal(tip?.[0], toHex(chain.tip.midx.checksum()));
        // Global numbering: positions and pack ids follow the layers, newest layer asked first.
        let seen = 0;
        for (let l = 0; l < chain.layers.length; l++) {
          const m = chain.layers[l].midx;
          for (let i = 0; i < m.numObjects; i++) {
            const hit = chain.lookup(m.oidAt(i));
            assert.ok(hit);
            assert.equal(hit.position, seen + i);
            assert.equal(hit.packName, m.packNames[m.packIdAt(i)]);
            assert.equal(chain.packNames[hit.packId], hit.packName);
          }
          seen += m.numObjects;
        }
        assert.equal(seen, chain.numObjects);
      } finally {
        chain.close();
      }
    });
  }

  for (const [damage, layers, warning] of [
    ['chain-bad-hash', 1, "invalid multi-pack-index chain: line 'x"],
    ['chain-missing-layer', 3, 'unable to find all multi-pack index files'],
    ['layer-deleted', 1, 'unable to find all multi-pack index files'],
  ] as const) {
    const name = `chain-corrupt-${damage}-${algo}`;
    test(`${name}: ${layers} layer(s) kept, with Git's warning`, { skip: !haveFixtures }, () => {
      const repo = unpackFixture(name);
      const loaded = loadChain(chainSource(repo), hash);
      assert.ok(loaded);
      try {
        assert.equal(loaded.layers.length, layers);
        assert.equal(loaded.warnings.length, 1);
        assert.ok(loaded.warnings[0].startsWith(warning), loaded.warnings[0]);
        const verify = expected(name, 'verify.txt')!;
        assert.equal(verify[0], `warning: ${loaded.warnings[0]}`);
      } finally {
        for (const l of loaded.layers) l.midx.close();
      }
    });
  }
}

const bin = path.join(root, 'bin', 'git-midx');

for (const algo of ['sha1', 'sha256'] as const) {
  const name = `chain-3-${algo}`;
  test(`${name}: the CLI shows each layer and looks ids up across the chain`, { skip: !haveFixtures }, () => {
    const repo = unpackFixture(name);
    const want = new Map<string, string>();
    for (let l = 1; l <= 3; l++) {
      for (const line of expected(name, `read-midx-objects-layer${l}.txt`)!) {
        const m = /^([0-9a-f]+) (\d+)\t\.\/objects\/pack\/(.*)\.pack$/.exec(line);
        if (m) want.set(m[1], `${m[1]} ${m[3]}.idx ${m[2]}`);
      }
    }
    const ids = [...want.keys()];
    const missing = (algo === 'sha1' ? 'f' : 'e').repeat(algo === 'sha1' ? 40 : 64);
    const out = execFileSync(process.execPath, [bin, 'lookup', '--stdin'], {
      cwd: repo,
      input: `${[...ids, missing].join('\n')}\n`,
    }).toString();
    assert.equal(out, `${[...ids.map((id) => want.get(id)), `${missing} missing`].join('\n')}\n`);
    const show = execFileSync(process.execPath, [bin, 'show'], { cwd: repo }).toString();
    assert.match(show, /^chain: 3 layers, \d+ objects, 4 packs\n/);
    assert.equal((show.match(/^layer \d: [0-9a-f]+ /gm) ?? []).length, 3);
  });
}

test('verify: findings, warnings and exit codes equal current Git on every chain fixture', {
  skip: !haveFixtures,
}, () => {
  const cases: string[] = [];
  for (const algo of ['sha1', 'sha256']) {
    for (const c of ['chain-3', 'chain-3-bitmap', 'v2-compact', 'v2-flat', 'flat-bitmap'])
      cases.push(`${c}-${algo}`);
    for (const d of [
      'chain-bad-hash',
      'chain-missing-layer',
      'layer-deleted',
      'ooff-offset',
      'pack-deleted',
      'tip-trailer',
    ]) {
      cases.push(`chain-corrupt-${d}-${algo}`);
    }
  }
  for (const name of cases) {
    const repo = unpackFixture(name);
    const r = spawnSync(process.execPath, [bin, 'verify'], { cwd: repo, encoding: 'utf8' });
    const got = `${r.stdout}${r.stderr}exit code: ${r.status}\n`;
    assert.equal(got, readFileSync(path.join(FIXTURES, name, 'expect', 'verify.txt'), 'utf8'), name);
  }
});

/** The `### name` sections of messages.txt with the given name: command, stdout, stderr, exit code. */
function messages(
  algo: string,
  section: string,
): { cmd: string; stdout: string; stderr: string; code: number }[] {
  const text = readFileSync(path.join(FIXTURES, `messages-${algo}`, 'expect', 'messages.txt'), 'utf8');
  const out: { cmd: string; stdout: string; stderr: string; code: number }[] = [];
  for (const block of text.split(/^### /m).slice(1)) {
    if (!block.startsWith(`${section} `)) continue;
    const m = /\n\$ (.*)\n--- stdout ---\n([\s\S]*?)--- stderr ---\n([\s\S]*?)--- exit code: (\d+)/.exec(
      block,
    );
    if (m) out.push({ cmd: m[1], stdout: m[2], stderr: m[3], code: Number(m[4]) });
  }
  return out;
}

test('expire and repack refuse an incremental chain with current Git’s message and exit code', {
  skip: !haveFixtures,
}, () => {
  for (const algo of ['sha1', 'sha256']) {
    const cases = [...messages(algo, 'chain-expire'), ...messages(algo, 'chain-repack')];
    assert.ok(cases.length >= 3, 'messages.txt has the chain cases');
    for (const c of cases) {
      const repo = unpackFixture(`chain-3-${algo}`);
      const args = c.cmd.replace(/^git multi-pack-index /, '').split(' ');
      const r = spawnSync(process.execPath, [bin, ...args], { cwd: repo, encoding: 'utf8' });
      assert.equal(r.stderr, c.stderr, c.cmd);
      assert.equal(r.stdout, c.stdout, c.cmd);
      assert.equal(r.status, c.code, c.cmd);
    }
  }
});

for (const algo of ['sha1', 'sha256'] as const) {
  const name = `chain-3-${algo}`;
  test(`${name}: write, then write --incremental twice, gives Git's layers and chain file byte for byte`, {
    skip: !haveFixtures,
  }, () => {
    const dir = makeTempDir();
    temps.push(dir);
    execFileSync('tar', ['-xzf', path.join(FIXTURES, name, 'inputs.tar.gz'), '-C', dir]);
    const repo = path.join(dir, 'r.git');
    execFileSync('git', ['init', '-q', '--bare', `--object-format=${algo}`, repo], {
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    const pack = path.join(repo, 'objects', 'pack');
    const steps = [[], ['--incremental'], ['--incremental']];
    steps.forEach((args, i) => {
      // The inputs keep their mtimes (`tar -p` semantics): duplicates are chosen by them.
      execFileSync('cp', ['-p', ...listFiles(path.join(dir, 'inputs', `step${i + 1}`)), pack]);
      execFileSync(process.execPath, [bin, 'write', ...args], { cwd: repo });
    });
    assert.deepEqual(chainFiles(path.join(pack, CHAIN_DIR)), fixtureChainFiles(name));
    assert.ok(!existsSync(path.join(pack, 'multi-pack-index')), 'the flat file became the first layer');
  });
}

for (const algo of ['sha1', 'sha256'] as const) {
  const name = `chain-3-bitmap-${algo}`;
  test(`${name}: write --bitmap, then write --incremental --bitmap twice, gives Git's layers and their bitmaps byte for byte, and bitmaps that answer as the walk`, {
    skip: !haveFixtures,
  }, () => {
    const repo = unpackFixture(name);
    const pack = path.join(repo, 'objects', 'pack');
    const chainDir = path.join(pack, CHAIN_DIR);
    // The packs of each layer, from Git's chain; then the chain goes, and the later packs hide.
    const loaded = loadChain(chainSource(repo), algo === 'sha1' ? SHA1 : SHA256)!;
    const stems = loaded.layers.map((l) => l.midx.packNames.map((n) => n.replace(/\.idx$/, '')));
    for (const l of loaded.layers) l.midx.close();
    assert.equal(stems.length, 3);
    rmSync(chainDir, { recursive: true });
    const hidden = makeTempDir();
    temps.push(hidden);
    const move = (stem: string, from: string, to: string) => {
      for (const ext of ['.pack', '.idx', '.rev']) {
        // A rename keeps the mtime, which decides the preferred pack.
        if (existsSync(path.join(from, stem + ext)))
          renameSync(path.join(from, stem + ext), path.join(to, stem + ext));
      }
    };
    for (const s of [...stems[1], ...stems[2]]) move(s, pack, hidden);
    // The branch as it was at each write (commands.txt: "tip now <id>"): the walk picks the commits.
    const tips = [
      ...readFileSync(path.join(FIXTURES, name, 'expect', 'commands.txt'), 'utf8').matchAll(
        /tip now ([0-9a-f]+)/g,
      ),
    ].map((m) => m[1]);
    assert.equal(tips.length, 3);
    const setTip = (hex: string) =>
      execFileSync('git', ['update-ref', 'refs/heads/main', hex], {
        cwd: repo,
        env: gitEnv(path.join(hidden, 'home')),
      });
    setTip(tips[0]);
    execFileSync(process.execPath, [bin, 'write', '--bitmap'], { cwd: repo });
    for (const s of stems[1]) move(s, hidden, pack);
    setTip(tips[1]);
    execFileSync(process.execPath, [bin, 'write', '--incremental', '--bitmap'], { cwd: repo });
    for (const s of stems[2]) move(s, hidden, pack);
    setTip(tips[2]);
    execFileSync(process.execPath, [bin, 'write', '--incremental', '--bitmap'], { cwd: repo });

    assert.deepEqual(
      chainFiles(chainDir),
      fixtureChainFiles(name),
      'the layers (RIDX and BTMP included), their bitmaps and the chain file',
    );
    assert.equal(listFiles(chainDir).filter((f) => f.endsWith('.bitmap')).length, 3, 'a bitmap per layer');

    // Our chain's bitmaps are read, and what HEAD reaches by them is what git lists.
    const objectDir = path.join(repo, 'objects');
    const store = ObjectStore.open({ objectDir });
    try {
      const bitmap = openReachBitmap(objectDir, store.hash);
      assert.ok(bitmap !== undefined, 'a chain bitmap');
      const headHex = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
      const head = fromHex(headHex)!;
      const bits = bitmap.commitBitmap(head);
      assert.ok(bits !== undefined, 'HEAD has a bitmap');
      const listed = execFileSync('git', ['rev-list', '--objects', 'HEAD'], { cwd: repo, encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => l.slice(0, 2 * store.hash.size));
      const positions = listed.map((hex) => bitmap.positionOf(fromHex(hex)!)).sort((a, b) => a - b);
      assert.ok(positions.every((p) => p >= 0));
      assert.equal(bits.count(), listed.length, 'as many bits as objects reached');
      for (const p of positions) assert.ok(bits.has(p), `bit ${p}`);
      const query = { include: [head], exclude: [] as Uint8Array[] };
      assert.deepEqual(countReachable(store, query, { bitmap }), countReachable(store, query));
    } finally {
      store.close();
    }
  });
}

/** `path size sha1` of every file of the chain directory, as the fixtures' files.txt lists them. */
function chainFiles(chainDir: string): string[] {
  return listFiles(chainDir)
    .map((f) => {
      const bytes = readFileSync(f);
      return `objects/pack/${CHAIN_DIR}/${path.basename(f)} ${bytes.length} ${sha1(bytes)}`;
    })
    .sort();
}

/** The chain directory's files in a fixture's expect/files.txt (`path size sha1`). */
function fixtureChainFiles(name: string): string[] {
  return readFileSync(path.join(FIXTURES, name, 'expect', 'files.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.includes(`${CHAIN_DIR}/`))
    .map((l) => l.split(' ').slice(0, 3).join(' '))
    .sort();
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).map((f) => path.join(dir, f));
}

function sha1(b: Uint8Array): string {
  return createHash('sha1').update(b).digest('hex');
}

for (const algo of ['sha1', 'sha256'] as const) {
  const name = `chain-3-${algo}`;
  test(`${name}: a plain write flattens the chain, keeping every choice it made, and removes it`, {
    skip: !haveFixtures,
  }, () => {
    const repo = unpackFixture(name);
    const want: string[] = [];
    for (let l = 1; l <= 3; l++) {
      for (const line of expected(name, `read-midx-objects-layer${l}.txt`)!) {
        const m = /^([0-9a-f]+) (\d+)\t\.\/objects\/pack\/(.*)\.pack$/.exec(line);
        if (m) want.push(`${m[1]} ${m[3]}.idx ${m[2]}`);
      }
    }
    execFileSync(process.execPath, [bin, 'write'], { cwd: repo });
    const pack = path.join(repo, 'objects', 'pack');
    assert.ok(existsSync(path.join(pack, 'multi-pack-index')));
    assert.ok(!existsSync(path.join(pack, CHAIN_DIR)), 'the chain directory is gone');
    const out = execFileSync(process.execPath, [bin, 'lookup', '--stdin'], {
      cwd: repo,
      input: `${want.map((l) => l.split(' ')[0]).join('\n')}\n`,
    }).toString();
    assert.deepEqual(out.split('\n').filter(Boolean).sort(), want.sort());
    const v = spawnSync('git', ['multi-pack-index', 'verify'], { cwd: repo, encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
  });
}

for (const algo of ['sha1', 'sha256'] as const) {
  const name = `v2-flat-${algo}`;
  test(`${name}: with midx.version=2, write gives Git's version-2 file byte for byte`, {
    skip: !haveFixtures,
  }, () => {
    const repo = unpackFixture(name);
    const file = path.join(repo, 'objects', 'pack', 'multi-pack-index');
    const git = readFileSync(file);
    execFileSync('rm', [file]);
    execFileSync('git', ['config', 'midx.version', '2'], { cwd: repo });
    execFileSync(process.execPath, [bin, 'write'], { cwd: repo });
    assert.ok(readFileSync(file).equals(git));
    assert.equal(git[4], 2);
  });
}

for (const algo of ['sha1', 'sha256'] as const) {
  const name = `v2-compact-${algo}`;
  test(`${name}: the four layers rebuilt with write --incremental, then compact, give Git's files byte for byte`, {
    skip: !haveFixtures,
  }, () => {
    const repo = unpackFixture(name);
    const commands = readFileSync(path.join(FIXTURES, name, 'expect', 'commands.txt'), 'utf8');
    const before = /chain before compaction \(layer1\.\.layer4\): ([0-9a-f ]+)/
      .exec(commands)![1]
      .trim()
      .split(' ');
    const pack = path.join(repo, 'objects', 'pack');
    const chainDir = path.join(pack, CHAIN_DIR);
    // The chain as the fixture left it: layer1, the compacted layer (old layers 2 and 3, in layer
    // order: one pack, then two), old layer4.
    const loaded = loadChain(chainSource(repo), algo === 'sha1' ? SHA1 : SHA256)!;
    const [l1, compacted, l4] = loaded.layers.map((l) => ({ name: l.name, packs: [...l.midx.packNames] }));
    for (const l of loaded.layers) l.midx.close();
    const hold = path.join(path.dirname(repo), 'hold');
    execFileSync('mkdir', [hold]);
    const stems = (names: string[]) => names.map((n) => n.replace(/\.idx$/, ''));
    const moveOut = (names: string[]) => {
      for (const s of stems(names)) execFileSync('sh', ['-c', `mv "${pack}/${s}".* "${hold}/"`]);
    };
    const moveIn = (names: string[]) => {
      for (const s of stems(names)) execFileSync('sh', ['-c', `mv "${hold}/${s}".* "${pack}/"`]);
    };
    moveOut([...compacted.packs.slice(1), ...l4.packs]);
    execFileSync('sh', ['-c', `rm -f "${chainDir}"/*.midx.keep; chmod u+w "${chainDir}/${CHAIN_FILE}"`]);
    for (const f of readdirSync(chainDir))
      if (f !== CHAIN_FILE && !f.includes(l1.name)) execFileSync('rm', ['-f', path.join(chainDir, f)]);
    execFileSync('sh', ['-c', `echo ${l1.name} > "${chainDir}/${CHAIN_FILE}"`]);
    const write = () => execFileSync(process.execPath, [bin, 'write', '--incremental'], { cwd: repo });
    const tip = () => readFileSync(path.join(chainDir, CHAIN_FILE), 'utf8').trim().split('\n').pop();
    write();
    assert.equal(tip(), before[1], 'layer 2 rebuilt');
    moveIn(compacted.packs.slice(1));
    write();
    assert.equal(tip(), before[2], 'layer 3 rebuilt');
    moveIn(l4.packs);
    write();
    assert.equal(tip(), before[3], 'layer 4 rebuilt');
    execFileSync(process.execPath, [bin, 'compact', '--incremental', before[1], before[2]], { cwd: repo });
    assert.deepEqual(chainFiles(chainDir), fixtureChainFiles(name));
  });
}

test('compact refuses as current Git does (v1, reversed, same, unknown endpoints)', {
  skip: !haveFixtures,
}, () => {
  for (const algo of ['sha1', 'sha256']) {
    for (const section of ['compact-v1', 'compact-reversed', 'compact-same', 'compact-missing']) {
      for (const c of messages(algo, section)) {
        const repo = unpackFixture(`chain-3-${algo}`);
        const m = /^git (?:-c (\S+) )?multi-pack-index (.*)$/.exec(c.cmd)!;
        if (m[1] !== undefined) {
          const [k, v] = m[1].split('=');
          execFileSync('git', ['config', k, v], { cwd: repo });
        }
        const r = spawnSync(process.execPath, [bin, ...m[2].split(' ')], { cwd: repo, encoding: 'utf8' });
        assert.equal(r.stderr, c.stderr, c.cmd);
        assert.equal(r.status, c.code, c.cmd);
      }
    }
  }
});

test("cat-file answers, disk sizes and delta bases equal current Git's on every fixture (chains pick Git's copies)", {
  skip: !haveFixtures,
}, () => {
  for (const algo of ['sha1', 'sha256']) {
    for (const c of ['chain-3', 'chain-3-bitmap', 'v2-compact', 'v2-flat', 'flat-bitmap']) {
      const name = `${c}-${algo}`;
      const repo = unpackFixture(name);
      const r = spawnSync(
        process.execPath,
        [
          bin,
          'cat-file',
          '--batch-all-objects',
          '--batch-check=%(objectname) %(objecttype) %(objectsize) %(objectsize:disk) %(deltabase)',
        ],
        { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 26 },
      );
      assert.equal(r.stderr, '', name);
      assert.equal(
        r.stdout,
        readFileSync(path.join(FIXTURES, name, 'expect', 'cat-file-check.txt'), 'utf8'),
        name,
      );
    }
  }
});

test('a chain file that is a FIFO: the store warns once and the packs answer (no hang)', {
  skip: !haveFixtures,
}, () => {
  const repo = unpackFixture('chain-3-sha1');
  const chainFile = path.join(repo, 'objects', 'pack', CHAIN_DIR, CHAIN_FILE);
  rmSync(chainFile, { force: true });
  execFileSync('mkfifo', [chainFile]);
  const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo }).toString().trim();
  const r = spawnSync(process.execPath, [bin, 'cat-file', '-t', head], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'commit\n');
  assert.match(r.stderr, /not a regular file; ignoring multi-pack-index/);
});

for (const algo of ['sha1', 'sha256'] as const) {
  const name = `flat-bitmap-${algo}`;
  test(`${name}: our .bitmap for Git's MIDX is Git 2.55's, byte for byte`, { skip: !haveFixtures }, () => {
    const repo = unpackFixture(name);
    const pack = path.join(repo, 'objects', 'pack');
    const theirs = readdirSync(pack).find((f) => f.endsWith('.bitmap'))!;
    const hash = algo === 'sha1' ? SHA1 : SHA256;
    const midx = openMidxFile(path.join(pack, 'multi-pack-index'), { hash });
    const target = path.join(pack, 'ours.bitmap');
    try {
      writeMidxBitmap({ objectDir: path.join(repo, 'objects'), hash, midx, target });
    } finally {
      midx.close();
    }
    assert.ok(readFileSync(target).equals(readFileSync(path.join(pack, theirs))));
  });
}
