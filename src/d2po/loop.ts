import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { autocast, manualSeed, setNumThreads, trimHeap } from '../tensor/index.js';
import type { GoldSource } from '../gold/source.js';
import type { RunTask } from '../tasks/task.js';
import { isOpen, RunStore, type PairRecord } from '../store/run-store.js';
import type { ProgressListener } from '../util/progress-events.js';
import { Rng, hashSeed } from '../util/rng.js';
import { processAlive, processStartTime } from '../util/process-alive.js';
import { preferenceOptions, trainsOnGold, validateConfig, type RunConfig } from './config.js';
import { resolveMaxNewTokens } from './response-length.js';
import { describeSkipped, newestValidCheckpoint, type ResumePoint } from './resume-point.js';
import { planBudget, roundOfStep, type BudgetPlan } from './budget.js';
import { bestAndWorst, goldCandidateId, leastSeparated, meanMargin, silverLabel, type Candidate } from './selection.js';
import { buyGold, roundSelection, type GoldExample, type Replacement } from './gold-round.js';
import { examplesOf, holdOut, initialSet, warmDiscriminator, warmPolicy, warmStartPlan } from './warm-start.js';
import { WarmCache, contentKey, modelFingerprint } from './warm-cache.js';
import { S, buildComponents, checkpointFiles, type RunComponents } from './components.js';
import { RmDiscriminator, type Discriminator } from './discriminator.js';
import type { PrefExample } from './preference-trainer.js';
import { rollouts, type Rollout } from './rollout.js';
import { evaluate, agreement } from './evaluate.js';
import { restoreTrained, saveTrained } from './optimizer-state.js';
import { ensureDir } from '../util/ensure-dir.js';
import { redactCommandLine } from '../util/secrets.js';
import { describeThrown } from '../tasks/user-call.js';

export interface LoopOptions {
  /** the run folder (holds run.db and checkpoints/) */
  dir: string;
  /** continue the run in `dir` from its last checkpoint */
  resume?: boolean;
  /** on resume: a device or thread count other than the stored one (another machine), recorded in the run */
  resumeChanges?: Partial<Pick<RunConfig, 'device' | 'threads'>>;
  /**
   * folder of the shared warm-start cache (initial sets, their gold labels, warm-started
   * policies and discriminators, content-addressed): runs of one seed that share it compute
   * and buy each once. Kept in the run for its resume.
   */
  warmCache?: string;
  /** the command line that started the run (secrets redacted), shown by reports as the way to reproduce it */
  command?: string;
  /** the task and gold source (the CLI loads them from the config; tests inject them) */
  task: RunTask;
  gold: GoldSource;
  /** where progress goes after every step (the CLI draws it as a bar) */
  onProgress?: ProgressListener;
  /** false: no progress events (default true) */
  progress?: boolean;
  /** called after every completed step (tests use it to kill a run at a chosen point) */
  onStep?: (step: number) => void | Promise<void>;
  /** resume although the recorded process looks alive, or from step 0 when no checkpoint can be restored */
  force?: boolean;
  /** where warnings go (default stderr) */
  warn?: (message: string) => void;
}

export interface LoopResult {
  dir: string;
  steps: number;
  goldUsed: number;
  lastEval: Record<string, number>;
}

function pickPrompts(prompts: string[], n: number, rng: Rng): string[] {
  if (prompts.length === 0) throw new Error('the task has no training prompts');
  if (n <= prompts.length) return rng.shuffle(prompts).slice(0, n);
  return Array.from({ length: n }, () => prompts[rng.int(prompts.length)]);
}

/** Lets expired timers and I/O callbacks run (a setTimeout turn, then a setImmediate one). */
async function yieldToEventLoop(): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setImmediate(r));
}

/** A gold round requested and not yet folded in. */
interface PendingRound {
  r: number;
  /** the step that requested it */
  step: number;
  t0: number;
  /** settles when every answer is in the ledger (a source that buys them, or people through serve) */
  answered: Promise<void>;
  failed: unknown;
}

/** Everything a running loop holds. */
class Run {
  step = 0;
  roundsDone = 0;
  /** gold rounds requested and not yet folded in, oldest first */
  pending: PendingRound[] = [];
  incarnation = 0;
  lastEval: Record<string, number> = {};
  private trainPrompts: string[] = [];
  private devPrompts: string[] = [];
  private tokenizerJson = '';
  /** content fingerprints of the policy's and discriminator's starting weights (warm-start keys) */
  modelFingerprint = '';
  discFingerprint = '';
  cache: WarmCache | null = null;
  /** the policy's last training loss, for the progress line */
  lastLoss = NaN;
  private readonly disc: Discriminator | null;

  constructor(
    readonly c: RunConfig,
    readonly plan: BudgetPlan,
    readonly store: RunStore,
    readonly o: LoopOptions,
    readonly parts: RunComponents,
  ) {
    this.disc = parts.disc;
  }

