// Run names with markdown table syntax or line breaks stay inside their cell of report.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReport } from '../src/report/report.js';
import type { RunCurve } from '../src/report/curves.js';

function curve(label: string, seed: number): RunCurve {
  return {
    dir: `runs/${seed}`,
    method: 'd2po',
    label,
    status: 'done',
    step: 1,
    steps: 1,
    config: { method: 'd2po', seed },
    task: 'word-collector',
    seed,
    goldBudget: 8,
    goldInitial: 4,
    warmStart: null,
    command: null,
    lastPair: null,
    evals: [{ step: 0, goldUsed: 4, metrics: { 'eval/reward': 1 } }, { step: 2, goldUsed: 8, metrics: { 'eval/reward': 2 } }],
    series: () => [],
  };
}

test('names with | and newlines are escaped in every table and line', async () => {
  const out = mkdtempSync(join(tmpdir(), 'd2po-report-names-'));
  const { markdown } = await writeReport([curve('a|b', 0), curve('two\nlines\r\nhere', 1)], out);
  rmSync(out, { recursive: true });
  const cells = (line: string) => line.split(/(?<!\\)\|/).length - 2;
  const tables = markdown.split('\n').filter((l) => l.startsWith('|'));
  assert.ok(tables.length > 6);
  for (const t of tables.filter((l) => !l.startsWith('| gold used') && !l.startsWith('|---') && /^\| \d/.test(l))) assert.equal(cells(t), 3, t);
  const finals = tables.filter((l) => l.startsWith('| a') || l.startsWith('| two'));
  assert.ok(finals.some((l) => l.startsWith('| a\\|b |')), markdown);
  assert.ok(finals.some((l) => l.startsWith('| two\\nlines\\nhere |')), markdown);
  for (const l of markdown.split('\n')) assert.ok(!/^(lines|here)/.test(l), `a name broke a line: ${l}`);
  assert.match(markdown, /a\\\|b \(seeds 0\); two\\nlines\\nhere \(seeds 1\)/);
});
