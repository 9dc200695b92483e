import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GoldSource } from '../gold/source.js';
import type { CausalLM } from '../model/index.js';
import { isOpen, type GoldAnswer, type PairRecord, type RunStore } from '../store/run-store.js';
import { redactSecrets } from '../util/secrets.js';
import { Rng, hashSeed } from '../util/rng.js';
import { loraSpecOf, preferenceOptions, trainsOnGold, type RunConfig } from './config.js';
import type { Discriminator } from './discriminator.js';
import { buyGold, roundSelection, type GoldExample } from './gold-round.js';
import { INITIAL_CHUNK, chunksFor, sampleInitialChunk } from './initial-set.js';
import { implicitRewards, PreferenceTrainer, type FrozenLogprobs, type PreferenceOptions, type PrefExample } from './preference-trainer.js';
import type { RolloutOptions, TextCodec } from './rollout.js';
import { contentKey, type WarmCache } from './warm-cache.js';
import { restoreTrained, saveTrained } from './optimizer-state.js';

type Ac = <T>(fn: () => T) => T;

/** What fixes the pairs of the initial set (not their labels). */
export interface InitialSetSpec {
  task: string;
  /** fingerprint of the initial policy's folder */
  model: string;
  seed: number;
  rollout: Omit<RolloutOptions, 'k' | 'seed'>;
  /** how the weights are held, when not float32 (absent for float32, so older keys stay valid) */
  dtype?: 'bf16';
}

type StoredPair = Pick<PairRecord, 'prompt' | 'a' | 'b' | 'promptIds' | 'aIds' | 'bIds'>;
type StoredLabel = Omit<GoldAnswer, 'pairId'>;

const chunkKey = (spec: InitialSetSpec, c: number) => contentKey({ what: 'initial-chunk', chunk: INITIAL_CHUNK, ...spec, index: c });
const labelsKey = (chunk: string, gold: string) => contentKey({ what: 'initial-labels', chunk, gold });

/** Content address of a gold source's labels (its config with secrets left out: a new key gives the same labels). */
export function goldKey(task: string, gold: object): string {
  return contentKey({ task, gold: redactSecrets(gold) });
}

/** Content address of the first n labelled pairs of an initial set. */
export function initialSetKey(spec: InitialSetSpec, n: number, gold: string): string {
  return contentKey({ what: 'initial-set', chunks: Array.from({ length: chunksFor(n) }, (_, c) => chunkKey(spec, c)), n, gold });
}

/** Content keys of a warm start's parts (`what` of the policy and discriminator: key = warmKey(kind, what)). */
export interface WarmStartPlan {
  spec: InitialSetSpec;
  goldKey: string;
  /** the labelled initial set of n pairs */
  setKey: string;
  /** keys of the initial-set chunks the set is made of */
  chunkKeys: string[];
  policy: object | null;
  discriminator: object | null;
}

/** A warm policy's or discriminator's cache key from what produced it. */
export function warmKey(kind: 'warm-policy' | 'warm-discriminator', what: object): string {
  return contentKey({ what: kind, ...what });
}

/**
 * Everything that fixes a run's warm start, from its config and the fingerprints of its model
 * folders: the run computes its cache keys from this, and a sweep's estimate looks them up.
 * Fields added later enter a key only when set otherwise than before (dtype bf16, LoRA), so that
 * earlier caches stay valid.
 */
