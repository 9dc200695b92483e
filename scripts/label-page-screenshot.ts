// The README's picture of a labelling session: `d2po serve` starts a small Word Collector run for
// two annotators, the run samples its initial pairs and waits for them, and Debian's chromium
// (playwright-core) opens alice's link and saves the page. Then serve is stopped; the run folder
// is a temporary one.
//
//   node --import tsx scripts/label-page-screenshot.ts [--out docs/img/label-page.png]
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/img/label-page.png' } } });
const dir = mkdtempSync(join(tmpdir(), 'd2po-screenshot-'));
const serve = spawn(
  process.execPath,
  ['bin/d2po.mjs', 'serve', '--annotators', 'alice,bob', '--port', '0', '--task', 'word-collector', '--gold-budget', '40', '--initial-gold', '16', '--rounds', '2', '--steps', '8', '--out', join(dir, 'run')],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
try {
  const url = await new Promise<string>((resolve, reject) => {
    serve.on('exit', (code) => reject(new Error(`d2po serve ended (${code}) before printing its annotators`)));
    createInterface({ input: serve.stdout! }).on('line', (line) => {
      const m = /^annotator alice \S+ (\S+)$/.exec(line);
      if (m) resolve(m[1]);
    });
  });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 620 } });
    await page.goto(url);
    // the first pair comes once the run has sampled its initial set
    await page.waitForSelector('#query:not([hidden])', { timeout: 300_000 });
    await page.waitForFunction(() => /gold labels/.test(document.getElementById('progress')!.textContent ?? ''));
    mkdirSync(dirname(values.out), { recursive: true });
    await page.screenshot({ path: values.out });
    console.log(`wrote ${values.out}`);
  } finally {
    await browser.close();
  }
} finally {
  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
