import { linear, noGrad, scope, tensor, type Tensor } from '../tensor/index.js';
import type { CausalLM, PairBatch } from '../model/index.js';
import { Rng } from '../util/rng.js';

/**
 * How the per-token scores of the response become one reward:
 * - last: the score at the last token (as a Hugging Face sequence classifier does)
 * - mean: the mean over response tokens
 * - sum: the sum over response tokens (can represent a count of good tokens, which mean cannot)
 */
export type Pooling = 'last' | 'mean' | 'sum';

const HEAD_WEIGHT = 'score.weight';
const HEAD_BIAS = 'score.bias';

/** Normal(0, std) values from a seeded Rng (Box-Muller), so a head's init does not touch libtorch's generator. */
function normal(n: number, std: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rng.next();
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  }
  return out;
}

/**
 * Bradley-Terry reward model: a decoder backbone and a scalar head on its last hidden state,
 * r(x, y) pooled over the response tokens of prompt + response.
 */
export class RewardModel {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly backbone: CausalLM,
    readonly pooling: Pooling,
    opts: { seed?: number } = {},
  ) {
    const D = backbone.hiddenSize;
    // std 0.02 as Hugging Face initialises a sequence classifier's score layer
    this.weight = tensor(normal(D, 0.02, new Rng(opts.seed ?? 0)), { shape: [1, D], dtype: 'float32', device: backbone.device, requiresGrad: true });
    this.bias = tensor([0], { shape: [1], dtype: 'float32', device: backbone.device, requiresGrad: true });
  }

  /** Rewards [B] of each response given its prompt (differentiable). Responses too long for the context are cut. */
  score(batch: PairBatch): Tensor {
    const B = batch.promptIds.length;
    const ctx = this.backbone.contextLength;
    const seqs: number[][] = [];
    const starts: number[] = [];
    for (let b = 0; b < B; b++) {
      const p = batch.promptIds[b];
      if (p.length === 0) throw new Error(`RewardModel.score: prompt ${b} is empty; start it with a token (e.g. BOS)`);
      const r = batch.responseIds[b].slice(0, Math.max(0, ctx - p.length));
      seqs.push([...p.slice(0, ctx), ...r]);
      starts.push(Math.min(p.length, ctx));
    }
    const L = Math.max(...seqs.map((s) => s.length));
    const ids = new BigInt64Array(B * L);
    const attn = new BigInt64Array(B * L);
    const resp = new Float32Array(B * L);
    const lastIdx = new BigInt64Array(B);
    const counts = new Float32Array(B);
    for (let b = 0; b < B; b++) {
      const s = seqs[b];
      for (let t = 0; t < s.length; t++) {
        ids[b * L + t] = BigInt(s[t]);
        attn[b * L + t] = 1n;
        if (t >= starts[b]) resp[b * L + t] = 1;
      }
      lastIdx[b] = BigInt(s.length - 1);
      counts[b] = Math.max(1, s.length - starts[b]);
    }
    const device = this.backbone.device;
    const { hidden } = this.backbone.forward(tensor(ids, { shape: [B, L], dtype: 'int64', device }), {
      attentionMask: tensor(attn, { shape: [B, L], dtype: 'int64', device }),
    });
    const perToken = linear(hidden.to('float32'), this.weight, this.bias).squeeze(2); // [B, L]
    if (this.pooling === 'last') return perToken.gather(1, tensor(lastIdx, { shape: [B, 1], dtype: 'int64', device })).squeeze(1);
    const summed = perToken.mul(tensor(resp, { shape: [B, L], dtype: 'float32', device })).sum([1]);
    return this.pooling === 'sum' ? summed : summed.div(tensor(counts, { shape: [B], dtype: 'float32', device }));
  }

  parameters(): Tensor[] {
    return [...this.backbone.parameters(), this.weight, this.bias];
  }

  /** Backbone names as in Hugging Face, plus the head's `score.weight` and `score.bias`. */
  namedParameters(): [string, Tensor][] {
    return [...this.backbone.namedParameters(), [HEAD_WEIGHT, this.weight], [HEAD_BIAS, this.bias]];
  }

  /** Copies weights in from a state saved with namedParameters (every name must be present). */
  loadState(state: Map<string, Tensor>): void {
    // the scope frees the handles copy_ returns
    scope(() =>
      noGrad(() => {
        for (const [name, p] of this.namedParameters()) {
          const src = state.get(name);
          if (!src) throw new Error(`reward model state lacks ${name}`);
          if (src.shape.join() !== p.shape.join()) throw new Error(`reward model state: ${name} has shape [${src.shape}], expected [${p.shape}]`);
          p.copy_(src);
        }
      }),
    );
  }

  train(on = true): void {
    this.backbone.train(on);
  }

  dispose(): void {
    this.backbone.dispose();
    this.weight.dispose();
    this.bias.dispose();
  }
}
