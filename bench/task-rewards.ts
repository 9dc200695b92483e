/**
 * Gold-reward time per training-step batch (32 responses by default) for each built-in task,
 * to compare with a policy step (~0.3-1 s). Responses: 50-token Brown dev-text windows for the
 * text tasks, gold chains with one digit changed for math, and 50-token
 * policy-like samples for contrastive-distillation when its models exist.
 * Usage: npm run bench:rewards [-- --batch 32 --repeats 20 --tasks word-collector,math]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mathSftExamples } from '../src/tasks/math.js';
import { builtinTasks, loadTask } from '../src/tasks/registry.js';
import type { RewardInput } from '../src/tasks/task.js';
import { readRegistry } from '../src/util/model-registry.js';
import { brownTokenWindows } from './brown-windows.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' },
    repeats: { type: 'string', default: '20' },
    tasks: { type: 'string', default: builtinTasks.map((t) => t.name).join(',') },
  },
});
const batch = Number(values.batch);
const repeats = Number(values.repeats);

const windows = await brownTokenWindows(batch * repeats, 50);
const textPairs = (prompts: string[]): RewardInput[] => windows.map((response, i) => ({ prompt: prompts[i % prompts.length], response }));

for (const name of values.tasks.split(',')) {
  if (name === 'contrastive-distillation' && !readRegistry().some((m) => m.role === 'cd-large' && existsSync(join(m.path, 'config.json')))) {
    console.log(`${name.padEnd(24)} skipped: the shipped cd-large/cd-small models are not in models/ yet`);
    continue;
  }
  const task = await loadTask(name);
  const prompts = await task.prompts('dev');
  const pairs =
    name === 'math'
      ? mathSftExamples(batch * repeats, 99).map((e, i) => ({
          prompt: e.prompt,
          response: i % 2 ? e.response.replace(/\d(?!.*\d)/, (d) => String((Number(d) + 1) % 10)) : e.response,
        }))
      : textPairs(prompts);
  await task.rewards(pairs.slice(0, batch)); // warm-up: model/tagger load, JIT
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await task.rewards(pairs.slice(r * batch, (r + 1) * batch));
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(
    `${name.padEnd(24)} batch ${batch}: mean ${mean.toFixed(2)} ms, median ${times[times.length >> 1].toFixed(2)} ms, max ${times[times.length - 1].toFixed(2)} ms`,
  );
}
