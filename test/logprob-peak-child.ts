// Child process of model-logprobs-chunked.test.ts: the peak resident memory one forward-only
// log-prob call adds, on a tiny model with a 150k vocabulary. A process of its own because the
// kernel's peak (ru_maxrss) only ever grows. Prints one JSON line.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createModel, responseLogprobs } from '../src/model/index.js';
import { noGrad, scope, setNumThreads, trimHeap } from '../src/tensor/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const chunk = process.argv[2] === 'unchunked' ? Infinity : undefined;
const V = 150_000;
const B = 2;
const R = 500;
setNumThreads(1);
const model = createModel({ model_type: 'gpt2', vocab_size: V, n_positions: 1024, n_embd: 32, n_layer: 2, n_head: 2, bos_token_id: 0, eos_token_id: 0 }, { seed: 0 });
model.train(false);
const promptIds = [[0, 5, 6, 7], [0, 8]];
const responseIds = [Array.from({ length: R }, (_, i) => (i * 7919) % V), Array.from({ length: R - 3 }, (_, i) => (i * 104729) % V)];
gc();
trimHeap();
const before = process.memoryUsage().rss;
const sums = noGrad(() => scope(() => responseLogprobs(model, { promptIds, responseIds }, { logitChunkElements: chunk }).sum.toArray()));
// ru_maxrss is in KiB on Linux
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ addedBytes: peak - before, sums, logitBytes: B * R * V * 4 }));
model.dispose();
