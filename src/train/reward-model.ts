import { linearFloat32, noGrad, tensor, type Tensor } from '../tensor/index.js';
import type { CausalLM, PairBatch } from '../model/index.js';
import { Rng } from '../util/rng.js';
import { pack } from '../model/pack.js';

/**
 * How the per-token scores of the response become one reward:
 * - last: the score at the last token (as a Hugging Face sequence classifier does)
 * - mean: the mean over response tokens
 * - sum: the sum over response tokens (can represent a count of good tokens, which mean cannot)
 */
export type Pooling = 'last' | 'mean' | 'sum';

const HEAD_WEIGHT = 'score.weight';
const HEAD_BIAS = 'score.bias';

/**
 * The backbone's last hidden states [B, L, D] of prompt + response, and how per-token scores
 * [B, L, K] become one score per response and head [B, K] under a pooling. With `frozen` the
 * backbone keeps no graph (a probe's training costs a forward pass). Heads and pooling run in
 * float32 under autocast too: the scores' margins pick gold queries and silver labels.
 */
export function responseFeatures(backbone: CausalLM, batch: PairBatch, frozen: boolean): { hidden: Tensor; pool: (perToken: Tensor, pooling: Pooling) => Tensor } {
  const k = pack(batch.promptIds, batch.responseIds, backbone.contextLength);
  const { B, L } = k;
  const device = backbone.device;
  const features = () =>
    backbone.hiddenStates(tensor(k.ids, { shape: [B, L], dtype: 'int64', device }), {
      attentionMask: tensor(k.attention, { shape: [B, L], dtype: 'int64', device }),
    });
  const hidden = frozen ? noGrad(features) : features();
  const pool = (perToken: Tensor, pooling: Pooling) => {
    const K = perToken.shape[2];
    if (pooling === 'last') return perToken.gather(1, tensor(k.last, { shape: [B, 1, 1], dtype: 'int64', device }).expand([B, 1, K])).squeeze(1);
    const summed = perToken.mul(tensor(k.responsePositions, { shape: [B, L, 1], dtype: 'float32', device })).sum([1]);
    if (pooling === 'sum') return summed;
    const counts = Float32Array.from(k.lengths, (n) => Math.max(1, n));
    return summed.div(tensor(counts, { shape: [B, 1], dtype: 'float32', device }));
  };
  return { hidden, pool };
}

/**
 * Bradley-Terry reward model: a decoder backbone and a scalar head on its last hidden state,
 * r(x, y) pooled over the response tokens of prompt + response.
 */
export class RewardModel {
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** a linear probe: only the head trains, on the backbone's features as they are */
  readonly frozenBackbone: boolean;

  constructor(
    readonly backbone: CausalLM,
    readonly pooling: Pooling,
    opts: { seed?: number; frozenBackbone?: boolean } = {},
  ) {
    this.frozenBackbone = opts.frozenBackbone ?? false;
    const D = backbone.hiddenSize;
    // std 0.02 as Hugging Face initialises a sequence classifier's score layer
    this.weight = tensor(new Rng(opts.seed ?? 0).normals(D, 0.02), { shape: [1, D], dtype: 'float32', device: backbone.device, requiresGrad: true });
    this.bias = tensor([0], { shape: [1], dtype: 'float32', device: backbone.device, requiresGrad: true });
  }

  /** Rewards [B] of each response given its prompt (differentiable). Responses too long for the context are cut. */
  score(batch: PairBatch): Tensor {
    const { hidden, pool } = responseFeatures(this.backbone, batch, this.frozenBackbone);
    return pool(linearFloat32(hidden, this.weight, this.bias), this.pooling).squeeze(1);
  }

  /** What trains: the head, and the backbone unless it is frozen. */
  parameters(): Tensor[] {
    return [...(this.frozenBackbone ? [] : this.backbone.parameters()), this.weight, this.bias];
  }

  /** The head's `score.weight` and `score.bias` (HF's name for a sequence classifier's head). */
  headParameters(): [string, Tensor][] {
    return [
      [HEAD_WEIGHT, this.weight],
      [HEAD_BIAS, this.bias],
    ];
  }

  /** Backbone names as in Hugging Face, plus the head's. */
  namedParameters(): [string, Tensor][] {
    return [...this.backbone.namedParameters(), ...this.headParameters()];
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
