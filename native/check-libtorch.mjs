#!/usr/bin/env node
// Finds libtorch for the addon build.
//   node native/check-libtorch.mjs           check, print what was found, exit 1 with install advice if missing
//   node native/check-libtorch.mjs --gyp KEY  print one value for binding.gyp (include_dirs, lib_dir,
//                                             libraries, rpath, defines, header_dir)
// Sources, in order: $LIBTORCH (a libtorch directory with include/ and lib/, as in PyTorch's
// libtorch zips or a Python wheel's torch/ folder), then Debian's libtorch-dev system paths.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const INSTALL_HINT =
  'libtorch was not found. Install it with:\n' +
  '    apt-get install -y libtorch-dev libopenblas0-pthread\n' +
  '(Debian bookworm / Ubuntu), or set LIBTORCH to a libtorch directory that has include/ and lib/\n' +
  '(e.g. an unpacked https://pytorch.org libtorch zip, or the torch/ folder of a PyTorch Python wheel:\n' +
  '    LIBTORCH=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))") npm ci )';

function findFromEnv() {
  const dir = process.env.LIBTORCH;
  if (!dir) return null;
  const inc = join(dir, 'include');
  const lib = join(dir, 'lib');
  if (!existsSync(join(inc, 'ATen', 'ATen.h')) || !existsSync(join(lib, 'libtorch_cpu.so'))) {
    return { error: `LIBTORCH=${dir} is not a libtorch directory (expected include/ATen/ATen.h and lib/libtorch_cpu.so).` };
  }
  return {
    source: `LIBTORCH=${dir}`,
    include: [inc, join(inc, 'torch', 'csrc', 'api', 'include')],
    headerDir: inc,
    libDir: lib,
    system: false,
    cmakeConfig: join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'),
  };
}

function findSystem() {
  const inc = '/usr/include';
  if (!existsSync(join(inc, 'ATen', 'ATen.h')) || !existsSync(join(inc, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) return null;
  const candidates = ['/usr/lib', '/usr/lib64', '/usr/local/lib'];
  for (const base of ['/usr/lib']) {
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base)) if (d.endsWith('-linux-gnu')) candidates.unshift(join(base, d));
  }
  const lib = candidates.find((d) => existsSync(join(d, 'libtorch_cpu.so')));
  if (!lib) return null;
  return {
    source: 'system (Debian libtorch-dev)',
    include: [inc, join(inc, 'torch', 'csrc', 'api', 'include')],
    headerDir: inc,
    libDir: lib,
    system: true,
    cmakeConfig: join(lib, 'cmake', 'Torch', 'TorchConfig.cmake'),
  };
}

/** PyTorch's pip wheels were long built with the pre-C++11 std::string ABI; the addon must match. */
function abiDefine(found) {
  if (!existsSync(found.cmakeConfig)) return [];
  const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(found.cmakeConfig, 'utf8'));
  return m ? [`_GLIBCXX_USE_CXX11_ABI=${m[1]}`] : [];
}

function torchVersion(found) {
  const p = join(found.include[1], 'torch', 'version.h');
  if (!existsSync(p)) return 'unknown';
  const t = readFileSync(p, 'utf8');
  const get = (k) => (new RegExp(`#define TORCH_VERSION_${k} (\\d+)`).exec(t) || [])[1];
  return `${get('MAJOR')}.${get('MINOR')}.${get('PATCH')}`;
}

const envFound = findFromEnv();
if (envFound && envFound.error) {
  console.error(`d2po: ${envFound.error}\n${INSTALL_HINT}`);
  process.exit(1);
}
const found = envFound || findSystem();
if (!found) {
  console.error(`d2po: ${INSTALL_HINT}`);
  process.exit(1);
}

const hasCuda = existsSync(join(found.libDir, 'libtorch_cuda.so'));
// --no-as-needed keeps libtorch_cuda linked although no symbol of it is referenced: its
// static initialisers register the CUDA kernels.
const libraries = [
  `-L${found.libDir}`,
  '-Wl,--no-as-needed',
  '-ltorch',
  '-ltorch_cpu',
  ...(hasCuda ? ['-ltorch_cuda'] : []),
  '-lc10',
  ...(hasCuda && existsSync(join(found.libDir, 'libc10_cuda.so')) ? ['-lc10_cuda'] : []),
  '-Wl,--as-needed',
];

const values = {
  include_dirs: found.include.join(' '),
  header_dir: found.headerDir,
  lib_dir: found.libDir,
  libraries: libraries.join(' '),
  rpath: found.system ? '' : `-Wl,-rpath,${found.libDir}`,
  defines: abiDefine(found).join(' '),
};

const gi = process.argv.indexOf('--gyp');
if (gi >= 0) {
  const key = process.argv[gi + 1];
  if (!(key in values)) {
    console.error(`check-libtorch: unknown key ${key}; one of ${Object.keys(values).join(', ')}`);
    process.exit(2);
  }
  process.stdout.write(values[key]);
} else {
  console.log(`d2po: libtorch ${torchVersion(found)} from ${found.source} (lib ${found.libDir}${hasCuda ? ', with CUDA' : ''})`);
  if (found.system && !existsSync('/usr/lib/x86_64-linux-gnu/openblas-pthread') && process.arch === 'x64') {
    console.warn('d2po: WARNING libopenblas0-pthread is not installed: libtorch will use the reference BLAS (about 50x slower).\n' +
      '    apt-get install -y libopenblas0-pthread');
  }
}
