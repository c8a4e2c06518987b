import type { HashAlgorithm, Hasher, HashFunction } from '../hash.js';
import { crypto } from './builtins.js';

/** node:crypto hashing; plain SHA-1 reproduces Git's trailers (Git's SHA-1DC differs only on collisions). */
export const nodeHash: HashFunction = (algorithm: HashAlgorithm): Hasher => {
  const h = crypto().createHash(algorithm.name);
  return {
    update(data) {
      h.update(data);
    },
    digest() {
      return new Uint8Array(h.digest());
    },
  };
};
