import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRatings } from '../src/gold/judge-parse.js';

test('the rubric layout, with helpfulness Type lines and rationales containing numbers', () => {
  const answer = `#### Output for Text 1
Type: 1, 2
Rationale: Covers 3 points clearly.
Rating: 4
Rationale: Accurate but misses step 2.

#### Output for Text 2
Type: None
Rationale: Off topic.
Rating: 2
Rationale: Mentions Text 1's idea only in passing.`;
  assert.deepEqual(parseRatings(answer), [4, 2]);
});

test('markdown decorations and extra prose', () => {
  assert.deepEqual(parseRatings('Sure! Here is my evaluation.\n\n**Text 1**\n**Rating:** 5\nGreat.\n\n**Text 2**\n**Rating:** **3**/5\nOk.'), [5, 3]);
  assert.deepEqual(parseRatings('### Output for Text 1\nRating: 3 out of 5\n### Output for Text 2\nRating: 1\n\nOverall, text 1 wins.'), [3, 1]);
  assert.deepEqual(parseRatings('Rating for text 1: 2\nRating for text 2: 5'), [2, 5]);
  assert.deepEqual(parseRatings('Text 1: 4/5 - solid\nText 2: 2'), [4, 2]);
});

test('a bare sequence of exactly two ratings', () => {
  assert.deepEqual(parseRatings('Rating: 4\nRating: 3'), [4, 3]);
  assert.deepEqual(parseRatings('rating: 4\n- 2 reasons given\nrating: 1'), [4, 1]);
});

test('JSON answers, fenced or bare, in several shapes', () => {
  assert.deepEqual(parseRatings('```json\n{"ratings": [3, 4]}\n```'), [3, 4]);
  assert.deepEqual(parseRatings('Here: {"text_1": {"rating": 5, "rationale": "good"}, "text_2": {"rating": 2}}'), [5, 2]);
  assert.deepEqual(parseRatings('[{"rating": "4"}, {"score": 1}]'), [4, 1]);
  assert.deepEqual(parseRatings('{"Text 2": 3, "Text 1": 1}'), [1, 3]);
});

test('unparseable or out-of-scale answers give undefined, never a default', () => {
  assert.equal(parseRatings('Both texts are fine.'), undefined);
  assert.equal(parseRatings('Rating: 4'), undefined);
  assert.equal(parseRatings('Rating: 4\nRating: 3\nRating: 5'), undefined);
  assert.equal(parseRatings('#### Output for Text 1\nRating: N/A\n#### Output for Text 2\nRating: 3'), undefined);
  assert.equal(parseRatings('#### Output for Text 1\nRating: 7\n#### Output for Text 2\nRating: 3'), undefined);
  assert.equal(parseRatings('#### Output for Text 1\nRating: 3-4\n#### Output for Text 2\nRating: 3'), undefined);
  assert.equal(parseRatings('{"ratings": [4]}'), undefined);
  assert.equal(parseRatings(''), undefined);
});
