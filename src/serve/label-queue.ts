/**
 * The human-label queue: the run's open gold requests (ledger rows with no answer, entered by
 * roundSelection) handed to annotators one at a time, and their answers committed to the run
 * store. Everything it knows lives in run.db (table human_labels), so a killed server loses
 * nothing that it acknowledged, and a new one carries on from the same rows.
 *
 * One row of human_labels is one showing of a pair to one annotator: its id is the query id the
 * annotator answers, `swapped` says whether the pair's b was shown first, and `choice` is the
 * answer mapped back to the pair's own a/b (or 'skip'). A showing with no answer is a lease that
 * holds the pair for `leaseMs`; after that the pair is offered again. A pair skipped
 * `withdrawAfterSkips` times before anyone answered it is withdrawn from the ledger: it costs
 * nothing against the budget, and the run requests a replacement.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Preference, RunStore } from '../store/run-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS human_labels (
  id TEXT PRIMARY KEY, pair_id TEXT NOT NULL REFERENCES gold_ledger(pair_id), annotator TEXT NOT NULL,
  swapped INTEGER NOT NULL CHECK (swapped IN (0, 1)), shown_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  answered_at INTEGER, choice TEXT CHECK (choice IN ('a','b','tie','skip')));
CREATE INDEX IF NOT EXISTS human_labels_pair ON human_labels(pair_id);
CREATE INDEX IF NOT EXISTS human_labels_annotator ON human_labels(annotator, answered_at);
`;

/** An annotator's answer, in the order shown: a = the response shown first. */
export type Choice = Preference | 'skip';

/** What happens when the two answers of an overlapped pair differ: store a tie, or ask a third annotator (majority; no majority is a tie). */
export type ConflictRule = 'tie' | 'third';

export interface LabelQueueOptions {
  /** annotators who answer each pair (1 or 2) */
  overlap?: number;
  conflict?: ConflictRule;
  /** how long a shown pair is held for its annotator before it is offered again */
  leaseMs?: number;
  /** unanswered showings one annotator may hold; a further one releases the oldest (a reloaded page) */
  maxHeld?: number;
  /** skips that withdraw a pair no annotator has answered yet (default 1: a skip withdraws it) */
  withdrawAfterSkips?: number;
  /** the loop step gold labels are stored at (default: the run's meta step) */
  labelStep?: () => number;
  now?: () => number;
}

/** A pair as shown to one annotator. */
export interface Query {
  id: string;
  prompt: string;
  a: string;
  b: string;
}

export interface AnswerResult {
  /** true when this answer completed the pair and its gold label is now in the ledger */
  committed: boolean;
}

/** An answer the queue refuses: an unknown query id, or one already answered (HTTP 409). */
export class QueueConflict extends Error {
  override name = 'QueueConflict';
}

export interface QueueStats {
  /** open gold requests (no gold answer yet) */
  open: number;
  /** showings handed out and still within their lease */
  leased: number;
  answers: number;
  skips: number;
  /** requests withdrawn after skips (replaced by the run) */
  withdrawn: number;
  by_annotator: Record<string, { labels: number; skips: number }>;
  /** pairs answered by two or more annotators, and how many of them the first two agreed on */
  agreement: { pairs: number; agreed: number; rate: number | null };
}

interface Showing {
  id: string;
  pair_id: string;
  annotator: string;
  swapped: number;
  expires_at: number;
  answered_at: number | null;
  choice: Choice | null;
}

const flip = (c: Preference): Preference => (c === 'a' ? 'b' : c === 'b' ? 'a' : 'tie');

export class LabelQueue {
  readonly overlap: number;
  readonly conflict: ConflictRule;
  readonly leaseMs: number;
  readonly withdrawAfterSkips: number;
  private readonly maxHeld: number;
  private readonly labelStep: () => number;
  private readonly now: () => number;

  constructor(
    readonly store: RunStore,
    opts: LabelQueueOptions = {},
  ) {
    this.overlap = opts.overlap ?? 1;
    if (this.overlap !== 1 && this.overlap !== 2) throw new Error(`overlap must be 1 or 2, got ${this.overlap}`);
    this.conflict = opts.conflict ?? 'tie';
    this.leaseMs = opts.leaseMs ?? 10 * 60_000;
    this.withdrawAfterSkips = opts.withdrawAfterSkips ?? 1;
    if (!Number.isInteger(this.withdrawAfterSkips) || this.withdrawAfterSkips < 1) throw new Error(`withdrawAfterSkips must be an integer >= 1, got ${this.withdrawAfterSkips}`);
    this.maxHeld = opts.maxHeld ?? 2;
    this.labelStep = opts.labelStep ?? (() => store.getMeta<number>('step') ?? 0);
    this.now = opts.now ?? Date.now;
    store.db.exec(SCHEMA);
  }

