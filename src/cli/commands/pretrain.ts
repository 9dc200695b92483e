import { resolve } from 'node:path';
import { progressBar } from '../progress.js';
import { UsageError, numberFlag, parseFlags, type Command } from '../command.js';
import { readPretrainConfig } from '../../train/pretrain-config.js';

const help = `usage: d2po pretrain --config FILE [--out DIR] [--steps N] [--threads N]
       d2po pretrain --resume DIR [--threads N]

Pretrain a GPT-2-architecture language model from scratch on a corpus (default: the Brown corpus),
with a progress bar (loss, lr, tokens/s, ETA), held-out perplexity on the dev and test splits, and
resumable checkpoints. The result is a Hugging Face model folder: config.json, model.safetensors
(float32), tokenizer.json, tokenizer_config.json, plus eval.json; OUT/checkpoint additionally
holds the optimizer state and trainer_state.json for --resume. Ctrl-C stops after the current
step and writes a checkpoint. A resumed run gives the same weights as an uninterrupted one.

options:
  --config FILE   JSON config (paths in it are relative to the file's folder), fields:
                    model: { n_embd, n_layer, n_head, n_positions, [n_inner, activation_function,
                             resid_pdrop, embd_pdrop, attn_pdrop] }   (GPT-2 config.json names)
                    tokenizer: path of a tokenizer.json with <|endoftext|>
                    data: "brown" | { train: FILE, dev: FILE, [test: FILE] }  (text, documents
                          separated by blank lines)
                    steps, batchSize, [seqLen], lr, [minLr = lr/10], [warmupSteps = 0],
                    [weightDecay = 0.1], [betas = [0.9, 0.95]], [gradClip = 1], [bf16 = false],
                    [seed = 0], [evalEvery = 0], [evalTokens = 32768], [checkpointEvery = 0],
                    [init: model folder to continue pretraining from], out
  --out DIR       override the config's output folder (relative to the current folder)
  --steps N       override the config's number of steps
  --threads N     libtorch CPU threads (default: the engine's; 1 is faster on a busy machine)
  --resume DIR    continue an interrupted run from its checkpoint (OUT or OUT/checkpoint); the
                  config stored in the checkpoint is used

example: d2po pretrain --config models/policy-base/pretrain.json`;

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'pretrain a GPT-2-style base model on a corpus (progress, perplexity, resume)',
  help,
  async run(argv) {
    const { values } = parseFlags({
      args: argv,
      options: {
        config: { type: 'string' },
        out: { type: 'string' },
        steps: { type: 'string' },
        resume: { type: 'string' },
        threads: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    if ((values.config === undefined) === (values.resume === undefined)) {
      throw new UsageError('give either --config FILE (a new run) or --resume DIR (continue one)');
    }
    if (values.resume !== undefined && (values.out !== undefined || values.steps !== undefined)) {
      throw new UsageError('--out and --steps apply to a new run; --resume uses the checkpoint\'s config');
    }
    let config = null;
    if (values.config !== undefined) {
      config = await readPretrainConfig(values.config);
      if (values.out !== undefined) config = { ...config, out: resolve(values.out) };
      if (values.steps !== undefined) config = { ...config, steps: numberFlag('steps', values.steps, 0, { integer: true, min: 1 }) };
    }
    const threads = values.threads === undefined ? undefined : numberFlag('threads', values.threads, 0, { integer: true, min: 1 });
    let interrupted = false;
    const onSigint = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      console.error('\nstopping after this step (Ctrl-C again to quit without a checkpoint)');
    };
    process.on('SIGINT', onSigint);
    try {
      // Loaded here so that the CLI starts without the native engine for other commands.
      const { pretrain } = await import('../../train/pretrain.js');
      if (threads !== undefined) (await import('../../tensor/index.js')).setNumThreads(threads);
      const r = await pretrain(config, { resume: values.resume, shouldStop: () => interrupted, onProgress: progressBar() });
      if (!r.completed) return 130;
      console.log(
        `saved ${r.outDir}: ${r.params} parameters, ${r.steps} steps, ${Math.round(r.tokensPerSecond)} tokens/s, ` +
          `dev perplexity ${r.devPpl?.toFixed(2)}` + (r.testPpl !== null ? `, test perplexity ${r.testPpl.toFixed(2)}` : ''),
      );
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
