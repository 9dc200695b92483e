import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { UsageError, chatTemplateOf, type Command } from '../command.js';
import { Tokenizer } from '../../model/index.js';
import { METHODS, setPath, validateConfig, ConfigError, type RunConfig } from '../../d2po/config.js';
import { PRESETS, resolveConfig } from '../../d2po/presets.js';
import { planBudget } from '../../d2po/budget.js';
import { describePlan, runLoop } from '../../d2po/loop.js';
import { progressBar } from '../progress.js';
import { RunStore } from '../../store/run-store.js';
import { baseModelOf, loadRunTask, looksLikePath } from '../../tasks/registry.js';
import { createGoldSource } from '../../gold/index.js';
import { resolveModelPath } from '../../util/model-registry.js';
import { redactSecrets } from '../../util/secrets.js';

/** Flags that set one config field each: flag -> [path, parser]. */
const FIELD_FLAGS: Record<string, [string, 'int' | 'num' | 'str' | 'initial']> = {
  method: ['method', 'str'],
  task: ['task', 'str'],
  model: ['model', 'str'],
  out: ['out', 'str'],
  seed: ['seed', 'int'],
  device: ['device', 'str'],
  threads: ['threads', 'int'],
  dtype: ['dtype', 'str'],
  'gold-budget': ['budget.gold', 'int'],
  'initial-gold': ['budget.initial', 'initial'],
  rounds: ['budget.rounds', 'int'],
  steps: ['budget.steps', 'int'],
  'batch-size': ['rollout.batchSize', 'int'],
  'samples-per-prompt': ['rollout.samplesPerPrompt', 'int'],
  'max-new-tokens': ['rollout.maxNewTokens', 'int'],
  discriminator: ['discriminator.kind', 'str'],
  'discriminator-model': ['discriminator.model', 'str'],
  pooling: ['discriminator.pooling', 'str'],
  selection: ['selection.strategy', 'str'],
  'policy-loss': ['policy.loss', 'str'],
  beta: ['policy.beta', 'num'],
  lr: ['policy.lr', 'num'],
  'eval-every': ['eval.every', 'int'],
  'checkpoint-every': ['checkpoint.every', 'int'],
};

const help = `usage: d2po run [--config FILE] [--method M] [--task NAME|PATH] [--model DIR] [flags]
       d2po run --resume DIR [--force] [--device D] [--threads N]

Runs one method of the D2PO paper's Table 1 (Algorithm 1 and its baselines), storing every
rollout pair, label, gold purchase, metric and checkpoint in DIR/run.db. The config is the
method's preset, then the --config file (JSON, any subset of the fields), then the flags.

methods:
${METHODS.map((m) => `  ${m.padEnd(17)} ${PRESETS[m].description}`).join('\n')}

options:
  --config FILE            JSON run config (fields as stored in run.db; see --print-config)
  --method M               one of the methods above (default d2po)
  --task NAME|PATH         built-in task (d2po tasks), a task module path, or a prompt file
                           (*.jsonl, {"prompt", "split"?} lines; no gold reward of its own:
                           give a gold source, docs/runs.md)
  --model DIR|NAME         policy base model folder or shipped model name (d2po models); a
                           built-in task defaults to its base model (d2po tasks), a custom
                           task to policy-base
  --chat-template          wrap each prompt in the model's chat template (tokenizer_config.json
                           chat_template) as one user turn, as an instruct model was trained
  --gold-budget P          total gold labels, initial offline set included
  --initial-gold N|all     gold labels of the initial offline set (warm start), counted in P
  --rounds T               online gold rounds (T_P)
  --steps N                online policy steps (silver batches; ignored by dpo and opo-gold)
  --batch-size B           prompts per online step
  --samples-per-prompt K   K > 2 pairs best against worst by the discriminator
  --max-new-tokens M       response length (default: the task's)
  --discriminator KIND     rm | rm-ensemble | rm-epinet | dpo | self | bow | none
  --discriminator-model M  reward-model backbone folder or shipped name (default: the policy
                           base model; it must share the policy's tokenizer)
  --pooling P              reward-model pooling: last | mean | sum
  --selection S            gold selection: confidence | random | disagreement | variance
  --policy-loss L          dpo | ipo | smoothed | ppo
  --beta B, --lr LR        policy DPO beta and learning rate
  --eval-every K           evaluate every K steps (and at the start and end)
  --checkpoint-every K     checkpoint every K steps (and after the warm start and at the end)
  --seed S                 seed of every random choice (default 0)
  --threads N              libtorch threads, at most this machine's CPUs (default: libtorch's
                           choice); allowed on resume
  --device D               cpu | cuda | cuda:N; allowed on resume (recorded in the run)
  --lora SPEC              train LoRA adapters (PEFT's) instead of the whole policy, e.g.
                           r=16,alpha=32,dropout=0.05,targets=q_proj,v_proj (GPT-2: targets=c_attn);
                           add discriminator=true for adapters on the reward model's backbone too.
                           The DPO reference is then the base without adapters; checkpoints hold
                           the adapters (d2po score --adapter, d2po export --merge)
  --dtype fp32|bf16        how model weights are held (default fp32; bf16 trains bf16 weights)
  --grad-checkpoint        recompute each policy layer in the backward pass instead of keeping
                           its activations: less memory for deep models, more time per step
  --set PATH=VALUE         any other field, e.g. --set silver.marginThreshold=0.5 (VALUE is JSON or text)
  --out DIR                run folder (default runs/<method>-<task>-seed<S>)
  --resume DIR             continue a killed run from its newest checkpoint that can be restored,
                           reusing its gold labels
  --force                  with --resume: resume although the run's recorded process is alive,
                           or restart from step 0 when no checkpoint can be restored
  --warm-cache DIR         share the initial set (its samples and gold labels) and the warm-
                           started policy and discriminator with other runs through DIR,
                           content-addressed: each is computed and bought once per seed and
                           settings, reused exactly (d2po sweep uses OUT/warm-starts)
  --print-config           print the resolved config as JSON and exit
  --no-progress            no progress bar
  --json                   print the final result as JSON

Gold labels are committed to the store before anything uses them; the ledger ends with exactly
P labels. Inspect a run with d2po runs show DIR.`;

