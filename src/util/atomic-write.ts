/**
 * Writing an output file whole or not at all: the data goes to a temporary file beside it, then
 * is renamed over it, so a full disk or a kill never leaves a cut file. Errors name the path.
 */
import { statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export class OutputError extends Error {
  override name = 'OutputError';
}

const WHY: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  EISDIR: 'is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such file or folder',
};

/** What an errno means, for a message that names its path. */
export function describeWriteError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && WHY[code]) ?? (err as Error).message;
}

/**
 * Why `path` cannot be an output file (a missing folder, a folder in its place), or null when it
 * can: callers check before long work so that it is not lost to a typo.
 */
export function outputPathProblem(path: string): string | null {
  const folder = dirname(path);
  const kind = (p: string) => {
    try {
      return statSync(p);
    } catch {
      return null;
    }
  };
  const d = kind(folder);
  if (!d) return `the folder ${folder} does not exist`;
  if (!d.isDirectory()) return `${folder} is not a folder`;
  if (kind(path)?.isDirectory()) return 'is a folder';
  return null;
}

/**
 * Writes `data` to `path` atomically (temporary file, then rename). A device or FIFO (/dev/stdout,
 * a named pipe) cannot be replaced and is written in place.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const fail = (err: unknown): never => {
    throw new OutputError(`cannot write ${path}: ${describeWriteError(err)}`);
  };
  const problem = outputPathProblem(path);
  if (problem) throw new OutputError(`${path}: ${problem}`);
  let special = false;
  try {
    special = !statSync(path).isFile();
  } catch {
    // absent: created below
  }
  if (special) return writeFile(path, data).catch(fail);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true, recursive: false }).catch(() => undefined);
    fail(err);
  }
}
