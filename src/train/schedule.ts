/**
 * Learning rate at `step` (0-based): linear warm-up from lr/warmup to lr over `warmupSteps`,
 * then cosine decay to `minLr` at `totalSteps`.
 */
export function cosineLr(step: number, opts: { lr: number; minLr: number; warmupSteps: number; totalSteps: number }): number {
  const { lr, minLr, warmupSteps, totalSteps } = opts;
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
