import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as T from '../src/tensor/index.js';

const glibc = process.platform === 'linux' && T.heapStats() !== null;
const rssBytes = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
const MiB = 2 ** 20;

test('memory of freed tensors goes back to the OS after trimHeap', { skip: glibc ? false : 'needs glibc malloc (mallinfo2, malloc_trim)' }, () => {
  // 64 KiB tensors stay under glibc's mmap threshold, so they live in its heap like a step's
  // activations; the last one pins the heap top, so only a trim (not free) can return the rest
  const many = Array.from({ length: 512 }, () => T.ones([16384]).keep());
  const pin = T.ones([16384]).keep();
  for (const t of many) t.dispose();
  const stats = T.heapStats()!;
  assert.ok(stats.free >= 24 * MiB, `freed 32 MiB of tensors, the heap holds ${(stats.free / MiB).toFixed(1)} MiB free`);
  const before = rssBytes();
  assert.equal(T.trimHeap(), true);
  const released = before - rssBytes();
  assert.ok(released >= 24 * MiB, `trimHeap released ${(released / MiB).toFixed(1)} MiB of 32 MiB freed`);
  pin.dispose();
});

test('heap figures are consistent', { skip: glibc ? false : 'needs glibc malloc' }, () => {
  const s = T.heapStats()!;
  assert.ok(s.mapped > 0 && s.inUse > 0 && s.free >= 0 && s.inUse + s.free <= s.mapped + 1, JSON.stringify(s));
});
