import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Creates a folder and its missing parents, one level at a time. Node's recursive mkdir spins
 * forever where mkdir fails with ENOENT under an existing parent (/proc/x); here any failure is an
 * error at once, naming the folder.
 */
export function ensureDir(path: string): void {
  const missing: string[] = [];
  let cur = resolve(path);
  for (;;) {
    let isDir: boolean | undefined;
    try {
      isDir = statSync(cur).isDirectory();
    } catch {
      // missing (or unreadable: mkdir below says which)
    }
    if (isDir === false) throw new Error(`cannot create folder ${path}: ${cur} is not a folder`);
    if (isDir) break;
    missing.push(cur);
    const parent = dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (e) {
      // a concurrent creator is fine
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statSync(dir).isDirectory()) continue;
      // the code stays, so that callers can say why in their own words
      throw Object.assign(new Error(`cannot create folder ${path}: ${(e as Error).message}`), { code: (e as NodeJS.ErrnoException).code });
    }
  }
}
