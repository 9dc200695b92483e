/**
 * Durable cache of LLM-judge verdicts in one SQLite table, so a pair is never paid for twice, also
 * across processes. Works in any database file (its own or a shared one): it only creates its
 * table, and leaves the file's journal mode to whoever owns the file.
 */
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ensureDir } from '../util/ensure-dir.js';

export const CACHE_TABLE = 'gold_judge_cache';

/** Everything that determines a verdict. Responses are put in canonical (sorted) order, so (a, b) and (b, a) share an entry. */
export interface JudgeKeyParts {
  model: string;
  rubricVersion: string;
  aspects: readonly string[];
  prompt: string;
  responses: [string, string];
  reference?: string;
}

export interface JudgeKey {
  key: string;
  /** True when responses[1] sorts first: stored values are then the reverse of (a, b). */
  swapped: boolean;
}

export function judgeKey(p: JudgeKeyParts): JudgeKey {
  const swapped = p.responses[1] < p.responses[0];
  const [first, second] = swapped ? [p.responses[1], p.responses[0]] : p.responses;
  const key = createHash('sha256')
    .update(JSON.stringify([p.model, p.rubricVersion, [...p.aspects].sort(), p.prompt, p.reference ?? null, first, second]))
    .digest('hex');
  return { key, swapped };
}

/** A verdict in canonical order: index 0 is the response that sorts first. */
export interface JudgeRecord {
  scores: [number, number];
  /** Per aspect, canonical order. */
  ratings: Record<string, [number, number]>;
  /** Canonical index of the response the judge saw as Text 1. */
  shownFirst: 0 | 1;
  raw: string;
  /** What the verdict cost when it was bought. */
  calls: number;
  inputTokens?: number;
  outputTokens?: number;
  usd?: number;
}

export class JudgeCache {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { record: string }>;
  private readonly putStmt: Database.Statement<[string, string, string, string, string]>;

  constructor(readonly path: string) {
    if (path !== ':memory:') ensureDir(dirname(path));
    try {
      this.db = new Database(path);
    } catch (err) {
      throw new Error(`cannot open the judge cache at ${path}: ${(err as Error).message}`);
    }
    // FULL: a verdict is on disk before label() returns it, so a crash never loses a paid-for answer.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${CACHE_TABLE} (
      key TEXT PRIMARY KEY,
      model TEXT NOT NULL,
      rubric_version TEXT NOT NULL,
      record TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`);
    this.getStmt = this.db.prepare(`SELECT record FROM ${CACHE_TABLE} WHERE key = ?`);
    // First writer wins, so two processes that raced on one pair keep one verdict.
    this.putStmt = this.db.prepare(
      `INSERT OR IGNORE INTO ${CACHE_TABLE} (key, model, rubric_version, record, created_at) VALUES (?, ?, ?, ?, ?)`,
    );
  }

  get(key: string): JudgeRecord | undefined {
    const row = this.getStmt.get(key);
    return row ? (JSON.parse(row.record) as JudgeRecord) : undefined;
  }

  put(key: string, model: string, rubricVersion: string, record: JudgeRecord): void {
    this.putStmt.run(key, model, rubricVersion, JSON.stringify(record), new Date().toISOString());
  }

  /** Number of cached verdicts. */
  size(): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM ${CACHE_TABLE}`).get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