export function warmStartPlan(c: RunConfig, f: { model: string; disc: string; maxNewTokens: number; initial: number }): WarmStartPlan {
  const r = c.rollout;
  const bf16 = c.dtype === 'bf16' ? { dtype: 'bf16' as const } : {};
  const spec: InitialSetSpec = {
    task: c.task,
    model: f.model,
    seed: c.seed,
    rollout: { maxNewTokens: f.maxNewTokens, minNewTokens: r.minNewTokens, temperature: r.temperature, topK: r.topK, topP: r.topP },
    ...bf16,
  };
  const gk = goldKey(c.task, c.gold);
  const setKey = initialSetKey(spec, f.initial, gk);
  const s = { holdout: c.init.holdout, autocast: c.autocast, seed: c.seed, ...bf16 };
  const lora = loraSpecOf(c);
  const p = c.policy;
  const opts = { ...preferenceOptions(c), lr: c.init.policyLr };
  const policy = c.init.warmPolicy && c.init.policyEpochs > 0 ? { set: setKey, opts, batchSize: p.batchSize, ...s, maxEpochs: c.init.policyEpochs, ...(lora ? { lora } : {}) } : null;
  const { online: _o, epochs: _e, trainOn: _t, replaySize: _r, model: _m, ties, frozenBackbone, startFrom, priorScale, ...rest } = c.discriminator;
  // a reward model started from the warm policy is fixed by that policy's warm start too
  const d = { ...rest, ...(ties !== 'ignore' && { ties }), ...(frozenBackbone && { frozenBackbone }), ...(startFrom !== 'base' && { startFrom: policy }), ...(rest.kind === 'rm-epinet' && { priorScale }) };
  const hasDisc = trainsOnGold(d.kind) && c.init.discriminatorEpochs > 0;
  // what is trained and stored with adapters is the adapter: their settings are part of the key
  const discriminator = hasDisc
    ? { set: setKey, disc: { ...d, backbone: f.disc, ...(c.lora.discriminator && lora ? { lora } : {}) }, ...s, maxEpochs: c.init.discriminatorEpochs }
    : null;
  return { spec, goldKey: gk, setKey, chunkKeys: Array.from({ length: chunksFor(f.initial) }, (_, i) => chunkKey(spec, i)), policy, discriminator };
}

const INIT_ID = /-init-(\d+)$/;

/**
 * D_0: n pairs from the initial policy and their gold labels, in round 0 of the run's ledger.
 * With a cache, chunks sampled and labels bought by any run of the same spec are reused
 * exactly (a reused label is committed with `cached` set and says where it came from), and
 * what this run adds goes back to the cache. Labels are durable in the run's ledger before
 * they reach the cache, so a crash in between loses nothing the run paid for.
 */
export async function initialSet(d: {
  store: RunStore;
  gold: GoldSource;
  goldKey: string;
  cache: WarmCache | null;
  spec: InitialSetSpec;
  n: number;
  incarnation: number;
  model: CausalLM;
  codec: TextCodec;
  trainPrompts: string[];
  ac: Ac;
}): Promise<{ gold: GoldExample[]; reused: number }> {
  const { store, cache, spec, n } = d;
  // the initial set is the first n pairs of a seeded stream; replacements are the pairs after them
  const stream = (from: number, count: number): PairRecord[] => {
    const pairs: PairRecord[] = [];
    for (let c = Math.floor(from / INITIAL_CHUNK); c < chunksFor(from + count); c++) {
      for (const [j, p] of (cache ? readChunk(cache, spec, c, d) : freshChunk(c, d)).entries()) {
        const i = c * INITIAL_CHUNK + j;
        if (i >= from && i < from + count) pairs.push({ id: `${d.incarnation}-init-${i}`, phase: 'initial', step: 0, round: 0, ...p, scoresA: null, scoresB: null });
      }
    }
    return pairs;
  };
  const work = async () => {
    roundSelection(store, 0, () => stream(0, n), true);
    const reused = cache ? reuseLabels(cache, store, spec, d.goldKey) : 0;
    const gold = await buyGold(store, d.gold, 0, 0, undefined, (count) => stream(n + store.ledger(0).filter((e) => e.replaces !== null).length, count));
    if (cache) shareLabels(cache, store, spec, d.goldKey);
    return { gold, reused };
  };
  return cache ? cache.withLock(contentKey({ what: 'initial-set-lock', ...spec, gold: d.goldKey }), work) : work();
}

function freshChunk(c: number, d: { model: CausalLM; codec: TextCodec; trainPrompts: string[]; spec: InitialSetSpec; ac: Ac }): StoredPair[] {
  const rolls = d.ac(() => sampleInitialChunk(d.model, d.codec, d.trainPrompts, c, d.spec.seed, d.spec.rollout));
  return rolls.map((r) => ({ prompt: r.prompt, a: r.samples[0].text, b: r.samples[1].text, promptIds: r.promptIds, aIds: r.samples[0].ids, bIds: r.samples[1].ids }));
}

/** Chunk c from the cache, sampled and stored first when absent. Synchronous reads: called inside a selection callback. */
function readChunk(cache: WarmCache, spec: InitialSetSpec, c: number, d: Parameters<typeof freshChunk>[1]): StoredPair[] {
  const key = chunkKey(spec, c);
  if (cache.has('initial-chunk', key)) return cache.readJsonSync<StoredPair[]>('initial-chunk', key, 'pairs.json');
  const pairs = freshChunk(c, d);
  cache.putSync('initial-chunk', key, { ...spec, chunk: INITIAL_CHUNK, index: c }, { 'pairs.json': JSON.stringify(pairs) });
  return pairs;
}

