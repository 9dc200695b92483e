/**
 * Writes the tokenizer fixtures of test/tokenizer-families.test.ts: for each family a
 * tokenizer.json in the layout its published files have (normalizer, pre-tokenizer,
 * post-processor, decoder and model types and options as in the real files), with a tiny
 * vocabulary and merges of our own, and a tokenizer_config.json with the family's special tokens
 * and, for the instruct layouts, a chat template of the family's shape.
 *
 *   node --import tsx scripts/make-tokenizer-fixtures.ts   # writes test/fixtures/tokenizers/
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BYTE_TO_CHAR } from '../src/tokenizer/bytelevel.js';
import { ensureDir } from '../src/util/ensure-dir.js';

const OUT = 'test/fixtures/tokenizers';

/** Vocabulary: the base symbols in order, then one token per merge (its two halves joined), then extras. */
function bpeVocab(base: string[], merges: string[], extra: string[] = []): Record<string, number> {
  const vocab: Record<string, number> = {};
  const add = (t: string) => {
    if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  };
  base.forEach(add);
  for (const m of merges) add(m.replace(' ', ''));
  extra.forEach(add);
  return vocab;
}

function addedToken(id: number, content: string, special = true, normalized = !special) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized, special };
}

function template(single: string[], specials: Record<string, number>) {
  const piece = (p: string, typeId: number) => (p === '$A' || p === '$B' ? { Sequence: { id: p.slice(1), type_id: typeId } } : { SpecialToken: { id: p, type_id: typeId } });
  return {
    type: 'TemplateProcessing',
    single: single.map((p) => piece(p, 0)),
    pair: [...single.map((p) => piece(p, 0)), ...single.map((p) => piece(p === '$A' ? '$B' : p, 1))],
    special_tokens: Object.fromEntries(Object.entries(specials).map(([t, id]) => [t, { id: t, ids: [id], tokens: [t] }])),
  };
}

function bpeModel(vocab: Record<string, number>, merges: string[] | string[][], opts: Record<string, unknown>) {
  return { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, ...opts, vocab, merges };
}

// --- SentencePiece BPE with byte fallback (Llama 2, Mistral) ---

const SP_SPECIALS = ['<unk>', '<s>', '</s>'];
const SP_BYTES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
const SP_CHARS = ['▁', ...'abcdefghijklmnopqrstuvwxyz', 'H', 'T', ',', '.', '!', '?'];
const SP_MERGES = ['▁ t', 'h e', '▁t he', 'l l', 'he ll', 'hell o', '▁ hello', '▁ w', 'o r', '▁w or', 'l d', '▁wor ld', 'a t', '▁ c', '▁c at'];
const spVocab = bpeVocab([...SP_SPECIALS, ...SP_BYTES, ...SP_CHARS], SP_MERGES);
const spModel = bpeModel(spVocab, SP_MERGES, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true });
const spAdded = SP_SPECIALS.map((t, i) => addedToken(i, t));

/** Llama 2 (and Mistral v0.1): the metaspace is a normalizer (prepend ▁, spaces to ▁); the decoder undoes it and the byte fallback. */
const llama2 = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: spAdded,
  normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
  pre_tokenizer: null,
  post_processor: template(['<s>', '$A'], { '<s>': 1 }),
  decoder: {
    type: 'Sequence',
    decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
  },
  model: spModel,
};
const llama2Config = {
  add_bos_token: true,
  add_eos_token: false,
  bos_token: { __type: 'AddedToken', content: '<s>', lstrip: false, normalized: false, rstrip: false, single_word: false },
  eos_token: { __type: 'AddedToken', content: '</s>', lstrip: false, normalized: false, rstrip: false, single_word: false },
  unk_token: { __type: 'AddedToken', content: '<unk>', lstrip: false, normalized: false, rstrip: false, single_word: false },
  clean_up_tokenization_spaces: false,
  legacy: false,
  model_max_length: 1000000000000000019884624838656,
  pad_token: null,
  sp_model_kwargs: {},
  tokenizer_class: 'LlamaTokenizer',
};

/**
 * Mistral v0.3 instruct: the metaspace as a Metaspace pre-tokenizer (prepended on the first
 * split only), the decoder as Llama 2's, [INST] and [/INST] as special tokens.
 */
const mistralSpecials = [...SP_SPECIALS, '[INST]', '[/INST]'];
const mistral = {
  ...llama2,
  added_tokens: [...spAdded, addedToken(Object.keys(spVocab).length, '[INST]'), addedToken(Object.keys(spVocab).length + 1, '[/INST]')],
  normalizer: null,
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
  model: bpeModel({ ...spVocab, '[INST]': Object.keys(spVocab).length, '[/INST]': Object.keys(spVocab).length + 1 }, SP_MERGES, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true }),
};
const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
const mistralConfig = { ...llama2Config, additional_special_tokens: mistralSpecials.slice(3), chat_template: MISTRAL_TEMPLATE };

