import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGoldSource, defaultJudgeCachePath, GoldConfigError, LlmJudge, parseGoldConfig, RemoteRewardModel, RewardFunctionGold } from '../src/gold/index.js';
import { sendJson, startServer } from './gold-helpers.js';
import { isSecretField, redactSecrets, REDACTED } from '../src/util/secrets.js';

const task = { name: 'len', rewards: async (b: { response: string }[]) => b.map((x) => x.response.length) };
const dir = mkdtempSync(join(tmpdir(), 'd2po-goldcfg-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('defaults are filled in', () => {
  const c = parseGoldConfig({ type: 'llm-judge' });
  assert.equal(c.type, 'llm-judge');
  if (c.type !== 'llm-judge') return;
  assert.deepEqual(c.aspects, ['instruction-following', 'helpfulness']);
  assert.equal(c.concurrency, 4);
  assert.equal(c.retries, 5);
  assert.equal(c.timeoutMs, 60_000);
  const r = parseGoldConfig({ type: 'remote-reward', url: 'http://127.0.0.1:9/score' });
  assert.equal(r.type === 'remote-reward' && r.batchSize, 32);
});

test('errors name the offending field, prefixed by where', () => {
  const bad = (cfg: unknown, re: RegExp) => assert.throws(() => parseGoldConfig(cfg, 'run.json gold'), (e: unknown) => e instanceof GoldConfigError && re.test(e.message));
  bad({ type: 'oracle' }, /^run\.json gold\.type: unknown gold source "oracle" \(known: task, reward-function, llm-judge, remote-reward, people\)/);
  bad({ type: 'people', pollMs: 1 }, /run\.json gold.pollMs/);
  bad({}, /run\.json gold\.type: unknown gold source undefined/);
  bad('llm-judge', /run\.json gold: expected an object/);
  bad({ type: 'llm-judge', concurrency: 0 }, /run\.json gold\.concurrency: /);
  bad({ type: 'llm-judge', baseUrl: 'not a url' }, /run\.json gold\.baseUrl: /);
  bad({ type: 'llm-judge', aspects: ['honesty'] }, /run\.json gold\.aspects\.0: /);
  bad({ type: 'llm-judge', prices: { inputPer1M: -1, outputPer1M: 1 } }, /run\.json gold\.prices\.inputPer1M: /);
  bad({ type: 'remote-reward', batchsize: 8 }, /run\.json gold\.batchsize: unknown field/);
  bad({ type: 'task', tieEpsilon: 'small' }, /run\.json gold\.tieEpsilon: /);
});