  async init(): Promise<void> {
    this.trainPrompts = await this.o.task.prompts('train');
    this.devPrompts = await this.o.task.prompts('dev');
    this.tokenizerJson = await readFile(join(this.c.model, 'tokenizer.json'), 'utf8');
    this.modelFingerprint = modelFingerprint(this.c.model);
    this.discFingerprint = this.c.discriminator.model ? modelFingerprint(this.c.discriminator.model) : this.modelFingerprint;
  }

  get seed(): number {
    return this.c.seed;
  }

  /** A NaN or infinite loss, score or log-prob means the model diverged: stop, naming it, rather than train on garbage. */
  finite(what: string, value: number): number {
    if (!Number.isFinite(value)) throw new Error(`non-finite ${what} (${value}) at step ${this.step}; the run stops rather than train on it (lower the learning rate?)`);
    return value;
  }

  /** Runs model work under bf16 autocast when the config asks for it. */
  ac<T>(fn: () => T): T {
    return autocast(fn, { enabled: this.c.autocast });
  }

  private rolloutOpts(seed: number) {
    const r = this.c.rollout;
    return { k: r.samplesPerPrompt, maxNewTokens: this.parts.codec.maxNewTokens, minNewTokens: r.minNewTokens, temperature: r.temperature, topK: r.topK, topP: r.topP, seed };
  }

  /** Pairs (a, b) from rollouts with k = 2, ids unique to this incarnation of the run. */
  private pairsOf(rolls: Rollout[], tag: string, step: number, round: number, phase: 'initial' | 'online'): PairRecord[] {
    return rolls.map((r, i) => ({
      id: `${this.incarnation}-${tag}-${i}`,
      phase,
      step,
      round,
      prompt: r.prompt,
      a: r.samples[0].text,
      b: r.samples[1].text,
      promptIds: r.promptIds,
      aIds: r.samples[0].ids,
      bIds: r.samples[1].ids,
      scoresA: null,
      scoresB: null,
    }));
  }

  private recordGoldUses(gold: GoldExample[], target: 'policy' | 'discriminator', round: number, epochs: number): void {
    this.store.recordUses(
      gold
        .filter((g) => g.preference !== 'tie')
        .map((g) => ({ step: this.step, round, target, pairId: g.pair.id, chosen: g.preference as 'a' | 'b', source: 'gold' as const, epochs })),
    );
  }

  /**
   * D_0: gold on pairs from the initial policy, then the warm start of discriminator and
   * policy; each part comes from the shared warm-start cache when another run computed it.
   */
  async initialPhase(): Promise<void> {
    const { c, plan, store } = this;
    if (plan.initial > 0) {
      const t0 = Date.now();
      this.note(`warm start: the initial set of ${plan.initial} gold-labelled pairs`);
      const wp = warmStartPlan(c, { model: this.modelFingerprint, disc: this.discFingerprint, maxNewTokens: this.parts.codec.maxNewTokens, initial: plan.initial });
      const { gold, reused } = await initialSet({
        store,
        gold: this.o.gold,
        goldKey: wp.goldKey,
        cache: this.cache,
        spec: wp.spec,
        n: plan.initial,
        incarnation: this.incarnation,
        model: this.parts.ref,
        codec: this.parts.codec,
        trainPrompts: this.trainPrompts,
        ac: (fn) => this.ac(fn),
      });
      const decided = gold.filter((g) => g.preference !== 'tie');
      this.note(`warm start: ${gold.length} initial pairs (${decided.length} not tied, ${reused} of them from the cache) in ${secs(t0)}`);
      store.logMetrics(0, store.goldUsed(), {
        'round/gold': gold.length,
        'round/tie_share': (gold.length - decided.length) / Math.max(1, gold.length),
        'time/gold': (Date.now() - t0) / 1000,
        'warm/reused_labels': reused,
      });
      // pairs people withdrew (and their replacements) make a set of this run's own: its warm start is neither shared nor reused
      const withdrawn = store.ledger(0).filter((e) => e.withdrawnAt !== null).map((e) => e.pairId);
      const parts: Record<string, string> = { initialSet: withdrawn.length ? contentKey({ set: wp.setKey, withdrawn }) : wp.setKey };
      const split = holdOut(decided, c.init.holdout, this.seed);
      const train = examplesOf(split.train);
      const heldOut = examplesOf(split.heldOut);
      const s = { holdout: c.init.holdout, autocast: c.autocast, seed: this.seed };
      const inputs = { cache: withdrawn.length ? null : this.cache, train, heldOut, ac: this.ac.bind(this), finite: this.finite.bind(this) };
      if (c.init.warmPolicy || (this.disc && c.init.discriminatorEpochs > 0)) await this.evaluate(true);
      const warmDisc = async () => {
        if (!this.disc || !wp.discriminator) return;
        // a ties-aware reward model also learns from the initial ties (held out in the same share)
        const t1 = Date.now();
        this.note(`warm start: the discriminator, up to ${c.init.discriminatorEpochs} epochs on ${train.length} pairs`);
        const ties = c.discriminator.ties === 'davidson' ? holdOut(gold.filter((g) => g.preference === 'tie'), c.init.holdout, hashSeed(this.seed, 1)).train : [];
        const w = await warmDiscriminator({
          ...inputs,
          train: [...train, ...examplesOf(ties, { ties: true })],
          disc: this.disc,
          what: wp.discriminator,
          s: { ...s, maxEpochs: c.init.discriminatorEpochs },
        });
        this.note(`warm start: the discriminator ${w.reused ? 'from the cache' : `trained, ${w.metrics['warm/disc_epochs']} epochs kept`} in ${secs(t1)}`);
        this.recordGoldUses([...split.train, ...ties], 'discriminator', 0, w.metrics['warm/disc_epochs']);
        store.logMetrics(0, store.goldUsed(), { ...w.metrics, 'warm/disc_reused': w.reused ? 1 : 0, ...(ties.length && { 'warm/disc_ties': ties.length }) });
        parts.discriminator = w.key;
      };
      const warmPol = async () => {
        if (!wp.policy) return;
        const t1 = Date.now();
        this.note(`warm start: the policy, up to ${c.init.policyEpochs} DPO epochs on ${train.length} pairs`);
        const w = await warmPolicy({
          ...inputs,
          what: wp.policy,
          policy: this.parts.policy,
          baseModel: c.model,
          refLp: this.parts.refLp,
          opts: { ...preferenceOptions(c), lr: c.init.policyLr },
          batchSize: c.policy.batchSize,
          s: { ...s, maxEpochs: c.init.policyEpochs },
        });
        this.note(`warm start: the policy ${w.reused ? 'from the cache' : `trained, ${w.metrics['warm/policy_epochs']} epochs kept`} in ${secs(t1)}`);
        this.recordGoldUses(split.train, 'policy', 0, w.metrics['warm/policy_epochs']);
        store.logMetrics(0, store.goldUsed(), { ...w.metrics, 'warm/policy_reused': w.reused ? 1 : 0 });
        parts.policy = w.key;
      };
      if (c.discriminator.startFrom === 'warm-policy') {
        // the reward model starts from the warm policy: that warm start comes first
        await warmPol();
        if (!(this.disc instanceof RmDiscriminator)) throw new Error(`discriminator.startFrom 'warm-policy' needs a reward model, not '${this.disc?.kind ?? 'none'}'`);
        this.disc.startFrom(this.parts.policy);
        await warmDisc();
      } else {
        await warmDisc();
        await warmPol();
      }
      store.setMeta('warm_start', contentKey(parts));
      store.setMeta('warm_start_parts', parts);
    }
    await this.evaluate();
    await this.checkpoint();
  }

