import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

const EOS_CANDIDATES = ['<|endoftext|>', '</s>', '<eos>', '<|eos|>'];

function tokenContent(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string') {
    return (t as { content: string }).content;
  }
  return undefined;
}

/** A Hugging Face tokenizer.json (plus optional tokenizer_config.json) through @huggingface/tokenizers. */
export class Tokenizer {
  readonly vocabSize: number;
  readonly eosId: number | null;
  /** the tokenizer.json object, kept so that saveModel can write it back unchanged */
  readonly json: object;
  private readonly hf: HfTokenizer;

  private constructor(json: object, config: object, source: string) {
    try {
      this.hf = new HfTokenizer(json, config);
    } catch (err) {
      throw new Error(`${source}: not a tokenizer that @huggingface/tokenizers can load: ${(err as Error).message}`);
    }
    this.json = json;
    this.vocabSize = this.hf.get_vocab(true).size;
    const named = tokenContent((config as { eos_token?: unknown }).eos_token);
    const candidates = named !== undefined ? [named, ...EOS_CANDIDATES] : EOS_CANDIDATES;
    this.eosId = candidates.map((c) => this.hf.token_to_id(c)).find((id) => id !== undefined) ?? null;
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
    let config: object = {};
    const configPath = join(dirname(path), 'tokenizer_config.json');
    try {
      config = JSON.parse(await readFile(configPath, 'utf8')) as object;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`${configPath}: ${(err as Error).message}`);
      }
    }
    return Tokenizer.fromObject(json, config, path);
  }

  static fromJson(json: string | object, config: object = {}): Tokenizer {
    return Tokenizer.fromObject(typeof json === 'string' ? JSON.parse(json) : json, config, 'tokenizer.json');
  }

  private static fromObject(json: unknown, config: object, source: string): Tokenizer {
    if (typeof json !== 'object' || json === null || !('model' in json)) {
      throw new Error(`${source}: not a Hugging Face tokenizer.json (no 'model' field)`);
    }
    return new Tokenizer(json, config, source);
  }

  /**
   * Token ids of `text`. Special tokens of the post-processor (OPT's leading `</s>`, for example) are
   * added only when asked: a prompt wants them, a response that continues a prompt does not.
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  /**
   * A prompt as the models were trained on it: the tokenizer's special tokens, and the model's
   * BOS first when they do not add it (GPT-2-style tokenizers add none).
   */
  encodePrompt(text: string, bosId: number | null): number[] {
    const ids = this.encode(text, { addSpecialTokens: true });
    return bosId !== null && ids[0] !== bosId ? [bosId, ...ids] : ids;
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    // @huggingface/tokenizers throws on an empty list; an empty response (EOS at once) is ''.
    if (ids.length === 0) return '';
    return this.hf.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }
}
