import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { redactSecrets } from '../util/secrets.js';
import { describeWriteError } from '../util/atomic-write.js';
import { ensureDir } from '../util/ensure-dir.js';

/** File name of a run's database inside its folder. */
export const RUN_DB = 'run.db';

export type RunStatus = 'running' | 'done' | 'failed';

/** A run database that cannot be opened or read; the message names the file. */
export class StoreError extends Error {
  override name = 'StoreError';
}
export type Preference = 'a' | 'b' | 'tie';
export type LabelSource = 'gold' | 'silver';
/** initial: the offline set D_0; online: a rollout of an online step or gold round */
export type PairPhase = 'initial' | 'online';

export interface PairRecord {
  id: string;
  phase: PairPhase;
  /** loop step that sampled it (0 for the initial set) */
  step: number;
  /** gold round whose candidate pool it belongs to (0 = initial set, r+1 = online round r) */
  round: number;
  prompt: string;
  a: string;
  b: string;
  promptIds: number[];
  aIds: number[];
  bIds: number[];
  /** discriminator scores of a and b, one per ensemble member; null when no discriminator scored it */
  scoresA: number[] | null;
  scoresB: number[] | null;
}

export interface GoldAnswer {
  pairId: string;
  preference: Preference;
  scores?: [number, number];
  cost?: { calls: number; inputTokens?: number; outputTokens?: number; usd?: number };
  cached?: boolean;
  raw?: unknown;
}

export interface LedgerEntry {
  pairId: string;
  round: number;
  requestedAt: number;
  /** null while the request is open (asked, or about to be, with no stored answer) */
  answeredAt: number | null;
  /** times the source was asked for this pair (above 1 only after a crash between asking and storing) */
  attempts: number;
  preference: Preference | null;
  costUsd: number | null;
  /** set when people passed the request over (skipped it): it stays unanswered, costs nothing, and is replaced */
  withdrawnAt: number | null;
  /** the withdrawn request this one replaces, if any */
  replaces: string | null;
}

/** A request still waiting for its answer: neither answered nor withdrawn. */
export const isOpen = (e: LedgerEntry): boolean => e.answeredAt === null && e.withdrawnAt === null;

export interface MetricRow {
  step: number;
  goldUsed: number;
  name: string;
  value: number;
}

export interface CheckpointRecord {
  step: number;
  /** online gold rounds completed when it was written */
  roundsDone: number;
  goldUsed: number;
  path: string;
  /** loop state needed to continue from here (JSON) */
  state: unknown;
  createdAt: number;
}

