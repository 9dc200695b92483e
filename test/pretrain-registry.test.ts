import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRegistry, resolveModelPath, MODELS_DIR } from '../src/util/model-registry.js';

function dir(registry: unknown) {
  const d = mkdtempSync(join(tmpdir(), 'registry-'));
  writeFileSync(join(d, 'registry.json'), JSON.stringify(registry));
  return d;
}

test('registry entries take params and perplexity from eval.json unless given', () => {
  const d = dir({
    models: [
      { name: 'policy-base', path: 'pb', role: 'policy-base' },
      { name: 'math-base', path: 'mb', role: 'math-base', params: 123, heldout_ppl: 4.5 },
      { name: 'fresh', path: 'none', role: 'cd-small' },
    ],
  });
  mkdirSync(join(d, 'pb'));
  writeFileSync(join(d, 'pb', 'eval.json'), JSON.stringify({ params: 4240896, dev_ppl: 80.5, test_ppl: 77.25 }));
  const r = readRegistry(d);
  assert.deepEqual(
    r.map((m) => [m.name, m.role, m.path, m.params, m.heldout_ppl, m.dev_ppl]),
    [
      ['policy-base', 'policy-base', join(d, 'pb'), 4240896, 77.25, 80.5],
      ['math-base', 'math-base', join(d, 'mb'), 123, 4.5, null],
      ['fresh', 'cd-small', join(d, 'none'), null, null, null],
    ],
  );
  assert.equal(resolveModelPath('policy-base', d), join(d, 'pb'));
  assert.equal(resolveModelPath('./not/a/model', d), './not/a/model');
});

test('registry errors name the file and field', () => {
  assert.throws(() => readRegistry(dir({ models: [{ name: 'x', role: 'r' }] })), /registry\.json: field 'models\.0\.path'/);
  assert.throws(() => readRegistry(dir({ models: [{ name: 'x', path: 'x', role: 'r', ppl: 3 }] })), /field 'models\.0'/);
  assert.throws(
    () => readRegistry(dir({ models: [{ name: 'x', path: 'a', role: 'r' }, { name: 'x', path: 'b', role: 'r' }] })),
    /field 'models\.1\.name': duplicate name 'x'/,
  );
  assert.throws(() => readRegistry(mkdtempSync(join(tmpdir(), 'noreg-'))), /model registry not found/);
});

test('the shipped registry lists the three pretrained roles', () => {
  const roles = readRegistry(MODELS_DIR).map((m) => m.role);
  for (const r of ['policy-base', 'cd-small', 'cd-large']) assert.ok(roles.includes(r), r);
});
