/**
 * Refs and the revision syntax people pass to `cat-file` (spec/objects-format.md; Git's
 * gitrevisions(7)): loose refs, `packed-refs`, symbolic refs (`HEAD`), ref names as `git rev-parse`
 * resolves them (`<name>`, `refs/<name>`, `refs/tags/…`, `refs/heads/…`, `refs/remotes/…`,
 * `refs/remotes/<name>/HEAD`), full and abbreviated ids, and the suffixes `^{<type>}`, `^{}`,
 * `~<n>`, `^<n>` and `:<path>`.
 *
 * Every file read is bounded (a ref is small; `packed-refs` is read once, regular files only) and
 * symbolic refs are followed at most 5 levels, as Git does.
 */
import { fromHex, toHex, utf8 } from '../bytes.js';

const decoder = new TextDecoder();

import { GitMidxError, isGitMidxError } from '../errors.js';
import type { ObjectType } from '../pack/pack.js';
import type { StoreFiles } from '../storage/resident.js';
import { joinPath } from '../storage/storage.js';
import type { ObjectStore } from './object-store.js';

/** Symbolic refs followed at most this deep (Git's SYMREF_MAXDEPTH). */
const MAX_SYMREF_DEPTH = 5;
/** A loose ref file larger than this is not a ref. */
const MAX_REF_FILE = 4096;
/** Git's order of trying a short name (`git rev-parse`, refs.c `ref_rev_parse_rules`). */
const DWIM_RULES = [
  '%s',
  'refs/%s',
  'refs/tags/%s',
  'refs/heads/%s',
  'refs/remotes/%s',
  'refs/remotes/%s/HEAD',
];

/** Largest `packed-refs` read, in bytes. */
const MAX_PACKED_REFS = 1 << 30;

/** A ref path that names a directory (`refs/heads` asked as a ref): not a ref. */
function isDirError(e: unknown): boolean {
  const code = (e as { data?: { errno?: unknown } })?.data?.errno ?? (e as { code?: unknown })?.code;
  return code === 'EISDIR';
}

export interface RefStoreOptions {
  /** The git directory (`.git`, a bare repository, or a linked worktree's). */
  gitDir: string;
  /** Where `refs/` and `packed-refs` live (default `gitDir`). */
  commonDir?: string;
  /** The repository's `extensions.refstorage`, if set: only `files` is supported. */
  refStorage?: string;
  /** Where the ref files are read (`storeFiles(nodeStorage())` on Node, or any storage). */
  files: StoreFiles;
}

/** Refs of one repository, in the files backend. */
export class RefStore {
  readonly gitDir: string;
  readonly commonDir: string;
  private packed: Map<string, string> | undefined;
  private readonly files: StoreFiles;

  constructor(opts: RefStoreOptions) {
    this.files = opts.files;
    this.gitDir = opts.gitDir;
    this.commonDir = opts.commonDir ?? opts.gitDir;
    const storage = opts.refStorage?.toLowerCase();
    if (storage !== undefined && storage !== 'files') {
      throw new GitMidxError(
        'REFS_UNSUPPORTED',
        `${this.gitDir}: refs stored as ${storage} cannot be read (only the files backend is supported)`,
        { file: this.gitDir, data: { refStorage: storage } },
      );
    }
  }

  /** The id `name` (a full ref name such as `HEAD` or `refs/heads/main`) points to, or undefined. */
  resolve(name: string): Uint8Array | undefined {
    let ref = name;
    for (let depth = 0; depth <= MAX_SYMREF_DEPTH; depth++) {
      if (!isRefName(ref)) return undefined;
      const value = this.readLoose(ref) ?? this.readPacked(ref);
      if (value === undefined) return undefined;
      if (value.startsWith('ref:')) {
        ref = value.slice(4).trim();
        continue;
      }
      return fromHex(value);
    }
    return undefined;
  }

