import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDir } from '../src/util/ensure-dir.js';
import { d2po } from './cli.js';

test('ensureDir creates nested folders and accepts existing ones', () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-ensure-dir-'));
  const deep = join(root, 'a', 'b', 'c');
  ensureDir(deep);
  assert.ok(statSync(deep).isDirectory());
  ensureDir(deep);
  ensureDir(root);
  const file = join(root, 'f');
  writeFileSync(file, '');
  assert.throws(() => ensureDir(join(file, 'x')), (e: Error) => e.message.includes(`cannot create folder ${join(file, 'x')}`) && /is not a folder/.test(e.message));
  assert.throws(() => ensureDir(file), /is not a folder/);
  rmSync(root, { recursive: true });
});

test('an impossible path is an error at once, not a spin', { skip: process.platform !== 'linux' && 'needs /proc (Linux)' }, async () => {
  const t0 = Date.now();
  assert.throws(() => ensureDir('/proc/x/y'), /cannot create folder \/proc\/x\/y: .*ENOENT/);
  const r = await d2po(['run', '--task', 'word-collector', '--out', '/proc/x', '--no-progress']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot create the run folder \/proc\/x/);
  assert.ok(Date.now() - t0 < 30_000, 'fails at once');
});
