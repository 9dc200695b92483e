import { existsSync } from 'node:fs';
import type { AdamW } from '../tensor/index.js';
import { readSafetensorsFile, writeSafetensors } from '../model/index.js';

/** Writes an AdamW state (moments as tensors, step count in the metadata) to a safetensors file. */
export async function saveOptimizer(path: string, opt: AdamW): Promise<void> {
  const s = opt.stateDict();
  try {
    await writeSafetensors(path, s.tensors, { step: String(s.step), lr: String(opt.lr) });
  } finally {
    for (const t of Object.values(s.tensors)) t.dispose();
  }
}

/** Restores a state written by saveOptimizer; throws when the file is missing. */
export async function loadOptimizer(path: string, opt: AdamW): Promise<void> {
  if (!existsSync(path)) throw new Error(`optimizer state ${path} not found`);
  const { tensors, metadata } = await readSafetensorsFile(path);
  try {
    opt.loadStateDict({ step: Number(metadata.step ?? 0), tensors: Object.fromEntries(tensors) });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