function readLabels(cache: WarmCache, key: string): Record<string, StoredLabel> {
  return cache.has('initial-labels', key) ? cache.readJsonSync<Record<string, StoredLabel>>('initial-labels', key, 'labels.json') : {};
}

/**
 * Commits, for open round-0 requests, the labels the cache already holds; returns how many.
 * One write transaction from the read to the commit: people (d2po serve) may be answering the
 * same requests meanwhile.
 */
function reuseLabels(cache: WarmCache, store: RunStore, spec: InitialSetSpec, gold: string): number {
  return store.db.transaction(() => reuseOpen(cache, store, spec, gold)).immediate();
}

function reuseOpen(cache: WarmCache, store: RunStore, spec: InitialSetSpec, gold: string): number {
  const open = store.ledger(0).filter(isOpen);
  const byChunk = new Map<number, Record<string, StoredLabel>>();
  const answers: GoldAnswer[] = [];
  for (const e of open) {
    const i = Number(INIT_ID.exec(e.pairId)?.[1] ?? NaN);
    if (!Number.isInteger(i)) continue;
    const c = Math.floor(i / INITIAL_CHUNK);
    const lk = labelsKey(chunkKey(spec, c), gold);
    if (!byChunk.has(c)) byChunk.set(c, readLabels(cache, lk));
    const l = byChunk.get(c)![String(i % INITIAL_CHUNK)];
    if (l) answers.push({ ...l, pairId: e.pairId, cached: true, raw: { sharedLabels: lk, raw: l.raw ?? null } });
  }
  if (answers.length) store.commitGold(answers, 0);
  return answers.length;
}

/** Adds this run's round-0 labels that the cache lacks (bought now or before a crash). */
function shareLabels(cache: WarmCache, store: RunStore, spec: InitialSetSpec, gold: string): void {
  const fresh = new Map<number, Record<string, StoredLabel>>();
  for (const e of store.ledger(0)) {
    const i = Number(INIT_ID.exec(e.pairId)?.[1] ?? NaN);
    if (!Number.isInteger(i) || e.preference === null) continue;
    const c = Math.floor(i / INITIAL_CHUNK);
    const row = store.goldAnswer(e.pairId);
    if (!row || row.cached) continue;
    if (!fresh.has(c)) fresh.set(c, {});
    fresh.get(c)![String(i % INITIAL_CHUNK)] = { preference: row.preference, scores: row.scores, cost: row.cost, raw: row.raw };
  }
  for (const [c, add] of fresh) {
    const lk = labelsKey(chunkKey(spec, c), gold);
    const merged = { ...readLabels(cache, lk), ...add };
    cache.putSync('initial-labels', lk, { chunk: chunkKey(spec, c), gold }, { 'labels.json': JSON.stringify(merged) });
  }
}

/** Gold as training examples, in ledger order: the decided ones, and with `ties` the ties too (marked). */
export function examplesOf(gold: GoldExample[], o: { ties?: boolean } = {}): PrefExample[] {
  return gold
    .filter((g) => o.ties || g.preference !== 'tie')
    .map((g) => {
      if (g.preference === 'tie') return { promptIds: g.pair.promptIds, chosenIds: g.pair.aIds, rejectedIds: g.pair.bIds, tie: true };
      const [c, r] = g.preference === 'a' ? [g.pair.aIds, g.pair.bIds] : [g.pair.bIds, g.pair.aIds];
      return { promptIds: g.pair.promptIds, chosenIds: c, rejectedIds: r };
    });
}

/** Splits items into train and held-out (the last `fraction`, after a seeded shuffle); fraction 0 holds nothing out. */
export function holdOut<T>(ex: T[], fraction: number, seed: number): { train: T[]; heldOut: T[] } {
  if (fraction <= 0 || ex.length < 2) return { train: ex, heldOut: [] };
  const order = new Rng(hashSeed(seed, 31)).shuffle(ex);
  const k = Math.max(1, Math.round(order.length * fraction));
  return { train: order.slice(0, order.length - k), heldOut: order.slice(order.length - k) };
}

/** Chosen responses, then rejected ones, of held-out pairs, as one batch to score. */
function bothSides(ex: PrefExample[]): { promptIds: number[][]; responseIds: number[][] } {
  return { promptIds: [...ex, ...ex].map((x) => x.promptIds), responseIds: [...ex.map((x) => x.chosenIds), ...ex.map((x) => x.rejectedIds)] };
}

