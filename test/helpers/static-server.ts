/**
 * A static file server for tests: serves a directory read-only on 127.0.0.1 (a random port), the way
 * a repository is published for Git's "dumb HTTP" (src/storage/http.ts), plus in-memory routes.
 * GET and HEAD, one `Range: bytes=a-b` (also `a-` and `-n`) answered 206 with Content-Range, 416
 * beyond the end, 404 for what is missing or outside the root, ETag and Last-Modified, permissive
 * CORS. The options can be changed while it runs (`server.options`) to make it misbehave: ignore
 * Range, lie in Content-Length or Content-Range, send more bytes than said or an endless body, wait.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

export interface StaticRoute {
  body: Uint8Array | string;
  /** Content-Type (default application/octet-stream). */
  type?: string;
}

export interface StaticServerOptions {
  /** Served before files, by path with its leading `/` (`/index.html`). */
  routes?: Record<string, StaticRoute>;
  /** Answers ranged GETs 200 with the whole file. */
  ignoreRange?: boolean;
  /** Answers every request with this status and an empty body (after missing files are 404). */
  status?: number;
  /** Content-Range of a 206 says first and last shifted by this many bytes. */
  contentRangeShift?: number;
  /** Content-Length says this many bytes whatever the body is (the connection then closes). */
  contentLength?: number;
  /** Sends this many zero bytes after the body, with no Content-Length (the connection then closes). */
  extraBytes?: number;
  /** Sends headers, then zero bytes until the client goes away (at most 1 GiB). */
  endlessBody?: boolean;
  /** Waits this many milliseconds before answering. */
  delayMs?: number;
  /** Called on every request, before it is answered. */
  onRequest?: (entry: RequestLogEntry) => void;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  range: string | undefined;
}

export interface StaticServer {
  /** Base URL, ending with `/`. */
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** Every request received, in order. */
  readonly log: RequestLogEntry[];
  /** The options in force; change them between requests. */
  options: StaticServerOptions;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export async function startStaticServer(root: string, opts: StaticServerOptions = {}): Promise<StaticServer> {
  const rootDir = fs.realpathSync(path.resolve(root));
  const log: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();
  const state = { options: { ...opts } };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const entry = { method: req.method ?? '', path: url.pathname, range: req.headers.range };
    log.push(entry);
    state.options.onRequest?.(entry);
    const answer = () => handle(req, res, url.pathname, rootDir, state.options);
    const delay = state.options.delayMs ?? 0;
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    get requests() {
      return log.length;
    },
    log,
    get options() {
      return state.options;
    },
    set options(o) {
      state.options = o;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Range, If-Range, Authorization',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Last-Modified, Accept-Ranges',
};

/** What a path names: a route, a regular file inside the root, or nothing. */
function lookup(
  pathname: string,
  rootDir: string,
  routes: Record<string, StaticRoute> | undefined,
): { bytes: () => Uint8Array; size: number; type: string; etag?: string; mtime?: Date } | undefined {
  const route = routes?.[pathname];
  if (route !== undefined) {
    const body = typeof route.body === 'string' ? new TextEncoder().encode(route.body) : route.body;
    return { bytes: () => body, size: body.length, type: route.type ?? 'application/octet-stream' };
  }
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (rel.includes('\0')) return undefined;
  const file = path.resolve(rootDir, `.${rel}`);
  if (file !== rootDir && !file.startsWith(rootDir + path.sep)) return undefined;
  let real: string;
  let st: fs.Stats;
  try {
    real = fs.realpathSync(file);
    st = fs.statSync(real);
  } catch {
    return undefined;
  }
  if (!st.isFile() || (real !== rootDir && !real.startsWith(rootDir + path.sep))) return undefined;
  return {
    bytes: () => fs.readFileSync(real),
    size: st.size,
    type: TYPES[path.extname(real)] ?? 'application/octet-stream',
    etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
    mtime: st.mtime,
  };
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` for a `size`-byte file: the range, 'unsatisfiable', or undefined (ignored). */
function parseRange(
  h: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathname: string,
  rootDir: string,
  o: StaticServerOptions,
): void {
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { ...CORS, 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...CORS, Allow: 'GET, HEAD' }).end();
    return;
  }
  const found = lookup(pathname, rootDir, o.routes);
  if (found === undefined) {
    res.writeHead(404, { ...CORS, 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  if (o.status !== undefined) {
    res.writeHead(o.status, CORS).end();
    return;
  }
  const headers: Record<string, string> = {
    ...CORS,
    'Content-Type': found.type,
    'Accept-Ranges': o.ignoreRange ? 'none' : 'bytes',
  };
  if (found.etag !== undefined) headers.ETag = found.etag;
  if (found.mtime !== undefined) headers['Last-Modified'] = found.mtime.toUTCString();
  const range =
    o.ignoreRange || req.method === 'HEAD' ? undefined : parseRange(req.headers.range, found.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${found.size}` }).end();
    return;
  }
  let status = 200;
  let body: Uint8Array | undefined;
  if (range !== undefined) {
    status = 206;
    const shift = o.contentRangeShift ?? 0;
    headers['Content-Range'] = `bytes ${range.start + shift}-${range.end + shift}/${found.size}`;
    if (req.method === 'GET') body = found.bytes().subarray(range.start, range.end + 1);
  } else if (req.method === 'GET') {
    body = found.bytes();
  }
  const length = range !== undefined ? range.end - range.start + 1 : found.size;
  if (o.endlessBody || o.extraBytes !== undefined || o.contentLength !== undefined) {
    if (o.contentLength !== undefined) headers['Content-Length'] = String(o.contentLength);
    rawAnswer(req.socket, status, headers, req.method === 'GET' ? body : undefined, o);
    return;
  }
  headers['Content-Length'] = String(length);
  res.writeHead(status, headers);
  res.end(req.method === 'GET' ? body : undefined);
}

