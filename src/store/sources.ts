import { isGitMidxError } from '../errors.js';
import type { RandomAccessReader } from '../io.js';
import { CHAIN_DIR, CHAIN_FILE, chainSourceIn, loadChain } from '../midx/chain.js';
import { idxName, MultiPackIndex } from '../midx/reader.js';
import { isPending } from '../storage/resident.js';
import { readAlternateDirs } from './alternates.js';
import { counted } from './packs.js';
import {
  diag,
  gitText,
  INFO_PACKS_MAX,
  joinRaw,
  MIDX_NAME,
  type MidxState,
  PackSlot,
  type Source,
  type StoreState,
  utf8Decoder,
} from './state.js';

/**
 * A store's deferred discovery: the packs no MIDX covers (and a remote store's alternates). Returns
 * whether there was any. Re-runnable: everything is read before the store changes, and what it
 * adds is added once.
 */
export function discoverRest(st: StoreState): boolean {
  const d = st.deferred;
  if (d === undefined) return false;
  const warn = (w: string) => diag(st, 'error', w);
  const alts =
    d.alternates === true
      ? readAlternateDirs(st.files, d.dir, warn)
      : typeof d.alternates === 'function'
        ? d.alternates(warn)
        : d.alternates;
  if (alts !== false) {
    for (const a of alts) if (!st.sources.some((s) => s.dir === a)) addSource(st, a, a, false);
  }
  for (const src of st.sources) scanSource(st, src);
  st.deferred = undefined;
  rebuildOrder(st);
  return true;
}

export function addSource(st: StoreState, dir: string, shown: string, local: boolean): void {
  st.sources.push({
    dir,
    shown,
    local,
    packs: new Map(),
    midxs: [],
    midxId: undefined,
    infoOrder: new Map(),
  });
}

/** `<dir>/pack/` and `<shown>/pack/` of each source (for slotFor). */
const packPrefixes = new WeakMap<Source, { dir: string; shown: string }>();

export function slotFor(_st: StoreState, src: Source, name: string): PackSlot {
  const key = idxName(name);
  let slot = src.packs.get(key);
  if (slot === undefined) {
    const stem = key.endsWith('.idx') ? key.slice(0, -4) : key;
    // The pack directory as a prefix, joined once per directory (a MIDX names every pack at once).
    let prefix = packPrefixes.get(src);
    if (prefix === undefined) {
      const at = (dir: string) => joinRaw(joinRaw(dir, 'pack'), '');
      prefix = { dir: at(src.dir), shown: at(src.shown) };
      packPrefixes.set(src, prefix);
    }
    slot = new PackSlot(
      src,
      key,
      `${prefix.dir}${key}`,
      `${prefix.dir}${stem}.pack`,
      `${prefix.shown}${key}`,
      `${prefix.shown}${stem}.pack`,
    );
    src.packs.set(key, slot);
  }
  return slot;
}

/** Loads (or reloads, when the file changed) the directory's MIDX, then lists its pack directory. */
export function scanSource(st: StoreState, src: Source, midxOnly = false): void {
  const packDir = joinRaw(src.dir, 'pack');
  if (st.useMidx) {
    const file = src.local && st.midxFile !== undefined ? st.midxFile : joinRaw(packDir, MIDX_NAME);
    const shown = joinRaw(joinRaw(src.shown, 'pack'), MIDX_NAME);
    const chainFile = joinRaw(joinRaw(packDir, CHAIN_DIR), CHAIN_FILE);
    // A remote MIDX is read once (a static snapshot); a local one again whenever it (or, without
    // a flat file, the chain file) changed.
    const id = st.files.remote
      ? (src.midxId ?? 'remote')
      : (st.files.stat(file)?.identity ?? `chain:${st.files.stat(chainFile)?.identity ?? ''}`);
    if (id !== src.midxId) {
      // Loaded before anything changes: a load that has to wait for bytes is simply re-run.
      const flat = id === 'chain:' ? undefined : loadMidx(st, file, shown);
      // Current Git reads the chain only when there is no usable flat file.
      const layers = flat !== undefined || id === 'chain:' ? [] : loadLayers(st, src, packDir);
      src.midxId = id;
      for (const old of src.midxs) {
        old.midx.close();
        old.disabled = true;
        for (const s of old.slots) if (s.midx === old) s.midx = undefined;
      }
      src.midxs = [];
      for (const midx of flat !== undefined ? [flat] : layers) {
        st.counters.midxLoads++;
        const state: MidxState = { midx, source: src, slots: [], disabled: false };
        for (const name of midx.packNames) {
          const slot = slotFor(st, src, name);
          slot.midx = state;
          state.slots.push(slot);
        }
        src.midxs.push(state);
      }
    }
  }
  if (!midxOnly) listPacks(st, src);
}

/** Lists the source's pack directory (or `info/packs`) for the packs no MIDX of it covers. */
export function listPacks(st: StoreState, src: Source): void {
  const packDir = joinRaw(src.dir, 'pack');
  const listed = st.files.list(packDir);
  // A storage that cannot list (static HTTP) says which packs there are in `info/packs`.
  const names = listed === null ? infoPacks(st, src) : (listed ?? []);
  for (const name of names) {
    if (!name.endsWith('.idx')) continue;
    const known = src.packs.get(name);
    if (known !== undefined && (known.listed || !known.plain)) continue;
    if (src.midxs.some((m) => !m.disabled && m.midx.containsPack(name))) continue;
    const slot = known ?? slotFor(st, src, name);
    list(st, slot);
  }
}

