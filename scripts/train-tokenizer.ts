/**
 * Train the byte-level BPE tokenizer on the Brown train split and write tokenizer.json +
 * tokenizer_config.json. With --measure, first train several sizes and print how well each
 * compresses the dev split (the table in models/brown-bpe-4k/README.md).
 *
 *   node --import tsx scripts/train-tokenizer.ts --size 4096 --out models/brown-bpe-4k [--measure]
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brownDocuments } from '../src/data/brown.js';
import { trainBpe } from '../src/tokenizer/bpe-train.js';
import { buildTokenizerConfig, buildTokenizerJson } from '../src/tokenizer/tokenizer-json.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import { ensureDir } from '../src/util/ensure-dir.js';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '4096' }, out: { type: 'string' }, measure: { type: 'boolean', default: false } },
});
const train = (await brownDocuments('train')).map((d) => d.text);
const dev = (await brownDocuments('dev')).map((d) => d.text);

/** vocab size includes <|endoftext|>: BPE tokens = size - 1. */
function build(size: number) {
  const json = buildTokenizerJson(trainBpe(train, { size: size - 1 }));
  return { json, tok: Tokenizer.fromJson(json, buildTokenizerConfig()) };
}

if (values.measure) {
  const words = dev.reduce((n, d) => n + d.split(/\s+/).filter(Boolean).length, 0);
  const chars = dev.reduce((n, d) => n + d.length, 0);
  console.log(`dev split: ${dev.length} documents, ${words} words, ${chars} characters; d_model 256 for the embedding column`);
  console.log('| vocab | tokens/word | chars/token | embedding params (d 256) | 128-token context covers (words) |');
  console.log('|---|---|---|---|---|');
  for (const size of [1024, 2048, 4096, 8192]) {
    const { tok } = build(size);
    const n = dev.reduce((s, d) => s + tok.encode(d).length, 0);
    console.log(`| ${size} | ${(n / words).toFixed(3)} | ${(chars / n).toFixed(2)} | ${size * 256} | ${((128 * words) / n).toFixed(0)} |`);
  }
}
if (values.out) {
  const { json } = build(Number(values.size));
  ensureDir(values.out);
  await writeFile(join(values.out, 'tokenizer.json'), JSON.stringify(json) + '\n');
  await writeFile(join(values.out, 'tokenizer_config.json'), JSON.stringify(buildTokenizerConfig(), null, 2) + '\n');
  console.log(`wrote ${values.out}/tokenizer.json (${values.size} tokens) and tokenizer_config.json`);
}
