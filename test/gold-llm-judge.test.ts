import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { JudgeCache } from '../src/gold/judge-cache.js';
import { JudgeParseError, LlmJudge, type LlmJudgeOptions } from '../src/gold/llm-judge.js';
import { SYSTEM_PROMPT } from '../src/gold/ultrafeedback-rubric.js';
import { closedPortUrl, FAST, sendJson, startServer, type Recorded } from './gold-helpers.js';

// A fake OpenAI-compatible judge. Ratings by marker in the text, per aspect:
//   instruction-following: GOOD 5, BAD 2, else 3;  helpfulness: GOOD 4, BAD 1, else 3.
// So a GOOD response scores (5+4)/2 = 4.5, a BAD one (2+1)/2 = 1.5, a plain one 3.
function shownTexts(req: Recorded): [string, string] {
  const user = req.body.messages[1].content as string;
  // The last occurrences: the rubric's format section shows placeholders first.
  const t1 = [...user.matchAll(/^<text 1> (.*)$/gm)].at(-1)![1];
  const t2 = [...user.matchAll(/^<text 2> (.*)$/gm)].at(-1)![1];
  return [t1, t2];
}
function rate(text: string, aspect: 'if' | 'help'): number {
  if (text.includes('GOOD')) return aspect === 'if' ? 5 : 4;
  if (text.includes('BAD')) return aspect === 'if' ? 2 : 1;
  return 3;
}
function judgeAnswer(req: Recorded): string {
  const [t1, t2] = shownTexts(req);
  const aspect = (req.body.messages[1].content as string).startsWith('# Instruction Following') ? 'if' : 'help';
  return `#### Output for Text 1\nRating: ${rate(t1, aspect)}\nRationale: fine.\n\n#### Output for Text 2\nRating: ${rate(t2, aspect)}\nRationale: ok.`;
}
function completion(res: ServerResponse, content: string, usage = { prompt_tokens: 100, completion_tokens: 20 }) {
  sendJson(res, 200, { id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage });
}
const goodJudge = (req: Recorded, res: ServerResponse) => completion(res, judgeAnswer(req));

const dirs: string[] = [];
function dbPath(): string {
  const d = mkdtempSync(join(tmpdir(), 'd2po-judge-'));
  dirs.push(d);
  return join(d, 'cache.sqlite');
}
test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function judge(baseUrl: string, over: Partial<LlmJudgeOptions> = {}): LlmJudge {
  return new LlmJudge({
    baseUrl,
    model: 'judge-model',
    apiKey: 'test-key',
    aspects: ['instruction-following', 'helpfulness'],
    concurrency: 4,
    parseRetries: 1,
    seed: 0,
    tieEpsilon: 0,
    cache: ':memory:',
    ...FAST,
    ...over,
  });
}

const pairs = Array.from({ length: 8 }, (_, i) =>
  i % 2 === 0 ? { prompt: `q${i}`, a: `GOOD answer ${i}`, b: `BAD answer ${i}` } : { prompt: `q${i}`, a: `BAD answer ${i}`, b: `GOOD answer ${i}` },
);

