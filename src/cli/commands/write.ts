import * as path from 'node:path';
import { fromHex } from '../../bytes.js';
import { GitMidxError, isGitMidxError } from '../../errors.js';
import { errnoText, readRegularFile } from '../../node/fs.js';
import { writeMidxFileAsync } from '../../node/midx.js';
import { BitmapDeadlineError } from '../../node/midx-bitmap.js';
import { writeMidxLayer } from '../../node/midx-chain.js';
import type { ObjectStore } from '../../store/object-store.js';
import { type Context, MoveToWorker, makeContext } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand, UsageError } from '../options.js';
import { openCliStore } from '../store.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['write'];

export const writeCommand: Command = {
  name: 'write',
  usage: USAGE,
  async run(io, global, args) {
    const p = parseCommand(
      io,
      args,
      {
        'preferred-pack': { type: 'string' },
        'stdin-packs': { type: 'boolean' },
        incremental: { type: 'boolean' },
        'no-incremental': { type: 'boolean' },
        'write-chain-file': { type: 'boolean' },
        'no-write-chain-file': { type: 'boolean' },
        base: { type: 'string' },
        bitmap: { type: 'boolean' },
        'no-bitmap': { type: 'boolean' },
        'refs-snapshot': { type: 'string' },
      },
      USAGE,
      global,
      false,
      [
        ['--preferred-pack <preferred-pack>', 'pack for reuse when computing a multi-pack bitmap'],
        ['--stdin-packs', 'write multi-pack index containing only given indexes'],
        ['--[no-]bitmap', 'write multi-pack bitmap'],
        ['--refs-snapshot <file>', 'refs snapshot for selecting bitmap commits'],
        ['--base <checksum>', 'base MIDX for incremental writes'],
        ['--[no-]incremental', 'write a new incremental MIDX'],
        ['--[no-]write-chain-file', 'write the multi-pack-index chain file'],
      ],
    );
    const incremental = p.values.incremental === true && p.values['no-incremental'] !== true;
    const writeChainFile = p.values['no-write-chain-file'] !== true;
    const base = p.values.base as string | undefined;
    // Current Git's checks and words (both are usage errors, exit 129).
    if (!writeChainFile && !incremental) {
      throw new UsageError('cannot use --no-write-chain-file without --incremental', USAGE);
    }
    if (base !== undefined && writeChainFile) {
      throw new UsageError('cannot use --base without --no-write-chain-file', USAGE);
    }
    const ctx = makeContext(io, p.global, new Set(['Adding packfiles to multi-pack-index']));
    const bitmap = p.values.bitmap === true && p.values['no-bitmap'] !== true;
    // On the main thread only a small plain write stays there (see run() in src/cli/main.ts).
    if (
      io.inlineWrite !== undefined &&
      (p.values['stdin-packs'] === true ||
        (bitmap && incremental) ||
        !io.inlineWrite(path.resolve(io.cwd, ctx.objectDir), bitmap))
    ) {
      throw new MoveToWorker();
    }
    let stdinPacks: string[] | undefined;
    if (p.values['stdin-packs']) {
      stdinPacks = io
        .readStdin()
        .split('\n')
        .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
        .filter((l) => l.length > 0);
    }
    const version = midxVersion(ctx.config.get('midx.version') ?? undefined);
    const snapshotFile = p.values['refs-snapshot'] as string | undefined;
    // On the main thread, the bitmap write lets the event loop turn between its slices, where the
    // signal handlers act (src/cli/main.ts); a stretch between two turns longer than
    // inlineBitmapMs gives up, and the command starts again on the worker.
    const inline = io.inlineWrite !== undefined;
    const bitmapSettings = {
      stretchMs: inline && bitmap ? inlineBitmapMs(io.env) : undefined,
      preferredTips: ctx.config.getAll('pack.preferbitmaptips').filter((v): v is string => v !== null),
      hashCache: ctx.config.getBool('pack.writebitmaphashcache', true),
      lookupTable: ctx.config.getBool('pack.writebitmaplookuptable', false),
      // Read before anything is written: a bad line stops the write, as in Git.
      refsSnapshot:
        bitmap && snapshotFile !== undefined
          ? readRefsSnapshot(path.resolve(io.cwd, snapshotFile), snapshotFile, ctx)
          : undefined,
    };
    if (incremental) {
      const r = writeMidxLayer({
        version,
        objectDir: ctx.objectDir,
        hash: ctx.hash,
        preferredPack: p.values['preferred-pack'] as string | undefined,
        bitmap,
        bitmapSettings,
        writeChainFile,
        base,
        onProgress: ctx.progress,
        onDiagnostic: ctx.diag,
      });
      // Without the chain file, the new layer's checksum is how the caller finds it.
      if (!writeChainFile && r.checksum !== undefined) io.stdout(`${r.checksum}\n`);
      return 0;
    }
    try {
      await writeMidxFileAsync({
        version,
        bitmap,
        bitmapSettings,
        objectDir: ctx.objectDir,
        hash: ctx.hash,
        preferredPack: p.values['preferred-pack'] as string | undefined,
        stdinPacks,
        useExistingMidx: ctx.config.getBool('core.multipackindex', true),
        onProgress: ctx.progress,
        onDiagnostic: ctx.diag,
      });
    } catch (e) {
      // The MIDX is in place; the worker finds its bitmap missing and writes both again.
      if (e instanceof BitmapDeadlineError) throw new MoveToWorker();
      throw e;
    }
    return 0;
  },
};

