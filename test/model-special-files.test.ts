// A model folder whose files are FIFOs or devices is refused by name, instead of blocking or reading forever.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/model/index.js';
import { tinyModelDir } from './d2po-fixture.js';

const skip = process.platform === 'win32' && 'needs mkfifo and /dev/zero';

/** The tiny model's folder, with `name` replaced by `make(path)`. */
async function withSpecial(name: string, make: (path: string) => Promise<void>): Promise<string> {
  const src = await tinyModelDir();
  const dir = await mkdtemp(join(tmpdir(), 'd2po-special-'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) if (f !== name) await copyFile(join(src, f), join(dir, f));
  await rm(src, { recursive: true });
  await make(join(dir, name));
  return dir;
}

const fifo = async (p: string) => void execFileSync('mkfifo', [p]);
const devZero = (p: string) => symlink('/dev/zero', p);

for (const [name, make, kind] of [
  ['model.safetensors', fifo, 'a FIFO'],
  ['model.safetensors', devZero, 'a character device'],
  ['config.json', fifo, 'a FIFO'],
  ['tokenizer.json', devZero, 'a character device'],
] as const) {
  test(`${name} that is ${kind} is refused`, { skip, timeout: 20_000 }, async () => {
    const dir = await withSpecial(name, make);
    await assert.rejects(loadModel(dir), new RegExp(`${join(dir, name).replace(/[.]/g, '\\.')} is ${kind}, not a regular file`));
    await rm(dir, { recursive: true });
  });
}