/** Share of pairs whose chosen response scores above the rejected one (a tie counts half). */
export function pairAccuracy(chosen: number[], rejected: number[]): number {
  if (chosen.length === 0) return NaN;
  return chosen.reduce((s, c, i) => s + (c > rejected[i] ? 1 : c === rejected[i] ? 0.5 : 0), 0) / chosen.length;
}

/**
 * Up to `maxEpochs` epochs, one at a time; with held-out pairs, the weights of the epoch with
 * the best held-out accuracy are kept (the earlier epoch on a tie: closer to where it started),
 * and training stops at the first epoch that does worse than the best (patience 1: an epoch on
 * the initial set costs minutes).
 */
export async function earlyStopped(o: {
  maxEpochs: number;
  epoch: () => number;
  heldOut: (() => number) | null;
  save: (dir: string) => Promise<void>;
  load: (dir: string) => Promise<void>;
}): Promise<{ epochs: number; ran: number; loss: number; heldOutAccuracy: number; perEpoch: number[] }> {
  if (!o.heldOut) {
    let loss = NaN;
    for (let e = 0; e < o.maxEpochs; e++) loss = o.epoch();
    return { epochs: o.maxEpochs, ran: o.maxEpochs, loss, heldOutAccuracy: NaN, perEpoch: [] };
  }
  const perEpoch: number[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'd2po-warm-'));
  try {
    let best = { epochs: 0, loss: NaN, heldOutAccuracy: -1 };
    let ran = 0;
    for (let e = 1; e <= o.maxEpochs; e++) {
      const loss = o.epoch();
      const acc = o.heldOut();
      perEpoch.push(acc);
      if (acc > best.heldOutAccuracy) {
        best = { epochs: e, loss, heldOutAccuracy: acc };
        if (e < o.maxEpochs) await o.save(scratch);
      } else if (acc < best.heldOutAccuracy) {
        ran = e;
        break;
      }
      ran = e;
    }
    if (best.epochs < ran) await o.load(scratch);
    return { ...best, ran, perEpoch };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** What both warm starts get: the split initial set, settings, and the run's numerics guards. */
interface WarmInputs {
  cache: WarmCache | null;
  train: PrefExample[];
  heldOut: PrefExample[];
  s: WarmSettings;
  ac: Ac;
  /** throws on a non-finite loss, before anything is stored */
  finite: (what: string, v: number) => number;
}

/** The warm start's training settings that fix its result (beside the initial set). */
export interface WarmSettings {
  maxEpochs: number;
  holdout: number;
  autocast: boolean;
  seed: number;
}

/** Metrics without NaN entries (an epoch count of 0, no held-out set): nothing to log for those. */
function finiteOnly(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => Number.isFinite(v)));
}

/**
 * Runs `train` under the lock of `key`, or loads its stored result; returns the metrics to log
 * (the same either way) and whether they were reused.
 */
async function cached(
  cache: WarmCache | null,
  kind: 'warm-policy' | 'warm-discriminator',
  what: object,
  train: () => Promise<Record<string, number>>,
  save: (dir: string) => Promise<void>,
  load: (dir: string) => Promise<void>,
): Promise<{ key: string; metrics: Record<string, number>; reused: boolean }> {
  const key = warmKey(kind, what);
  if (!cache) return { key, metrics: finiteOnly(await train()), reused: false };
  return cache.withLock(key, async () => {
    if (cache.has(kind, key)) {
      await load(cache.path(kind, key));
      return { key, metrics: await cache.readJson<Record<string, number>>(kind, key, 'metrics.json'), reused: true };
    }
    const metrics = finiteOnly(await train());
    await cache.put(kind, key, { what: kind, ...what }, async (dir) => {
      await save(dir);
      await cache.writeJson(dir, 'metrics.json', metrics);
    });
    return { key, metrics, reused: false };
  });
}

