import { cat, tensor, type DType, type Tensor } from '../tensor/index.js';

// Rotary position embeddings (Su et al. 2021) in the layout of transformers' Llama and GPT-NeoX:
// feature i of the rotated part pairs with feature i + dims/2 (rotate-half, not interleaved pairs).

export interface Rotary {
  /** [B or 1, 1, T, dims], broadcast over heads */
  cos: Tensor;
  sin: Tensor;
}

/**
 * cos and sin of position * theta^(-2i/dims), i < dims/2, each repeated for both halves. Computed
 * in float32 (as transformers does), then cast to `dtype`, the dtype the model's activations have.
 */
export function rotaryTables(positions: Tensor, dims: number, theta: number, dtype: DType): Rotary {
  const invFreq = tensor(Float32Array.from({ length: dims / 2 }, (_, i) => 1 / theta ** ((2 * i) / dims)), { device: positions.device });
  const freqs = positions.to('float32').unsqueeze(2).mul(invFreq);
  const angles = cat([freqs, freqs], 2).unsqueeze(1);
  return { cos: angles.cos().to(dtype), sin: angles.sin().to(dtype) };
}

/** x [B, H, T, headDim] with its first `dims` features rotated; the rest (GPT-NeoX's partial rotary) pass through. */
export function applyRotary(x: Tensor, r: Rotary): Tensor {
  const dims = r.cos.shape[3];
  const headDim = x.shape[3];
  const rot = dims === headDim ? x : x.narrow(3, 0, dims);
  const half = dims / 2;
  const rotated = cat([rot.narrow(3, half, half).neg(), rot.narrow(3, 0, half)], 3);
  const out = rot.mul(r.cos).add(rotated.mul(r.sin));
  return dims === headDim ? out : cat([out, x.narrow(3, dims, headDim - dims)], 3);
}
