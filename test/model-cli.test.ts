import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..');
const FIX = join(import.meta.dirname, 'fixtures', 'model');
const run = (args: string[]) =>
  promisify(execFile)('node', [join(ROOT, 'bin', 'd2po.mjs'), ...args], { cwd: ROOT }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** `d2po score` on the fixture `name`'s reference pairs: its output lines, or the failed run */
async function scoreFixture(name: string, extra: string[] = []) {
  const exp = JSON.parse(readFileSync(join(FIX, name, 'expected.json'), 'utf8'));
  const dir = await mkdtemp(join(tmpdir(), 'd2po-score-'));
  const input = join(dir, 'in.jsonl');
  await writeFile(input, exp.cases.map((c: { prompt_ids: number[]; response_ids: number[] }) => JSON.stringify({ prompt_ids: c.prompt_ids, response_ids: c.response_ids })).join('\n') + '\n');
  const r = await run(['score', '--model', join(FIX, name), '--input', input, '--output', join(dir, 'out.jsonl'), '--batch-size', '2', ...extra]);
  if (r.code !== 0) return { r, exp, lines: [] };
  const lines = (await readFile(join(dir, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, exp.cases.length);
  return { r, exp, lines };
}

// opt: one file; llama: sharded with an index; gpt_neox: F16 on disk
for (const name of ['opt', 'llama', 'gpt_neox']) {
  test(`d2po score --model ${name}: token ids in, PyTorch-matching log-probs out (file output)`, async () => {
    const { r, exp, lines } = await scoreFixture(name);
    assert.equal(r.code, 0, r.stderr);
    lines.forEach((l, i) => {
      assert.equal(l.token_logprobs.length, exp.cases[i].response_ids.length);
      l.token_logprobs.forEach((v: number, j: number) => assert.ok(Math.abs(v - exp.cases[i].token_logprobs[j]) < 1e-4));
      assert.ok(Math.abs(l.logprob - exp.cases[i].logprob) < 1e-3);
    });
  });
}

test('d2po score --dtype bf16 holds the weights in bf16: close to the reference, not equal; other dtypes are refused', async () => {
  const { r, exp, lines } = await scoreFixture('qwen2', ['--dtype', 'bf16']);
  assert.equal(r.code, 0, r.stderr);
  const diffs = lines.flatMap((l, i) => l.token_logprobs.map((v: number, j: number) => Math.abs(v - exp.cases[i].token_logprobs[j])));
  assert.ok(Math.max(...diffs) < 0.3 && Math.max(...diffs) > 1e-4, `bf16 vs float64 reference: ${Math.max(...diffs)}`);
  const bad = await scoreFixture('qwen2', ['--dtype', 'fp16']);
  assert.equal(bad.r.code, 2);
  assert.match(bad.r.stderr, /--dtype must be fp32 or bf16, got 'fp16'/);
});

test('d2po score: text lines use the tokenizer; a bad line is reported with its number', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-score-'));
  const good = join(dir, 'good.jsonl');
  await writeFile(good, '{"prompt": "the cat", "response": " sat on the mat"}\n\n{"prompt": "", "response": " the dog"}\n');
  const r = await run(['score', '--model', join(FIX, 'gpt2'), '--input', good]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(out.length, 2);
  assert.equal(out[0].token_logprobs.length, 4); // ' sat', ' on', ' the', ' mat' are single tokens of the fixture
  assert.ok(out.every((o) => o.logprob < 0 && Math.abs(o.logprob - o.token_logprobs.reduce((a: number, b: number) => a + b, 0)) < 1e-4));
  const bad = join(dir, 'bad.jsonl');
  await writeFile(bad, '{"prompt_ids": [1], "response_ids": [2]}\n{"prompt_ids": [1], "response": "x"}\n');
  const e = await run(['score', '--model', join(FIX, 'gpt2'), '--input', bad]);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /bad\.jsonl:2: unknown field 'prompt_ids' \(expected .* or \{"prompt_ids": int\[\], "response_ids": int\[\]\}\)/);
  // the same JSONL rules as every command: a BOM and CRLF are fine, unknown fields and invalid UTF-8 are named
  await writeFile(bad, '\uFEFF{"prompt_ids": [1], "response_ids": [2]}\r\n{"prompt_ids": [1], "response_ids": [2], "label": 1}\r\n');
  const unknown = await run(['score', '--model', join(FIX, 'gpt2'), '--input', bad]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /bad\.jsonl:2: unknown field 'label'/);
  await writeFile(bad, Buffer.concat([Buffer.from('{"prompt": "the '), Buffer.from([0xe2, 0x82]), Buffer.from('", "response": " cat"}\n')]));
  const utf8 = await run(['score', '--model', join(FIX, 'gpt2'), '--input', bad]);
  assert.equal(utf8.code, 2);
  assert.match(utf8.stderr, /bad\.jsonl:1: invalid UTF-8 \(byte 0xe2 at column 17\)/);
  const noTok = await run(['score', '--model', join(FIX, 'opt'), '--input', good]);
  assert.equal(noTok.code, 2);
  assert.match(noTok.stderr, /good\.jsonl:1: text input needs a tokenizer/);
});

test('d2po sample: seeded JSON output is reproducible; greedy text; bad flags', async () => {
  const args = ['sample', '--model', join(FIX, 'gpt2'), '--prompt', 'the cat', '--n', '2', '--max-new-tokens', '5', '--seed', '3', '--json'];
  const a = await run(args);
  assert.equal(a.code, 0, a.stderr);
  const b = await run(args);
  assert.equal(a.stdout, b.stdout);
  const j = JSON.parse(a.stdout);
  assert.equal(j.samples.length, 2);
  assert.ok(j.samples.every((s: { ids: number[]; text: string }) => s.ids.length <= 5 && typeof s.text === 'string'));
  const g = await run(['sample', '--model', join(FIX, 'gpt2'), '--prompt', 'the cat', '--max-new-tokens', '4', '--temperature', '0']);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(g.stdout.startsWith('the cat'));
  const bad = await run(['sample', '--model', join(FIX, 'gpt2'), '--prompt', 'x', '--top-p', '2']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /topP must be in \(0, 1\]/);
  const long = await run(['sample', '--model', join(FIX, 'gpt2'), '--prompt', 'x', '--max-new-tokens', '40']);
  assert.equal(long.code, 2);
  assert.match(long.stderr, /longer than the model's context of 32/);
});

test('d2po sample and score name a bos_token_id outside the vocabulary', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-bos-'));
  const config = JSON.parse(readFileSync(join(FIX, 'gpt2', 'config.json'), 'utf8'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, bos_token_id: config.vocab_size + 7 }));
  for (const f of ['model.safetensors', 'tokenizer.json']) await writeFile(join(dir, f), await readFile(join(FIX, 'gpt2', f)));
  const expected = new RegExp(`token id ${config.vocab_size + 7} is outside the vocabulary \\(size ${config.vocab_size}\\)`);
  const s = await run(['sample', '--model', dir, '--prompt', 'the cat', '--max-new-tokens', '2']);
  assert.equal(s.code, 2, s.stderr);
  assert.match(s.stderr, expected);
  assert.match(s.stderr, /bos_token_id/);
  const input = join(dir, 'in.jsonl');
  await writeFile(input, JSON.stringify({ prompt: 'the cat', response: ' sat' }) + '\n');
  const sc = await run(['score', '--model', dir, '--input', input]);
  assert.equal(sc.code, 2, sc.stderr);
  assert.match(sc.stderr, expected);
});
