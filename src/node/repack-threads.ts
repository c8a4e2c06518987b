/**
 * The threads of `repack`'s delta search (src/node/repack-deltas.ts, `pack.threads`): every part
 * of the sorted candidates but the first is searched by a worker thread, which opens the source
 * packs itself, reads and compares its candidates with a window of its own, and posts its
 * decisions (each delta or resolved object deflated) back in batches. The thread that runs the
 * repack writes them to its spill file: a helper writes no file, so the temporary files and their
 * removal on a signal stay with that thread alone.
 *
 * A helper that fails (an exception, a thread that cannot start or dies) leaves the rest of its
 * part to the repack's own thread, from where its last batch ended.
 */
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hashByName } from '../hash.js';
import { workerThreads } from './builtins.js';
import { nodeDeflater } from './pack-write.js';
import type { DeltaSearchHelper, DeltaSearchSettings, DeltaSink, StartDeltaHelper } from './repack-deltas.js';
import { MIN_STEAL, SharedClaims, searchClaimed } from './repack-deltas.js';
import type { CandidateTable, Source } from './repack-source.js';
import { candidateReader, closeSource, openSource } from './repack-source.js';

/** What a helper is given (structured-cloned to its thread). */
export interface DeltaHelperData {
  kind: 'git-midx-delta-helper';
  packDir: string;
  /** The source packs' `.idx` names, in the order `srcOf` numbers them. */
  names: string[];
  hashName: string;
  compressionLevel: number;
  settings: DeltaSearchSettings;
  table: CandidateTable;
  heights: Uint16Array;
  /** The candidates in search order, the shared claims, and which thread it is in them. */
  order: Uint32Array;
  claims: { ranges: SharedArrayBuffer; takenBy: SharedArrayBuffer };
  thread: number;
  /** [0]: set to 1 to stop it. */
  stop: Int32Array;
}

/**
 * A batch: the candidates it covers (indexes into the order, each decided), and the decisions
 * among them (`resK`: whose, in the same order).
 */
interface Batch {
  ks: Int32Array;
  resK: Int32Array;
  js: Int32Array;
  bases: Int32Array;
  inflated: Float64Array;
  lengths: Uint32Array;
  bytes: Uint8Array;
  done?: boolean;
  error?: string;
}

/** Candidates a helper covers before posting a batch (or fewer, at its end). */
const BATCH_CANDIDATES = 64;
const BATCH_BYTES = 1 << 20;

/**
 * Threads a search uses when `pack.threads` is 0 or unset, at most: Git then takes as many as the
 * machine has cores, but a helper here is a thread with a JavaScript heap of its own (about 40 MB
 * at its peak), not a C thread; a value set in the configuration is taken as it is.
 */
export const AUTO_THREADS_MAX = 4;

/** `pack.threads`: as set, or for 0 (or unset) one per core up to AUTO_THREADS_MAX. */
export function deltaThreads(configured: number | undefined): number {
  if (configured !== undefined && configured > 0) return configured;
  let cores: number;
  try {
    cores = availableParallelism();
  } catch {
    cores = cpus().length;
  }
  return Math.max(1, Math.min(AUTO_THREADS_MAX, cores));
}

/** The script helpers run, when set (`setDeltaHelperScript`). */
let helperScript: URL | undefined;

/**
 * Makes helpers run `script` (which must call `runDeltaHelper` when its `workerData.kind` is
 * `'git-midx-delta-helper'`) instead of dist/node/repack-delta-worker.js: the CLI's own worker
 * script, which loads its bundle through the code cache (src/cli/main.ts). Undefined: the default.
 * @internal
 */
export function setDeltaHelperScript(script: URL | undefined): void {
  helperScript = script;
}

/** The helper's script: dist/node/repack-delta-worker.js (src/ … .ts under a TypeScript loader). */
function workerScript(): URL {
  if (helperScript !== undefined) return helperScript;
  const here = import.meta.url;
  // In the CLI's bundle (dist/cli/git-midx.cjs) `import.meta.url` is the bundle's path.
  const base = here.startsWith('file:') ? here : pathToFileURL(here).href;
  const ext = fileURLToPath(base).endsWith('.ts') ? '.ts' : '.js';
  return new URL(`../node/repack-delta-worker${ext}`, base);
}

/**
 * A `StartDeltaHelper` for a repack whose candidates are described by `table` (read from the
 * packs `names` of `packDir`).
 */
