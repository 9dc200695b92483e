// Chat templates rendered with @huggingface/jinja. The expected texts were rendered once by
// Python's Jinja2 3.1.6 the way transformers compiles chat templates (sandboxed, trim_blocks,
// lstrip_blocks, raise_exception) from the same fixture files; both agreed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChatTemplate, Tokenizer } from '../src/model/index.js';
import { TextCodec } from '../src/d2po/rollout.js';

const FIX = fileURLToPath(new URL('./fixtures/tokenizers/', import.meta.url));
const load = (family: string) => Tokenizer.fromFile(join(FIX, family, 'tokenizer.json'));
const PROMPT = 'Write a haiku about the sea.';
const CONVERSATION = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: ' hi ' },
  { role: 'assistant', content: 'hello' },
  { role: 'user', content: 'again' },
];

const EXPECTED: Record<string, { prompt: string; conversation: string }> = {
  llama3: { prompt: "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWrite a haiku about the sea.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", conversation: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nagain<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" },
  qwen2: { prompt: "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n", conversation: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n hi <|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n" },
  // Mistral's template has no system role and no generation prompt: [/INST] ends the prompt
  mistral: { prompt: "<s>[INST] Write a haiku about the sea.[/INST]", conversation: "<s>[INST]  hi [/INST]hello</s>[INST] again[/INST]" },
};

for (const [family, exp] of Object.entries(EXPECTED)) {
  test(`${family}: the chat template renders as transformers renders it`, async () => {
    const t = await ChatTemplate.of(await load(family));
    assert.equal(t.wrapPrompt(PROMPT), exp.prompt);
    const conversation = family === 'mistral' ? CONVERSATION.slice(1) : CONVERSATION;
    assert.equal(t.render(conversation, { addGenerationPrompt: family !== 'mistral' }), exp.conversation);
  });
}

test('wrapped prompts encode with the template\'s special tokens and its BOS only', async () => {
  const qwen = await load('qwen2');
  const q = (await ChatTemplate.of(qwen)).encodePrompt('hi');
  // <|im_start|> 274 ... <|im_end|> 275; no BOS although Qwen2's config.json names one
  assert.deepEqual(q.slice(0, 1), [274]);
  assert.equal(q.filter((id) => id === 274).length, 3, 'system, user and assistant turns');
  const header = [274, ...qwen.encode('assistant\n')];
  assert.deepEqual(q.slice(-header.length), header, 'ends with the assistant header');
  assert.equal(qwen.decode(q), (await ChatTemplate.of(qwen)).wrapPrompt('hi'));
  const llama3 = await load('llama3');
  const l = (await ChatTemplate.of(llama3)).encodePrompt('hi');
  assert.equal(l[0], 273, '<|begin_of_text|> written by the template');
  assert.equal(l.filter((id) => id === 273).length, 1, 'and not added again');
  const mistral = await load('mistral');
  assert.deepEqual((await ChatTemplate.of(mistral)).encodePrompt('hello'), [1, 307, ...mistral.encode(' hello'), 308]);
});

test('the run codec keeps the template\'s BOS when it cuts a long prompt to fit', async () => {
  const tok = await load('llama3');
  const chat = await ChatTemplate.of(tok);
  const full = chat.encodePrompt('hello world '.repeat(20));
  const codec = new TextCodec(tok, 32, 8, 273, chat);
  const ids = codec.encodePrompt('hello world '.repeat(20));
  assert.equal(ids.length, 32 - 8);
  assert.equal(ids[0], 273);
  assert.deepEqual(ids.slice(1), full.slice(full.length - 23), 'the end of the prompt, the assistant header, is kept');
  assert.deepEqual(new TextCodec(tok, 64, 8, 273, chat).encodePrompt('hi'), chat.encodePrompt('hi'));
});

test('chat_template.jinja beside tokenizer_config.json is used first, whitespace control as in Jinja', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-chat-'));
  await copyFile(join(FIX, 'llama3', 'tokenizer.json'), join(dir, 'tokenizer.json'));
  await copyFile(join(FIX, 'llama3', 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  await writeFile(join(dir, 'chat_template.jinja'), "{{- bos_token }}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n");
  const t = await ChatTemplate.of(await Tokenizer.fromFile(join(dir, 'tokenizer.json')));
  assert.equal(t.source, join(dir, 'chat_template.jinja'));
  assert.equal(t.wrapPrompt(PROMPT), "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWrite a haiku about the sea.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
});

test('a folder without tokenizer_config.json, a base model, a raising template: errors name the file', async () => {
  const bare = await Tokenizer.fromFile(fileURLToPath(new URL('./fixtures/tokenizer/tokenizer.json', import.meta.url)));
  await assert.rejects(ChatTemplate.of(bare), /tokenizer_config\.json not found: a model's chat template is in its tokenizer_config\.json/);
  await assert.rejects(ChatTemplate.of(await load('llama2')), /llama2\/tokenizer_config\.json has no chat_template .*a base model/);
  const mistral = await ChatTemplate.of(await load('mistral'));
  assert.throws(
    () => mistral.render([{ role: 'system', content: 'x' }, { role: 'user', content: 'y' }], { addGenerationPrompt: true }),
    /chat template of .*mistral\/tokenizer_config\.json failed: Conversation roles must alternate/,
  );
  const json = (await load('llama3')).json;
  const named = Tokenizer.fromJson(json, { chat_template: [{ name: 'tool_use', template: 'x' }] });
  await assert.rejects(ChatTemplate.of(named), /templates named 'tool_use' but none named 'default'/);
  const byName = Tokenizer.fromJson(json, { chat_template: [{ name: 'default', template: '[{{ messages[0].content }}]' }] });
  assert.equal((await ChatTemplate.of(byName)).wrapPrompt('x'), '[x]');
  await assert.rejects(ChatTemplate.of(Tokenizer.fromJson(json, { chat_template: '{% for m in messages %}' })), /cannot be parsed/);
  assert.throws(() => Tokenizer.fromJson(json, { chat_template: 3 }), /field 'chat_template'/);
});
