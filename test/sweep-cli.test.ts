import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore } from '../src/store/run-store.js';
import { contention, estimateRun, REFERENCE_MACS, scheduleWall, UNIT_SECONDS } from '../src/sweep/estimate.js';
import { macsPerToken, readConfig } from '../src/model/config.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { d2po } from './cli.js';
import { tinyModelDir, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const common = ['--task', taskFile, '--model', model, '--seeds', '0-1', '--initial-gold', '16', '--online-gold', '4', '--rounds', '2', '--steps', '2', '--batch-size', '4'];
const small = ['--set', 'eval.prompts=2', '--set', 'eval.accuracyPairs=2', '--set', 'init.policyEpochs=1', '--set', 'init.discriminatorEpochs=1', '--set', 'discriminator.epochs=1', '--set', 'autocast=false'];

test('sweep --dry-run prints every method x seed x budget with an estimate, and runs nothing', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'd2po-sweep-')), 's');
  const r = await d2po(['sweep', ...common, '--online-gold', '4,8', '--methods', 'd2po,dpo', '--load', '0', '--out', out, '--dry-run', ...small]);
  assert.equal(r.code, 0, r.stderr);
  for (const name of ['d2po-online4-seed0', 'd2po-online8-seed1', 'dpo-online4-seed0', 'dpo-online8-seed1']) assert.match(r.stdout, new RegExp(`${name}\\s+~[\\d.]+ s`));
  assert.match(r.stdout, /estimated wall time: [\d.]+ (s|min) for 8 runs, 2 at a time/);
  assert.ok(!existsSync(out), 'a dry run writes nothing');
});

test('sweep --dry-run stretches its estimates by the load beside it, and says so', async () => {
  const plan = (load: string) => d2po(['sweep', ...common, '--methods', 'd2po', '--jobs', '1', '--threads', '1', '--load', load, '--out', join(tmpdir(), 'd2po-sweep-load'), '--dry-run', ...small]);
  const idle = await plan('0');
  const cpus = availableParallelism();
  const busy = await plan(String(3 * cpus - 1));
  assert.equal(busy.code, 0, busy.stderr);
  const seconds = (text: string) => Number(/d2po-online4-seed0\s+~([\d.]+) s/.exec(text)?.[1]);
  const expected = contention(3 * cpus - 1, cpus, 1);
  assert.equal(expected, 3);
  assert.ok(Math.abs(seconds(busy.stdout) / seconds(idle.stdout) / expected - 1) < 0.1, `${seconds(busy.stdout)} s against ${seconds(idle.stdout)} s idle`);
  assert.match(busy.stdout, new RegExp(`times 3\\.00 for sharing the cores: load ${3 * cpus - 1}\\.0 beside this sweep's 1 thread\\(s\\) on ${cpus} CPUs`));
  if (cpus > 1) assert.doesNotMatch(idle.stdout, /sharing the cores/, 'a free core costs nothing extra');
  assert.match((await plan('lots')).stderr, /--load: expected a number >= 0, got 'lots'/);
});

test('sweep refuses flags it sets per run and bad lists, naming them', async () => {
  assert.match((await d2po(['sweep', ...common, '--seed', '3', '--dry-run'])).stderr, /--seed: the sweep sets it for each run/);
  assert.match((await d2po(['sweep', ...common, '--seeds', '4-2', '--dry-run'])).stderr, /--seeds: 4-2 is an empty range/);
  assert.match((await d2po(['sweep', ...common, '--methods', 'd2po,nope', '--dry-run'])).stderr, /--methods: unknown method 'nope'/);
  assert.match((await d2po(['sweep', ...common, '--set', 'policy.lr=-1', '--dry-run'])).stderr, /policy\.lr/);
});

test('a sweep runs every job from shared warm starts, writes the report, and keeps finished runs when run again', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'd2po-sweep-')), 's');
  const args = ['sweep', ...common, '--methods', 'opo-gold,dpo', '--jobs', '2', '--out', out, ...small];
  const r = await d2po(args);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /sweep done in .*: 4 ran, 0 kept, 0 failed/);
  assert.ok(existsSync(join(out, 'report.md')));
  // each run's log says where it is: the warm start's phases, then the loop's progress line
  const log = readFileSync(join(out, 'logs', 'opo-gold-online4-seed0.log'), 'utf8');
  assert.match(log, /warm start: 16 initial pairs \(\d+ not tied, \d+ of them from the cache\) in \d+ s/);
  assert.match(log, /warm start: the policy (trained, \d epochs kept|from the cache) in \d+ s/);
  assert.match(log, /opo-gold {2}\d+\/\d+ {2}100% .* in \d+/);
  for (const seed of [0, 1]) {
    const on = RunStore.open(join(out, `opo-gold-online4-seed${seed}`), { readonly: true });
    const off = RunStore.open(join(out, `dpo-online4-seed${seed}`), { readonly: true });
    try {
      assert.equal(on.goldUsed(), 20);
      assert.equal(off.goldUsed(), 20, 'the offline method gets the same total, all initial');
      assert.equal(off.ledger(0).length, 20);
      const texts = (s: RunStore) => s.goldLabels([0]).map((g) => `${g.pair.prompt}|${g.pair.a}|${g.pair.b}|${g.preference}`);
      assert.deepEqual(texts(off).slice(0, 16), texts(on), 'the first 16 initial pairs are the shared set');
    } finally {
      on.close();
      off.close();
    }
  }
  const plan = await d2po([...args, '--dry-run']);
  assert.match(plan.stdout, /estimated wall time: 0 s for 4 runs/, 'finished runs cost nothing more');
  // a sweep of another method from the same warm starts pays only its online part
  const other = await d2po(['sweep', ...common, '--methods', 'd2po', '--jobs', '2', '--load', '0', '--out', join(out, '..', 'variant'), '--warm-cache', join(out, 'warm-starts'), '--dry-run', ...small]);
  const fresh = await d2po(['sweep', ...common, '--methods', 'd2po', '--jobs', '2', '--load', '0', '--out', join(out, '..', 'fresh'), '--dry-run', ...small]);
  const seconds = (text: string) => Number(/d2po-online4-seed0\s+~([\d.]+) s/.exec(text)?.[1]);
  assert.ok(seconds(other.stdout) < seconds(fresh.stdout), `cached initial set and warm policy are not paid again: ${seconds(other.stdout)} s < ${seconds(fresh.stdout)} s`);
  // an empty run.db (as a database shell leaves behind when pointed at a wrong path) is named and
  // left out; the report of the finished runs is still written
  writeFileSync(join(out, 'logs', 'run.db'), '');
  rmSync(join(out, 'report.md'));
  const again = await d2po(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 ran, 4 kept, 0 failed/);
  assert.match(again.stderr, /left out of the report: .*logs.*run\.db/);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /opo-gold/);
});

