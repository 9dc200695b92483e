import { loadLmAdapter, loadModel, sample as sampleModel, vocabularyError } from '../../model/index.js';
import { resolveModelPath } from '../../util/model-registry.js';
import { MAX_SEED } from '../../util/rng.js';
import { UsageError, chatTemplateOf, dtypeFlag, numberFlag, parseFlags, type Command } from '../command.js';

const help = `usage: d2po sample --model DIR|NAME [--adapter DIR] --prompt TEXT [options]

Continue a prompt with a model (a Hugging Face folder with config.json, model.safetensors
or its shards, and tokenizer.json; GPT-2, OPT, Llama, Mistral, Qwen2 or GPT-NeoX).

options:
  --model DIR|NAME        model folder, or a shipped model's name (d2po models)
  --adapter DIR           a LoRA adapter in PEFT's layout applied to the model
  --prompt TEXT           the prompt (after the model's bos_token_id, as in training)
  --chat-template         wrap the prompt in the model's chat template as one user turn
                          (tokenizer_config.json chat_template, add_generation_prompt)
  --n K                   samples (default 1)
  --max-new-tokens M      at most M new tokens (default 50, or what the context leaves)
  --min-new-tokens M      no end-of-sequence before M new tokens (default 0)
  --temperature T         0 = greedy (default 1)
  --top-k K               keep the K most likely tokens (default 0 = off)
  --top-p P               nucleus sampling, 0 < P <= 1 (default 1 = off)
  --seed S                random seed (default 0)
  --dtype fp32|bf16       how the weights are held, whatever the files store (default fp32)
  --json                  one JSON object: {"prompt", "samples": [{"text", "ids"}]}
`;

export const sample: Command = {
  name: 'sample',
  summary: 'continue a prompt with a model (temperature, top-k, top-p, seed)',
  help,
  async run(argv) {
    const { values } = parseFlags({
      args: argv,
      options: {
        model: { type: 'string' },
        adapter: { type: 'string' },
        prompt: { type: 'string' },
        n: { type: 'string' },
        'max-new-tokens': { type: 'string' },
        'min-new-tokens': { type: 'string' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        seed: { type: 'string' },
        dtype: { type: 'string' },
        json: { type: 'boolean', default: false },
        'chat-template': { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!values.model) throw new UsageError('--model DIR|NAME is required');
    if (values.prompt === undefined) throw new UsageError('--prompt TEXT is required');
    const opts = {
      n: numberFlag('n', values.n, 1, { integer: true }),
      maxNewTokens: numberFlag('max-new-tokens', values['max-new-tokens'], 50, { integer: true }),
      minNewTokens: numberFlag('min-new-tokens', values['min-new-tokens'], 0, { integer: true }),
      temperature: numberFlag('temperature', values.temperature, 1),
      topK: numberFlag('top-k', values['top-k'], 0, { integer: true }),
      topP: numberFlag('top-p', values['top-p'], 1),
      seed: numberFlag('seed', values.seed, 0, { integer: true, min: 0, max: MAX_SEED }),
    };
    const dtype = dtypeFlag(values.dtype);
    const { model, tokenizer, config, dir } = await loadModel(resolveModelPath(values.model), { dtype });
    try {
      if (values.adapter) await loadLmAdapter(values.adapter, model);
      if (!tokenizer) throw new UsageError(`${dir} has no tokenizer.json; sampling from text needs one`);
      const chat = values['chat-template'] ? await chatTemplateOf(tokenizer) : null;
      const ids = chat ? chat.encodePrompt(values.prompt) : tokenizer.encodePrompt(values.prompt, config.bos_token_id);
      if (ids.length === 0) throw new UsageError('empty prompt and the model has no bos_token_id to start it');
      const vocabError = vocabularyError(ids, config);
      if (vocabError) throw new UsageError(`${dir}: ${vocabError}`);
      // the default (50) shrinks to fit a small model's context; an explicit value is checked
      if (values['max-new-tokens'] === undefined) opts.maxNewTokens = Math.max(0, Math.min(50, model.contextLength - ids.length));
      if (ids.length + opts.maxNewTokens > model.contextLength) {
        throw new UsageError(`the prompt is ${ids.length} tokens; with --max-new-tokens ${opts.maxNewTokens} that is ${ids.length + opts.maxNewTokens}, longer than the model's context of ${model.contextLength}`);
      }
      let samples;
      try {
        [samples] = sampleModel(model, [ids], opts);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const texts = samples.map((s) => tokenizer.decode(s));
      if (values.json) {
        console.log(JSON.stringify({ prompt: values.prompt, samples: samples.map((s, i) => ({ text: texts[i], ids: s })) }));
      } else {
        texts.forEach((t, i) => console.log(`${samples.length > 1 ? `--- sample ${i + 1}\n` : ''}${values.prompt}${t}`));
      }
    } finally {
      model.dispose();
    }
    return 0;
  },
};
