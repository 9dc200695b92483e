import type { GoldPair, GoldSource } from '../gold/source.js';
import { isOpen, type PairRecord, type Preference, type RunStore } from '../store/run-store.js';

/** A gold-labelled pair as the trainers use it. */
export interface GoldExample {
  pair: PairRecord;
  preference: Preference;
}

/**
 * The pairs of gold round `round`: those already in the ledger when a resumed run reaches a
 * round it had started (the earlier selection is kept, so nothing is bought twice), otherwise
 * `select()`'s pairs, which are stored (when `storeSelected`) and entered as requested in the
 * ledger before any question is asked.
 */
export function roundSelection(store: RunStore, round: number, select: () => PairRecord[], storeSelected = false): PairRecord[] {
  const existing = store.ledger(round);
  if (existing.length > 0) return store.getPairs(existing.map((e) => e.pairId));
  const chosen = select();
  store.db.transaction(() => {
    if (storeSelected) store.addPairs(chosen);
    store.requestGold(
      chosen.map((p) => p.id),
      round,
    );
  }).immediate();
  return chosen;
}

/**
 * Pairs for a round in place of `n` withdrawn requests: candidates by the round's own selection
 * rule, best first (buyGold takes the first n not already in the ledger); fewer when they run out.
 */
export type Replacement = (n: number) => PairRecord[];

/**
 * Asks the gold source for every open request of `round` (requested, no stored answer), in
 * chunks; each chunk's answers are committed (ledger + labels, one transaction) before the next
 * chunk is asked and before anything uses them. A source whose answers reach the ledger from
 * elsewhere (people) is not asked: the ledger is read until the round is answered, and a
 * request people withdraw (skipped) is replaced by `replace`'s pairs, entered before they are
 * offered. Returns the round's gold labels in ledger order.
 */
export async function buyGold(store: RunStore, source: GoldSource, round: number, step: number, chunk = 32, replace?: Replacement): Promise<GoldExample[]> {
  if (source.ledgerAnswers) {
    let exhausted = false;
    for (;;) {
      const owed: string[] = exhausted || !replace ? [] : store.unreplaced(round);
      if (owed.length) {
        const asked = new Set(store.ledger().map((e) => e.pairId));
        const fresh: PairRecord[] = replace!(owed.length)
          .filter((p) => !asked.has(p.id))
          .slice(0, owed.length);
        exhausted = fresh.length < owed.length;
        store.db.transaction(() => {
          store.addPairs(fresh.filter((p) => !store.getPair(p.id)));
          store.requestGold(
            fresh.map((p) => p.id),
            round,
            owed.slice(0, fresh.length),
          );
        }).immediate();
      }
      if (!store.ledger(round).some(isOpen)) break;
      await new Promise((r) => setTimeout(r, source.ledgerAnswers!.pollMs));
    }
    return store.goldLabels([round]).map((g) => ({ pair: g.pair, preference: g.preference }));
  }
  const open = store.ledger(round).filter(isOpen);
  const size = source.paid ? Math.min(chunk, 8) : chunk;
  for (let i = 0; i < open.length; i += size) {
    const ids = open.slice(i, i + size).map((e) => e.pairId);
    const pairs = store.getPairs(ids);
    store.markAsked(ids);
    const labels = await source.label(pairs.map((p): GoldPair => ({ prompt: p.prompt, a: p.a, b: p.b })));
    if (labels.length !== pairs.length) throw new Error(`gold source ${source.name} answered ${labels.length} of ${pairs.length} pairs`);
    store.commitGold(
      labels.map((l, j) => ({ pairId: ids[j], preference: l.preference, scores: l.scores, cost: l.cost, cached: l.cached, raw: l.raw })),
      step,
    );
  }
  return store.goldLabels([round]).map((g) => ({ pair: g.pair, preference: g.preference }));
}
