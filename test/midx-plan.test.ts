// planMidx on hand-built indexes whose ids crowd into one prefix (long runs that share their
// first bytes, ids equal in their first 6 bytes, copies in several packs and twice in one pack):
// the file it plans equals a plain sort of every entry with Git's choice among copies (preferred
// pack, then newest mtime, then first pack; within one pack, the first copy).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toHex } from '../src/bytes.js';
import { type HashAlgorithm, SHA1, SHA256 } from '../src/hash.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import { planMidx, type WriterPack, writeMidx } from '../src/midx/writer.js';
import { nodeHash } from '../src/node/hash.js';
import { PackIndex } from '../src/pack/idx.js';
import { buildIdx } from './helpers/pack-bytes.js';
import { prng } from './helpers/prng.js';

function crowdedIds(hash: HashAlgorithm, rnd: () => number): Uint8Array[] {
  const H = hash.size;
  const random = () => Uint8Array.from({ length: H }, () => Math.floor(rnd() * 256));
  const ids: Uint8Array[] = [];
  // 300 ids sharing their first two bytes (one run of 300 after the second-byte split) ...
  for (let i = 0; i < 300; i++) {
    const id = random();
    id[0] = 0x42;
    id[1] = 0x17;
    ids.push(id);
  }
  // ... 40 of them equal in their first 8 bytes (keys tie: the rest of the id decides) ...
  for (let i = 0; i < 40; i++) {
    const id = random();
    id.set([0x42, 0x17, 1, 2, 3, 4, 5, 6]);
    ids.push(id);
  }
  // ... 30 sharing a first byte with 70 others in a short run, and 500 anywhere.
  for (let i = 0; i < 30; i++) {
    const id = random();
    id.set([0x9a, 0x01, 0x02]);
    ids.push(id);
  }
  for (let i = 0; i < 500; i++) ids.push(random());
  return ids;
}

describe('planMidx: crowded prefixes and copies', () => {
  for (const hash of [SHA1, SHA256]) {
    for (const preferred of [-1, 2]) {
      test(`${hash.name}, preferred pack ${preferred}`, () => {
        const rnd = prng(preferred === -1 ? 11 : 12);
        const ids = crowdedIds(hash, rnd);
        const mtimes = [100, 300, 300, 200];
        const names = ['pack-d.idx', 'pack-a.idx', 'pack-c.idx', 'pack-b.idx'];
        const perPack: { oid: Uint8Array; offset: number }[][] = [[], [], [], []];
        let offset = 12;
        const next = () => {
          offset += 17;
          return offset;
        };
        for (const oid of ids) {
          // Each id in one to three packs (copies), and now and then twice in pack 0.
          const copies = 1 + Math.floor(rnd() * 3);
          const start = Math.floor(rnd() * 4);
          for (let c = 0; c < copies; c++) perPack[(start + c) % 4].push({ oid, offset: next() });
          if (rnd() < 0.02) {
            perPack[0].push({ oid, offset: next() });
            perPack[0].push({ oid, offset: next() });
          }
        }
        const packs: WriterPack[] = perPack.map((entries, p) => ({
          name: names[p],
          mtime: mtimes[p],
          idx: PackIndex.fromBytes(
            buildIdx(
              hash,
              entries.map((e) => ({ ...e, crc: 0 })),
              new Uint8Array(hash.size),
            ),
            {
              hash,
              file: names[p],
            },
          ),
        }));

        const plan = planMidx({ hash, packs, preferred });
        const parts: Uint8Array[] = [];
        writeMidx({ write: (b) => parts.push(Uint8Array.from(b)) }, plan, nodeHash);
        const midx = MultiPackIndex.fromBytes(Buffer.concat(parts), { hash });

        // The reference: every entry, sorted by id, then by Git's choice among copies.
        const all = perPack.flatMap((entries, p) =>
          entries
            .map((e, i) => ({ ...e, i }))
            .sort((a, b) => Buffer.compare(a.oid, b.oid) || a.i - b.i)
            .map((e, pos) => ({ hex: toHex(e.oid), pack: p, offset: e.offset, pos })),
        );
        all.sort(
          (a, b) =>
            (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0) ||
            Number(b.pack === preferred) - Number(a.pack === preferred) ||
            mtimes[b.pack] - mtimes[a.pack] ||
            a.pack - b.pack ||
            a.pos - b.pos,
        );
        const winners = all.filter((e, i) => i === 0 || all[i - 1].hex !== e.hex);
        assert.equal(midx.numObjects, winners.length);
        assert.equal(winners.length, new Set(ids.map((x) => toHex(x))).size);
        winners.forEach((w, i) => {
          assert.equal(toHex(midx.oidAt(i)), w.hex, `id at ${i}`);
          const got = midx.lookup(midx.oidAt(i))!;
          assert.equal(got.packName, names[w.pack], `pack of ${w.hex}`);
          assert.equal(got.offset, w.offset, `offset of ${w.hex}`);
        });
        midx.close();
      });
    }
  }
});
