// Child process of model-grad-checkpoint.test.ts: the peak resident memory one training step
// (forward and backward of summed response log-probs) adds on a deep, narrow Llama, with or
// without gradient checkpointing. A process of its own because the kernel's peak only grows.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createModel, responseLogprobs } from '../src/model/index.js';
import { scope, setNumThreads, trimHeap } from '../src/tensor/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

setNumThreads(1);
const model = createModel(
  { model_type: 'llama', vocab_size: 256, hidden_size: 64, intermediate_size: 256, num_hidden_layers: 24, num_attention_heads: 4, max_position_embeddings: 512, bos_token_id: 0, eos_token_id: 0 },
  { seed: 0 },
);
model.train(true);
model.gradCheckpointing = process.argv[2] === 'checkpointed';
const B = 4;
const L = 256;
const promptIds = Array.from({ length: B }, (_, b) => [b + 1]);
const responseIds = Array.from({ length: B }, (_, b) => Array.from({ length: L - 1 }, (_, i) => (i * 31 + b) % 256));
gc();
trimHeap();
const before = process.memoryUsage().rss;
const loss = scope(() => {
  const l = responseLogprobs(model, { promptIds, responseIds }).sum.mean();
  l.backward();
  return l.item();
});
// ru_maxrss is in KiB on Linux
console.log(JSON.stringify({ addedBytes: process.resourceUsage().maxRSS * 1024 - before, loss }));
model.dispose();