  /**
   * One online step of a discriminator-labelled method (Algorithm 1 lines 4-8): sample, score,
   * label and record the pairs, hand the batch to the policy updater; then the gold round if due.
   */
  async silverStep(): Promise<void> {
    const { c, plan, step, parts } = this;
    const disc = this.disc!;
    const round = roundOfStep(plan, step);
    const prompts = pickPrompts(this.trainPrompts, c.rollout.batchSize, new Rng(hashSeed(this.seed, S.prompts, step)));
    const t0 = performance.now();
    const model = c.rollout.source === 'policy' ? parts.policy : parts.ref;
    const rolls = this.ac(() => rollouts(model, parts.codec, prompts, this.rolloutOpts(hashSeed(this.seed, S.sample, step))));
    const t1 = performance.now();
    const promptIds = rolls.flatMap((r) => r.samples.map(() => r.promptIds));
    const responseIds = rolls.flatMap((r) => r.samples.map((s) => s.ids));
    const scores = this.ac(() => disc.score({ promptIds, responseIds }));
    const t2 = performance.now();
    scores.forEach((m, e) => m.forEach((v, j) => this.finite(`discriminator score (member ${e}, sample ${j})`, v)));
    const meanScores = responseIds.map((_, j) => scores.reduce((a, m) => a + m[j], 0) / scores.length);
    const k = c.rollout.samplesPerPrompt;
    const pairs: PairRecord[] = [];
    /** with selection.goldPair 'uncertain': each prompt's least separated pair, offered to gold */
    const goldCandidates: PairRecord[] = [];
    const silver: { pairId: string; preference: 'a' | 'b'; margin: number; skip: string | null }[] = [];
    const preferences: PrefExample[] = [];
    rolls.forEach((r, i) => {
      const member = (j: number) => scores.map((m) => m[i * k + j]);
      // the pair is best (a) against worst (b) by the discriminator; with k = 2 that is both samples
      const [best, worst] = bestAndWorst(meanScores.slice(i * k, (i + 1) * k));
      const id = `${this.incarnation}-s${step}-${i}`;
      const pair: PairRecord = {
        id,
        phase: 'online',
        step,
        round: round + 1,
        prompt: r.prompt,
        a: r.samples[best].text,
        b: r.samples[worst].text,
        promptIds: r.promptIds,
        aIds: r.samples[best].ids,
        bIds: r.samples[worst].ids,
        scoresA: member(best),
        scoresB: member(worst),
      };
      pairs.push(pair);
      if (c.selection.goldPair === 'uncertain') {
        const [u, v] = leastSeparated(meanScores.slice(i * k, (i + 1) * k), (x, y) => r.samples[x].text === r.samples[y].text);
        goldCandidates.push({ ...pair, id: goldCandidateId(id), a: r.samples[u].text, b: r.samples[v].text, aIds: r.samples[u].ids, bIds: r.samples[v].ids, scoresA: member(u), scoresB: member(v) });
      }
      const cand: Candidate = { id, margins: pair.scoresA!.map((s, m) => s - pair.scoresB![m]), identical: pair.a === pair.b };
      const d = silverLabel(cand, c.silver);
      silver.push({ pairId: id, preference: d.chosen, margin: meanMargin(cand), skip: d.skip ?? null });
      if (!d.skip) {
        const [ch, rj] = d.chosen === 'a' ? [pair.aIds, pair.bIds] : [pair.bIds, pair.aIds];
        // the Bradley-Terry probability the discriminator gives its own choice
        const confidence = c.silver.soft ? 1 / (1 + Math.exp(-Math.abs(meanMargin(cand)))) : undefined;
        preferences.push({ promptIds: pair.promptIds, chosenIds: ch, rejectedIds: rj, ...(confidence !== undefined && { confidence }) });
      }
    });
    this.store.addPairs([...pairs, ...goldCandidates], silver);
    const u = this.ac(() => parts.updater.silverStep({ promptIds, responseIds, scores: meanScores, preferences, pairs: pairs.length }, this.finite.bind(this)));
    const t3 = performance.now();
    if (parts.updater.learnsFromLabels) {
      const uses = silver
        .filter((s) => s.skip === null)
        .map((s) => ({ step, round: round + 1, target: 'policy' as const, pairId: s.pairId, chosen: s.preference, source: 'silver' as const, epochs: 1 }));
      // a discriminator that is the policy learns from the policy's silver updates too
      this.store.recordUses(disc.sharesPolicyWeights ? [...uses, ...uses.map((x) => ({ ...x, target: 'discriminator' as const }))] : uses);
    }
    this.store.logMetrics(step, this.store.goldUsed(), {
      ...u.metrics,
      'time/sample': (t1 - t0) / 1000,
      'time/score': (t2 - t1) / 1000,
      'time/policy': (t3 - t2) / 1000,
    });
    this.lastLoss = u.loss;
    if (round < plan.rounds && step === plan.roundEnds[round]) this.requestRound(round, c.selection.goldPair === 'uncertain' ? goldCandidates : pairs);
    await this.settleGold(step === plan.steps);
  }

