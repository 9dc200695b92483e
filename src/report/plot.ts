import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** Renders a vega-lite spec to SVG text (headless: vega's SVG string renderer, no DOM). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { spec: compiled } = vegaLite.compile(spec);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG with resvg; text needs a system font (Debian: fonts-dejavu-core). */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

export interface Series { x: number; y: number; series: string; lo?: number; hi?: number }

/** A line chart of several series with an optional shaded band (lo..hi), e.g. mean and spread over seeds. */
export function lineChartSpec(title: string, xTitle: string, yTitle: string, points: Series[]): TopLevelSpec {
  const line = {
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, title: xTitle },
      y: { field: 'y', type: 'quantitative' as const, title: yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal' as const, title: null },
    },
  };
  const band = {
    mark: { type: 'area' as const, opacity: 0.2 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const },
      y: { field: 'lo', type: 'quantitative' as const },
      y2: { field: 'hi' },
      color: { field: 'series', type: 'nominal' as const },
    },
  };
  const hasBand = points.some((p) => p.lo !== undefined && p.hi !== undefined);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 420,
    height: 260,
    data: { values: points },
    layer: hasBand ? [band, line] : [line],
  } as TopLevelSpec;
}
