// Recorded command lines are shown in reports: secret values given as PATH=VALUE are redacted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactCommandLine } from '../src/util/secrets.js';

test('redactCommandLine: secret PATH=VALUE arguments lose their values, quoted or not; references and other fields stay', () => {
  assert.equal(redactCommandLine('d2po run --set gold.apiKey=sk-1 --seed 1'), 'd2po run --set gold.apiKey=[redacted] --seed 1');
  assert.equal(redactCommandLine("d2po run --set=gold.apiKey='a b' --set 'gold.token=t'"), "d2po run --set=gold.apiKey=[redacted] --set 'gold.token=[redacted]'");
  assert.equal(redactCommandLine('d2po run --set gold.password="p q" --out x'), 'd2po run --set gold.password=[redacted] --out x');
  const kept = 'd2po run --set gold.apiKeyEnv=JUDGE_KEY --set gold.maxTokens=5 --out runs/a=b';
  assert.equal(redactCommandLine(kept), kept);
});