  /**
   * Algorithm 1 line 10-11: select from the candidates and ask for their gold. The selection is
   * durable in the ledger before anything is asked; the answers may come later (people), and
   * the round is folded in by `settleGold` once they are in.
   */
  requestRound(r: number, lastBatch: PairRecord[], step = this.step): void {
    roundSelection(this.store, r + 1, () => this.parts.selectGold(r, lastBatch));
    // a withdrawn request's place goes to the next of the same step's candidates by the same rule
    const replace: Replacement = () =>
      this.parts.selectGold(
        r,
        this.store.pairsOfRound(r + 1).filter((x) => x.step === step),
        Infinity,
      );
    const p: PendingRound = { r, step, t0: performance.now(), failed: null, answered: null as unknown as Promise<void> };
    // a failure is kept for the moment the loop needs the round, so that it never goes unhandled
    p.answered = buyGold(this.store, this.o.gold, r + 1, this.step, undefined, replace).then(
      () => {},
      (e: unknown) => void (p.failed = e),
    );
    this.pending.push(p);
  }

  /**
   * Folds in, oldest first, every requested round whose answers are all in; waits for the oldest
   * open one when the policy is `budget.maxSilverAhead` steps past it, or when `final`.
   */
  async settleGold(final = false): Promise<void> {
    // the steps are synchronous compute: give the sources' timers and sockets their turn
    if (this.pending.length) await yieldToEventLoop();
    while (this.pending.length) {
      const p = this.pending[0];
      const open = this.store.ledger(p.r + 1).filter(isOpen).length;
      if (open > 0 && !final && this.step - p.step < this.c.budget.maxSilverAhead) return;
      // a stall worth a line: the policy was let run ahead, or people answer (a source that buys at once is just working)
      if (open > 0 && (this.c.budget.maxSilverAhead > 0 || this.o.gold.ledgerAnswers))
        this.note(`waiting for gold round ${p.r + 1}: ${open} of ${this.plan.goldPerRound[p.r]} answers to come`);
      const w0 = performance.now();
      await p.answered;
      if (p.failed !== null) throw p.failed;
      this.pending.shift();
      await this.foldRound(p, (performance.now() - w0) / 1000);
    }
  }

