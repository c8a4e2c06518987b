/**
 * Hash algorithms Git supports. The portable core never hashes by itself: a `HashFunction` comes in
 * from the platform adapter (node:crypto in src/node).
 */
export interface HashAlgorithm {
  readonly name: 'sha1' | 'sha256';
  /** The byte Git stores in MIDX/.rev headers (`oid_version()`): 1 = SHA-1, 2 = SHA-256. */
  readonly formatId: 1 | 2;
  /** Raw id length H in bytes. */
  readonly size: 20 | 32;
  readonly hexSize: 40 | 64;
}

export const SHA1: HashAlgorithm = Object.freeze({ name: 'sha1', formatId: 1, size: 20, hexSize: 40 });
export const SHA256: HashAlgorithm = Object.freeze({
  name: 'sha256',
  formatId: 2,
  size: 32,
  hexSize: 64,
});

export function hashByFormatId(id: number): HashAlgorithm | undefined {
  return id === 1 ? SHA1 : id === 2 ? SHA256 : undefined;
}

export function hashByName(name: string): HashAlgorithm | undefined {
  return name === 'sha1' ? SHA1 : name === 'sha256' ? SHA256 : undefined;
}

export interface Hasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** Creates a fresh incremental hasher for an algorithm. */
export type HashFunction = (algorithm: HashAlgorithm) => Hasher;
