/**
 * A repository served as static files over HTTP (Git's "dumb HTTP" layout, as left by
 * `git update-server-info`): whole small files by GET, sizes by HEAD, positioned reads by single
 * `Range` requests. Web platform only (`fetch`, `Headers`, `URL`), so it runs in browsers, Deno and
 * Node alike. No response is trusted to be as small as asked: every body is read with a bound and
 * the request aborted beyond it. The synchronous bridge for Node is src/node/http-sync.ts.
 */
import { GitMidxError } from '../errors.js';
import type { AsyncFile, FileStat, Storage } from './storage.js';

/** Requests made and body bytes received, for benches (counted, never reset by the storage). */
export interface HttpStats {
  /** Requests sent (every GET and HEAD, failed ones too). */
  requests: number;
  /** Body bytes received, in bytes (including bytes read and then refused). */
  bytes: number;
}

export interface HttpStorageOptions {
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Headers sent with every request (authorization, user agent). */
  headers?: Record<string, string>;
  /** Bytes read from the start of a file by `open`, in bytes (default 16384). */
  prefixBytes?: number;
  /**
   * Largest whole body accepted from a server that ignores `Range` on `open`, in bytes (default
   * 64 MiB); a larger file on such a server is an `HTTP_ERROR`.
   */
  maxWholeBytes?: number;
  /** Time allowed per request, headers and body, in milliseconds (default: no limit). */
  timeoutMs?: number;
  /** Aborts every request (then `ABORTED`). */
  signal?: AbortSignal;
}

/** What `httpStorage` returns: every answer comes later (a Promise), and the request counters. */
export interface HttpStorage extends Storage {
  readonly stats: HttpStats;
  list(dir: string): null;
  readFile(path: string, maxBytes: number): Promise<Uint8Array | undefined>;
  stat(path: string): Promise<FileStat | undefined>;
  open(path: string): Promise<HttpFile | undefined>;
}

/** An `AsyncFile` over HTTP with the bytes `open` already has. */
export interface HttpFile extends AsyncFile {
  readonly prefix: Uint8Array;
  readonly url: string;
}

const DEFAULT_PREFIX = 16384;
const DEFAULT_MAX_WHOLE = 64 * 1024 * 1024;

