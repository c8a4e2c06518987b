/**
 * File names read from files (a MIDX's PNAM chunk) are data, not paths. These checks say whether a
 * name is a plain file name — one that can only name a file directly inside the directory it is
 * joined to — and quote a name for a message. Portable: no file access here (see node/packdir.ts).
 */

/** Why `name` is not a plain file name, or undefined when it is one. */
export function plainNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name === '.' || name === '..') return 'is a directory reference';
  if (name.includes('/')) return "contains '/'";
  if (name.includes('\\')) return "contains '\\'";
  if (name.includes('\0')) return 'contains NUL';
  return undefined;
}

/**
 * Git's C-style quoting of a name for a message (`"a\\b"`, `"\n"`, `"\303\251"` for bytes outside
 * printable ASCII), cut after `max` characters of input so that a huge name cannot flood a message.
 */
export function quoteName(name: string | Uint8Array, max = 256): string {
  const bytes = typeof name === 'string' ? new TextEncoder().encode(name) : name;
  const n = Math.min(bytes.length, max);
  let out = '"';
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    switch (b) {
      case 0x07:
        out += '\\a';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x09:
        out += '\\t';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0b:
        out += '\\v';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      default:
        out += b < 0x20 || b >= 0x7f ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b);
    }
  }
  out += '"';
  if (bytes.length > n) out += `... (${bytes.length} bytes)`;
  return out;
}

const IDX = [0x2e, 0x69, 0x64, 0x78]; // ".idx"

/** Bytes a pack name must not contain, and how the problem is said. */
const FORBIDDEN: ReadonlyArray<readonly [number, string]> = [
  [0x2f, "contains '/'"],
  [0x5c, "contains '\\'"],
  [0, 'contains NUL'],
];

/**
 * Why a pack name from a MIDX's PNAM chunk (spec/midx-format.md §4.1) is unusable, or undefined:
 * it must be a plain file name ending in `.idx` (Git names packs `pack-<hash>.idx`, but any plain
 * name is a pack to it, so no prefix is required). Checked on the raw bytes, before decoding.
 */
export function packNameProblem(name: Uint8Array): string | undefined {
  const n = name.length;
  if (n === 0) return 'is empty';
  // The first of these bytes names the problem. Native searches: a MIDX of many packs has its
  // names checked on every open, in code not yet optimised.
  let first = n;
  let problem = '';
  for (const [b, what] of FORBIDDEN) {
    const i = name.indexOf(b);
    if (i >= 0 && i < first) {
      first = i;
      problem = what;
    }
  }
  if (problem !== '') return problem;
  if (n < IDX.length || IDX.some((c, i) => name[n - IDX.length + i] !== c)) return 'does not end in .idx';
  return undefined;
}