  /** A line for whoever watches the run (the CLI prints it above the bar, or into a sweep's log). */
  private note(message: string): void {
    if (this.o.progress !== false) this.o.onProgress?.({ phase: 'log', message });
  }

  /** Algorithm 1 lines 12-17, once round r's gold is in: update R and the policy. `waited`: seconds the loop stood still for it. */
  async foldRound(p: PendingRound, waited: number): Promise<void> {
    const c = this.c;
    const r = p.r;
    const t1 = performance.now();
    const gold = this.store.goldLabels([r + 1]).map((g) => ({ pair: g.pair, preference: g.preference }));
    const ex = examplesOf(gold);
    // the discriminator's accuracy on this round's gold, with the scores it had when they were selected
    const scored = gold.filter((g) => g.pair.scoresA && g.pair.scoresB);
    const metrics: Record<string, number> = {
      'round/gold': gold.length,
      'round/tie_share': (gold.length - ex.length) / Math.max(1, gold.length),
      'round/disc_acc': agreement(
        scored.map((g) => meanMargin({ id: '', identical: false, margins: g.pair.scoresA!.map((s, m) => s - g.pair.scoresB![m]) })),
        scored.map((g) => (g.preference === 'a' ? 1 : g.preference === 'b' ? -1 : 0)),
      ),
      // from the request to the fold; with late gold the loop stood still for `gold/waited` of it
      'time/gold': (t1 - p.t0) / 1000,
      ...(c.budget.maxSilverAhead > 0 && { 'gold/waited': waited, 'gold/steps_ahead': this.step - p.step }),
    };
    if (this.disc && trainsOnGold(this.disc.kind) && c.discriminator.online) {
      const goldForDisc = this.discriminatorGold(r, gold);
      const train = examplesOf(goldForDisc, { ties: c.discriminator.ties === 'davidson' });
      const disc = this.disc;
      metrics['round/disc_loss'] = this.ac(() => disc.train(train, c.discriminator.epochs, hashSeed(this.seed, S.disc, r)));
      metrics['round/disc_pairs'] = train.length;
      if (c.discriminator.ties === 'davidson') metrics['round/disc_ties'] = train.filter((x) => x.tie).length;
      if (train.length > 0) this.finite(`discriminator loss in gold round ${r + 1}`, metrics['round/disc_loss']);
      this.recordGoldUses(goldForDisc, 'discriminator', r + 1, c.discriminator.epochs);
    }
    const t2 = performance.now();
    this.trainPolicyOnGold(r, gold, ex, metrics);
    metrics['time/disc'] = (t2 - t1) / 1000;
    metrics['time/policy_gold'] = (performance.now() - t2) / 1000;
    this.store.logMetrics(this.step, this.store.goldUsed(), metrics);
    this.roundsDone = r + 1;
  }

  /** The policy's epochs on a round's gold (`ex`: its decided pairs), when it learns from gold; adds round/policy_loss to `metrics`. */
  private trainPolicyOnGold(r: number, gold: GoldExample[], ex: PrefExample[], metrics: Record<string, number>): void {
    const { c, parts } = this;
    if (c.policy.goldEpochs === 0 || ex.length === 0 || !parts.updater.trainOnGold) return;
    const s = this.ac(() => parts.updater.trainOnGold!(ex, c.policy.goldEpochs, c.policy.batchSize, new Rng(hashSeed(this.seed, S.policy, r))));
    metrics['round/policy_loss'] = this.finite(`policy loss in gold round ${r + 1}`, s.loss);
    this.lastLoss = s.loss;
    this.recordGoldUses(gold, 'policy', r + 1, c.policy.goldEpochs);
    // a discriminator that is the policy learns from the policy's gold epochs too
    if (this.disc?.sharesPolicyWeights) this.recordGoldUses(gold, 'discriminator', r + 1, c.policy.goldEpochs);
  }

  /**
   * The gold a round's discriminator update trains on: everything so far, the round's own, or
   * the round's own plus a fresh sample of earlier gold (replay: a cost that does not grow with
   * the initial set).
   */
  private discriminatorGold(r: number, round: GoldExample[]): GoldExample[] {
    const d = this.c.discriminator;
    if (d.trainOn === 'round') return round;
    // rounds up to this one: a later round answered early is folded in its own turn
    const all = this.store.goldLabels(Array.from({ length: r + 2 }, (_, i) => i)).map((g) => ({ pair: g.pair, preference: g.preference }));
    if (d.trainOn === 'all') return all;
    const fresh = new Set(round.map((g) => g.pair.id));
    const earlier = all.filter((g) => !fresh.has(g.pair.id) && (d.ties === 'davidson' || g.preference !== 'tie'));
    return [...round, ...new Rng(hashSeed(this.seed, S.replay, r)).shuffle(earlier).slice(0, d.replaySize)];
  }