export function deltaHelpers(
  common: Omit<DeltaHelperData, 'kind' | 'order' | 'claims' | 'thread' | 'stop'>,
): StartDeltaHelper {
  return (order, claims, thread) => {
    const { Worker } = workerThreads();
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const data: DeltaHelperData = {
      kind: 'git-midx-delta-helper',
      ...common,
      order,
      claims: claims.buffers(),
      thread,
      stop,
    };
    let worker: InstanceType<typeof Worker>;
    try {
      worker = new Worker(workerScript(), {
        workerData: data,
        // Node's options, less one that only the main script takes (`node --input-type=module -e`).
        execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
      });
    } catch {
      return undefined;
    }
    const batches: Batch[] = [];
    let state: DeltaSearchHelper['state'] = 'running';
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    worker.on('message', (b: Batch) => {
      batches.push(b);
      if (b.done === true && state === 'running') state = 'done';
      if (b.error !== undefined && state === 'running') state = 'failed';
      notify();
    });
    const fail = () => {
      if (state === 'running') state = 'failed';
      notify();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    return {
      take(accept, sink): void {
        for (const b of batches) {
          const fresh = new Set<number>();
          for (let i = 0; i < b.ks.length; i++) if (accept(b.ks[i])) fresh.add(b.ks[i]);
          let at = 0;
          for (let i = 0; i < b.js.length; i++) {
            if (fresh.has(b.resK[i]))
              sink(b.js[i], b.bases[i], b.inflated[i], b.bytes.subarray(at, at + b.lengths[i]));
            at += b.lengths[i];
          }
        }
        batches.length = 0;
      },
      get state() {
        // Batches still waiting to be taken count as not yet arrived.
        return batches.length > 0 && state !== 'running' ? 'running' : state;
      },
      next(): Promise<void> {
        if (batches.length > 0 || state !== 'running') return Promise.resolve();
        return new Promise((resolve) => {
          wake = resolve;
        });
      },
      stop(): void {
        Atomics.store(stop, 0, 1);
      },
    };
  };
}

/** Thrown inside a helper asked to stop. */
class Stopped extends Error {}

/** A helper's work, in its thread (src/node/repack-delta-worker.ts). */
export function runDeltaHelper(
  data: DeltaHelperData,
  post: (b: Batch, transfer: ArrayBuffer[]) => void,
): void {
  const hash = hashByName(data.hashName);
  if (hash === undefined) throw new Error(`unknown hash ${data.hashName}`);
  const { table, order, thread } = data;
  const claims = new SharedClaims(data.claims);
  const sources: Source[] = [];
  let ks: number[] = [];
  let resK: number[] = [];
  let js: number[] = [];
  let bases: number[] = [];
  let inflated: number[] = [];
  let streams: Uint8Array[] = [];
  let bytes = 0;
  let current = -1;
  /** Starts the next batch afresh. */
  const clear = () => {
    ks = [];
    resK = [];
    js = [];
    bases = [];
    inflated = [];
    streams = [];
    bytes = 0;
  };
  const flush = (extra: Partial<Batch> = {}) => {
    const all = new Uint8Array(bytes);
    const lengths = new Uint32Array(streams.length);
    let at = 0;
    streams.forEach((s, i) => {
      all.set(s, at);
      at += s.length;
      lengths[i] = s.length;
    });
    const b: Batch = {
      ks: Int32Array.from(ks),
      resK: Int32Array.from(resK),
      js: Int32Array.from(js),
      bases: Int32Array.from(bases),
      inflated: Float64Array.from(inflated),
      lengths,
      bytes: all,
      ...extra,
    };
    const transfer = [b.ks, b.resK, b.js, b.bases, b.inflated, lengths, all].map(
      (a) => a.buffer as ArrayBuffer,
    );
    post(b, transfer);
    clear();
  };
  try {
    // The source packs, opened when first needed.
    const lazy = new Proxy(sources, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) {
          const i = Number(prop);
          target[i] ??= openSource(data.packDir, data.names[i], hash, data.names.length);
          return target[i];
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const sink: DeltaSink = (j, base, size, stream) => {
      resK.push(current);
      js.push(j);
      bases.push(base);
      inflated.push(size);
      streams.push(stream);
      bytes += stream.length;
    };
    const input = {
      hashSize: hash.size,
      types: table.types,
      heights: data.heights,
      resolve: table.resolve,
      read: candidateReader(hash, lazy, table),
      deflater: nodeDeflater(data.compressionLevel),
      check: () => {
        if (Atomics.load(data.stop, 0) !== 0) throw new Stopped();
      },
    };
    const next = () => {
      input.check();
      let k = claims.take(thread);
      if (k < 0 && claims.steal(thread, MIN_STEAL, () => false)) k = claims.take(thread);
      current = k;
      return k;
    };
    const steps = searchClaimed(next, order, input, data.settings, sink, undefined, (k) => {
      ks.push(k);
      if (ks.length >= BATCH_CANDIDATES || bytes >= BATCH_BYTES) flush();
    });
    while (!steps.next().done) {
      // (searchClaimed yields every few dozen candidates.)
    }
    flush({ done: true });
  } catch (e) {
    if (e instanceof Stopped) return;
    // The batches posted stand; what it took since is redone by the repack.
    clear();
    flush({ error: e instanceof Error ? e.message : String(e) });
  } finally {
    for (const s of sources) if (s !== undefined) closeSource(s);
  }
}
