import { dropout, linear, noGrad, scope, tensor, type Device, type Tensor } from '../tensor/index.js';
import { Rng } from '../util/rng.js';
import type { CausalLM } from './decoder.js';

// LoRA (Hu et al. 2021) as PEFT implements it: a frozen projection W plus a trainable low-rank
// update, y = W x + b + s * B A dropout(x), with A [r, in] initialised kaiming-uniform (a = sqrt(5))
// and B [out, r] zeros (so an adapter starts as the identity), s = alpha / r (alpha / sqrt(r) with
// rsLoRA). The file layout (PEFT's names and adapter_config.json) lives in peft.ts.

/** A projection layer as a model runs it (DecoderModel.proj): its module path and weight layout. */
export interface Projection {
  module: string;
  inFeatures: number;
  outFeatures: number;
  /** the weight is stored [in, out] (GPT-2's Conv1D; PEFT's fan_in_fan_out), else [out, in] */
  fanInFanOut: boolean;
}

export interface LoraSpec {
  r: number;
  alpha: number;
  dropout: number;
  /**
   * Which projections get adapters, as PEFT matches `target_modules`: a list of names, each
   * matching a module path equal to it or ending in `.name` (`q_proj`, `attn.c_proj`), or one
   * string: a regular expression the whole module path must match ('all-linear': every projection).
   */
  targets: string[] | string;
  /** rank-stabilised LoRA: s = alpha / sqrt(r) */
  rslora: boolean;
}