test('labels pairs through the rubric, random order mapped back, request shaped as chat completions', async () => {
  const s = await startServer(goodJudge);
  const j = judge(`${s.url}/v1/`);
  try {
    const labels = await j.label(pairs);
    assert.deepEqual(labels.map((l) => l.preference), ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    assert.deepEqual(labels[0].scores, [4.5, 1.5]);
    assert.deepEqual(labels[1].scores, [1.5, 4.5]);
    // Both orders occur, and each request showed the texts in the recorded order.
    const orders = labels.map((l) => l.order);
    assert.ok(orders.includes('ab') && orders.includes('ba'), `orders ${orders}`);
    assert.equal(s.requests.length, 16);
    for (const req of s.requests) {
      assert.equal(req.url, '/v1/chat/completions');
      assert.equal(req.headers.authorization, 'Bearer test-key');
      assert.equal(req.body.model, 'judge-model');
      assert.equal(req.body.temperature, 0);
      assert.equal(req.body.messages[0].content, SYSTEM_PROMPT);
      const i = Number(/Instruction: q(\d)/.exec(req.body.messages[1].content)![1]);
      const [t1] = shownTexts(req);
      assert.equal(t1, labels[i].order === 'ab' ? pairs[i].a : pairs[i].b);
    }
    assert.match(labels[0].raw!, /^\[instruction-following\]\n#### Output for Text 1\nRating: \d/);
    assert.equal(j.name, 'llm-judge:judge-model');
    assert.equal(j.paid, true);
  } finally {
    await j.close();
    await s.close();
  }
});

test('order is a function of the seed: same seed same order, another seed differs somewhere', async () => {
  const s = await startServer(goodJudge);
  try {
    const o = async (seed: number) => (await judge(s.url, { seed }).label(pairs)).map((l) => l.order).join();
    assert.equal(await o(7), await o(7));
    assert.notEqual(await o(7), await o(8));
  } finally {
    await s.close();
  }
});

test('cost accounting from usage and configured prices', async () => {
  const s = await startServer(goodJudge);
  const j = judge(s.url, { prices: { inputPer1M: 2, outputPer1M: 8 } });
  try {
    const [l] = await j.label([pairs[0]]);
    // Two aspects, each 100 prompt + 20 completion tokens: (200*2 + 40*8) / 1e6 USD.
    assert.deepEqual(l.cost, { calls: 2, inputTokens: 200, outputTokens: 40, usd: 720 / 1e6 });
    assert.equal(l.cached, false);
    await j.label([pairs[1], pairs[2]]);
    const u = j.usage();
    assert.equal(u.calls, 6);
    assert.equal(u.inputTokens, 600);
    assert.equal(u.outputTokens, 120);
    assert.ok(Math.abs(u.usd! - 3 * 720 / 1e6) < 1e-15);
  } finally {
    await j.close();
    await s.close();
  }
});

test('cache: a second call makes no request, also with a and b swapped, and across two instances on one file', async () => {
  const s = await startServer(goodJudge);
  const path = dbPath();
  const j1 = judge(s.url, { cache: path, prices: { inputPer1M: 1, outputPer1M: 1 } });
  try {
    const first = await j1.label(pairs.slice(0, 4));
    assert.equal(s.requests.length, 8);
    const again = await j1.label(pairs.slice(0, 4));
    assert.equal(s.requests.length, 8);
    assert.ok(again.every((l) => l.cached && l.cost.calls === 0 && l.cost.usd === 0));
    assert.deepEqual(again.map((l) => l.preference), first.map((l) => l.preference));
    assert.deepEqual(again.map((l) => l.order), first.map((l) => l.order));
    const swapped = await j1.label(pairs.slice(0, 4).map((p) => ({ ...p, a: p.b, b: p.a })));
    assert.equal(s.requests.length, 8);
    assert.deepEqual(swapped.map((l) => l.preference), ['b', 'a', 'b', 'a']);
    assert.deepEqual(swapped[0].scores, [1.5, 4.5]);
    assert.deepEqual(swapped.map((l) => l.order), first.map((l) => (l.order === 'ab' ? 'ba' : 'ab')));
    await j1.close();
    // A fresh instance (as another process would) finds the verdicts on disk.
    const j2 = judge(s.url, { cache: path });
    const fromDisk = await j2.label(pairs.slice(0, 4));
    assert.equal(s.requests.length, 8);
    assert.deepEqual(fromDisk.map((l) => l.scores), first.map((l) => l.scores));
    assert.equal(j2.usage().cacheHits, 4);
    await j2.close();
    const c = new JudgeCache(path);
    assert.equal(c.size(), 4);
    c.close();
    // Another model is another verdict.
    const other = judge(s.url, { cache: path, model: 'other-model' });
    await other.label([pairs[0]]);
    assert.equal(s.requests.length, 10);
    await other.close();
  } finally {
    await s.close();
  }
});

test('cache across processes: a verdict bought by a child process is not bought again here', async () => {
  const s = await startServer(goodJudge);
  const path = dbPath();
  const script = join(path, '..', 'child.mts');
  const judgeModule = fileURLToPath(new URL('../src/gold/llm-judge.ts', import.meta.url));
  writeFileSync(
    script,
    `import { LlmJudge } from ${JSON.stringify(judgeModule)};
const j = new LlmJudge({ baseUrl: ${JSON.stringify(s.url)}, model: 'judge-model', aspects: ['instruction-following', 'helpfulness'],
  concurrency: 2, parseRetries: 0, seed: 0, tieEpsilon: 0, cache: ${JSON.stringify(path)},
  retries: 0, initialBackoffMs: 1, maxBackoffMs: 1, maxRetryAfterMs: 1, timeoutMs: 2000 });
const labels = await j.label(${JSON.stringify(pairs.slice(0, 2))});
await j.close();
console.log(JSON.stringify(labels.map((l) => l.preference)));
`,
  );
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: fileURLToPath(new URL('..', import.meta.url)) });
    assert.equal(stdout.trim(), '["a","b"]');
    assert.equal(s.requests.length, 4);
    const j = judge(s.url, { cache: path });
    const labels = await j.label(pairs.slice(0, 2));
    assert.equal(s.requests.length, 4);
    assert.deepEqual(labels.map((l) => [l.preference, l.cached]), [['a', true], ['b', true]]);
    await j.close();
  } finally {
    await s.close();
  }
});

