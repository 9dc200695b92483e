import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore } from '../src/store/run-store.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { d2po } from './cli.js';
import { sendJson, startServer } from './gold-helpers.js';
import { tinyModelDir, toyTaskFile } from './d2po-fixture.js';

const SECRET = 'sk-SECRET-5e1f9a';

/** Every byte of every file under `dir` (run.db with its WAL, charts, report.md). */
function bytesUnder(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => readFileSync(join(d.parentPath, d.name)).toString('latin1'))
    .join('\n');
}

test('--set gold.apiKey=SECRET authenticates the run but never reaches run.db, report.md, stdout or stderr', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-secrets-'));
  const judge = await startServer((_req, res) => {
    const content = '#### Output for Text 1\nRating: 4\nRationale: a.\n\n#### Output for Text 2\nRating: 2\nRationale: b.';
    sendJson(res, 200, { choices: [{ message: { content } }], usage: { prompt_tokens: 10, completion_tokens: 5 } });
  });
  try {
    const dir = join(root, 'runs', 'd2po-secret');
    const cfg = join(root, 'run.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        method: 'd2po',
        task: toyTaskFile(),
        model: await tinyModelDir(),
        out: dir,
        gold: { type: 'llm-judge', baseUrl: judge.url, model: 'fake', aspects: ['helpfulness'], cachePath: join(root, 'judge.sqlite') },
        budget: { gold: 8, initial: 4, rounds: 1, steps: 2 },
        rollout: { batchSize: 4 },
        policy: { batchSize: 4 },
        init: { policyEpochs: 1, discriminatorEpochs: 1 },
        discriminator: { epochs: 1, batchSize: 4 },
        eval: { every: 0, prompts: 2, accuracyPairs: 2 },
        checkpoint: { every: 0 },
      }),
    );
    const printed = await d2po(['run', '--config', cfg, '--set', `gold.apiKey=${SECRET}`, '--print-config']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /"apiKey": "\[redacted\]"/);
    const run = await d2po(['run', '--config', cfg, '--set', `gold.apiKey=${SECRET}`, '--no-progress']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(judge.requests.length > 0 && judge.requests.every((r) => r.headers.authorization === `Bearer ${SECRET}`), 'every judge request carries the key');
    const store = RunStore.open(dir, { readonly: true });
    assert.equal(store.getMeta<{ gold: { apiKey: string } }>('config')!.gold.apiKey, '[redacted]');
    store.close();

    // a run stored before redaction existed: its plain-text key must not reach a report or a variant label
    const legacy = join(root, 'runs', 'd2po-legacy');
    const old = RunStore.open(legacy, { create: true });
    const oldConfig = resolveConfig({ method: 'd2po', task: 'word-collector', model: 'm', out: legacy, seed: 1, gold: { type: 'llm-judge', apiKey: `${SECRET}-old` } });
    old.db.prepare("INSERT INTO meta (key, value) VALUES ('config', ?)").run(JSON.stringify(oldConfig));
    old.logMetrics(0, 0, { 'eval/reward': 1 });
    old.close();
    const outDir = join(root, 'report');
    const report = await d2po(['report', join(root, 'runs'), '--out', outDir]);
    assert.equal(report.code, 0, report.stderr);
    const runs = await d2po(['runs', join(root, 'runs')]);
    const seen = [printed, run, report, runs].map((r) => r.stdout + r.stderr).join('\n') + bytesUnder(dir) + bytesUnder(outDir);
    assert.ok(!seen.includes(SECRET), 'the key appears nowhere');
  } finally {
    await judge.close();
    rmSync(root, { recursive: true, force: true });
  }
});
