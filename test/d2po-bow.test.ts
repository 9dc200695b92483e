import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BowDiscriminator } from '../src/d2po/bow-discriminator.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { validateConfig } from '../src/d2po/config.js';
import type { PrefExample } from '../src/d2po/preference-trainer.js';
import { Rng } from '../src/util/rng.js';

const VOCAB = 60;
/** lexical reward: +1 per distinct token in 0..5, -1 per distinct token in 6..11; the rest is noise */
const reward = (ids: number[]) => new Set(ids.filter((t) => t < 6)).size - new Set(ids.filter((t) => t >= 6 && t < 12)).size;

/** non-tied pairs of random 8-token responses, ordered by the lexical reward */
function prefs(n: number, seed: number): PrefExample[] {
  const rng = new Rng(seed);
  const resp = () => Array.from({ length: 8 }, () => rng.int(VOCAB));
  const out: PrefExample[] = [];
  while (out.length < n) {
    const a = resp();
    const b = resp();
    if (reward(a) === reward(b)) continue;
    const [chosenIds, rejectedIds] = reward(a) > reward(b) ? [a, b] : [b, a];
    out.push({ promptIds: [1, 2], chosenIds, rejectedIds });
  }
  return out;
}

function accuracy(d: BowDiscriminator, ex: PrefExample[]): number {
  const [s] = d.score({ promptIds: [...ex.map((e) => e.promptIds), ...ex.map((e) => e.promptIds)], responseIds: [...ex.map((e) => e.chosenIds), ...ex.map((e) => e.rejectedIds)] });
  return ex.filter((_, i) => s[i] > s[ex.length + i]).length / ex.length;
}

const opts = { lr: 0.05, l2: 1e-3, batchSize: 16 };

test('bow learns a lexical preference: held-out accuracy on fresh pairs', () => {
  const d = new BowDiscriminator(VOCAB, opts);
  const heldOut = prefs(200, 2);
  assert.equal(accuracy(d, heldOut), 0, 'untrained, every pair ties');
  const loss = d.train(prefs(256, 1), 6, 3);
  assert.ok(Number.isFinite(loss) && loss < Math.log(2), `mean BT loss ${loss} below chance`);
  const acc = accuracy(d, heldOut);
  assert.ok(acc >= 0.85, `held-out accuracy ${acc}`);
  const w = d.weights();
  // the rewarded tokens end up above the penalised ones
  assert.ok(Math.min(...w.slice(0, 6)) > Math.max(...w.slice(6, 12)), `weights ${[...w.slice(0, 12)]}`);
});

test('a bow score is the sum of the weights of the distinct tokens of the response; the prompt is not read', () => {
  const d = new BowDiscriminator(VOCAB, opts);
  d.train(prefs(64, 4), 2, 5);
  const w = d.weights();
  const ids = [7, 3, 3, 59, 0, 7];
  const [[s, sameSet, otherPrompt]] = d.score({ promptIds: [[1], [1], [9, 9, 9]], responseIds: [ids, [0, 3, 7, 59], ids] });
  assert.equal(s, w[0] + w[3] + w[7] + w[59], 'exactly the sum, each token once');
  assert.equal(sameSet, s, 'repeats and order do not count');
  assert.equal(otherPrompt, s);
  assert.notEqual(s, 0);
  assert.throws(() => d.score({ promptIds: [[1]], responseIds: [[VOCAB]] }), /token id 60 is outside the vocabulary \(size 60\)/);
});

test('bow save/load round-trips weights and Adam state: training on after a load is training on without one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-bow-'));
  const first = prefs(64, 6);
  const then = prefs(64, 7);
  const a = new BowDiscriminator(VOCAB, opts);
  a.train(first, 2, 1);
  await a.save(dir);
  const b = new BowDiscriminator(VOCAB, opts);
  await b.load(dir);
  assert.deepEqual(b.weights(), a.weights());
  a.train(then, 2, 2);
  b.train(then, 2, 2);
  assert.deepEqual(b.weights(), a.weights(), 'same moments and step count, so the same update');
  const wrong = new BowDiscriminator(VOCAB + 1, opts);
  await assert.rejects(wrong.load(dir), /bow\.safetensors: weight: expected a float32 vector of the vocabulary size 61, got float32 \[60\]/);
  await assert.rejects(new BowDiscriminator(VOCAB, opts).load(join(dir, 'nothing')), /bow discriminator state .*not found/);
  rmSync(dir, { recursive: true });
});

test('bow is a discriminator kind with its own lr and l2, never the default; stored configs without the fields still load', () => {
  const base = { task: 't', model: 'm', out: 'o' };
  const d2po = resolveConfig({ method: 'd2po', ...base });
  assert.equal(d2po.discriminator.kind, 'rm');
  const bow = resolveConfig({ method: 'd2po', ...base, discriminator: { kind: 'bow', l2: 0.01 } });
  assert.equal(bow.discriminator.kind, 'bow');
  assert.equal(bow.discriminator.l2, 0.01);
  assert.throws(() => resolveConfig({ method: 'd2po', ...base, discriminator: { kind: 'bow', l2: -1 } }), /discriminator\.l2: /);
  const { bowLr: _lr, l2: _l2, ...older } = d2po.discriminator;
  const loaded = validateConfig({ ...d2po, discriminator: older }, 'run.db');
  assert.equal(loaded.discriminator.bowLr, d2po.discriminator.bowLr);
  assert.equal(loaded.discriminator.l2, d2po.discriminator.l2);
});
