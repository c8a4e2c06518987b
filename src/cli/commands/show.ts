import * as path from 'node:path';
import { toHex } from '../../bytes.js';
import { chunkIdName } from '../../chunkfile/chunkfile.js';
import { CHAIN_DIR, layerFileName, MidxChain } from '../../midx/chain.js';
import { CHUNK_LOFF, CHUNK_OIDF, CHUNK_OIDL, CHUNK_OOFF, CHUNK_PNAM, CHUNK_RIDX } from '../../midx/chunks.js';
import type { MultiPackIndex } from '../../midx/reader.js';
import { makeContext, openMidxOrSay } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand } from '../options.js';
import { cliMidxPath, openCliMidx } from '../store.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['show'];

const CHUNK_WORDS = new Map<number, string>([
  [CHUNK_PNAM, 'pack-names'],
  [CHUNK_OIDF, 'oid-fanout'],
  [CHUNK_OIDL, 'oid-lookup'],
  [CHUNK_OOFF, 'object-offsets'],
  [CHUNK_LOFF, 'large-offsets'],
  [CHUNK_RIDX, 'revindex'],
]);

/**
 * The facts `test-tool read-midx` prints (header, chunks, object count, packs, object dir), then the
 * table of contents with offsets and sizes; `--json` gives the same for scripts.
 */
export const showCommand: Command = {
  name: 'show',
  usage: USAGE,
  async run(io, global, args) {
    const p = parseCommand(io, args, { json: { type: 'boolean' } }, USAGE, global, false, [
      ['--json', 'print the header, chunks and packs as JSON'],
    ]);
    const ctx = makeContext(io, p.global);
    const file = cliMidxPath(ctx);
    const m = await openMidxOrSay(io, file, () => openCliMidx(ctx));
    if (!m) return 1;
    try {
      if (m instanceof MidxChain) {
        // An incremental chain: each layer as a MIDX of its own, base first.
        const layers = m.layers.map((l, i) => ({
          layer: i + 1,
          name: l.name,
          objectsInBase: l.objectsInBase,
          packsInBase: l.packsInBase,
          ...facts(l.midx, `${path.dirname(file)}/${CHAIN_DIR}/${layerFileName(l.name)}`, ctx.objectDir),
        }));
        if (p.values.json) {
          io.stdout(
            `${JSON.stringify({ chain: layers.length, numObjects: m.numObjects, numPacks: m.numPacks, layers }, null, 2)}\n`,
          );
          return 0;
        }
        let s = `chain: ${layers.length} layers, ${m.numObjects} objects, ${m.numPacks} packs\n`;
        m.layers.forEach((l, i) => {
          s += `layer ${i + 1}: ${l.name} (objects in base: ${l.objectsInBase}, packs in base: ${l.packsInBase})\n`;
          s += text(l.midx, ctx.objectDir);
        });
        io.stdout(s);
        return 0;
      }
      if (p.values.json) {
        io.stdout(`${JSON.stringify(facts(m, file, ctx.objectDir), null, 2)}\n`);
        return 0;
      }
      io.stdout(text(m, ctx.objectDir));
      return 0;
    } finally {
      m.close();
    }
  },
};

/** What `--json` prints for one MIDX file. */
function facts(m: MultiPackIndex, file: string, objectDir: string) {
  return {
    path: file,
    signature: 'MIDX',
    version: m.version,
    hashVersion: m.hash.formatId,
    hash: m.hash.name,
    numChunks: m.chunks.length,
    numPacks: m.numPacks,
    numObjects: m.numObjects,
    chunks: m.chunks.map((c) => ({ id: chunkIdName(c.id), offset: c.offset, size: c.size })),
    packs: m.packNames,
    checksum: toHex(m.checksum()),
    fileSize: m.fileSize,
    objectDir,
  };
}

/** The text block for one MIDX file (`test-tool read-midx`'s lines, then the table of contents). */
function text(m: MultiPackIndex, objectDir: string): string {
  const words = m.chunks.map((c) => CHUNK_WORDS.get(c.id) ?? chunkIdName(c.id)).join(' ');
  let s = `header: 4d494458 ${m.version} ${m.hash.formatId} ${m.chunks.length} ${m.numPacks}\n`;
  s += `chunks: ${words}\n`;
  s += `num_objects: ${m.numObjects}\n`;
  s += 'packs:\n';
  for (const n of m.packNames) s += `${n}\n`;
  s += `object-dir: ${objectDir}\n`;
  s += 'chunk-table:\n';
  for (const c of m.chunks) s += `${chunkIdName(c.id)} ${c.offset} ${c.size}\n`;
  s += `checksum: ${toHex(m.checksum())}\n`;
  return s;
}
