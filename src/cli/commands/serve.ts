import { UsageError, numberFlag, parseFlags, type Command } from '../command.js';
import { RunStore } from '../../store/run-store.js';
import { processAlive } from '../../util/process-alive.js';
import { loadTask } from '../../tasks/registry.js';
import { RewardFunctionGold } from '../../gold/reward-function.js';
import { ANNOTATOR_NAME, Annotators } from '../../serve/annotators.js';
import { LabelQueue, type ConflictRule } from '../../serve/label-queue.js';
import { startLabelServer } from '../../serve/http-server.js';
import { SimulatedCrowd } from '../../serve/simulated-crowd.js';

const help = `usage: d2po serve --resume DIR --annotators NAME,NAME... [options]
       d2po serve --resume DIR --simulate task-gold --annotators N [--delay-ms D] [options]

Serves a run folder's open gold requests (ledger entries with no answer, as a killed run left
them) to people: a labelling page, a dashboard and a JSON API (docs/serve.md). Each answer is
committed to the run's ledger before it is acknowledged. Prints one line per annotator:
  annotator NAME TOKEN URL
where URL opens the labelling page signed in. Tokens are stored hashed and work until the next
start, which issues new ones. Training while people label (the run asking for gold and
waiting for it) arrives with the loop's support for late gold; today serve labels a stopped
run, which 'd2po run --resume DIR' then continues with the stored labels.

options:
  --resume DIR           the run folder (not while its run is running)
  --annotators LIST|N    annotator names (letters, digits, . _ -), comma-separated; with
                         --simulate, how many simulated annotators (named sim-1, sim-2, ...)
  --host HOST            address to listen on (default 127.0.0.1: this machine only)
  --port PORT            port (default 8080; 0: any free port)
  --overlap 1|2          annotators per pair (default 1); with 2 their agreement is measured
  --conflict tie|third   overlap 2, when the two differ: store a tie (default) or ask a third
                         annotator (majority; none is a tie)
  --lease-ms MS          how long a shown pair waits for its annotator before it is offered
                         to another (default 600000)
  --undo-ms MS           how long the page holds a label, undoable, before sending it (default 5000)
  --simulate task-gold   a simulated crowd answers from the task's gold reward, over HTTP
  --delay-ms MS          the simulated annotators' time per pair (default 1000)
  --until-done           stop once no gold request of the run is open`;

const CONFLICTS: ConflictRule[] = ['tie', 'third'];

export const serve: Command = {
  name: 'serve',
  summary: 'people label a run\'s open gold requests in the browser (or a simulated crowd)',
  help,
  async run(argv) {
    const { values, positionals } = parseFlags({
      args: argv,
      allowPositionals: true,
      options: {
        resume: { type: 'string' },
        annotators: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        overlap: { type: 'string' },
        conflict: { type: 'string', default: 'tie' },
        'lease-ms': { type: 'string' },
        'undo-ms': { type: 'string' },
        simulate: { type: 'string' },
        'delay-ms': { type: 'string' },
        'until-done': { type: 'boolean', default: false },
      },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const dir = values.resume;
    if (!dir) throw new UsageError('give the run folder: --resume DIR');
    if (!values.annotators) throw new UsageError('give --annotators NAME,NAME (or a count, with --simulate)');
    if (values.simulate !== undefined && values.simulate !== 'task-gold') throw new UsageError(`--simulate must be task-gold, got '${values.simulate}'`);
    const simulate = values.simulate !== undefined;
    const names = simulate
      ? Array.from({ length: numberFlag('annotators', values.annotators, 1, { integer: true, min: 1, max: 1000 }) }, (_, i) => `sim-${i + 1}`)
      : values.annotators.split(',');
    for (const n of names) if (!ANNOTATOR_NAME.test(n)) throw new UsageError(`--annotators: '${n}' is not a name (letters, digits, . _ -, at most 64)`);
    if (new Set(names).size !== names.length) throw new UsageError(`--annotators: a name is given twice (${values.annotators})`);
    if (!CONFLICTS.includes(values.conflict as ConflictRule)) throw new UsageError(`--conflict must be tie or third, got '${values.conflict}'`);
    const overlap = numberFlag('overlap', values.overlap, 1, { integer: true, min: 1, max: 2 });
    const port = numberFlag('port', values.port, 8080, { integer: true, min: 0, max: 65535 });
    const leaseMs = numberFlag('lease-ms', values['lease-ms'], 600_000, { integer: true, min: 1000 });
    const undoMs = numberFlag('undo-ms', values['undo-ms'], 5000, { integer: true, min: 0, max: 60_000 });
    const delayMs = numberFlag('delay-ms', values['delay-ms'], 1000, { integer: true, min: 0 });

    const store = RunStore.open(dir);
    try {
      const pid = store.getMeta<number>('pid');
      if (store.getMeta('status') === 'running' && pid !== undefined && processAlive(pid, store.getMeta<number | null>('pid_start'))) {
        throw new UsageError(`${dir} is being run by process ${pid}; serve labels a stopped run's open requests (serving while training comes with the loop)`);
      }
      const config = store.getMeta<{ task: string; taskTimeoutMs?: number }>('config');
      if (!config) throw new UsageError(`${dir} holds no run config (an interrupted start?)`);
      const gold = simulate ? new RewardFunctionGold(await loadTask(config.task, { timeoutMs: config.taskTimeoutMs })) : null;

      const annotators = new Annotators(store);
      const queue = new LabelQueue(store, { overlap, conflict: values.conflict as ConflictRule, leaseMs });
      queue.releaseLeases();
      const tokens = annotators.issue(names);
      // listening for signals before the tokens are printed: whoever reads them may stop us at once
      let stop!: (why: string) => void;
      const stopped = new Promise<string>((resolve) => (stop = resolve));
      const onSigint = () => stop('SIGINT');
      const onSigterm = () => stop('SIGTERM');
      process.on('SIGINT', onSigint).on('SIGTERM', onSigterm);
      const poll = values['until-done'] ? setInterval(() => queue.open() === 0 && stop('no open gold request left'), 250) : undefined;
      try {
        const server = await startLabelServer({ queue, annotators, runDir: dir, host: values.host, port, undoMs });
        console.error(`serving ${dir} at ${server.url}: ${queue.open()} open gold requests; dashboard ${server.url}/dashboard`);
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

        console.error(`stopping (${await stopped}): finishing requests in flight`);
        await crowd?.close();
        await server.close();
        const s = queue.stats();
        console.error(`stopped: ${s.answers} answers and ${s.skips} skips stored, ${s.open} gold requests open`);
        return 0;
      } finally {
        clearInterval(poll);
        process.off('SIGINT', onSigint).off('SIGTERM', onSigterm);
      }
    } finally {
      store.close();
    }
  },
};
