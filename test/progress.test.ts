import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress, formatDuration, formatNumber } from '../src/cli/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 200, write: (s: string) => (chunks.push(s), true) } as never };
}

test('formatNumber and formatDuration', () => {
  assert.equal(formatNumber(3.21012), '3.21');
  assert.equal(formatNumber(91234), '91.2k');
  assert.equal(formatNumber(2_500_000), '2.50M');
  assert.equal(formatNumber(12), '12');
  assert.equal(formatNumber(456.7), '457');
  assert.equal(formatDuration(42), '42s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(NaN), '?');
});

test('plain mode prints a line per interval with fields and ETA, then a final line', () => {
  let t = 0;
  const { chunks, stream } = sink(false);
  const bar = new Progress({ label: 'train', total: 100, stream, plainEveryMs: 1000, now: () => t });
  t = 500;
  bar.update(10, { loss: 2.5 });
  assert.equal(chunks.length, 0, 'no line before the interval');
  t = 1000;
  bar.update(20, { loss: 2.25, 'tok/s': 12345 });
  // 20 steps in 1 s -> 80 steps left take 4 s
  assert.deepEqual(chunks, ['train  20/100  20%  loss 2.25  tok/s 12.3k  ETA 4s\n']);
  t = 3000;
  bar.done();
  assert.equal(chunks.length, 2);
  assert.equal(chunks[1], 'train  20/100  20%  loss 2.25  tok/s 12.3k  in 3s\n');
  bar.update(30);
  assert.equal(chunks.length, 2, 'nothing after done');
});

test('tty mode redraws one line with a bar; resumed runs measure ETA from their start', () => {
  let t = 0;
  const { chunks, stream } = sink(true);
  const bar = new Progress({ label: 'x', total: 10, start: 5, stream, now: () => t });
  t = 2000;
  bar.tick(1);
  // 1 step in 2 s, 4 left -> 8 s
  assert.equal(chunks.at(-1), '\r\x1b[2Kx  [============        ]  6/10  60%  ETA 8s');
  bar.log('eval ppl 40');
  assert.ok(chunks.includes('eval ppl 40\n'));
  bar.done();
  assert.equal(chunks.at(-1), '\n');
});