/** DPO on the initial set (paper appendix A), early-stopped on held-out pairs when asked. */
export async function warmPolicy(
  d: WarmInputs & {
    policy: CausalLM;
    /** the policy's model folder, which a saved adapter names as its base */
    baseModel: string;
    refLp: FrozenLogprobs;
    opts: PreferenceOptions;
    batchSize: number;
    /** what fixes the result (WarmStartPlan.policy) */
    what: object;
  },
): Promise<{ key: string; metrics: Record<string, number>; reused: boolean }> {
  const { train, heldOut, what } = d;
  // as the run's checkpoints store the policy: the adapter alone with LoRA, else the whole model
  const savePolicy = (dir: string) => saveTrained(join(dir, 'policy'), d.policy, { baseModel: d.baseModel });
  const loadPolicy = (dir: string) => restoreTrained(join(dir, 'policy'), d.policy);
  return cached(
    d.cache,
    'warm-policy',
    what,
    async () => {
      const t0 = performance.now();
      const trainer = new PreferenceTrainer(d.policy, d.refLp, d.opts);
      const rng = new Rng(hashSeed(d.s.seed, 29));
      try {
        let acc = NaN;
        const r = await earlyStopped({
          maxEpochs: d.s.maxEpochs,
          epoch: () => {
            const st = d.ac(() => trainer.epochs(train, 1, d.batchSize, rng));
            acc = st.accuracy;
            return st.loss;
          },
          heldOut: heldOut.length
            ? () => {
                const n = heldOut.length;
                const b = bothSides(heldOut);
                const r = d.ac(() => implicitRewards(d.policy, d.refLp, d.opts.beta, b.promptIds, b.responseIds, 64));
                return pairAccuracy(r.slice(0, n), r.slice(n));
              }
            : null,
          save: savePolicy,
          load: loadPolicy,
        });
        if (train.length > 0) d.finite('policy warm-start loss', r.loss);
        return {
          'warm/policy_loss': r.loss,
          'warm/policy_acc': acc,
          'warm/policy_epochs': r.epochs,
          'warm/policy_epochs_run': r.ran,
          'warm/policy_heldout_acc': r.heldOutAccuracy,
          'warm/train_pairs': train.length,
          'warm/policy_seconds': (performance.now() - t0) / 1000,
          ...Object.fromEntries(r.perEpoch.map((a, i) => [`warm/policy_heldout_acc_epoch${i + 1}`, a])),
        };
      } finally {
        trainer.dispose();
      }
    },
    savePolicy,
    loadPolicy,
  );
}

/** Bradley-Terry (or DPO) training of the discriminator on the initial set, early-stopped like the policy. */
export async function warmDiscriminator(
  d: WarmInputs & {
    disc: Discriminator;
    /** what fixes the result (WarmStartPlan.discriminator) */
    what: object;
  },
): Promise<{ key: string; metrics: Record<string, number>; reused: boolean }> {
  const { train, heldOut } = d;
  const save = (dir: string) => d.disc.save(dir);
  const load = (dir: string) => d.disc.load(dir);
  return cached(
    d.cache,
    'warm-discriminator',
    d.what,
    async (): Promise<Record<string, number>> => {
      let e = 0;
      const t0 = performance.now();
      // without held-out pairs, one call as before: an ensemble draws its bootstrap once
      if (!heldOut.length) {
        const loss = d.ac(() => d.disc.train(train, d.s.maxEpochs, hashSeed(d.s.seed, 19, -1)));
        if (train.length > 0) d.finite('discriminator warm-start loss', loss);
        return { 'warm/disc_loss': loss, 'warm/disc_epochs': d.s.maxEpochs, 'warm/disc_seconds': (performance.now() - t0) / 1000 };
      }
      const r = await earlyStopped({
        maxEpochs: d.s.maxEpochs,
        epoch: () => d.ac(() => d.disc.train(train, 1, hashSeed(d.s.seed, 19, -1, e++))),
        heldOut: () => {
          const n = heldOut.length;
          const scores = d.ac(() => d.disc.score(bothSides(heldOut)));
          const mean = scores[0].map((_, j) => scores.reduce((s, m) => s + m[j], 0) / scores.length);
          return pairAccuracy(mean.slice(0, n), mean.slice(n));
        },
        save,
        load,
      });
      if (train.length > 0) d.finite('discriminator warm-start loss', r.loss);
      return {
        'warm/disc_loss': r.loss,
        'warm/disc_epochs': r.epochs,
        'warm/disc_epochs_run': r.ran,
        'warm/disc_heldout_acc': r.heldOutAccuracy,
        'warm/disc_seconds': (performance.now() - t0) / 1000,
        ...Object.fromEntries(r.perEpoch.map((a, i) => [`warm/disc_heldout_acc_epoch${i + 1}`, a])),
      };
    },
    save,
    load,
  );
}
