import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { doctorWarnings, type DoctorReport } from '../src/cli/commands/doctor.js';

const healthy: Omit<DoctorReport, 'warnings'> = {
  torchVersion: '1.13.0',
  blas: 'OpenBLAS (/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so)',
  threads: 2,
  parallel: 'OpenMP',
  cuda: false,
  openblasCoretype: 'SkylakeX',
  openblasCoretypeChosen: true,
  recommendedCoretype: 'SkylakeX',
  cores: 2,
  loadAverage: 0.5,
  size: 1024,
  fp32Gflops: 190,
  bf16Gflops: 700,
};

test('doctor: no warning on a healthy backend', () => {
  assert.deepEqual(doctorWarnings(healthy), []);
});

test('doctor: reference BLAS says what to install', () => {
  const w = doctorWarnings({ ...healthy, blas: 'reference BLAS (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3)', fp32Gflops: 4 });
  assert.match(w[0], /reference BLAS.*apt-get install -y libopenblas0-pthread/);
  assert.match(w[1], /fp32 matmul is slow: 2\.0 GFLOP\/s per thread/);
});

test('doctor: misdetected OpenBLAS core points at OPENBLAS_CORETYPE; busy cores are named', () => {
  const w = doctorWarnings({ ...healthy, openblasCoretype: 'Prescott', openblasCoretypeChosen: false, fp32Gflops: 20, loadAverage: 6 });
  assert.equal(w.length, 1);
  assert.match(w[0], /OPENBLAS_CORETYPE is Prescott; unset it to let d2po choose, or set OPENBLAS_CORETYPE=SkylakeX/);
  assert.match(w[0], /load average 6\.0 on 2 cores/);
});

test('doctor: bf16 slower than fp32 is reported', () => {
  const w = doctorWarnings({ ...healthy, bf16Gflops: 100 });
  assert.match(w[0], /bf16 autocast would slow runs down here/);
});

test('d2po doctor runs and reports measured numbers', () => {
  const out = execFileSync(process.execPath, ['bin/d2po.mjs', 'doctor', '--json', '--size', '128', '--reps', '2'], { encoding: 'utf8' });
  const r = JSON.parse(out) as DoctorReport;
  assert.match(r.torchVersion, /^\d+\.\d+/);
  assert.ok(r.fp32Gflops > 0 && r.bf16Gflops > 0);
  assert.ok(Array.isArray(r.warnings));
  assert.match(r.blas, /BLAS|MKL|none/);
});
