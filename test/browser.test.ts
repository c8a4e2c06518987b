/**
 * The package in a browser: the root export (`git-midx`, dist/index.js) bundled by esbuild for the
 * browser with no shims, loaded in headless Chromium from 127.0.0.1, reading a repository served
 * over HTTP, with the answers compared against `git`.
 *
 * In-page checks live in test/browser/page.ts; a test asks for one with `runInPage`. Needs `dist/`
 * (npm test builds first) and a Chromium (test/helpers/browser.ts says where it is looked for;
 * without one the suite is skipped, unless CI is set).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { SHA1, SHA256 } from '../src/hash.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import type { CheckArgs, CheckName, CheckResult, PageGlobals } from './browser/page.js';
import {
  type BrowserBundle,
  browserSkip,
  bundleForBrowser,
  launchBrowser,
  openPage,
  type StaticServer,
  startStaticServer,
} from './helpers/browser.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';
import { buildStoreRepo } from './helpers/store-repo.js';

/** The page's entry: the package by its name, handed to the in-page checks. */
const PAGE_ENTRY = [
  "import * as api from 'git-midx';",
  "import { install } from './test/browser/page.ts';",
  'install(api);',
].join('\n');

const PAGE_PATH = '/_test/index.html';
const BUNDLE_PATH = '/_test/page.js';
const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>git-midx</title><script type="module" src="${BUNDLE_PATH}"></script>`;

/**
 * What a scope opened, released newest first by `release()`, whatever happened. Once released, a
 * scope releases anything added later at once (a test still running after its suite timed out).
 */
class Resources {
  private readonly stack: (() => unknown)[] = [];
  private released = false;

  add(release: () => unknown): void {
    this.stack.push(release);
    if (this.released) void this.release().catch(() => {});
  }

  /** A nested scope, released with this one if not before; none once this one is released. */
  scope(): Resources {
    if (this.released) throw new Error('the suite has ended (timed out?); not starting');
    const inner = new Resources();
    this.add(() => inner.release());
    return inner;
  }

  async release(): Promise<void> {
    this.released = true;
    const errors: unknown[] = [];
    for (let next = this.stack.pop(); next !== undefined; next = this.stack.pop()) {
      try {
        await next();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'releasing test resources failed');
  }
}

/** Runs a test body with its own resources, released when it ends (or with the suite's). */
async function withResources<T>(suite: Resources, body: (res: Resources) => Promise<T>): Promise<T> {
  const res = suite.scope();
  try {
    return await body(res);
  } finally {
    await res.release();
  }
}

/** Time limits: a hung page fails its test, then the suite (and its browser) ends. */
const ONE_TEST = { timeout: 60_000 };

describe('the package in a browser', { skip: browserSkip(), timeout: 180_000 }, () => {
  const suite = new Resources();
  let browser: Browser | undefined;
  let pageBundle: BrowserBundle | undefined;

  before(async () => {
    pageBundle = await bundleForBrowser(PAGE_ENTRY);
    browser = await launchBrowser();
    const launched = browser;
    suite.add(() => closeBrowser(launched));
  });

  after(() => suite.release());

  test('the root export bundles from dist/ alone: no node: import, no require', ONE_TEST, async (t) => {
    const bundle = await bundleForBrowser("export * from 'git-midx';", { minify: true });
    assertPortable(bundle);
    for (const input of bundle.inputs) {
      assert.match(input, /^dist\//, `bundle input ${input} is not from dist/`);
    }
    assert.ok(bundle.inputs.includes('dist/index.js'));
    t.diagnostic(`root export, minified: ${bundle.size} bytes (${bundle.gzipSize} gzipped)`);

    assert.ok(pageBundle);
    assertPortable(pageBundle);
    for (const input of pageBundle.inputs) {
      assert.doesNotMatch(input, /^(src|node_modules)\//, `page bundle input ${input}`);
    }
  });

  for (const format of ['sha1', 'sha256'] as const) {
    test(`${format}: MIDX lookups in the page, over HTTP, agree with git`, ONE_TEST, () =>
      withResources(suite, async (res) => {
        const repo = TestRepo.create({ objectFormat: format });
        res.add(() => repo.cleanup());
        buildRepository(repo);
        const expected = expectedFromGit(repo);

        const { page, server } = await openRepositoryPage(res, repo);
        const missing = missingIds(format, expected.all);
        const result = await runInPage(page, 'midxLookup', {
          url: new URL('objects/pack/multi-pack-index', server.url).href,
          hash: format,
          ids: [...expected.all, ...missing],
        });
        assert.ok(server.requests.includes('GET /objects/pack/multi-pack-index'), server.requests.join('\n'));

        // Against git: every object, in id order; every pack; each id at its offset in a pack that has it.
        assert.deepEqual(result.oids, expected.all);
        assert.equal(result.numObjects, expected.all.length);
        assert.deepEqual([...result.packNames].sort(), [...expected.packs.keys()].sort());
        const midxBytes = repo.readMidx()!;
        const H = format === 'sha1' ? 20 : 32;
        assert.equal(result.checksum, midxBytes.subarray(midxBytes.length - H).toString('hex'));
        expected.all.forEach((oid, i) => {
          const found = result.lookups[i];
          assert.ok(found, `${oid} not found in the page`);
          assert.equal(found.position, i);
          const offset = expected.packs.get(found.packName)?.get(oid);
          assert.equal(found.offset, offset, `${oid}: ${found.packName} at ${found.offset}`);
        });
        assert.deepEqual(
          result.lookups.slice(expected.all.length),
          missing.map(() => null),
        );

        // Against the same reader in Node: the bundle behaves as the sources do.
        const hash = format === 'sha1' ? SHA1 : SHA256;
        const midx = MultiPackIndex.fromBytes(midxBytes, { hash });
        try {
          assert.equal(result.version, midx.version);
          assert.deepEqual(result.packNames, midx.packNames);
          expected.all.forEach((oid, i) => {
            const found = midx.lookup(Buffer.from(oid, 'hex'))!;
            const { position, packName, offset } = found;
            assert.deepEqual(result.lookups[i], { position, packName, offset });
          });
        } finally {
          midx.close();
        }
      }),
    );
  }

  for (const format of ['sha1', 'sha256'] as const) {
    test(
      `${format}: objects read in the page (AsyncObjectStore over HTTP) equal git cat-file --batch`,
      ONE_TEST,
      () =>
        withResources(suite, async (res) => {
          // Deltas of both kinds, a MIDX, a pack outside it, loose objects, an alternate, annotated
          // tags, packed and loose refs (test/helpers/store-repo.ts); both repositories are served.
          const r = buildStoreRepo(format);
          res.add(() => r.cleanup());
          const ids = [...r.objects.keys(), ...r.missing];
          const revs = [
            'HEAD',
            'main',
            'side',
            'loose-branch',
            'v1',
            'light',
            'v1^{}',
            'HEAD~3',
            'HEAD:file.txt',
          ];
          const { page, server } = await openRepositoryPage(res, r.root);
          const result = await runInPage(page, 'readObjects', { base: `${server.url}main/.git/`, ids, revs });
          assert.equal(result.hash, format);
          ids.forEach((id, k) => {
            const w = r.objects.get(id);
            const g = result.objects[k];
            if (w === undefined) {
              assert.equal(g, null, `${id} should be missing`);
              return;
            }
            assert.ok(g, `${id} missing in the page`);
            assert.equal(g.type, w.type, id);
            assert.equal(g.size, w.size, id);
            assert.ok(Buffer.from(g.data, 'base64').equals(w.data), `bytes of ${id}`);
          });
          assert.deepEqual(
            result.revs,
            revs.map((rev) => r.main.gitText(['rev-parse', '--verify', '-q', rev])),
          );
        }),
    );
  }

  /** Serves the repository's .git directory with the page and its bundle; opens the page. */
  async function openRepositoryPage(
    res: Resources,
    repo: TestRepo | string,
  ): Promise<{ page: Page; server: StaticServer }> {
    assert.ok(browser && pageBundle, 'browser suite setup failed');
    const server = await startStaticServer(typeof repo === 'string' ? repo : repo.gitDir, {
      routes: {
        [PAGE_PATH]: { body: PAGE_HTML },
        [BUNDLE_PATH]: { body: pageBundle.code },
      },
    });
    res.add(() => server.close());
    const { page, errors } = await openPage(browser, new URL(PAGE_PATH, server.url).href);
    res.add(() => page.close());
    try {
      await page.waitForFunction(() => typeof (globalThis as Partial<PageGlobals>).run === 'function', {
        timeout: 10_000,
      });
    } catch (err) {
      throw new Error(`the page did not start: ${errors.join('; ') || (err as Error).message}`);
    }
    return { page, server };
  }
});

/** Runs one of the checks of test/browser/page.ts in the page and returns its (JSON) result. */
function runInPage<K extends CheckName>(page: Page, check: K, args: CheckArgs<K>): Promise<CheckResult<K>> {
  return page.evaluate((spec) => (globalThis as unknown as PageGlobals).run(spec), { check, args } as {
    check: K;
    args: CheckArgs<K>;
  }) as Promise<CheckResult<K>>;
}

async function closeBrowser(browser: Browser): Promise<void> {
  const closed = browser.close();
  const timer = new Promise<'timeout'>((done) => setTimeout(() => done('timeout'), 10_000).unref());
  if ((await Promise.race([closed, timer])) === 'timeout') browser.process()?.kill('SIGKILL');
}

/** No Node built-in imported, no CommonJS `require` (esbuild names its shim `__require`). */
function assertPortable(bundle: BrowserBundle): void {
  assert.doesNotMatch(bundle.code, /["'`]node:/, 'the bundle imports a node: module');
  assert.doesNotMatch(bundle.code, /\brequire\s*\(|__require/, 'the bundle calls require');
}

