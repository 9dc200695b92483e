import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ChatTemplate, ChatTemplateError, WEIGHT_DTYPES, type Tokenizer, type WeightDtype } from '../model/index.js';
import type { DType } from '../tensor/index.js';

/** One CLI subcommand. `run` returns the process exit code. */
export interface Command {
  name: string;
  /** One line for `d2po --help`. */
  summary: string;
  /** Full text for `d2po NAME --help`. */
  help: string;
  run(argv: string[]): Promise<number>;
}

/** Thrown for bad user input; main prints the message alone (no stack) and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** node's parseArgs (strict by default), its errors (unknown flag, missing value) as UsageErrors. */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `--dtype fp32|bf16`: how a model's weights are held (float32 when absent), whatever its files store. */
export function dtypeFlag(raw: string | undefined): DType {
  if (raw === undefined) return 'float32';
  if (!(raw in WEIGHT_DTYPES)) throw new UsageError(`--dtype must be ${Object.keys(WEIGHT_DTYPES).join(' or ')}, got '${raw}'`);
  return WEIGHT_DTYPES[raw as WeightDtype];
}

/** A numeric flag's value, `dflt` when it is absent; a UsageError naming the flag otherwise. */
export function numberFlag(flag: string, raw: string | undefined, dflt: number, opts: { integer?: boolean; min?: number; max?: number } = {}): number {
  if (raw === undefined) return dflt;
  const x = Number(raw);
  const kind = opts.integer ? 'an integer' : 'a number';
  if (raw.trim() === '' || !Number.isFinite(x) || (opts.integer && !Number.isInteger(x)))
    throw new UsageError(`--${flag} must be ${kind}, got '${raw}'`);
  const { min, max } = opts;
  if ((min !== undefined && x < min) || (max !== undefined && x > max)) {
    const range = max === undefined ? `>= ${min}` : min === undefined ? `<= ${max}` : `in ${min}..${max}`;
    throw new UsageError(`--${flag} must be ${kind} ${range}, got '${raw}'`);
  }
  return x;
}

/** The chat template `--chat-template` asks for; a model without one is the user's mistake (a UsageError naming the file). */
export async function chatTemplateOf(tokenizer: Tokenizer): Promise<ChatTemplate> {
  try {
    return await ChatTemplate.of(tokenizer);
  } catch (e) {
    if (e instanceof ChatTemplateError) throw new UsageError(`--chat-template: ${e.message}`);
    throw e;
  }
}
