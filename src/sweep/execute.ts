import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_DB } from '../store/run-store.js';
import { summarizeRun } from '../store/run-summary.js';
import { ensureDir } from '../util/ensure-dir.js';

/** One `d2po run` of a sweep. */
export interface SweepJob {
  /** folder name under the sweep's out folder, e.g. d2po-online300-seed0 */
  name: string;
  dir: string;
  /** `d2po run` arguments of a new run (its --out included) */
  args: string[];
  /** estimated seconds, for progress */
  estimate: number;
}

export interface JobOutcome {
  job: SweepJob;
  /** done already (kept), ran now to the end, or failed */
  status: 'kept' | 'done' | 'failed';
  seconds: number;
  error?: string;
}

/**
 * What to do with a job's folder: nothing when its run is done, resume it when it was cut
 * (killed, failed), start it when absent. A run another live process holds is an error.
 */
export function nextAction(job: SweepJob): 'keep' | 'resume' | 'start' {
  if (!existsSync(join(job.dir, RUN_DB))) return 'start';
  const s = summarizeRun(job.dir);
  if (s.status === 'done') return 'keep';
  if (s.status === 'running') throw new Error(`${job.dir} is being run by another live process; stop it or wait for it before sweeping again`);
  return 'resume';
}

/**
 * Runs the jobs `slots` at a time, each as its own `d2po run` process (resuming cut ones, keeping
 * finished ones), its output appended to `<logDir>/<name>.log`. A failed job does not stop the
 * others; outcomes come back in job order.
 */
export async function executeJobs(
  jobs: SweepJob[],
  o: { slots: number; bin: string; logDir: string; resumeArgs: string[]; onEvent: (line: string) => void },
): Promise<JobOutcome[]> {
  ensureDir(o.logDir);
  const outcomes: JobOutcome[] = new Array(jobs.length);
  let next = 0;
  let finished = 0;
  const runOne = (i: number): Promise<void> => {
    const job = jobs[i];
    const t0 = performance.now();
    let action: 'keep' | 'resume' | 'start';
    try {
      action = nextAction(job);
    } catch (e) {
      outcomes[i] = { job, status: 'failed', seconds: 0, error: (e as Error).message };
      return Promise.resolve();
    }
    if (action === 'keep') {
      outcomes[i] = { job, status: 'kept', seconds: 0 };
      return Promise.resolve();
    }
    // a log, not a TTY: the run prints a plain progress line every 10 s and its warm start's phases
    const args = action === 'resume' ? ['run', '--resume', job.dir, ...o.resumeArgs] : ['run', ...job.args];
    const log = join(o.logDir, `${job.name}.log`);
    o.onEvent(`${action === 'resume' ? 'resuming' : 'starting'} ${job.name} (estimate ${fmtSeconds(job.estimate)}; log ${log})`);
    return new Promise((resolve) => {
      const out = createWriteStream(log, { flags: 'a' });
      const child = spawn(process.execPath, [o.bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
      child.on('close', (code, signal) => {
        out.end();
        const seconds = (performance.now() - t0) / 1000;
        finished++;
        outcomes[i] =
          code === 0
            ? { job, status: 'done', seconds }
            : { job, status: 'failed', seconds, error: `exit ${code ?? signal}; see ${log}` };
        o.onEvent(`[${finished}/${jobs.length}] ${job.name}: ${code === 0 ? 'done' : `FAILED (${outcomes[i].error})`} in ${fmtSeconds(seconds)} (estimate ${fmtSeconds(job.estimate)})`);
        resolve();
      });
    });
  };
  await Promise.all(
    Array.from({ length: Math.max(1, o.slots) }, async () => {
      while (next < jobs.length) await runOne(next++);
    }),
  );
  return outcomes;
}

export function fmtSeconds(s: number): string {
  // small models' runs take seconds: two significant digits, so that estimates still compare
  if (s < 10) return `${Number(s.toPrecision(2))} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
