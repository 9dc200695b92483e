import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ChatTemplate, Tokenizer, createModel, saveModel } from '../src/model/index.js';

const ROOT = join(import.meta.dirname, '..');
const QWEN2 = join(import.meta.dirname, 'fixtures', 'tokenizers', 'qwen2');
const run = (args: string[]) =>
  promisify(execFile)('node', [join(ROOT, 'bin', 'd2po.mjs'), ...args], { cwd: ROOT }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** A tiny random GPT-2 over the Qwen2 fixture tokenizer; with its tokenizer_config.json (and chat template) or without. */
async function modelFolder(withConfig: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-chat-cli-'));
  const tok = await Tokenizer.fromFile(join(QWEN2, 'tokenizer.json'));
  const model = createModel({ model_type: 'gpt2', vocab_size: tok.vocabSize, n_positions: 64, n_embd: 16, n_layer: 1, n_head: 2, bos_token_id: 273, eos_token_id: 275 }, { seed: 1 });
  await saveModel(dir, model, { tokenizerJson: tok.json });
  model.dispose();
  if (withConfig) await copyFile(join(QWEN2, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  return dir;
}

test('d2po score --chat-template scores the prompt wrapped in the template', async () => {
  const dir = await modelFolder(true);
  const tok = await Tokenizer.fromFile(join(dir, 'tokenizer.json'));
  const wrapped = (await ChatTemplate.of(tok)).encodePrompt('hi');
  await writeFile(join(dir, 'text.jsonl'), '{"prompt": "hi", "response": "hello"}\n');
  await writeFile(join(dir, 'ids.jsonl'), JSON.stringify({ prompt_ids: wrapped, response_ids: tok.encode('hello') }) + '\n');
  const chat = await run(['score', '--model', dir, '--input', join(dir, 'text.jsonl'), '--chat-template']);
  assert.equal(chat.code, 0, chat.stderr);
  const ids = await run(['score', '--model', dir, '--input', join(dir, 'ids.jsonl')]);
  const plain = await run(['score', '--model', dir, '--input', join(dir, 'text.jsonl')]);
  assert.equal(JSON.parse(chat.stdout).logprob, JSON.parse(ids.stdout).logprob);
  assert.notEqual(JSON.parse(chat.stdout).logprob, JSON.parse(plain.stdout).logprob, 'without the flag the prompt is plain text');
  const s = await run(['sample', '--model', dir, '--prompt', 'hi', '--chat-template', '--json', '--max-new-tokens', '4', '--seed', '3']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).samples.length, 1);
});

test('--chat-template on a folder without tokenizer_config.json is a usage error naming the file', async () => {
  const dir = await modelFolder(false);
  for (const args of [
    ['sample', '--model', dir, '--prompt', 'hi', '--chat-template'],
    ['score', '--model', dir, '--input', join(dir, 'missing.jsonl'), '--chat-template'],
  ]) {
    const r = await run(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--chat-template: ${join(dir, 'tokenizer_config.json').replace(/[.\\/]/g, '\\$&')} not found`));
  }
});
