// What both halves of `npm run bench:engine` share: statistics, timing, peak resident memory,
// and the PyTorch worker process (a Python script answering one JSON command per stdin line).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** [wall seconds, CPU seconds of all threads] of fn */
export function timeIt(fn: () => unknown): [number, number] {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return [(performance.now() - t0) / 1000, (c.user + c.system) / 1e6];
}

/**
 * Resets this process's peak resident memory (VmHWM) to its current RSS (Linux: writing 5 to
 * /proc/self/clear_refs), so that the peak read afterwards belongs to the work in between; the
 * PyTorch worker does the same per command.
 */
export function resetPeakRss(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}

/** VmHWM in MiB */
export function peakRssMiB(): number {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!kb) throw new Error('no VmHWM in /proc/self/status');
  return Number(kb[1]) / 1024;
}

export interface WorkerReply {
  secs: number[];
  cpu: number[];
  losses?: number[];
  /** the worker's peak RSS over the command, MiB */
  peak_mib: number;
}

export interface Worker {
  ask(msg: object): Promise<WorkerReply>;
  quit(): void;
}

/** Starts `python script specPath` with our environment (OPENBLAS_CORETYPE, OMP_WAIT_POLICY) and `threads` OpenMP threads. */
export function startWorker(python: string, script: string, specPath: string, threads: number): Worker {
  const py = spawn(python, [script, specPath], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  return {
    async ask(msg) {
      py.stdin.write(JSON.stringify(msg) + '\n');
      const r = await lines.next();
      if (r.done) throw new Error(`the PyTorch worker ${script} exited early (see its error above)`);
      return JSON.parse(r.value);
    },
    quit() {
      py.stdin.write(JSON.stringify({ cmd: 'quit' }) + '\n');
      py.stdin.end();
    },
  };
}
