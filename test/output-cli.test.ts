import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { d2po } from './cli.js';
import { writeFileAtomic } from '../src/util/atomic-write.js';

const MODEL = join(import.meta.dirname, 'fixtures', 'model', 'gpt2');
const dir = mkdtempSync(join(tmpdir(), 'd2po-output-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const input = join(dir, 'in.jsonl');
// enough output (~150 KB) that a reader closing early breaks the pipe mid-write
writeFileSync(input, Array.from({ length: 400 }, (_, i) => JSON.stringify({ prompt_ids: [1, 2, 3], response_ids: Array.from({ length: 20 }, (_, j) => (i + j) % 50) })).join('\n') + '\n');
const score = (...extra: string[]) => ['score', '--model', MODEL, '--input', input, ...extra];
const noStack = (stderr: string) => assert.doesNotMatch(stderr, /^\s+at /m, `no stack trace: ${stderr}`);

test('score --output: a missing folder, a folder and a full device are named errors without a stack trace', async () => {
  const missing = await d2po(score('--output', join(dir, 'no', 'such', 'out.jsonl')));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--output .*no\/such\/out\.jsonl: the folder .*no\/such does not exist/);
  noStack(missing.stderr);
  mkdirSync(join(dir, 'folder'));
  const folder = await d2po(score('--output', join(dir, 'folder')));
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /--output .*folder: is a folder/);
  noStack(folder.stderr);
  const full = await d2po(score('--output', '/dev/full'));
  assert.equal(full.code, 1);
  assert.match(full.stderr, /cannot write \/dev\/full: no space left on device/);
  noStack(full.stderr);
});

test('score: stdout on a full disk is a named error; a reader that stops early (| head -1) ends it quietly', async () => {
  const fd = openSync('/dev/full', 'w');
  const child = spawn(process.execPath, ['bin/d2po.mjs', ...score()], { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const code = await new Promise((res) => child.on('close', res));
  assert.equal(code, 1);
  assert.match(stderr, /d2po score: cannot write stdout: no space left on device/);
  noStack(stderr);
  const bin = join(import.meta.dirname, '..', 'bin', 'd2po.mjs');
  const { stdout, stderr: err } = await promisify(execFile)('sh', ['-c', `"${process.execPath}" "${bin}" ${score().map((a) => `'${a}'`).join(' ')} | head -1`]);
  assert.equal(stdout.trim().split('\n').length, 1);
  assert.ok(JSON.parse(stdout).token_logprobs.length === 20);
  assert.equal(err, '', 'nothing on stderr');
});

test('writeFileAtomic: a failed write leaves the old file whole and no temporary file behind', async () => {
  const target = join(dir, 'atomic', 'out.jsonl');
  mkdirSync(join(dir, 'atomic'));
  writeFileSync(target, 'old\n');
  await writeFileAtomic(target, 'new\n');
  assert.equal(readFileSync(target, 'utf8'), 'new\n');
  // the temporary file cannot be written: the write fails before the target is touched
  mkdirSync(`${target}.tmp-${process.pid}`);
  await assert.rejects(writeFileAtomic(target, 'cut'), /cannot write .*out\.jsonl/);
  assert.equal(readFileSync(target, 'utf8'), 'new\n');
  rmSync(`${target}.tmp-${process.pid}`, { recursive: true });
  await assert.rejects(writeFileAtomic(join(dir, 'atomic'), 'x'), /atomic: is a folder/);
  assert.deepEqual(readdirSync(join(dir, 'atomic')), ['out.jsonl'], 'no temporary file left');
  assert.ok(!existsSync(join(dir, 'atomic.tmp-' + process.pid)));
});
