/**
 * report.html: the report as one self-contained page, readable offline: the tables, the charts as
 * inline SVG, and per run its stored config and the command that reproduces it. Text from runs
 * (names, paths, model outputs) is untrusted: all of it is escaped, and the page's
 * Content-Security-Policy forbids scripts and every load from elsewhere.
 */
import type { RunCurve } from './curves.js';
import type { Section, Table } from './markdown.js';

const CSP = "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE = `body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;white-space:pre-wrap}
figure{margin:1rem 0}dt{font-weight:bold}dd{margin:0 0 .4rem 1rem}code{background:#f4f4f4}`;

/** Text made safe for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The command that reproduces a run: the one it recorded (meta `command`), else `d2po run` on its
 * stored config, which `--config` takes as it is (secrets redacted: a run reads them from their
 * environment variables or files then).
 */
export function reproduceCommand(run: RunCurve): { command: string; note?: string } {
  if (run.command) return { command: run.command };
  return { command: 'd2po run --config config.json', note: 'config.json holding the config below; add --out DIR to leave this run folder as it is' };
}

function htmlTable(t: Table): string {
  const row = (cells: string[], tag: 'th' | 'td') => `<tr>${cells.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
  return `<table><thead>${row(t.head, 'th')}</thead><tbody>${t.rows.map((r) => row(r, 'td')).join('')}</tbody></table>`;
}

/** vega's SVG (text and attributes already escaped by vega), without its namespace URLs, which inline SVG in HTML does not need. */
function inlineSvg(svg: string): string {
  return svg.replace(/ xmlns(:xlink)?="[^"]*"/g, '');
}

function sectionHtml(s: Section): string {
  return [
    `<section><h2>${escapeHtml(s.title)}</h2>`,
    s.chart ? `<figure>${inlineSvg(s.chart.svg)}</figure>` : '',
    htmlTable(s.table),
    s.note ? `<p>${escapeHtml(s.note)}</p>` : '',
    '</section>',
  ].join('\n');
}

function runHtml(run: RunCurve): string {
  const { command, note } = reproduceCommand(run);
  const item = (term: string, html: string) => `<dt>${term}</dt><dd>${html}</dd>`;
  const pair = run.lastPair;
  return [
    `<section class="run"><h3>${escapeHtml(run.label)}, seed ${run.seed}</h3><dl>`,
    item('folder', `<code>${escapeHtml(run.dir)}</code>`),
    item('initial gold labels', String(run.goldInitial)),
    item('warm start', run.warmStart ? `shared, <code>${escapeHtml(run.warmStart)}</code>` : 'its own'),
    item('reproduce', `<code>${escapeHtml(command)}</code>${note ? ` (${escapeHtml(note)})` : ''}`),
    '</dl>',
    `<details><summary>config</summary><pre>${escapeHtml(JSON.stringify(run.config, null, 2))}</pre></details>`,
    pair
      ? `<details><summary>last sampled pair (step ${pair.step})</summary><p>prompt</p><pre>${escapeHtml(pair.prompt)}</pre><p>response a</p><pre>${escapeHtml(pair.a)}</pre><p>response b</p><pre>${escapeHtml(pair.b)}</pre></details>`
      : '',
    '</section>',
  ].join('\n');
}

export function reportHtml(title: string, intro: string, sections: Section[], runs: RunCurve[]): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(title)}</h1>`,
    `<p>${escapeHtml(intro)}</p>`,
    ...sections.map(sectionHtml),
    '<h2>Runs</h2>',
    ...runs.map(runHtml),
    '</body></html>',
    '',
  ].join('\n');
}
