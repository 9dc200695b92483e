import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '../src/model/index.js';
import { TextCodec } from '../src/d2po/rollout.js';
import { TOKENIZER } from './d2po-fixture.js';

const tok = await Tokenizer.fromFile(TOKENIZER);

test('TextCodec puts the model BOS first and keeps the end of a prompt too long for the context', () => {
  const text = 'The jury said that the city should act on the report of the committee';
  const ids = tok.encode(text);
  assert.deepEqual(new TextCodec(tok, 64, 16, 4095).encodePrompt(text), [4095, ...ids], 'BOS + the prompt, as sample and score encode it');
  // context 10 - 4 new tokens - BOS leaves 5 prompt tokens: the last five
  assert.deepEqual(new TextCodec(tok, 10, 4, 4095).encodePrompt(text), [4095, ...ids.slice(-5)]);
  assert.deepEqual(new TextCodec(tok, 10, 4, null).encodePrompt(text), ids.slice(-6), 'no BOS: one more prompt token');
  assert.throws(() => new TextCodec(tok, 8, 7, 4095).encodePrompt(text), /no room for a prompt/);
});
