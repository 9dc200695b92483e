import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SRC = resolve('src');
const CLI = join(SRC, 'cli');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every module a file names: static imports and re-exports (`from '...'`), side-effect imports and dynamic import(). */
function specifiers(source: string): string[] {
  const found = [...source.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm)];
  return found.map((m) => m[1] ?? m[2] ?? m[3]);
}

test('the core (src/ outside src/cli) never imports the CLI', () => {
  const core = tsFiles(SRC).filter((f) => !f.startsWith(CLI + sep));
  assert.ok(core.length > 50, `found the core's files (${core.length})`);
  const bad = core.flatMap((f) =>
    specifiers(readFileSync(f, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .filter((s) => {
        const target = resolve(dirname(f), s);
        return target === CLI || target.startsWith(CLI + sep);
      })
      .map((s) => `${relative(SRC, f)} imports ${s}`),
  );
  assert.deepEqual(bad, []);
});

test('the import scan sees every form of import', () => {
  const src = `import { a } from '../cli/x.js';\nexport { b } from "../cli/y.js";\nimport '../cli/z.js';\nconst m = await import('../cli/w.js');\nimport type { T } from './t.js';`;
  assert.deepEqual(specifiers(src), ['../cli/x.js', '../cli/y.js', '../cli/z.js', '../cli/w.js', './t.js']);
});
