import { N } from './native.js';

/** Bytes of the C heap (glibc malloc), where tensor memory lives on CPU. */
export interface HeapStats {
  /** mapped by the allocator (heaps and mmapped chunks) */
  mapped: number;
  /** handed out and not yet freed */
  inUse: number;
  /** freed but still mapped: what trimHeap() can give back */
  free: number;
}

/**
 * Gives freed C-heap pages back to the OS. glibc keeps the high-water mark of large transient
 * tensors (logits, activations) in its heaps, so resident memory would otherwise stay at a
 * step's peak between steps and creep up with fragmentation. A no-op (false) off glibc.
 */
export function trimHeap(): boolean {
  return N.mallocTrim();
}

/** The C heap's figures (glibc), or null where the allocator does not report them. */
export function heapStats(): HeapStats | null {
  return N.mallocStats();
}
