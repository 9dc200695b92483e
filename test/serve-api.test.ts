// The labelling API over a real loopback server: tokens (401), bodies (400, 413), ids (409),
// an empty queue (204), the 200 of a label only once it is committed, the pages' security
// headers, /api/status as `runs show --json`, and a graceful close that finishes a label in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { RunStore } from '../src/store/run-store.js';
import { summarizeRun } from '../src/store/run-summary.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRequestsRun, servedRun, wordPairs } from './serve-fixture.js';
import { d2po } from './cli.js';

async function call(url: string, path: string, opts: { token?: string; body?: string; method?: string } = {}) {
  const res = await fetch(`${url}${path}`, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers: { ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}), 'Content-Type': 'application/json' },
    body: opts.body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

const answered = (dir: string) => {
  const s = RunStore.open(dir, { readonly: true });
  try {
    return { gold: s.goldUsed(), human: s.db.prepare('SELECT COUNT(*) FROM human_labels WHERE answered_at IS NOT NULL').pluck().get() as number };
  } finally {
    s.close();
  }
};

test('API: 401 without a valid token, 400 and 413 store nothing, 409 for unknown and answered ids, 200 after commit, 204 when empty', async () => {
  const run = await servedRun(wordPairs(2), ['alice', 'bob'], { bodyLimit: 1024 });
  const { url } = run.server;
  const alice = run.tokens.alice;
  try {
    for (const token of [undefined, 'not-a-token', `${alice}x`]) {
      const r = await call(url, '/api/next', { token });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    assert.equal((await call(url, '/api/label', { body: '{"id":"x","choice":"a"}' })).status, 401);
    assert.equal((await call(url, '/api/status')).status, 401);

    const q = await call(url, '/api/next', { token: alice });
    assert.equal(q.status, 200);
    assert.deepEqual(Object.keys(q.json).sort(), ['a', 'b', 'id', 'prompt']);

    const bad: [string, RegExp][] = [
      ['{"id": ', /body is not JSON/],
      [JSON.stringify({ id: q.json.id, choice: 'left' }), /choice: Invalid option/],
      [JSON.stringify({ choice: 'a' }), /^id: /],
      [JSON.stringify({ id: q.json.id, choice: 'a', extra: 1 }), /Unrecognized key/],
      ['[]', /body: /],
    ];
    for (const [body, reason] of bad) {
      const r = await call(url, '/api/label', { token: alice, body });
      assert.equal(r.status, 400, body);
      assert.match(r.json.error, reason);
    }
    const big = await call(url, '/api/label', { token: alice, body: JSON.stringify({ id: q.json.id, choice: 'a', pad: 'x'.repeat(2000) }) });
    assert.equal(big.status, 413);
    assert.match(big.json.error, /over the limit of 1024/);
    // a body sent in chunks, with no declared length, is cut at the limit too
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/api/label`, { method: 'POST', headers: { Authorization: `Bearer ${alice}`, 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write('x'.repeat(512));
      req.end();
    });
    assert.equal(chunked, 413);
    assert.deepEqual(answered(run.dir), { gold: 0, human: 0 }, 'nothing stored by refused requests');

    assert.equal((await call(url, '/api/label', { token: alice, body: JSON.stringify({ id: 'made-up', choice: 'a' }) })).status, 409);
    assert.equal((await call(url, '/api/label', { token: run.tokens.bob, body: JSON.stringify({ id: q.json.id, choice: 'a' }) })).status, 409, "bob answers alice's query");

    const ok = await call(url, '/api/label', { token: alice, body: JSON.stringify({ id: q.json.id, choice: 'b' }) });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { id: q.json.id, choice: 'b', committed: true });
    // read through another connection as soon as the 200 is in: the label is committed
    assert.deepEqual(answered(run.dir), { gold: 1, human: 1 });
    const again = await call(url, '/api/label', { token: alice, body: JSON.stringify({ id: q.json.id, choice: 'a' }) });
    assert.equal(again.status, 409);
    assert.match(again.json.error, /already answered/);

    const q2 = await call(url, '/api/next', { token: alice });
    assert.equal(q2.status, 200);
    assert.equal((await call(url, '/api/next', { token: run.tokens.bob })).status, 204, 'the one open pair is leased to alice');
    assert.equal((await call(url, '/api/label', { token: alice, body: JSON.stringify({ id: q2.json.id, choice: 'tie' }) })).status, 200);
    assert.equal((await call(url, '/api/next', { token: alice })).status, 204);

    const status = await call(url, '/api/status', { token: alice });
    const shown = summarizeRun(run.dir);
    assert.deepEqual(Object.keys(status.json), Object.keys(shown));
    assert.equal(status.json.gold_used, 2);
    const me = await call(url, '/api/me', { token: alice });
    assert.deepEqual(me.json, { annotator: 'alice', labels: 2, skips: 0, undo_ms: 5000 });
  } finally {
    await run.close();
  }
});

test('pages: a strict CSP, scripts served as files, unknown routes 404', async () => {
  const run = await servedRun(wordPairs(1), ['alice']);
  try {
    for (const path of ['/', '/dashboard', '/static/label.js', '/static/api.js', '/api/next']) {
      const res = await fetch(`${run.server.url}${path}`, { signal: AbortSignal.timeout(10_000) });
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self';/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      const body = await res.text();
      if (path.endsWith('.js')) assert.match(res.headers.get('content-type')!, /^text\/javascript/);
      if (path === '/' || path === '/dashboard') {
        assert.ok(!/<script>|<script [^>]*>[^<]/.test(body) && !/ on[a-z]+=/.test(body), `${path}: no inline script or handler`);
        assert.doesNotMatch(body, /innerHTML/);
      }
    }
    for (const js of ['label.js', 'dashboard.js', 'api.js']) assert.doesNotMatch(await (await fetch(`${run.server.url}/static/${js}`)).text(), /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    assert.equal((await fetch(`${run.server.url}/static/../run.db`)).status, 404);
    assert.equal((await fetch(`${run.server.url}/api/nope`)).status, 404);
  } finally {
    await run.close();
  }
});

test('close: stops accepting, finishes the label in flight (committed, 200), then resolves', async () => {
  const run = await servedRun(wordPairs(1), ['alice']);
  const { url } = run.server;
  try {
    const q = await call(url, '/api/next', { token: run.tokens.alice });
    const body = JSON.stringify({ id: q.json.id, choice: 'a' });
    const res = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${url}/api/label`, { method: 'POST', headers: { Authorization: `Bearer ${run.tokens.alice}`, 'Content-Length': Buffer.byteLength(body) } }, (r) => {
        let text = '';
        r.on('data', (c) => (text += c)).on('end', () => resolve({ status: r.statusCode!, text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 5));
      setTimeout(() => req.end(body.slice(5)), 300);
    });
    await new Promise((r) => setTimeout(r, 100));
    let closed = false;
    const closing = run.server.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(fetch(`${url}/api/status`, { signal: AbortSignal.timeout(2000) }), 'no new connection is accepted');
    assert.equal(closed, false, 'close waits for the request in flight');
    const r = await res;
    assert.equal(r.status, 200, r.text);
    await closing;
    assert.equal(run.store.goldUsed(), 1);
  } finally {
    await run.close();
  }
});

test('d2po serve refuses what it cannot serve: no annotators, a bad name, a folder whose run is running', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-serve-cli-'));
  try {
    openRequestsRun(dir, wordPairs(1));
    const none = await d2po(['serve', '--resume', dir]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--annotators/);
    const bad = await d2po(['serve', '--resume', dir, '--annotators', 'alice,<b>']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'<b>' is not a name/);
    const store = RunStore.open(dir);
    store.setMeta('status', 'running');
    store.setMeta('pid', process.pid);
    store.close();
    const busy = await d2po(['serve', '--resume', dir, '--annotators', 'alice', '--port', '0']);
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, new RegExp(`being run by process ${process.pid}`));
  } finally {
    rmSync(dir, { recursive: true });
  }
});