/**
 * The `.idx` names of `objects/info/packs` (lines `P pack-….pack`), in its order, for a storage
 * that cannot list directories; none when it is missing.
 */
export function infoPacks(st: StoreState, src: Source): string[] {
  const bytes = st.files.readFile(joinRaw(joinRaw(src.dir, 'info'), 'packs'), INFO_PACKS_MAX);
  if (bytes === undefined) return [];
  const out: string[] = [];
  for (const line of utf8Decoder.decode(bytes).split('\n')) {
    if (line.startsWith('P ') && line.endsWith('.pack')) out.push(`${line.slice(2, -5)}.idx`);
  }
  // Git's update-server-info lists newer packs first: keep that order as the mtime order.
  let t = out.length;
  for (const name of out) src.infoOrder.set(name, t--);
  return out;
}

/** Registers a plain pack if its `.pack` is a regular file (Git ignores an `.idx` without one). */
export function list(st: StoreState, slot: PackSlot): void {
  if (slot.listed) return;
  const order = slot.source.infoOrder.get(slot.name);
  if (order !== undefined) {
    // Listed by `info/packs`: known without a request; its place there stands for its mtime.
    slot.mtime = order;
    slot.listed = true;
    return;
  }
  const stat = st.files.stat(slot.packPath);
  if (stat === undefined || stat.regular === false) return; // no .pack (yet, or any more)
  slot.mtime = stat.mtimeMs;
  slot.listed = true;
}

/**
 * The layers of the directory's incremental chain, newest first (Git's lookup order), with Git's
 * warnings for a chain that could not be loaded whole; none when there is no chain.
 */
export function loadLayers(st: StoreState, src: Source, packDir: string): MultiPackIndex[] {
  let loaded: ReturnType<typeof loadChain>;
  try {
    loaded = loadChain(
      chainSourceIn(st.files, packDir, joinRaw(src.shown, 'pack'), (r) => counted(st, r)),
      st.hash,
    );
  } catch (e) {
    // A chain file that cannot be read (a FIFO, a device, too large) is ignored as a damaged MIDX
    // is: one warning, and the packs answer.
    if (isPending(e) || !isGitMidxError(e)) throw e;
    rejectMidx(st, joinRaw(joinRaw(joinRaw(src.shown, 'pack'), CHAIN_DIR), CHAIN_FILE), e);
    return [];
  }
  if (loaded === undefined) return [];
  for (const w of loaded.warnings) diag(st, 'warning', w);
  return loaded.layers.map((l) => l.midx).reverse();
}

/** The MIDX file, opened and checked; undefined (after a warning) when it cannot be used. */
export function loadMidx(st: StoreState, file: string, shown: string): MultiPackIndex | undefined {
  let reader: RandomAccessReader | undefined;
  try {
    if (st.readMidxWhole) {
      const bytes = st.files.readFile(file, Number.MAX_SAFE_INTEGER);
      if (bytes === undefined) return undefined;
      st.counters.bytesRead += bytes.length;
      return MultiPackIndex.fromBytes(bytes, { file: shown, hash: st.hash });
    }
    reader = st.files.open(file);
    if (reader === undefined) return undefined;
    return MultiPackIndex.open(counted(st, reader), { file: shown, hash: st.hash });
  } catch (e) {
    reader?.close();
    if (isPending(e)) throw e;
    rejectMidx(st, shown, e);
    return undefined;
  }
}

export function rejectMidx(st: StoreState, file: string, e: unknown): void {
  st.counters.midxRejected++;
  diag(st, 'warning', `${gitText(e)}; ignoring multi-pack-index ${file}`);
}

/** A MIDX whose lookups fail: warn once, serve its packs directly from now on. */
export function disableMidx(st: StoreState, m: MidxState, e: unknown): void {
  if (m.disabled) return;
  m.disabled = true;
  rejectMidx(st, m.midx.file, e);
  for (const s of m.slots) {
    if (s.midx === m) s.midx = undefined;
    list(st, s);
  }
  m.midx.close();
  m.source.midxs = m.source.midxs.filter((x) => x !== m);
  rebuildOrder(st);
}

/**
 * MIDX order: local first, then alternates' (each inserted right after the first, as git 2.39
 * does); plain packs: local before alternate, newer `.pack` mtime first (`sort_pack()`), which
 * also resets the most-recently-used order, as a re-scan does in Git.
 */
export function rebuildOrder(st: StoreState): void {
  const order: MidxState[] = [];
  for (const src of st.sources) {
    const group = src.midxs.filter((m) => !m.disabled);
    if (group.length === 0) continue;
    if (order.length === 0) order.push(...group);
    else order.splice(1, 0, ...group);
  }
  st.midxOrder = order;
  const plain: PackSlot[] = [];
  for (const src of st.sources) {
    for (const slot of src.packs.values()) if (slot.plain && slot.listed) plain.push(slot);
  }
  plain.sort((a, b) => {
    if (a.source.local !== b.source.local) return a.source.local ? -1 : 1;
    return b.mtime - a.mtime;
  });
  st.mru = plain;
}
