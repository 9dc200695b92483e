/**
 * The one JSONL reader of every command. Rules: a UTF-8 BOM at the start is skipped; lines end
 * at "\n" with an optional "\r" before it; blank (whitespace-only) lines are skipped but still
 * counted, so line numbers are those an editor shows; each line must be valid UTF-8 (an error,
 * never a silent U+FFFD), valid JSON and match the schema; unknown fields are named.
 */
import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';

export class JsonlError extends Error {
  override name = 'JsonlError';
}

export interface JsonlLine<T> {
  /** 1-based line number in the file */
  line: number;
  value: T;
}

/** Byte index of the first byte that does not start a valid UTF-8 sequence. */
function firstInvalidByte(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (n === 0 || !isUtf8(b.subarray(i, i + n))) return i;
    i += n;
  }
  return -1;
}

/** The issues of the union alternative a value comes closest to (fewest issues; the first on a tie). */
function closest(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const only = issues.length === 1 ? issues[0] : undefined;
  if (only?.code !== 'invalid_union' || only.errors.length === 0) return issues;
  return closest(only.errors.reduce((best, e) => (e.length < best.length ? e : best)));
}

function describeIssues(issues: z.core.$ZodIssue[]): string {
  const unknown = issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path.map(String), k].join('.')) : []));
  if (unknown.length) return `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`;
  const i = issues[0];
  if (i.path.length === 0) return i.code === 'invalid_type' ? `expected an object, got ${i.message.replace(/^.*received /, '')}` : i.message;
  return `field '${i.path.map(String).join('.')}': ${i.message}`;
}

/** Parses JSONL bytes; every error names `file`, the line, and (for schema errors) the field. */
export function parseJsonl<T>(bytes: Uint8Array, file: string, schema: z.ZodType<T>, expected?: string): JsonlLine<T>[] {
  const hint = expected ? ` (expected ${expected})` : '';
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const out: JsonlLine<T>[] = [];
  let line = 0;
  for (let from = start; from < bytes.length; ) {
    const nl = bytes.indexOf(0x0a, from);
    const end = nl < 0 ? bytes.length : nl;
    const raw = bytes.subarray(from, end > from && bytes[end - 1] === 0x0d ? end - 1 : end);
    from = end + 1;
    line++;
    const where = `${file}:${line}`;
    if (!isUtf8(raw)) {
      const at = firstInvalidByte(raw);
      throw new JsonlError(`${where}: invalid UTF-8 (byte 0x${raw[at].toString(16).padStart(2, '0')} at column ${at + 1})`);
    }
    const text = decoder.decode(raw);
    if (text.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new JsonlError(`${where}: not valid JSON (${(err as Error).message})${hint}`);
    }
    const r = schema.safeParse(json);
    if (!r.success) throw new JsonlError(`${where}: ${describeIssues(closest(r.error.issues))}${hint}`);
    out.push({ line, value: r.data });
  }
  return out;
}

/** Reads and parses a JSONL file ('-' reads stdin, named <stdin> in errors). */
export async function readJsonl<T>(path: string, schema: z.ZodType<T>, expected?: string): Promise<JsonlLine<T>[]> {
  const stdin = path === '-';
  let bytes: Uint8Array;
  try {
    bytes = stdin ? await readStdin() : await readFile(path);
  } catch (err) {
    throw new JsonlError(`cannot read ${stdin ? '<stdin>' : path}: ${(err as Error).message}`);
  }
  return parseJsonl(bytes, stdin ? '<stdin>' : path, schema, expected);
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
