/**
 * What a long loop (a run, pretraining) reports as it goes. The core only emits these; the CLI
 * draws them as a progress bar (src/cli/progress.ts), so that the core never writes to a terminal.
 */
export type ProgressEvent =
  | { phase: 'start'; label: string; total: number; step: number }
  | { phase: 'step'; step: number; fields: ProgressFields }
  /** a message to print without garbling the bar */
  | { phase: 'log'; message: string }
  | { phase: 'done'; fields?: ProgressFields };

export type ProgressFields = Record<string, string | number>;

export type ProgressListener = (e: ProgressEvent) => void;
