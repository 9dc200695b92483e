import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { brownDocuments } from '../src/data/brown.js';
import { trainBpe } from '../src/tokenizer/bpe-train.js';
import { BYTE_TO_CHAR, preTokenize } from '../src/tokenizer/bytelevel.js';
import { buildTokenizerJson } from '../src/tokenizer/tokenizer-json.js';
import { Tokenizer } from '../src/model/tokenizer.js';

const fixture = fileURLToPath(new URL('./fixtures/tokenizer/tokenizer.json', import.meta.url));
const shipped = fileURLToPath(new URL('../models/brown-bpe-4k/tokenizer.json', import.meta.url));

test('byte map and pre-tokenizer follow GPT-2', () => {
  assert.equal(BYTE_TO_CHAR[32], 'Ġ');
  assert.equal(BYTE_TO_CHAR[10], 'Ċ');
  assert.equal(BYTE_TO_CHAR[65], 'A');
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  const dec = new TextDecoder();
  assert.deepEqual(preTokenize("He's  here, 1961!\n").map((b) => dec.decode(b)), ['He', "'s", ' ', ' here', ',', ' 1961', '!', '\n']);
});

test('trainBpe merges the most frequent pair first, ties to the smaller ids', () => {
  // pre-tokens "abab" and " ab": (a,b) occurs 3 times; then (' ',ab) and (ab,ab) tie at 1.
  const v = trainBpe(['abab ab'], { size: 258, minFrequency: 1 });
  const a = 97, b = 98, sp = 32;
  assert.deepEqual(v.merges, [[a, b], [sp, 256]]);
  assert.deepEqual([...v.tokens[257]], [sp, a, b]);
  // minFrequency stops early: no pair but (a,b) occurs twice
  assert.equal(trainBpe(['abab ab'], { size: 300 }).merges.length, 1);
});

test('a trained tokenizer loads in @huggingface/tokenizers and encodes as trained', () => {
  const tok = Tokenizer.fromJson(buildTokenizerJson(trainBpe(['the cat the hat the'], { size: 256 + 3, minFrequency: 1 })));
  assert.equal(tok.vocabSize, 260);
  assert.equal(tok.eosId, 259);
  const ids = tok.encode(' the');
  assert.equal(ids.length, 1, `' the' is one token after the merges (got ${ids})`);
  assert.equal(tok.decode([...tok.encode('the cat'), 259]), 'the cat<|endoftext|>');
});

test('the shipped tokenizer round-trips the whole test split exactly', async () => {
  const tok = await Tokenizer.fromFile(shipped);
  assert.equal(tok.vocabSize, 4096);
  assert.equal(tok.eosId, 4095);
  const docs = await brownDocuments('test');
  let tokens = 0;
  let words = 0;
  for (const d of docs) {
    const ids = tok.encode(d.text);
    tokens += ids.length;
    words += d.text.split(/\s+/).length;
    assert.ok(ids.every((i) => i >= 0 && i < 4095), 'no special or unknown ids');
    assert.equal(tok.decode(ids), d.text, `round-trip of ${d.docId}`);
  }
  // Measured 1.65 tokens per word on dev; the test split should be similar.
  assert.ok(tokens / words > 1.4 && tokens / words < 1.9, `tokens/word ${tokens / words}`);
  const odd = 'Naïve café — “quotes” 12\u00a0%\ttabs\n\nand 日本 😀 <|endoftext|>';
  const ids = tok.encode(odd);
  assert.equal(ids.at(-1), 4095, 'the special token is recognised in text');
  assert.equal(tok.decode(ids), odd);
});

test('a GPT-2-style tokenizer.json a user brings encodes known strings to known ids', async () => {
  const tok = await Tokenizer.fromFile(fixture);
  assert.equal(tok.vocabSize, 20);
  assert.equal(tok.eosId, 19);
  // hello: h e l l o -> he l l o -> he ll o -> hell o -> hello
  assert.deepEqual(tok.encode('hello world'), [12, 17]);
  // held: h e l d -> he l d -> he ld
  assert.deepEqual(tok.encode('held'), [9, 16]);
  assert.deepEqual(tok.encode('hello!\n<|endoftext|>'), [12, 8, 18, 19]);
  assert.equal(tok.decode([12, 17, 8]), 'hello world!');
});
