import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { loadTask } from '../../tasks/registry.js';
import type { RewardInput } from '../../tasks/task.js';
import { JsonlError, readJsonl } from '../../util/jsonl.js';
import { outputPathProblem, writeFileAtomic } from '../../util/atomic-write.js';

const Line = z.strictObject({ prompt: z.string(), response: z.string() });

/** The {"prompt","response"} lines of a JSONL file ('-' = stdin); a UsageError naming the file, line and field. */
export async function readRewardInput(file: string): Promise<RewardInput[]> {
  try {
    return (await readJsonl(file, Line, '{"prompt": string, "response": string}')).map((r) => r.value);
  } catch (err) {
    if (err instanceof JsonlError) throw new UsageError(err.message);
    throw err;
  }
}

export const rewardCommand: Command = {
  name: 'reward',
  summary: "score (prompt, response) pairs with a task's gold reward",
  help: `usage: d2po reward --task NAME|PATH --input FILE.jsonl [--output FILE] [--batch-size N]
                   [--lenient] [--cd-large DIR --cd-small DIR]

Computes the gold reward of each pair. Input: one JSON object per line,
  {"prompt": "...", "response": "..."}
Blank lines are skipped; a BOM and CRLF line ends are fine; fields other than prompt and
response, and text that is not UTF-8, are errors naming the line.
Output (stdout unless --output): one line per input line, in order,
  {"reward": number}
A malformed line is reported with its line number and nothing is scored.

options:
  --task NAME|PATH   a built-in task (see \`d2po tasks\`) or a custom task module
  --input FILE       the JSONL input ("-" reads stdin)
  --output FILE      write the rewards here (whole or not at all) instead of stdout
  --batch-size N     pairs per reward call (default 32)
  --lenient          math only: the authors' lenient scoring (extra steps free)
  --cd-large DIR     contrastive-distillation only: the large model (default: shipped cd-large)
  --cd-small DIR     contrastive-distillation only: the small model (default: shipped cd-small)

Built-in tasks: d2po tasks. Reward definitions: docs/tasks.md.`,
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        strict: true,
        options: {
          task: { type: 'string' },
          input: { type: 'string' },
          output: { type: 'string' },
          'batch-size': { type: 'string', default: '32' },
          lenient: { type: 'boolean', default: false },
          'cd-large': { type: 'string' },
          'cd-small': { type: 'string' },
        },
      }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (!values.task) throw new UsageError('--task is required (a built-in name, see `d2po tasks`, or a module path)');
    if (!values.input) throw new UsageError('--input is required (a JSONL file of {"prompt", "response"})');
    const batchSize = Number(values['batch-size']);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size must be a positive integer, got '${values['batch-size']}'`);
    if (values.lenient && values.task !== 'math') throw new UsageError('--lenient applies to the math task only');
    const cd = { largeDir: values['cd-large'], smallDir: values['cd-small'] };
    if ((cd.largeDir || cd.smallDir) && values.task !== 'contrastive-distillation') {
      throw new UsageError('--cd-large and --cd-small apply to the contrastive-distillation task only');
    }

    // The task is user input too: an unknown name or a bad module is a usage error.
    const task = await loadTask(values.task, { mathLenient: values.lenient, contrastiveDistillation: cd }).catch((err: Error) => {
      throw new UsageError(err.message);
    });
    const problem = values.output ? outputPathProblem(values.output) : null;
    if (problem) throw new UsageError(`--output ${values.output}: ${problem}`);
    const pairs = await readRewardInput(values.input);

    const lines: string[] = [];
    const t0 = performance.now();
    let sum = 0;
    for (let i = 0; i < pairs.length; i += batchSize) {
      const batch = pairs.slice(i, i + batchSize);
      const rewards = await task.rewards(batch);
      for (const [j, r] of rewards.entries()) {
        if (typeof r !== 'number' || !Number.isFinite(r)) throw new Error(`task '${task.name}' gave reward ${r} for line ${i + j + 1}`);
        sum += r;
        lines.push(`${JSON.stringify({ reward: r })}\n`);
      }
    }
    const s = (performance.now() - t0) / 1000;
    if (values.output) await writeFileAtomic(values.output, lines.join(''));
    else process.stdout.write(lines.join(''));
    console.error(
      `${task.name}: ${pairs.length} pairs, mean reward ${pairs.length ? (sum / pairs.length).toFixed(4) : 'n/a'}, ${s.toFixed(2)} s` +
        (values.output ? ` -> ${values.output}` : ''),
    );
    return 0;
  },
};