  /** A loose ref's text, first line only (`FETCH_HEAD` holds several), or undefined. */
  private readLoose(ref: string): string | undefined {
    // HEAD and the other root refs are per worktree; refs/ is shared.
    const base = ref.startsWith('refs/') ? this.commonDir : this.gitDir;
    let bytes: Uint8Array | undefined;
    try {
      bytes = this.files.readFile(joinPath(base, ref), MAX_REF_FILE);
    } catch (e) {
      if (isGitMidxError(e, 'NOT_REGULAR_FILE') || isGitMidxError(e, 'FILE_TOO_LARGE') || isDirError(e))
        return undefined;
      throw e;
    }
    if (bytes === undefined) return undefined;
    const text = decoder.decode(bytes);
    const line = text.split('\n', 1)[0].trim();
    if (line.startsWith('ref:')) return line;
    const hex = /^[0-9a-f]+/.exec(line)?.[0];
    return hex !== undefined && (hex.length === 40 || hex.length === 64) ? hex : undefined;
  }

  private readPacked(ref: string): string | undefined {
    if (this.packed === undefined) {
      const bytes = this.files.readFile(joinPath(this.commonDir, 'packed-refs'), MAX_PACKED_REFS);
      const text = bytes === undefined ? '' : decoder.decode(bytes);
      this.packed = new Map();
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#') || line.startsWith('^')) continue;
        const sp = line.indexOf(' ');
        if (sp !== 40 && sp !== 64) continue;
        const hex = line.slice(0, sp);
        if (/^[0-9a-f]+$/.test(hex)) this.packed.set(line.slice(sp + 1), hex);
      }
    }
    return this.packed.get(ref);
  }

  /**
   * Every ref (`refs/…`, loose ones over packed ones) with the id it resolves to, sorted by name,
   * then `HEAD` when it resolves. A storage that cannot list directories (static HTTP) gives the
   * refs of `info/refs` instead of the loose ones.
   */
  all(): { name: string; oid: Uint8Array }[] {
    const names = new Set<string>();
    this.readPacked('HEAD');
    for (const n of this.packed!.keys()) if (n.startsWith('refs/')) names.add(n);
    const listed = this.listLoose('refs', names);
    if (!listed) {
      const info = this.files.readFile(joinPath(this.gitDir, 'info/refs'), MAX_PACKED_REFS);
      for (const line of info === undefined ? [] : decoder.decode(info).split('\n')) {
        const tab = line.indexOf('\t');
        if (tab > 0 && !line.endsWith('^{}')) names.add(line.slice(tab + 1));
      }
    }
    const out: { name: string; oid: Uint8Array }[] = [];
    for (const name of [...names].sort()) {
      const oid = this.resolve(name);
      if (oid !== undefined) out.push({ name, oid });
    }
    const head = this.resolve('HEAD');
    if (head !== undefined) out.push({ name: 'HEAD', oid: head });
    return out;
  }

  /** Adds the loose refs under `dir` (relative to the common directory); false if it cannot list. */
  private listLoose(dir: string, into: Set<string>): boolean {
    const entries = this.files.list(joinPath(this.commonDir, dir));
    if (entries === null) return false;
    for (const e of entries ?? []) {
      const name = `${dir}/${e}`;
      const st = this.files.stat(joinPath(this.commonDir, name));
      if (st === undefined) continue;
      if (st.regular === false) this.listLoose(name, into);
      else if (isRefName(name)) into.add(name);
    }
    return true;
  }

  /** A short name resolved as `git rev-parse` does (`main`, `tags/v1`, `origin`), or undefined. */
  dwim(name: string): Uint8Array | undefined {
    for (const rule of DWIM_RULES) {
      const oid = this.resolve(rule.replace('%s', name));
      if (oid !== undefined) return oid;
    }
    return undefined;
  }
}

