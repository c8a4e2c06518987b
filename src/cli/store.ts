/** How commands open the object store and the refs: on disk, or over HTTP (`--git-dir=<url>`). */
import { GitMidxError } from '../errors.js';
import { CHAIN_DIR, CHAIN_FILE, chainSourceIn, loadChain, MidxChain, parseChainFile } from '../midx/chain.js';
import { MultiPackIndex } from '../midx/reader.js';
import { nodeHash } from '../node/hash.js';
import { midxPath } from '../node/midx.js';
import { ObjectStore as NodeStore, type ObjectStoreOptions } from '../node/odb.js';
import { nodeStorage } from '../node/storage.js';
import { nodeInflater } from '../node/zlib.js';
import { storeFiles } from '../storage/resident.js';
import { joinPath } from '../storage/storage.js';
import { ObjectStore } from '../store/object-store.js';
import { RefStore } from '../store/revision.js';
import type { Context } from './context.js';

/** The object store of the command's repository. */
export function openCliStore(ctx: Context, opts: ObjectStoreOptions): ObjectStore {
  if (ctx.remote === undefined) return NodeStore.open(opts);
  return ObjectStore.fromFiles(ctx.remote.files, {
    ...opts,
    objectDir: ctx.objectDir,
    hash: ctx.hash,
    alternates: opts.alternates !== false,
    inflate: nodeInflater,
    hashFn: nodeHash,
  });
}

/** The refs of the command's repository (undefined without one: `--object-dir`). */
export function openCliRefs(ctx: Context): RefStore | undefined {
  if (ctx.gitDir === undefined) return undefined;
  return new RefStore({
    gitDir: ctx.gitDir,
    commonDir: ctx.commonDir,
    refStorage: ctx.config.get('extensions.refstorage') ?? undefined,
    files: ctx.remote?.files ?? storeFiles(nodeStorage()),
  });
}

/** Where the command's MIDX is, as messages name it. */
export function cliMidxPath(ctx: Context): string {
  if (ctx.remote !== undefined) return `${ctx.remote.url}${ctx.objectDir}/pack/multi-pack-index`;
  return midxPath(ctx.objectDir);
}

/**
 * The command's MIDX, read by pages: the flat file when there is one, else an incremental chain
 * (Git's order; the chain's warnings go to stderr). Neither throws an ENOENT error (see
 * openMidxOrSay).
 */
export function openCliMidx(ctx: Context): MultiPackIndex | MidxChain {
  const files = ctx.remote?.files ?? storeFiles(nodeStorage());
  const packDir = joinPath(ctx.remote === undefined ? ctx.objectDir : ctx.objectDir, 'pack');
  const shownPackDir = ctx.remote === undefined ? packDir : `${ctx.remote.url}${packDir}`;
  const reader = files.open(joinPath(packDir, 'multi-pack-index'));
  if (reader !== undefined) {
    return MultiPackIndex.open(reader, { hash: ctx.hash, file: cliMidxPath(ctx) });
  }
  const loaded = loadChain(chainSourceIn(files, packDir, shownPackDir), ctx.hash);
  for (const w of loaded?.warnings ?? []) ctx.io.stderr(`warning: ${w}\n`);
  if (loaded === undefined || loaded.layers.length === 0) {
    throw Object.assign(new Error(`${cliMidxPath(ctx)}: not found`), { code: 'ENOENT' });
  }
  return new MidxChain(loaded.layers);
}

/**
 * Dies as current Git does when the MIDX is an incremental chain with a base (no flat file, two or
 * more layers): `expire` and `repack` work on one file only.
 */
export function refuseChain(ctx: Context, message: string): void {
  if (ctx.remote !== undefined) return;
  const packDir = joinPath(ctx.objectDir, 'pack');
  const files = storeFiles(nodeStorage());
  if (files.stat(joinPath(packDir, 'multi-pack-index')) !== undefined) return;
  const text = files.readFile(joinPath(joinPath(packDir, CHAIN_DIR), CHAIN_FILE), 1 << 24);
  if (text === undefined) return;
  if (parseChainFile(new TextDecoder().decode(text), ctx.hash).names.length >= 2) {
    throw new GitMidxError('INCREMENTAL_UNSUPPORTED', message, { data: { git: message } });
  }
}
