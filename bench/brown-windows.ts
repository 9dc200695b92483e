import { brownDocuments } from '../src/data/brown.js';
import { Tokenizer } from '../src/model/tokenizer.js';

/**
 * `n` consecutive `tokens`-token windows of Brown dev text under the shipped tokenizer
 * (models/brown-bpe-4k), decoded: stand-ins for policy samples of that length.
 */
export async function brownTokenWindows(n: number, tokens: number): Promise<string[]> {
  const tok = await Tokenizer.fromFile('models/brown-bpe-4k/tokenizer.json');
  const ids = tok.encode((await brownDocuments('dev')).map((d) => d.text).join('\n'));
  const windows: string[] = [];
  for (let i = 0; windows.length < n; i = (i + tokens) % (ids.length - tokens)) windows.push(tok.decode(ids.slice(i, i + tokens)));
  return windows;
}