test('factory: task gold needs a task', async () => {
  assert.ok(createGoldSource({ type: 'task' }, { task }) instanceof RewardFunctionGold);
  const g = createGoldSource({ type: 'reward-function', tieEpsilon: 1 }, { task });
  assert.deepEqual((await g.label([{ prompt: 'p', a: 'abc', b: 'ab' }, { prompt: 'p', a: 'abcd', b: 'ab' }])).map((l) => l.preference), ['tie', 'a']);
  assert.throws(() => createGoldSource({ type: 'task' }), /gold\.type 'task' scores with the task's reward, but no task was given/);
});

test('factory: judge settings from env, missing ones named with their variable', async () => {
  assert.throws(() => createGoldSource({ type: 'llm-judge' }, { env: {} }), /gold\.baseUrl is not set: give it in the config or set D2PO_JUDGE_BASE_URL/);
  assert.throws(() => createGoldSource({ type: 'llm-judge' }, { env: { D2PO_JUDGE_BASE_URL: 'http://x/v1' } }), /gold\.model is not set: .* D2PO_JUDGE_MODEL/);
  assert.throws(() => createGoldSource({ type: 'llm-judge' }, { env: { D2PO_JUDGE_BASE_URL: 'localhost', D2PO_JUDGE_MODEL: 'm' } }), /D2PO_JUDGE_BASE_URL: not an http\(s\) URL: "localhost"/);
  assert.throws(() => createGoldSource({ type: 'llm-judge', apiKeyEnv: 'MY_KEY' }, { env: { D2PO_JUDGE_BASE_URL: 'http://x', D2PO_JUDGE_MODEL: 'm' } }), /gold\.apiKeyEnv names the environment variable MY_KEY, which is not set/);

  // End to end: env-configured judge against a local server, OPENAI_API_KEY as the fallback key.
  const s = await startServer((_req, res) =>
    sendJson(res, 200, { choices: [{ message: { content: 'Rating: 5\nRating: 2' } }], usage: { prompt_tokens: 10, completion_tokens: 5 } }),
  );
  try {
    const cachePath = join(dir, 'judge.sqlite');
    const env = { D2PO_JUDGE_BASE_URL: s.url, D2PO_JUDGE_MODEL: 'env-model', OPENAI_API_KEY: 'sk-env', D2PO_JUDGE_CACHE: cachePath };
    const j = createGoldSource({ type: 'llm-judge', aspects: ['helpfulness'] }, { env });
    assert.ok(j instanceof LlmJudge);
    assert.equal(j.name, 'llm-judge:env-model');
    const [l] = await j.label([{ prompt: 'p', a: 'x', b: 'y' }]);
    assert.deepEqual(l.scores, l.order === 'ab' ? [5, 2] : [2, 5]);
    assert.equal(s.requests[0].headers.authorization, 'Bearer sk-env');
    assert.equal(s.requests[0].body.model, 'env-model');
    await j.close?.();
    // The config wins over env, and D2PO_JUDGE_API_KEY over OPENAI_API_KEY.
    const j2 = createGoldSource({ type: 'llm-judge', model: 'cfg-model', aspects: ['helpfulness'], cachePath: join(dir, 'other.sqlite') }, { env: { ...env, D2PO_JUDGE_API_KEY: 'd2po-key' } });
    await j2.label([{ prompt: 'p', a: 'x', b: 'y' }]);
    assert.equal(s.requests[1].body.model, 'cfg-model');
    assert.equal(s.requests[1].headers.authorization, 'Bearer d2po-key');
    await j2.close?.();
  } finally {
    await s.close();
  }
});

test('factory: remote reward model from config or env, token from a named variable', async () => {
  assert.throws(() => createGoldSource({ type: 'remote-reward' }, { env: {} }), /gold\.url is not set: give it in the config or set D2PO_REWARD_URL/);
  const s = await startServer((req, res) => sendJson(res, 200, { scores: req.body.inputs.map((_: unknown, i: number) => i) }));
  try {
    const g = createGoldSource({ type: 'remote-reward', tokenEnv: 'RM_TOKEN' }, { env: { D2PO_REWARD_URL: `${s.url}/score`, RM_TOKEN: 'tok' } });
    assert.ok(g instanceof RemoteRewardModel);
    assert.equal(g.paid, false);
    const [l] = await g.label([{ prompt: 'p', a: 'a', b: 'b' }]);
    assert.deepEqual(l.scores, [0, 1]);
    assert.equal(s.requests[0].headers.authorization, 'Bearer tok');
  } finally {
    await s.close();
  }
});

test('default cache path follows XDG_CACHE_HOME', () => {
  assert.equal(defaultJudgeCachePath({ XDG_CACHE_HOME: '/tmp/xdg' }), '/tmp/xdg/d2po/judge-cache.sqlite');
});

test('factory: keys from a key file, and a stored run whose inline key was redacted asks for a reference', async () => {
  const s = await startServer((req, res) => sendJson(res, 200, { scores: req.body.inputs.map((_: unknown, i: number) => i) }));
  try {
    const keyFile = join(dir, 'rm.key');
    writeFileSync(keyFile, 'from-file\n');
    const g = createGoldSource({ type: 'remote-reward', url: `${s.url}/score`, tokenFile: keyFile }, { env: {} });
    await g.label([{ prompt: 'p', a: 'a', b: 'b' }]);
    assert.equal(s.requests[0].headers.authorization, 'Bearer from-file');
    assert.throws(() => createGoldSource({ type: 'remote-reward', url: s.url, tokenFile: join(dir, 'none.key') }, { env: {} }), /gold\.tokenFile: cannot read the key file .*none\.key: ENOENT/);
    // what run.db holds for a run started with --set gold.token=...: the default variable fills in on resume
    const stored = { type: 'remote-reward', url: `${s.url}/score`, token: REDACTED };
    assert.throws(() => createGoldSource(stored, { env: {} }), /gold\.token was given inline when this run started and is never stored: set D2PO_REWARD_TOKEN/);
    await createGoldSource(stored, { env: { D2PO_REWARD_TOKEN: 'env-tok' } }).label([{ prompt: 'p', a: 'a', b: 'b' }]);
    assert.equal(s.requests[1].headers.authorization, 'Bearer env-tok');
    const judge = { type: 'llm-judge', baseUrl: s.url, model: 'm', apiKey: REDACTED };
    assert.throws(() => createGoldSource(judge, { env: {} }), /gold\.apiKey was given inline .* set D2PO_JUDGE_API_KEY \(or start runs with apiKeyEnv or apiKeyFile\)/);
  } finally {
    await s.close();
  }
});

test('secret fields are found by name and redacted at any depth; references and counts are kept', () => {
  for (const k of ['apiKey', 'api_key', 'token', 'authToken', 'password', 'client_secret', 'Authorization', 'credentials', 'X-Api-Key']) assert.ok(isSecretField(k), k);
  for (const k of ['apiKeyEnv', 'apiKeyFile', 'tokenEnv', 'tokenFile', 'maxTokens', 'maxNewTokens', 'inputTokens', 'model']) assert.ok(!isSecretField(k), k);
  const cfg = { gold: { type: 'llm-judge', apiKey: 'sk-1', apiKeyEnv: 'K', maxTokens: 9, extraBody: { headers: { Authorization: 'Bearer x' } } }, list: [{ token: 't' }] };
  assert.deepEqual(redactSecrets(cfg), {
    gold: { type: 'llm-judge', apiKey: REDACTED, apiKeyEnv: 'K', maxTokens: 9, extraBody: { headers: { Authorization: REDACTED } } },
    list: [{ token: REDACTED }],
  });
  assert.equal(cfg.gold.apiKey, 'sk-1', 'the original is untouched');
});
