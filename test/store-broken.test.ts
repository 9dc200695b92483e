import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RunStore } from '../src/store/run-store.js';
import { findRuns, summarizeRun } from '../src/store/run-summary.js';
import { d2po } from './cli.js';

const root = mkdtempSync(join(tmpdir(), 'd2po-broken-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

function goodRun(dir: string): void {
  const s = RunStore.open(dir, { create: true });
  s.setMeta('config', { method: 'd2po', task: 'toy', budget: { gold: 4 } });
  s.setMeta('status', 'done');
  s.close();
}

test('a broken run folder is listed as broken with its reason, and the others still are listed', async () => {
  const runs = join(root, 'runs');
  goodRun(join(runs, 'a-good'));
  // half-created: the database exists, the schema does not
  mkdirSync(join(runs, 'b-half'), { recursive: true });
  const db = new Database(join(runs, 'b-half', 'run.db'));
  db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  db.close();
  mkdirSync(join(runs, 'c-garbage'));
  writeFileSync(join(runs, 'c-garbage', 'run.db'), 'not sqlite at all, just some text that is long enough to have a header'.repeat(4));
  const half = summarizeRun(join(runs, 'b-half'));
  assert.equal(half.status, 'broken');
  assert.match(half.reason!, /b-half\/run\.db: not a complete run database \(missing tables: pairs, gold_ledger, labels, train_uses, metrics, checkpoints\)/);
  assert.match(summarizeRun(join(runs, 'c-garbage')).reason!, /c-garbage\/run\.db: file is not a database/);
  const r = await d2po(['runs', runs]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /a-good\s+done\s+d2po/);
  assert.match(r.stdout, /b-half\s+broken/);
  assert.match(r.stdout, /c-garbage\s+broken/);
  assert.match(r.stderr, /b-half\/run\.db: not a complete run database/, 'the reasons are printed');
  const show = await d2po(['runs', 'show', join(runs, 'c-garbage')]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /status: +broken \(.*c-garbage\/run\.db: file is not a database\)/);
});

test('a zero-byte run.db beside its WAL: read-only opening keeps the WAL and names the problem', () => {
  const src = join(root, 'wal-src');
  const s = RunStore.open(src, { create: true });
  s.setMeta('config', { method: 'd2po', task: 'toy', budget: { gold: 4 } });
  const dir = join(root, 'wal-only');
  mkdirSync(dir);
  copyFileSync(join(src, 'run.db-wal'), join(dir, 'run.db-wal'));
  s.close();
  writeFileSync(join(dir, 'run.db'), '');
  const wal = readFileSync(join(dir, 'run.db-wal'));
  assert.ok(wal.length > 0);
  const sum = summarizeRun(dir);
  assert.equal(sum.status, 'broken');
  assert.match(sum.reason!, /wal-only\/run\.db is empty but its write-ahead log run\.db-wal holds \d+ bytes/);
  assert.deepEqual(readFileSync(join(dir, 'run.db-wal')), wal, 'the WAL is untouched');
  assert.equal(statSync(join(dir, 'run.db')).size, 0);
  assert.deepEqual(findRuns(dir), [dir]);
});

test('store errors name the file: a corrupt stored config, a folder that cannot be created', () => {
  const dir = join(root, 'bad-meta');
  goodRun(dir);
  const db = new Database(join(dir, 'run.db'));
  db.prepare("UPDATE meta SET value = '{\"method\": ' WHERE key = 'config'").run();
  db.close();
  const s = RunStore.open(dir, { readonly: true });
  assert.throws(() => s.getMeta('config'), /bad-meta\/run\.db: meta\.config is not valid JSON/);
  s.close();
  writeFileSync(join(root, 'a-file'), '');
  assert.throws(() => RunStore.open(join(root, 'a-file', 'run'), { create: true }), /cannot create the run folder .*a-file\/run: .*not a folder/);
});
