/**
 * A repository held in memory as a `Storage`: paths (joined with `/`) to bytes. For tests, for a
 * repository fetched whole (an archive, IndexedDB), and for browsers with no file system.
 */
import { GitMidxError } from '../errors.js';
import { bufferReader } from '../io.js';
import { normalizePath, type Storage } from './storage.js';

/**
 * A storage over `files` (path → bytes; a Map is read live, so files can be added later). Paths
 * are normalised (`a/./b`, `a/x/../b`); directories are implied by the paths under them.
 */
export function memoryStorage(
  files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>,
  options: { name?: string; mtimeMs?: (path: string) => number } = {},
): Storage {
  const get = (p: string): Uint8Array | undefined => {
    const key = normalizePath(p);
    return files instanceof Map ? files.get(key) : (files as Record<string, Uint8Array>)[key];
  };
  const keys = (): Iterable<string> => (files instanceof Map ? files.keys() : Object.keys(files));
  return {
    name: options.name ?? 'memory',
    remote: false,
    list(dir) {
      const prefix = normalizePath(dir);
      const under = prefix === '' ? '' : `${prefix}/`;
      const names = new Set<string>();
      for (const k of keys()) {
        if (!k.startsWith(under)) continue;
        const rest = k.slice(under.length);
        const slash = rest.indexOf('/');
        names.add(slash < 0 ? rest : rest.slice(0, slash));
      }
      return names.size === 0 ? undefined : [...names];
    },
    readFile(path, maxBytes) {
      const b = get(path);
      if (b === undefined) return undefined;
      if (b.length > maxBytes) {
        throw new GitMidxError('FILE_TOO_LARGE', `${path}: ${b.length} bytes, more than ${maxBytes}`, {
          file: path,
          data: { size: b.length, limit: maxBytes },
        });
      }
      return b;
    },
    stat(path) {
      const b = get(path);
      if (b === undefined) return undefined;
      const mtimeMs = options.mtimeMs?.(normalizePath(path)) ?? 0;
      return { size: b.length, mtimeMs, identity: `${b.length}:${mtimeMs}` };
    },
    open(path) {
      const b = get(path);
      return b === undefined ? undefined : bufferReader(b);
    },
    resolve: (base, relative) => normalizePath(relative.startsWith('/') ? relative : `${base}/${relative}`),
  };
}
