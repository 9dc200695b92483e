import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, numberFlag, splitFlags, type Command } from '../command.js';
import { configFromArgs, STOP_WITH_PARENT } from './run.js';
import { resolveConfig } from '../../d2po/presets.js';
import { ConfigError, type RunConfig } from '../../d2po/config.js';
import { isOpen, RUN_DB, RunStore } from '../../store/run-store.js';
import { processAlive } from '../../util/process-alive.js';
import { loadTask } from '../../tasks/registry.js';
import { RewardFunctionGold } from '../../gold/reward-function.js';
import { ANNOTATOR_NAME, Annotators } from '../../serve/annotators.js';
import { LabelQueue, type ConflictRule } from '../../serve/label-queue.js';
import { startLabelServer } from '../../serve/http-server.js';
import { SimulatedCrowd } from '../../serve/simulated-crowd.js';

const help = `usage: d2po serve --annotators NAME,NAME... [options] RUN-FLAGS...
       d2po serve --resume DIR --annotators NAME,NAME... [options]
       d2po serve ... --simulate task-gold --annotators N [--delay-ms D]

People label for a run while it trains. Given the flags of 'd2po run' (task, model, method,
budget, --set, --out, ...), serve starts that run with people as its gold source (gold type
'people', the initial offline set included) and serves its gold requests: a labelling page, a
dashboard and a JSON API (docs/serve.md). Each answer is committed to the run's ledger before it
is acknowledged, and the run folds it in at its next step boundary; the policy keeps taking
silver steps meanwhile, at most budget.maxSilverAhead steps past the oldest open round (default
here: one round's steps). Serving ends when the run ends.
With --resume DIR: a run with people as its gold is continued (after a crash or a stop) and
served; any other stopped run has its open gold requests served, and 'd2po run --resume DIR'
continues it with the stored labels.
Prints one line per annotator:
  annotator NAME TOKEN URL
where URL opens the labelling page signed in. Tokens are stored hashed and work until the next
start, which issues new ones.

options:
  --resume DIR           a run folder to continue and serve (not while another process runs it)
  --annotators LIST|N    annotator names (letters, digits, . _ -), comma-separated; with
                         --simulate, how many simulated annotators (named sim-1, sim-2, ...)
  --host HOST            address to listen on (default 127.0.0.1: this machine only)
  --port PORT            port (default 8080; 0: any free port)
  --overlap 1|2          annotators per pair (default 1); with 2 their agreement is measured
  --conflict tie|third   overlap 2, when the two differ: store a tie (default) or ask a third
                         annotator (majority; none is a tie)
  --lease-ms MS          how long a shown pair waits for its annotator before it is offered
                         to another (default 600000)
  --withdraw-after-skips N
                         skips that withdraw a pair nobody has answered: it costs no budget and
                         the run asks for the next pair in its place (default 1)
  --undo-ms MS           how long the page holds a label, undoable, before sending it (default 5000)
  --simulate task-gold   a simulated crowd answers from the task's gold reward, over HTTP
  --delay-ms MS          the simulated annotators' time per pair (default 1000)
  --until-done           without training: stop once no gold request of the run is open
Any other flag goes to 'd2po run' (d2po run --help).`;

/** Flags of serve itself (value-taking unless listed as boolean); the rest start the run. */
const OWN = new Set(['resume', 'annotators', 'host', 'port', 'overlap', 'conflict', 'lease-ms', 'withdraw-after-skips', 'undo-ms', 'simulate', 'delay-ms', 'until-done']);
const BOOLEAN = new Set(['until-done']);
/** `d2po run` flags that serve decides */
const RESERVED = new Set(['json', 'no-progress', 'print-config', 'force']);

const CONFLICTS: ConflictRule[] = ['tie', 'third'];

