import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
// @ts-expect-error plain JS build script without types
import { findLibtorch, gypValues } from '../native/check-libtorch.mjs';
import { ops } from '../src/tensor/native.js';

const tmp = mkdtempSync(join(tmpdir(), 'd2po-build-'));

test('check-libtorch finds the system libtorch and gives gyp values', () => {
  const found = findLibtorch({ libtorch: '' });
  assert.ok(found && !found.error, 'system libtorch present on this machine');
  assert.equal(found.system, true);
  const v = gypValues(found);
  assert.match(v.include_dirs, /\/usr\/include \/usr\/include\/torch\/csrc\/api\/include/);
  assert.match(v.libraries, /-ltorch -ltorch_cpu .*-lc10/);
  assert.equal(v.rpath, '');
});

test('check-libtorch takes a LIBTORCH directory (include/ + lib/) and adds an rpath', () => {
  const found0 = findLibtorch({ libtorch: '' });
  const dir = join(tmp, 'libtorch');
  mkdirSync(dir);
  symlinkSync(found0.headerDir, join(dir, 'include'));
  symlinkSync(found0.libDir, join(dir, 'lib'));
  const found = findLibtorch({ libtorch: dir });
  assert.equal(found.system, false);
  const v = gypValues(found);
  assert.equal(v.rpath, `-Wl,-rpath,${join(dir, 'lib')}`);
  assert.match(v.include_dirs, new RegExp(`${dir}/include `));
});

test('check-libtorch: missing libtorch fails with what to install', () => {
  assert.equal(findLibtorch({ libtorch: '', root: tmp }), null);
  assert.match(findLibtorch({ libtorch: '/nonexistent' }).error, /not a libtorch directory/);
  const r = spawnSync(process.execPath, ['native/check-libtorch.mjs'], { env: { ...process.env, LIBTORCH: '/nonexistent' }, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /apt-get install -y libtorch-dev libopenblas0-pthread/);
  const ok = spawnSync(process.execPath, ['native/check-libtorch.mjs'], { env: { ...process.env, LIBTORCH: '' }, encoding: 'utf8' });
  assert.equal(ok.status, 0);
  assert.match(ok.stdout, /libtorch \d+\.\d+\.\d+ from system/);
});

test('the built addon binds every operator of native/ops.txt', () => {
  const listed = readFileSync('native/ops.txt', 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  assert.deepEqual(Object.keys(ops).sort(), listed.map((n) => n.replace(/\./g, '_')).sort());
});

test('gen-ops emits dispatcher calls with schema defaults, and names what it cannot bind', () => {
  const found = findLibtorch({ libtorch: '' });
  const list = join(tmp, 'ops.txt');
  writeFileSync(list, 'add.Tensor\n');
  const out = join(tmp, 'ops.cpp');
  const r = spawnSync(process.execPath, ['native/gen-ops.mjs', found.headerDir, out, list], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const cpp = readFileSync(out, 'utf8');
  assert.match(cpp, /info\[2\]\.IsUndefined\(\) \? at::Scalar\(static_cast<int64_t>\(1\)\)/);
  assert.match(cpp, /at::_ops::add_Tensor::call\(a0, a1, a2\)/);
  writeFileSync(list, 'cat.names\nno_such_op\n');
  const bad = spawnSync(process.execPath, ['native/gen-ops.mjs', found.headerDir, out, list], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /cat\.names: unsupported argument type 'Dimname'/);
  assert.match(bad.stderr, /no_such_op: not in RegistrationDeclarations\.h/);
});

test('gen-ops reads later libtorch spellings (at:: prefixes, std::optional)', () => {
  const inc = join(tmp, 'include2');
  mkdirSync(join(inc, 'ATen'), { recursive: true });
  writeFileSync(
    join(inc, 'ATen', 'RegistrationDeclarations.h'),
    'at::Tensor layer_norm(const at::Tensor & input, c10::SymIntArrayRef normalized_shape, const ::std::optional<at::Tensor> & weight, ' +
      'const ::std::optional<at::Tensor> & bias, double eps, bool cudnn_enable); // {"schema": "aten::layer_norm(Tensor input, SymInt[] normalized_shape, ' +
      'Tensor? weight=None, Tensor? bias=None, float eps=1e-05, bool cudnn_enable=True) -> Tensor", "dispatch": "False", "default": "True"}\n',
  );
  const list = join(tmp, 'ops2.txt');
  writeFileSync(list, 'layer_norm\n');
  const out = join(tmp, 'ops2.cpp');
  const r = spawnSync(process.execPath, ['native/gen-ops.mjs', inc, out, list], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(out, 'utf8'), /at::_ops::layer_norm::call\(a0, c10::fromIntArrayRef\(a1\), a2, a3, a4, a5\)/);
});

test('check-libtorch: a CUDA libtorch (a wheel\'s torch/ folder) links libtorch_cuda and libc10_cuda, with an rpath', () => {
  const found0 = findLibtorch({ libtorch: '' });
  const dir = join(tmp, 'torch-cuda');
  mkdirSync(join(dir, 'lib'), { recursive: true });
  mkdirSync(join(dir, 'share', 'cmake', 'Torch'), { recursive: true });
  symlinkSync(found0.headerDir, join(dir, 'include'));
  for (const lib of ['libtorch.so', 'libtorch_cpu.so', 'libc10.so', 'libtorch_cuda.so', 'libc10_cuda.so']) writeFileSync(join(dir, 'lib', lib), '');
  writeFileSync(join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")\n');
  const v = gypValues(findLibtorch({ libtorch: dir }));
  assert.equal(v.cuda, true);
  // inside --no-as-needed: nothing references them, but their initialisers register the CUDA kernels
  assert.match(v.libraries, /-Wl,--no-as-needed -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -Wl,--as-needed/);
  assert.equal(v.rpath, `-Wl,-rpath,${join(dir, 'lib')}`);
  assert.equal(v.defines, '_GLIBCXX_USE_CXX11_ABI=0');
});
