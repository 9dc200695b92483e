import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinTasks, loadTask, looksLikePath } from '../src/tasks/registry.js';

let dir: string;
const mod = async (name: string, body: string): Promise<string> => {
  const p = join(dir, name);
  await writeFile(p, body);
  return p;
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd2po-tasks-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('built-ins by name; unknown names say what exists', async () => {
  assert.deepEqual(
    builtinTasks.map((t) => t.name),
    ['word-collector', 'unique-nouns', 'math', 'contrastive-distillation'],
  );
  // creating a task loads nothing yet (contrastive-distillation loads its models on first use)
  for (const t of builtinTasks) assert.equal((await loadTask(t.name)).name, t.name);
  await assert.rejects(loadTask('word-colector'), /unknown task 'word-colector'.*word-collector, unique-nouns, math, contrastive-distillation/);
  assert.equal(looksLikePath('./t.mjs'), true);
  assert.equal(looksLikePath('task.ts'), true);
  assert.equal(looksLikePath('math'), false);
});

test('custom .mjs task: per-item reward, prompts, description default', async () => {
  const p = await mod(
    'len.mjs',
    `export default {
      name: 'len',
      prompts: (split) => split === 'dev' ? ['a', 'b'] : ['c'],
      reward: (prompt, response) => response.length - prompt.length,
    };`,
  );
  const t = await loadTask(p);
  assert.equal(t.name, 'len');
  assert.match(t.description, /custom task from/);
  assert.deepEqual(await t.prompts('dev'), ['a', 'b']);
  assert.deepEqual(await t.prompts('train'), ['c']);
  assert.deepEqual(await t.rewards([{ prompt: 'ab', response: 'abcde' }, { prompt: '', response: '' }]), [3, 0]);
});

test('custom .ts task with async batched rewards and generation', async () => {
  const p = await mod(
    'batched.ts',
    `const calls: number[] = [];
    export default {
      name: 'batched',
      description: 'counts calls',
      generation: { maxNewTokens: 12 },
      async prompts(_split: 'train' | 'dev') { return ['x']; },
      reward(_p: string, _r: string) { return -1; },
      async rewards(pairs: { prompt: string; response: string }[]) { calls.push(pairs.length); return pairs.map((q, i) => i + calls.length * 10); },
    };`,
  );
  const t = await loadTask(p);
  assert.equal(t.generation?.maxNewTokens, 12);
  // rewards() is preferred over reward() when both exist
  assert.deepEqual(await t.rewards([{ prompt: 'a', response: 'b' }, { prompt: 'a', response: 'c' }]), [10, 11]);
});

test('bad modules: the error names the path and the member', async () => {
  const cases: [string, string, RegExp][] = [
    ['nodefault.mjs', `export const name = 'x';`, /nodefault\.mjs: has no default export/],
    ['notobj.mjs', `export default 42;`, /notobj\.mjs: default export is 42/],
    ['noname.mjs', `export default { prompts: () => [], reward: () => 0 };`, /noname\.mjs: member 'name' is undefined/],
    ['noprompts.mjs', `export default { name: 'a', reward: () => 0 };`, /noprompts\.mjs: member 'prompts' is missing/],
    ['noreward.mjs', `export default { name: 'a', prompts: () => [] };`, /noreward\.mjs: member 'reward' is missing/],
    ['badreward.mjs', `export default { name: 'a', prompts: () => [], reward: 3 };`, /badreward\.mjs: member 'reward' is 3, expected a function/],
    ['badgen.mjs', `export default { name: 'a', prompts: () => [], reward: () => 0, generation: { maxNewTokens: 0 } };`, /member 'generation\.maxNewTokens' is 0/],
    ['syntax.mjs', `export default {`, /syntax\.mjs: cannot be imported/],
  ];
  for (const [name, body, re] of cases) await assert.rejects(loadTask(await mod(name, body)), re, name);
  await assert.rejects(loadTask(join(dir, 'missing.mjs')), /missing\.mjs: file not found/);
});

test('bad values at call time: NaN, strings, wrong lengths are errors, never zero', async () => {
  const nan = await loadTask(
    await mod('nan.mjs', `export default { name: 'n', prompts: () => 'oops', reward: (p, r) => r === 'bad' ? NaN : 1 };`),
  );
  await assert.rejects(
    nan.rewards([{ prompt: 'p', response: 'ok' }, { prompt: 'p', response: 'bad' }]),
    /nan\.mjs: reward\(prompt, response\) returned NaN for item 1 \(prompt "p"\)/,
  );
  await assert.rejects(nan.prompts('dev'), /nan\.mjs: prompts\('dev'\) returned "oops", expected an array of strings/);
  const str = await loadTask(await mod('str.mjs', `export default { name: 's', prompts: () => [1], reward: async () => '3' };`));
  await assert.rejects(str.rewards([{ prompt: 'p', response: 'r' }]), /returned "3" for item 0/);
  await assert.rejects(str.prompts('train'), /prompts\('train'\)\[0\] is 1, expected a string/);
  const short = await loadTask(await mod('short.mjs', `export default { name: 's', prompts: () => [], rewards: () => [1] };`));
  await assert.rejects(
    short.rewards([{ prompt: 'p', response: 'r' }, { prompt: 'p', response: 'q' }]),
    /short\.mjs: rewards\(pairs\) returned 1 values for 2 pairs/,
  );
  const inf = await loadTask(await mod('inf.mjs', `export default { name: 's', prompts: () => [], rewards: (ps) => ps.map(() => Infinity) };`));
  await assert.rejects(inf.rewards([{ prompt: 'p', response: 'r' }]), /returned Infinity for item 0/);
});

test('a call into the module that never settles is a named timeout, with or without a pending timer', async () => {
  const idle = await loadTask(
    await mod('idle.mjs', `export default { name: 'i', prompts: () => new Promise(() => {}), reward: () => new Promise(() => {}) };`),
    { timeoutMs: 50 },
  );
  await assert.rejects(idle.rewards([{ prompt: 'p', response: 'r' }]), /idle\.mjs: reward\(prompt, response\) did not settle within 50 ms on item 0 \(prompt "p"\)/);
  await assert.rejects(idle.prompts('dev'), /idle\.mjs: prompts\('dev'\) did not settle within 50 ms/);
  const timer = await loadTask(
    await mod('timer.mjs', `export default { name: 't', prompts: () => [], rewards: () => new Promise((r) => setTimeout(r, 60_000).unref()) };`),
    { timeoutMs: 50 },
  );
  await assert.rejects(timer.rewards([{ prompt: 'p', response: 'r' }]), /timer\.mjs: rewards\(pairs\) did not settle within 50 ms on 1 pairs/);
});

test('errors thrown by the module name the module, the method and the item; non-Error values are reported as such', async () => {
  const t = await loadTask(
    await mod(
      'throws.mjs',
      `export default { name: 't', prompts: () => { throw new TypeError('no prompts here'); },
        reward: (p, r) => r === 'str' ? Promise.reject('boom') : r === 'obj' ? Promise.reject({ code: 7 }) : r === 'undef' ? Promise.reject() : r === 'err' ? Promise.reject(new RangeError('too long')) : 1 };`,
    ),
  );
  await assert.rejects(t.prompts('train'), /throws\.mjs: prompts\('train'\) failed: TypeError: no prompts here/);
  const item = (response: string) => t.rewards([{ prompt: 'p', response: 'fine' }, { prompt: 'q', response }]);
  await assert.rejects(item('err'), (e: Error) => {
    assert.match(e.message, /throws\.mjs: reward\(prompt, response\) failed on item 1 \(prompt "q"\): RangeError: too long/);
    assert.match(String((e as Error & { cause?: Error }).cause?.message), /too long/, 'the original error is kept as the cause');
    return true;
  });
  await assert.rejects(item('str'), /reward\(prompt, response\) failed on item 1 \(prompt "q"\): rejected with "boom", a string, not an Error/);
  await assert.rejects(item('obj'), /rejected with \{"code":7\}, an object, not an Error/);
  await assert.rejects(item('undef'), /rejected with undefined, not an Error/);
});

test('the timeout must be a positive number', async () => {
  const p = await mod('ok.mjs', `export default { name: 'o', prompts: () => [], reward: () => 1 };`);
  await assert.rejects(loadTask(p, { timeoutMs: 0 }), /timeout.*0.*positive/);
});