/** The run serve starts or continues: `d2po run` arguments and the folder, or null to serve a stopped run's open requests only. */
function trainingPlan(runArgs: string[], resumeDir: string | undefined): { dir: string; args: string[] } | null {
  if (resumeDir !== undefined) {
    if (runArgs.length) throw new UsageError(`--resume continues a run with its stored config; give no run flags (got ${runArgs[0]})`);
    const store = RunStore.open(resumeDir, { readonly: true });
    try {
      const config = store.getMeta<{ gold?: { type?: string } }>('config');
      if (!config) throw new UsageError(`${resumeDir} holds no run config (an interrupted start?)`);
      const pid = store.getMeta<number>('pid');
      if (store.getMeta('status') === 'running' && pid !== undefined && processAlive(pid, store.getMeta<number | null>('pid_start')))
        throw new UsageError(`${resumeDir} is being run by process ${pid}; stop it first (serve continues the run itself)`);
      if (store.getMeta('status') === 'done' && !store.ledger().some(isOpen))
        throw new UsageError(`${resumeDir}: the run is done and every gold request is answered; nothing to label`);
      if (config.gold?.type !== 'people' || store.getMeta('status') === 'done') return null;
      return { dir: resumeDir, args: ['run', '--resume', resumeDir] };
    } finally {
      store.close();
    }
  }
  if (runArgs.length === 0) throw new UsageError('give the flags of the run to start (d2po run --help), or --resume DIR');
  const { user } = configFromArgs(runArgs);
  if (user.gold !== undefined && (user.gold as { type?: unknown }).type !== 'people')
    throw new UsageError(`serve's gold is people; the run flags set gold.type '${String((user.gold as { type?: unknown }).type)}' (drop it)`);
  if (user.task === undefined) throw new UsageError('--task is required');
  let c: RunConfig;
  try {
    c = resolveConfig({ ...user, gold: { type: 'people' } }, 'serve');
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  if (existsSync(join(c.out, RUN_DB))) throw new UsageError(`${c.out} already holds a run; continue it with d2po serve --resume ${c.out}`);
  const ahead = (user.budget as { maxSilverAhead?: number } | undefined)?.maxSilverAhead;
  // by default the policy may work through one round's steps while people label the last one
  const perRound = c.budget.rounds > 0 ? Math.max(1, Math.floor(c.budget.steps / c.budget.rounds)) : 0;
  return { dir: c.out, args: ['run', ...runArgs, '--set', 'gold={"type":"people"}', ...(ahead === undefined ? ['--set', `budget.maxSilverAhead=${perRound}`] : [])] };
}

/** The training process: `d2po run`, its output on ours; it stops when our end closes its stdin. */
function startTraining(args: string[]): { child: ChildProcess; exit: Promise<number> } {
  const bin = fileURLToPath(new URL('../../../bin/d2po.mjs', import.meta.url));
  const child = spawn(process.execPath, [bin, ...args, '--no-progress'], { stdio: ['pipe', 'inherit', 'inherit'], env: { ...process.env, [STOP_WITH_PARENT]: '1' } });
  const exit = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { child, exit };
}

/** Resolves once the training process has made the run's store and stored its config; rejects if it ends first. */
async function storeReady(dir: string, exit: Promise<number>): Promise<void> {
  let ended: number | null = null;
  void exit.then((code) => (ended = code));
  for (;;) {
    if (ended !== null) throw new Error(`the run ended (exit code ${ended}) before its store was ready; its messages are above`);
    if (existsSync(join(dir, RUN_DB))) {
      let s: RunStore | null = null;
      try {
        s = RunStore.open(dir, { readonly: true });
        if (s.getMeta('config') !== undefined && s.getMeta('status') === 'running') return;
      } catch {
        // the run is still writing its schema
      } finally {
        s?.close();
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const serve: Command = {
  name: 'serve',
  summary: 'people label for a run while it trains, in the browser (or a simulated crowd)',
  help,
  async run(argv) {
    const { own, rest } = splitFlags(argv, { own: OWN, booleans: BOOLEAN, reserved: RESERVED, why: 'serve sets it for the run it starts' });
    const flag = (name: string) => own.get(name) as string | undefined;
    if (!own.has('annotators')) throw new UsageError('give --annotators NAME,NAME (or a count, with --simulate)');
    const simulateFlag = flag('simulate');
    if (simulateFlag !== undefined && simulateFlag !== 'task-gold') throw new UsageError(`--simulate must be task-gold, got '${simulateFlag}'`);
    const simulate = simulateFlag !== undefined;
    const annotatorsFlag = flag('annotators')!;
    const names = simulate
      ? Array.from({ length: numberFlag('annotators', annotatorsFlag, 1, { integer: true, min: 1, max: 1000 }) }, (_, i) => `sim-${i + 1}`)
      : annotatorsFlag.split(',');
    for (const n of names) if (!ANNOTATOR_NAME.test(n)) throw new UsageError(`--annotators: '${n}' is not a name (letters, digits, . _ -, at most 64)`);
    if (new Set(names).size !== names.length) throw new UsageError(`--annotators: a name is given twice (${annotatorsFlag})`);
    const conflict = flag('conflict') ?? 'tie';
    if (!CONFLICTS.includes(conflict as ConflictRule)) throw new UsageError(`--conflict must be tie or third, got '${conflict}'`);
    const overlap = numberFlag('overlap', flag('overlap'), 1, { integer: true, min: 1, max: 2 });
    const port = numberFlag('port', flag('port'), 8080, { integer: true, min: 0, max: 65535 });
    const leaseMs = numberFlag('lease-ms', flag('lease-ms'), 600_000, { integer: true, min: 1000 });
    const withdrawAfterSkips = numberFlag('withdraw-after-skips', flag('withdraw-after-skips'), 1, { integer: true, min: 1 });
    const undoMs = numberFlag('undo-ms', flag('undo-ms'), 5000, { integer: true, min: 0, max: 60_000 });
    const delayMs = numberFlag('delay-ms', flag('delay-ms'), 1000, { integer: true, min: 0 });
    const host = flag('host') ?? '127.0.0.1';

    const plan = trainingPlan(rest, flag('resume'));
    const dir = plan?.dir ?? flag('resume')!;
    const training = plan ? startTraining(plan.args) : null;
    if (training) await storeReady(dir, training.exit);

    const store = RunStore.open(dir);
    try {
      const config = store.getMeta<{ task: string; taskTimeoutMs?: number }>('config')!;
      const gold = simulate ? new RewardFunctionGold(await loadTask(config.task, { timeoutMs: config.taskTimeoutMs })) : null;

      const annotators = new Annotators(store);
      const queue = new LabelQueue(store, { overlap, conflict: conflict as ConflictRule, leaseMs, withdrawAfterSkips });
      queue.releaseLeases();
      const tokens = annotators.issue(names);
      // listening for signals before the tokens are printed: whoever reads them may stop us at once
      let stop!: (why: string) => void;
      const stopped = new Promise<string>((resolve) => (stop = resolve));
      // a stop asked for (Ctrl-C reaches the run too) is a clean one, whatever the run's exit code then
      let signalled = false;
      const onSigint = () => ((signalled = true), stop('SIGINT'));
      const onSigterm = () => ((signalled = true), stop('SIGTERM'));
      process.on('SIGINT', onSigint).on('SIGTERM', onSigterm);
      void training?.exit.then((code) => stop(code === 0 ? 'the run is done' : `the run stopped with exit code ${code}`));
      const poll = own.has('until-done') && !training ? setInterval(() => queue.open() === 0 && stop('no open gold request left'), 250) : undefined;
      try {
        const server = await startLabelServer({ queue, annotators, runDir: dir, host, port, undoMs });
        console.error(`serving ${dir} at ${server.url}: ${queue.open()} open gold requests${training ? ', more as the run trains' : ''}; dashboard ${server.url}/dashboard`);
        for (const t of tokens) console.log(`annotator ${t.name} ${t.token} ${server.url}/#token=${t.token}`);

        const crowd = gold
          ? new SimulatedCrowd({
              url: server.url,
              members: tokens,
              gold,
              delayMs,
              onError: (name, e) => console.error(`simulated annotator ${name}: ${e.message}`),
            })
          : null;

        const why = await stopped;
        console.error(`stopping (${why}): finishing requests in flight`);
        await crowd?.close();
        await server.close();
        // the run stops with us; it resumes with d2po serve --resume
        if (training && training.child.exitCode === null) training.child.kill('SIGTERM');
        const code = training ? await training.exit : 0;
        const s = queue.stats();
        console.error(`stopped: ${s.answers} answers and ${s.skips} skips stored, ${s.open} gold requests open`);
        return code === 0 || signalled || !training ? 0 : 1;
      } finally {
        clearInterval(poll);
        process.off('SIGINT', onSigint).off('SIGTERM', onSigterm);
      }
    } finally {
      store.close();
    }
  },
};
