// The tensor API over libtorch.
export { Tensor, type TensorOrNumber } from './tensor.js';
export type { DType, Device } from './dtype.js';
export {
  tensor, zeros, ones, empty, full, zerosLike, onesLike, fullLike, arange, randn, rand, randint, randnLike,
  cat, stack, where, multinomial, einsum, type CreateOpts,
} from './create.js';
export { embedding, linear, linearFloat32, layerNorm, rmsNorm, crossEntropy, dropout } from './functional.js';
export { scope, scopeAsync } from './scope.js';
export {
  noGrad, enableGrad, inferenceMode, isGradEnabled, autocast, weightsChanged, liveTensorCount, manualSeed, setNumThreads, getNumThreads,
  cudaAvailable, backendInfo, type BackendInfo,
} from './modes.js';
export { trimHeap, heapStats, type HeapStats } from './heap.js';
export { AdamW, clipGradNorm, type AdamWOpts, type OptimizerState } from './optim.js';
export { checkpoint, pendingCheckpoints, type CheckpointOptions } from './checkpoint.js';
