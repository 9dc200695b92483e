/**
 * Calls into user code (a custom task module's members) with a timeout, and failures that say
 * which module, which method and which item: a promise that never settles, a throw, or a
 * rejection with a value that is not an Error all become one TaskModuleError.
 */

/** Five minutes: long enough for a slow remote-backed reward, short enough that a hang is seen. */
export const DEFAULT_USER_CALL_TIMEOUT_MS = 300_000;

export class TaskModuleError extends Error {
  override name = 'TaskModuleError';
}

/** A value as an error message shows it: NaN stays "NaN" (JSON would print null). */
export function describeValue(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v === null || (typeof v !== 'object' && typeof v !== 'string')) return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** What was thrown, as a message: an Error by its name and message, anything else as a value named by its kind. */
export function describeThrown(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (e === undefined || e === null) return `rejected with ${String(e)}, not an Error`;
  const kind = typeof e === 'object' ? (Array.isArray(e) ? 'an array' : 'an object') : `a ${typeof e}`;
  return `rejected with ${describeValue(e)}, ${kind}, not an Error`;
}

export interface UserCall {
  /** the module's path as the user gave it */
  module: string;
  /** the member as called, e.g. "reward(prompt, response)" */
  method: string;
  /** which input, e.g. 'item 3 (prompt "...")'; absent for calls on no one item */
  item?: string;
  timeoutMs: number;
}

/**
 * `promise`, or `onTimeout()`'s error after `ms`. The timer is referenced, so a promise with
 * nothing else keeping the process alive still ends in that error rather than a silent exit.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Awaits `fn()` for at most `call.timeoutMs`; any failure is a TaskModuleError naming the call. */
export async function callUser<T>(fn: () => T | Promise<T>, call: UserCall): Promise<T> {
  const where = `task module ${call.module}: ${call.method}`;
  const on = call.item ? ` on ${call.item}` : '';
  const timedOut = new TaskModuleError(`${where} did not settle within ${call.timeoutMs} ms${on}`);
  try {
    return await withTimeout(Promise.resolve().then(fn), call.timeoutMs, () => timedOut);
  } catch (e) {
    if (e === timedOut) throw e;
    throw new TaskModuleError(`${where} failed${on}: ${describeThrown(e)}`, e instanceof Error ? { cause: e } : undefined);
  }
}
