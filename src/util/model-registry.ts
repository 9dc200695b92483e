/**
 * The shipped models: `models/registry.json` lists each model folder with its role; parameter
 * count and held-out perplexity come from the registry entry when given, else from the folder's
 * eval.json (written by `d2po pretrain`). `resolveModelPath` lets commands accept a shipped
 * model's name where they take a model folder.
 *
 * models/registry.json: { "models": [ { "name", "path" (relative to models/), "role",
 *   "description"?, "params"?, "heldout_ppl"? } ] }
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../models');

const entrySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, . _ -'),
  path: z.string().min(1),
  /** policy-base, cd-small, cd-large, math-base, ... */
  role: z.string().min(1),
  description: z.string().optional(),
  params: z.number().int().positive().optional(),
  heldout_ppl: z.number().positive().optional(),
});
const registrySchema = z.strictObject({ models: z.array(entrySchema) });

export interface ShippedModel {
  name: string;
  role: string;
  /** Absolute folder path. */
  path: string;
  description: string;
  params: number | null;
  /** Perplexity on the held-out test split (dev when there is no test split). */
  heldout_ppl: number | null;
  dev_ppl: number | null;
}

export function readRegistry(modelsDir = MODELS_DIR): ShippedModel[] {
  const file = join(modelsDir, 'registry.json');
  if (!existsSync(file)) throw new Error(`model registry not found: ${file}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const r = registrySchema.safeParse(json);
  if (!r.success) {
    throw new Error(r.error.issues.map((i) => `${file}: field '${i.path.join('.') || '(root)'}': ${i.message}`).join('\n'));
  }
  const names = new Set<string>();
  return r.data.models.map((m, i) => {
    if (names.has(m.name)) throw new Error(`${file}: field 'models.${i}.name': duplicate name '${m.name}'`);
    names.add(m.name);
    const path = resolve(modelsDir, m.path);
    const evalPath = join(path, 'eval.json');
    const ev = existsSync(evalPath)
      ? (JSON.parse(readFileSync(evalPath, 'utf8')) as { params?: number; dev_ppl?: number; test_ppl?: number | null })
      : {};
    return {
      name: m.name,
      role: m.role,
      path,
      description: m.description ?? '',
      params: m.params ?? ev.params ?? null,
      heldout_ppl: m.heldout_ppl ?? ev.test_ppl ?? ev.dev_ppl ?? null,
      dev_ppl: ev.dev_ppl ?? null,
    };
  });
}

/** A shipped model's folder when `nameOrPath` is a registered name (and not an existing path), else the argument. */
export function resolveModelPath(nameOrPath: string, modelsDir = MODELS_DIR): string {
  if (existsSync(nameOrPath)) return nameOrPath;
  const reg = existsSync(join(modelsDir, 'registry.json')) ? readRegistry(modelsDir) : [];
  return reg.find((m) => m.name === nameOrPath)?.path ?? nameOrPath;
}
