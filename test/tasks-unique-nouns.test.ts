import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createUniqueNounsTask, uniqueNouns, uniqueNounsReward } from '../src/tasks/unique-nouns.js';

test('nouns: common and proper, distinct surface strings, case-sensitive', () => {
  assert.deepEqual(uniqueNouns('The teacher gave the students books, pencils and paper.'), [
    'teacher',
    'students',
    'books',
    'pencils',
    'paper',
  ]);
  assert.deepEqual(uniqueNouns('John Smith visited Paris and London with his sister.'), [
    'John',
    'Smith',
    'Paris',
    'London',
    'sister',
  ]);
  // a repeated noun counts once; different case counts separately
  assert.equal(uniqueNounsReward('The cat saw the cat and the cat slept.'), 1);
  assert.equal(uniqueNounsReward('The dog saw a Dog and a DOG.'), 3);
  assert.equal(uniqueNounsReward('She ran quickly and happily.'), 0);
  assert.equal(uniqueNounsReward(''), 0);
});

test('task: batched rewards in order, 200 dev prompts', async () => {
  const task = createUniqueNounsTask();
  assert.deepEqual(
    await task.rewards([
      { prompt: 'p', response: 'She ran quickly.' },
      { prompt: 'p', response: 'The teacher gave the students books, pencils and paper.' },
    ]),
    [0, 5],
  );
  assert.equal(task.generation?.maxNewTokens, 50);
  const dev = await task.prompts('dev');
  assert.equal(dev.length, 200);
  assert.equal(new Set(dev).size, 200);
});