/**
 * Commits packed one round at a time (`git repack -d`: commits, trees, blobs, deltas), then packs of
 * loose blobs where some ids are in two packs, and a MIDX over all of them.
 */
function buildRepository(repo: TestRepo): void {
  for (let round = 0; round < 3; round++) {
    const files: Record<string, string> = {};
    for (let i = 0; i < 8; i++) {
      files[`dir${i % 3}/file${i}.txt`] = `round ${round} file ${i}\n${'shared line\n'.repeat(50 + i)}`;
    }
    repo.commitFiles(files, `round ${round}`);
    repo.repackIncremental();
  }
  makeManyPacks(repo, 3, 20, { duplicateEvery: 3 });
  repo.git(['multi-pack-index', 'write']);
}

interface Expected {
  /** Every object id, sorted (= MIDX order). */
  all: string[];
  /** `<stem>.idx` → id → offset, from `git show-index`. */
  packs: Map<string, Map<string, number>>;
}

function expectedFromGit(repo: TestRepo): Expected {
  const all = repo
    .gitText(['cat-file', '--batch-check=%(objectname)', '--batch-all-objects'])
    .split('\n')
    .sort();
  const packs = new Map<string, Map<string, number>>();
  for (const stem of repo.listPackStems()) {
    const idx = readFileSync(join(repo.packDir, `${stem}.idx`));
    const shown = repo.gitText(['show-index', `--object-format=${repo.objectFormat}`], idx);
    const offsets = new Map<string, number>();
    for (const line of shown.split('\n')) {
      const [offset, oid] = line.split(' ');
      offsets.set(oid, Number(offset));
    }
    packs.set(`${stem}.idx`, offsets);
  }
  return { all, packs };
}

/** Ids of no object: hashes of other text, neighbours of present ids, all-zero and all-ones. */
function missingIds(format: 'sha1' | 'sha256', present: readonly string[]): string[] {
  const have = new Set(present);
  const hexSize = format === 'sha1' ? 40 : 64;
  const ids = ['0'.repeat(hexSize), 'f'.repeat(hexSize)];
  for (let i = 0; i < 10; i++) ids.push(createHash(format).update(`not an object ${i}`).digest('hex'));
  for (const oid of present.slice(0, 10)) {
    ids.push(oid.slice(0, -1) + (oid.endsWith('0') ? '1' : '0'));
  }
  return ids.filter((id) => !have.has(id));
}
