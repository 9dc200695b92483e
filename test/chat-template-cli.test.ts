import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ChatTemplate, Tokenizer } from '../src/model/index.js';
import { qwen2ModelDir } from './chat-model-fixture.js';

const ROOT = join(import.meta.dirname, '..');
const run = (args: string[]) =>
  promisify(execFile)('node', [join(ROOT, 'bin', 'd2po.mjs'), ...args], { cwd: ROOT }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('d2po score --chat-template scores the prompt wrapped in the template', async () => {
  const dir = await qwen2ModelDir(true);
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
  const dir = await qwen2ModelDir(false);
  for (const args of [
    ['sample', '--model', dir, '--prompt', 'hi', '--chat-template'],
    ['score', '--model', dir, '--input', join(dir, 'missing.jsonl'), '--chat-template'],
  ]) {
    const r = await run(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--chat-template: ${join(dir, 'tokenizer_config.json').replace(/[.\\/]/g, '\\$&')} not found`));
  }
});
