/**
 * Gold from a reward model served over HTTP (schema in docs/gold-sources.md):
 *   request  POST {url}  {"inputs": [{"prompt": str, "response": str}, ...]}
 *   response 200         {"scores": [number, ...]}   one finite number per input, same order
 */
import { postJson, type RetryPolicy } from './http-client.js';
import { createLimiter } from './limiter.js';
import { checkScores, preferenceFromScores, type GoldLabel, type GoldPair, type GoldSource } from './source.js';

export interface RemoteRewardOptions extends RetryPolicy {
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Most inputs (responses, not pairs) per request. */
  batchSize: number;
  /** Requests in flight at once. */
  concurrency: number;
  timeoutMs: number;
  tieEpsilon: number;
  paid: boolean;
}

export class RemoteRewardModel implements GoldSource {
  readonly name: string;
  readonly paid: boolean;
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;

  constructor(private readonly opts: RemoteRewardOptions) {
    this.name = `remote-reward:${opts.url}`;
    this.paid = opts.paid;
    this.limit = createLimiter(opts.concurrency);
  }

  /** One score per (prompt, response), batched into requests of at most `batchSize`. */
  async score(inputs: { prompt: string; response: string }[], signal?: AbortSignal): Promise<number[]> {
    const chunks: { prompt: string; response: string }[][] = [];
    for (let i = 0; i < inputs.length; i += this.opts.batchSize) chunks.push(inputs.slice(i, i + this.opts.batchSize));
    const parts = await Promise.all(chunks.map((chunk) => this.limit(() => this.scoreChunk(chunk, signal))));
    return parts.flat();
  }

  private async scoreChunk(inputs: { prompt: string; response: string }[], signal?: AbortSignal): Promise<number[]> {
    const headers: Record<string, string> = {};
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    const body = await postJson(this.opts.url, { inputs }, { ...this.opts, headers, signal });
    const what = `reward model at ${this.opts.url}`;
    if (body === null || typeof body !== 'object' || !('scores' in body)) {
      throw new Error(`${what} answered without a "scores" field: ${JSON.stringify(body).slice(0, 200)}`);
    }
    const scores = (body as { scores: unknown }).scores;
    checkScores(scores, inputs.length, what);
    return scores;
  }

  async label(pairs: GoldPair[], opts?: { signal?: AbortSignal }): Promise<GoldLabel[]> {
    if (pairs.length === 0) return [];
    const scores = await this.score(
      pairs.flatMap((p) => [
        { prompt: p.prompt, response: p.a },
        { prompt: p.prompt, response: p.b },
      ]),
      opts?.signal,
    );
    // Batches are a function of the input count alone, so a concurrent label() cannot skew this.
    const calls = Math.ceil((2 * pairs.length) / this.opts.batchSize) / pairs.length;
    return pairs.map((_, i) => {
      const sa = scores[2 * i];
      const sb = scores[2 * i + 1];
      return {
        preference: preferenceFromScores(sa, sb, this.opts.tieEpsilon),
        scores: [sa, sb] as [number, number],
        cost: { calls },
        cached: false,
      };
    });
  }
}
