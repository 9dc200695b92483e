import { join, resolve } from 'node:path';
import { UsageError, numberFlag, parseFlags, type Command } from '../command.js';
import { ConfigError, type Method } from '../../d2po/config.js';
import { presetConfig, resolveConfig } from '../../d2po/presets.js';
import { runLoop } from '../../d2po/loop.js';
import { progressBar } from '../progress.js';
import { loadTask } from '../../tasks/registry.js';
import { createGoldSource } from '../../gold/index.js';
import { resolveModelPath } from '../../util/model-registry.js';
import { MAX_SEED } from '../../util/rng.js';
import { byGoldUsed, goldTable, readRunCurve } from '../../report/curves.js';

/**
 * Sizes chosen so that both runs fit in 10 minutes on a 2-core CPU (measured in RESULTS.md);
 * everything else is the methods' presets, the same for both: the demo reports, it does not tune.
 */
const DEMO = { gold: 128, initial: 64, rounds: 4, steps: 48, evalPrompts: 64 };

const METHODS: Method[] = ['d2po', 'opo-gold'];

const help = `usage: d2po demo [--out DIR] [--seed S] [--model DIR|NAME] [--gold-budget P] [--steps N]

Runs D2PO and OPO-gold (online DPO on gold labels only) at the same gold budget on the Word
Collector task with the shipped policy base, then prints dev gold reward against gold labels
used for both, and a last line:

  summary: d2po=X opo-gold=Y gold=P wall=Ss

X and Y are the final mean dev gold rewards (distinct target words per response). Both runs use
the presets of d2po run --help with a small budget sized to finish in about 10 minutes on 2 cores;
the run folders (OUT/d2po, OUT/opo-gold) hold every rollout, label and metric
(inspect them with d2po runs show DIR --json).

options:
  --out DIR          where the two run folders go (default runs/demo-<time>)
  --seed S           seed of both runs (default 0)
  --model DIR|NAME   policy base (default policy-base)
  --gold-budget P    total gold labels per method, initial set included (default ${DEMO.gold})
  --initial-gold N   of which in the initial offline set (default ${DEMO.initial})
  --rounds T         online gold rounds (default ${DEMO.rounds})
  --steps N          D2PO silver steps (default ${DEMO.steps})
  --no-progress      no progress bars`;

export const demo: Command = {
  name: 'demo',
  summary: 'D2PO against OPO-gold at one gold budget on Word Collector (npm start)',
  help,
  async run(argv) {
    const { values } = parseFlags({
      args: argv,
      options: {
        out: { type: 'string' },
        seed: { type: 'string' },
        model: { type: 'string' },
        'gold-budget': { type: 'string' },
        'initial-gold': { type: 'string' },
        rounds: { type: 'string' },
        steps: { type: 'string' },
        'no-progress': { type: 'boolean' },
      },
      strict: true,
    });
    const int = (flag: 'gold-budget' | 'initial-gold' | 'rounds' | 'steps', dflt: number) => numberFlag(flag, values[flag], dflt, { integer: true, min: 0 });
    const seed = numberFlag('seed', values.seed, 0, { integer: true, min: 0, max: MAX_SEED });
    const budget = { gold: int('gold-budget', DEMO.gold), initial: int('initial-gold', DEMO.initial), rounds: int('rounds', DEMO.rounds), steps: int('steps', DEMO.steps) };
    const root = resolve((values.out as string | undefined) ?? join('runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`));
    const model = resolve(resolveModelPath((values.model as string | undefined) ?? 'policy-base'));
    const task = await loadTask('word-collector');
    const t0 = performance.now();
    const finals: Record<string, number> = {};
    for (const method of METHODS) {
      let config;
      try {
        config = resolveConfig(
          {
            method,
            task: 'word-collector',
            model,
            seed,
            out: join(root, method),
            budget,
            // evaluate after every gold round, so that both curves have the same gold points
            // (a gold-labelled method takes one loop step per round; d2po takes steps/rounds)
            eval: { every: presetConfig(method).rollout.labeller === 'gold' ? 1 : Math.max(1, Math.floor(budget.steps / Math.max(1, budget.rounds))), prompts: DEMO.evalPrompts },
          },
          'd2po demo',
        );
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
      console.error(`\n${method}: gold budget ${budget.gold} (initial ${budget.initial}), run folder ${config.out}`);
      const gold = createGoldSource(config.gold, { task, where: 'gold' });
      try {
        const res = await runLoop(config, { dir: config.out, task, gold, progress: !values['no-progress'], onProgress: progressBar() });
        finals[method] = res.lastEval['eval/reward'];
      } finally {
        await gold.close?.();
      }
    }
    const wall = (performance.now() - t0) / 1000;
    const curves = METHODS.map((m) => readRunCurve(join(root, m)));
    console.log('\nmean dev gold reward (distinct Word Collector words per response) by gold labels used:\n');
    console.log(goldTable(byGoldUsed(curves, 'eval/reward')));
    console.log(`\nrun folders: ${root}`);
    console.log(`summary: d2po=${finals['d2po'].toFixed(2)} opo-gold=${finals['opo-gold'].toFixed(2)} gold=${budget.gold} wall=${wall.toFixed(0)}s`);
    return 0;
  },
};
