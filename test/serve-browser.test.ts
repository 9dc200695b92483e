// The labelling page and the dashboard in Debian's chromium (playwright-core, nothing
// downloaded): signed in by the link's #token, labelled with the keyboard, undo before the
// label is sent, progress that moves, and a model output holding <script> shown as text only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';
import { servedRun, wordPairs } from './serve-fixture.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const INJECTED = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">';

const text = (page: Page, sel: string) => page.$eval(sel, (e) => e.textContent ?? '');
// Long enough that a loaded machine still shows the held label after the delayed next pair
// arrives (600 ms was not, on a 2-core CI run); the undone-label check waits past it.
const UNDO_MS = 2000;

test('label page: keyboard labels with undo, progress moves, model text stays text; dashboard shows it too', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (bash scripts/setup-debian.sh), or set CHROMIUM`);
  const pairs = wordPairs(3);
  pairs[0] = { prompt: 'prompt 0', a: INJECTED, b: 'a plain answer' };
  const run = await servedRun(pairs, ['alice'], { undoMs: UNDO_MS });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }); // tests run as root in CI
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => !r.url().startsWith(run.server.url) && foreign.push(r.url()));
    // the next pair arrives late, as on a loaded machine: keys must not race its fetch
    await page.route('**/api/next', async (r) => {
      await new Promise((done) => setTimeout(done, 300));
      await r.continue();
    });
    await page.goto(`${run.server.url}/#token=${run.tokens.alice}`);
    await page.waitForFunction(() => document.getElementById('prompt')!.textContent === 'prompt 0');
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
    await page.waitForFunction(() => /gold labels 0 of 11 · your labels 0/.test(document.getElementById('progress')!.textContent ?? ''));

    const left = await text(page, '#left');
    const right = await text(page, '#right');
    assert.deepEqual([left, right].sort(), [INJECTED, 'a plain answer'].sort(), 'the pair shows as text, in either order');
    const inert = await page.evaluate(() => ({ elements: document.querySelectorAll('main script, main img').length, pwned: (window as unknown as { pwned?: number }).pwned }));
    assert.deepEqual(inert, { elements: 0, pwned: undefined });

    // 1 then u: the label is held, then undone, and never reaches the server
    await page.keyboard.press('1');
    await page.waitForFunction(() => document.getElementById('prompt')!.textContent === 'prompt 1');
    assert.equal(await page.isVisible('#pending'), true);
    await page.keyboard.press('u');
    await page.waitForFunction(() => document.getElementById('prompt')!.textContent === 'prompt 0');
    await new Promise((r) => setTimeout(r, UNDO_MS + 300));
    assert.equal(run.store.goldUsed(), 0, 'an undone label is not sent');

    // 2: the right-hand response is preferred, sent after the undo window
    await page.keyboard.press('2');
    await page.waitForFunction(() => /gold labels 1 of 11 · your labels 1/.test(document.getElementById('progress')!.textContent ?? ''), undefined, { timeout: 10_000 });
    assert.equal(run.store.goldAnswer('p0')?.preference, right === INJECTED ? 'a' : 'b', 'the key maps to the response shown on the right');
    assert.equal(await text(page, '#prompt'), 'prompt 1', 'the pair after the undone one comes next');
    await page.keyboard.press('t');
    // a key pressed while the next pair is still loading has nothing to act on: wait for it
    await page.waitForFunction(() => !document.getElementById('query')!.hidden && document.getElementById('prompt')!.textContent !== 'prompt 1');
    await page.keyboard.press('s');
    await page.waitForFunction(() => /gold labels 2 of 11 · your labels 2, skipped 1/.test(document.getElementById('progress')!.textContent ?? ''), undefined, { timeout: 10_000 });
    assert.equal(run.store.goldAnswer('p1')?.preference, 'tie');

    await page.goto(`${run.server.url}/dashboard`);
    await page.waitForFunction(() => /2 of 11/.test(document.getElementById('counts')!.textContent ?? ''));
    const dash = await page.evaluate(() => ({
      counts: document.getElementById('counts')!.textContent ?? '',
      recent: [...document.querySelectorAll('#recent pre')].map((e) => e.textContent),
      elements: document.querySelectorAll('main script, main img').length,
      pwned: (window as unknown as { pwned?: number }).pwned,
    }));
    // the skipped pair was withdrawn (this served run trains no more, so nothing replaces it)
    assert.match(dash.counts, /queue0 open requests.*1 skipped, 1 pairs withdrawn/);
    assert.match(dash.counts, /annotator alice1 labels, 1 skipped|annotator alice2 labels, 1 skipped/);
    assert.ok(dash.recent.includes(INJECTED), 'the recent sample shows the model text as text');
    assert.deepEqual([dash.elements, dash.pwned], [0, undefined]);
    assert.deepEqual(problems, [], 'no script error and no CSP violation');
    assert.deepEqual(foreign, [], 'nothing loaded from elsewhere');
  } finally {
    await browser.close();
    await run.close();
  }
});
