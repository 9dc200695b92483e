import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { builtinTasks } from '../../tasks/registry.js';

export const tasksCommand: Command = {
  name: 'tasks',
  summary: 'list the built-in tasks and their gold rewards',
  help: `usage: d2po tasks [--json]

Lists the built-in tasks (name and what the gold reward measures).
Any command that takes --task also accepts a path to a custom task module
(.mjs, .js or .ts) whose default export is
  { name, prompts(split), reward(prompt, response) }   (optional: rewards(pairs))

options:
  --json   print a JSON array of { "name", "description" }`,
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } }, strict: true }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.json) {
      console.log(JSON.stringify(builtinTasks, null, 2));
      return 0;
    }
    const width = Math.max(...builtinTasks.map((t) => t.name.length));
    for (const t of builtinTasks) console.log(`${t.name.padEnd(width)}  ${t.description} (base model: ${t.baseModel})`);
    return 0;
  },
};
