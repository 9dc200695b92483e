import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { GoldConfigError, createGoldSource } from '../src/gold/index.js';
import { RunStore } from '../src/store/run-store.js';
import { loadPromptFileTask } from '../src/tasks/prompt-file-task.js';
import { loadRunTask, loadTask } from '../src/tasks/registry.js';
import { qwen2ModelDir } from './chat-model-fixture.js';
import { sendJson, startServer } from './gold-helpers.js';

const ROOT = join(import.meta.dirname, '..');
const dir = await mkdtemp(join(tmpdir(), 'd2po-prompts-'));

async function file(name: string, lines: string[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

const UNSPLIT = Array.from({ length: 40 }, (_, i) => `Tell me about topic ${i}.`);

test('splits: as marked, else by a hash of the text (order-free, stable); test lines kept out', async () => {
  const lines = [
    JSON.stringify({ prompt: 'marked train', split: 'train' }),
    JSON.stringify({ prompt: 'marked dev', split: 'dev' }),
    JSON.stringify({ prompt: 'held out', split: 'test' }),
    '',
    ...UNSPLIT.map((p) => JSON.stringify({ prompt: p })),
  ];
  const task = await loadPromptFileTask(await file('mixed.jsonl', lines));
  const train = await task.prompts('train');
  const dev = await task.prompts('dev');
  assert.equal(task.name, 'mixed');
  assert.equal(task.rewards, undefined, 'no gold reward of its own');
  assert.equal(train.length + dev.length, 42);
  assert.ok(train.includes('marked train') && dev.includes('marked dev'));
  assert.ok(![...train, ...dev].includes('held out'));
  // the first 32 bits of SHA-256 below a tenth (checked with Python's hashlib): 4 of these 40
  assert.deepEqual(dev.filter((p) => p !== 'marked dev'), [0, 1, 8, 36].map((i) => `Tell me about topic ${i}.`));
  const reversed = await loadPromptFileTask(await file('reversed.jsonl', [...lines].reverse()));
  assert.deepEqual(new Set(await reversed.prompts('dev')), new Set(dev), 'the split does not depend on the order of lines');
});

test('a bad line is an error naming the file, the line and the field', async () => {
  const cases: [string[], RegExp][] = [
    [['{"prompt": "a"}', '{"prompt": "b", "split": "validation"}'], /prompt file .*bad\.jsonl:2: field 'split': /],
    [['{"prompt": "a"}', '', '{"promt": "b"}'], /bad\.jsonl:3: unknown field 'promt'/],
    [['{"prompt": ""}'], /bad\.jsonl:1: field 'prompt': expected a non-empty string/],
    [['{"prompt": "a"', '{"prompt": "b"}'], /bad\.jsonl:1: not valid JSON/],
    [['"just text"'], /bad\.jsonl:1: expected an object/],
  ];
  for (const [lines, re] of cases) await assert.rejects(loadPromptFileTask(await file('bad.jsonl', lines)), re);
  await assert.rejects(loadPromptFileTask(join(dir, 'missing.jsonl')), /cannot read .*missing\.jsonl/);
  await assert.rejects(
    loadPromptFileTask(await file('nodev.jsonl', ['{"prompt": "only one"}'])),
    /nodev\.jsonl: no dev prompts among 1 lines; mark some with "split": "dev"/,
  );
});

test('a prompt file has no task gold: the task gold source refuses it and names the choices', async () => {
  const path = await file('p.jsonl', ['{"prompt": "a", "split": "train"}', '{"prompt": "b", "split": "dev"}']);
  const task = await loadRunTask(path);
  assert.throws(() => createGoldSource({ type: 'task' }, { task, where: 'gold' }), (e: Error) => {
    assert.ok(e instanceof GoldConfigError);
    assert.match(e.message, /gold\.type 'task' scores with the task's reward, but task 'p' has none \(a prompt file\); choose a gold source: an LLM judge .*llm-judge.*remote-reward/);
    return true;
  });
  await assert.rejects(loadTask(path), /is a prompt file: its prompts have no gold reward of their own/);
});

const run = (args: string[]) =>
  promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'd2po.mjs'), ...args], { cwd: ROOT, timeout: 120_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('d2po run --task prompts.jsonl: task gold fails before the run folder exists; a served reward model labels it', async () => {
  const model = await qwen2ModelDir(true);
  const prompts = await file('chat.jsonl', [
    ...['Say hi.', 'Name a colour.', 'Count to three.', 'Greet me.'].map((p) => JSON.stringify({ prompt: p, split: 'train' })),
    JSON.stringify({ prompt: 'Say bye.', split: 'dev' }),
  ]);
  const base = ['run', '--method', 'dpo', '--task', prompts, '--model', model, '--chat-template', '--gold-budget', '2', '--max-new-tokens', '6', '--threads', '1', '--no-progress'];
  const refused = await run([...base, '--out', join(dir, 'run-task-gold')]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /task 'chat' has none \(a prompt file\); choose a gold source/);
  assert.ok(!existsSync(join(dir, 'run-task-gold')), 'no run folder was made');

  // the served reward model prefers longer responses
  const server = await startServer((req, res) => sendJson(res, 200, { scores: req.body.inputs.map((x: { response: string }) => x.response.length) }));
  try {
    const out = join(dir, 'run-remote');
    const r = await run([...base, '--out', out, '--set', 'gold.type=remote-reward', '--set', `gold.url=${server.url}/score`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.goldUsed, 2);
    assert.equal(res.lastEval['eval/reward'], undefined, 'no task reward: no eval/reward');
    assert.ok(Number.isFinite(res.lastEval['eval/length']));
    const inputs = server.requests.flatMap((q) => q.body.inputs as { prompt: string }[]);
    assert.ok(inputs.length >= 4);
    // the reward model sees the task's prompt text, not the chat-wrapped one
    for (const x of inputs) assert.ok(['Say hi.', 'Name a colour.', 'Count to three.', 'Greet me.'].includes(x.prompt), x.prompt);
    const store = RunStore.open(out, { readonly: true });
    try {
      assert.equal(store.getMeta<{ chatTemplate: boolean }>('config')?.chatTemplate, true);
      assert.equal(store.ledger().length, 2);
    } finally {
      store.close();
    }
  } finally {
    await server.close();
  }
});
