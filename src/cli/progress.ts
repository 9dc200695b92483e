/**
 * A small terminal progress bar for long loops (training, sampling, evaluation).
 *
 *   const bar = new Progress({ label: 'pretrain', total: 2000 });
 *   for (let step = 1; step <= 2000; step++) {
 *     ...
 *     bar.update(step, { loss: 3.21, 'tok/s': 9100 });
 *   }
 *   bar.done();
 *
 * On a TTY it redraws one line (at most every `redrawMs`). When the stream is not a TTY (a log
 * file, CI, a pipe) it prints a plain line every `plainEveryMs` instead, so logs stay readable.
 */

import type { ProgressFields, ProgressListener } from '../util/progress-events.js';

export type { ProgressFields };

export interface ProgressOptions {
  label: string;
  total: number;
  /** Step the loop starts from (a resumed run); ETA is measured from here. Default 0. */
  start?: number;
  /** Where to write; default process.stderr (keeps stdout clean for results). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force TTY or plain mode; default: the stream's isTTY. */
  tty?: boolean;
  /** Plain mode: milliseconds between lines. Default 10 000. */
  plainEveryMs?: number;
  /** TTY mode: minimum milliseconds between redraws. Default 100. */
  redrawMs?: number;
  /** Clock in ms, for tests. Default Date.now. */
  now?: () => number;
}

/** 3.2101 -> "3.21", 91234 -> "91.2k", 12 -> "12". */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  if (Number.isInteger(v)) return String(v);
  if (a >= 100) return v.toFixed(0);
  return String(Number(v.toPrecision(3)));
}

/** Seconds -> "42s", "3m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class Progress {
  readonly label: string;
  readonly total: number;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly plainEveryMs: number;
  private readonly redrawMs: number;
  private readonly now: () => number;
  private readonly startStep: number;
  private readonly startTime: number;
  private step: number;
  private fields: ProgressFields = {};
  private lastDraw = -Infinity;
  private finished = false;

  constructor(opts: ProgressOptions) {
    this.label = opts.label;
    this.total = opts.total;
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.plainEveryMs = opts.plainEveryMs ?? 10_000;
    this.redrawMs = opts.redrawMs ?? 100;
    this.now = opts.now ?? Date.now;
    this.startStep = opts.start ?? 0;
    this.step = this.startStep;
    this.startTime = this.now();
    // Plain mode: the first line comes after one interval, not at once.
    if (!this.tty) this.lastDraw = this.startTime;
  }

  /** Set the current step (absolute) and merge `fields` into the shown fields. */
  update(step: number, fields?: ProgressFields): void {
    this.step = step;
    if (fields) Object.assign(this.fields, fields);
    const t = this.now();
    const every = this.tty ? this.redrawMs : this.plainEveryMs;
    // The last step is always shown on a TTY; in plain mode done() prints it.
    if (t - this.lastDraw >= every || (this.tty && step >= this.total)) this.draw(t);
  }

  /** Advance by n steps. */
  tick(n = 1, fields?: ProgressFields): void {
    this.update(this.step + n, fields);
  }

  /** Print a message without garbling the bar (the bar is redrawn below it). */
  log(message: string): void {
    if (this.tty) this.stream.write('\r\x1b[2K');
    this.stream.write(message + '\n');
    if (this.tty && !this.finished) this.draw(this.now());
  }

  /** Final line (always printed, with elapsed time); further updates are ignored by the display. */
  done(fields?: ProgressFields): void {
    if (this.finished) return;
    if (fields) Object.assign(this.fields, fields);
    this.draw(this.now(), true);
    if (this.tty) this.stream.write('\n');
    this.finished = true;
  }

  /** Seconds left, from the rate since construction; NaN before any progress. */
  etaSeconds(t = this.now()): number {
    const done = this.step - this.startStep;
    if (done <= 0) return NaN;
    return ((t - this.startTime) / 1000 / done) * Math.max(0, this.total - this.step);
  }

  /** The text of the current line (no bar in plain mode). */
  render(t = this.now(), final = false): string {
    const pct = this.total > 0 ? Math.min(100, (100 * this.step) / this.total) : 100;
    const parts = [this.label];
    if (this.tty) {
      const width = 20;
      const filled = Math.round((pct / 100) * width);
      parts.push(`[${'='.repeat(filled)}${' '.repeat(width - filled)}]`);
    }
    parts.push(`${this.step}/${this.total}`, `${pct.toFixed(0)}%`);
    for (const [k, v] of Object.entries(this.fields)) {
      parts.push(`${k} ${typeof v === 'number' ? formatNumber(v) : v}`);
    }
    const elapsed = (t - this.startTime) / 1000;
    parts.push(final ? `in ${formatDuration(elapsed)}` : `ETA ${formatDuration(this.etaSeconds(t))}`);
    return parts.join('  ');
  }

  private draw(t: number, final = false): void {
    if (this.finished) return;
    this.lastDraw = t;
    let line = this.render(t, final);
    if (this.tty) {
      const cols = this.stream.columns ?? 120;
      if (line.length > cols - 1) line = line.slice(0, cols - 1);
      this.stream.write('\r\x1b[2K' + line);
    } else {
      this.stream.write(line + '\n');
    }
  }
}

/** Draws a core loop's progress events (src/util/progress-events.ts) as a bar on stderr. */
export function progressBar(): ProgressListener {
  let bar: Progress | null = null;
  return (e) => {
    if (e.phase === 'start') bar = new Progress({ label: e.label, total: e.total, start: e.step });
    else if (e.phase === 'step') bar?.update(e.step, e.fields);
    else if (e.phase === 'log') bar ? bar.log(e.message) : process.stderr.write(`${e.message}\n`);
    else bar?.done(e.fields);
  };
}
