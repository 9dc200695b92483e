import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig, readConfig } from '../src/model/config.js';
import { Tokenizer } from '../src/model/tokenizer.js';

const FIX = join(import.meta.dirname, 'fixtures', 'model');

test('GPT-2 config: HF defaults filled, n_ctx accepted for the context length', () => {
  const c = parseConfig({ model_type: 'gpt2', n_embd: 64, n_layer: 2, n_head: 4, n_ctx: 128 });
  assert.equal(c.model_type, 'gpt2');
  if (c.model_type !== 'gpt2') return;
  assert.equal(c.n_positions, 128);
  assert.equal(c.vocab_size, 50257);
  assert.equal(c.activation_function, 'gelu_new');
  assert.equal(c.layer_norm_epsilon, 1e-5);
  assert.equal(c.tie_word_embeddings, true);
});

test('OPT config: word_embed_proj_dim defaults to hidden_size; architectures alone selects the type', () => {
  const c = parseConfig({ architectures: ['OPTForCausalLM'], hidden_size: 32, num_attention_heads: 4, ffn_dim: 64 });
  assert.equal(c.model_type, 'opt');
  if (c.model_type !== 'opt') return;
  assert.equal(c.word_embed_proj_dim, 32);
  assert.equal(c.do_layer_norm_before, true);
  assert.equal(c.max_position_embeddings, 2048);
});

test('unknown architecture: the error names the source and the field', () => {
  assert.throws(() => parseConfig({ model_type: 'falcon', hidden_size: 8 }, 'x/config.json'), /x\/config\.json: field 'model_type' = "falcon" is not a supported architecture/);
  assert.throws(() => parseConfig({ architectures: ['FalconForCausalLM'] }, 'y.json'), /y\.json: field 'architectures'.*FalconForCausalLM/);
  assert.throws(() => parseConfig({ n_embd: 8 }, 'z.json'), /z\.json: field 'model_type' is missing/);
});

test('bad field values name the field', () => {
  assert.throws(() => parseConfig({ model_type: 'gpt2', n_layer: -1 }, 'c.json'), /c\.json: field 'n_layer'/);
  assert.throws(() => parseConfig({ model_type: 'gpt2', n_embd: 10, n_head: 3 }, 'c.json'), /'n_embd' \(10\) must be divisible by 'n_head' \(3\)/);
  assert.throws(() => parseConfig({ model_type: 'opt', activation_function: 'swish' }, 'c.json'), /c\.json: field 'activation_function'/);
});

test('readConfig: missing file and invalid JSON name the path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-cfg-'));
  await assert.rejects(readConfig(join(dir, 'config.json')), new RegExp(`cannot read model config ${dir}/config.json`));
  await writeFile(join(dir, 'config.json'), '{"model_type": ');
  await assert.rejects(readConfig(join(dir, 'config.json')), /config\.json: not valid JSON/);
  const c = await readConfig(join(FIX, 'opt-postln', 'config.json'));
  assert.equal(c.model_type === 'opt' && c.word_embed_proj_dim, 8);
});

test('tokenizer: a GPT-2 style byte-level BPE tokenizer.json encodes, decodes and finds EOS', async () => {
  const tok = await Tokenizer.fromFile(join(FIX, 'gpt2', 'tokenizer.json'));
  assert.equal(tok.vocabSize, 297);
  assert.equal(tok.eosId, 296);
  const text = 'the cat sat on the mat, héllo!';
  const ids = tok.encode(text);
  // 'the', ' cat', ' sat', ... are learned merges (one token each); 'é' is two byte tokens (195, 169)
  assert.deepEqual(ids, [257, 263, 275, 266, 258, 272, 44, 32, 104, 195, 169, 108, 290, 33]);
  assert.equal(tok.decode(ids), text);
  assert.deepEqual(tok.encode('<|endoftext|>'), [296]);
  assert.throws(() => Tokenizer.fromJson({ nothing: true }), /not a Hugging Face tokenizer\.json/);
});
