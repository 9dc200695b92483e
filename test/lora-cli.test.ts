import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { d2po } from './cli.js';

// d2po score --adapter, d2po sample --adapter and d2po export --merge on the fixtures of
// scripts/lora_reference.py (adapters in PEFT's layout with float64 PyTorch log-probs).
const MODEL = join(import.meta.dirname, 'fixtures', 'model');
const LORA = join(import.meta.dirname, 'fixtures', 'lora');

interface Case { prompt_ids: number[]; response_ids: number[]; token_logprobs: number[] }
const cases = (name: string): Case[] => JSON.parse(readFileSync(join(LORA, name, 'expected.json'), 'utf8')).cases;

async function score(args: string[], input: string): Promise<number[][]> {
  const r = await d2po(['score', ...args, '--input', input]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l).token_logprobs);
}

for (const name of ['gpt2', 'opt'] as const) {
  test(`d2po score --adapter (${name}): PyTorch's float64 log-probs of base + adapter to 1e-4 per token; export --merge scores the same to 1e-5`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'd2po-lora-cli-'));
    const input = join(dir, 'in.jsonl');
    await writeFile(input, cases(name).map((c) => JSON.stringify({ prompt_ids: c.prompt_ids, response_ids: c.response_ids })).join('\n') + '\n');
    const adapted = await score(['--model', join(MODEL, name), '--adapter', join(LORA, name)], input);
    cases(name).forEach((c, i) => c.token_logprobs.forEach((want, j) => assert.ok(Math.abs(adapted[i][j] - want) <= 1e-4, `pair ${i} token ${j}: ${adapted[i][j]} vs ${want}`)));
    const out = join(dir, 'merged');
    const e = await d2po(['export', '--merge', '--adapter', join(LORA, name), '--model', join(MODEL, name), '--out', out]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /6 weights merged/);
    assert.deepEqual(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')), JSON.parse(await readFile(join(MODEL, name, 'config.json'), 'utf8')));
    const merged = await score(['--model', out], input);
    merged.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - adapted[i][j]) <= 1e-5, `pair ${i} token ${j}: merged ${v} vs adapter ${adapted[i][j]}`)));
    const again = await d2po(['export', '--merge', '--adapter', join(LORA, name), '--model', join(MODEL, name), '--out', out]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);
  });
}

test('d2po sample --adapter changes the samples; a mismatched adapter is an error naming its target modules', async () => {
  const args = ['sample', '--model', join(MODEL, 'gpt2'), '--prompt', 'the cat', '--temperature', '0', '--max-new-tokens', '8', '--json'];
  const plain = await d2po(args);
  const adapted = await d2po([...args, '--adapter', join(LORA, 'gpt2')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(adapted.code, 0, adapted.stderr);
  assert.notDeepEqual(JSON.parse(adapted.stdout).samples, JSON.parse(plain.stdout).samples);
  const wrong = await d2po([...args, '--adapter', join(LORA, 'opt')]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /target modules 'q_proj', 'v_proj', 'fc2' match no projection of this model \(its projections: c_attn, c_proj, c_fc\)/);
  const usage = await d2po(['export', '--adapter', join(LORA, 'gpt2'), '--model', join(MODEL, 'gpt2'), '--out', '/nonexistent/x']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--merge is required/);
});
