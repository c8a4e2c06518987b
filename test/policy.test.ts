/** The dependency policy: a portable core, and no runtime dependencies. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('only src/node and src/cli import node:* or Node globals; the core takes Uint8Array', () => {
  const core = files(path.join(root, 'src')).filter(
    (f) => !f.startsWith(path.join(root, 'src', 'node')) && !f.startsWith(path.join(root, 'src', 'cli')),
  );
  assert.ok(core.length > 5);
  for (const f of core) {
    // code only: comments may mention Node's APIs
    const text = fs
      .readFileSync(f, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '');
    assert.doesNotMatch(text, /from ['"]node:/, `${path.relative(root, f)} imports node:*`);
    assert.doesNotMatch(text, /\bBuffer\.|\bprocess\./, `${path.relative(root, f)} uses Buffer or process`);
    for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
      assert.doesNotMatch(m[1], /\/(node|cli)\//, `${path.relative(root, f)} imports ${m[1]}`);
    }
  }
});

test('no runtime dependencies; dev dependencies pinned to exact versions', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies, undefined);
  for (const [name, v] of Object.entries(pkg.devDependencies as Record<string, string>)) {
    assert.match(v, /^\d+\.\d+\.\d+$/, `${name} is pinned`);
  }
});
