import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChartSpec, renderSvg, svgToPng } from '../src/report/plot.js';

test('line chart renders to SVG with its labels and to a PNG of the expected size', async () => {
  const points = [0, 1, 2].flatMap((x) => [
    { x, y: 2 * x, series: 'd2po', lo: 2 * x - 0.5, hi: 2 * x + 0.5 },
    { x, y: x, series: 'opo-gold' },
  ]);
  const svg = await renderSvg(lineChartSpec('Word Collector', 'gold labels used', 'dev gold reward', points));
  assert.match(svg, /^<svg/);
  for (const label of ['Word Collector', 'gold labels used', 'dev gold reward', 'd2po', 'opo-gold']) {
    assert.ok(svg.includes(label), `SVG lacks ${label}`);
  }
  const png = svgToPng(svg, 1);
  assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  // 420x260 plot area plus axes, title and legend
  assert.ok(width > 420 && width < 700, `width ${width}`);
  assert.ok(height > 260 && height < 450, `height ${height}`);
});
