import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { parseTokenizerConfig, type TokenizerConfig } from './tokenizer-config.js';

/** End-of-text tokens of the common families (GPT-2/NeoX/Qwen2, Llama 2/Mistral, Gemma, Llama 3), tried when tokenizer_config.json names none. */
const EOS_CANDIDATES = ['<|endoftext|>', '</s>', '<eos>', '<|eos|>', '<|end_of_text|>'];

/**
 * A Hugging Face tokenizer.json (plus optional tokenizer_config.json) through
 * @huggingface/tokenizers: byte-level BPE (GPT-2, GPT-NeoX, Llama 3, Qwen2 with their
 * pre-tokenizer regexes) and SentencePiece BPE with byte fallback and the `▁` metaspace
 * (Llama 2, Mistral) alike; the file says which.
 */
export class Tokenizer {
  readonly vocabSize: number;
  readonly eosId: number | null;
  /**
   * The BOS a prompt starts with according to tokenizer_config.json: its bos_token's id when it
   * says `add_bos_token: true` (Llama 2, Mistral); null when it says there is none
   * (`bos_token: null`, as Qwen2's) or that none is added (`add_bos_token: false`); undefined
   * otherwise, and the model's config.json bos_token_id decides, as for GPT-2-style folders.
   */
  readonly bosId: number | null | undefined;
  /** the tokenizer.json object, kept so that saveModel can write it back unchanged */
  readonly json: object;
  /** tokenizer_config.json, validated; null when there is none */
  readonly config: TokenizerConfig | null;
  /** where tokenizer_config.json is (or would be), for messages and for the files beside it */
  readonly configPath: string;
  private readonly hf: HfTokenizer;

  private constructor(json: object, config: { raw: object; parsed: TokenizerConfig } | null, source: string, configPath: string) {
    try {
      this.hf = new HfTokenizer(json, config?.raw ?? {});
    } catch (err) {
      throw new Error(`${source}: not a tokenizer that @huggingface/tokenizers can load: ${(err as Error).message}`);
    }
    this.json = json;
    this.config = config?.parsed ?? null;
    this.configPath = configPath;
    this.vocabSize = this.hf.get_vocab(true).size;
    const c = this.config;
    const named = c?.eos_token ?? undefined;
    const candidates = named !== undefined ? [named, ...EOS_CANDIDATES] : EOS_CANDIDATES;
    this.eosId = candidates.map((t) => this.hf.token_to_id(t)).find((id) => id !== undefined) ?? null;
    if (c?.add_bos_token === false || c?.bos_token === null) this.bosId = null;
    else if (c?.add_bos_token === true && typeof c.bos_token === 'string') {
      const id = this.hf.token_to_id(c.bos_token);
      if (id === undefined) throw new Error(`${configPath}: bos_token ${JSON.stringify(c.bos_token)} is not a token of ${source}`);
      this.bosId = id;
    } else this.bosId = undefined;
  }

  /** Loads tokenizer.json, and tokenizer_config.json from the same folder when present. */
  static async fromFile(path: string): Promise<Tokenizer> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read tokenizer ${path}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
    }
    const configPath = join(dirname(path), 'tokenizer_config.json');
    let config: object | null = null;
    try {
      config = JSON.parse(await readFile(configPath, 'utf8')) as object;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`${configPath}: ${(err as Error).message}`);
      }
    }
    return Tokenizer.fromObject(json, config, path, configPath);
  }

  /** From a tokenizer.json text or object, and optionally a tokenizer_config.json object. */
  static fromJson(json: string | object, config: object | null = null): Tokenizer {
    return Tokenizer.fromObject(typeof json === 'string' ? JSON.parse(json) : json, config, 'tokenizer.json', 'tokenizer_config.json');
  }

  private static fromObject(json: unknown, config: object | null, source: string, configPath: string): Tokenizer {
    if (typeof json !== 'object' || json === null || !('model' in json)) {
      throw new Error(`${source}: not a Hugging Face tokenizer.json (no 'model' field)`);
    }
    const parsed = config === null ? null : { raw: config, parsed: parseTokenizerConfig(config, configPath) };
    return new Tokenizer(json, parsed, source, configPath);
  }

  /**
   * Token ids of `text`. Special tokens of the post-processor (OPT's leading `</s>`, Llama's `<s>`)
   * are added only when asked: a prompt wants them, a response that continues a prompt does not.
   * Special tokens written in the text (`<|im_start|>`) are always recognised.
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  /** The BOS a prompt starts with: tokenizer_config.json's when it has a say, else the model's. */
  promptBos(modelBosId: number | null): number | null {
    return this.bosId === undefined ? modelBosId : this.bosId;
  }

  /**
   * A prompt as the models were trained on it: the tokenizer's special tokens, then its BOS
   * (promptBos) first when they do not add it (GPT-2-style tokenizers add none).
   */
  encodePrompt(text: string, modelBosId: number | null): number[] {
    const ids = this.encode(text, { addSpecialTokens: true });
    const bos = this.promptBos(modelBosId);
    return bos !== null && ids[0] !== bos ? [bos, ...ids] : ids;
  }

  /** The text of a token id (`<s>`, `<|begin_of_text|>`), or undefined outside the vocabulary. */
  tokenText(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    // @huggingface/tokenizers throws on an empty list; an empty response (EOS at once) is ''.
    if (ids.length === 0) return '';
    return this.hf.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }
}
