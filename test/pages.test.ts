/**
 * The page cache (src/io.ts): an evicted page's buffer is reused only when none of its bytes left
 * the reader as a view; a view handed out by `read` or `page` keeps its bytes whatever is read
 * after it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PagedReader, PagePool, type RandomAccessReader, SlabPool } from '../src/io.js';

const PAGE = 4096;

/** A file of `pages` pages, each byte telling its page and place; read through `readInto` only. */
function fileOf(pages: number): { reader: RandomAccessReader; bytes: Uint8Array } {
  const bytes = new Uint8Array(pages * PAGE);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.floor(i / PAGE) * 31 + i) & 0xff;
  return {
    bytes,
    reader: {
      size: bytes.length,
      readInto(into, offset, length, pos) {
        into.set(bytes.subarray(pos, pos + length), offset);
      },
      close() {},
    },
  };
}

test('views from read() and page() keep their bytes after their pages are evicted', () => {
  const { reader, bytes } = fileOf(64);
  const pool = new PagePool(PAGE, 64);
  // Four pages cached at most: every few reads evict one.
  const r = new PagedReader(reader, { pool, cacheBytes: 4 * PAGE });
  const views: [Uint8Array, number][] = [];
  for (let p = 0; p < 64; p++) {
    if (p % 3 === 0) views.push([r.read(p * PAGE + 100, 200), p * PAGE + 100]);
    else if (p % 3 === 1) views.push([r.page(p), p * PAGE]);
    // The third kind: brief reads, whose pages go back to the pool when evicted.
    else for (let k = 0; k < 4; k++) r.u32(p * PAGE + k * 1000);
  }
  for (const [v, at] of views) assert.deepEqual(v, bytes.subarray(at, at + v.length), `view at ${at}`);
});

test('a page only read briefly goes back to the pool when evicted, and the pool serves the next page', () => {
  const { reader, bytes } = fileOf(16);
  const pool = new PagePool(PAGE, 64);
  const r = new PagedReader(reader, { pool, cacheBytes: 4 * PAGE });
  const seen = new Set<ArrayBuffer>();
  for (let p = 0; p < 16; p++) {
    const b = r.bytesAt(p * PAGE + 8, 4);
    assert.deepEqual(b.subarray(r.at, r.at + 4), bytes.subarray(p * PAGE + 8, p * PAGE + 12));
    seen.add(b.buffer as ArrayBuffer);
  }
  // 16 pages through a cache of 4: the buffers of evicted pages were reused.
  assert.ok(seen.size <= 5, `${seen.size} buffers for 16 pages`);
  // A page lent once is never reused, even if it is later read briefly.
  const lent = new PagedReader(reader, { pool: new PagePool(PAGE, 64), cacheBytes: 4 * PAGE });
  const held = lent.read(0, 16);
  const before = held.slice();
  for (let p = 1; p < 16; p++) lent.bytesAt(p * PAGE, 4);
  lent.bytesAt(0, 4);
  for (let p = 1; p < 16; p++) lent.bytesAt(p * PAGE, 4);
  assert.deepEqual(held, before);
});

test('small files read whole one after another refill the slabs of the ones released before them', () => {
  const pool = new SlabPool(1 << 20);
  const seen = new Set<ArrayBuffer>();
  // Files of different sizes (each one page: read whole), as a scan over many small packs meets them.
  for (let f = 0; f < 12; f++) {
    const size = 3000 + f * 1500;
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (f * 7 + i * 13) & 0xff;
    const reader: RandomAccessReader = {
      size,
      readInto(into, offset, length, pos) {
        into.set(bytes.subarray(pos, pos + length), offset);
      },
      close() {},
    };
    const r = new PagedReader(reader, { pool, pageSize: size, cacheBytes: size });
    const page = r.bytesAt(0, size);
    assert.equal(page.length, size);
    assert.deepEqual(page, bytes, `file ${f}`);
    assert.equal(page.buffer.byteLength, SlabPool.capacityFor(size));
    seen.add(page.buffer as ArrayBuffer);
    r.releasePages();
  }
  // Sizes from 3,000 to 19,500 bytes fall in four classes (4, 8, 16 and 32 KiB): one slab each.
  assert.equal(seen.size, 4);
  // What the pool keeps is bounded: a slab past its budget goes to the garbage collector.
  const small = new SlabPool(8192);
  const a = new ArrayBuffer(8192);
  const b = new ArrayBuffer(4096);
  small.give(a);
  small.give(b);
  assert.equal(small.take(5000), a);
  const c = small.take(3000);
  assert.notEqual(c, b);
  assert.equal(c.byteLength, 4096);
  // A buffer of no class is not kept.
  const odd = new ArrayBuffer(5000);
  small.give(odd);
  assert.notEqual(small.take(3000), odd);
  assert.notEqual(small.take(5000), odd);
});
