import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteRewardModel } from '../src/gold/remote-reward.js';
import { closedPortUrl, FAST, sendJson, startServer } from './gold-helpers.js';

// Reward = response length; scores are easy to check by hand.
const lengthModel = (req: { body: any }, res: import('node:http').ServerResponse) =>
  sendJson(res, 200, { scores: req.body.inputs.map((x: { response: string }) => x.response.length) });

function model(url: string, over: Partial<ConstructorParameters<typeof RemoteRewardModel>[0]> = {}) {
  return new RemoteRewardModel({ url, batchSize: 64, concurrency: 2, tieEpsilon: 0, paid: false, ...FAST, ...over });
}

test('labels pairs from remote scores, batching inputs and sending the bearer token', async () => {
  const s = await startServer(lengthModel);
  try {
    const rm = model(`${s.url}/score`, { batchSize: 3, token: 'sekrit' });
    const labels = await rm.label([
      { prompt: 'p1', a: 'long answer', b: 'short' },
      { prompt: 'p2', a: 'ab', b: 'abcd' },
      { prompt: 'p3', a: 'same', b: 'four' },
    ]);
    assert.deepEqual(labels.map((l) => l.preference), ['a', 'b', 'tie']);
    assert.deepEqual(labels.map((l) => l.scores), [[11, 5], [2, 4], [4, 4]]);
    // 6 inputs in batches of 3: 2 requests, split over 3 pairs.
    assert.equal(s.requests.length, 2);
    assert.ok(Math.abs(labels[0].cost.calls - 2 / 3) < 1e-12);
    assert.equal(s.requests[0].url, '/score');
    assert.equal(s.requests[0].headers.authorization, 'Bearer sekrit');
    assert.deepEqual(s.requests[0].body, { inputs: [{ prompt: 'p1', response: 'long answer' }, { prompt: 'p1', response: 'short' }, { prompt: 'p2', response: 'ab' }] });
    assert.equal(s.requests[1].body.inputs.length, 3);
    assert.equal(rm.paid, false);
  } finally {
    await s.close();
  }
});

test('429 with Retry-After and 500 are retried, then succeed', async () => {
  const s = await startServer((req, res, n) => {
    if (n === 0) return sendJson(res, 429, 'busy', { 'retry-after': '0' });
    if (n === 1) return sendJson(res, 500, 'oops');
    return lengthModel(req, res);
  });
  try {
    const labels = await model(s.url).label([{ prompt: 'p', a: 'aaa', b: 'a' }]);
    assert.equal(labels[0].preference, 'a');
    assert.equal(s.requests.length, 3);
  } finally {
    await s.close();
  }
});

test('wrong length, non-numbers, missing field, malformed JSON are clear errors', async () => {
  const answers: unknown[] = [{ scores: [1] }, { scores: [1, 'x'] }, { rewards: [1, 2] }, '{"scores": [1,', { scores: [1, null] }];
  const s = await startServer((_req, res, n) => sendJson(res, 200, answers[n]));
  try {
    const rm = model(s.url);
    const pair = [{ prompt: 'p', a: 'a', b: 'b' }];
    await assert.rejects(rm.label(pair), new RegExp(`reward model at ${s.url} returned 1 scores for 2 inputs`));
    await assert.rejects(rm.label(pair), /returned a non-finite score at index 1: "x"/);
    await assert.rejects(rm.label(pair), /answered without a "scores" field: \{"rewards":\[1,2\]\}/);
    await assert.rejects(rm.label(pair), /HTTP 200 with a body that is not JSON/);
    await assert.rejects(rm.label(pair), /non-finite score at index 1: null/);
  } finally {
    await s.close();
  }
});

test('permanent 500, timeout and an unreachable URL fail with errors naming the URL', async () => {
  const down = await startServer((_req, res) => sendJson(res, 500, 'down'));
  const hang = await startServer(() => {});
  const gone = await closedPortUrl();
  try {
    const pair = [{ prompt: 'p', a: 'a', b: 'b' }];
    await assert.rejects(model(down.url).label(pair), new RegExp(`POST ${down.url} failed after 3 attempts: HTTP 500`));
    await assert.rejects(model(hang.url, { timeoutMs: 100, retries: 0 }).label(pair), new RegExp(`POST ${hang.url} failed: timed out after 100 ms`));
    await assert.rejects(model(gone).label(pair), new RegExp(`POST ${gone} failed after 3 attempts: connection refused`));
  } finally {
    await down.close();
    await hang.close();
  }
});

test('concurrency limit bounds requests in flight', async () => {
  let inFlight = 0;
  let peak = 0;
  const s = await startServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    setTimeout(() => {
      inFlight--;
      lengthModel(req, res);
    }, 20);
  });
  try {
    const pairs = Array.from({ length: 10 }, (_, i) => ({ prompt: 'p', a: 'x'.repeat(i), b: 'y' }));
    const scores = await model(s.url, { batchSize: 2, concurrency: 3 }).score(pairs.map((p) => ({ prompt: p.prompt, response: p.a })));
    assert.deepEqual(scores, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(s.requests.length, 5);
    assert.equal(peak, 3);
  } finally {
    await s.close();
  }
});
