/**
 * Static HTTP storage with synchronous answers, for the CLI (whose store is synchronous). The
 * requests run on a worker thread; the calling thread posts a request on a MessageChannel and
 * blocks in `Atomics.wait` until the worker bumps a shared counter, then takes the answer with
 * `receiveMessageOnPort`. The worker is plain JavaScript evaluated from a string, so it starts the
 * same from TypeScript source, from dist/ and from the single-file CLI bundle (dist/cli): its
 * requests follow src/storage/http.ts (same ranges, bounds, checks and error codes; the tests in
 * test/http-storage.test.ts hold both to the same answers).
 */
import type { MessagePort } from 'node:worker_threads';
import { GitMidxError } from '../errors.js';
import type { RandomAccessReader } from '../io.js';
import { type HttpStats, type HttpStorageOptions, httpStorage, httpUrl } from '../storage/http.js';
import type { FileStat, Storage } from '../storage/storage.js';
import { workerThreads } from './builtins.js';

export interface SyncHttpStorageOptions
  extends Pick<HttpStorageOptions, 'headers' | 'prefixBytes' | 'maxWholeBytes'> {
  /** Time allowed per request, headers and body, in milliseconds (default 60000). */
  timeoutMs?: number;
}

/** A synchronous HTTP storage and its worker thread. */
export interface SyncHttpStorage extends Storage {
  /** Requests and body bytes of the worker, as of its last answer. */
  readonly stats: HttpStats;
  list(dir: string): null;
  readFile(path: string, maxBytes: number): Uint8Array | undefined;
  stat(path: string): FileStat | undefined;
  open(path: string): RandomAccessReader | undefined;
  /** Ends the worker; later calls fail with MIDX_CLOSED. */
  close(): void;
}

/**
 * Storage of a repository served as static files below `base` (see `httpStorage`) whose methods
 * answer at once: each blocks the calling thread until its requests are done. `open` gives a
 * `RandomAccessReader` whose reads beyond the first `prefixBytes` block the same way.
 */
export function syncHttpStorage(base: string, options: SyncHttpStorageOptions = {}): SyncHttpStorage {
  // Names and alternates resolve as in the async storage; it makes no request for that.
  const paths = httpStorage(base);
  const root = new URL(paths.name);
  const timeoutMs = options.timeoutMs ?? 60000;
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { MessageChannel, Worker } = workerThreads();
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      port: port2,
      flag: flag.buffer,
      options: {
        headers: options.headers ?? {},
        prefixBytes: Math.max(1, options.prefixBytes ?? 16384),
        maxWholeBytes: options.maxWholeBytes ?? 64 * 1024 * 1024,
        timeoutMs,
      },
    },
    transferList: [port2],
  });
  worker.unref();
  port1.unref();
  // A worker that fails to start answers nothing: the waiting call then times out with its error.
  let workerError: unknown;
  worker.on('error', (e) => {
    workerError = e;
  });
  const stats: HttpStats = { requests: 0, bytes: 0 };
  let nextId = 1;
  let closed = false;
  // Answers within this time, or the worker is gone (a stat may make two requests, plus start-up).
  const waitMs = 2 * timeoutMs + 10000;

  const call = <T>(msg: Record<string, unknown>): T => {
    if (closed) throw new GitMidxError('MIDX_CLOSED', `${root.href}: storage closed`, { file: root.href });
    const id = nextId++;
    port1.postMessage({ id, ...msg });
    const deadline = Date.now() + waitMs;
    for (;;) {
      const seen = Atomics.load(flag, 0);
      const answer = take(port1, id);
      if (answer !== undefined) {
        stats.requests = answer.stats.requests;
        stats.bytes = answer.stats.bytes;
        if (answer.error !== undefined) throw fromWire(answer.error);
        return answer.value as T;
      }
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(flag, 0, seen, left) === 'timed-out') {
        const why = workerError instanceof Error ? `: ${workerError.message}` : '';
        throw new GitMidxError(
          'HTTP_ERROR',
          `${root.href}: no answer from the HTTP worker in ${waitMs} ms${why}`,
          {
            file: root.href,
          },
        );
      }
    }
  };

  const openFile = (url: string): RandomAccessReader | undefined => {
    const f = call<{ handle: number; size: number; prefix: Uint8Array } | null>({ op: 'open', url });
    if (f === null) return undefined;
    let open = true;
    return {
      size: f.size,
      readInto(into, offset, length, position) {
        if (!open) throw new GitMidxError('MIDX_CLOSED', `${url}: read after close`, { file: url });
        if (length === 0) return;
        if (position + length <= f.prefix.length) {
          into.set(f.prefix.subarray(position, position + length), offset);
          return;
        }
        into.set(call<Uint8Array>({ op: 'read', handle: f.handle, position, length }), offset);
      },
      close() {
        if (!open) return;
        open = false;
        if (!closed) port1.postMessage({ op: 'close', handle: f.handle });
      },
    };
  };

  return {
    name: paths.name,
    remote: true,
    stats,
    list: () => null,
    readFile: (path, maxBytes) =>
      call<Uint8Array | null>({ op: 'readFile', url: httpUrl(root, path), maxBytes }) ?? undefined,
    stat: (path) => call<FileStat | null>({ op: 'stat', url: httpUrl(root, path) }) ?? undefined,
    open: (path) => openFile(httpUrl(root, path)),
    resolve: (dir, relative) => paths.resolve(dir, relative),
    close() {
      if (closed) return;
      closed = true;
      port1.close();
      void worker.terminate();
    },
  };
}

