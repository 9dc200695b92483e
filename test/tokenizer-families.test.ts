// Tokenizers of the Llama family and its neighbours, from fixtures in each family's published
// tokenizer.json layout (scripts/make-tokenizer-fixtures.ts). The expected ids were produced once
// by Hugging Face's Rust tokenizers (the `tokenizers` npm package 0.23.2, not a dependency) on
// these same files, for every string of ROUND_TRIP with and without special tokens; all agreed
// with @huggingface/tokenizers. The comments derive a few of them by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../src/model/tokenizer.js';

const dir = (family: string) => fileURLToPath(new URL(`./fixtures/tokenizers/${family}/`, import.meta.url));
const load = (family: string) => Tokenizer.fromFile(`${dir(family)}tokenizer.json`);

const ROUND_TRIP = ['hello world', 'Hello world', 'the cat sat.', "it's hello's", 'a  b   c', 'line\n\nnext\n', '日本 😀', 'café naïve', 'Tab\there', '12345 apples', ''];

function roundTrips(tok: Tokenizer, family: string): void {
  for (const s of ROUND_TRIP) assert.equal(tok.decode(tok.encode(s)), s, `${family}: round trip of ${JSON.stringify(s)}`);
}

test('Llama 2: SentencePiece BPE with the ▁ metaspace, byte fallback and <s> from the post-processor', async () => {
  const tok = await load('llama2');
  // ids: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, then ▁ 259, a-z 260..285, H T , . ! ? 286..291, then merges
  // "hello world" -> "▁hello▁world" -> ▁hello (298) ▁world (303)
  assert.deepEqual(tok.encode('hello world'), [298, 303]);
  assert.deepEqual(tok.encode('hello world', { addSpecialTokens: true }), [1, 298, 303]);
  // ▁the ▁cat, then "▁sat": ▁ s at (no merge makes ▁s)
  assert.deepEqual(tok.encode('the cat sat.'), [294, 306, 259, 278, 304, 289]);
  // '1' is not in the vocabulary: its byte <0x31> = 3 + 0x31 = 52
  assert.deepEqual(tok.encode('12345 apples'), [259, 52, 53, 54, 55, 56, 259, 260, 275, 275, 271, 264, 278]);
  // 日 = E6 97 A5: <0xE6> = 3 + 230 = 233 ...
  assert.deepEqual(tok.encode('日本 😀'), [259, 233, 154, 168, 233, 159, 175, 259, 243, 162, 155, 131]);
  assert.deepEqual(tok.encode('<s>hello</s>'), [1, 298, 2], 'special tokens in text are recognised');
  roundTrips(tok, 'llama2');
  assert.equal(tok.decode(tok.encode(' the cat')), ' the cat', 'a leading space survives: Prepend adds one ▁, Strip removes one');
  assert.equal(tok.eosId, 2);
  assert.equal(tok.bosId, 1, 'add_bos_token: true names <s>');
  assert.deepEqual(tok.encodePrompt('hello', 1), [1, 298], 'the post-processor added <s>: not twice');
  assert.equal(tok.tokenText(1), '<s>');
});

test('Mistral: Metaspace pre-tokenizer (prepend on the first split), [INST] as special tokens', async () => {
  const tok = await load('mistral');
  assert.deepEqual(tok.encode('hello world'), [298, 303]);
  assert.deepEqual(tok.encode('[INST] hello [/INST]'), [307, 298, 259, 308]);
  // with prepend_scheme 'first' a leading space is the ▁ itself
  assert.deepEqual(tok.encode(' the cat'), [294, 306]);
  roundTrips(tok, 'mistral');
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  assert.deepEqual(tok.encodePrompt('hello', 1), [1, 298]);
});