  /** One round of OPO with gold (step = round + 1): fresh pairs from the current policy, all labelled by gold. */
  async goldOnlyStep(): Promise<void> {
    const { c, plan, step } = this;
    const r = step - 1;
    const t0 = performance.now();
    roundSelection(
      this.store,
      r + 1,
      () => {
        const prompts = pickPrompts(this.trainPrompts, plan.goldPerRound[r], new Rng(hashSeed(this.seed, S.prompts, step)));
        const model = c.rollout.source === 'policy' ? this.parts.policy : this.parts.ref;
        const rolls = this.ac(() => rollouts(model, this.parts.codec, prompts, this.rolloutOpts(hashSeed(this.seed, S.sample, step))));
        return this.pairsOf(rolls, `s${step}`, step, r + 1, 'online');
      },
      true,
    );
    const t1 = performance.now();
    // in place of withdrawn requests: fresh samples on further prompts, drawn in turn
    const replace: Replacement = (n) => {
      const turn = this.store.ledger(r + 1).filter((e) => e.replaces !== null).length + 1;
      const prompts = pickPrompts(this.trainPrompts, n, new Rng(hashSeed(this.seed, S.prompts, step, turn)));
      const model = c.rollout.source === 'policy' ? this.parts.policy : this.parts.ref;
      const rolls = this.ac(() => rollouts(model, this.parts.codec, prompts, this.rolloutOpts(hashSeed(this.seed, S.sample, step, turn))));
      return this.pairsOf(rolls, `s${step}x${turn}`, step, r + 1, 'online');
    };
    const gold = await buyGold(this.store, this.o.gold, r + 1, step, undefined, replace);
    const t2 = performance.now();
    const ex = examplesOf(gold);
    const metrics: Record<string, number> = {
      'round/gold': gold.length,
      'round/tie_share': (gold.length - ex.length) / Math.max(1, gold.length),
      'time/sample': (t1 - t0) / 1000,
      'time/gold': (t2 - t1) / 1000,
    };
    this.trainPolicyOnGold(r, gold, ex, metrics);
    metrics['time/policy'] = (performance.now() - t2) / 1000;
    this.store.logMetrics(step, this.store.goldUsed(), metrics);
    this.roundsDone = r + 1;
  }