// --- byte-level BPE (GPT-NeoX, Llama 3, Qwen2) ---

const BYTES = [...BYTE_TO_CHAR];
const BL_MERGES = ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'Ġwor l', 'Ġworl d', 'Ġ t', 'Ġt he', '1 2', '12 3', 'Ċ Ċ', "' s", 'Ġ Ġ'];
const byteLevel = (o: Record<string, unknown>) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true, ...o });

/** GPT-NeoX / Pythia: <|endoftext|> and <|padding|> first, GPT-2's regex, NFC, runs of spaces as added (not special) tokens. */
const neoxVocab = bpeVocab(['<|endoftext|>', '<|padding|>', ...BYTES], BL_MERGES);
const neoxSpaces = ['   ', '  '];
const neox = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [
    addedToken(0, '<|endoftext|>'),
    addedToken(1, '<|padding|>'),
    ...neoxSpaces.map((s, i) => addedToken(Object.keys(neoxVocab).length + i, s, false, true)),
  ],
  normalizer: { type: 'NFC' },
  pre_tokenizer: byteLevel({}),
  post_processor: byteLevel({ trim_offsets: true }),
  decoder: byteLevel({}),
  model: bpeModel({ ...neoxVocab, ...Object.fromEntries(neoxSpaces.map((s, i) => [s, Object.keys(neoxVocab).length + i])) }, BL_MERGES, {}),
};
const neoxConfig = { add_prefix_space: false, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', tokenizer_class: 'GPTNeoXTokenizer' };

/** Llama 3: its own split regex (numbers in groups of up to 3) before a ByteLevel without regex; ignore_merges; BOS from the post-processor. */
const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** Qwen2: the same regex with single digits. */
const QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const splitThenBytes = (pattern: string) => ({
  type: 'Sequence',
  pretokenizers: [
    { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
    byteLevel({ use_regex: false }),
  ],
});
// 'Ġcat' is a token no merge makes: with ignore_merges (Llama 3) ' cat' is one token, without (Qwen2) four.
const blVocab = bpeVocab(BYTES, BL_MERGES, ['Ġcat']);
const L3 = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
const l3Base = Object.keys(blVocab).length;
const llama3 = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: L3.map((t, i) => addedToken(l3Base + i, t)),
  normalizer: null,
  pre_tokenizer: splitThenBytes(LLAMA3_PATTERN),
  post_processor: { type: 'Sequence', processors: [byteLevel({ add_prefix_space: true, trim_offsets: false }), template(['<|begin_of_text|>', '$A'], { '<|begin_of_text|>': l3Base })] },
  decoder: byteLevel({ add_prefix_space: true }),
  model: bpeModel({ ...blVocab, ...Object.fromEntries(L3.map((t, i) => [t, l3Base + i])) }, BL_MERGES, { ignore_merges: true }),
};
const LLAMA3_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}" +
  "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
const llama3Config = { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', clean_up_tokenization_spaces: true, model_input_names: ['input_ids', 'attention_mask'], model_max_length: 1000000000000000019884624838656, tokenizer_class: 'PreTrainedTokenizerFast', chat_template: LLAMA3_TEMPLATE };

const Q2 = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
const q2Base = Object.keys(blVocab).length;
const qwen2 = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: Q2.map((t, i) => addedToken(q2Base + i, t)),
  normalizer: { type: 'NFC' },
  pre_tokenizer: splitThenBytes(QWEN2_PATTERN),
  post_processor: byteLevel({ trim_offsets: false, use_regex: false }),
  decoder: byteLevel({ use_regex: false }),
  // merges as pairs, the form recent versions of tokenizers write
  model: bpeModel({ ...blVocab, ...Object.fromEntries(Q2.map((t, i) => [t, q2Base + i])) }, BL_MERGES.map((m) => m.split(' ')), {}),
};
const QWEN2_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}" +
  "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
const qwen2Config = {
  add_prefix_space: false,
  additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
  bos_token: null,
  chat_template: QWEN2_TEMPLATE,
  clean_up_tokenization_spaces: false,
  eos_token: '<|im_end|>',
  errors: 'replace',
  model_max_length: 32768,
  pad_token: '<|endoftext|>',
  split_special_tokens: false,
  tokenizer_class: 'Qwen2Tokenizer',
  unk_token: null,
};

const FAMILIES: Record<string, [object, object]> = {
  llama2: [llama2, llama2Config],
  mistral: [mistral, mistralConfig],
  'gpt-neox': [neox, neoxConfig],
  llama3: [llama3, llama3Config],
  qwen2: [qwen2, qwen2Config],
};

for (const [name, [json, config]] of Object.entries(FAMILIES)) {
  const dir = join(OUT, name);
  ensureDir(dir);
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(json, null, 1) + '\n');
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
}
console.log(`wrote ${Object.keys(FAMILIES).join(', ')} under ${OUT}`);
