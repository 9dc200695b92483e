/**
 * Unique-nouns reward throughput: responses per second on one core (Node runs the tagger on
 * its main thread). Responses are 38-word windows of Brown dev text, about 50 GPT-2-style
 * tokens each (1.3 tokens per word), the length the task samples.
 * Usage: npm run bench:nouns [-- --n 4000]
 */
import { parseArgs } from 'node:util';
import { brownDocuments } from '../src/data/brown.js';
import { uniqueNounsReward } from '../src/tasks/unique-nouns.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '4000' } } });
const n = Number(values.n);
const WORDS = 38;

const words = (await brownDocuments('dev')).flatMap((d) => d.text.split(/\s+/));
const windows: string[] = [];
for (let i = 0; windows.length < n; i = (i + WORDS) % (words.length - WORDS)) windows.push(words.slice(i, i + WORDS).join(' '));

// Warm-up: model load and JIT.
for (const w of windows.slice(0, 200)) uniqueNounsReward(w);

const t0 = performance.now();
let total = 0;
for (const w of windows) total += uniqueNounsReward(w);
const s = (performance.now() - t0) / 1000;
console.log(
  `unique-nouns reward: ${n} responses of ${WORDS} words in ${s.toFixed(2)} s = ${Math.round(n / s)} responses/s ` +
    `(one core; mean reward ${(total / n).toFixed(2)})`,
);
