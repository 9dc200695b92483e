/**
 * GPT-2's byte-level pre-tokenisation: the regex that splits text into words, and the map from
 * bytes to printable characters that byte-level BPE vocabularies are written in ('Ġ' = space).
 * Must match what `@huggingface/tokenizers` does for a `ByteLevel` pre-tokenizer with use_regex.
 */

export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep(b) ? b : 256 + n++);
  return out;
})();

const encoder = new TextEncoder();

/** Split text into pre-tokens (GPT-2 regex), each as its UTF-8 bytes. */
export function preTokenize(text: string): Uint8Array[] {
  return (text.match(GPT2_PATTERN) ?? []).map((w) => encoder.encode(w));
}

/** Bytes -> the vocabulary's printable spelling. */
export function bytesToToken(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}
