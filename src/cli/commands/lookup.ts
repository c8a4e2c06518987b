import { fromHex } from '../../bytes.js';
import { midxPath, openMidxFile } from '../../node/midx.js';
import { makeContext } from '../context.js';
import type { Command } from '../main.js';
import { parseCommon, UsageError } from '../options.js';

const USAGE = 'lookup (--stdin | <oid>...)';

/** One line per id: `<oid> <pack-name> <offset>`, or `<oid> missing` (the input echoed as given). */
export const lookupCommand: Command = {
  name: 'lookup',
  usage: USAGE,
  run(io, global, args) {
    const p = parseCommon(args, false, { stdin: { type: 'boolean' } }, USAGE, global);
    if (p.help) {
      io.stdout(`usage: git-midx [<options>] ${USAGE}\n`);
      return 129;
    }
    const fromStdin = p.values.stdin === true;
    if (fromStdin === p.rest.length > 0) throw new UsageError('give object ids or --stdin, not both', USAGE);
    const ctx = makeContext(io, p.global);
    const file = midxPath(ctx.objectDir);
    let m: ReturnType<typeof openMidxFile>;
    try {
      m = openMidxFile(file, { hash: ctx.hash });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        io.stderr(`error: no multi-pack-index at ${file}\n`);
        return 1;
      }
      throw e;
    }
    try {
      let ids: string[];
      if (fromStdin) {
        ids = io.readStdin().split('\n');
        if (ids.length > 0 && ids[ids.length - 1] === '') ids.pop();
      } else {
        ids = p.rest;
      }
      const H = m.hash.size;
      const hexLen = m.hash.hexSize;
      const oid = new Uint8Array(H);
      const names = m.packNames;
      let out = '';
      for (let line of ids) {
        if (line.endsWith('\r')) line = line.slice(0, -1);
        let hit = -1;
        if (line.length === hexLen && fromHex(line, oid)) hit = m.findPosition(oid);
        if (hit < 0) out += `${line} missing\n`;
        else out += `${line} ${names[m.packIdAt(hit)]} ${m.offsetAt(hit)}\n`;
        if (out.length > 65536) {
          io.stdout(out);
          out = '';
        }
      }
      io.stdout(out);
      return 0;
    } finally {
      m.close();
    }
  },
};