test('GPT-NeoX / Pythia: byte-level BPE with NFC and runs of spaces as added tokens', async () => {
  const tok = await load('gpt-neox');
  // ids: <|endoftext|> 0, <|padding|> 1, the 256 byte symbols 2..257 (byte b at 2 + b), then merges
  assert.deepEqual(tok.encode('hello world'), [261, 266]);
  // "  " (275) and "   " (274) are added tokens, matched before the regex
  assert.deepEqual(tok.encode('a  b   c'), [99, 275, 100, 274, 101]);
  assert.deepEqual(tok.encode('cafe\u0301'), [101, 99, 104, 197, 171], 'NFC: e + combining acute is é (C3 A9)');
  roundTrips(tok, 'gpt-neox');
  assert.equal(tok.eosId, 0);
  assert.equal(tok.bosId, undefined, 'no add_bos_token: the model config.json bos_token_id decides');
  assert.deepEqual(tok.encodePrompt('hello', 0), [0, 261]);
  assert.deepEqual(tok.encodePrompt('hello', null), [261]);
});

test('Llama 3: its split regex (digits in threes), ignore_merges, <|begin_of_text|> from the post-processor', async () => {
  const tok = await load('llama3');
  assert.deepEqual(tok.encode('hello world'), [259, 264]);
  // \p{N}{1,3}: "123" (268) "45" (4, 5 as bytes 52, 53)
  assert.deepEqual(tok.encode('12345 apples'), [268, 52, 53, 32, 97, 112, 112, 108, 101, 115]);
  // 'Ġcat' (272) is in the vocabulary but no merge makes it: ignore_merges takes it whole
  assert.deepEqual(tok.encode(' the cat'), [266, 272]);
  assert.deepEqual(tok.encode('line\n\nnext\n'), [108, 105, 110, 101, 269, 110, 101, 120, 116, 10]);
  roundTrips(tok, 'llama3');
  assert.deepEqual(tok.encode('hi', { addSpecialTokens: true }), [273, 104, 105]);
  assert.equal(tok.eosId, 277, 'eos_token <|eot_id|> of tokenizer_config.json');
  assert.deepEqual(tok.encodePrompt('hello', 273), [273, 259]);
});

test('Qwen2: single digits, merges written as pairs, no BOS at all', async () => {
  const tok = await load('qwen2');
  assert.deepEqual(tok.encode('hello world'), [259, 264]);
  assert.deepEqual(tok.encode('12345 apples'), [49, 50, 51, 52, 53, 32, 97, 112, 112, 108, 101, 115]);
  // no ignore_merges: ' cat' is Ġ c a t
  assert.deepEqual(tok.encode(' the cat'), [266, 32, 99, 97, 116]);
  assert.deepEqual(tok.encode('<|im_start|>hi<|im_end|>'), [274, 104, 105, 275]);
  roundTrips(tok, 'qwen2');
  assert.equal(tok.eosId, 275, 'eos_token <|im_end|>');
  assert.equal(tok.bosId, null, 'bos_token: null');
  // Qwen2's config.json names <|endoftext|> as bos_token_id, but its tokenizer never adds one
  assert.deepEqual(tok.encodePrompt('hello world', 273), [259, 264]);
});

test('tokenizer_config.json: add_bos_token false wins over the model, a wrong field is named', () => {
  const json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, model: { type: 'BPE', vocab: { a: 0, '<s>': 1 }, merges: [] }, added_tokens: [{ id: 1, content: '<s>', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }] };
  assert.deepEqual(Tokenizer.fromJson(json, { add_bos_token: false, bos_token: '<s>' }).encodePrompt('a', 1), [0]);
  assert.deepEqual(Tokenizer.fromJson(json, { add_bos_token: true, bos_token: '<s>' }).encodePrompt('a', null), [1, 0], 'the tokenizer names its BOS');
  assert.throws(() => Tokenizer.fromJson(json, { add_bos_token: 'yes' }), /tokenizer_config\.json: field 'add_bos_token': /);
  assert.throws(() => Tokenizer.fromJson(json, { add_bos_token: true, bos_token: '<bos>' }), /bos_token "<bos>" is not a token/);
  assert.equal(Tokenizer.fromJson(json, { eos_token: { content: '<s>', lstrip: false } }).eosId, 1, 'an AddedToken object names the EOS');
});
