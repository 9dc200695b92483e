/**
 * An LLM judge over any OpenAI-compatible chat-completions endpoint, with the UltraFeedback rubric:
 * one request per aspect, both responses in it in a seeded random order, temperature 0; the score
 * of a response is the mean of its aspect ratings. Every verdict is cached durably before it is
 * returned, so a pair is never paid for twice.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { postJson, type RetryPolicy } from './http-client.js';
import { JudgeCache, judgeKey, type JudgeRecord } from './judge-cache.js';
import { parseRatings } from './judge-parse.js';
import { createLimiter } from './limiter.js';
import { preferenceFromScores, type GoldCost, type GoldLabel, type GoldPair, type GoldSource } from './source.js';
import { RUBRIC_VERSION, SYSTEM_PROMPT, rubricPrompt, type Aspect } from './ultrafeedback-rubric.js';

export interface JudgePrices {
  /** USD per million prompt tokens. */
  inputPer1M: number;
  /** USD per million completion tokens. */
  outputPer1M: number;
}

export interface LlmJudgeOptions extends RetryPolicy {
  /** e.g. https://api.openai.com/v1 ; requests go to `${baseUrl}/chat/completions`. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  aspects: readonly Aspect[];
  /** Chat requests in flight at once. */
  concurrency: number;
  /** Per request. */
  timeoutMs: number;
  /** Extra requests when an answer has no readable ratings, before giving up with an error. */
  parseRetries: number;
  maxTokens?: number;
  prices?: JudgePrices;
  /** Seeds the order in which the two responses are shown. */
  seed: number;
  tieEpsilon: number;
  /** An open cache, or the path of the SQLite file to open (then closed by close()). */
  cache: JudgeCache | string;
  /** Merged into every request body (e.g. provider-specific options). */
  extraBody?: Record<string, unknown>;
}

/** The judge answered, but no ratings could be read from its answer. */
export class JudgeParseError extends Error {
  override name = 'JudgeParseError';
  constructor(
    message: string,
    readonly answer: string,
  ) {
    super(message);
  }
}

export interface JudgeUsage {
  /** Chat requests answered (billed), including ones whose answer could not be parsed. */
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** Only with prices configured. */
  usd?: number;
  cacheHits: number;
}

const ChatResponse = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).partial().nullish(),
});

const REFORMAT = `Your answer could not be read. Answer again in exactly this format, with a whole number from 1 to 5 for each rating:
#### Output for Text 1
Rating: [Rating for text 1]
#### Output for Text 2
Rating: [Rating for text 2]`;

interface Spend {
  calls: number;
  inputTokens: number;
  outputTokens: number;
}

type Message = { role: 'system' | 'user' | 'assistant'; content: string };

export class LlmJudge implements GoldSource {
  readonly name: string;
  readonly paid = true;
  private readonly cache: JudgeCache;
  private readonly ownsCache: boolean;
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly url: string;
  private readonly inFlight = new Map<string, Promise<JudgeRecord>>();
  private readonly totals: JudgeUsage = { calls: 0, inputTokens: 0, outputTokens: 0, cacheHits: 0 };

  constructor(private readonly opts: LlmJudgeOptions) {
    if (opts.aspects.length === 0) throw new Error('the judge needs at least one aspect');
    this.name = `llm-judge:${opts.model}`;
    this.url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.ownsCache = typeof opts.cache === 'string';
    this.cache = typeof opts.cache === 'string' ? new JudgeCache(opts.cache) : opts.cache;
    this.limit = createLimiter(opts.concurrency);
    if (opts.prices) this.totals.usd = 0;
  }

  /** Totals since construction (this process only). */
  usage(): JudgeUsage {
    return { ...this.totals };
  }

  async label(pairs: GoldPair[], opts?: { signal?: AbortSignal }): Promise<GoldLabel[]> {
    return Promise.all(pairs.map((p) => this.labelOne(p, opts?.signal)));
  }

