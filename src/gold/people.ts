import type { GoldLabel, GoldPair, GoldSource } from './source.js';

/**
 * People labelling through `d2po serve`. The server commits every answer to the run's ledger
 * itself (durable before it is acknowledged), so this source is never asked: the loop waits for
 * the ledger instead.
 */
export class PeopleGold implements GoldSource {
  readonly name = 'people';
  /** people's time is the cost this project exists to save; nothing is billed per call */
  readonly paid = false;
  readonly ledgerAnswers: { pollMs: number };

  constructor(pollMs: number) {
    this.ledgerAnswers = { pollMs };
  }

  label(_pairs: GoldPair[]): Promise<GoldLabel[]> {
    return Promise.reject(new Error("gold type 'people' answers through d2po serve, in the run's ledger; nothing asks it directly"));
  }
}
