import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { loadTask } from '../../tasks/registry.js';
import type { RewardInput } from '../../tasks/task.js';

const Line = z.object({ prompt: z.string(), response: z.string() });

/** Parse JSONL of {"prompt","response"}; throws UsageError naming file and line. A final empty line is allowed. */
export function parseRewardInput(text: string, file: string): RewardInput[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  return lines.map((line, i) => {
    const where = `${file}:${i + 1}`;
    if (line.trim() === '') throw new UsageError(`${where}: empty line (expected {"prompt": ..., "response": ...})`);
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new UsageError(`${where}: not valid JSON (${(err as Error).message})`);
    }
    const r = Line.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      const field = issue.path.join('.') || '(line)';
      throw new UsageError(`${where}: field '${field}': ${issue.message} (expected {"prompt": string, "response": string})`);
    }
    return { prompt: r.data.prompt, response: r.data.response };
  });
}

export const rewardCommand: Command = {
  name: 'reward',
  summary: "score (prompt, response) pairs with a task's gold reward",
  help: `usage: d2po reward --task NAME|PATH --input FILE.jsonl [--output FILE] [--batch-size N]
                   [--lenient] [--cd-large DIR --cd-small DIR]

Computes the gold reward of each pair. Input: one JSON object per line,
  {"prompt": "...", "response": "..."}
Output (stdout unless --output): one line per input line, in order,
  {"reward": number}
A malformed line is reported with its line number and nothing is scored.

options:
  --task NAME|PATH   a built-in task (see \`d2po tasks\`) or a custom task module
  --input FILE       the JSONL input ("-" reads stdin)
  --output FILE      write the rewards here instead of stdout
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
    let text: string;
    try {
      text = values.input === '-' ? await readStdin() : await readFile(values.input, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --input ${values.input}: ${(err as Error).message}`);
    }
    const pairs = parseRewardInput(text, values.input === '-' ? '<stdin>' : values.input);

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
    if (values.output) await writeFile(values.output, lines.join(''));
    else process.stdout.write(lines.join(''));
    console.error(
      `${task.name}: ${pairs.length} pairs, mean reward ${pairs.length ? (sum / pairs.length).toFixed(4) : 'n/a'}, ${s.toFixed(2)} s` +
        (values.output ? ` -> ${values.output}` : ''),
    );
    return 0;
  },
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
