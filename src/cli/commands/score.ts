import { z } from 'zod';
import { loadLmAdapter, loadModel, responseLogprobs, vocabularyError, type ChatTemplate, type LoadedModel } from '../../model/index.js';
import { noGrad, scope } from '../../tensor/index.js';
import { resolveModelPath } from '../../util/model-registry.js';
import { UsageError, chatTemplateOf, dtypeFlag, numberFlag, parseFlags, type Command } from '../command.js';
import { JsonlError, readJsonl } from '../../util/jsonl.js';
import { outputPathProblem, writeFileAtomic } from '../../util/atomic-write.js';

const help = `usage: d2po score --model DIR|NAME [--adapter DIR] --input FILE.jsonl [--output FILE] [--batch-size N]

Log-probabilities of responses given prompts under a model (a Hugging Face folder:
config.json + model.safetensors or its shards, and tokenizer.json for text input; GPT-2, OPT,
Llama, Mistral, Qwen2 or GPT-NeoX, see docs/models.md).

Each input line is one of
  {"prompt": "text", "response": "text"}        (needs DIR/tokenizer.json)
  {"prompt_ids": [int...], "response_ids": [int...]}
Blank lines are skipped; a BOM and CRLF line ends are fine; unknown fields and text that is not
UTF-8 are errors naming the line.
Each output line (same order) is
  {"logprob": number, "token_logprobs": [number...]}
with one log-prob per response token (natural log). Text prompts are encoded with the
tokenizer's special tokens (e.g. OPT's leading </s>) and start with the model's bos_token_id
as in training (GPT-2-style tokenizers add none); responses without; an empty prompt_ids is
replaced by the bos_token_id. With --chat-template, text prompts are wrapped in the model's
chat template as one user turn (with the assistant's header after it) and encoded as the
template writes them (its own BOS, if any).

options:
  --model DIR|NAME   model folder, or a shipped model's name (d2po models)
  --adapter DIR      a LoRA adapter in PEFT's layout (adapter_config.json +
                     adapter_model.safetensors) applied to the model
  --input FILE       JSONL input
  --output FILE      write results here, whole or not at all (default: stdout)
  --batch-size N     pairs per forward pass (default 16)
  --dtype fp32|bf16  how the weights are held, whatever the files store (default fp32)
  --chat-template    wrap text prompts in the model's chat template (tokenizer_config.json)
`;

const lineSchema = z.union([
  z.strictObject({ prompt: z.string(), response: z.string() }),
  z.strictObject({ prompt_ids: z.array(z.number().int().nonnegative()), response_ids: z.array(z.number().int().nonnegative()) }),
]);

type Pair = { prompt: number[]; response: number[] };

/** Reads, checks and tokenizes every line up front, so a bad line fails before any scoring. */
export async function readScoreInput(file: string, loaded: LoadedModel, chat: ChatTemplate | null = null): Promise<Pair[]> {
  const { tokenizer, config } = loaded;
  let rows;
  try {
    rows = await readJsonl(file, lineSchema, '{"prompt": string, "response": string} or {"prompt_ids": int[], "response_ids": int[]}');
  } catch (err) {
    if (err instanceof JsonlError) throw new UsageError(err.message);
    throw err;
  }
  return rows.map(({ line, value }) => {
    const where = `${file}:${line}`;
    let pair: Pair;
    if ('prompt' in value) {
      if (!tokenizer) throw new UsageError(`${where}: text input needs a tokenizer, but ${loaded.dir} has no tokenizer.json (give prompt_ids/response_ids instead)`);
      let prompt: number[];
      try {
        prompt = chat ? chat.encodePrompt(value.prompt) : tokenizer.encodePrompt(value.prompt, config.bos_token_id);
      } catch (err) {
        throw new UsageError(`${where}: ${(err as Error).message}`);
      }
      pair = { prompt, response: tokenizer.encode(value.response) };
    } else {
      pair = { prompt: value.prompt_ids, response: value.response_ids };
    }
    if (pair.prompt.length === 0) {
      if (config.bos_token_id === null) throw new UsageError(`${where}: empty prompt and the model has no bos_token_id to start it`);
      pair.prompt = [config.bos_token_id];
    }
    const vocabError = vocabularyError([...pair.prompt, ...pair.response], config);
    if (vocabError) throw new UsageError(`${where}: ${vocabError}`);
    const len = pair.prompt.length + pair.response.length;
    if (len > loaded.model.contextLength) {
      throw new UsageError(`${where}: ${pair.prompt.length} prompt + ${pair.response.length} response = ${len} tokens, longer than the model's context of ${loaded.model.contextLength}`);
    }
    return pair;
  });
}

export const score: Command = {
  name: 'score',
  summary: 'log-probabilities of responses given prompts (JSONL in, JSONL out)',
  help,
  async run(argv) {
    const { values } = parseFlags({
      args: argv,
      options: {
        model: { type: 'string' },
        adapter: { type: 'string' },
        input: { type: 'string' },
        output: { type: 'string' },
        'batch-size': { type: 'string' },
        dtype: { type: 'string' },
        'chat-template': { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!values.model) throw new UsageError('--model DIR|NAME is required');
    if (!values.input) throw new UsageError('--input FILE.jsonl is required');
    const batchSize = numberFlag('batch-size', values['batch-size'], 16, { integer: true, min: 1 });
    const problem = values.output ? outputPathProblem(values.output) : null;
    if (problem) throw new UsageError(`--output ${values.output}: ${problem}`);
    const dtype = dtypeFlag(values.dtype);
    const loaded = await loadModel(resolveModelPath(values.model), { dtype });
    // a file output is written whole at the end (never cut by a full disk); stdout as it goes
    const lines: string[] = [];
    try {
      if (values.adapter) await loadLmAdapter(values.adapter, loaded.model);
      if (values['chat-template'] && !loaded.tokenizer) throw new UsageError(`--chat-template: ${loaded.dir} has no tokenizer.json`);
      const chat = values['chat-template'] && loaded.tokenizer ? await chatTemplateOf(loaded.tokenizer) : null;
      const pairs = await readScoreInput(values.input, loaded, chat);
      for (let i = 0; i < pairs.length; i += batchSize) {
        const chunk = pairs.slice(i, i + batchSize);
        const rows = noGrad(() =>
          scope(() => {
            const r = responseLogprobs(loaded.model, { promptIds: chunk.map((p) => p.prompt), responseIds: chunk.map((p) => p.response) });
            const R = r.tokenLogprobs.shape[1];
            const flat = r.tokenLogprobs.toFloat32Array();
            const sums = r.sum.toFloat32Array();
            return chunk.map((p, b) => ({ logprob: sums[b], token_logprobs: Array.from(flat.subarray(b * R, b * R + p.response.length)) }));
          }),
        );
        const text = rows.map((row) => JSON.stringify(row) + '\n').join('');
        if (values.output) lines.push(text);
        else process.stdout.write(text);
      }
    } finally {
      loaded.model.dispose();
    }
    if (values.output) await writeFileAtomic(values.output, lines.join(''));
    return 0;
  },
};
