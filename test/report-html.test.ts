// report.html in a real browser: Debian's chromium driven by playwright-core (nothing downloaded).
// Every chart is drawn, offline methods sit at their online-gold position, text from runs shows
// as text and never runs, and the page loads nothing from anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { RunStore } from '../src/store/run-store.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { configFromArgs } from '../src/cli/commands/run.js';
import { fakeRun } from './run-fixture.js';
import { d2po } from './cli.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const INJECTED = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">';
/** a run name holds no '=' (NAME=DIR) */
const INJECTED_NAME = '<script>window.pwned++</script><iframe></iframe>';
const SECRET = 'sk-report-html-secret';

test('report.html: charts drawn, offline methods as stars at online gold, run text escaped and inert', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (bash scripts/setup-debian.sh), or set CHROMIUM`);
  const root = mkdtempSync(join(tmpdir(), 'd2po-report-html-'));
  const budget = (initial: number | 'all', rounds: number) => ({ gold: 16, initial, rounds, steps: 8 });
  const base = { task: 'word-collector', model: root };
  const acc = (step: number, gold: number, reward: number) =>
    [step, gold, { 'eval/reward': reward, 'eval/disc_acc': 0.5 + step / 40, 'eval/implicit_acc': 0.5 + step / 80 }] as [number, number, Record<string, number>];
  for (const seed of [0, 1]) {
    fakeRun(join(root, 'runs', `d2po-${seed}`), {
      config: { ...base, method: 'd2po', seed, budget: budget(8, 2) },
      gold: [8, 4, 4],
      evals: [acc(0, 8, 1), acc(4, 12, 1.5 + seed), acc(8, 16, 2 + seed)],
      sample: { prompt: 'The jury said', a: INJECTED, b: 'a plain answer' },
      ...(seed === 0 && { meta: { warm_start: 'warm-hash-0', command: `d2po run --method d2po --set gold.apiKey=${SECRET} --seed 0` } }),
    });
  }
  // opo-gold starts from fewer initial labels: the shared initial set is the smallest, 4
  fakeRun(join(root, 'runs', 'opo-gold-0'), { config: { ...base, method: 'opo-gold', seed: 0, budget: budget(4, 3) }, gold: [4, 4, 4, 4], evals: [[0, 4, { 'eval/reward': 0.8 }], [3, 16, { 'eval/reward': 1.7 }]] });
  fakeRun(join(root, 'runs', 'dpo-0'), { config: { ...base, method: 'dpo', seed: 0, budget: { gold: 16 } }, gold: [16], evals: [[0, 16, { 'eval/reward': 1.6 }]] });
  const named = join(root, 'named');
  fakeRun(join(named, 'd2po-9'), { config: { ...base, method: 'd2po', seed: 9, budget: budget(8, 2) }, gold: [8, 8], evals: [acc(0, 8, 1), acc(8, 16, 2.2)] });

  const out = join(root, 'report');
  const res = await d2po(['report', join(root, 'runs'), `${INJECTED_NAME}=${named}`, '--out', out]);
  assert.equal(res.code, 0, res.stderr);
  const file = join(out, 'report.html');
  const html = readFileSync(file, 'utf8');
  assert.ok(!html.includes(SECRET) && html.includes('gold.apiKey=[redacted]'), 'a recorded command is shown with its secrets redacted');
  assert.ok(!/https?:/.test(html), 'no URL anywhere');

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }); // tests run as root in CI
  try {
    const page = await browser.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(pathToFileURL(file).href);

    const charts = await page.$$eval('figure > svg', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const drawn = [...svg.querySelectorAll('.role-mark path')].filter((p) => (p.getAttribute('d') ?? '').length > 4 && (p as SVGGraphicsElement).getBBox().width + (p as SVGGraphicsElement).getBBox().height > 0);
        return { width: box.width, height: box.height, marks: drawn.length, labels: [...svg.querySelectorAll('[aria-label]')].map((e) => e.getAttribute('aria-label')!), text: svg.textContent ?? '' };
      }),
    );
    assert.equal(charts.length, 2, 'the reward and the accuracy chart');
    for (const c of charts) assert.ok(c.width > 100 && c.height > 100 && c.marks > 0, JSON.stringify({ ...c, labels: c.labels.length }));
    const [reward, accuracy] = charts;
    assert.match(reward.text, /not counting the 4 initial gold labels every method starts from/);
    // dpo (16 gold, all initial) is a star at 16 - 4; d2po's curve starts at 8 - 4
    assert.ok(reward.labels.some((l) => /^online gold labels: 12; mean dev gold reward: 1\.6; series: dpo$/.test(l)), reward.labels.join('\n'));
    assert.ok(reward.labels.some((l) => /^online gold labels: 4; mean dev gold reward: 1; series: d2po$/.test(l)), reward.labels.join('\n'));
    assert.ok(accuracy.labels.some((l) => l.includes('series: d2po: discriminator')));
    assert.ok(accuracy.labels.some((l) => l.includes('series: d2po: implicit reward')));

    const page1 = await page.evaluate(() => ({
      scripts: document.querySelectorAll('script').length,
      elements: document.querySelectorAll('img, iframe').length,
      pwned: (window as unknown as { pwned?: number }).pwned,
      text: document.body.textContent ?? '',
      tables: document.querySelectorAll('table').length,
      runs: document.querySelectorAll('section.run').length,
      csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '',
    }));
    assert.deepEqual([page1.scripts, page1.elements, page1.pwned], [0, 0, undefined], 'nothing injected became an element or ran');
    assert.equal(page1.text.split(INJECTED).length - 1, 2, 'the sample of both d2po runs shows as text');
    assert.ok(page1.text.includes(`${INJECTED_NAME}, seed 9`), 'the run name shows as text');
    assert.ok(reward.labels.some((l) => l.startsWith('Symbol legend') && l.includes(INJECTED_NAME)), 'and in the chart legend');
    assert.match(page1.csp, /script-src 'none'/);
    assert.equal(page1.runs, 5);
    assert.ok(page1.tables >= 5);
    assert.match(page1.text, /warm start\s*shared, warm-hash-0/);
    assert.match(page1.text, /d2po run --config config\.json/);
    assert.deepEqual(requests, [pathToFileURL(file).href], 'the page loads nothing but itself');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }

  // the derived command reproduces the run: its config, given to --config, resolves to the stored one
  const shown = /<summary>config<\/summary><pre>([^<]*)<\/pre>/.exec(html.slice(html.indexOf('opo-gold, seed 0')))![1];
  const configFile = join(root, 'config.json');
  writeFileSync(configFile, shown.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))));
  const store = RunStore.open(join(root, 'runs', 'opo-gold-0'), { readonly: true });
  const stored = store.getMeta('config');
  store.close();
  const { user, source } = configFromArgs(['--config', configFile]);
  assert.deepEqual(resolveConfig(user, source), stored);
  rmSync(root, { recursive: true });
});
