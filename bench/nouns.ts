/**
 * Unique-nouns reward throughput: responses per second on one core (Node runs the tagger on
 * its main thread). Responses are consecutive 50-token windows of Brown dev text under the
 * shipped tokenizer (models/brown-bpe-4k), decoded: the length the task samples.
 * Usage: npm run bench:nouns [-- --n 4000]
 */
import { parseArgs } from 'node:util';
import { uniqueNounsReward } from '../src/tasks/unique-nouns.js';
import { brownTokenWindows } from './brown-windows.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '4000' } } });
const n = Number(values.n);
const TOKENS = 50;

const windows = await brownTokenWindows(n, TOKENS);

// Warm-up: model load and JIT.
for (const w of windows.slice(0, 200)) uniqueNounsReward(w);

const t0 = performance.now();
let total = 0;
for (const w of windows) total += uniqueNounsReward(w);
const s = (performance.now() - t0) / 1000;
console.log(
  `unique-nouns reward: ${n} responses of ${TOKENS} tokens in ${s.toFixed(2)} s = ${Math.round(n / s)} responses/s ` +
    `(one core; mean reward ${(total / n).toFixed(2)})`,
);
