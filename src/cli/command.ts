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

/**
 * Splits a command line between a command's own flags (`own`: value-taking unless in `booleans`)
 * and the rest, passed on to `d2po run`; a flag in `reserved` is refused with `why`.
 */
export function splitFlags(argv: string[], o: { own: Set<string>; booleans: Set<string>; reserved?: Set<string>; why?: string }): { own: Map<string, string | true>; rest: string[] } {
  const own = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq > 0 ? eq : undefined);
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    if (o.reserved?.has(name)) throw new UsageError(`--${name}: ${o.why}`);
    if (o.own.has(name)) {
      if (o.booleans.has(name)) own.set(name, true);
      else {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`--${name} needs a value`);
        own.set(name, v);
      }
      continue;
    }
    rest.push(a);
    if (inline === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('--')) rest.push(argv[++i]);
  }
  return { own, rest };
}
