// Silver labels scored by the task's gold reward, for tasks whose gold is a free function (a
// diagnostic: nothing here is trained on or counted). Shared by bench/silver-accuracy.ts and
// bench/lever-table.ts.
import type { RunStore } from '../src/store/run-store.js';
import { loadTask } from '../src/tasks/registry.js';

/** One silver-labelled pair against gold: its discriminator |margin|, candidate round, whether gold ties it, whether the silver label is gold's choice, whether it trained nothing. */
export interface SilverRow {
  abs: number;
  round: number;
  tie: boolean;
  right: boolean;
  skip: boolean;
}

/** Every silver label of the run in `store` (of task `task`), with the task's rewards of both responses. */
export async function silverAgainstGold(store: RunStore, task: string): Promise<{ rows: SilverRow[]; ra: number[]; rb: number[] }> {
  const silver = store.silverLabels();
  const t = await loadTask(task);
  const ra = await t.rewards(silver.map((s) => ({ prompt: s.pair.prompt, response: s.pair.a })));
  const rb = await t.rewards(silver.map((s) => ({ prompt: s.pair.prompt, response: s.pair.b })));
  const rows = silver.map((s, i) => ({
    abs: Math.abs(s.margin),
    round: s.pair.round,
    tie: ra[i] === rb[i],
    right: (ra[i] > rb[i] ? 'a' : 'b') === s.preference,
    skip: s.skip !== null,
  }));
  return { rows, ra, rb };
}

/** Share of gold's choices among the rows gold does not tie (NaN when it ties them all). */
export function accuracy(rows: SilverRow[]): number {
  const decided = rows.filter((r) => !r.tie);
  return decided.length ? decided.filter((r) => r.right).length / decided.length : NaN;
}
