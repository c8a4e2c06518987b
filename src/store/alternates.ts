/**
 * Alternate object directories read through a storage (spec: docs/formats.md, "Alternates"): the
 * portable counterpart of `readAlternates` in src/node/repo.ts, which also reads Git's environment
 * variable and compares real paths. `info/alternates` entries are resolved against the object
 * directory holding the file; on a remote storage `info/http-alternates` is read as well (Git's
 * dumb HTTP transport reads both). Each accepted directory's own files are read right after it, one
 * level deeper, at most 5 levels; duplicates and the main directory are skipped.
 */
import type { StoreFiles } from '../storage/resident.js';
import { joinPath } from '../storage/storage.js';

/** Deepest alternates file Git reads: the main directory's is depth 0. */
const MAX_ALTERNATE_DEPTH = 5;
/** Largest alternates file read. */
const MAX_ALTERNATES_BYTES = 16 * 1024 * 1024;

const decoder = new TextDecoder();

/** The alternate object directories of `objectDir`, in Git's order; warnings go to `warn`. */
export function readAlternateDirs(
  files: StoreFiles,
  objectDir: string,
  warn: (message: string) => void,
): string[] {
  const dirs: string[] = [];
  const seen = new Set<string>([files.resolve(objectDir, '.')]);
  const readFrom = (dir: string, depth: number): void => {
    const names = files.remote ? ['alternates', 'http-alternates'] : ['alternates'];
    for (const name of names) {
      const bytes = files.readFile(joinPath(joinPath(dir, 'info'), name), MAX_ALTERNATES_BYTES);
      if (bytes === undefined || bytes.length === 0) continue;
      if (depth > MAX_ALTERNATE_DEPTH) {
        warn(`${dir}: ignoring alternate object stores, nesting too deep`);
        return;
      }
      forEachAlternate(decoder.decode(bytes), '\n', (entry) => {
        const target = files.resolve(dir, entry);
        if (seen.has(target)) return;
        seen.add(target);
        dirs.push(target);
        readFrom(target, depth + 1);
      });
    }
  };
  readFrom(objectDir, 0);
  return dirs;
}

const C_SIMPLE: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};

/**
 * C-style unquoting of `"…"` at s[i]: the text and the index of the closing quote, or undefined.
 * Runs between escapes are copied as slices (one pass, no string grown a character at a time).
 */
function unquoteC(s: string, i: number): { text: string; close: number } | undefined {
  const parts: string[] = [];
  let j = i + 1;
  for (;;) {
    let k = j;
    while (k < s.length && s[k] !== '"' && s[k] !== '\\') k++;
    if (k >= s.length) return undefined;
    if (k > j) parts.push(s.slice(j, k));
    if (s[k] === '"') return { text: parts.join(''), close: k };
    const e = s[k + 1];
    if (e !== undefined && e in C_SIMPLE) {
      parts.push(C_SIMPLE[e]);
      j = k + 2;
    } else if (e !== undefined && e >= '0' && e <= '3' && isOctal(s[k + 2]) && isOctal(s[k + 3])) {
      parts.push(String.fromCharCode(Number.parseInt(s.slice(k + 1, k + 4), 8)));
      j = k + 4;
    } else return undefined;
  }
}

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '7';
}

/**
 * Splits an alternates list (§6.3), calling `fn` for each entry: entries separated by `sep`;
 * empty entries are skipped; an entry *starting* with `#` is a comment up to the next separator;
 * an entry starting with `"` is C-quoted (the quote may span separators), and when the quoting is
 * bad the raw entry is used. Nothing is trimmed. Observed on git 2.39: after a closing quote
 * exactly one character is skipped, whatever it is, and the next entry starts right after it
 * (`"a" b` gives `a` and `b`). One pass over the text.
 */
export function forEachAlternate(s: string, sep: string, fn: (entry: string) => void): void {
  let i = 0;
  while (i < s.length) {
    if (s[i] === sep) {
      i++;
      continue;
    }
    let end = s.indexOf(sep, i);
    if (end < 0) end = s.length;
    if (s[i] === '#') {
      i = end + 1;
      continue;
    }
    if (s[i] === '"') {
      const q = unquoteC(s, i);
      if (q) {
        if (q.text !== '') fn(q.text);
        i = q.close + 2;
        continue;
      }
    }
    fn(s.slice(i, end));
    i = end + 1;
  }
}
