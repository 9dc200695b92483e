import { relative } from 'node:path';
import { parseFlags, type Command } from '../command.js';
import { readRegistry } from '../../util/model-registry.js';

const help = `usage: d2po models [--json]

List the models shipped in models/ (from models/registry.json): name, role, folder, parameter
count and held-out perplexity (Brown test split, from each folder's eval.json). Commands that
take a model folder also accept these names, e.g. d2po sample --model policy-base.

options:
  --json   one JSON array of {name, role, path, params, heldout_ppl, dev_ppl, description}`;

export const modelsCommand: Command = {
  name: 'models',
  summary: 'list the shipped base models (role, parameters, held-out perplexity)',
  help,
  async run(argv) {
    const { values } = parseFlags({ args: argv, options: { json: { type: 'boolean', default: false } }, strict: true });
    const models = readRegistry();
    if (values.json) {
      console.log(JSON.stringify(models, null, 2));
      return 0;
    }
    const rows = [
      ['name', 'role', 'path', 'params', 'heldout_ppl'],
      ...models.map((m) => [
        m.name,
        m.role,
        relative(process.cwd(), m.path) || '.',
        m.params === null ? '?' : m.params.toLocaleString('en-US'),
        m.heldout_ppl === null ? '?' : m.heldout_ppl.toFixed(2),
      ]),
    ];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    for (const r of rows) console.log(r.map((v, c) => (c >= 3 ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ').trimEnd());
    return 0;
  },
};