test('the same pair twice in one batch is bought once; identical responses are a free tie', async () => {
  const s = await startServer(goodJudge);
  const j = judge(s.url);
  try {
    const labels = await j.label([pairs[0], { ...pairs[0], a: pairs[0].b, b: pairs[0].a }, { prompt: 'q', a: 'same', b: 'same' }]);
    assert.equal(s.requests.length, 2);
    assert.deepEqual(labels.map((l) => l.preference), ['a', 'b', 'tie']);
    assert.deepEqual(labels.map((l) => l.cached), [false, true, false]);
    assert.equal(labels[2].scores, undefined);
    assert.equal(labels[2].cost.calls, 0);
  } finally {
    await j.close();
    await s.close();
  }
});

test('429 with Retry-After, then 500, then success', async () => {
  const s = await startServer((req, res, n) => {
    if (n === 0) return sendJson(res, 429, { error: { message: 'Rate limit reached' } }, { 'retry-after': '0.2' });
    if (n === 1) return sendJson(res, 500, { error: { message: 'server error' } });
    goodJudge(req, res);
  });
  const j = judge(s.url, { aspects: ['helpfulness'], concurrency: 1 });
  try {
    const [l] = await j.label([pairs[0]]);
    assert.equal(l.preference, 'a');
    assert.deepEqual(l.scores, [4, 1]);
    assert.equal(s.requests.length, 3);
    assert.ok(s.requests[1].at - s.requests[0].at >= 180);
    assert.equal(l.cost.calls, 1);
  } finally {
    await j.close();
    await s.close();
  }
});

test('permanent 500, a hung server, a malformed body and a non-chat body are clear errors', async () => {
  const down = await startServer((_req, res) => sendJson(res, 500, 'down'));
  const hang = await startServer(() => {});
  const garbage = await startServer((_req, res) => sendJson(res, 200, 'not json at all'));
  const wrongShape = await startServer((_req, res) => sendJson(res, 200, { result: 'Rating: 4' }));
  try {
    await assert.rejects(judge(down.url, { aspects: ['helpfulness'] }).label([pairs[0]]), new RegExp(`POST ${down.url}/chat/completions failed after 3 attempts: HTTP 500`));
    assert.equal(down.requests.length, 3);
    await assert.rejects(judge(hang.url, { timeoutMs: 100, retries: 1 }).label([pairs[0]]), /failed after 2 attempts: timed out after 100 ms/);
    await assert.rejects(judge(garbage.url).label([pairs[0]]), /HTTP 200 with a body that is not JSON: "not json at all"/);
    await assert.rejects(judge(wrongShape.url).label([pairs[0]]), /returned a body that is not a chat completion \(expected choices\[0\]\.message\.content\): \{"result":"Rating: 4"\}/);
  } finally {
    await Promise.all([down.close(), hang.close(), garbage.close(), wrongShape.close()]);
  }
});

