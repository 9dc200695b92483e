/**
 * The people (or simulated annotators) who label a run's gold requests, and their bearer tokens.
 * A token is shown once, when issued; run.db holds only its sha256, so a copied run folder
 * grants no access.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RunStore } from '../store/run-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS annotators (
  name TEXT PRIMARY KEY, token_sha256 TEXT UNIQUE, created_at INTEGER NOT NULL, token_at INTEGER);
`;

/** What an annotator name may be: it is printed on one line with the token and used in URLs and logs. */
export const ANNOTATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface IssuedToken {
  name: string;
  token: string;
}

function sha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class Annotators {
  constructor(private readonly store: RunStore) {
    store.db.exec(SCHEMA);
  }

  /**
   * A fresh token for each name (created when new); every other token of the run, this name's
   * earlier one included, stops working. So the tokens that work are exactly those printed by
   * the last start, and labels stay attributed to the names.
   */
  issue(names: string[]): IssuedToken[] {
    for (const n of names) if (!ANNOTATOR_NAME.test(n)) throw new Error(`annotator name '${n}' must match ${ANNOTATOR_NAME.source}`);
    if (new Set(names).size !== names.length) throw new Error(`annotator names repeat: ${names.join(',')}`);
    const now = Date.now();
    const issued = names.map((name) => ({ name, token: randomBytes(24).toString('base64url') }));
    const db = this.store.db;
    db.transaction(() => {
      db.prepare('UPDATE annotators SET token_sha256 = NULL').run();
      const up = db.prepare(
        `INSERT INTO annotators (name, token_sha256, created_at, token_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET token_sha256 = excluded.token_sha256, token_at = excluded.token_at`,
      );
      for (const t of issued) up.run(t.name, sha256(t.token), now, now);
    }).immediate();
    return issued;
  }

  /** The annotator holding this token, or null. */
  authenticate(token: string): string | null {
    const r = this.store.db.prepare('SELECT name FROM annotators WHERE token_sha256 = ?').get(sha256(token)) as { name: string } | undefined;
    return r?.name ?? null;
  }
}
