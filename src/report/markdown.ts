/** The report's content as sections of tables, and its Markdown form (report.md). */

/** A table: plain-text cells, `head` the header row. */
export interface Table {
  head: string[];
  rows: string[][];
}

/** One part of the report: a heading, its table, the chart that goes with it and a note after them. */
export interface Section {
  title: string;
  table: Table;
  /** the chart as a PNG file name (beside report.md) and as SVG (inlined in report.html) */
  chart?: { file: string; svg: string };
  note?: string;
}

/** A name as report.md shows it: `|` escaped and line breaks as `\n`, so that it cannot split a table row or a line. */
export function mdText(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r\n|\r|\n/g, '\\n');
}

/** A markdown table, every cell escaped (mdText). */
export function mdTable(t: Table): string {
  const row = (cells: string[]) => `| ${cells.map(mdText).join(' | ')} |`;
  return [row(t.head), `|${t.head.map(() => '---').join('|')}|`, ...t.rows.map(row)].join('\n');
}

/** report.md: the intro line, then each section's heading, table and note. */
export function sectionsMarkdown(intro: string, sections: Section[]): string {
  const lines = [intro, ''];
  for (const s of sections) {
    lines.push(`### ${s.title}`, '', mdTable(s.table), '');
    if (s.note) lines.push(s.note, '');
  }
  return lines.join('\n');
}
