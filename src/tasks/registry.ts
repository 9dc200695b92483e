/**
 * Task lookup: a built-in task by name, a custom task module by path (see custom-task.ts), or,
 * for runs, a prompt file (*.jsonl, see prompt-file-task.ts).
 */
import {
  CONTRASTIVE_DISTILLATION,
  createContrastiveDistillationTask,
  type ContrastiveDistillationOptions,
} from './contrastive-distillation.js';
import { loadCustomTask } from './custom-task.js';
import { MATH, createMathTask } from './math.js';
import { isPromptFile, loadPromptFileTask } from './prompt-file-task.js';
import type { RunTask, Task } from './task.js';
import { UNIQUE_NOUNS, createUniqueNounsTask } from './unique-nouns.js';
import { WORD_COLLECTOR, createWordCollectorTask } from './word-collector.js';

export interface LoadTaskOptions {
  /** math: score with the authors' lenient rules (extra steps free; see math-reward.ts). */
  mathLenient?: boolean;
  /** contrastive-distillation: model folders (default: the shipped cd-large and cd-small), device. */
  contrastiveDistillation?: ContrastiveDistillationOptions;
  /** custom tasks: most milliseconds one call into the module may take (default 5 minutes) */
  timeoutMs?: number;
}

interface Builtin {
  name: string;
  description: string;
  /** the shipped model (d2po models) a run of this task starts from when none is given */
  baseModel: string;
  create(opts: LoadTaskOptions): Promise<Task> | Task;
}

const BUILTINS: Builtin[] = [
  { ...WORD_COLLECTOR, baseModel: 'policy-base', create: () => createWordCollectorTask() },
  { ...UNIQUE_NOUNS, baseModel: 'policy-base', create: () => createUniqueNounsTask() },
  { ...MATH, baseModel: 'math-base', create: (o) => createMathTask({ lenient: o.mathLenient }) },
  { ...CONTRASTIVE_DISTILLATION, baseModel: 'policy-base', create: (o) => createContrastiveDistillationTask(o.contrastiveDistillation) },
];

export const builtinTasks: { name: string; description: string; baseModel: string }[] = BUILTINS.map(({ name, description, baseModel }) => ({
  name,
  description,
  baseModel,
}));

/** A path rather than a name: has a path separator, a script extension or is a prompt file. */
export function looksLikePath(s: string): boolean {
  return /[\\/]/.test(s) || /\.(m?[jt]s|cjs)$/.test(s) || isPromptFile(s);
}

function unknownTask(nameOrPath: string): Error {
  return new Error(
    `unknown task '${nameOrPath}': built-in tasks are ${BUILTINS.map((b) => b.name).join(', ')}; ` +
      'a custom task is a path to a module, e.g. ./my-task.mjs; a run may also take a prompt file, e.g. prompts.jsonl',
  );
}

/** The shipped model a run of this task starts from when none is given; custom tasks start from policy-base. */
export function baseModelOf(nameOrPath: string): string {
  const builtin = BUILTINS.find((b) => b.name === nameOrPath);
  if (builtin) return builtin.baseModel;
  if (looksLikePath(nameOrPath)) return 'policy-base';
  throw unknownTask(nameOrPath);
}

/** A task with a gold reward: a built-in or a module (a prompt file has none). */
export async function loadTask(nameOrPath: string, opts: LoadTaskOptions = {}): Promise<Task> {
  if (isPromptFile(nameOrPath)) throw new Error(`${nameOrPath} is a prompt file: its prompts have no gold reward of their own; this needs a built-in task or a task module`);
  const builtin = BUILTINS.find((b) => b.name === nameOrPath);
  if (builtin) return builtin.create(opts);
  if (looksLikePath(nameOrPath)) return loadCustomTask(nameOrPath, { timeoutMs: opts.timeoutMs });
  throw unknownTask(nameOrPath);
}

/** The task of a run: a prompt file as well as any task loadTask takes. */
export async function loadRunTask(nameOrPath: string, opts: LoadTaskOptions = {}): Promise<RunTask> {
  return isPromptFile(nameOrPath) ? loadPromptFileTask(nameOrPath) : loadTask(nameOrPath, opts);
}
