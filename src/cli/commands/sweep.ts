import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, splitFlags, type Command } from '../command.js';
import { configFromArgs } from './run.js';
import { ConfigError, METHODS, type Method, type RunConfig } from '../../d2po/config.js';
import { isMethod, presetConfig, resolveConfig } from '../../d2po/presets.js';
import { planBudget } from '../../d2po/budget.js';
import { loadTask } from '../../tasks/registry.js';
import { RunStore, RUN_DB } from '../../store/run-store.js';
import { findRuns } from '../../store/run-summary.js';
import { readRunCurve } from '../../report/curves.js';
import { writeReport } from '../../report/report.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { INITIAL_CHUNK } from '../../d2po/initial-set.js';
import { WarmCache, modelFingerprint } from '../../d2po/warm-cache.js';
import { warmKey, warmStartPlan } from '../../d2po/warm-start.js';
import { resolveMaxNewTokens } from '../../d2po/response-length.js';
import { macsPerToken, readConfig } from '../../model/config.js';
import { contention, estimateRun, REFERENCE_MACS, scheduleWall, total, UNIT_SECONDS, type RunEstimate } from '../../sweep/estimate.js';
import { executeJobs, fmtSeconds, type SweepJob } from '../../sweep/execute.js';

const help = `usage: d2po sweep --task NAME [--methods a,b] [--seeds 0-4] [--initial-gold N]
                  [--online-gold P[,P...]] [--jobs J] [--out DIR] [--dry-run] [d2po run flags]

Runs every method x seed x online budget as its own \`d2po run\` process, J at a time, then
writes the comparison report (report.md, charts) into DIR. Every method of one seed starts from
the same initial offline set of N gold-labelled pairs from the initial policy, computed once and
shared through DIR/warm-starts (content-addressed: the samples, their gold labels and the
warm-started policy and discriminator are reused exactly, never bought twice).

The online methods (d2po, opo-gold, ...) spend P gold labels online on top of the N; the offline
ones (dpo, opo-static-rm, ppo-static-rm) get the same N + P labels all on initial-policy samples,
the first N being the shared set (the paper's Table 1 and Figure 3).

A sweep is resumable: run the same command again and finished runs are kept, cut ones resumed.

options:
  --methods a,b        methods to compare (default d2po,opo-gold,dpo,opo-static-rm); one of
                       ${METHODS.join(', ')}
  --seeds S            seeds: 0-4, 0,2,7 or 3 (default 0-4)
  --initial-gold N     the shared initial set (default 1600, the paper's)
  --online-gold P      online gold on top of it, or a list 100,200,300 (one run per budget;
                       default 300)
  --rounds T           online gold rounds (online methods only)
  --steps N            online policy steps (discriminator-labelled methods only)
  --eval-every K       evaluation interval of discriminator-labelled methods (default: once per
                       gold round, and for the offline ones every steps/rounds steps, so that
                       their curves share the online methods' grid); gold-labelled ones
                       evaluate after every round
  --jobs J             runs at a time (default: this machine's CPUs); each gets CPUs/J threads
  --out DIR            sweep folder: runs, logs/, warm-starts/, report (default sweeps/<task>)
  --warm-cache DIR     share warm starts with another sweep (a variant of one method, say)
                       instead of OUT/warm-starts
  --load L             other work on this machine to plan around, in busy cores (default: the
                       1-minute load average when the sweep starts); the estimates stretch by
                       (L + jobs x threads) / CPUs when that is above 1, until the sweep's own
                       finished runs say how long runs take
  --dry-run            print the plan and its estimated time, run nothing

Any other flag goes to every \`d2po run\` (--task, --model, --batch-size, --set PATH=VALUE, ...).`;