export interface TrainUse {
  step: number;
  round: number;
  target: 'policy' | 'discriminator';
  pairId: string;
  chosen: 'a' | 'b';
  source: LabelSource;
  epochs: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (
  id TEXT PRIMARY KEY, phase TEXT NOT NULL CHECK (phase IN ('initial','online')),
  step INTEGER NOT NULL, round INTEGER NOT NULL,
  prompt TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,
  prompt_ids TEXT NOT NULL, a_ids TEXT NOT NULL, b_ids TEXT NOT NULL,
  scores_a TEXT, scores_b TEXT, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pairs_step ON pairs(step);
CREATE INDEX IF NOT EXISTS pairs_round ON pairs(round);
CREATE TABLE IF NOT EXISTS gold_ledger (
  pair_id TEXT PRIMARY KEY REFERENCES pairs(id),
  round INTEGER NOT NULL,
  requested_at INTEGER NOT NULL, answered_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0,
  preference TEXT CHECK (preference IN ('a','b','tie')), score_a REAL, score_b REAL,
  calls INTEGER, input_tokens INTEGER, output_tokens INTEGER, usd REAL, cached INTEGER, raw TEXT,
  withdrawn_at INTEGER, replaces TEXT);
CREATE TABLE IF NOT EXISTS labels (
  pair_id TEXT NOT NULL REFERENCES pairs(id), source TEXT NOT NULL CHECK (source IN ('gold','silver')),
  round INTEGER NOT NULL, step INTEGER NOT NULL,
  preference TEXT NOT NULL CHECK (preference IN ('a','b','tie')), margin REAL, skip TEXT,
  PRIMARY KEY (pair_id, source));
CREATE TABLE IF NOT EXISTS train_uses (
  id INTEGER PRIMARY KEY, step INTEGER NOT NULL, round INTEGER NOT NULL,
  target TEXT NOT NULL CHECK (target IN ('policy','discriminator')),
  pair_id TEXT NOT NULL, chosen TEXT NOT NULL CHECK (chosen IN ('a','b')),
  source TEXT NOT NULL CHECK (source IN ('gold','silver')), epochs INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS train_uses_step ON train_uses(step);
CREATE TABLE IF NOT EXISTS metrics (step INTEGER NOT NULL, gold_used INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_name ON metrics(name, step);
CREATE TABLE IF NOT EXISTS ref_logprobs (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
  step INTEGER PRIMARY KEY, rounds_done INTEGER NOT NULL, gold_used INTEGER NOT NULL,
  path TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL);
`;

type Row = Record<string, unknown>;

const TABLES = ['meta', 'pairs', 'gold_ledger', 'labels', 'train_uses', 'metrics', 'checkpoints'];

/** Columns added to a table after run databases were first written: an older run.db gains them when opened for writing. */
function addMissingColumns(db: Database.Database): void {
  const have = new Set(db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('gold_ledger'));
  for (const [name, type] of [
    ['withdrawn_at', 'INTEGER'],
    ['replaces', 'TEXT'],
  ])
    if (!have.has(name)) db.exec(`ALTER TABLE gold_ledger ADD COLUMN ${name} ${type}`);
}

/**
 * Why `dir` cannot be written: the errno of its deepest existing ancestor when the folder is
 * missing (a read-only file system shows there, where mkdir would only say ENOENT), else `err`'s.
 */
function whyNotWritable(dir: string, err: unknown): string {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  try {
    accessSync(d, constants.W_OK);
  } catch (probe) {
    return `${d}: ${describeWriteError(probe)}`;
  }
  return describeWriteError(err);
}

/**
 * SQLite treats an empty database file as a fresh one and drops its write-ahead log, which may
 * hold the whole run: such a folder is refused before SQLite sees it.
 */
function assertWalKept(file: string): void {
  const wal = `${file}-wal`;
  const walSize = existsSync(wal) ? statSync(wal).size : 0;
  if (walSize > 0 && statSync(file).size === 0) {
    throw new StoreError(`${file} is empty but its write-ahead log ${RUN_DB}-wal holds ${walSize} bytes (an interrupted write?); both are left as they are`);
  }
}

function pairFromRow(r: Row): PairRecord {
  return {
    id: r.id as string,
    phase: r.phase as PairPhase,
    step: r.step as number,
    round: r.round as number,
    prompt: r.prompt as string,
    a: r.a as string,
    b: r.b as string,
    promptIds: JSON.parse(r.prompt_ids as string),
    aIds: JSON.parse(r.a_ids as string),
    bIds: JSON.parse(r.b_ids as string),
    scoresA: r.scores_a == null ? null : JSON.parse(r.scores_a as string),
    scoresB: r.scores_b == null ? null : JSON.parse(r.scores_b as string),
  };
}

function ledgerFromRow(r: Row): LedgerEntry {
  return {
    pairId: r.pair_id as string,
    round: r.round as number,
    requestedAt: r.requested_at as number,
    answeredAt: (r.answered_at as number | null) ?? null,
    attempts: r.attempts as number,
    preference: (r.preference as Preference | null) ?? null,
    costUsd: (r.usd as number | null) ?? null,
    // absent from the ledgers of runs stored before requests could be withdrawn (read-only opens)
    withdrawnAt: (r.withdrawn_at as number | null | undefined) ?? null,
    replaces: (r.replaces as string | null | undefined) ?? null,
  };
}

/**
 * The SQLite database of one run folder. Every write is durable when the call returns
 * (WAL, synchronous=FULL), so a SIGKILL loses at most the call in flight.
 *
 * The gold ledger is the budget's source of truth: a pair is entered as *requested* (the
 * intent, keyed by the rollout pair id) before the gold source is asked, and becomes
 * *answered* in the same transaction that stores its gold label. A resumed run therefore asks
 * only for requested pairs with no answer, and never for an answered one.
 */
export class RunStore {
  readonly db: Database.Database;
  readonly dir: string;

  private constructor(dir: string, db: Database.Database) {
    this.dir = dir;
    this.db = db;
  }

  /**
   * Opens (creating when `create`) the store of run folder `dir`. A `readonly` store is opened
   * read-only and must hold every table. Errors are StoreErrors naming the file.
   */
  static open(dir: string, opts: { create?: boolean; readonly?: boolean } = {}): RunStore {
    const file = join(dir, RUN_DB);
    if (!existsSync(file)) {
      if (!opts.create) throw new StoreError(`no run database at ${file}`);
      try {
        ensureDir(dir);
      } catch (e) {
        throw new StoreError(`cannot create the run folder ${dir}: ${whyNotWritable(dir, e)}`);
      }
    }
    const readonly = opts.readonly ?? false;
    assertWalKept(file);
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly, fileMustExist: !opts.create });
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        db.exec(SCHEMA);
        addMissingColumns(db);
      }
      db.pragma('busy_timeout = 5000');
      const have = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
      const missing = TABLES.filter((t) => !have.has(t));
      if (missing.length) throw new StoreError(`${file}: not a complete run database (missing tables: ${missing.join(', ')}); an interrupted start?`);
      return new RunStore(dir, db);
    } catch (e) {
      db?.close();
      if (e instanceof StoreError) throw e;
      const code = (e as { code?: string }).code;
      const why = code === 'SQLITE_CANTOPEN' && !readonly ? `cannot open: ${whyNotWritable(dir, e)}` : (e as Error).message;
      throw new StoreError(`${file}: ${why}`);
    }
  }

  close(): void {
    this.db.close();
  }

  // ---- meta ----
  /** Stores `value` as JSON, secret fields (apiKey, token, ...) redacted: no secret is ever written to run.db. */
  setMeta(key: string, value: unknown): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(redactSecrets(value)));
  }
  getMeta<T = unknown>(key: string): T | undefined {
    const r = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    if (r === undefined) return undefined;
    try {
      return JSON.parse(r.value) as T;
    } catch (e) {
      throw new StoreError(`${join(this.dir, RUN_DB)}: meta.${key} is not valid JSON (${(e as Error).message})`);
    }
  }

  // ---- pairs ----
  private insertPairStmt() {
    return this.db.prepare(
      `INSERT INTO pairs (id, phase, step, round, prompt, a, b, prompt_ids, a_ids, b_ids, scores_a, scores_b, created_at)
       VALUES (@id, @phase, @step, @round, @prompt, @a, @b, @prompt_ids, @a_ids, @b_ids, @scores_a, @scores_b, @created_at)`,
    );
  }
  private pairParams(p: PairRecord) {
    return {
      id: p.id,
      phase: p.phase,
      step: p.step,
      round: p.round,
      prompt: p.prompt,
      a: p.a,
      b: p.b,
      prompt_ids: JSON.stringify(p.promptIds),
      a_ids: JSON.stringify(p.aIds),
      b_ids: JSON.stringify(p.bIds),
      scores_a: p.scoresA == null ? null : JSON.stringify(p.scoresA),
      scores_b: p.scoresB == null ? null : JSON.stringify(p.scoresB),
      created_at: Date.now(),
    };
  }

  /** Stores rollout pairs and (optionally) their silver labels in one transaction. */
  addPairs(pairs: PairRecord[], silver: { pairId: string; preference: Preference; margin: number; skip?: string | null }[] = []): void {
    const ins = this.insertPairStmt();
    const lab = this.db.prepare(
      `INSERT INTO labels (pair_id, source, round, step, preference, margin, skip) VALUES (?, 'silver', ?, ?, ?, ?, ?)`,
    );
    const byId = new Map(pairs.map((p) => [p.id, p]));
    this.db.transaction(() => {
      for (const p of pairs) ins.run(this.pairParams(p));
      for (const s of silver) {
        const p = byId.get(s.pairId) ?? this.getPair(s.pairId);
        if (!p) throw new Error(`silver label for unknown pair ${s.pairId}`);
        lab.run(s.pairId, p.round, p.step, s.preference, s.margin, s.skip ?? null);
      }
    }).immediate();
  }

  getPair(id: string): PairRecord | undefined {
    const r = this.db.prepare('SELECT * FROM pairs WHERE id = ?').get(id) as Row | undefined;
    return r ? pairFromRow(r) : undefined;
  }

  getPairs(ids: string[]): PairRecord[] {
    const stmt = this.db.prepare('SELECT * FROM pairs WHERE id = ?');
    return ids.map((id) => {
      const r = stmt.get(id) as Row | undefined;
      if (!r) throw new Error(`unknown pair ${id}`);
      return pairFromRow(r);
    });
  }

  /** Online pairs of candidate pool `round`, in sampling order. */
  pairsOfRound(round: number, phase: PairPhase = 'online'): PairRecord[] {
    return (this.db.prepare('SELECT * FROM pairs WHERE round = ? AND phase = ? ORDER BY step, rowid').all(round, phase) as Row[]).map(pairFromRow);
  }

  /** The pair stored last (the newest sample of the run), if any. */
  lastPair(): PairRecord | undefined {
    const r = this.db.prepare('SELECT * FROM pairs ORDER BY rowid DESC LIMIT 1').get() as Row | undefined;
    return r ? pairFromRow(r) : undefined;
  }

  countPairs(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM pairs').get() as { n: number }).n;
  }

  // ---- gold ledger ----
  /**
   * Records the intent to buy gold for these pairs (round `round`), durably, before asking.
   * A pair already in the ledger is an error: nothing is ever bought twice. `replaces[i]`, when
   * given, is the withdrawn request that pair i takes the place of.
   */
  requestGold(pairIds: string[], round: number, replaces?: string[]): void {
    const ins = this.db.prepare('INSERT INTO gold_ledger (pair_id, round, requested_at, replaces) VALUES (?, ?, ?, ?)');
    const now = Date.now();
    this.db.transaction(() => {
      for (const [i, id] of pairIds.entries()) {
        const existing = this.db.prepare('SELECT round FROM gold_ledger WHERE pair_id = ?').get(id);
        if (existing) throw new Error(`gold already requested for pair ${id}`);
        ins.run(id, round, now, replaces?.[i] ?? null);
      }
    }).immediate();
  }

  /**
   * Withdraws an open request that people passed over: it will never be answered, costs
   * nothing against P, and the loop requests a replacement. False when it was not open.
   */
  withdrawGold(pairId: string): boolean {
    return this.db.prepare('UPDATE gold_ledger SET withdrawn_at = ? WHERE pair_id = ? AND answered_at IS NULL AND withdrawn_at IS NULL').run(Date.now(), pairId).changes === 1;
  }

  /** Withdrawn requests of `round` that no request replaces yet, in request order. */
  unreplaced(round: number): string[] {
    return this.db
      .prepare(
        `SELECT pair_id FROM gold_ledger WHERE round = ? AND withdrawn_at IS NOT NULL
         AND pair_id NOT IN (SELECT replaces FROM gold_ledger WHERE replaces IS NOT NULL) ORDER BY rowid`,
      )
      .pluck()
      .all(round) as string[];
  }

  /** Counts one more ask for these open requests (call right before asking the source). */
  markAsked(pairIds: string[]): void {
    const up = this.db.prepare('UPDATE gold_ledger SET attempts = attempts + 1 WHERE pair_id = ? AND answered_at IS NULL');
    this.db.transaction(() => {
      for (const id of pairIds) up.run(id);
    }).immediate();
  }

  /**
   * Commits gold answers: each open request becomes answered and its gold label is stored, in
   * one transaction. Answering a pair that was not requested, or twice, throws.
   */
  commitGold(answers: GoldAnswer[], step: number): void {
    const get = this.db.prepare('SELECT round, answered_at, withdrawn_at FROM gold_ledger WHERE pair_id = ?');
    const up = this.db.prepare(
      `UPDATE gold_ledger SET answered_at = @at, preference = @preference, score_a = @score_a, score_b = @score_b,
         calls = @calls, input_tokens = @input_tokens, output_tokens = @output_tokens, usd = @usd, cached = @cached, raw = @raw
       WHERE pair_id = @pair_id`,
    );
    const lab = this.db.prepare(`INSERT INTO labels (pair_id, source, round, step, preference, margin, skip) VALUES (?, 'gold', ?, ?, ?, ?, ?)`);
    const now = Date.now();
    this.db.transaction(() => {
      for (const a of answers) {
        const row = get.get(a.pairId) as { round: number; answered_at: number | null; withdrawn_at: number | null } | undefined;
        if (!row) throw new Error(`gold answer for pair ${a.pairId}, which was never requested`);
        if (row.answered_at !== null) throw new Error(`gold answer for pair ${a.pairId} is already stored`);
        if (row.withdrawn_at !== null) throw new Error(`gold answer for pair ${a.pairId}, whose request was withdrawn`);
        up.run({
          pair_id: a.pairId,
          at: now,
          preference: a.preference,
          score_a: a.scores?.[0] ?? null,
          score_b: a.scores?.[1] ?? null,
          calls: a.cost?.calls ?? null,
          input_tokens: a.cost?.inputTokens ?? null,
          output_tokens: a.cost?.outputTokens ?? null,
          usd: a.cost?.usd ?? null,
          cached: a.cached === undefined ? null : a.cached ? 1 : 0,
          raw: a.raw === undefined ? null : JSON.stringify(a.raw),
        });
        const margin = a.scores ? a.scores[0] - a.scores[1] : null;
        lab.run(a.pairId, row.round, step, a.preference, margin, a.preference === 'tie' ? 'tie' : null);
      }
    }).immediate();
  }

  /** Ledger entries of one round (all rounds when undefined), in request order. */
  ledger(round?: number): LedgerEntry[] {
    const rows = (round === undefined
      ? this.db.prepare('SELECT * FROM gold_ledger ORDER BY rowid').all()
      : this.db.prepare('SELECT * FROM gold_ledger WHERE round = ? ORDER BY rowid').all(round)) as Row[];
    return rows.map(ledgerFromRow);
  }

  /** The stored gold answer for a pair, as committed (null while unanswered or never requested). */
  goldAnswer(pairId: string): (Omit<GoldAnswer, 'pairId'> & { preference: Preference }) | null {
    const r = this.db.prepare('SELECT * FROM gold_ledger WHERE pair_id = ? AND answered_at IS NOT NULL').get(pairId) as Row | undefined;
    if (!r) return null;
    const num = (k: string) => (r[k] === null ? undefined : (r[k] as number));
    return {
      preference: r.preference as Preference,
      scores: r.score_a === null || r.score_b === null ? undefined : [r.score_a as number, r.score_b as number],
      cost: r.calls === null ? undefined : { calls: r.calls as number, inputTokens: num('input_tokens'), outputTokens: num('output_tokens'), usd: num('usd') },
      cached: r.cached === null ? undefined : r.cached === 1,
      raw: r.raw === null ? undefined : JSON.parse(r.raw as string),
    };
  }

  /**
   * Gold labels bought and stored (ties included: they were paid for): all of them, or those of
   * the initial set (ledger round 0) or of the online rounds (1 and on).
   */
  goldUsed(phase?: PairPhase): number {
    const where = phase === undefined ? '' : phase === 'initial' ? ' AND round = 0' : ' AND round > 0';
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM gold_ledger WHERE answered_at IS NOT NULL${where}`).get() as { n: number }).n;
  }

