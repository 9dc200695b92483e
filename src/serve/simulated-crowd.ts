/**
 * A simulated crowd for demos and tests: annotators that answer from a gold source (the task's
 * reward) after a delay, through the same HTTP API people use, with real requests.
 */
import { setTimeout as wait } from 'node:timers/promises';
import { z } from 'zod';
import type { GoldSource } from '../gold/source.js';
import type { Choice } from './label-queue.js';

export interface CrowdMember {
  name: string;
  token: string;
}

/** One acknowledged label: the server answered 200, so it is stored. */
export interface CrowdLabel {
  annotator: string;
  id: string;
  choice: Choice;
  /** milliseconds of the POST /api/label round trip */
  latencyMs: number;
}

export interface SimulatedCrowdOptions {
  /** the server, http://host:port */
  url: string;
  members: CrowdMember[];
  /** answers each pair as shown (its a first) */
  gold: GoldSource;
  /** how long an annotator "reads" a pair before answering */
  delayMs: number;
  /** how long an annotator waits when nothing is queued, or after a failed request */
  idleMs?: number;
  requestTimeoutMs?: number;
  onLabel?: (label: CrowdLabel) => void;
  /** a request that failed (the server gone, a 409): counted, and the annotator goes on */
  onError?: (annotator: string, error: Error) => void;
}

const QueryBody = z.object({ id: z.string(), prompt: z.string(), a: z.string(), b: z.string() });

export class SimulatedCrowd {
  private readonly stop = new AbortController();
  private readonly running: Promise<void>[];

  constructor(private readonly opts: SimulatedCrowdOptions) {
    this.running = opts.members.map((m) => this.annotate(m));
  }

  /** Stops every annotator after the request each has in flight; resolves when all have stopped. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.running);
  }

  /** Waits `ms`, or less when the crowd is stopped. */
  private async sleep(ms: number): Promise<void> {
    await wait(ms, undefined, { signal: this.stop.signal }).catch(() => undefined);
  }

  private async request(m: CrowdMember, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.opts.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { Authorization: `Bearer ${m.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 10_000),
    });
  }

  private async annotate(m: CrowdMember): Promise<void> {
    const idle = this.opts.idleMs ?? 200;
    while (!this.stop.signal.aborted) {
      /** the pair on this annotator's screen, until it is answered */
      let held: string | null = null;
      try {
        const next = await this.request(m, '/api/next');
        if (next.status === 204) {
          await this.sleep(idle);
          continue;
        }
        if (next.status !== 200) throw new Error(`GET /api/next: HTTP ${next.status} ${await next.text()}`);
        const parsed = QueryBody.safeParse(await next.json());
        if (!parsed.success) throw new Error(`GET /api/next: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        const q = parsed.data;
        held = q.id;
        const [label] = await this.opts.gold.label([{ prompt: q.prompt, a: q.a, b: q.b }], { signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 10_000) });
        await this.sleep(this.opts.delayMs);
        if (this.stop.signal.aborted) return;
        const t0 = performance.now();
        const res = await this.request(m, '/api/label', { id: q.id, choice: label.preference });
        const latencyMs = performance.now() - t0;
        if (res.status !== 200) throw new Error(`POST /api/label: HTTP ${res.status} ${await res.text()}`);
        held = null;
        await res.arrayBuffer();
        this.opts.onLabel?.({ annotator: m.name, id: q.id, choice: label.preference, latencyMs });
      } catch (e) {
        this.opts.onError?.(m.name, e as Error);
        // as a person who cannot answer would: skip the pair (withdrawn and replaced, or offered to someone else), rather than hold it until its lease ends
        if (held !== null) await this.request(m, '/api/label', { id: held, choice: 'skip' }).catch(() => undefined);
        await this.sleep(idle);
      }
    }
  }
}
