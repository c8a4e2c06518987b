/** How commands open the object store and the refs: on disk, or over HTTP (`--git-dir=<url>`). */
import { MultiPackIndex } from '../midx/reader.js';
import { nodeHash } from '../node/hash.js';
import { midxPath, openMidxFile } from '../node/midx.js';
import { ObjectStore as NodeStore, type ObjectStoreOptions } from '../node/odb.js';
import { nodeStorage } from '../node/storage.js';
import { nodeInflater } from '../node/zlib.js';
import { storeFiles } from '../storage/resident.js';
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

/** The command's MIDX, read by pages; a missing one throws an ENOENT error (see openMidxOrSay). */
export function openCliMidx(ctx: Context): MultiPackIndex {
  if (ctx.remote === undefined) return openMidxFile(midxPath(ctx.objectDir), { hash: ctx.hash });
  const shown = cliMidxPath(ctx);
  const reader = ctx.remote.files.open(`${ctx.objectDir}/pack/multi-pack-index`);
  if (reader === undefined) {
    throw Object.assign(new Error(`${shown}: not found`), { code: 'ENOENT' });
  }
  return MultiPackIndex.open(reader, { hash: ctx.hash, file: shown });
}
