/**
 * The reachability bitmap of a MIDX, `multi-pack-index-<checksum>.bitmap` (docs/formats.md,
 * "Reachability bitmaps"): for a selection of commits, which objects each one reaches, as EWAH
 * bitmaps over pseudo-pack order (the MIDX's RIDX chunk); plus one bitmap per object type.
 *
 * Selection: every ref's commit (so that each tip Git may test has its bitmap) and every 100th
 * commit of a walk from them. Each commit's bitmap is built from those of the selected commits
 * below it, then a walk of what they do not cover. No XOR compression, no name-hash cache and no
 * lookup table are written (all optional in the format): the file is valid for every Git that
 * reads MIDX bitmaps, but not byte-identical to Git's, whose commit selection and XOR choices
 * differ.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bitset, encodeEwah } from '../bitmap/ewah.js';
import { toHex } from '../bytes.js';
import { GitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { CHUNK_OIDL } from '../midx/chunks.js';
import type { MultiPackIndex } from '../midx/reader.js';
import { storeFiles } from '../storage/resident.js';
import { RefStore } from '../store/revision.js';
import { nodeHash } from './hash.js';
import { LockFile } from './lockfile.js';
import { MIDX_NAME } from './midx.js';
import { ObjectStore } from './odb.js';
import { nodeStorage } from './storage.js';

/** Commits picked between ref tips: one in this many of a walk. */
const SELECT_EVERY = 100;
const decoder = new TextDecoder();

export interface WriteBitmapOptions {
  objectDir: string;
  /** Where `HEAD`, `refs/` and `packed-refs` are (default: the object directory's parent). */
  gitDir?: string;
  hash: HashAlgorithm;
  /** The MIDX just written, and its objects in pseudo-pack order. */
  midx: MultiPackIndex;
  pseudoOrder: Uint32Array;
}

export interface WriteBitmapResult {
  path: string;
  /** Commits given a bitmap. */
  commits: number;
}

