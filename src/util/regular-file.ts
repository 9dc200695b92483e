import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';

function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Throws unless `path` (after symlinks) is a regular file: reading a FIFO blocks until a writer
 * comes, and a device such as /dev/zero never ends. A missing file is left to the reader to report.
 */
export async function assertRegularFile(path: string): Promise<void> {
  let s: Stats;
  try {
    s = await stat(path);
  } catch {
    return;
  }
  if (!s.isFile()) throw new Error(`${path} is ${kindOf(s)}, not a regular file`);
}
