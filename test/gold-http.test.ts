import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, GoldHttpError, parseRetryAfter, postJson } from '../src/gold/http-client.js';
import { createLimiter } from '../src/gold/limiter.js';
import { closedPortUrl, FAST, sendJson, startServer } from './gold-helpers.js';

test('success: posts JSON with headers and returns the parsed answer', async () => {
  const s = await startServer((req, res) => sendJson(res, 200, { echo: req.body }));
  try {
    const out = await postJson(`${s.url}/x`, { hi: 1 }, { ...FAST, headers: { authorization: 'Bearer k' } });
    assert.deepEqual(out, { echo: { hi: 1 } });
    assert.equal(s.requests[0].headers.authorization, 'Bearer k');
    assert.equal(s.requests[0].headers['content-type'], 'application/json');
  } finally {
    await s.close();
  }
});

test('429 with Retry-After is retried after the advertised delay', async () => {
  const s = await startServer((_req, res, n) => (n === 0 ? sendJson(res, 429, { error: 'slow down' }, { 'retry-after': '0.3' }) : sendJson(res, 200, { ok: true })));
  try {
    const out = await postJson(s.url, {}, FAST);
    assert.deepEqual(out, { ok: true });
    assert.equal(s.requests.length, 2);
    const gap = s.requests[1].at - s.requests[0].at;
    assert.ok(gap >= 280, `waited ${gap} ms, Retry-After said 300`);
  } finally {
    await s.close();
  }
});

test('500 then success is retried; permanent 500 fails after all retries naming URL and status', async () => {
  const flaky = await startServer((_req, res, n) => (n === 0 ? sendJson(res, 500, 'boom') : sendJson(res, 200, [1])));
  const dead = await startServer((_req, res) => sendJson(res, 503, { error: 'down for maintenance' }));
  try {
    assert.deepEqual(await postJson(flaky.url, {}, FAST), [1]);
    assert.equal(flaky.requests.length, 2);
    await assert.rejects(postJson(`${dead.url}/score`, {}, FAST), (e: unknown) => {
      assert.ok(e instanceof GoldHttpError);
      assert.equal(e.status, 503);
      assert.equal(e.attempts, 3);
      assert.match(e.message, new RegExp(`POST ${dead.url}/score failed after 3 attempts: HTTP 503: .*down for maintenance`));
      return true;
    });
    assert.equal(dead.requests.length, 3);
  } finally {
    await flaky.close();
    await dead.close();
  }
});

test('400 is not retried', async () => {
  const s = await startServer((_req, res) => sendJson(res, 400, { error: { message: 'bad model' } }));
  try {
    await assert.rejects(postJson(s.url, {}, FAST), /failed: HTTP 400: .*bad model/);
    assert.equal(s.requests.length, 1);
  } finally {
    await s.close();
  }
});

test('a server that never answers times out, and each attempt is timed out', async () => {
  const s = await startServer(() => {});
  try {
    const t0 = Date.now();
    await assert.rejects(postJson(s.url, {}, { ...FAST, retries: 1, timeoutMs: 150 }), /failed after 2 attempts: timed out after 150 ms/);
    assert.equal(s.requests.length, 2);
    assert.ok(Date.now() - t0 < 1500);
  } finally {
    await s.close();
  }
});

test('a 200 with a malformed JSON body is a clear error, not retried', async () => {
  const s = await startServer((_req, res) => sendJson(res, 200, '{"scores": [1, 2'));
  try {
    await assert.rejects(postJson(s.url, {}, FAST), /HTTP 200 with a body that is not JSON: "\{\\"scores\\": \[1, 2"/);
    assert.equal(s.requests.length, 1);
  } finally {
    await s.close();
  }
});

test('an unreachable endpoint gives an error naming the URL', async () => {
  const url = await closedPortUrl();
  await assert.rejects(postJson(`${url}/chat/completions`, {}, { ...FAST, retries: 1 }), (e: unknown) => {
    assert.ok(e instanceof GoldHttpError);
    assert.match(e.message, new RegExp(`POST ${url}/chat/completions failed after 2 attempts: connection refused`));
    return true;
  });
});

test('aborting the caller signal stops a hung request at once', async () => {
  const s = await startServer(() => {});
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop now')), 50);
    await assert.rejects(postJson(s.url, {}, { ...FAST, timeoutMs: 5000, signal: ac.signal }), /stop now/);
  } finally {
    await s.close();
  }
});

test('Retry-After parsing and backoff bounds', () => {
  assert.equal(parseRetryAfter('2'), 2000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10000);
  assert.equal(parseRetryAfter('soon'), undefined);
  const p = { retries: 5, initialBackoffMs: 100, maxBackoffMs: 1000, maxRetryAfterMs: 0 };
  assert.equal(backoffMs(1, p, () => 0), 50);
  assert.equal(backoffMs(1, p, () => 1), 100);
  assert.equal(backoffMs(3, p, () => 1), 400);
  assert.equal(backoffMs(10, p, () => 1), 1000);
});

test('limiter never runs more than its limit at once', async () => {
  const limit = createLimiter(2);
  let active = 0;
  let peak = 0;
  const results = await Promise.all(
    Array.from({ length: 7 }, (_, i) =>
      limit(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        return i;
      }),
    ),
  );
  assert.equal(peak, 2);
  assert.deepEqual(results, [0, 1, 2, 3, 4, 5, 6]);
});
