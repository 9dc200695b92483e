/**
 * JSON POST with a per-attempt timeout, a bounded response body, and retries (exponential backoff
 * with jitter, Retry-After honoured) on 408/429, 5xx and network errors: the transport of the HTTP
 * gold sources.
 */

export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Upper bound on a server's Retry-After, so a bad header cannot stall a run for hours. */
  maxRetryAfterMs: number;
}

/** Most bytes of a response body read: answers are kilobytes, and a 50 MB one held gigabytes of memory. */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export interface PostJsonOptions extends RetryPolicy {
  /** Per attempt, covering the whole response body. */
  timeoutMs: number;
  /** A longer body is an error, not retried (default MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A request that failed for good; `status` is the last HTTP status when there was one. */
export class GoldHttpError extends Error {
  override name = 'GoldHttpError';
  constructor(
    message: string,
    readonly url: string,
    readonly attempts: number,
    readonly status?: number,
  ) {
    super(message);
  }
}

interface Failure {
  reason: string;
  retryable: boolean;
  status?: number;
  retryAfterMs?: number;
}

const SNIPPET = 300;

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > SNIPPET ? `${flat.slice(0, SNIPPET)}...` : flat;
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential backoff with "equal jitter": half fixed, half random, so retries from many workers spread out. */
export function backoffMs(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
  return base / 2 + (random() * base) / 2;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): is the server running?';
  if (cause?.code === 'ENOTFOUND') return 'host not found (ENOTFOUND)';
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`;
  return (err as Error).message ?? String(err);
}

/** The body as text, or null once it passes `limit` bytes (declared or read), the rest left unread. */
async function readBounded(res: Response, limit: number): Promise<string | null> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit || !res.body) {
    await res.body?.cancel();
    return declared > limit ? null : '';
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks).toString('utf8');
    bytes += value.byteLength;
    if (bytes > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
}

async function attempt(url: string, body: string, opts: PostJsonOptions): Promise<{ ok: true; value: unknown } | ({ ok: false } & Failure)> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout.signal, opts.signal]) : timeout.signal;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...opts.headers },
      body,
      signal,
    });
    const limit = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    const text = await readBounded(res, limit);
    // a server that answers too much will do so again: not retried
    if (text === null) return { ok: false, retryable: false, status: res.status, reason: `the response body exceeds ${limit} bytes (HTTP ${res.status})` };
    if (res.ok) {
      try {
        return { ok: true, value: JSON.parse(text) };
      } catch {
        // A 2xx with a broken body is a server bug, not a transient fault: retrying would repeat it.
        return { ok: false, retryable: false, status: res.status, reason: `HTTP ${res.status} with a body that is not JSON: ${JSON.stringify(snippet(text))}` };
      }
    }
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    return {
      ok: false,
      retryable,
      status: res.status,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
      reason: `HTTP ${res.status}${text ? `: ${snippet(text)}` : ''}`,
    };
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (timeout.signal.aborted) return { ok: false, retryable: true, reason: `timed out after ${opts.timeoutMs} ms` };
    return { ok: false, retryable: true, reason: networkReason(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** POST `payload` as JSON and return the parsed JSON answer, retrying transient failures. */
export async function postJson(url: string, payload: unknown, opts: PostJsonOptions): Promise<unknown> {
  const body = JSON.stringify(payload);
  for (let n = 1; ; n++) {
    opts.signal?.throwIfAborted();
    const r = await attempt(url, body, opts);
    if (r.ok) return r.value;
    if (!r.retryable || n > opts.retries) {
      const tries = n === 1 ? '' : ` after ${n} attempts`;
      throw new GoldHttpError(`POST ${url} failed${tries}: ${r.reason}`, url, n, r.status);
    }
    const wait = r.retryAfterMs !== undefined ? Math.min(r.retryAfterMs, opts.maxRetryAfterMs) : backoffMs(n, opts);
    await sleep(wait, opts.signal);
  }
}