/** Flags of the sweep itself (value-taking unless listed as boolean). */
const OWN = new Set(['methods', 'seeds', 'initial-gold', 'online-gold', 'rounds', 'steps', 'eval-every', 'jobs', 'out', 'warm-cache', 'load', 'dry-run']);
const BOOLEAN = new Set(['dry-run']);
/** `d2po run` flags the sweep sets per job. */
const RESERVED = new Set(['method', 'seed', 'gold-budget', 'resume', 'force', 'print-config', 'json', 'no-progress']);

function intList(flag: string, raw: string): number[] {
  const out: number[] = [];
  for (const part of raw.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new UsageError(`--${flag}: expected numbers like 0-4 or 1,2,3, got '${raw}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new UsageError(`--${flag}: ${part} is an empty range`);
    for (let x = lo; x <= hi; x++) out.push(x);
  }
  return [...new Set(out)];
}

function nonNegative(flag: string, raw: string | true | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (raw === true || !Number.isInteger(n) || n < 0) throw new UsageError(`--${flag}: expected a whole number >= 0, got '${raw}'`);
  return n;
}

function nonNegativeReal(flag: string, raw: string | true | undefined): number {
  const n = Number(raw);
  if (raw === true || raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${flag}: expected a number >= 0, got '${raw}'`);
  return n;
}

/** Offline methods put their whole budget in the initial set (their preset's initial = 'all'). */
const offline = (m: Method) => presetConfig(m).budget.initial === 'all';

/** Where a job's run folder stands: not started, part way (steps done of all), or done, with its wall seconds. */
function progressOf(dir: string): { status: string | null; step: number; steps: number; seconds: number } {
  if (!existsSync(join(dir, RUN_DB))) return { status: null, step: 0, steps: 0, seconds: 0 };
  const store = RunStore.open(dir, { readonly: true });
  try {
    const t0 = store.getMeta<number>('started_at') ?? 0;
    const t1 = store.getMeta<number>('updated_at') ?? t0;
    return { status: store.getMeta<string>('status') ?? null, step: store.getMeta<number>('step') ?? 0, steps: store.getMeta<number>('steps') ?? 0, seconds: (t1 - t0) / 1000 };
  } finally {
    store.close();
  }
}

/**
 * What is left of each job: nothing of a finished run, the online part not yet stepped of a cut
 * one (its warm start is done), all of a new one; scaled by how long this sweep's finished runs
 * took against their estimates, or by the machine's contention `busy` before any has finished.
 */
function remaining(jobs: { dir: string; parts: RunEstimate }[], busy: number): { seconds: number[]; factor: number; finished: number } {
  const progress = jobs.map((j) => progressOf(j.dir));
  const done = jobs.filter((_, i) => progress[i].status === 'done');
  const actual = progress.filter((p) => p.status === 'done').reduce((a, p) => a + p.seconds, 0);
  const estimated = done.reduce((a, j) => a + total(j.parts), 0);
  const factor = done.length && estimated > 0 ? actual / estimated : busy;
  const seconds = jobs.map((j, i) => {
    const p = progress[i];
    if (p.status === 'done') return 0;
    if (p.step > 0 && p.steps > 0) return factor * j.parts.online * (1 - p.step / p.steps);
    return factor * total(j.parts);
  });
  return { seconds, factor, finished: done.length };
}

export const sweep: Command = {
  name: 'sweep',
  summary: 'run methods x seeds x gold budgets from shared warm starts, then the report',
  help,
  async run(argv) {
    const { own, rest } = splitFlags(argv, { own: OWN, booleans: BOOLEAN, reserved: RESERVED, why: 'the sweep sets it for each run' });
    const methods = ((own.get('methods') as string | undefined) ?? 'd2po,opo-gold,dpo,opo-static-rm').split(',').map((m) => m.trim());
    for (const m of methods) if (!isMethod(m)) throw new UsageError(`--methods: unknown method '${m}' (one of ${METHODS.join(', ')})`);
    const seeds = intList('seeds', (own.get('seeds') as string | undefined) ?? '0-4');
    const budgets = intList('online-gold', (own.get('online-gold') as string | undefined) ?? '300');
    const initial = nonNegative('initial-gold', own.get('initial-gold'), 1600);
    const cpus = availableParallelism();
    const slots = Math.max(1, nonNegative('jobs', own.get('jobs'), cpus));
    const rounds = own.get('rounds') as string | undefined;
    const steps = own.get('steps') as string | undefined;
    // a user's --threads holds for every run, resumed ones too (a cut run's stored count may differ)
    const userThreads = configFromArgs(rest).user.threads as number | undefined;
    const threads = userThreads ?? Math.max(1, Math.floor(cpus / slots));

    // the task, once: its name for the default folder and its response length for the estimates
    const probe = configFromArgs(rest).user;
    if (typeof probe.task !== 'string') throw new UsageError('--task is required');
    const out = resolve((own.get('out') as string | undefined) ?? join('sweeps', probe.task.replace(/^.*\//, '').replace(/\.[^.]+$/, '')));
    const task = await loadTask(probe.task);
    const cache = resolve((own.get('warm-cache') as string | undefined) ?? join(out, 'warm-starts'));

    // jobs in groups of `slots` seeds, method by method within a group: the first jobs of a group
    // build different seeds' warm starts side by side, the later ones reuse them
    const order: { method: Method; seed: number; online: number }[] = [];
    for (let g = 0; g < seeds.length; g += slots)
      for (const online of budgets) for (const method of methods as Method[]) for (const seed of seeds.slice(g, g + slots)) order.push({ method, seed, online });

    // what a job computes of its warm start is what no earlier job computes and the cache lacks
    const planned: { name: string; dir: string; args: string[]; parts: RunEstimate }[] = [];
    const counted = new Set<string>();
    const fingerprints = new Map<string, string>();
    const fingerprint = (dir: string) => fingerprints.get(dir) ?? fingerprints.set(dir, modelFingerprint(dir)).get(dir)!;
    const sizes = new Map<string, number>();
    const sizeOf = async (dir: string) => sizes.get(dir) ?? sizes.set(dir, macsPerToken(await readConfig(join(dir, 'config.json'))) / REFERENCE_MACS).get(dir)!;
    const fresh = (kind: string, key: string | null) => {
      if (key === null || counted.has(key)) return false;
      counted.add(key);
      return !WarmCache.holds(cache, kind, key);
    };
    for (const { method, seed, online } of order) {
      if (online === 0 && !offline(method)) throw new UsageError(`--online-gold 0 leaves ${method} no online gold; give a budget above 0`);
      const name = `${method}-online${online}-seed${seed}`;
      const dir = join(out, name);
      const args = ['--method', method, '--seed', String(seed), '--gold-budget', String(initial + online), '--initial-gold', offline(method) ? 'all' : String(initial)];
      if (rounds !== undefined && !offline(method)) args.push('--rounds', rounds);
      if (steps !== undefined && method !== 'dpo') args.push('--steps', steps);
      args.push(...rest);
      if (userThreads === undefined) args.push('--threads', String(threads));
      args.push('--out', dir, '--warm-cache', cache);
      let c: RunConfig;
      try {
        c = resolveConfig(configFromArgs(args).user, name);
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
      // gold-labelled methods take one step per round: evaluate after each; the others once a
      // round, the offline ones (no rounds of their own) on the online methods' grid
      const perRound = rounds === undefined ? c.budget.rounds : nonNegative('rounds', rounds, 1);
      const every = c.rollout.labeller === 'gold' ? 1 : own.has('eval-every') ? nonNegative('eval-every', own.get('eval-every'), 0) : Math.max(1, Math.floor(c.budget.steps / Math.max(1, perRound)));
      args.splice(args.indexOf('--out'), 0, '--eval-every', String(every));
      c = { ...c, eval: { ...c.eval, every } };
      const maxNewTokens = (await resolveMaxNewTokens(c, task)).rollout.maxNewTokens;
      const e = estimateRun(c, maxNewTokens, UNIT_SECONDS, { policy: await sizeOf(c.model), disc: await sizeOf(c.discriminator.model || c.model) });
      const wp = warmStartPlan(c, { model: fingerprint(c.model), disc: fingerprint(c.discriminator.model || c.model), maxNewTokens, initial: planBudget(c).initial });
      const chunks = wp.chunkKeys.filter((k) => fresh('initial-chunk', k)).length;
      planned.push({
        name,
        dir,
        args,
        parts: {
          ...e,
          initialSet: (e.initialSet * chunks) / Math.max(1, wp.chunkKeys.length),
          warmPolicy: fresh('warm-policy', wp.policy && warmKey('warm-policy', wp.policy)) ? e.warmPolicy : 0,
          warmDiscriminator: fresh('warm-discriminator', wp.discriminator && warmKey('warm-discriminator', wp.discriminator)) ? e.warmDiscriminator : 0,
        },
      });
    }
    const load = own.has('load') ? nonNegativeReal('load', own.get('load')) : loadavg()[0];
    const busy = contention(load, cpus, slots * threads);
    const left = remaining(planned, busy);
    const jobs: SweepJob[] = planned.map((j, i) => ({ name: j.name, dir: j.dir, args: j.args, estimate: left.seconds[i] }));
    const wall = scheduleWall(jobs.map((j) => j.estimate), slots);
    console.log(`sweep: ${methods.join(', ')} x seeds ${seeds.join(',')} x online gold ${budgets.join(',')} from ${initial} shared initial labels (chunks of ${INITIAL_CHUNK}) -> ${out}`);
    for (const j of jobs) console.log(`  ${j.name.padEnd(34)} ~${fmtSeconds(j.estimate)}`);
    const units = `unit costs of this machine: ${Object.entries(UNIT_SECONDS).map(([k, v]) => `${k} ${v} s`).join(', ')}`;
    const shared = `load ${load.toFixed(1)} beside this sweep's ${slots * threads} thread(s) on ${cpus} CPUs`;
    const basis = left.finished
      ? `${units}, scaled by ${left.factor.toFixed(2)} from the ${left.finished} finished runs, which cost nothing more`
      : busy > 1
        ? `${units}, times ${busy.toFixed(2)} for sharing the cores: ${shared}`
        : units;
    console.log(`estimated wall time: ${fmtSeconds(wall)} for ${jobs.length} runs, ${slots} at a time, ${threads} thread(s) each (${basis})`);
    if (own.has('dry-run')) return 0;

    const t0 = performance.now();
    const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'd2po.mjs');
    const outcomes = await executeJobs(jobs, {
      slots,
      bin,
      logDir: join(out, 'logs'),
      resumeArgs: ['--threads', String(threads)],
      onEvent: (line) => console.error(line),
    });
    // A folder here that is no run (an interrupted start, a stray file) costs a line, not the report.
    const curves = findRuns(out).flatMap((dir) => {
      try {
        return [readRunCurve(dir)];
      } catch (e) {
        console.error(`sweep: left out of the report: ${(e as Error).message}`);
        return [];
      }
    });
    if (curves.length) {
      const { markdown } = await writeReport(curves, out);
      await writeFileAtomic(join(out, 'report.md'), markdown + '\n');
    }
    const failed = outcomes.filter((o) => o.status === 'failed');
    const kept = outcomes.filter((o) => o.status === 'kept').length;
    console.log(`sweep done in ${fmtSeconds((performance.now() - t0) / 1000)}: ${outcomes.length - failed.length - kept} ran, ${kept} kept, ${failed.length} failed; report in ${join(out, 'report.md')}`);
    for (const f of failed) console.log(`  failed: ${f.job.name}: ${f.error}`);
    return failed.length ? 1 : 0;
  },
};
