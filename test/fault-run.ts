// The fault suite's tiny run as a child process, and the checks every fault ends with (tests only).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RunStore } from '../src/store/run-store.js';

const BIN = join(process.cwd(), 'bin', 'd2po.mjs');

/** Gold budget P of the fault run: 4 initial + 2 rounds of 4, over 4 steps; a checkpoint after every step. */
export const P = 12;

export function runArgs(task: string, model: string, dir: string): string[] {
  return [
    'run', '--method', 'd2po', '--task', task, '--model', model, '--out', dir, '--seed', '7',
    '--gold-budget', String(P), '--initial-gold', '4', '--rounds', '2', '--steps', '4', '--batch-size', '4',
    '--checkpoint-every', '1', '--eval-every', '0', '--threads', '1', '--no-progress',
    '--set', 'policy.batchSize=4', '--set', 'policy.goldEpochs=1', '--set', 'init.policyEpochs=1', '--set', 'init.discriminatorEpochs=1',
    '--set', 'discriminator.epochs=1', '--set', 'discriminator.batchSize=4', '--set', 'eval.prompts=2', '--set', 'eval.accuracyPairs=0',
  ];
}

export interface Child {
  proc: ChildProcess;
  exited: Promise<number | null>;
  stderr(): string;
}

export function start(args: string[]): Child {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  return { proc, exited, stderr: () => err };
}

/** The run's checkpoint folders being written (left behind by a kill mid-write). */
export function partialCheckpoints(dir: string): string[] {
  const root = join(dir, 'checkpoints');
  return existsSync(root) ? readdirSync(root).filter((n) => n.endsWith('.tmp')) : [];
}

/**
 * The end of every fault: the run is done at its last step, and its ledger holds exactly P
 * labels, each bought once, every label answered before a kill kept as it was.
 */
export function assertFinished(dir: string, answeredBefore: Map<string, number | null>[]): void {
  const s = RunStore.open(dir, { readonly: true });
  try {
    assert.equal(s.getMeta('status'), 'done', `status: ${s.getMeta('status')} ${s.getMeta('error') ?? ''}`);
    assert.equal(s.getMeta('step'), 4);
    const ledger = s.ledger();
    assert.equal(ledger.length, P, 'exactly P labels');
    assert.equal(new Set(ledger.map((e) => e.pairId)).size, P, 'no pair twice');
    assert.ok(ledger.every((e) => e.answeredAt !== null), 'every request answered');
    assert.equal(s.countLabels('gold'), P);
    for (const before of answeredBefore)
      for (const [id, at] of before) if (at !== null) assert.equal(ledger.find((e) => e.pairId === id)?.answeredAt, at, `gold label of ${id} reused, not bought again`);
    assert.deepEqual(partialCheckpoints(dir), [], 'no half-written checkpoint left');
  } finally {
    s.close();
  }
}