interface WireAnswer {
  id: number;
  value?: unknown;
  error?: { code?: string; message: string; file?: string; data?: Record<string, unknown> };
  stats: HttpStats;
}

/** The answer to request `id`, dropping late answers to requests given up on. */
function take(port: MessagePort, id: number): WireAnswer | undefined {
  for (;;) {
    const m = workerThreads().receiveMessageOnPort(port);
    if (m === undefined) return undefined;
    const a = m.message as WireAnswer;
    if (a.id === id) return a;
  }
}

function fromWire(e: NonNullable<WireAnswer['error']>): Error {
  if (e.code === undefined) return new Error(e.message);
  return new GitMidxError(e.code as GitMidxError['code'], e.message, { file: e.file, data: e.data });
}

/**
 * The worker: serves `readFile`, `stat`, `open`, `read` and `close` messages with fetch, as
 * `HttpClient` in src/storage/http.ts does. No backquotes or dollar-brace in here (a template).
 */
const WORKER_SOURCE = String.raw`// Runs as a script or as a module (--input-type is inherited): no require, no top-level import.
import('node:worker_threads').then(({ workerData }) => {
const { port, flag: flagBuffer, options } = workerData;
const flag = new Int32Array(flagBuffer);
const stats = { requests: 0, bytes: 0 };
const files = new Map();
let nextHandle = 1;

class WireError extends Error {
  constructor(code, message, file, data) {
    super(message);
    this.code = code;
    this.file = file;
    this.data = data;
  }
}
const httpError = (url, message, data) => new WireError('HTTP_ERROR', url + ': ' + message, url, data);

function parseContentRange(v) {
  if (v === null) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(v.trim());
  if (m === null) return undefined;
  const total = m[3] === '*' ? -1 : Number(m[3]);
  if (m[1] === undefined) return { total };
  return { first: Number(m[1]), last: Number(m[2]), total };
}

function declaredLength(res) {
  const enc = res.headers.get('Content-Encoding');
  if (enc !== null && enc.toLowerCase() !== 'identity') return undefined;
  const v = res.headers.get('Content-Length');
  return v !== null && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

async function readBounded(res, limit, over) {
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    stats.bytes += value.length;
    total += value.length;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw over();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function request(url, method, range, consume) {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, options.timeoutMs);
  const headers = new Headers(options.headers);
  headers.set('Accept-Encoding', 'identity');
  if (range !== undefined) headers.set('Range', range);
  stats.requests++;
  let res;
  try {
    res = await fetch(url, { method, headers, signal: ac.signal, redirect: 'follow' });
    const r = res;
    return await consume(r, (limit, over) => readBounded(r, limit, over));
  } catch (e) {
    if (e instanceof WireError) throw e;
    if (timedOut) throw httpError(url, 'no answer in ' + options.timeoutMs + ' ms', { timeoutMs: options.timeoutMs });
    const c = e && e.cause;
    const reason = c ? (c.code !== undefined ? e.message + ' (' + c.code + ')' : c.message) : String(e && e.message);
    throw new WireError('HTTP_ERROR', url + ': ' + reason, url);
  } finally {
    clearTimeout(timer);
    if (res && res.body && !res.bodyUsed) res.body.cancel().catch(() => {});
  }
}

function readFile(url, maxBytes) {
  return request(url, 'GET', undefined, async (res, body) => {
    if (res.status === 404 || res.status === 410) return null;
    if (!res.ok) throw httpError(url, 'HTTP ' + res.status, { status: res.status });
    const tooLarge = (size) =>
      new WireError('FILE_TOO_LARGE',
        url + ': ' + (size !== undefined ? size + ' bytes, ' : '') + 'more than the ' + maxBytes + ' allowed',
        url, { size, limit: maxBytes });
    const length = declaredLength(res);
    if (length !== undefined && length > maxBytes) throw tooLarge(length);
    return body(maxBytes, () => tooLarge());
  });
}

async function stat(url) {
  const head = await request(url, 'HEAD', undefined, async (res) => {
    if (res.status === 404 || res.status === 410) return null;
    if (!res.ok) throw httpError(url, 'HTTP ' + res.status, { status: res.status });
    return { size: declaredLength(res), etag: res.headers.get('ETag') || '', modified: res.headers.get('Last-Modified') || '' };
  });
  if (head === null) return null;
  let size = head.size;
  if (size === undefined) {
    const f = await open(url, 1);
    if (f === null) return null;
    size = f.size;
  }
  const parsed = head.modified === '' ? NaN : Date.parse(head.modified);
  return { size, mtimeMs: Number.isFinite(parsed) ? parsed : 0, identity: head.etag + '\0' + head.modified + '\0' + size };
}

function open(url, prefixBytes) {
  return request(url, 'GET', 'bytes=0-' + (prefixBytes - 1), async (res, body) => {
    if (res.status === 404 || res.status === 410) return null;
    if (res.status === 416) {
      const cr = parseContentRange(res.headers.get('Content-Range'));
      if (cr !== undefined && cr.total > 0) {
        throw httpError(url, 'HTTP 416 for bytes 0-' + (prefixBytes - 1) + ' of a ' + cr.total + '-byte file');
      }
      return { url, size: 0, prefix: new Uint8Array(0), whole: true };
    }
    if (res.status === 200) {
      const length = declaredLength(res);
      const refuse = () => httpError(url, 'the server ignores Range and the file is larger than ' + options.maxWholeBytes + ' bytes', { limit: options.maxWholeBytes });
      if (length !== undefined && length > options.maxWholeBytes) throw refuse();
      const all = await body(options.maxWholeBytes, refuse);
      return { url, size: all.length, prefix: all, whole: true };
    }
    if (res.status !== 206) throw httpError(url, 'HTTP ' + res.status, { status: res.status });
    const cr = parseContentRange(res.headers.get('Content-Range'));
    if (cr === undefined || cr.first === undefined || cr.total < 0) {
      throw httpError(url, 'bad Content-Range ' + JSON.stringify(res.headers.get('Content-Range')));
    }
    const want = Math.min(prefixBytes, cr.total);
    if (cr.first !== 0 || cr.last !== want - 1) {
      throw httpError(url, 'asked for bytes 0-' + (want - 1) + ', got Content-Range ' + cr.first + '-' + cr.last);
    }
    const prefix = await body(want, () => httpError(url, 'more than the ' + want + ' bytes asked for'));
    if (prefix.length !== want) throw httpError(url, prefix.length + ' bytes instead of ' + want);
    return { url, size: cr.total, prefix, whole: want === cr.total };
  });
}

function read(f, position, length) {
  const url = f.url;
  if (!(position >= 0 && length >= 0 && position + length <= f.size)) {
    throw new WireError('INVALID_ARGUMENT', url + ': read of ' + length + ' bytes at ' + position + ' of ' + f.size, url);
  }
  if (f.whole || position + length <= f.prefix.length) return f.prefix.slice(position, position + length);
  const last = position + length - 1;
  return request(url, 'GET', 'bytes=' + position + '-' + last, async (res, body) => {
    if (res.status !== 206) {
      throw httpError(url, 'HTTP ' + res.status + ' for bytes ' + position + '-' + last + ' (expected 206)', { status: res.status });
    }
    const h = res.headers.get('Content-Range');
    const cr = parseContentRange(h);
    if (cr === undefined || cr.first !== position || cr.last !== last || cr.total !== f.size) {
      throw httpError(url, 'asked for bytes ' + position + '-' + last + '/' + f.size + ', got Content-Range ' + JSON.stringify(h));
    }
    const bytes = await body(length, () => httpError(url, 'more than the ' + length + ' bytes asked for at ' + position));
    if (bytes.length !== length) throw httpError(url, bytes.length + ' bytes instead of ' + length + ' at ' + position);
    return bytes;
  });
}

async function serve(m) {
  switch (m.op) {
    case 'readFile':
      return readFile(m.url, m.maxBytes);
    case 'stat':
      return stat(m.url);
    case 'open': {
      const f = await open(m.url, options.prefixBytes);
      if (f === null) return null;
      const handle = nextHandle++;
      files.set(handle, f);
      return { handle, size: f.size, prefix: f.prefix };
    }
    case 'read': {
      const f = files.get(m.handle);
      if (f === undefined) throw new WireError('MIDX_CLOSED', 'read after close', undefined);
      return read(f, m.position, m.length);
    }
  }
  throw new Error('unknown request ' + m.op);
}

port.on('message', async (m) => {
  if (m.op === 'close') {
    files.delete(m.handle);
    return;
  }
  let answer;
  try {
    answer = { id: m.id, value: await serve(m), stats };
  } catch (e) {
    const error = e instanceof WireError
      ? { code: e.code, message: e.message, file: e.file, data: e.data }
      : { message: String(e && e.message) };
    answer = { id: m.id, error, stats };
  }
  port.postMessage(answer);
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
});
});
`;
