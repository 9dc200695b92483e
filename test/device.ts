import type { Device } from '../src/tensor/index.js';

/**
 * Where the model tests run: D2PO_TEST_DEVICE (cuda, cuda:1) or the CPU. scripts/gpu-check.sh runs
 * the numerics and architecture tests on a GPU this way; results are read back to the CPU to compare.
 */
export const TEST_DEVICE = (process.env.D2PO_TEST_DEVICE || 'cpu') as Device;
