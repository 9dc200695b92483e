// Response bodies of the HTTP gold sources are bounded: a huge answer is an error, not gigabytes of memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RESPONSE_BYTES, postJson } from '../src/gold/http-client.js';
import { LlmJudge } from '../src/gold/llm-judge.js';
import { RemoteRewardModel } from '../src/gold/remote-reward.js';
import { FAST, sendJson, startServer } from './gold-helpers.js';

const big = (bytes: number) => JSON.stringify({ scores: [1, 2], pad: 'x'.repeat(bytes) });

test('a body over the bound fails at once, declared or streamed, and is not retried', async () => {
  const s = await startServer((req, res) => {
    const body = big(5000);
    if (req.body.chunked) {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < body.length; i += 500) res.write(body.slice(i, i + 500));
      res.end();
    } else sendJson(res, 200, body);
  });
  try {
    for (const chunked of [false, true]) {
      const before = s.requests.length;
      await assert.rejects(postJson(`${s.url}/x`, { chunked }, { ...FAST, maxResponseBytes: 1000 }), /POST http:\/\/127\.0\.0\.1:\d+\/x failed: the response body exceeds 1000 bytes/);
      assert.equal(s.requests.length - before, 1, 'not retried');
    }
    assert.deepEqual(await postJson(s.url, { chunked: true }, { ...FAST, maxResponseBytes: 10_000 }).then((v) => (v as { scores: number[] }).scores), [1, 2]);
  } finally {
    await s.close();
  }
});

test('the remote reward model and the judge refuse a body over the default bound', async () => {
  const s = await startServer((_req, res) => sendJson(res, 200, big(MAX_RESPONSE_BYTES + 1)));
  try {
    const rm = new RemoteRewardModel({ url: s.url, batchSize: 64, concurrency: 1, tieEpsilon: 0, paid: false, ...FAST });
    await assert.rejects(rm.label([{ prompt: 'p', a: 'a', b: 'b' }]), new RegExp(`the response body exceeds ${MAX_RESPONSE_BYTES} bytes`));
    const judge = new LlmJudge({ baseUrl: s.url, model: 'm', aspects: ['helpfulness'], concurrency: 1, parseRetries: 0, seed: 0, tieEpsilon: 0, cache: ':memory:', ...FAST });
    await assert.rejects(judge.label([{ prompt: 'p', a: 'a', b: 'b' }]), new RegExp(`the response body exceeds ${MAX_RESPONSE_BYTES} bytes`));
    await judge.close();
  } finally {
    await s.close();
  }
});