/** `base` as a directory URL (ends with `/`). */
function directoryUrl(base: string | URL): URL {
  const u = new URL(base);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

/**
 * The URL of a storage path: an absolute URL as it is, else resolved against `base` (a path starting
 * with `/` against its origin).
 */
export function httpUrl(base: URL, path: string): string {
  return new URL(path, base).href;
}

/**
 * Storage of a repository served as static files below `base` (the directory holding `objects/`,
 * or any directory the store's paths are relative to). Paths may also be absolute URLs.
 */
export function httpStorage(base: string | URL, options: HttpStorageOptions = {}): HttpStorage {
  const root = directoryUrl(base);
  const stats: HttpStats = { requests: 0, bytes: 0 };
  const client = new HttpClient(options, stats);
  return {
    name: root.href,
    remote: true,
    stats,
    list: () => null,
    readFile: (path, maxBytes) => client.readFile(httpUrl(root, path), maxBytes),
    stat: (path) => client.stat(httpUrl(root, path)),
    open: (path) => client.open(httpUrl(root, path)),
    resolve: (dir, relative) => resolveHttpPath(root, dir, relative),
  };
}

/**
 * `relative` (a line of `info/alternates`: an absolute URL, a path on the server, or a path relative
 * to directory `dir`) as a storage path: relative to `root` when it lies below it, else a URL.
 */
export function resolveHttpPath(root: URL, dir: string, relative: string): string {
  const href = new URL(relative, directoryUrl(httpUrl(root, dir))).href;
  if (href.startsWith(root.href)) return href.slice(root.href.length).replace(/\/$/, '');
  return href.replace(/\/$/, '');
}

function httpError(url: string, message: string, data?: Record<string, unknown>): GitMidxError {
  return new GitMidxError('HTTP_ERROR', `${url}: ${message}`, { file: url, data });
}

/** `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`) or `bytes * /TOTAL`, parsed; undefined when malformed. */
export function parseContentRange(
  v: string | null,
): { first: number; last: number; total: number } | { total: number } | undefined {
  if (v === null) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(v.trim());
  if (m === null) return undefined;
  const total = m[3] === '*' ? -1 : Number(m[3]);
  if (m[1] === undefined) return { total };
  return { first: Number(m[1]), last: Number(m[2]), total };
}

/** The HTTP requests behind `httpStorage`, every one counted and bounded. */
class HttpClient {
  private readonly fetch: typeof fetch;
  private readonly prefixBytes: number;
  private readonly maxWhole: number;

  constructor(
    private readonly options: HttpStorageOptions,
    private readonly stats: HttpStats,
  ) {
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.prefixBytes = Math.max(1, options.prefixBytes ?? DEFAULT_PREFIX);
    this.maxWhole = options.maxWholeBytes ?? DEFAULT_MAX_WHOLE;
  }

  /**
   * Sends one request and hands the response to `consume`, within the time limit and the caller's
   * signal; a body `consume` leaves unread is cancelled.
   */
  private async request<T>(
    url: string,
    method: 'GET' | 'HEAD',
    range: string | undefined,
    consume: (
      res: Response,
      body: (limit: number, over: () => GitMidxError) => Promise<Uint8Array>,
    ) => Promise<T>,
  ): Promise<T> {
    const { signal, timeoutMs } = this.options;
    if (signal?.aborted) throw aborted(url, signal);
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort);
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            ac.abort();
          }, timeoutMs);
    const headers = new Headers(this.options.headers);
    // Byte ranges count bytes as stored, not as re-encoded on the way.
    headers.set('Accept-Encoding', 'identity');
    if (range !== undefined) headers.set('Range', range);
    this.stats.requests++;
    let res: Response | undefined;
    try {
      res = await this.fetch(url, { method, headers, signal: ac.signal, redirect: 'follow' });
      const r = res;
      return await consume(r, (limit, over) => readBounded(r, limit, over, this.stats));
    } catch (e) {
      if (e instanceof GitMidxError) throw e;
      if (signal?.aborted) throw aborted(url, signal);
      if (timedOut) throw httpError(url, `no answer in ${timeoutMs} ms`, { timeoutMs });
      const reason = e instanceof Error ? (describeCause(e) ?? e.message) : String(e);
      throw new GitMidxError('HTTP_ERROR', `${url}: ${reason}`, { file: url, cause: e });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (res?.body && !res.bodyUsed) res.body.cancel().catch(() => {});
    }
  }

  async readFile(url: string, maxBytes: number): Promise<Uint8Array | undefined> {
    return this.request(url, 'GET', undefined, async (res, body) => {
      if (res.status === 404 || res.status === 410) return undefined;
      if (!res.ok) throw httpError(url, `HTTP ${res.status}`, { status: res.status });
      const tooLarge = (size?: number) =>
        new GitMidxError(
          'FILE_TOO_LARGE',
          `${url}: ${size !== undefined ? `${size} bytes, ` : ''}more than the ${maxBytes} allowed`,
          { file: url, data: { size, limit: maxBytes } },
        );
      const length = declaredLength(res);
      if (length !== undefined && length > maxBytes) throw tooLarge(length);
      return body(maxBytes, () => tooLarge());
    });
  }

  async stat(url: string): Promise<FileStat | undefined> {
    const head = await this.request(url, 'HEAD', undefined, async (res) => {
      if (res.status === 404 || res.status === 410) return null;
      if (!res.ok) throw httpError(url, `HTTP ${res.status}`, { status: res.status });
      return {
        size: declaredLength(res),
        etag: res.headers.get('ETag') ?? '',
        modified: res.headers.get('Last-Modified') ?? '',
      };
    });
    if (head === null) return undefined;
    let size = head.size;
    if (size === undefined) {
      // No Content-Length on HEAD (some servers): the size from a one-byte range.
      const f = await this.open(url, 1);
      if (f === undefined) return undefined;
      size = f.size;
    }
    const parsed = head.modified === '' ? Number.NaN : Date.parse(head.modified);
    return {
      size,
      mtimeMs: Number.isFinite(parsed) ? parsed : 0,
      identity: `${head.etag}\0${head.modified}\0${size}`,
    };
  }

  async open(url: string, prefixBytes = this.prefixBytes): Promise<HttpFile | undefined> {
    return this.request(url, 'GET', `bytes=0-${prefixBytes - 1}`, async (res, body) => {
      if (res.status === 404 || res.status === 410) return undefined;
      if (res.status === 416) {
        // Nothing at byte 0: an empty file.
        const cr = parseContentRange(res.headers.get('Content-Range'));
        if (cr !== undefined && cr.total > 0) {
          throw httpError(url, `HTTP 416 for bytes 0-${prefixBytes - 1} of a ${cr.total}-byte file`);
        }
        return this.file(url, 0, new Uint8Array(0), true);
      }
      if (res.status === 200) {
        // The server ignores Range: take the whole file if it is small enough.
        const length = declaredLength(res);
        const refuse = () =>
          httpError(url, `the server ignores Range and the file is larger than ${this.maxWhole} bytes`, {
            limit: this.maxWhole,
          });
        if (length !== undefined && length > this.maxWhole) throw refuse();
        const all = await body(this.maxWhole, refuse);
        return this.file(url, all.length, all, true);
      }
      if (res.status !== 206) throw httpError(url, `HTTP ${res.status}`, { status: res.status });
      const cr = parseContentRange(res.headers.get('Content-Range'));
      if (cr === undefined || !('first' in cr) || cr.total < 0) {
        throw httpError(url, `bad Content-Range ${JSON.stringify(res.headers.get('Content-Range'))}`);
      }
      const want = Math.min(prefixBytes, cr.total);
      if (cr.first !== 0 || cr.last !== want - 1) {
        throw httpError(url, `asked for bytes 0-${want - 1}, got Content-Range ${cr.first}-${cr.last}`);
      }
      const prefix = await body(want, () => httpError(url, `more than the ${want} bytes asked for`));
      if (prefix.length !== want) throw httpError(url, `${prefix.length} bytes instead of ${want}`);
      return this.file(url, cr.total, prefix, want === cr.total);
    });
  }

  /** The file `open` found: reads beyond memory are range requests checked against `size`. */
  private file(url: string, size: number, prefix: Uint8Array, whole: boolean): HttpFile {
    let closed = false;
    return {
      url,
      size,
      prefix,
      read: async (position, length) => {
        if (closed) throw new GitMidxError('MIDX_CLOSED', `${url}: read after close`, { file: url });
        if (!(position >= 0 && length >= 0 && position + length <= size)) {
          throw new GitMidxError(
            'INVALID_ARGUMENT',
            `${url}: read of ${length} bytes at ${position} of ${size}`,
            {
              file: url,
            },
          );
        }
        if (whole || position + length <= prefix.length) return prefix.slice(position, position + length);
        return this.range(url, position, length, size);
      },
      close: () => {
        closed = true;
      },
    };
  }

  /** Bytes `[position, position + length)` of a `size`-byte file: exactly those, or an error. */
  private range(url: string, position: number, length: number, size: number): Promise<Uint8Array> {
    const last = position + length - 1;
    return this.request(url, 'GET', `bytes=${position}-${last}`, async (res, body) => {
      if (res.status !== 206) {
        throw httpError(url, `HTTP ${res.status} for bytes ${position}-${last} (expected 206)`, {
          status: res.status,
        });
      }
      const cr = parseContentRange(res.headers.get('Content-Range'));
      if (
        cr === undefined ||
        !('first' in cr) ||
        cr.first !== position ||
        cr.last !== last ||
        cr.total !== size
      ) {
        throw httpError(
          url,
          `asked for bytes ${position}-${last}/${size}, got Content-Range ${JSON.stringify(res.headers.get('Content-Range'))}`,
        );
      }
      const bytes = await body(length, () =>
        httpError(url, `more than the ${length} bytes asked for at ${position}`),
      );
      if (bytes.length !== length) {
        throw httpError(url, `${bytes.length} bytes instead of ${length} at ${position}`);
      }
      return bytes;
    });
  }
}

/** Content-Length as a number when it counts the stored bytes (no Content-Encoding), else undefined. */
function declaredLength(res: Response): number | undefined {
  const enc = res.headers.get('Content-Encoding');
  if (enc !== null && enc.toLowerCase() !== 'identity') return undefined;
  const v = res.headers.get('Content-Length');
  return v !== null && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

/** The body, at most `limit` bytes: reading stops and the stream is cancelled beyond that. */
async function readBounded(
  res: Response,
  limit: number,
  over: () => GitMidxError,
  stats: HttpStats,
): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
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
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function aborted(url: string, signal: AbortSignal): GitMidxError {
  return new GitMidxError('ABORTED', `${url}: aborted`, { file: url, cause: signal.reason });
}

/** The reason under fetch's "fetch failed" (a refused connection, a reset), when there is one. */
function describeCause(e: Error): string | undefined {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  if (c === undefined || c === null) return undefined;
  return c.code !== undefined ? `${e.message} (${c.code})` : c.message;
}
