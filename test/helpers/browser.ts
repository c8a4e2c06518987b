/**
 * Test helper: the package in a real browser. Finds and launches a headless Chromium (puppeteer-core,
 * no browser download), bundles an entry script with esbuild the way an application would (the
 * package imported by its name, resolved through package.json `exports`, nothing shimmed), and
 * serves a directory plus in-memory files (the page, the bundle) from 127.0.0.1.
 *
 * Needs `dist/` (npm test builds first). .ci/run installs Debian's `chromium` when none is present.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** The repository root: the package whose name the bundles import. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Finding and launching Chromium

const BROWSER_NAMES = ['chromium', 'chromium-browser'];

/** Whether the CI environment variable is set (to anything but `0`/`false`). */
export function isCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** `CHROMIUM_PATH` if set, else the first of `chromium`, `chromium-browser` found on PATH. */
export function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of BROWSER_NAMES) {
      const candidate = join(dir, name);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // not there
      }
    }
  }
  return undefined;
}

const NO_BROWSER =
  'no Chromium found: set CHROMIUM_PATH or put chromium (Debian: apt-get install chromium) on PATH';

/**
 * The `skip` option for browser suites: a message when no browser is found outside CI, false
 * otherwise (with CI set, a missing browser is not skipped: `launchBrowser` fails instead).
 */
export function browserSkip(): string | false {
  if (findChromium() !== undefined || isCI()) return false;
  return NO_BROWSER;
}

/** Launches headless Chromium; `--no-sandbox` only when running as root (Chromium refuses otherwise). */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === undefined) throw new Error(`${NO_BROWSER} (CI is set, so this is a failure)`);
  if (!existsSync(executablePath)) throw new Error(`CHROMIUM_PATH=${executablePath} does not exist`);
  const args = [
    // Containers often give /dev/shm only 64 MB, where Chromium's renderers crash.
    '--disable-dev-shm-usage',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return puppeteer.launch({ executablePath, headless: true, args, timeout: 30_000 });
}

/** A new page that records uncaught errors and console errors, for failure messages. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`page error: ${err instanceof Error ? err.message : err}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  const response = await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  if (!response?.ok()) throw new Error(`GET ${url}: ${response?.status()} ${errors.join('; ')}`);
  return { page, errors };
}

// ---------------------------------------------------------------------------------------------
// Bundling

export interface BrowserBundle {
  code: string;
  /** Bytes of `code`, and gzipped. */
  size: number;
  gzipSize: number;
  /** Files that went into the bundle (the entry aside), relative to the repository root. */
  inputs: string[];
}

const ENTRY_NAME = '<browser entry>';

/**
 * Bundles `contents` (an ES module, resolved from the repository root) for the browser as one ES
 * module: esbuild with `platform: 'browser'`, no aliases, `define`s, injected shims or externals, so
 * every `git-midx` import must resolve through package.json `exports` to browser-ready files, and a
 * `node:` import would fail the build.
 */
export async function bundleForBrowser(
  contents: string,
  opts: { minify?: boolean } = {},
): Promise<BrowserBundle> {
  const result = await build({
    stdin: { contents, resolveDir: PACKAGE_ROOT, sourcefile: ENTRY_NAME, loader: 'js' },
    absWorkingDir: PACKAGE_ROOT,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: opts.minify ?? false,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) {
    throw new Error(`esbuild warnings: ${result.warnings.map((w) => w.text).join('; ')}`);
  }
  const out = result.outputFiles[0].contents;
  return {
    code: new TextDecoder().decode(out),
    size: out.length,
    gzipSize: gzipSync(out).length,
    inputs: Object.keys((result.metafile as Metafile).inputs).filter((name) => name !== ENTRY_NAME),
  };
}

// ---------------------------------------------------------------------------------------------
// A minimal static server (GET/HEAD, single byte ranges); `routes` serve in-memory files first.

export interface StaticRoute {
  body: string | Uint8Array;
  type?: string;
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** Every request as `<METHOD> <path>[ <range>]`, in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
};

export async function startStaticServer(
  root: string,
  opts: { routes?: Record<string, StaticRoute> } = {},
): Promise<StaticServer> {
  const base = resolve(root);
  const routes = opts.routes ?? {};
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const range = req.headers.range;
    requests.push(`${req.method} ${req.url}${range ? ` ${range}` : ''}`);
    serve(req, res, base, routes).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
  routes: Record<string, StaticRoute>,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const route = routes[path];
  if (route) {
    const body = typeof route.body === 'string' ? Buffer.from(route.body) : route.body;
    const type = route.type ?? TYPES[extname(path)] ?? 'application/octet-stream';
    send(req, res, 200, { 'content-type': type, 'content-length': String(body.length) }, body);
    return;
  }
  const file = resolve(base, `.${path}`);
  const info =
    file === base || file.startsWith(base + sep) ? await stat(file).catch(() => undefined) : undefined;
  if (!info?.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  let start = 0;
  let end = info.size; // exclusive
  let status = 200;
  const headers: Record<string, string> = { 'content-type': type, 'accept-ranges': 'bytes' };
  const range = req.headers.range;
  if (range !== undefined) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range);
    const first = m?.[1] ? Number(m[1]) : undefined;
    const last = m?.[2] ? Number(m[2]) : undefined;
    if (first !== undefined) start = first;
    else if (last !== undefined) start = Math.max(0, info.size - last);
    if (first !== undefined && last !== undefined) end = Math.min(info.size, last + 1);
    if (!m || (first === undefined && last === undefined) || start >= end) {
      res.writeHead(416, { 'content-range': `bytes */${info.size}` }).end();
      return;
    }
    status = 206;
    headers['content-range'] = `bytes ${start}-${end - 1}/${info.size}`;
  }
  headers['content-length'] = String(end - start);
  // Whole-file read: the files served here are small.
  const body = req.method === 'HEAD' ? new Uint8Array(0) : (await readFile(file)).subarray(start, end);
  send(req, res, status, headers, body);
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: Uint8Array,
): void {
  res.writeHead(status, { ...headers, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
