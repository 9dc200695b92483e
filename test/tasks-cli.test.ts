import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { d2po } from './cli.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd2po-cli-tasks-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('d2po tasks lists the built-ins (text and --json)', async () => {
  const text = await d2po(['tasks']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^word-collector .*\nunique-nouns .*\nmath /m);
  const json = await d2po(['tasks', '--json']);
  assert.deepEqual(
    JSON.parse(json.stdout).map((t: { name: string; baseModel: string }) => `${t.name}:${t.baseModel}`),
    ['word-collector:policy-base', 'unique-nouns:policy-base', 'math:math-base', 'contrastive-distillation:policy-base'],
  );
});

test('d2po reward: one output line per input line, to a file or stdout', async () => {
  const input = join(dir, 'in.jsonl');
  await writeFile(
    input,
    [
      { prompt: '((5 + 1) * 2) = ', response: '(6 * 2) = 12' },
      { prompt: '((5 + 1) * 2) = ', response: '(6 * 2) = 13' },
      { prompt: '((5 + 1) * 2) = ', response: '(6 * 2) = 12 = 12' },
    ]
      .map((x) => JSON.stringify(x))
      .join('\n') + '\n',
  );
  const out = join(dir, 'out.jsonl');
  const r = await d2po(['reward', '--task', 'math', '--input', input, '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(out, 'utf8'), '{"reward":0}\n{"reward":-1}\n{"reward":-2}\n');
  assert.match(r.stderr, /math: 3 pairs, mean reward -1\.0000/);
  const lenient = await d2po(['reward', '--task', 'math', '--lenient', '--input', input]);
  assert.equal(lenient.stdout, '{"reward":0}\n{"reward":-1}\n{"reward":0}\n');
});

test('d2po reward: malformed lines, unknown tasks and bad modules are clear errors', async () => {
  const bad = join(dir, 'bad.jsonl');
  await writeFile(bad, '{"prompt": "a", "response": "data"}\n{"prompt": "a", "response": 3}\n');
  let r = await d2po(['reward', '--task', 'word-collector', '--input', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.jsonl:2: field 'response'/);
  assert.equal(r.stdout, '');
  await writeFile(bad, '{"prompt": "a", "response": "data"}\n{"prompt": "a", "resp\n');
  r = await d2po(['reward', '--task', 'word-collector', '--input', bad]);
  assert.match(r.stderr, /bad\.jsonl:2: not valid JSON/);
  r = await d2po(['reward', '--task', 'nouns', '--input', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown task 'nouns'/);
  const badTask = join(dir, 'nan.mjs');
  await writeFile(badTask, `export default { name: 'n', prompts: () => [], reward: () => NaN };`);
  const ok = join(dir, 'ok.jsonl');
  await writeFile(ok, '{"prompt": "a", "response": "b"}\n');
  r = await d2po(['reward', '--task', badTask, '--input', ok]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nan\.mjs: reward\(prompt, response\) returned NaN for item 0/);
  assert.equal(r.stdout, '');
  await writeFile(badTask, `export default { name: 'n', reward: () => 1 };`);
  r = await d2po(['reward', '--task', badTask, '--input', ok]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /nan\.mjs: member 'prompts' is missing/);
  r = await d2po(['reward', '--input', ok]);
  assert.match(r.stderr, /--task is required/);
});

test('d2po reward reads JSONL by the shared rules: BOM, CRLF and blank lines; invalid UTF-8 and unknown fields named', async () => {
  const input = join(dir, 'crlf.jsonl');
  await writeFile(input, '\uFEFF{"prompt": "((5 + 1) * 2) = ", "response": "(6 * 2) = 12"}\r\n\r\n{"prompt": "((5 + 1) * 2) = ", "response": "(6 * 2) = 13"}\r\n');
  let r = await d2po(['reward', '--task', 'math', '--input', input]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '{"reward":0}\n{"reward":-1}\n');
  await writeFile(input, Buffer.concat([Buffer.from('{"prompt": "a", "response": "b"}\n{"prompt": "a", "response": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]));
  r = await d2po(['reward', '--task', 'word-collector', '--input', input]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /crlf\.jsonl:2: invalid UTF-8 \(byte 0xc3 at column 30\)/);
  await writeFile(input, '{"prompt": "a", "response": "b", "reward": 3}\n');
  r = await d2po(['reward', '--task', 'word-collector', '--input', input]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /crlf\.jsonl:1: unknown field 'reward'/);
});
