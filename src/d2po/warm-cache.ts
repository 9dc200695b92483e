import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDir } from '../util/ensure-dir.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { processAlive, processStartTime } from '../util/process-alive.js';

/** JSON with object keys sorted, so that equal values hash equally whatever their key order. */
export function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(',')}]`;
  if (x !== null && typeof x === 'object')
    return `{${Object.keys(x)
      .filter((k) => (x as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(x);
}

/** Content address of what produced an artifact: sha256 of its canonical description (hex, 24 chars). */
export function contentKey(what: unknown): string {
  return createHash('sha256').update(canonicalJson(what)).digest('hex').slice(0, 24);
}

/** sha256 of the files of a model folder that fix its outputs (weights, config, tokenizer). */
export function modelFingerprint(dir: string): string {
  const h = createHash('sha256');
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors') || f === 'config.json' || f === 'tokenizer.json' || f === 'model.safetensors.index.json')
    .sort();
  if (names.length === 0) throw new Error(`model folder ${dir} holds no weights to fingerprint`);
  for (const f of names) h.update(f).update('\0').update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 24);
}

/**
 * A content-addressed store of what several runs may share: initial-set chunks and their gold
 * labels, warm-started policies and discriminators. Each artifact lives in `<kind>/<key>/`,
 * written aside and renamed whole, with `key.json` saying exactly what produced it. Producers
 * hold a lock per key, so that runs started together compute (and buy) each thing once.
 */
export class WarmCache {
  constructor(
    readonly dir: string,
    private readonly warn: (m: string) => void = () => {},
  ) {
    ensureDir(dir);
  }

  path(kind: string, key: string): string {
    return join(this.dir, kind, key);
  }

  has(kind: string, key: string): boolean {
    return WarmCache.holds(this.dir, kind, key);
  }

  /** Whether the cache folder `dir` holds an artifact, without creating anything (a dry run looks, never writes). */
  static holds(dir: string, kind: string, key: string): boolean {
    return existsSync(join(dir, kind, key, 'key.json'));
  }

  /**
   * Writes an artifact: `fill` writes its files into a fresh folder, which then replaces any
   * earlier one under the same key in one rename.
   */
  async put(kind: string, key: string, what: unknown, fill: (dir: string) => Promise<void>): Promise<string> {
    const final = this.path(kind, key);
    const tmp = `${final}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    ensureDir(tmp);
    try {
      await fill(tmp);
      await writeFileAtomic(join(tmp, 'key.json'), JSON.stringify(what, null, 1) + '\n');
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw e;
    }
    return final;
  }

  /**
   * Writes a small artifact of named JSON texts at once (for callers that cannot await: the
   * same aside-then-rename as put).
   */
  putSync(kind: string, key: string, what: unknown, files: Record<string, string>): void {
    const final = this.path(kind, key);
    const tmp = `${final}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    ensureDir(tmp);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(tmp, name), text);
    writeFileSync(join(tmp, 'key.json'), JSON.stringify(what, null, 1) + '\n');
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  }

  /** Reads a JSON file of an artifact. */
  async readJson<T>(kind: string, key: string, file: string): Promise<T> {
    return JSON.parse(await readFile(join(this.path(kind, key), file), 'utf8')) as T;
  }

  readJsonSync<T>(kind: string, key: string, file: string): T {
    return JSON.parse(readFileSync(join(this.path(kind, key), file), 'utf8')) as T;
  }

  /** Writes a JSON file into a folder being filled by put. */
  async writeJson(dir: string, file: string, value: unknown): Promise<void> {
    await writeFileAtomic(join(dir, file), JSON.stringify(value) + '\n');
  }

  /**
   * Runs `fn` holding the lock of `key`. A lock whose holder process is gone (killed) is taken
   * over; a live holder is waited for, with a note while waiting.
   */
  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const locks = join(this.dir, 'locks');
    ensureDir(locks);
    const file = join(locks, `${key}.lock`);
    let told = false;
    for (;;) {
      try {
        const fd = openSync(file, 'wx');
        writeSync(fd, JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) }));
        closeSync(fd);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let holder: { pid: number; start: number | null } | null = null;
      try {
        holder = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        // written but not yet filled by its holder, or removed meanwhile: look again shortly
        if (existsSync(file) && Date.now() - statSync(file).mtimeMs > 10_000) holder = { pid: -1, start: null };
      }
      if (holder && (holder.pid === -1 || !processAlive(holder.pid, holder.start))) {
        await rm(file, { force: true });
        continue;
      }
      if (!told && holder) this.warn(`waiting for process ${holder.pid}, which is computing shared warm-start data ${key} in ${this.dir}`);
      told = true;
      await sleep(1000);
    }
    try {
      return await fn();
    } finally {
      await rm(file, { force: true });
    }
  }
}