  /**
   * Ends every unanswered showing now: their annotators' pages belong to an earlier server (their
   * tokens no longer work), so the pairs are offered again at once instead of after the lease.
   */
  releaseLeases(): number {
    return this.store.db.prepare('UPDATE human_labels SET expires_at = ? WHERE answered_at IS NULL AND expires_at > ?').run(this.now(), this.now()).changes;
  }

  /** Answers (not skips) a pair needs: `overlap`, or a third when two disagree and the rule asks for one. */
  private required(answers: Preference[]): number {
    if (this.overlap === 1) return 1;
    if (answers.length >= 2 && answers[0] !== answers[1] && this.conflict === 'third') return 3;
    return 2;
  }

  /** The gold preference decided by a pair's answers (in the pair's own a/b). */
  private decide(answers: Preference[]): Preference {
    if (answers.length === 1) return answers[0];
    if (answers[0] === answers[1]) return answers[0];
    if (answers.length === 2) return 'tie';
    const majority = answers.find((c, i) => answers.indexOf(c) !== i);
    return majority ?? 'tie';
  }

  private showingsOf(pairId: string): Showing[] {
    return this.store.db.prepare('SELECT * FROM human_labels WHERE pair_id = ? ORDER BY rowid').all(pairId) as Showing[];
  }

  private static answersOf(rows: Showing[]): Preference[] {
    return rows.filter((r) => r.choice !== null && r.choice !== 'skip').map((r) => r.choice as Preference);
  }

  /**
   * The next pair for `annotator`, oldest request first, shown in a random order; null when
   * nothing waits for them. A pair is offered while its answers plus live leases fall short of
   * what it needs; never to an annotator who answered it or holds it; pairs this annotator
   * skipped come after every other.
   */
  next(annotator: string): Query | null {
    const now = this.now();
    const db = this.store.db;
    // open requests in pages, oldest first: the first page nearly always holds the answer
    const page = db.prepare('SELECT rowid AS r, pair_id FROM gold_ledger WHERE answered_at IS NULL AND withdrawn_at IS NULL AND rowid > ? ORDER BY rowid LIMIT 64');
    let chosen: string | null = null;
    let skippedByThem: string | null = null;
    let after = 0;
    while (chosen === null) {
      const rows = page.all(after) as { r: number; pair_id: string }[];
      if (rows.length === 0) break;
      after = rows[rows.length - 1].r;
      for (const { pair_id: pairId } of rows) {
        const shown = this.showingsOf(pairId);
        const mine = shown.filter((r) => r.annotator === annotator);
        if (mine.some((r) => (r.choice !== null && r.choice !== 'skip') || (r.answered_at === null && r.expires_at > now))) continue;
        const answers = LabelQueue.answersOf(shown);
        const leases = shown.filter((r) => r.answered_at === null && r.expires_at > now).length;
        if (answers.length + leases >= this.required(answers)) continue;
        if (mine.some((r) => r.choice === 'skip')) {
          skippedByThem ??= pairId;
          continue;
        }
        chosen = pairId;
        break;
      }
    }
    chosen ??= skippedByThem;
    if (chosen === null) return null;
    const pair = this.store.getPair(chosen);
    if (!pair) throw new Error(`gold request for pair ${chosen}, which is not stored`);
    const id = randomBytes(12).toString('base64url');
    const swapped = randomInt(2);
    db.transaction(() => {
      const held = db
        .prepare('SELECT id FROM human_labels WHERE annotator = ? AND answered_at IS NULL AND expires_at > ? ORDER BY shown_at, rowid')
        .pluck()
        .all(annotator, now) as string[];
      const release = db.prepare('UPDATE human_labels SET expires_at = ? WHERE id = ?');
      for (const old of held.slice(0, Math.max(0, held.length + 1 - this.maxHeld))) release.run(now, old);
      db.prepare('INSERT INTO human_labels (id, pair_id, annotator, swapped, shown_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)').run(
        id,
        chosen,
        annotator,
        swapped,
        now,
        now + this.leaseMs,
      );
    }).immediate();
    return swapped ? { id, prompt: pair.prompt, a: pair.b, b: pair.a } : { id, prompt: pair.prompt, a: pair.a, b: pair.b };
  }