test('unparseable answers: retried with a format reminder, then a clear error; nothing cached, never a silent tie', async () => {
  const s = await startServer((_req, res) => completion(res, 'Both responses have merits and flaws.'));
  const path = dbPath();
  const j = judge(s.url, { cache: path, aspects: ['helpfulness'], parseRetries: 2 });
  try {
    await assert.rejects(j.label([pairs[0]]), (e: unknown) => {
      assert.ok(e instanceof JudgeParseError);
      assert.match(e.message, /judge judge-model at .* gave no readable helpfulness ratings for both texts after 3 requests; last answer: "Both responses have merits and flaws\."/);
      return true;
    });
    assert.equal(s.requests.length, 3);
    const retry = s.requests[1].body.messages;
    assert.equal(retry.length, 4);
    assert.equal(retry[2].role, 'assistant');
    assert.match(retry[3].content, /could not be read/);
    assert.equal(j.usage().calls, 3);
    await j.close();
    const c = new JudgeCache(path);
    assert.equal(c.size(), 0);
    c.close();
  } finally {
    await s.close();
  }
});

test('an answer readable only after the reminder succeeds and counts both requests', async () => {
  const s = await startServer((req, res, n) => (n === 0 ? completion(res, 'Text one is better.') : goodJudge(req, res)));
  const j = judge(s.url, { aspects: ['instruction-following'] });
  try {
    const [l] = await j.label([pairs[1]]);
    assert.equal(l.preference, 'b');
    assert.deepEqual(l.cost, { calls: 2, inputTokens: 200, outputTokens: 40 });
  } finally {
    await j.close();
    await s.close();
  }
});

test('when one aspect fails for good, the other aspect of the pair stops too', async () => {
  // Instruction-following requests fail with 400 after 50 ms (so both have started); helpfulness ones hang until aborted.
  const s = await startServer((req, res) => {
    if ((req.body.messages[1].content as string).startsWith('# Instruction Following')) {
      setTimeout(() => sendJson(res, 400, { error: { message: 'bad request' } }), 50);
    }
  });
  try {
    const t0 = Date.now();
    await assert.rejects(judge(s.url, { timeoutMs: 5000 }).label([pairs[0]]), /HTTP 400: .*bad request/);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(s.requests.length, 2);
  } finally {
    await s.close();
  }
});

test('an unreachable endpoint names the URL', async () => {
  const url = await closedPortUrl();
  await assert.rejects(judge(url, { retries: 1 }).label([pairs[0]]), new RegExp(`POST ${url}/chat/completions failed after 2 attempts: connection refused`));
});

test('concurrency limit bounds chat requests in flight', async () => {
  let inFlight = 0;
  let peak = 0;
  const s = await startServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    setTimeout(() => {
      inFlight--;
      goodJudge(req, res);
    }, 15);
  });
  const j = judge(s.url, { concurrency: 3 });
  try {
    await j.label(pairs);
    assert.equal(s.requests.length, 16);
    assert.equal(peak, 3);
  } finally {
    await j.close();
    await s.close();
  }
});

test('a reference answer from meta goes into the prompt and the cache key', async () => {
  const s = await startServer(goodJudge);
  const j = judge(s.url, { aspects: ['helpfulness'] });
  try {
    await j.label([{ ...pairs[0], meta: { reference: 'the answer is 42' } }]);
    assert.match(s.requests[0].body.messages[1].content, /Reference answer \(for judging correctness; not one of the texts\): the answer is 42/);
    await j.label([pairs[0]]);
    assert.equal(s.requests.length, 2);
  } finally {
    await j.close();
    await s.close();
  }
});

test('cache key: canonical in response order and aspect order, distinct per prompt', async () => {
  const { judgeKey } = await import('../src/gold/judge-cache.js');
  const base = { model: 'm', rubricVersion: 'v', aspects: ['helpfulness', 'instruction-following'], prompt: 'p', responses: ['x', 'y'] as [string, string] };
  const k = judgeKey(base);
  assert.equal(k.swapped, false);
  const r = judgeKey({ ...base, responses: ['y', 'x'] });
  assert.equal(r.key, k.key);
  assert.equal(r.swapped, true);
  assert.equal(judgeKey({ ...base, aspects: ['instruction-following', 'helpfulness'] }).key, k.key);
  assert.notEqual(judgeKey({ ...base, prompt: 'q' }).key, k.key);
  assert.notEqual(judgeKey({ ...base, aspects: ['helpfulness'] }).key, k.key);
  assert.match(k.key, /^[0-9a-f]{64}$/);
});