  /**
   * Evaluates the policy (and discriminator). `base` = before the warm start: logged as base/*
   * (the initial policy's numbers), so that eval/* always describes the trained policy.
   */
  async evaluate(base = false): Promise<void> {
    const c = this.c;
    const t0 = performance.now();
    const m = await evaluate(this.parts.policy, this.parts.refLp, this.disc, this.parts.codec, this.o.task, this.devPrompts, this.trainPrompts, {
      prompts: c.eval.prompts,
      temperature: c.eval.temperature,
      topP: c.eval.topP,
      accuracyPairs: c.eval.accuracyPairs,
      maxNewTokens: this.parts.codec.maxNewTokens,
      rolloutTemperature: c.rollout.temperature,
      rolloutTopK: c.rollout.topK,
      rolloutTopP: c.rollout.topP,
      beta: c.policy.beta,
      freeGold: !this.o.gold.paid,
      seed: this.seed,
      autocast: c.autocast,
    });
    if (m['eval/kl'] !== undefined) this.finite("log-prob ratio of the policy's samples against the initial policy (eval/kl)", m['eval/kl']);
    if (base) {
      this.store.logMetrics(this.step, this.store.goldUsed(), Object.fromEntries(Object.entries(m).map(([k, v]) => [k.replace(/^eval\//, 'base/'), v])));
      return;
    }
    this.lastEval = m;
    this.store.logMetrics(this.step, this.store.goldUsed(), { ...m, 'time/eval': (performance.now() - t0) / 1000 });
  }

  /** Policy, optimizer and discriminator to checkpoints/step-N (written aside, then renamed), then indexed. */
  async checkpoint(): Promise<void> {
    const name = `step-${String(this.step).padStart(6, '0')}`;
    const root = join(this.o.dir, 'checkpoints');
    const final = join(root, name);
    const tmp = `${final}.tmp`;
    try {
      await rm(tmp, { recursive: true, force: true });
      await saveTrained(join(tmp, 'policy'), this.parts.policy, { baseModel: this.c.model, tokenizerJson: this.tokenizerJson });
      ensureDir(tmp);
      await this.parts.updater.save(tmp);
      if (this.disc) {
        ensureDir(join(tmp, 'discriminator'));
        await this.disc.save(join(tmp, 'discriminator'));
      }
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
    } catch (e) {
      // the cut folder goes, so that a full disk has room to record the failure
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw new Error(`cannot write checkpoint ${final}: ${(e as Error).message}`);
    }
    this.store.addCheckpoint({ step: this.step, roundsDone: this.roundsDone, goldUsed: this.store.goldUsed(), path: join('checkpoints', name), state: { incarnation: this.incarnation } });
    // keep the two newest checkpoint folders (the index keeps every row)
    const all = this.store.checkpoints().filter((x) => x.step !== this.step && existsSync(join(this.o.dir, x.path)));
    for (const old of all.slice(0, Math.max(0, all.length - 1))) await rm(join(this.o.dir, old.path), { recursive: true, force: true });
  }

  async restore(path: string): Promise<void> {
    const dir = join(this.o.dir, path);
    await restoreTrained(join(dir, 'policy'), this.parts.policy);
    await this.parts.updater.load(dir);
    if (this.disc) await this.disc.load(join(dir, 'discriminator'));
  }

  private progressFields(): Record<string, string | number> {
    const f: Record<string, string | number> = { gold: `${this.store.goldUsed()}/${this.plan.goldTotal}` };
    if (this.lastEval['eval/reward'] !== undefined) f.reward = this.lastEval['eval/reward'];
    if (Number.isFinite(this.lastLoss)) f.loss = this.lastLoss;
    return f;
  }

  async loop(): Promise<void> {
    const { c, plan } = this;
    const progress = this.o.progress === false ? undefined : this.o.onProgress;
    progress?.({ phase: 'start', label: c.method, total: Math.max(1, plan.steps), step: this.step });
    while (this.step < plan.steps) {
      this.step++;
      if (c.rollout.labeller === 'gold') await this.goldOnlyStep();
      else await this.silverStep();
      const last = this.step === plan.steps;
      if (!last && c.eval.every > 0 && this.step % c.eval.every === 0) await this.evaluate();
      if (last) await this.evaluate();
      if (last || (c.checkpoint.every > 0 && this.step % c.checkpoint.every === 0)) await this.checkpoint();
      // a step frees its logits and activations; without this glibc keeps their peak mapped
      trimHeap();
      this.store.setMeta('step', this.step);
      this.store.setMeta('updated_at', Date.now());
      progress?.({ phase: 'step', step: this.step, fields: this.progressFields() });
      await this.o.onStep?.(this.step);
    }
    progress?.({ phase: 'done', fields: this.progressFields() });
  }
}

/** Seconds-free numbers on what a run will do, for the CLI's opening line. */
export function describePlan(c: RunConfig, plan: BudgetPlan): string {
  const rounds = plan.rounds ? `, ${plan.rounds} gold rounds of ${plan.goldPerRound[0]}${plan.goldPerRound.some((g) => g !== plan.goldPerRound[0]) ? ' (uneven)' : ''}` : '';
  return `${c.method} on ${c.task}: gold budget P=${plan.goldTotal} (initial ${plan.initial}${rounds}), ${plan.steps} steps`;
}

/**
 * Runs (or, with `resume`, continues) the D2PO loop of Algorithm 1 for any Table 1 method.
 * `config` is the resolved config of a new run; on resume it is read from the run's store.
 */
export async function runLoop(config: RunConfig | null, o: LoopOptions): Promise<LoopResult> {
  const warn = o.warn ?? ((m: string) => void process.stderr.write(`${m}\n`));
  if (!o.resume && !config) throw new Error('runLoop: a new run needs a config');
  // before the store is created, so that a run that cannot work leaves no run folder behind
  const fresh = o.resume ? null : await resolveMaxNewTokens(config!, o.task);
  const store = RunStore.open(o.dir, { create: !o.resume });
  let c: RunConfig;
  let from: ResumePoint | null = null;
  if (o.resume) {
    try {
      ({ c, from } = await resumeChecks(store, o, warn));
    } catch (e) {
      store.close();
      throw e;
    }
    c = recordResumeChanges(store, c, o.resumeChanges ?? {});
  } else {
    if (store.getMeta('config') !== undefined) {
      store.close();
      throw new Error(`${o.dir} already holds a run; continue it with --resume or choose another --out`);
    }
    c = fresh!;
    store.setMeta('config', c);
    store.setMeta('started_at', Date.now());
    if (o.command) store.setMeta('command', redactCommandLine(o.command));
  }
  const plan = planBudget(c);
  const incarnation = (store.getMeta<number>('incarnation') ?? -1) + 1;
  store.setMeta('incarnation', incarnation);
  store.setMeta('status', 'running');
  store.setMeta('error', '');
  store.setMeta('pid', process.pid);
  store.setMeta('pid_start', processStartTime(process.pid));
  store.setMeta('steps', plan.steps);
  store.setMeta('updated_at', Date.now());
  let parts: RunComponents | null = null;
  try {
    const cacheDir = o.resume ? (store.getMeta<string>('warm_cache') ?? o.warmCache) : o.warmCache;
    if (!o.resume && o.warmCache) store.setMeta('warm_cache', o.warmCache);
    if (c.threads > 0) setNumThreads(c.threads);
    manualSeed(c.seed);
    parts = await buildComponents(c, store, plan);
    const run = new Run(c, plan, store, o, parts);
    run.incarnation = incarnation;
    if (cacheDir) run.cache = new WarmCache(cacheDir, warn);
    await run.init();
    const ckpt = from?.checkpoint;
    if (ckpt) {
      await run.restore(ckpt.path);
      run.step = ckpt.step;
      run.roundsDone = ckpt.roundsDone;
      store.truncateAfter(ckpt.step);
      // rounds requested before the checkpoint and not folded in: their selection is in the
      // ledger (kept, never bought twice); what is still open is asked again
      for (let r = run.roundsDone; r < plan.rounds && c.rollout.labeller === 'discriminator' && plan.roundEnds[r] <= ckpt.step; r++) run.requestRound(r, [], plan.roundEnds[r]);
      run.lastEval = store.lastMetrics('eval/')?.values ?? {};
    } else {
      store.truncateAfter(-1);
      await run.initialPhase();
    }
    await run.loop();
    const used = store.goldUsed();
    // a request people withdrew costs nothing; one no candidate was left to replace leaves its round short
    const ledger = store.ledger();
    const short = ledger.filter((e) => e.withdrawnAt !== null).length - ledger.filter((e) => e.replaces !== null).length;
    if (used !== plan.goldTotal - short)
      throw new Error(`gold ledger holds ${used} labels at the end, expected exactly P=${plan.goldTotal}${short ? ` less ${short} withdrawn and not replaced` : ''}`);
    store.setMeta('status', 'done');
    store.setMeta('updated_at', Date.now());
    return { dir: o.dir, steps: plan.steps, goldUsed: used, lastEval: run.lastEval };
  } catch (e) {
    try {
      store.setMeta('status', 'failed');
      store.setMeta('error', e instanceof Error ? e.message : describeThrown(e));
    } catch (recording) {
      // a full disk can refuse the status too; the cause is still the error to report
      throw new Error(`${e instanceof Error ? e.message : describeThrown(e)} (and the run's failure could not be recorded: ${(recording as Error).message})`);
    }
    throw e;
  } finally {
    parts?.dispose();
    store.close();
  }
}

/**
 * What a resume may do: the stored config (its response length resolved), whether another
 * process still runs it (a reused pid is told apart by its start time), and the newest
 * checkpoint that can be restored. Falling back past a broken checkpoint is said aloud;
 * restarting from step 0 when checkpoints existed needs --force.
 */
async function resumeChecks(store: RunStore, o: LoopOptions, warn: (m: string) => void): Promise<{ c: RunConfig; from: ResumePoint }> {
  const stored = store.getMeta('config');
  if (!stored) throw new Error(`${o.dir} holds no run config to resume`);
  let c = validateConfig(stored, `${o.dir}/run.db`);
  if (store.getMeta('status') === 'done') throw new Error(`run ${o.dir} is already done`);
  const pid = store.getMeta<number>('pid');
  const pidStart = store.getMeta<number | null>('pid_start');
  if (store.getMeta('status') === 'running' && pid !== undefined && pid !== process.pid && processAlive(pid, pidStart)) {
    const unsure = pidStart === undefined || pidStart === null ? ' (its start time was not recorded, so a reused pid cannot be told apart)' : '';
    if (!o.force) throw new Error(`run ${o.dir} is still running (process ${pid})${unsure}; if no process runs it any more, resume with --force`);
    warn(`warning: ${o.dir} is marked running by process ${pid}, which is alive; resuming anyway (--force). If that process still runs this run, both now write the same run folder: stop one.`);
  }
  const resolved = await resolveMaxNewTokens(c, o.task);
  if (resolved !== c) store.setMeta('config', (c = resolved));
  const records = store.checkpoints();
  const from = await newestValidCheckpoint(o.dir, records, checkpointFiles(c));
  if (from.checkpoint && from.skipped.length)
    warn(`warning: resuming ${o.dir} from ${from.checkpoint.path} (step ${from.checkpoint.step}), the newest checkpoint that can be restored; passed over ${describeSkipped(from.skipped)}`);
  if (!from.checkpoint && records.length > 0) {
    const why = describeSkipped(from.skipped);
    if (!o.force)
      throw new Error(`run ${o.dir}: no checkpoint can be restored (${why}); resuming would restart it from step 0. Give --force to restart from step 0 (gold labels already bought are reused, none is bought again)`);
    warn(`warning: no checkpoint of ${o.dir} can be restored (${why}); restarting from step 0 (--force); gold labels already bought are reused`);
  }
  return { c, from };
}

/** Applies resume-time changes to the stored config, so that it says what runs now, and logs each in meta resume_changes. */
function recordResumeChanges(store: RunStore, c: RunConfig, changes: Partial<Pick<RunConfig, 'device' | 'threads'>>): RunConfig {
  const changed = (Object.keys(changes) as (keyof typeof changes)[]).filter((k) => changes[k] !== c[k]);
  if (changed.length === 0) return c;
  const step = store.getMeta<number>('step') ?? 0;
  const log = changed.map((field) => ({ field, from: c[field], to: changes[field], step, at: Date.now() }));
  const next = { ...c, ...changes };
  store.setMeta('resume_changes', [...(store.getMeta<unknown[]>('resume_changes') ?? []), ...log]);
  store.setMeta('config', next);
  return next;
}

/** Seconds since `t0` (a Date.now()), for the run's notes. */
function secs(t0: number): string {
  return `${Math.round((Date.now() - t0) / 1000)} s`;
}
