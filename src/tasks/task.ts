/** One (prompt, response) pair handed to a gold reward. */
export interface RewardInput {
  prompt: string;
  response: string;
}

export type Split = 'train' | 'dev';

/**
 * A task: prompt sets and a gold reward over (prompt, response). Rewards are batched so that
 * model-based rewards can share one forward pass; a reward never depends on the other items
 * of its batch.
 */
export interface Task {
  name: string;
  description: string;
  /** Deterministic prompt set; 'dev' holds 200 prompts unless the task has fewer. */
  prompts(split: Split): Promise<string[]>;
  /** Gold reward of each pair, in order; throws rather than return a non-finite number. */
  rewards(batch: RewardInput[]): Promise<number[]>;
  /** Suggested sampling length for the policy on this task. */
  generation?: { maxNewTokens: number };
}

/** Number of dev prompts a task offers when it has enough. */
export const DEV_SIZE = 200;
