import type { HashAlgorithm, Hasher, HashFunction } from '../hash.js';
import { crypto } from './builtins.js';

/** Bytes given to one `Hash.update` at most. */
const UPDATE_MAX = 1 << 30;

/** node:crypto hashing; plain SHA-1 reproduces Git's trailers (Git's SHA-1DC differs only on collisions). */
export const nodeHash: HashFunction = (algorithm: HashAlgorithm): Hasher => {
  const h = crypto().createHash(algorithm.name);
  return {
    update(data) {
      // node:crypto refuses inputs of 2 GiB and more ("data is too long"): larger ones go in pieces.
      if (data.length <= UPDATE_MAX) {
        h.update(data);
        return;
      }
      for (let at = 0; at < data.length; at += UPDATE_MAX) h.update(data.subarray(at, at + UPDATE_MAX));
    },
    digest() {
      return new Uint8Array(h.digest());
    },
  };
};
