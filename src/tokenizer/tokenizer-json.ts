/**
 * Write a byte-level BPE vocabulary as a Hugging Face `tokenizer.json` (the GPT-2 layout: ByteLevel
 * pre-tokenizer and decoder, BPE model, special tokens as added tokens after the BPE ids), plus the
 * `tokenizer_config.json` that tells loaders not to "clean up" spaces on decode, which would break
 * exact round-trips (" ." -> ".").
 */
import { bytesToToken } from './bytelevel.js';
import type { BpeVocabulary } from './bpe-train.js';

export const END_OF_TEXT = '<|endoftext|>';

export interface TokenizerJson {
  version: string;
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean }[];
  model: { type: 'BPE'; vocab: Record<string, number>; merges: string[]; [k: string]: unknown };
  [k: string]: unknown;
}

export function buildTokenizerJson(vocab: BpeVocabulary, specials: readonly string[] = [END_OF_TEXT]): TokenizerJson {
  const names = vocab.tokens.map(bytesToToken);
  const ids: Record<string, number> = {};
  names.forEach((n, i) => (ids[n] = i));
  const added = specials.map((content, i) => ({
    id: names.length + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  for (const t of added) ids[t.content] = t.id;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: ids,
      merges: vocab.merges.map(([a, b]) => `${names[a]} ${names[b]}`),
    },
  };
}

/** tokenizer_config.json for the same tokenizer (GPT-2 conventions: one token is BOS, EOS and UNK). */
export function buildTokenizerConfig(eos = END_OF_TEXT): Record<string, unknown> {
  return {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: eos,
    eos_token: eos,
    unk_token: eos,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 1024,
  };
}
