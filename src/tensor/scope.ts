import { N } from './native.js';
import { Tensor } from './tensor.js';

// Tensors created while a scope runs are recorded in its frame and disposed when it ends,
// except those reachable from its return value (handed to the enclosing scope) and kept ones.
const frames: Tensor[][] = [];

/** @internal called by every Tensor constructor. */
export function track(t: Tensor): void {
  const f = frames[frames.length - 1];
  if (f) f.push(t);
}

function collect(v: unknown, out: Set<Tensor>, seen: Set<object>): void {
  if (v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (seen.has(v)) return;
  seen.add(v);
  if (Array.isArray(v)) {
    for (const x of v) collect(x, out, seen);
  } else if (v instanceof Map) {
    for (const x of v.values()) collect(x, out, seen);
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) for (const x of Object.values(v)) collect(x, out, seen);
  }
}

// Tensors made outside any scope report their size to V8 so that the garbage collector frees the
// ones nobody disposes; inside scopes that would only trigger needless collections.
function push(frame: Tensor[]): void {
  if (frames.push(frame) === 1) N.setReportMemory(false);
}
function pop(): void {
  frames.pop();
  if (frames.length === 0) N.setReportMemory(true);
}

function release(frame: Tensor[], result: unknown, ok: boolean): void {
  const returned = new Set<Tensor>();
  if (ok) collect(result, returned, new Set());
  const parent = frames[frames.length - 1];
  for (const t of frame) {
    if (t.kept) continue;
    if (returned.has(t)) {
      if (parent) parent.push(t);
    } else t.dispose();
  }
}

/** Runs fn; frees every tensor it created except those in its return value or kept with keep(). */
export function scope<T>(fn: () => T): T {
  const frame: Tensor[] = [];
  push(frame);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    pop();
    release(frame, undefined, false);
    throw e;
  }
  pop();
  if (result instanceof Promise) {
    release(frame, undefined, false);
    throw new TypeError('scope(fn): fn returned a Promise; its tensors would be freed before it finishes. Use scopeAsync.');
  }
  release(frame, result, true);
  return result;
}

/** scope() for async code. No other scope may start and end while this one awaits. */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const frame: Tensor[] = [];
  push(frame);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    if (frames[frames.length - 1] === frame) pop();
    release(frame, undefined, false);
    throw e;
  }
  if (frames[frames.length - 1] !== frame) {
    throw new Error('scopeAsync: another scope interleaved with this one (scopes must nest)');
  }
  pop();
  release(frame, result, true);
  return result;
}