/** Writes the `.bitmap` of `midx` (see the module comment). */
export function writeMidxBitmap(options: WriteBitmapOptions): WriteBitmapResult {
  const { midx, pseudoOrder, hash } = options;
  const H = hash.size;
  const N = midx.numObjects;
  const packDir = path.join(options.objectDir, 'pack');
  const checksum = midx.checksum();
  const target = path.join(packDir, `${MIDX_NAME}-${toHex(checksum)}.bitmap`);
  // MIDX position → pseudo-pack position.
  const pseudoOf = new Uint32Array(N);
  for (let j = 0; j < N; j++) pseudoOf[pseudoOrder[j]] = j;
  const store = ObjectStore.open({ objectDir: options.objectDir, hash });
  try {
    // Types of every object, by MIDX position.
    const oidl = midx.readChunk(CHUNK_OIDL)!;
    const { types } = store.objectInfoPacked(oidl, N);
    const typeBits = [new Bitset(N), new Bitset(N), new Bitset(N), new Bitset(N)];
    for (let i = 0; i < N; i++) {
      const t = types[i];
      if (t >= 1 && t <= 4) typeBits[t - 1].set(pseudoOf[i]);
    }
    const positionOf = (hex: string): number => {
      const oid = hexToBytes(hex, H);
      return midx.findPosition(oid);
    };
    const closure = (hex: string): never => {
      const git = `object ${hex} is not in the multi-pack-index: a bitmap needs full closure`;
      throw new GitMidxError('BITMAP_CLOSURE', git, { data: { git, oid: hex } });
    };

    // Tips: every ref, tags peeled to their commits; only commits in the MIDX.
    const refs = new RefStore({
      gitDir: options.gitDir ?? path.dirname(path.resolve(options.objectDir)),
      files: storeFiles(nodeStorage()),
    });
    const tips = new Set<string>();
    for (const r of refs.all()) {
      let hex = toHex(r.oid);
      for (let depth = 0; depth < 32; depth++) {
        const o = store.readObject(hexToBytes(hex, H));
        if (o === undefined) break;
        if (o.type === 'tag') {
          const m = /^object ([0-9a-f]+)$/m.exec(decoder.decode(o.data));
          if (m === null) break;
          hex = m[1];
          continue;
        }
        if (o.type === 'commit' && positionOf(hex) >= 0) tips.add(hex);
        break;
      }
    }

    // Every commit reachable from the tips, parents before children (post-order).
    const parentsOf = new Map<string, { tree: string; parents: string[] }>();
    const post: string[] = [];
    const state = new Map<string, 1 | 2>();
    for (const tip of tips) {
      const stack: { hex: string; next: number }[] = [{ hex: tip, next: 0 }];
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.next === 0) {
          if (state.has(top.hex)) {
            stack.pop();
            continue;
          }
          state.set(top.hex, 1);
          if (positionOf(top.hex) < 0) closure(top.hex);
          const o = store.readObject(hexToBytes(top.hex, H));
          if (o === undefined || o.type !== 'commit') closure(top.hex);
          parentsOf.set(top.hex, parseCommit(o!.data));
        }
        const ps = parentsOf.get(top.hex)!.parents;
        if (top.next < ps.length) {
          const p = ps[top.next++];
          if (!state.has(p)) stack.push({ hex: p, next: 0 });
        } else {
          state.set(top.hex, 2);
          post.push(top.hex);
          stack.pop();
        }
      }
    }
    const selected = post.filter((hex, i) => tips.has(hex) || i % SELECT_EVERY === SELECT_EVERY - 1);
    const isSelected = new Set(selected);

    // Each selected commit's bitmap: what selected commits below it reach, then a walk of the rest.
    const done = new Map<string, Bitset>();
    const treeSeen = (_bits: Bitset, hex: string): number => {
      const pos = positionOf(hex);
      if (pos < 0) closure(hex);
      return pseudoOf[pos];
    };
    for (const c of selected) {
      const bits = new Bitset(N);
      const stack: string[] = [c];
      const trees: string[] = [];
      while (stack.length > 0) {
        const hex = stack.pop()!;
        const at = treeSeen(bits, hex);
        if (bits.has(at)) continue;
        const below = hex !== c && isSelected.has(hex) ? done.get(hex) : undefined;
        if (below !== undefined) {
          bits.or(below);
          continue;
        }
        bits.set(at);
        const info = parentsOf.get(hex)!;
        trees.push(info.tree);
        for (const p of info.parents) stack.push(p);
      }
      // Trees and blobs, by MIDX position (ids are looked up where they lie in the tree, no copy):
      // a tree already in the bitmap has everything below it there too.
      const treePos: number[] = [];
      for (const hex of trees) {
        const pos = positionOf(hex);
        if (pos < 0) closure(hex);
        treePos.push(pos);
      }
      while (treePos.length > 0) {
        const pos = treePos.pop()!;
        const at = pseudoOf[pos];
        if (bits.has(at)) continue;
        bits.set(at);
        const o = store.readObject(midx.oidAt(pos));
        if (o === undefined || o.type !== 'tree') closure(toHex(midx.oidAt(pos)));
        const d = o!.data;
        let i = 0;
        while (i < d.length) {
          const start = i;
          const sp = d.indexOf(0x20, start);
          const nul = d.indexOf(0, sp);
          i = nul + 1 + H;
          const modeLen = sp - start;
          // `160000`, a gitlink (a commit of another repository), is not followed.
          if (modeLen === 6 && d[start] === 0x31 && d[start + 1] === 0x36) continue;
          const child = midx.findPosition(d, nul + 1);
          if (child < 0) closure(toHex(d, nul + 1, nul + 1 + H));
          // `40000`: a tree.
          if (modeLen === 5 && d[start] === 0x34) {
            if (!bits.has(pseudoOf[child])) treePos.push(child);
          } else bits.set(pseudoOf[child]);
        }
      }
      done.set(c, bits);
    }

    // The file: header, type bitmaps, entries, trailer.
    const parts: Uint8Array[] = [];
    const head = new Uint8Array(12 + H);
    head.set([0x42, 0x49, 0x54, 0x4d], 0); // BITM
    const dv = new DataView(head.buffer);
    dv.setUint16(4, 1); // version
    dv.setUint16(6, 1); // BITMAP_OPT_FULL_DAG
    dv.setUint32(8, selected.length);
    head.set(checksum, 12);
    parts.push(head);
    for (const b of typeBits) parts.push(encodeEwah(b));
    for (const c of selected) {
      const e = new Uint8Array(6);
      new DataView(e.buffer).setUint32(0, positionOf(c));
      parts.push(e, encodeEwah(done.get(c)!));
    }
    const hasher = nodeHash(hash);
    for (const p of parts) hasher.update(p);
    parts.push(hasher.digest());

    const lock = LockFile.acquire(target, { packDir });
    try {
      for (const p of parts) lock.write(p);
      lock.commit();
    } catch (e) {
      lock.rollback();
      throw e;
    }
    fs.chmodSync(target, 0o444);
    return { path: target, commits: selected.length };
  } finally {
    store.close();
  }
}

function parseCommit(data: Uint8Array): { tree: string; parents: string[] } {
  let end = data.length;
  for (let i = 0; i + 1 < data.length; i++) {
    if (data[i] === 10 && data[i + 1] === 10) {
      end = i;
      break;
    }
  }
  let tree = '';
  const parents: string[] = [];
  for (const line of decoder.decode(data.subarray(0, end)).split('\n')) {
    if (line.startsWith('tree ')) tree = line.slice(5);
    else if (line.startsWith('parent ')) parents.push(line.slice(7));
  }
  return { tree, parents };
}

function hexToBytes(hex: string, H: number): Uint8Array {
  const out = new Uint8Array(H);
  for (let i = 0; i < H; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
