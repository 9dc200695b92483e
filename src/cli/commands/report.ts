import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, parseFlags, type Command } from '../command.js';
import { findRuns } from '../../store/run-summary.js';
import { readRunCurve } from '../../report/curves.js';
import { writeReport } from '../../report/report.js';
import { writeFileAtomic } from '../../util/atomic-write.js';

const help = `usage: d2po report [NAME=]DIR... [--out DIR]

Compares runs (several methods and seeds of one task): dev gold reward against gold labels used
(mean ± sd over seeds; the chart counts online gold beyond the initial set the online methods
share, with offline methods as stars), final rewards per seed, discriminator and implicit-reward
accuracy on fresh current-policy pairs over training, the share of tied gold labels, and the time
split of a step. Each DIR is a run folder or a folder of run folders. Writes OUT/report.md, PNG
charts and OUT/report.html: one page readable offline with the tables, the charts and each run's
config and the command that reproduces it.

Runs are grouped by method; runs of one method whose configs differ (seed and folder aside) are
named by the fields where they depart from the method's preset (d2po pooling=sum). NAME=DIR
names every run under DIR yourself, e.g. d2po-sum=runs/wc-sum.

options:
  --out DIR   where report.md, report.html and the charts go (default: report/)`;

export const report: Command = {
  name: 'report',
  summary: 'tables and charts comparing runs (reward vs gold labels, accuracy, ties, time)',
  help,
  async run(argv) {
    const parsed = parseFlags({ args: argv, options: { out: { type: 'string' } }, allowPositionals: true });
    if (parsed.positionals.length === 0) throw new UsageError('give at least one run folder (or a folder of runs)');
    const runs = parsed.positionals.flatMap((arg) => {
      // NAME=DIR, unless the whole argument is a folder (a folder name may hold '=')
      const eq = arg.indexOf('=');
      const [name, p] = eq > 0 && !existsSync(arg) ? [arg.slice(0, eq), arg.slice(eq + 1)] : [null, arg];
      const found = findRuns(p);
      if (found.length === 0) throw new UsageError(`${p}: no run folder (run.db) there`);
      return found.map((dir) => {
        const curve = readRunCurve(dir);
        return name ? { ...curve, label: name } : curve;
      });
    });
    const out = parsed.values.out ?? 'report';
    const { markdown, files, html } = await writeReport(runs, out);
    await writeFileAtomic(join(out, 'report.md'), markdown + '\n');
    console.log(markdown);
    console.error(`wrote ${join(out, 'report.md')}, ${html}${files.length ? ` and ${files.length} charts` : ''}`);
    return 0;
  },
};