  /**
   * Stores `annotator`'s answer to query `id` (in the order shown) and, when it completes the
   * pair, commits the pair's gold label to the ledger in the same transaction: when this
   * returns, the answer is durable. A skip is stored and costs no budget; the pair is offered
   * again, or withdrawn once it has `withdrawAfterSkips` skips and no answer. An answer after the lease ended is taken while the pair still needs it.
   */
  answer(annotator: string, id: string, choice: Choice): AnswerResult {
    const db = this.store.db;
    let committed = false;
    db.transaction(() => {
      const row = db.prepare('SELECT * FROM human_labels WHERE id = ?').get(id) as Showing | undefined;
      // another annotator's query id is as unknown to this one as a made-up id
      if (!row || row.annotator !== annotator) throw new QueueConflict(`unknown query id ${JSON.stringify(id)}`);
      if (row.answered_at !== null) throw new QueueConflict(`query ${id} is already answered`);
      const ledger = db.prepare('SELECT answered_at, withdrawn_at FROM gold_ledger WHERE pair_id = ?').get(row.pair_id) as { answered_at: number | null; withdrawn_at: number | null };
      if (ledger.answered_at !== null) throw new QueueConflict(`query ${id}: its pair is already labelled`);
      if (ledger.withdrawn_at !== null) throw new QueueConflict(`query ${id}: its pair was withdrawn after skips`);
      const stored: Choice = choice === 'skip' || !row.swapped ? choice : flip(choice);
      db.prepare('UPDATE human_labels SET answered_at = ?, choice = ? WHERE id = ?').run(this.now(), stored, id);
      const rows = this.showingsOf(row.pair_id);
      const answers = LabelQueue.answersOf(rows);
      if (stored === 'skip') {
        // nobody could answer it: out of the budget, and the run asks for another pair instead
        if (answers.length === 0 && rows.filter((r) => r.choice === 'skip').length >= this.withdrawAfterSkips) this.store.withdrawGold(row.pair_id);
        return;
      }
      if (answers.length < this.required(answers)) return;
      const by = rows.filter((r) => r.choice !== null && r.choice !== 'skip');
      this.store.commitGold(
        [
          {
            pairId: row.pair_id,
            preference: this.decide(answers),
            cost: { calls: answers.length },
            raw: { annotators: by.map((r) => r.annotator), choices: answers, queries: by.map((r) => r.id) },
          },
        ],
        this.labelStep(),
      );
      committed = true;
    }).immediate();
    return { committed };
  }

  /** Gold requests of the run with no answer yet (every round). */
  open(): number {
    return this.store.db.prepare('SELECT COUNT(*) FROM gold_ledger WHERE answered_at IS NULL AND withdrawn_at IS NULL').pluck().get() as number;
  }

  stats(): QueueStats {
    const db = this.store.db;
    const now = this.now();
    const open = this.open();
    const leased = db.prepare('SELECT COUNT(*) FROM human_labels WHERE answered_at IS NULL AND expires_at > ?').pluck().get(now) as number;
    const per = db
      .prepare(
        `SELECT annotator, SUM(choice IN ('a','b','tie')) AS labels, SUM(choice = 'skip') AS skips
         FROM human_labels WHERE answered_at IS NOT NULL GROUP BY annotator ORDER BY annotator`,
      )
      .all() as { annotator: string; labels: number; skips: number }[];
    const by_annotator: QueueStats['by_annotator'] = {};
    for (const p of per) by_annotator[p.annotator] = { labels: p.labels, skips: p.skips };
    const multi = db
      .prepare(
        `SELECT pair_id, choice FROM human_labels WHERE choice IN ('a','b','tie')
         AND pair_id IN (SELECT pair_id FROM human_labels WHERE choice IN ('a','b','tie') GROUP BY pair_id HAVING COUNT(*) >= 2)
         ORDER BY pair_id, rowid`,
      )
      .all() as { pair_id: string; choice: Preference }[];
    const firstTwo = new Map<string, Preference[]>();
    for (const m of multi) {
      const list = firstTwo.get(m.pair_id) ?? [];
      if (list.length < 2) list.push(m.choice);
      firstTwo.set(m.pair_id, list);
    }
    const agreed = [...firstTwo.values()].filter(([x, y]) => x === y).length;
    return {
      open,
      leased,
      answers: per.reduce((s, p) => s + p.labels, 0),
      skips: per.reduce((s, p) => s + p.skips, 0),
      withdrawn: db.prepare('SELECT COUNT(*) FROM gold_ledger WHERE withdrawn_at IS NOT NULL').pluck().get() as number,
      by_annotator,
      agreement: { pairs: firstTwo.size, agreed, rate: firstTwo.size ? agreed / firstTwo.size : null },
    };
  }
}
