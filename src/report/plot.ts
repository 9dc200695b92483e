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

/** A five-pointed star (vega's shapes have none), in the unit square vega scales symbols from. */
const STAR = 'M0,-1L0.225,-0.309L0.951,-0.309L0.363,0.118L0.588,0.809L0,0.382L-0.588,0.809L-0.363,0.118L-0.951,-0.309L-0.225,-0.309Z';

export interface ChartOptions {
  /** a line under the title */
  subtitle?: string;
  /** single points drawn as stars (with a lo..hi bar), e.g. offline methods beside online curves */
  markers?: Series[];
}

/**
 * A line chart of several series with an optional shaded band (lo..hi), e.g. mean and spread over
 * seeds, and optional star markers sharing the series' colours and legend.
 */
export function lineChartSpec(title: string, xTitle: string, yTitle: string, points: Series[], opts: ChartOptions = {}): TopLevelSpec {
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle };
  const y = { field: 'y', type: 'quantitative' as const, title: yTitle, scale: { zero: false } };
  // long series names (variants, method: metric) are cut at 160 px by default
  const color = { field: 'series', type: 'nominal' as const, title: null, legend: { labelLimit: 300 } };
  const line = { mark: { type: 'line' as const, point: true }, encoding: { x, y, color } };
  const band = {
    mark: { type: 'area' as const, opacity: 0.2 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const },
      y: { field: 'lo', type: 'quantitative' as const },
      y2: { field: 'hi' },
      color: { field: 'series', type: 'nominal' as const },
    },
  };
  const markers = opts.markers ?? [];
  const star = {
    data: { values: markers },
    mark: { type: 'point' as const, shape: STAR, size: 220, filled: true, opacity: 1 },
    encoding: { x, y, color },
  };
  const bar = {
    data: { values: markers.filter((p) => p.lo !== undefined && p.hi !== undefined) },
    mark: { type: 'rule' as const },
    encoding: { x, y: { field: 'lo', type: 'quantitative' as const }, y2: { field: 'hi' }, color },
  };
  const hasBand = points.some((p) => p.lo !== undefined && p.hi !== undefined);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.subtitle ? { text: title, subtitle: opts.subtitle } : title,
    width: 420,
    height: 260,
    data: { values: points },
    layer: [...(hasBand ? [band] : []), line, ...(markers.length ? [bar, star] : [])],
  } as TopLevelSpec;
}
