import { randint } from './create.js';
import { autocast, autocastState, enableGrad, isGradEnabled, manualSeed, noGrad } from './modes.js';
import { N } from './native.js';
import { scope } from './scope.js';
import type { Tensor } from './tensor.js';

// Gradient checkpointing (Chen et al. 2016, torch.utils.checkpoint) without a native autograd
// function: libtorch 1.13's C++ checkpoint needs a custom autograd::Function, which the addon does
// not bind. Instead a segment runs under no-grad and hands on a fresh leaf that requires grad; the
// backward pass of the loss stops at that leaf. Tensor.backward() then replays the segments in
// reverse: each one is recomputed with grad from its saved input (in the autocast state and, when
// it draws random numbers, from the seed its first run used) and backpropagated from the gradient
// its leaf received, which accumulates the parameters' gradients and its input's.

interface Segment {
  fn: (x: Tensor) => Tensor;
  /** a view of the segment's input that links to the input's graph (kept) */
  input: Tensor;
  /** the leaf handed on (kept); its .grad is what backward delivers */
  output: Tensor;
  autocast: ReturnType<typeof autocastState>;
  /** seed of the generator for both runs, when fn draws random numbers (dropout) */
  seed: number | null;
}

const tape: Segment[] = [];

export interface CheckpointOptions {
  /** fn draws random numbers (dropout): both runs are seeded alike, from the global generator */
  random: boolean;
}

/**
 * fn(x), keeping only x for the backward pass instead of fn's activations; the backward pass
 * recomputes fn once. Applies only under grad mode (elsewhere this is fn(x)). The segments of a
 * forward pass are consumed by the next backward() that is not asked to retain its graph: one that
 * reaches them backpropagates through them, and segments it did not reach are dropped (their
 * forward pass can no longer be backpropagated). With `random`, fn's random draws repeat exactly in
 * the recomputation, but the generator's later stream differs from a run without checkpointing.
 */
export function checkpoint(fn: (x: Tensor) => Tensor, x: Tensor, opts: CheckpointOptions): Tensor {
  if (!isGradEnabled()) return fn(x);
  const seed = opts.random ? scope(() => randint(0, 2 ** 31 - 1, [1]).item()) : null;
  if (seed !== null) manualSeed(seed);
  const output = scope(() => noGrad(() => fn(x).detach())).keep();
  output.requiresGrad = true;
  tape.push({ fn, input: x.view(x.shape).keep(), output, autocast: autocastState(), seed });
  return output;
}

/** Segments recorded and not yet consumed by a backward pass (for tests). */
export function pendingCheckpoints(): number {
  return tape.length;
}

/** @internal Tensor.backward() calls this after the native backward pass (see above). */
export function backwardCheckpoints(retainGraph: boolean): void {
  if (retainGraph) return; // a later backward() will accumulate into the same leaves
  while (tape.length > 0) {
    const s = tape.pop()!;
    try {
      scope(() => {
        const g = s.output.grad;
        if (!g) return;
        if (s.seed !== null) manualSeed(s.seed);
        const replay = () => enableGrad(() => s.fn(s.input));
        const y = autocast(replay, s.autocast);
        if (y.requiresGrad) N.backward(y.h, g.h, null);
      });
    } finally {
      s.input.dispose();
      s.output.dispose();
    }
  }
}
