import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, saveModel, loadModel, Tokenizer, type CausalLM } from '../src/model/index.js';
import { noGrad, scope, tensor } from '../src/tensor/index.js';
import { createContrastiveDistillationTask } from '../src/tasks/contrastive-distillation.js';
import type { Task } from '../src/tasks/task.js';

// Two tiny random GPT-2s over the shipped 4k tokenizer stand in for cd-large / cd-small.
const TOKENIZER = 'models/brown-bpe-4k/tokenizer.json';
let dir: string;
let task: Task;
let tok: Tokenizer;

const gpt2 = (n_embd: number, n_layer: number, seed: number): CausalLM =>
  createModel({ model_type: 'gpt2', vocab_size: 4096, n_positions: 64, n_embd, n_layer, n_head: 2 }, { seed });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd2po-cd-'));
  const tokenizerJson = await readFile(TOKENIZER, 'utf8');
  await saveModel(join(dir, 'large'), gpt2(32, 2, 1), { tokenizerJson });
  await saveModel(join(dir, 'small'), gpt2(16, 1, 2), { tokenizerJson });
  tok = await Tokenizer.fromFile(TOKENIZER);
  task = createContrastiveDistillationTask({ largeDir: join(dir, 'large'), smallDir: join(dir, 'small'), batchSize: 3 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** log p(response | <eos> prompt) summed over response tokens, from one unpadded forward pass. */
function directLogprob(model: CausalLM, prompt: string, response: string): number {
  const p = [tok.eosId!, ...tok.encode(prompt)];
  const r = tok.encode(response);
  const ids = [...p, ...r];
  return noGrad(() =>
    scope(() => {
      const { logits } = model.forward(tensor(BigInt64Array.from(ids.map(BigInt)), { shape: [1, ids.length], dtype: 'int64' }));
      const lp = logits.logSoftmax(2).toArray();
      const V = 4096;
      let sum = 0;
      for (let j = 0; j < r.length; j++) sum += lp[(p.length - 1 + j) * V + r[j]];
      return sum;
    }),
  );
}

const pairs = [
  { prompt: 'The jury said', response: ' that the election was conducted well.' },
  { prompt: 'He', response: ' ran.' },
  { prompt: 'In 1961 the city of Atlanta', response: ' had a new mayor, and the council met every week in the old hall on Main Street.' },
  { prompt: 'She', response: '' },
  { prompt: '', response: ' The end.' },
];

test('reward = (log p_large - log p_small) / response tokens, matching a direct forward pass', async () => {
  const large = (await loadModel(join(dir, 'large'))).model;
  const small = (await loadModel(join(dir, 'small'))).model;
  const got = await task.rewards(pairs);
  for (const [i, { prompt, response }] of pairs.entries()) {
    const n = tok.encode(response).length;
    const want = n === 0 ? 0 : (directLogprob(large, prompt, response) - directLogprob(small, prompt, response)) / n;
    assert.ok(Math.abs(got[i] - want) < 1e-4, `pair ${i}: ${got[i]} vs ${want}`);
  }
  assert.equal(got[3], 0, 'empty response scores 0');
  assert.ok(got.some((v) => Math.abs(v) > 1e-3), 'different models give non-zero rewards');
});

test('batch-independent: a text alone scores as in any batch (1e-5)', async () => {
  const batched = await task.rewards(pairs);
  for (const [i, p] of pairs.entries()) {
    const [alone] = await task.rewards([p]);
    assert.ok(Math.abs(alone - batched[i]) < 1e-5, `pair ${i}: alone ${alone}, batched ${batched[i]}`);
  }
  const reversed = await task.rewards([...pairs].reverse());
  reversed.reverse().forEach((v, i) => assert.ok(Math.abs(v - batched[i]) < 1e-5));
});

test('prompts: 5-15-token prefixes of dev sentences; too-long items are errors', async () => {
  const dev = await task.prompts('dev');
  assert.equal(dev.length, 200);
  assert.equal(new Set(dev).size, 200);
  for (const p of dev) {
    const n = tok.encode(p).length;
    assert.ok(n >= 4 && n <= 16, `${n} tokens: ${JSON.stringify(p)}`); // re-encoding a cut may merge or split one token
  }
  const lengths = dev.map((p) => tok.encode(p).length);
  assert.ok(Math.min(...lengths) <= 6 && Math.max(...lengths) >= 14, 'lengths span the range');
  await assert.rejects(task.rewards([{ prompt: 'a', response: ' word'.repeat(100) }]), /item 0 is \d+ tokens.*context of 64/);
});

test('missing models and mismatched tokenizers are clear errors', async () => {
  const missing = createContrastiveDistillationTask({ largeDir: join(dir, 'nope'), smallDir: join(dir, 'small') });
  await assert.rejects(missing.rewards(pairs), /nope is not a model folder/);
  await saveModel(join(dir, 'other'), gpt2(16, 1, 3), { tokenizerJson: await readFile('test/fixtures/tokenizer/tokenizer.json', 'utf8') });
  const mixed = createContrastiveDistillationTask({ largeDir: join(dir, 'large'), smallDir: join(dir, 'other') });
  await assert.rejects(mixed.prompts('dev'), /have different tokenizers/);
});

test('d2po reward --task contrastive-distillation --cd-large --cd-small', async () => {
  const input = join(dir, 'in.jsonl');
  await writeFile(input, pairs.slice(0, 2).map((p) => JSON.stringify(p)).join('\n') + '\n');
  const { stdout } = await promisify(execFile)(process.execPath, [
    'bin/d2po.mjs', 'reward', '--task', 'contrastive-distillation', '--input', input,
    '--cd-large', join(dir, 'large'), '--cd-small', join(dir, 'small'),
  ]);
  const got = stdout.trim().split('\n').map((l) => JSON.parse(l).reward as number);
  const want = await task.rewards(pairs.slice(0, 2));
  assert.equal(got.length, 2);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6));
});