/**
 * How long a `write --bitmap` on the main thread may run without a turn of the event loop before
 * it starts again on the worker (see `bitmapSettings`): 500 ms, or GIT_MIDX_INLINE_BITMAP_MS (the
 * tests make it 0 to take the worker's path after a main-thread attempt).
 */
function inlineBitmapMs(env: NodeJS.ProcessEnv): number {
  const v = Number(env.GIT_MIDX_INLINE_BITMAP_MS);
  return env.GIT_MIDX_INLINE_BITMAP_MS !== undefined && Number.isFinite(v) && v >= 0 ? v : 500;
}

/** `midx.version`: 1 or 2 (Git's accepted values); anything else is Git's fatal error. */
export function midxVersion(value: string | undefined): 1 | 2 | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '1' || v === '2') return Number(v) as 1 | 2;
  const git = `unknown MIDX version: ${v}`;
  throw new GitMidxError('INVALID_ARGUMENT', git, { data: { git } });
}

/**
 * The lines of a `--refs-snapshot` file (Git's format: an object id per line, `+` before it for a
 * preferred tip), each object required to exist; Git's fatal errors otherwise.
 */
function readRefsSnapshot(
  file: string,
  shown: string,
  ctx: Context,
): { oid: Uint8Array; preferred: boolean }[] {
  const hexSize = ctx.hash.hexSize;
  let text: string;
  try {
    // A regular file only: a FIFO or a device would never end.
    text = readRegularFile(file).toString('utf8');
  } catch (e) {
    if (isGitMidxError(e)) throw e;
    const git = `could not open '${shown}' for reading: ${errnoText(e as NodeJS.ErrnoException)}`;
    throw new GitMidxError('INVALID_ARGUMENT', git, { file, data: { git } });
  }
  const out: { oid: Uint8Array; preferred: boolean }[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const store = openCliStore(ctx, { objectDir: ctx.objectDir, hash: ctx.hash, onDiagnostic: ctx.diag });
  try {
    for (const raw of lines) out.push(snapshotLine(raw, hexSize, store, file));
  } finally {
    store.close();
  }
  return out;
}

/** One line of a `--refs-snapshot` file: its object (which must exist) and whether it is preferred. */
function snapshotLine(
  raw: string,
  hexSize: number,
  store: ObjectStore,
  file: string,
): { oid: Uint8Array; preferred: boolean } {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const preferred = line.startsWith('+');
  const hex = preferred ? line.slice(1) : line;
  const oid = fromHex(hex.slice(0, hexSize).toLowerCase());
  if (hex.length < hexSize || oid === undefined) {
    const git = `could not parse line: ${line}`;
    throw new GitMidxError('INVALID_ARGUMENT', git, { file, data: { git } });
  }
  if (hex.length > hexSize) {
    const git = `malformed line: ${line}`;
    throw new GitMidxError('INVALID_ARGUMENT', git, { file, data: { git } });
  }
  if (!store.hasObject(oid)) {
    const git = `unable to parse object: ${hex.toLowerCase()}`;
    throw new GitMidxError('OBJECT_MISSING', git, { file, data: { git } });
  }
  return { oid, preferred };
}