/** Whether PEFT's `target_modules` selects this module path. */
export function matchesTarget(module: string, targets: string[] | string): boolean {
  // PEFT's 'all-linear' leaves out the output layer, which is not a projection here anyway
  if (targets === 'all-linear') return true;
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/**
 * The projections `targets` selects; every listed name must select at least one, so that a typo
 * (or another architecture's names, q_proj on GPT-2) is an error naming it, not a silent no-op.
 */
export function selectTargets(projections: Projection[], targets: string[] | string, what: string): Projection[] {
  const chosen = projections.filter((p) => matchesTarget(p.module, targets));
  const names = [...new Set(projections.map((p) => p.module.split('.').pop()!))].join(', ');
  const unmatched = typeof targets === 'string' ? (chosen.length ? [] : [targets]) : targets.filter((t) => !projections.some((p) => matchesTarget(p.module, [t])));
  if (unmatched.length > 0) {
    const several = unmatched.length > 1;
    throw new Error(`${what}: target module${several ? 's' : ''} ${unmatched.map((t) => `'${t}'`).join(', ')} match${several ? '' : 'es'} no projection of this model (its projections: ${names})`);
  }
  return chosen;
}

interface LoraPair {
  a: Tensor;
  b: Tensor;
  proj: Projection;
}

/** The adapters of one model: an (A, B) pair per targeted projection, owned here (kept, float32). */
export class LoraAdapter {
  readonly scaling: number;
  private disposed = false;

  private constructor(
    readonly spec: LoraSpec,
    private readonly pairs: Map<string, LoraPair>,
  ) {
    this.scaling = spec.rslora ? spec.alpha / Math.sqrt(spec.r) : spec.alpha / spec.r;
  }

  /** Fresh adapters as PEFT initialises them, seeded without touching libtorch's generator. */
  static init(spec: LoraSpec, targets: Projection[], seed: number, device: Device): LoraAdapter {
    const rng = new Rng(seed);
    const pairs = new Map<string, LoraPair>();
    noGrad(() => {
      for (const proj of targets) {
        // kaiming_uniform_(a = sqrt(5)) on [r, in]: gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in) = 1 / sqrt(in)
        const bound = 1 / Math.sqrt(proj.inFeatures);
        const values = Float32Array.from({ length: spec.r * proj.inFeatures }, () => (2 * rng.next() - 1) * bound);
        const a = tensor(values, { shape: [spec.r, proj.inFeatures], dtype: 'float32', device });
        const b = tensor(new Float32Array(proj.outFeatures * spec.r), { shape: [proj.outFeatures, spec.r], dtype: 'float32', device });
        pairs.set(proj.module, { a: trainable(a), b: trainable(b), proj });
      }
    });
    return new LoraAdapter(spec, pairs);
  }

  /**
   * Adapters from saved tensors (`<module>.lora_A.weight` and `.lora_B.weight` for each target),
   * copied (the caller keeps `tensors`); errors name `origin` and the tensor.
   */
  static fromTensors(spec: LoraSpec, targets: Projection[], tensors: Map<string, Tensor>, origin: string, device: Device): LoraAdapter {
    const pairs = new Map<string, LoraPair>();
    const take = (name: string, shape: number[]): Tensor => {
      const t = tensors.get(name);
      if (!t) throw new Error(`${origin}: missing tensor '${name}'`);
      if (t.shape.join() !== shape.join()) throw new Error(`${origin}: tensor '${name}' has shape [${t.shape}] but r = ${spec.r} and the layer call for [${shape}]`);
      return trainable(scope(() => noGrad(() => t.to('float32').toDevice(device).clone())));
    };
    try {
      for (const proj of targets) {
        const a = take(`${proj.module}.lora_A.weight`, [spec.r, proj.inFeatures]);
        const b = take(`${proj.module}.lora_B.weight`, [proj.outFeatures, spec.r]);
        pairs.set(proj.module, { a, b, proj });
      }
    } catch (e) {
      for (const p of pairs.values()) [p.a, p.b].forEach((t) => t.dispose());
      throw e;
    }
    return new LoraAdapter(spec, pairs);
  }

  get modules(): string[] {
    return [...this.pairs.keys()];
  }

  projection(module: string): Projection | undefined {
    return this.pairs.get(module)?.proj;
  }

  /**
   * y (the frozen projection of x) plus this module's update, or y itself when it has none. The
   * adapter stays float32 whatever dtype the base is held in (as PEFT keeps it): x is cast to
   * float32 and the update back to y's dtype, so bf16-held weights keep bf16 activations.
   */
  apply(module: string, x: Tensor, y: Tensor, training: boolean): Tensor {
    const pair = this.pairs.get(module);
    if (!pair) return y;
    this.checkAlive();
    const x32 = x.dtype === pair.a.dtype ? x : x.to(pair.a.dtype);
    const input = training && this.spec.dropout > 0 ? dropout(x32, this.spec.dropout, true) : x32;
    const update = linear(linear(input, pair.a), pair.b).mul(this.scaling);
    return y.add(update.dtype === y.dtype ? update : update.to(y.dtype));
  }

  /** s * B A in the layout of the module's weight ([in, out] for fan_in_fan_out), for merging. */
  delta(module: string): Tensor {
    const pair = this.pairs.get(module);
    if (!pair) throw new Error(`internal: no adapter on '${module}'`);
    const d = pair.b.matmul(pair.a).mul(this.scaling);
    return pair.proj.fanInFanOut ? d.t() : d;
  }

  /** `<module>.lora_A.weight` / `.lora_B.weight` (PEFT's names less its `base_model.model.` prefix). */
  namedParameters(): [string, Tensor][] {
    this.checkAlive();
    return [...this.pairs].flatMap(([m, p]): [string, Tensor][] => [
      [`${m}.lora_A.weight`, p.a],
      [`${m}.lora_B.weight`, p.b],
    ]);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Detached copies with their own storage and no gradient. */
  frozenCopy(): LoraAdapter {
    this.checkAlive();
    const pairs = new Map<string, LoraPair>();
    scope(() =>
      noGrad(() => {
        for (const [m, p] of this.pairs) pairs.set(m, { a: p.a.detach().clone().keep(), b: p.b.detach().clone().keep(), proj: p.proj });
      }),
    );
    return new LoraAdapter(this.spec, pairs);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.pairs.values()) [p.a, p.b].forEach((t) => t.dispose());
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this LoRA adapter has been disposed');
  }
}

function trainable(t: Tensor): Tensor {
  t.keep();
  t.requiresGrad = true;
  return t;
}

/** Attaches fresh adapters to `model`'s projections that `spec.targets` selects; `what` prefixes errors. */
export function attachNewAdapter(model: CausalLM, spec: LoraSpec, seed: number, what: string): LoraAdapter {
  const adapter = LoraAdapter.init(spec, selectTargets(model.projections(), spec.targets, what), seed, model.device);
  try {
    model.attachAdapter(adapter);
  } catch (e) {
    adapter.dispose();
    throw e;
  }
  return adapter;
}