  /** Stored gold labels with their pairs, for the given rounds (all when undefined). */
  goldLabels(rounds?: number[]): { pair: PairRecord; preference: Preference; round: number }[] {
    const rows = this.db
      .prepare(
        `SELECT p.*, l.preference AS gold_pref, l.round AS gold_round FROM gold_ledger g
         JOIN labels l ON l.pair_id = g.pair_id AND l.source = 'gold'
         JOIN pairs p ON p.id = g.pair_id ORDER BY g.rowid`,
      )
      .all() as Row[];
    const keep = rounds ? new Set(rounds) : null;
    return rows
      .filter((r) => !keep || keep.has(r.gold_round as number))
      .map((r) => ({ pair: pairFromRow(r), preference: r.gold_pref as Preference, round: r.gold_round as number }));
  }

  /** Silver labels with their pairs and discriminator margins, in sampling order. */
  silverLabels(): { pair: PairRecord; preference: Preference; margin: number; skip: string | null }[] {
    const rows = this.db
      .prepare(
        `SELECT p.*, l.preference AS silver_pref, l.margin AS silver_margin, l.skip AS silver_skip FROM labels l
         JOIN pairs p ON p.id = l.pair_id WHERE l.source = 'silver' ORDER BY p.step, p.rowid`,
      )
      .all() as Row[];
    return rows.map((r) => ({
      pair: pairFromRow(r),
      preference: r.silver_pref as Preference,
      margin: r.silver_margin as number,
      skip: (r.silver_skip as string | null) ?? null,
    }));
  }

