// `npm run build`: the CLI as one CommonJS file (dist/cli/git-midx.cjs; see bin/cli-loader.cjs).
// esbuild wraps each `import * as fs from 'node:fs'` in `__toESM(require(...))`, which copies
// every export of the module into a new object, once per importing module: a few milliseconds on
// every start of the CLI. A Node built-in is used here only through its named exports (checked
// below), so the module object itself serves.
import { readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const outfile = 'dist/cli/git-midx.cjs';
await build({
  entryPoints: ['src/cli/main.ts'],
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
});
let source = readFileSync(outfile, 'utf8');
if (/import_node_\w+\.default\b/.test(source)) {
  throw new Error(`${outfile}: a Node built-in is used through its default export; keep its wrapper`);
}
source = source.replace(/__toESM\(require\("(node:[a-z_/]+)"\)(?:,\s*1)?\)/g, 'require("$1")');
if (/__toESM\(require\("node:/.test(source))
  throw new Error(`${outfile}: a Node built-in kept its __toESM wrapper`);
writeFileSync(outfile, source);