/**
 * Set by `d2po serve` for the run it starts: the run ends when serve's end of its stdin closes
 * (serve killed, even by SIGKILL), so that no orphan trains on without its annotators; the run
 * resumes with `d2po serve --resume`.
 */
export const STOP_WITH_PARENT = 'D2PO_STOP_WITH_PARENT';

/** Flags that --resume accepts besides itself: output options, and where and how wide the run goes on. */
const RESUME_FLAGS = ['--resume', '--no-progress', '--json', '--force', '--device', '--threads'];

/** More libtorch threads than CPUs only adds contention (100000 would start thousands of threads). */
function checkThreads(threads: number, hint: string): void {
  const max = availableParallelism();
  if (threads > max) throw new UsageError(`threads: ${threads} is more than this machine's ${max} CPUs; give at most ${max}, or 0 for libtorch's default${hint}`);
}

function parseValue(flag: string, raw: string, kind: 'int' | 'num' | 'str' | 'initial'): unknown {
  if (kind === 'str') return raw;
  if (kind === 'initial' && raw === 'all') return 'all';
  const n = Number(raw);
  if (!Number.isFinite(n) || (kind !== 'num' && !Number.isInteger(n))) throw new UsageError(`--${flag}: expected ${kind === 'num' ? 'a number' : 'an integer'}, got '${raw}'`);
  return n;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${path}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`--config ${path}: not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * --lora r=16,alpha=32,dropout=0.05,targets=q_proj,v_proj[,discriminator=true]: the names after
 * targets= run up to the next key=value. The fields are checked with the rest of the config.
 */
export function parseLoraFlag(raw: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let last = '';
  for (const part of raw.split(',').map((p) => p.trim())) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (last !== 'targets' || part === '') throw new UsageError(`--lora ${raw}: '${part}' is not KEY=VALUE (only targets= takes several names)`);
      (out.targets as string[]).push(part);
      continue;
    }
    const [key, value] = [part.slice(0, eq), part.slice(eq + 1)];
    last = key;
    if (key === 'targets') out.targets = value === '' ? [] : [value];
    else if (key === 'discriminator') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`--lora ${raw}: discriminator= takes true or false, got '${value}'`);
      out.discriminator = value === 'true';
    } else if (key === 'r' || key === 'alpha' || key === 'dropout') out[key] = parseValue(`lora ${key}`, value, key === 'r' ? 'int' : 'num');
    else throw new UsageError(`--lora ${raw}: unknown key '${key}' (expected r, alpha, dropout, targets, discriminator)`);
  }
  return out;
}

/** The user's config (file, then flags) before the preset is applied. */
export function configFromArgs(argv: string[]): { user: Record<string, unknown>; source: string; values: Record<string, unknown> } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
    resume: { type: 'string' },
    set: { type: 'string', multiple: true },
    'print-config': { type: 'boolean' },
    'no-progress': { type: 'boolean' },
    json: { type: 'boolean' },
    force: { type: 'boolean' },
    lora: { type: 'string' },
    'chat-template': { type: 'boolean' },
    'grad-checkpoint': { type: 'boolean' },
    'warm-cache': { type: 'string' },
  };
  for (const f of Object.keys(FIELD_FLAGS)) options[f] = { type: 'string' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const user: Record<string, unknown> = values.config ? readConfigFile(values.config as string) : {};
  for (const [flag, [path, kind]] of Object.entries(FIELD_FLAGS)) {
    if (values[flag] !== undefined) setPath(user, path, parseValue(flag, values[flag] as string, kind));
  }
  if (values.lora !== undefined) user.lora = { ...(user.lora as object | undefined), ...parseLoraFlag(values.lora as string) };
  if (values['chat-template']) user.chatTemplate = true;
  if (values['grad-checkpoint']) user.gradCheckpoint = true;
  for (const s of (values.set as string[] | undefined) ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set ${s}: expected PATH=VALUE`);
    const raw = s.slice(eq + 1);
    let v: unknown = raw;
    try {
      v = JSON.parse(raw);
    } catch {
      // not JSON: keep the text
    }
    setPath(user, s.slice(0, eq), v);
  }
  if (user.method === undefined) user.method = 'd2po';
  if (user.model === undefined && typeof user.task === 'string') {
    try {
      user.model = baseModelOf(user.task);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  // absolute paths in the stored config, so that --resume works from any folder
  if (typeof user.model === 'string') user.model = resolve(resolveModelPath(user.model));
  const disc = user.discriminator as Record<string, unknown> | undefined;
  if (typeof disc?.model === 'string' && disc.model !== '') disc.model = resolve(resolveModelPath(disc.model));
  if (typeof user.task === 'string' && looksLikePath(user.task)) user.task = resolve(user.task);
  if (user.out === undefined && typeof user.task === 'string') {
    const task = basename(user.task as string).replace(/\.[^.]+$/, '');
    user.out = join('runs', `${user.method}-${task}-seed${user.seed ?? 0}`);
  }
  return { user, source: values.config ? (values.config as string) : 'flags', values };
}

/** An argument as a POSIX shell reads it back (quoted when it holds anything but safe characters). */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export const run: Command = {
  name: 'run',
  summary: 'run a Table 1 method (d2po, opo-gold, dpo, ...) or resume a killed run',
  help,
  async run(argv) {
    const { user, source, values } = configFromArgs(argv);
    let config: RunConfig;
    let dir: string;
    if (values.force && !values.resume) throw new UsageError('--force goes with --resume DIR');
    let resumeChanges: Partial<Pick<RunConfig, 'device' | 'threads'>> = {};
    if (values.resume) {
      if (argv.some((a) => a.startsWith('--') && !RESUME_FLAGS.includes(a.split('=')[0])))
        throw new UsageError(`--resume continues a run with its stored config; give no other config flags than ${RESUME_FLAGS.slice(1).join(', ')}`);
      dir = values.resume as string;
      const store = RunStore.open(dir, { readonly: true });
      const stored = store.getMeta<RunConfig>('config') ?? null;
      store.close();
      if (!stored) throw new UsageError(`--resume ${dir}: no run config stored there`);
      // the machine may differ from the one the run started on: where and how wide it runs may change
      resumeChanges = { ...(user.device !== undefined && { device: user.device as string }), ...(user.threads !== undefined && { threads: user.threads as number }) };
      for (const [k, v] of Object.entries(resumeChanges)) if (stored[k as keyof RunConfig] !== v) console.error(`resuming with ${k}: ${stored[k as keyof RunConfig]} -> ${v}`);
      try {
        config = validateConfig({ ...stored, ...resumeChanges }, `--resume ${dir}`);
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
    } else {
      if (user.task === undefined) throw new UsageError('--task is required (or give it in --config)');
      try {
        config = resolveConfig(user, source);
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
      dir = config.out;
    }
    checkThreads(config.threads, values.resume ? ' (give --threads N with --resume)' : '');
    if (values['print-config']) {
      console.log(JSON.stringify(redactSecrets(config), null, 2));
      return 0;
    }
    // a model without a chat template fails here, before the run folder is made
    if (config.chatTemplate) await chatTemplateOf(await Tokenizer.fromFile(join(config.model, 'tokenizer.json')));
    const task = await loadRunTask(config.task, { timeoutMs: config.taskTimeoutMs });
    const gold = createGoldSource(config.gold, { task, where: 'gold' });
    console.error(`${values.resume ? 'resuming' : 'starting'} ${describePlan(config, planBudget(config))} -> ${dir}`);
    const withParent = process.env[STOP_WITH_PARENT] === '1';
    const parentGone = () => {
      console.error(`${dir}: d2po serve is gone; stopping (d2po serve --resume ${dir} continues the run)`);
      process.exit(1);
    };
    if (withParent) process.stdin.on('close', parentGone).resume();
    try {
      const res = await runLoop(values.resume ? null : config, { dir, resume: Boolean(values.resume), warmCache: values['warm-cache'] ? resolve(values['warm-cache'] as string) : undefined, command: ['d2po', 'run', ...argv.map(shellQuote)].join(' '), force: Boolean(values.force), resumeChanges, task, gold, progress: !values['no-progress'], onProgress: progressBar() });
      if (values.json) console.log(JSON.stringify(res));
      else
        console.log(
          `done: ${dir} method=${config.method} steps=${res.steps} gold=${res.goldUsed}/${config.budget.gold} reward=${res.lastEval['eval/reward']?.toFixed(3) ?? '?'}`,
        );
      return 0;
    } finally {
      if (withParent) process.stdin.off('close', parentGone).destroy();
      await gold.close?.();
    }
  },
};