  // ---- labels ----
  labelsOf(pairId: string): { source: LabelSource; preference: Preference; round: number; step: number; skip: string | null }[] {
    return this.db.prepare('SELECT source, preference, round, step, skip FROM labels WHERE pair_id = ? ORDER BY source').all(pairId) as never;
  }

  countLabels(source: LabelSource): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM labels WHERE source = ?').get(source) as { n: number }).n;
  }

  // ---- training uses (what trained on which label: for audits and tests) ----
  recordUses(uses: TrainUse[]): void {
    const ins = this.db.prepare('INSERT INTO train_uses (step, round, target, pair_id, chosen, source, epochs) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const u of uses) ins.run(u.step, u.round, u.target, u.pairId, u.chosen, u.source, u.epochs);
    }).immediate();
  }

  uses(filter: { target?: 'policy' | 'discriminator'; source?: LabelSource } = {}): TrainUse[] {
    const rows = this.db
      .prepare(
        `SELECT step, round, target, pair_id AS pairId, chosen, source, epochs FROM train_uses
         WHERE (@target IS NULL OR target = @target) AND (@source IS NULL OR source = @source) ORDER BY id`,
      )
      .all({ target: filter.target ?? null, source: filter.source ?? null });
    return rows as TrainUse[];
  }

  // ---- metrics ----
  logMetrics(step: number, goldUsed: number, values: Record<string, number>): void {
    const ins = this.db.prepare('INSERT INTO metrics (step, gold_used, name, value, at) VALUES (?, ?, ?, ?, ?)');
    const now = Date.now();
    this.db.transaction(() => {
      for (const [name, value] of Object.entries(values)) if (Number.isFinite(value)) ins.run(step, goldUsed, name, value, now);
    }).immediate();
  }

  metrics(name?: string): MetricRow[] {
    const rows = (name === undefined
      ? this.db.prepare('SELECT step, gold_used AS goldUsed, name, value FROM metrics ORDER BY rowid').all()
      : this.db.prepare('SELECT step, gold_used AS goldUsed, name, value FROM metrics WHERE name = ? ORDER BY rowid').all(name)) as MetricRow[];
    return rows;
  }

  /** The metrics of the last evaluation (names starting with `prefix`), with its step. */
  lastMetrics(prefix: string): { step: number; goldUsed: number; values: Record<string, number> } | null {
    const last = this.db.prepare(`SELECT step FROM metrics WHERE name LIKE ? ORDER BY rowid DESC LIMIT 1`).get(`${prefix}%`) as { step: number } | undefined;
    if (!last) return null;
    const rows = this.db
      .prepare('SELECT name, value, gold_used AS goldUsed FROM metrics WHERE name LIKE ? AND step = ? ORDER BY rowid')
      .all(`${prefix}%`, last.step) as { name: string; value: number; goldUsed: number }[];
    const values: Record<string, number> = {};
    for (const r of rows) values[r.name] = r.value;
    return { step: last.step, goldUsed: rows[rows.length - 1]?.goldUsed ?? 0, values };
  }

  // ---- the reference model's log-probs (frozen for the run's life, so never truncated) ----
  /** Stored reference log-probs of these keys (prompt and response ids); absent keys are left out. */
  refLogprobs(keys: string[]): Map<string, number> {
    const get = this.db.prepare('SELECT value FROM ref_logprobs WHERE key = ?');
    const out = new Map<string, number>();
    for (const k of keys) {
      const row = get.get(k) as { value: number } | undefined;
      if (row) out.set(k, row.value);
    }
    return out;
  }

  putRefLogprobs(entries: [string, number][]): void {
    const ins = this.db.prepare('INSERT OR IGNORE INTO ref_logprobs (key, value) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const [k, v] of entries) ins.run(k, v);
    }).immediate();
  }

  // ---- checkpoints ----
  addCheckpoint(c: Omit<CheckpointRecord, 'createdAt'>): void {
    this.db
      .prepare(
        `INSERT INTO checkpoints (step, rounds_done, gold_used, path, state, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(step) DO UPDATE SET rounds_done = excluded.rounds_done, gold_used = excluded.gold_used,
           path = excluded.path, state = excluded.state, created_at = excluded.created_at`,
      )
      .run(c.step, c.roundsDone, c.goldUsed, c.path, JSON.stringify(c.state), Date.now());
  }

  checkpoints(): CheckpointRecord[] {
    return (this.db.prepare('SELECT * FROM checkpoints ORDER BY step').all() as Row[]).map((r) => ({
      step: r.step as number,
      roundsDone: r.rounds_done as number,
      goldUsed: r.gold_used as number,
      path: r.path as string,
      state: JSON.parse(r.state as string),
      createdAt: r.created_at as number,
    }));
  }

  /**
   * Forgets what a killed run did after checkpoint step `step`, so it can be replayed: its
   * silver pairs and labels, training uses, metrics and later checkpoints. Gold stays: pairs in
   * the ledger and their labels are kept and reused when the replay reaches their round.
   */
  truncateAfter(step: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM train_uses WHERE step > ?').run(step);
      this.db.prepare('DELETE FROM metrics WHERE step > ?').run(step);
      this.db.prepare('DELETE FROM checkpoints WHERE step > ?').run(step);
      this.db.prepare(`DELETE FROM labels WHERE source = 'silver' AND step > ?`).run(step);
      this.db.prepare('DELETE FROM pairs WHERE step > ? AND id NOT IN (SELECT pair_id FROM gold_ledger)').run(step);
    }).immediate();
  }
}
