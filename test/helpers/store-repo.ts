/**
 * A repository with every kind of object placement the object store serves, and git's own answers
 * about it: deltas of both kinds, a MIDX, a pack outside it, loose objects, an alternate (relative,
 * so that it also works when served over HTTP), annotated tags, packed and loose refs.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { makeTempDir, removeDir, TestRepo } from './git.js';

export interface GitObject {
  type: string;
  size: number;
  data: Buffer;
}

export interface StoreRepo {
  /** Directory holding both repositories (`main/`, `alt/`), to serve. */
  root: string;
  main: TestRepo;
  alt: TestRepo;
  /** Every object git sees from `main` (its alternate included), by hex id. */
  objects: Map<string, GitObject>;
  /** Ids that exist nowhere. */
  missing: string[];
  /** `git cat-file --batch` output for `ids` (in that order). */
  catFileBatch(ids: readonly string[]): Buffer;
  cleanup(): void;
}

/** Parses `git cat-file --batch` output. */
export function parseBatch(out: Buffer): Map<string, GitObject | undefined> {
  const m = new Map<string, GitObject | undefined>();
  let i = 0;
  while (i < out.length) {
    const nl = out.indexOf(10, i);
    const line = out.subarray(i, nl).toString();
    i = nl + 1;
    const parts = line.split(' ');
    if (parts[1] === 'missing') {
      m.set(parts[0], undefined);
      continue;
    }
    const size = Number(parts[2]);
    m.set(parts[0], { type: parts[1], size, data: Buffer.from(out.subarray(i, i + size)) });
    i += size + 1;
  }
  return m;
}

export function buildStoreRepo(format: 'sha1' | 'sha256'): StoreRepo {
  const root = makeTempDir();
  const alt = TestRepo.create({ objectFormat: format, dir: join(root, 'alt') });
  const main = TestRepo.create({ objectFormat: format, dir: join(root, 'main') });
  try {
    // The alternate: a few commits, packed.
    alt.commitFiles({ 'shared.txt': 'shared\n'.repeat(50) }, 'alt first');
    alt.commitFiles({ 'shared.txt': `${'shared\n'.repeat(50)}more\n` }, 'alt second');
    alt.git(['repack', '-adq']);
    writeFileSync(join(main.objectDir, 'info', 'alternates'), '../../../alt/.git/objects\n');
    // Main: history with similar blobs (deltas), tags, branches.
    let text = '';
    for (let i = 0; i < 12; i++) {
      text += `line ${i} ${'x'.repeat(i * 7)}\n`;
      main.commitFiles({ 'file.txt': text, [`dir/f${i % 3}.txt`]: `${text}${i}\n` }, `commit ${i}`);
      if (i === 3) main.git(['tag', '-a', '-m', 'annotated', 'v1']);
      if (i === 5) main.git(['branch', 'side']);
    }
    main.git(['tag', 'light', 'HEAD~2']);
    main.git(['pack-refs', '--all']);
    main.git(['branch', 'loose-branch', 'HEAD~1']);
    // OFS_DELTA pack, then a REF_DELTA pack of newer objects, a MIDX over both.
    main.git(['repack', '-adq']);
    for (let i = 12; i < 16; i++) {
      text += `line ${i}\n`;
      main.commitFiles({ 'file.txt': text }, `commit ${i}`);
    }
    const revs = main.gitText(['rev-list', '--objects', 'HEAD~4..HEAD']);
    const ids = revs
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[0]);
    main.git(['pack-objects', '-q', join(main.packDir, 'pack')], { input: `${ids.join('\n')}\n` });
    main.git(['prune-packed']);
    main.git(['multi-pack-index', 'write']);
    // A pack outside the MIDX, and loose objects.
    main.commitFiles({ 'late.txt': 'late\n' }, 'late packed');
    main.repackIncremental();
    main.commitFiles({ 'loose.txt': 'loose\n'.repeat(30) }, 'late loose');
    main.git(['update-server-info']);
    const all = main
      .gitText(['cat-file', '--batch-all-objects', '--batch-check=%(objectname)'])
      .split('\n')
      .filter(Boolean);
    const catFileBatch = (list: readonly string[]): Buffer =>
      main.git(['cat-file', '--batch'], { input: `${list.join('\n')}\n` }).stdout as Buffer;
    const objects = new Map<string, GitObject>();
    for (const [id, o] of parseBatch(catFileBatch(all))) if (o) objects.set(id, o);
    const hexLen = main.hexLength;
    const missing = ['1', '2', 'f'].map((c) => c.repeat(hexLen));
    return {
      root,
      main,
      alt,
      objects,
      missing,
      catFileBatch,
      cleanup() {
        main.cleanup();
        alt.cleanup();
        removeDir(root);
      },
    };
  } catch (e) {
    main.cleanup();
    alt.cleanup();
    removeDir(root);
    throw e;
  }
}

/** Every file under `dir`, keyed by its path relative to `base` (for `memoryStorage`). */
export function filesUnder(
  dir: string,
  base: string,
  out = new Map<string, Uint8Array>(),
): Map<string, Uint8Array> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, base, out);
    else out.set(relative(base, p), readFileSync(p));
  }
  return out;
}

export function ensureDir(p: string): void {
  mkdirSync(p, { recursive: true });
}
