import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { loadModel, responseLogprobs, vocabularyError, type LoadedModel } from '../../model/index.js';
import { noGrad, scope } from '../../tensor/index.js';
import { resolveModelPath } from '../../util/model-registry.js';
import { UsageError, numberFlag, parseFlags, type Command } from '../command.js';

const help = `usage: d2po score --model DIR|NAME --input FILE.jsonl [--output FILE] [--batch-size N]

Log-probabilities of responses given prompts under a model (a Hugging Face folder:
config.json + model.safetensors, and tokenizer.json for text input).

Each input line is one of
  {"prompt": "text", "response": "text"}        (needs DIR/tokenizer.json)
  {"prompt_ids": [int...], "response_ids": [int...]}
Each output line (same order) is
  {"logprob": number, "token_logprobs": [number...]}
with one log-prob per response token (natural log). Text prompts are encoded with the
tokenizer's special tokens (e.g. OPT's leading </s>) and start with the model's bos_token_id
as in training (GPT-2-style tokenizers add none); responses without; an empty prompt_ids is
replaced by the bos_token_id.

options:
  --model DIR|NAME   model folder, or a shipped model's name (d2po models)
  --input FILE       JSONL input
  --output FILE      write results here (default: stdout)
  --batch-size N     pairs per forward pass (default 16)
`;

const lineSchema = z.union([
  z.strictObject({ prompt: z.string(), response: z.string() }),
  z.strictObject({ prompt_ids: z.array(z.number().int().nonnegative()), response_ids: z.array(z.number().int().nonnegative()) }),
]);

type Pair = { prompt: number[]; response: number[] };

/** Parses and tokenizes every line up front, so a bad line fails before any scoring. */
export function parseScoreInput(text: string, file: string, loaded: LoadedModel): Pair[] {
  const { tokenizer, config } = loaded;
  const pairs: Pair[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `${file}:${i + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new UsageError(`${where}: not valid JSON (${(err as Error).message})`);
    }
    const parsed = lineSchema.safeParse(json);
    if (!parsed.success) {
      throw new UsageError(`${where}: expected {"prompt": string, "response": string} or {"prompt_ids": int[], "response_ids": int[]}`);
    }
    let pair: Pair;
    if ('prompt' in parsed.data) {
      if (!tokenizer) throw new UsageError(`${where}: text input needs a tokenizer, but ${loaded.dir} has no tokenizer.json (give prompt_ids/response_ids instead)`);
      pair = { prompt: tokenizer.encodePrompt(parsed.data.prompt, config.bos_token_id), response: tokenizer.encode(parsed.data.response) };
    } else {
      pair = { prompt: parsed.data.prompt_ids, response: parsed.data.response_ids };
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
    pairs.push(pair);
  });
  return pairs;
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
        input: { type: 'string' },
        output: { type: 'string' },
        'batch-size': { type: 'string' },
      },
      strict: true,
    });
    if (!values.model) throw new UsageError('--model DIR|NAME is required');
    if (!values.input) throw new UsageError('--input FILE.jsonl is required');
    const batchSize = numberFlag('batch-size', values['batch-size'], 16, { integer: true, min: 1 });
    let text: string;
    try {
      text = await readFile(values.input, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --input ${values.input}: ${(err as Error).message}`);
    }
    const loaded = await loadModel(resolveModelPath(values.model));
    const pairs = parseScoreInput(text, values.input, loaded);
    const out = values.output ? createWriteStream(values.output) : process.stdout;
    try {
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
        for (const row of rows) out.write(JSON.stringify(row) + '\n');
      }
    } finally {
      loaded.model.dispose();
      if (out !== process.stdout) await new Promise<void>((res, rej) => (out as NodeJS.WritableStream).end((err?: Error) => (err ? rej(err) : res())));
    }
    return 0;
  },
};
