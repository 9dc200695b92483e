import { linearFloat32, tensor, type Tensor } from '../tensor/index.js';
import type { CausalLM, PairBatch } from '../model/index.js';
import { Rng } from '../util/rng.js';
import { responseFeatures, type Pooling } from './reward-model.js';

/**
 * K reward heads on one backbone, each with a fixed random prior head beside it (randomized
 * prior functions, the "epinet"-style ensemble): head k scores pool(w_k . h + b_k) +
 * priorScale * pool(p_k . h), where the prior p_k never trains and reads the features without
 * gradient. Where the gold says little, the heads keep their priors' disagreement: that spread is
 * the model's epistemic uncertainty. One backbone pass serves all K.
 */
export class EpinetRewardModel {
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** [K, D], fixed */
  readonly prior: Tensor;

  constructor(
    readonly backbone: CausalLM,
    readonly pooling: Pooling,
    readonly heads: number,
    readonly priorScale: number,
    readonly frozenBackbone: boolean,
    seed: number,
  ) {
    const D = backbone.hiddenSize;
    const rng = new Rng(seed);
    const device = backbone.device;
    // trainable heads as a sequence classifier's (std 0.02); priors at unit scale per feature
    this.weight = tensor(rng.normals(heads * D, 0.02), { shape: [heads, D], dtype: 'float32', device, requiresGrad: true });
    this.bias = tensor(new Float32Array(heads), { shape: [heads], dtype: 'float32', device, requiresGrad: true });
    this.prior = tensor(rng.normals(heads * D, 1 / Math.sqrt(D)), { shape: [heads, D], dtype: 'float32', device });
  }

  /** Rewards [K, B]: each head's score of each response (differentiable in the trained heads and backbone). */
  scores(batch: PairBatch): Tensor {
    const { hidden, pool } = responseFeatures(this.backbone, batch, this.frozenBackbone);
    const trained = pool(linearFloat32(hidden, this.weight, this.bias), this.pooling);
    const prior = pool(linearFloat32(hidden.detach(), this.prior), this.pooling);
    return trained.add(prior.mul(this.priorScale)).transpose(0, 1);
  }

  /** What trains: the heads, and the backbone unless it is frozen. */
  parameters(): Tensor[] {
    return [...(this.frozenBackbone ? [] : this.backbone.parameters()), this.weight, this.bias];
  }

  /** Backbone names as in Hugging Face, then the heads (the prior too: a resume must find the same one). */
  namedParameters(): [string, Tensor][] {
    return [...this.backbone.namedParameters(), ['epinet.weight', this.weight], ['epinet.bias', this.bias], ['epinet.prior', this.prior]];
  }

  dispose(): void {
    this.backbone.dispose();
    for (const t of [this.weight, this.bias, this.prior]) t.dispose();
  }
}
