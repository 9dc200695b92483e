import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkSafetensorsFile } from '../model/index.js';
import type { CheckpointRecord } from '../store/run-store.js';

export interface ResumePoint {
  /** the newest checkpoint whose folder is whole; null when none is */
  checkpoint: CheckpointRecord | null;
  /** newer checkpoints passed over, newest first, each with why */
  skipped: { path: string; reason: string }[];
}

async function safetensorsFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return names.filter((n) => n.endsWith('.safetensors')).map((n) => join(dir, n));
}

/** Why checkpoint folder `dir` cannot be restored (a file missing or cut short), or null when it is whole. */
export async function checkpointProblem(dir: string, required: string[]): Promise<string | null> {
  if (!existsSync(dir)) return 'its folder is gone';
  for (const f of required) if (!existsSync(join(dir, f))) return `${f} is missing`;
  try {
    for (const f of await safetensorsFiles(dir)) await checkSafetensorsFile(f);
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

/**
 * The checkpoint a resumed run continues from: the newest one whose folder holds every
 * `required` file, each safetensors file whole. Older folders are pruned as the run goes, so
 * only the newest two can be expected.
 */
export async function newestValidCheckpoint(runDir: string, records: CheckpointRecord[], required: string[]): Promise<ResumePoint> {
  const skipped: ResumePoint['skipped'] = [];
  for (const r of [...records].reverse()) {
    const reason = await checkpointProblem(join(runDir, r.path), required);
    if (reason === null) return { checkpoint: r, skipped };
    skipped.push({ path: r.path, reason });
  }
  return { checkpoint: null, skipped };
}

/** The passed-over checkpoints in words; folders pruned on purpose are counted, not listed. */
export function describeSkipped(skipped: ResumePoint['skipped']): string {
  const shown = skipped.filter((s, i) => i < 2 || s.reason !== 'its folder is gone');
  const pruned = skipped.length - shown.length;
  return shown.map((s) => `${s.path}: ${s.reason}`).join('; ') + (pruned ? `; ${pruned} older one${pruned > 1 ? 's' : ''} pruned earlier` : '');
}
