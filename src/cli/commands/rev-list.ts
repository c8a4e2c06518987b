import { openReachBitmap } from '../../node/bitmaps.js';
import { countReachable } from '../../store/reach.js';
import { RevisionResolver } from '../../store/revision.js';
import { makeContext } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand, UsageError } from '../options.js';
import { openCliRefs, openCliStore } from '../store.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['rev-list'];

/**
 * `git rev-list --count [--objects]`: how many commits (with `--objects`: objects) are reachable
 * from the revisions given and not from those given as `^<rev>` (or `<a>..<b>`), counted by a walk
 * through the object store (src/store/reach.ts).
 */
export const revListCommand: Command = {
  name: 'rev-list',
  usage: USAGE,
  run(io, global, args) {
    const p = parseCommand(
      io,
      args,
      {
        count: { type: 'boolean' },
        objects: { type: 'boolean' },
        all: { type: 'boolean' },
        'use-bitmap-index': { type: 'boolean' },
      },
      USAGE,
      global,
      true,
      [
        ['--count', 'print the number of commits (with --objects: objects), not their ids'],
        ['--objects', 'count the trees, blobs and tags reached too'],
        ['--all', 'start from every ref and HEAD'],
        ['--use-bitmap-index', "count with the repository's reachability bitmap where it has one"],
      ],
    );
    if (p.values.count !== true) throw new UsageError('only --count is supported', USAGE);
    const ctx = makeContext(io, p.global);
    const store = openCliStore(ctx, {
      objectDir: ctx.objectDir,
      hash: ctx.hash,
      useMidx: ctx.config.getBool('core.multipackindex', true),
      onDiagnostic: ctx.diag,
    });
    try {
      const refs = openCliRefs(ctx);
      if (refs === undefined) throw new UsageError('rev-list needs a repository (not --object-dir)', USAGE);
      const revs = new RevisionResolver(store, refs);
      const include: Uint8Array[] = [];
      const exclude: Uint8Array[] = [];
      if (p.values.all === true) for (const r of refs.all()) include.push(r.oid);
      for (const arg of p.rest) {
        const range = /^(.*)\.\.(.*)$/.exec(arg);
        if (range !== null) {
          exclude.push(revs.resolve(range[1] === '' ? 'HEAD' : range[1]));
          include.push(revs.resolve(range[2] === '' ? 'HEAD' : range[2]));
        } else if (arg.startsWith('^')) exclude.push(revs.resolve(arg.slice(1)));
        else include.push(revs.resolve(arg));
      }
      // With --use-bitmap-index, the repository's bitmap (MIDX or pack) answers what it covers.
      const bitmap =
        p.values['use-bitmap-index'] === true && ctx.remote === undefined
          ? openReachBitmap(ctx.objectDir, ctx.hash, (w) => io.stderr(`warning: ${w}\n`))
          : undefined;
      const counts = countReachable(store, { include, exclude }, { bitmap });
      io.stdout(`${p.values.objects === true ? counts.objects : counts.commits}\n`);
      return 0;
    } finally {
      store.close();
    }
  },
};
