import type { LoraSpec } from '../model/index.js';
import type { RunConfig } from './config.js';

/** The run's LoRA settings as adapters take them, or null when LoRA is off. */
export function loraSpecOf(c: RunConfig): LoraSpec | null {
  const l = c.lora;
  return l.r > 0 ? { r: l.r, alpha: l.alpha, dropout: l.dropout, targets: l.targets, rslora: false } : null;
}
