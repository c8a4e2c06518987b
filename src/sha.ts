/**
 * SHA-1 (FIPS 180-4 §6.1) and SHA-256 (§6.2) in plain TypeScript, synchronous and incremental: the
 * portable `HashFunction` for platforms without node:crypto (src/node/hash.ts is the Node one).
 *
 * Blocks of 64 bytes are read straight from the caller's bytes (only a partial block is copied),
 * with 32-bit integer arithmetic and one message-schedule array per hasher: nothing is allocated
 * per block.
 */
import type { HashAlgorithm, Hasher, HashFunction } from './hash.js';

const BLOCK = 64;

/** Buffering, padding and the length field shared by both algorithms (§5.1.1: big-endian). */
abstract class BlockHasher implements Hasher {
  private readonly tail = new Uint8Array(BLOCK);
  private tailLen = 0;
  /** Message length in bytes so far. */
  private length = 0;
  private done = false;

  /** Compresses the whole blocks of `b[off, end)` (`end - off` is a multiple of 64) into the state. */
  protected abstract blocks(b: Uint8Array, off: number, end: number): void;
  /** The state as big-endian bytes. */
  protected abstract output(): Uint8Array;

  update(data: Uint8Array): void {
    if (this.done) throw new Error('hash updated after digest()');
    let n = data.length;
    this.length += n;
    let at = 0;
    if (this.tailLen > 0) {
      const take = Math.min(n, BLOCK - this.tailLen);
      this.tail.set(data.subarray(0, take), this.tailLen);
      this.tailLen += take;
      at = take;
      n -= take;
      if (this.tailLen < BLOCK) return;
      this.blocks(this.tail, 0, BLOCK);
      this.tailLen = 0;
    }
    const whole = n - (n % BLOCK);
    if (whole > 0) this.blocks(data, at, at + whole);
    if (whole < n) {
      this.tail.set(data.subarray(at + whole), 0);
      this.tailLen = n - whole;
    }
  }

  digest(): Uint8Array {
    if (this.done) throw new Error('digest() called twice');
    this.done = true;
    const t = this.tail;
    let p = this.tailLen;
    t[p++] = 0x80;
    if (p > BLOCK - 8) {
      t.fill(0, p);
      this.blocks(t, 0, BLOCK);
      p = 0;
    }
    t.fill(0, p, BLOCK - 8);
    // The length in bits, as a 64-bit big-endian integer.
    const bits = this.length * 8;
    const hi = Math.floor(bits / 0x100000000);
    const lo = bits >>> 0;
    t[56] = hi >>> 24;
    t[57] = hi >>> 16;
    t[58] = hi >>> 8;
    t[59] = hi;
    t[60] = lo >>> 24;
    t[61] = lo >>> 16;
    t[62] = lo >>> 8;
    t[63] = lo;
    this.blocks(t, 0, BLOCK);
    return this.output();
  }
}

function bigEndian(words: Int32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    out[4 * i] = w >>> 24;
    out[4 * i + 1] = w >>> 16;
    out[4 * i + 2] = w >>> 8;
    out[4 * i + 3] = w;
  }
  return out;
}

/**
 * Plain SHA-1. Git hashes with SHA-1DC, which detects the known collision attacks and rejects such
 * inputs; this does not, so it agrees with Git on every input except crafted collisions.
 */
class Sha1 extends BlockHasher {
  private readonly h = Int32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0);
  private readonly w = new Int32Array(80);

  protected blocks(b: Uint8Array, off: number, end: number): void {
    const w = this.w;
    const h = this.h;
    let h0 = h[0];
    let h1 = h[1];
    let h2 = h[2];
    let h3 = h[3];
    let h4 = h[4];
    for (let p = off; p < end; p += BLOCK) {
      for (let i = 0; i < 16; i++) {
        const q = p + 4 * i;
        w[i] = (b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3];
      }
      for (let i = 16; i < 80; i++) {
        const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
        w[i] = (x << 1) | (x >>> 31);
      }
      let a = h0;
      let bb = h1;
      let c = h2;
      let d = h3;
      let e = h4;
      let i = 0;
      for (; i < 20; i++) {
        const t = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + w[i] + 0x5a827999) | 0;
        e = d;
        d = c;
        c = (bb << 30) | (bb >>> 2);
        bb = a;
        a = t;
      }
      for (; i < 40; i++) {
        const t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + w[i] + 0x6ed9eba1) | 0;
        e = d;
        d = c;
        c = (bb << 30) | (bb >>> 2);
        bb = a;
        a = t;
      }
      for (; i < 60; i++) {
        const t = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e + w[i] - 0x70e44324) | 0;
        e = d;
        d = c;
        c = (bb << 30) | (bb >>> 2);
        bb = a;
        a = t;
      }
      for (; i < 80; i++) {
        const t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + w[i] - 0x359d3e2a) | 0;
        e = d;
        d = c;
        c = (bb << 30) | (bb >>> 2);
        bb = a;
        a = t;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + bb) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
    }
    h[0] = h0;
    h[1] = h1;
    h[2] = h2;
    h[3] = h3;
    h[4] = h4;
  }

  protected output(): Uint8Array {
    return bigEndian(this.h);
  }
}

/** SHA-256 round constants (§4.2.2). */
const K256 = Int32Array.of(
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
);

class Sha256 extends BlockHasher {
  private readonly h = Int32Array.of(
    0x6a09e667,
    0xbb67ae85,
    0x3c6ef372,
    0xa54ff53a,
    0x510e527f,
    0x9b05688c,
    0x1f83d9ab,
    0x5be0cd19,
  );
  private readonly w = new Int32Array(64);

  protected blocks(b: Uint8Array, off: number, end: number): void {
    const w = this.w;
    const h = this.h;
    const k = K256;
    let h0 = h[0];
    let h1 = h[1];
    let h2 = h[2];
    let h3 = h[3];
    let h4 = h[4];
    let h5 = h[5];
    let h6 = h[6];
    let h7 = h[7];
    for (let p = off; p < end; p += BLOCK) {
      for (let i = 0; i < 16; i++) {
        const q = p + 4 * i;
        w[i] = (b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3];
      }
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15];
        const y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (s1 + w[i - 7] + s0 + w[i - 16]) | 0;
      }
      let a = h0;
      let bb = h1;
      let c = h2;
      let d = h3;
      let e = h4;
      let f = h5;
      let g = h6;
      let hh = h7;
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + k[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        hh = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = bb;
        bb = a;
        a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + bb) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
      h5 = (h5 + f) | 0;
      h6 = (h6 + g) | 0;
      h7 = (h7 + hh) | 0;
    }
    h[0] = h0;
    h[1] = h1;
    h[2] = h2;
    h[3] = h3;
    h[4] = h4;
    h[5] = h5;
    h[6] = h6;
    h[7] = h7;
  }

  protected output(): Uint8Array {
    return bigEndian(this.h);
  }
}

/**
 * Synchronous SHA-1 and SHA-256 in plain TypeScript, for platforms without node:crypto (browsers,
 * workers). Each call gives a fresh incremental hasher: `update(bytes)` any number of times, then
 * `digest()` once (20 or 32 bytes); both throw after `digest()`. SHA-1 is the plain algorithm,
 * without Git's SHA-1DC collision detection (the results agree except on crafted collisions).
 */
export const jsHash: HashFunction = (algorithm: HashAlgorithm): Hasher =>
  algorithm.name === 'sha1' ? new Sha1() : new Sha256();
