import type { Task } from '../tasks/task.js';
import { checkScores, preferenceFromScores, type GoldLabel, type GoldPair, type GoldSource } from './source.js';

/** What this source needs of a task. */
export type RewardTask = Pick<Task, 'name' | 'rewards'>;

/** Gold from a task's reward function: both responses scored, the higher preferred, a tie within `tieEpsilon`. */
export class RewardFunctionGold implements GoldSource {
  readonly name: string;
  readonly paid = false;

  constructor(
    private readonly task: RewardTask,
    private readonly tieEpsilon = 0,
  ) {
    this.name = `reward-function:${task.name}`;
  }

  async label(pairs: GoldPair[], opts?: { signal?: AbortSignal }): Promise<GoldLabel[]> {
    if (pairs.length === 0) return [];
    opts?.signal?.throwIfAborted();
    // One batched call for both sides, so the task can vectorise (e.g. one forward pass).
    const batch = [
      ...pairs.map((p) => ({ prompt: p.prompt, response: p.a })),
      ...pairs.map((p) => ({ prompt: p.prompt, response: p.b })),
    ];
    const scores = await this.task.rewards(batch);
    checkScores(scores, batch.length, `task '${this.task.name}' rewards()`);
    return pairs.map((_, i) => {
      const sa = scores[i];
      const sb = scores[i + pairs.length];
      return {
        preference: preferenceFromScores(sa, sb, this.tieEpsilon),
        scores: [sa, sb] as [number, number],
        cost: { calls: 0 },
        cached: false,
      };
    });
  }
}
