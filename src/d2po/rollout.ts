import { sample, type CausalLM, type ChatTemplate, type Tokenizer } from '../model/index.js';

/** Turns prompt text into ids the models accept and sampled ids back into text. */
export class TextCodec {
  constructor(
    readonly tokenizer: Tokenizer,
    readonly contextLength: number,
    readonly maxNewTokens: number,
    /** the model's BOS (config.json bos_token_id); Tokenizer.promptBos decides whether it goes first */
    readonly modelBos: number | null,
    /** wraps each prompt as the one user turn of the model's chat template */
    readonly chat: ChatTemplate | null = null,
  ) {}

  /**
   * The prompt as Tokenizer.encodePrompt (or the chat template) gives it, keeping its end when it
   * would not leave room for the response; a leading BOS stays.
   */
  encodePrompt(text: string): number[] {
    const bos = this.tokenizer.promptBos(this.modelBos);
    const ids = this.chat ? this.chat.encodePrompt(text) : this.tokenizer.encodePrompt(text, this.modelBos);
    const lead = bos !== null && ids[0] === bos ? 1 : 0;
    const room = this.contextLength - this.maxNewTokens - lead;
    if (room < 1) throw new Error(`context ${this.contextLength} leaves no room for a prompt with ${this.maxNewTokens} new tokens`);
    const body = ids.slice(lead);
    const kept = [...ids.slice(0, lead), ...(body.length > room ? body.slice(body.length - room) : body)];
    return kept.length ? kept : [0];
  }

  /** Response text without its closing EOS. */
  decodeResponse(ids: number[]): string {
    const eos = this.tokenizer.eosId;
    const body = eos !== null && ids.length && ids[ids.length - 1] === eos ? ids.slice(0, -1) : ids;
    return this.tokenizer.decode(body);
  }
}

export interface Sampled {
  ids: number[];
  text: string;
}

export interface Rollout {
  prompt: string;
  promptIds: number[];
  samples: Sampled[];
}

export interface RolloutOptions {
  k: number;
  maxNewTokens: number;
  minNewTokens?: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
}

/** k samples for each prompt from `model` (KV-cached batched sampling), decoded. */
export function rollouts(model: CausalLM, codec: TextCodec, prompts: string[], o: RolloutOptions): Rollout[] {
  const promptIds = prompts.map((p) => codec.encodePrompt(p));
  const out = sample(model, promptIds, {
    n: o.k,
    maxNewTokens: o.maxNewTokens,
    minNewTokens: o.minNewTokens,
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    eosId: codec.tokenizer.eosId,
    seed: o.seed,
  });
  return prompts.map((prompt, i) => ({
    prompt,
    promptIds: promptIds[i],
    samples: out[i].map((ids) => ({ ids, text: codec.decodeResponse(ids) })),
  }));
}
