// `npm run build`: the CLI as CommonJS files (see bin/cli-loader.cjs): the whole CLI
// (dist/cli/git-midx.cjs, from src/cli/main.ts) and a bundle of each read-only command alone
// (dist/cli/git-midx-<command>.cjs, from src/cli/bundles/<command>.ts), each one file.
// esbuild wraps each `import * as fs from 'node:fs'` in `__toESM(require(...))`, which copies
// every export of the module into a new object, once per importing module: a few milliseconds on
// every start of the CLI. A Node built-in is used here only through its named exports (checked
// below), so the module object itself serves.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const { OWN_BUNDLES, filesOf } = createRequire(import.meta.url)('../bin/cli-loader.cjs');
const bundles = [
  { entry: 'src/cli/main.ts', outfile: filesOf(undefined).bundleFile },
  ...OWN_BUNDLES.map((command) => ({
    entry: `src/cli/bundles/${command}.ts`,
    outfile: filesOf(command).bundleFile,
  })),
];
await Promise.all(
  bundles.map(({ entry, outfile }) =>
    build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile,
      define: { 'import.meta.url': '__filename' },
      // Less to read and hash on every start; names are kept, for stack traces and \`.name\`.
      minifyWhitespace: true,
      minifySyntax: true,
      logLevel: 'warning',
    }),
  ),
);
for (const { outfile } of bundles) {
  let source = readFileSync(outfile, 'utf8');
  if (/import_node_\w+\.default\b/.test(source)) {
    throw new Error(`${outfile}: a Node built-in is used through its default export; keep its wrapper`);
  }
  source = source.replace(/__toESM\(require\("(node:[a-z_/]+)"\)(?:,\s*1)?\)/g, 'require("$1")');
  // src/node/builtins.ts asks node:module for a `require` only where there is none (an ES
  // module); a CommonJS bundle always has one, and loading node:module costs ~1 ms per start.
  source = source
    .replace(/var import_node_module=require\("node:module"\),/, 'var ')
    .replace(/\(0,import_node_module\.createRequire\)\(__filename\)/, 'require');
  if (source.includes('import_node_module')) throw new Error(`${outfile}: node:module is still loaded`);
  if (/__toESM\(require\("node:/.test(source))
    throw new Error(`${outfile}: a Node built-in kept its __toESM wrapper`);
  writeFileSync(outfile, source);
}