/** Whether `name` could be a ref name (Git's check-ref-format, the parts that matter for reading). */
function isRefName(name: string): boolean {
  if (
    name === '' ||
    name.startsWith('/') ||
    name.endsWith('/') ||
    name.endsWith('.') ||
    name.endsWith('.lock')
  )
    return false;
  if (/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{/.test(name)) return false;
  return name.split('/').every((c) => c !== '' && !c.startsWith('.'));
}

function notFound(rev: string, why: string): GitMidxError {
  return new GitMidxError('REVISION_NOT_FOUND', `${rev}: ${why}`, {
    data: { revision: rev, git: `Not a valid object name ${rev}` },
  });
}

/**
 * Resolves revisions against a store and its refs. `abbrev` resolves a short hex id (throwing
 * OBJECT_AMBIGUOUS when several match), as the store's `resolvePrefix` does.
 */
export class RevisionResolver {
  constructor(
    private readonly store: ObjectStore,
    private readonly refs: RefStore,
  ) {}

  /** The id `rev` names; REVISION_NOT_FOUND (or OBJECT_AMBIGUOUS) when it names nothing. */
  resolve(rev: string): Uint8Array {
    const colon = rev.indexOf(':');
    if (colon === 0) throw notFound(rev, 'paths in the index are not supported');
    if (colon > 0) {
      const tree = this.peel(this.resolveRev(rev.slice(0, colon), rev), 'tree', rev);
      return this.walkPath(tree, rev.slice(colon + 1), rev);
    }
    return this.resolveRev(rev, rev);
  }

  private resolveRev(s: string, whole: string): Uint8Array {
    // `<rev>^{<type>}` and `<rev>^{}`
    if (s.endsWith('}')) {
      const open = s.lastIndexOf('^{');
      if (open < 0) throw notFound(whole, 'unbalanced braces');
      const base = this.resolveRev(s.slice(0, open), whole);
      const what = s.slice(open + 2, -1);
      if (what === '') return this.peelTags(base, whole);
      if (what === 'object') return base;
      if (what === 'commit' || what === 'tree' || what === 'blob' || what === 'tag')
        return this.peel(base, what, whole);
      throw notFound(whole, `unknown peel ^{${what}}`);
    }
    // `<rev>~<n>`, `<rev>^<n>` (no digits: 1)
    const m = /^(.*?)([~^])(\d*)$/s.exec(s);
    if (m && m[1] !== '') {
      const base = this.resolveRev(m[1], whole);
      const n = m[3] === '' ? 1 : Number(m[3]);
      if (!Number.isSafeInteger(n)) throw notFound(whole, 'number too large');
      let c = this.peel(base, 'commit', whole);
      if (m[2] === '^') {
        if (n === 0) return c;
        const parents = this.parents(c, whole);
        if (n > parents.length) throw notFound(whole, `no parent ${n}`);
        return parents[n - 1];
      }
      for (let i = 0; i < n; i++) {
        const parents = this.parents(c, whole);
        if (parents.length === 0) throw notFound(whole, 'no first parent');
        c = parents[0];
      }
      return c;
    }
    return this.basic(s, whole);
  }

  /** A full hex id, a ref name, or an abbreviated id, in Git's order. */
  private basic(s: string, whole: string): Uint8Array {
    const hexSize = this.store.hash.hexSize;
    if (s.length === hexSize && /^[0-9a-fA-F]+$/.test(s)) return fromHex(s.toLowerCase())!;
    const name = s === '@' ? 'HEAD' : s;
    const ref = this.refs.dwim(name);
    if (ref !== undefined) return ref;
    if (s.length >= 4 && s.length < hexSize && /^[0-9a-fA-F]+$/.test(s)) {
      const oid = this.store.resolvePrefix(s);
      if (oid !== undefined) return oid;
    }
    throw notFound(whole, `no object or ref named ${s}`);
  }

  private read(oid: Uint8Array, whole: string): { type: ObjectType; data: Uint8Array } {
    const o = this.store.readObject(oid);
    if (o === undefined) throw notFound(whole, `object ${toHex(oid)} is missing`);
    return o;
  }

  /** The object's type, from its header alone (a tree or blob peeled to is not read here). */
  private typeOf(oid: Uint8Array, whole: string): ObjectType {
    const info = this.store.objectInfo(oid);
    if (info === undefined) throw notFound(whole, `object ${toHex(oid)} is missing`);
    return info.type;
  }

  /** Tags peeled until something else. */
  private peelTags(oid: Uint8Array, whole: string): Uint8Array {
    let cur = oid;
    for (let depth = 0; depth < 100; depth++) {
      if (this.typeOf(cur, whole) !== 'tag') return cur;
      cur = this.header(this.read(cur, whole).data, 'object', whole);
    }
    throw notFound(whole, 'tags nested too deep');
  }

  /** `oid` peeled to `type`: tags followed; a commit gives its tree for `tree`. */
  private peel(oid: Uint8Array, type: ObjectType, whole: string): Uint8Array {
    let cur = oid;
    for (let depth = 0; depth < 100; depth++) {
      const t = this.typeOf(cur, whole);
      if (t === type) return cur;
      if (t === 'tag') cur = this.header(this.read(cur, whole).data, 'object', whole);
      else if (t === 'commit' && type === 'tree')
        cur = this.header(this.read(cur, whole).data, 'tree', whole);
      else throw notFound(whole, `${toHex(cur)} is a ${t}, not a ${type}`);
    }
    throw notFound(whole, 'tags nested too deep');
  }

  /** The first `<key> <hex>` header line of a commit or tag. */
  private header(data: Uint8Array, key: string, whole: string): Uint8Array {
    const all = this.headers(data, key);
    if (all.length === 0) throw notFound(whole, `no ${key} line`);
    return all[0];
  }

  private headers(data: Uint8Array, key: string): Uint8Array[] {
    const text = decoder.decode(data.subarray(0, Math.min(data.length, 1 << 20)));
    const out: Uint8Array[] = [];
    for (const line of text.split('\n')) {
      if (line === '') break;
      if (line.startsWith(`${key} `)) {
        const id = fromHex(line.slice(key.length + 1).trim());
        if (id !== undefined && id.length === this.store.hash.size) out.push(id);
      }
    }
    return out;
  }

  private parents(commit: Uint8Array, whole: string): Uint8Array[] {
    return this.headers(this.read(commit, whole).data, 'parent');
  }

  /** The entry at `p` (components split on `/`) under `tree`; the tree itself for an empty path. */
  private walkPath(tree: Uint8Array, p: string, whole: string): Uint8Array {
    let cur = tree;
    const parts = p.split('/').filter((c) => c !== '' && c !== '.');
    for (let i = 0; i < parts.length; i++) {
      const o = this.read(cur, whole);
      if (o.type !== 'tree') throw notFound(whole, `path '${p}' does not exist`);
      const next = findEntry(o.data, parts[i], this.store.hash.size);
      if (next === undefined) throw notFound(whole, `path '${p}' does not exist`);
      cur = next;
    }
    return cur;
  }
}

/** The id of entry `name` in a tree's bytes (`<mode> <name>\0<id>` entries), or undefined. */
function findEntry(data: Uint8Array, name: string, H: number): Uint8Array | undefined {
  const want = utf8(name);
  let at = 0;
  while (at < data.length) {
    const sp = data.indexOf(0x20, at);
    const nul = sp < 0 ? -1 : data.indexOf(0, sp + 1);
    if (nul < 0 || nul + 1 + H > data.length) return undefined;
    const len = nul - sp - 1;
    if (len === want.length) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (data[sp + 1 + i] !== want[i]) {
          same = false;
          break;
        }
      }
      if (same) return data.slice(nul + 1, nul + 1 + H);
    }
    at = nul + 1 + H;
  }
  return undefined;
}