/** Writes a response straight to the socket (Node's http would refuse the lies), then closes it. */
function rawAnswer(
  socket: Socket,
  status: number,
  headers: Record<string, string>,
  body: Uint8Array | undefined,
  o: StaticServerOptions,
): void {
  const head = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
  socket.write(`${head.join('\r\n')}\r\n\r\n`);
  if (body !== undefined) socket.write(body);
  if (body === undefined) {
    socket.end();
    return;
  }
  if (o.endlessBody) {
    const zeros = new Uint8Array(65536);
    let sent = 0;
    const pump = () => {
      while (!socket.destroyed && sent < 2 ** 30) {
        sent += zeros.length;
        if (!socket.write(zeros)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    socket.on('error', () => {});
    pump();
    return;
  }
  if (o.extraBytes !== undefined) socket.write(new Uint8Array(o.extraBytes));
  socket.end();
}

/** A static server on its own thread, for clients that block the thread they run on. */
export interface StaticServerThread {
  /** Base URL, ending with `/`. */
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** Replaces the options (functions cannot cross threads; `onRequest` is not passed). */
  setOptions(o: Omit<StaticServerOptions, 'onRequest'>): Promise<void>;
  close(): Promise<void>;
}

/**
 * `startStaticServer` on a worker thread: it answers while this thread is blocked. The worker loads
 * this file through tsx's API (a worker does not inherit the loader).
 */
export async function startStaticServerThread(
  root: string,
  opts: Omit<StaticServerOptions, 'onRequest'> = {},
): Promise<StaticServerThread> {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
    const counter = new Int32Array(workerData.counter);
    const onRequest = () => Atomics.add(counter, 0, 1);
    import(workerData.tsx).then((t) => {
      t.register();
      return import(workerData.module);
    }).then(async (m) => {
      const s = await m.startStaticServer(workerData.root, { ...workerData.options, onRequest });
      parentPort.on('message', async (msg) => {
        if (msg.options) s.options = { ...msg.options, onRequest };
        else await s.close();
        parentPort.postMessage({ done: msg.seq });
        if (!msg.options) parentPort.close();
      });
      parentPort.postMessage({ url: s.url });
    });`,
    {
      eval: true,
      execArgv: [],
      workerData: {
        tsx: import.meta.resolve('tsx/esm/api'),
        module: import.meta.url,
        root,
        options: opts,
        counter: counter.buffer,
      },
    },
  );
  const next = () =>
    new Promise<{ url?: string; done?: number }>((resolve, reject) => {
      const onError = (e: Error) => {
        worker.off('message', onMessage);
        reject(e);
      };
      const onMessage = (m: { url?: string; done?: number }) => {
        worker.off('error', onError);
        resolve(m);
      };
      worker.once('message', onMessage);
      worker.once('error', onError);
    });
  const { url } = await next();
  let seq = 0;
  const send = async (msg: object) => {
    const answer = next();
    worker.postMessage({ ...msg, seq: ++seq });
    await answer;
  };
  return {
    url: url!,
    get requests() {
      return Atomics.load(counter, 0);
    },
    setOptions: (options) => send({ options }),
    close: async () => {
      await send({});
      await worker.terminate();
    },
  };
}