  private async labelOne(pair: GoldPair, signal?: AbortSignal): Promise<GoldLabel> {
    signal?.throwIfAborted();
    // Identical texts deserve identical ratings: no need to pay for the obvious tie.
    if (pair.a === pair.b) return { preference: 'tie', cost: this.zeroCost(), cached: false };
    const reference = typeof pair.meta?.reference === 'string' ? pair.meta.reference : undefined;
    const { key, swapped } = judgeKey({
      model: this.opts.model,
      rubricVersion: RUBRIC_VERSION,
      aspects: this.opts.aspects,
      prompt: pair.prompt,
      responses: [pair.a, pair.b],
      reference,
    });
    let record = this.cache.get(key);
    let bought = false;
    if (!record) {
      // Another pair in flight with the same key (same batch, or a concurrent call) is shared, not bought again.
      let pending = this.inFlight.get(key);
      if (!pending) {
        bought = true;
        const canonical: [string, string] = swapped ? [pair.b, pair.a] : [pair.a, pair.b];
        pending = this.judge(key, pair.prompt, canonical, reference, signal).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, pending);
      }
      record = await pending;
    }
    if (!bought) this.totals.cacheHits++;
    // Map the canonical record back to (a, b).
    const scores: [number, number] = swapped ? [record.scores[1], record.scores[0]] : record.scores;
    const aIndex = swapped ? 1 : 0;
    return {
      preference: preferenceFromScores(scores[0], scores[1], this.opts.tieEpsilon),
      scores,
      cost: bought ? this.costOf(record) : this.zeroCost(),
      cached: !bought,
      raw: record.raw,
      order: record.shownFirst === aIndex ? 'ab' : 'ba',
    };
  }

  /** Which canonical response is shown first: a hash of seed and key, so it does not depend on batching or timing. */
  private shownFirst(key: string): 0 | 1 {
    return (createHash('sha256').update(`${this.opts.seed}:${key}`).digest()[0] & 1) as 0 | 1;
  }

  private async judge(key: string, prompt: string, canonical: [string, string], reference: string | undefined, signal?: AbortSignal): Promise<JudgeRecord> {
    const first = this.shownFirst(key);
    const shown: [string, string] = first === 0 ? canonical : [canonical[1], canonical[0]];
    const spend: Spend = { calls: 0, inputTokens: 0, outputTokens: 0 };
    // When one aspect fails for good, stop paying for the others of this pair.
    const failed = new AbortController();
    const sig = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
    const answers = await Promise.all(
      this.opts.aspects.map((aspect) =>
        this.ask(aspect, prompt, shown, reference, spend, sig).catch((err: unknown) => {
          failed.abort(err);
          throw err;
        }),
      ),
    );
    const ratings: Record<string, [number, number]> = {};
    this.opts.aspects.forEach((aspect, i) => {
      const [r1, r2] = answers[i].ratings;
      ratings[aspect] = first === 0 ? [r1, r2] : [r2, r1];
    });
    const mean = (j: 0 | 1) => Object.values(ratings).reduce((s, r) => s + r[j], 0) / this.opts.aspects.length;
    const record: JudgeRecord = {
      scores: [mean(0), mean(1)],
      ratings,
      shownFirst: first,
      raw: this.opts.aspects.map((aspect, i) => `[${aspect}]\n${answers[i].answer}`).join('\n\n'),
      calls: spend.calls,
      inputTokens: spend.inputTokens,
      outputTokens: spend.outputTokens,
      usd: this.usd(spend),
    };
    this.cache.put(key, this.opts.model, RUBRIC_VERSION, record);
    return record;
  }

  private async ask(
    aspect: Aspect,
    prompt: string,
    shown: [string, string],
    reference: string | undefined,
    spend: Spend,
    signal?: AbortSignal,
  ): Promise<{ ratings: number[]; answer: string }> {
    const messages: Message[] = [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: rubricPrompt(aspect, prompt, shown, reference) },
    ];
    let answer = '';
    for (let attempt = 0; attempt <= this.opts.parseRetries; attempt++) {
      answer = await this.complete(messages, spend, signal);
      const ratings = parseRatings(answer, 2);
      if (ratings) return { ratings, answer };
      // At temperature 0 the same request gives the same answer: show it and ask for the format instead.
      messages.splice(2, messages.length, { role: 'assistant', content: answer }, { role: 'user', content: REFORMAT });
    }
    const shownAnswer = answer.length > 400 ? `${answer.slice(0, 400)}...` : answer;
    throw new JudgeParseError(
      `judge ${this.opts.model} at ${this.url} gave no readable ${aspect} ratings for both texts after ${this.opts.parseRetries + 1} requests; last answer: ${JSON.stringify(shownAnswer)}`,
      answer,
    );
  }

  private async complete(messages: Message[], spend: Spend, signal?: AbortSignal): Promise<string> {
    const body: Record<string, unknown> = { model: this.opts.model, messages, temperature: 0, ...this.opts.extraBody };
    if (this.opts.maxTokens !== undefined) body.max_tokens = this.opts.maxTokens;
    const headers: Record<string, string> = {};
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    const json = await this.limit(() => postJson(this.url, body, { ...this.opts, headers, signal }));
    const parsed = ChatResponse.safeParse(json);
    if (!parsed.success) {
      throw new Error(
        `judge at ${this.url} returned a body that is not a chat completion (expected choices[0].message.content): ${JSON.stringify(json).slice(0, 300)}`,
      );
    }
    const inTok = parsed.data.usage?.prompt_tokens ?? 0;
    const outTok = parsed.data.usage?.completion_tokens ?? 0;
    spend.calls++;
    spend.inputTokens += inTok;
    spend.outputTokens += outTok;
    this.totals.calls++;
    this.totals.inputTokens += inTok;
    this.totals.outputTokens += outTok;
    if (this.totals.usd !== undefined) this.totals.usd += this.usd({ calls: 1, inputTokens: inTok, outputTokens: outTok })!;
    return parsed.data.choices[0].message.content;
  }

  private usd(s: Spend): number | undefined {
    const p = this.opts.prices;
    return p ? (s.inputTokens * p.inputPer1M + s.outputTokens * p.outputPer1M) / 1e6 : undefined;
  }

  private costOf(r: JudgeRecord): GoldCost {
    const c: GoldCost = { calls: r.calls, inputTokens: r.inputTokens, outputTokens: r.outputTokens };
    if (r.usd !== undefined) c.usd = r.usd;
    return c;
  }

  private zeroCost(): GoldCost {
    return this.opts.prices ? { calls: 0, inputTokens: 0, outputTokens: 0, usd: 0 } : { calls: 0, inputTokens: 0, outputTokens: 0 };
  }

  async close(): Promise<void> {
    if (this.ownsCache) this.cache.close();
  }
}
