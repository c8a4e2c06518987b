/**
 * The in-page side of test/browser.test.ts, run inside Chromium. It is bundled behind an entry that
 * imports the package by its name and hands it to `install` (see PAGE_ENTRY in test/browser.test.ts),
 * so the code exercised is the built package as a bundler sees it; the import below is types only.
 *
 * Node calls `globalThis.run({ check, args })` through `runInPage` and gets JSON back. A new check
 * is a new method on `Checks` (its argument and result must survive JSON).
 */
import type * as GitMidx from '../../src/index.js';

export type Api = typeof GitMidx;

export interface MidxLookupArgs {
  /** Absolute URL of a multi-pack-index file. */
  url: string;
  hash: 'sha1' | 'sha256';
  /** Hex ids to look up (present or not). */
  ids: string[];
}

export interface MidxLookupResult {
  version: number;
  numObjects: number;
  packNames: string[];
  /** The trailing checksum, hex. */
  checksum: string;
  /** Every id, in MIDX (position) order. */
  oids: string[];
  /** For each of `args.ids`: where the MIDX puts it, or null. */
  lookups: ({ position: number; packName: string; offset: number } | null)[];
}

export interface ReadObjectsArgs {
  /** URL of the repository's git directory (ending with `/`). */
  base: string;
  /** Hex ids to read (present or not). */
  ids: string[];
  /** Revisions to resolve. */
  revs: string[];
}

export interface ReadObjectsResult {
  hash: string;
  /** For each id: type, size and the bytes as base64, or null when missing. */
  objects: ({ type: string; size: number; data: string } | null)[];
  /** For each revision: the id it names (hex), or the error code. */
  revs: string[];
}

export interface Checks {
  /** Fetches a MIDX, opens it with `MultiPackIndex.fromBytes` and looks ids up. */
  midxLookup(args: MidxLookupArgs): Promise<MidxLookupResult>;
  /** Opens the repository over HTTP with `AsyncObjectStore` + `httpStorage` and reads objects. */
  readObjects(args: ReadObjectsArgs): Promise<ReadObjectsResult>;
}

export type CheckName = keyof Checks;
export type CheckArgs<K extends CheckName> = Parameters<Checks[K]>[0];
export type CheckResult<K extends CheckName> = Awaited<ReturnType<Checks[K]>>;

export interface PageGlobals {
  run<K extends CheckName>(spec: { check: K; args: CheckArgs<K> }): Promise<CheckResult<K>>;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

function base64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function makeChecks(api: Api): Checks {
  return {
    async readObjects({ base, ids, revs }) {
      const store = await api.AsyncObjectStore.open({ storage: api.httpStorage(base), objectDir: 'objects' });
      try {
        const got = await store.readObjects(ids.map((h) => api.fromHex(h)!));
        const out: string[] = [];
        for (const rev of revs) {
          try {
            out.push(api.toHex(await store.resolveRevision(rev)));
          } catch (e) {
            out.push(`error ${(e as { code?: string }).code}`);
          }
        }
        return {
          hash: store.hash.name,
          objects: got.map((o) => (o ? { type: o.type, size: o.size, data: base64(o.data) } : null)),
          revs: out,
        };
      } finally {
        store.close();
      }
    },
    async midxLookup({ url, hash, ids }) {
      const algorithm = api.hashByName(hash);
      if (!algorithm) throw new Error(`unknown hash ${hash}`);
      const midx = api.MultiPackIndex.fromBytes(await fetchBytes(url), { hash: algorithm, file: url });
      try {
        const oids: string[] = [];
        for (let i = 0; i < midx.numObjects; i++) oids.push(midx.oidHexAt(i));
        const lookups = ids.map((hex) => {
          const oid = api.fromHex(hex);
          if (!oid) throw new Error(`not a hex id: ${hex}`);
          const found = midx.lookup(oid);
          return found ? { position: found.position, packName: found.packName, offset: found.offset } : null;
        });
        return {
          version: midx.version,
          numObjects: midx.numObjects,
          packNames: [...midx.packNames],
          checksum: api.toHex(midx.checksum()),
          oids,
          lookups,
        };
      } finally {
        midx.close();
      }
    },
  };
}

/** Publishes `run` on the page; called once by the bundle's entry. */
export function install(api: Api): void {
  const checks = makeChecks(api);
  function run<K extends CheckName>(spec: { check: K; args: CheckArgs<K> }): Promise<CheckResult<K>> {
    const check = checks[spec.check] as ((args: CheckArgs<K>) => Promise<CheckResult<K>>) | undefined;
    if (typeof check !== 'function') throw new Error(`no check named ${String(spec.check)}`);
    return check(spec.args);
  }
  (globalThis as unknown as PageGlobals).run = run;
}
