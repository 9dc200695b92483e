import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WORD_COLLECTOR_WORDS, createWordCollectorTask, wordCollectorReward, wordTokens } from '../src/tasks/word-collector.js';

test('the 30 words of the reference notes', () => {
  assert.equal(WORD_COLLECTOR_WORDS.length, 30);
  assert.equal(new Set(WORD_COLLECTOR_WORDS).size, 30);
  assert.ok(WORD_COLLECTOR_WORDS.includes('additionally') && WORD_COLLECTOR_WORDS.includes('safe'));
});

test('tokenisation: punctuation separates, clitics split, hyphens and inner apostrophes join', () => {
  assert.deepEqual(wordTokens('Data, data. (data)'), ['Data', 'data', 'data']);
  assert.deepEqual(wordTokens("the data's owner don't"), ['the', 'data', "'s", 'owner', 'do', "n't"]);
  assert.deepEqual(wordTokens('data-driven o\u2019clock'), ['data-driven', 'o\u2019clock']);
  assert.deepEqual(wordTokens('we\u2019ll'), ['we', '\u2019ll']);
  assert.deepEqual(wordTokens('  '), []);
});

test('reward: hand-computed counts, case-sensitive, punctuation and duplicates', () => {
  assert.equal(wordCollectorReward(''), 0);
  assert.equal(wordCollectorReward('data'), 1);
  assert.equal(wordCollectorReward('Data,'), 0); // case-sensitive
  assert.equal(wordCollectorReward('DATA data,'), 1); // "data," counts once
  assert.equal(wordCollectorReward("the data's"), 1); // possessive split off
  assert.equal(wordCollectorReward('data-driven'), 0); // one hyphenated word
  assert.equal(wordCollectorReward('database datas'), 0); // no substring matches
  assert.equal(wordCollectorReward('data data data'), 1); // distinct words
  // help, your, question, best, possible, two: 6 (Help and Your are capitalised: not counted)
  assert.equal(wordCollectorReward('Help your question; help: best "possible" two! Your.'), 6);
  assert.equal(wordCollectorReward(WORD_COLLECTOR_WORDS.join(' ')), 30);
});

test("reward: the paper's Table 6 first example scores its 18", async () => {
  // Table 6 row 1 (gold 18.0): have provide following information help understand your question
  // appropriate create safe experience ensure best possible generate data first = 18.
  const r =
    'I have provided the following information to help understand your question and provide the appropriate information to create a safe and enjoyable experience to ensure the best possible experience to generate the best possible data to generate the first best data to create the first and';
  assert.equal(wordCollectorReward(r), 18);
  const task = createWordCollectorTask();
  assert.deepEqual(await task.rewards([{ prompt: 'x', response: r }, { prompt: 'x', response: 'Data' }]), [18, 0]);
});

test('prompts: 200 distinct dev prefixes of dev sentences, deterministic, disjoint from train', async () => {
  const task = createWordCollectorTask();
  const dev = await task.prompts('dev');
  assert.equal(dev.length, 200);
  assert.equal(new Set(dev).size, 200);
  for (const p of dev) {
    const n = p.split(' ').length;
    assert.ok(n >= 4 && n <= 10, p);
  }
  const train = await task.prompts('train');
  assert.ok(train.length > 10_000);
  const devSet = new Set(dev);
  assert.ok(train.every((p) => !devSet.has(p)));
  assert.deepEqual(await createWordCollectorTask().prompts('dev'), dev);
});