test("a resumed run keeps the sweep's --threads, whatever its stored config says", async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'd2po-sweep-')), 's');
  const args = ['sweep', ...common, '--seeds', '0', '--methods', 'dpo', '--jobs', '1', '--threads', '1', '--out', out, ...small];
  assert.equal((await d2po(args)).code, 0);
  // a run cut after it was started with two threads (its stored config says 2)
  const store = RunStore.open(join(out, 'dpo-online4-seed0'));
  store.setMeta('config', { ...store.getMeta<Record<string, unknown>>('config'), threads: 2 });
  store.setMeta('status', 'failed');
  store.close();
  const r = await d2po(args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming dpo-online4-seed0/);
  assert.match(readFileSync(join(out, 'logs', 'dpo-online4-seed0.log'), 'utf8'), /resuming with threads: 2 -> 1/);
});

test("an offline method with online steps is evaluated on the online methods' grid (steps / rounds), not only at its end", async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'd2po-sweep-')), 's');
  const r = await d2po(['sweep', ...common, '--seeds', '0', '--methods', 'opo-static-rm', '--jobs', '1', '--out', out, ...small]);
  assert.equal(r.code, 0, r.stderr);
  const store = RunStore.open(join(out, 'opo-static-rm-online4-seed0'), { readonly: true });
  try {
    assert.deepEqual(store.metrics('eval/reward').map((m) => m.step), [0, 1, 2], '2 steps in 2 rounds: an evaluation after each');
  } finally {
    store.close();
  }
});

test('estimates: shared work counts once, offline methods pay their whole set, and the schedule fills the slots', async () => {
  const base = { task: 't', model: 'm', out: 'o', autocast: false };
  const d2 = resolveConfig({ ...base, method: 'd2po', budget: { gold: 1900, initial: 1600, rounds: 6, steps: 60 } });
  const all = resolveConfig({ ...base, method: 'd2po', budget: { gold: 1900, initial: 1600, rounds: 6, steps: 60 }, discriminator: { trainOn: 'all' } });
  const replay = resolveConfig({ ...base, method: 'd2po', budget: { gold: 1900, initial: 1600, rounds: 6, steps: 60 }, discriminator: { trainOn: 'replay', replaySize: 128 } });
  const dpo = resolveConfig({ ...base, method: 'dpo', budget: { gold: 1900 } });
  assert.ok(estimateRun(all, 64).online > estimateRun(replay, 64).online * 2, 'retraining on all gold costs more than replay');
  assert.equal(estimateRun(dpo, 64).online > 0, true, 'evaluations');
  assert.ok(estimateRun(dpo, 64).initialSet > estimateRun(d2, 64).initialSet, '1,900 offline pairs against 1,600');
  // work scales with the size of the model doing it: the unit costs are policy-base's
  assert.equal(macsPerToken(await readConfig('models/policy-base/config.json')), REFERENCE_MACS);
  const small = estimateRun(d2, 64, UNIT_SECONDS, { policy: 0.25, disc: 0.5 });
  assert.ok(Math.abs(small.warmPolicy - estimateRun(d2, 64).warmPolicy * 0.25) < 1e-9, 'the policy at a quarter of the size');
  assert.ok(Math.abs(small.warmDiscriminator - estimateRun(d2, 64).warmDiscriminator * 0.5) < 1e-9, 'the reward model at half');
  assert.equal(scheduleWall([10, 10, 10, 10], 2), 20);
  assert.equal(scheduleWall([30, 10, 10, 10], 2), 30);
  assert.equal(contention(0, 2, 2), 1, 'a thread per core is what the unit costs measured');
  assert.equal(contention(1, 2, 2), 1.5);
  assert.equal(contention(-1, 4, 1), 1, 'no load below nothing');
});
