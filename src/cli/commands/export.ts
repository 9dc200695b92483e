import { mergeAdapter } from '../../model/index.js';
import { resolveModelPath } from '../../util/model-registry.js';
import { UsageError, parseFlags, type Command } from '../command.js';

const help = `usage: d2po export --merge --adapter DIR --model DIR|NAME --out DIR

Folds a LoRA adapter (PEFT's layout: adapter_config.json + adapter_model.safetensors, as a
LoRA run's checkpoints hold them) into its base model and writes the result as a model folder
in the base's layout: the same tensor names and dtypes in model.safetensors (or the same
shards), each adapted weight W replaced by W + s B A, and the base folder's other files
(config.json, the shard index, tokenizer files) copied. The merged model then loads wherever the base does, without the adapter.

options:
  --merge            merge the adapter into the base (the one export there is)
  --adapter DIR      the adapter folder
  --model DIR|NAME   its base model folder, or a shipped model's name (d2po models)
  --out DIR          the new model folder (must not exist)
`;

export const exportCommand: Command = {
  name: 'export',
  summary: 'merge a LoRA adapter into its base model (a model folder in the base layout)',
  help,
  async run(argv) {
    const { values } = parseFlags({
      args: argv,
      options: { merge: { type: 'boolean' }, adapter: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' } },
      strict: true,
    });
    if (!values.merge) throw new UsageError('--merge is required (merging an adapter into its base is the one export)');
    if (!values.adapter) throw new UsageError('--adapter DIR is required');
    if (!values.model) throw new UsageError('--model DIR|NAME is required (the base the adapter was trained on)');
    if (!values.out) throw new UsageError('--out DIR is required');
    const changed = await mergeAdapter(resolveModelPath(values.model), values.adapter, values.out);
    console.log(`wrote ${values.out}: ${changed} weights merged`);
    return 0;
  },
};
