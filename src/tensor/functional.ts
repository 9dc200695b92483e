import { autocast } from './modes.js';
import { ops } from './native.js';
import { w, type Tensor } from './tensor.js';

/** Rows of weight [vocab, dim] picked by integer ids (int64 or int32), shape [...ids, dim]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  return w(ops.embedding(weight.h, ids.h));
}

/** x @ weight.T + bias, weight in torch layout [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return w(ops.linear(x.h, weight.h, bias ? bias.h : null));
}

/**
 * linear in float32 whatever the autocast state, for scalar heads (reward, value) whose outputs
 * become decisions: under bf16 autocast a score keeps 8 significant bits, so scores near 7 move
 * in steps of 0.03 and close pairs tie exactly. Differentiable as linear is.
 */
export function linearFloat32(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return autocast(() => linear(x.to('float32'), weight, bias), { enabled: false });
}

export function layerNorm(x: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return w(ops.layer_norm(x.h, normalizedShape, weight ? weight.h : null, bias ? bias.h : null, eps));
}

/**
 * RMSNorm (Zhang and Sennrich 2019) as Llama computes it: the mean square in float32 whatever x's
 * dtype, the normalised x cast back to it, then scaled by weight.
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const x32 = x.dtype === 'float32' ? x : x.to('float32');
  const normed = x32.mul(x32.square().mean([-1], true).add(eps).rsqrt());
  return weight.mul(normed.dtype === x.dtype ? normed : normed.to(x.dtype));
}

const REDUCTION = { none: 0, mean: 1, sum: 2 } as const;

/** Cross-entropy of logits [N, C] (or [N, C, ...]) against class ids [N] (int64). */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  opts?: { ignoreIndex?: number; reduction?: 'mean' | 'sum' | 'none'; labelSmoothing?: number },
): Tensor {
  const reduction = REDUCTION[opts?.reduction ?? 'mean'];
  if (reduction === undefined) throw new TypeError(`crossEntropy: unknown reduction '${opts?.reduction}'`);
  return w(ops.cross_entropy_loss(logits.h, target.h, null, reduction, opts?.ignoreIndex ?? -100, opts?.labelSmoothing ?? 0));
}

export function dropout(x: Tensor, p: number, train: boolean): Tensor {
  return w(ops.dropout(x.h, p, train));
}
