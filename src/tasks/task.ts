/** One (prompt, response) pair handed to a gold reward. */
export interface RewardInput {
  prompt: string;
  response: string;
}

export type Split = 'train' | 'dev';

/**
 * What a run needs of a task: its prompt sets, and its gold reward over (prompt, response) when
 * it has one. A task without one (a prompt file) gets its labels from another gold source, and
 * its runs log no eval/reward.
 */
export interface RunTask {
  name: string;
  description: string;
  /** Deterministic prompt set; 'dev' holds 200 prompts unless the task has fewer. */
  prompts(split: Split): Promise<string[]>;
  /** Gold reward of each pair, in order; throws rather than return a non-finite number. */
  rewards?(batch: RewardInput[]): Promise<number[]>;
  /** Suggested sampling length for the policy on this task. */
  generation?: { maxNewTokens: number };
}

/**
 * A task with a gold reward (every built-in task and task module). Rewards are batched so that
 * model-based rewards can share one forward pass; a reward never depends on the other items
 * of its batch.
 */
export interface Task extends RunTask {
  rewards(batch: RewardInput[]): Promise<number[]>;
}

/** Number of dev prompts a task offers when it has enough. */
export const DEV_SIZE = 200;
