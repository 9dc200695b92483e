#!/usr/bin/env node
// Finds libtorch for the addon build.
//   node native/check-libtorch.mjs           check, print what was found; exit 1 with install advice if missing
//   node native/check-libtorch.mjs --gyp KEY  print one value for binding.gyp (include_dirs, header_dir,
//                                             lib_dir, libraries, rpath, defines)
// Sources, in order: $LIBTORCH (a libtorch directory with include/ and lib/, as in PyTorch's
// libtorch zips or a Python wheel's torch/ folder), then Debian's libtorch-dev system paths.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INSTALL_HINT =
  'libtorch was not found. Install it with:\n' +
  '    apt-get install -y libtorch-dev libopenblas0-pthread\n' +
  '(Debian bookworm / Ubuntu), or set LIBTORCH to a libtorch directory that has include/ and lib/\n' +
  '(an unpacked libtorch zip from https://pytorch.org, or the torch/ folder of a PyTorch Python wheel:\n' +
  '    LIBTORCH=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))") npm ci )';

const hasHeaders = (inc) => existsSync(join(inc, 'ATen', 'ATen.h')) && existsSync(join(inc, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'));

/**
 * Where libtorch is. `libtorch`: the LIBTORCH value; `root`: the file system root for the system
 * search (tests point it elsewhere). Returns { error } for a LIBTORCH that is not libtorch, null
 * when nothing is found.
 */
export function findLibtorch({ libtorch = process.env.LIBTORCH, root = '/' } = {}) {
  if (libtorch) {
    const dir = resolve(libtorch);
    const inc = join(dir, 'include');
    const lib = join(dir, 'lib');
    if (!hasHeaders(inc) || !existsSync(join(lib, 'libtorch_cpu.so'))) {
      return { error: `LIBTORCH=${libtorch} is not a libtorch directory (expected include/ATen/ATen.h, include/torch/csrc/api/include and lib/libtorch_cpu.so).` };
    }
    return { source: `LIBTORCH=${libtorch}`, headerDir: inc, libDir: lib, system: false, cmakeConfig: join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake') };
  }
  const inc = join(root, 'usr', 'include');
  if (!hasHeaders(inc)) return null;
  const usrLib = join(root, 'usr', 'lib');
  const multiarch = existsSync(usrLib) ? readdirSync(usrLib).filter((d) => /-linux-gnu/.test(d)).map((d) => join(usrLib, d)) : [];
  const lib = [...multiarch, usrLib, join(root, 'usr', 'lib64'), join(root, 'usr', 'local', 'lib')].find((d) => existsSync(join(d, 'libtorch_cpu.so')));
  if (!lib) return null;
  return { source: 'system (Debian libtorch-dev)', headerDir: inc, libDir: lib, system: true, cmakeConfig: join(lib, 'cmake', 'Torch', 'TorchConfig.cmake') };
}

/** The binding.gyp values for a found libtorch. */
export function gypValues(found) {
  const hasCuda = existsSync(join(found.libDir, 'libtorch_cuda.so'));
  // PyTorch's pip wheels were long built with the pre-C++11 std::string ABI; the addon must match.
  const abi = existsSync(found.cmakeConfig) ? /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(found.cmakeConfig, 'utf8')) : null;
  return {
    include_dirs: [found.headerDir, join(found.headerDir, 'torch', 'csrc', 'api', 'include')].join(' '),
    header_dir: found.headerDir,
    lib_dir: found.libDir,
    // --no-as-needed keeps libtorch_cuda linked although no symbol of it is referenced: its
    // static initialisers register the CUDA kernels.
    libraries: [
      `-L${found.libDir}`,
      '-Wl,--no-as-needed',
      '-ltorch',
      '-ltorch_cpu',
      ...(hasCuda ? ['-ltorch_cuda'] : []),
      '-lc10',
      ...(hasCuda && existsSync(join(found.libDir, 'libc10_cuda.so')) ? ['-lc10_cuda'] : []),
      '-Wl,--as-needed',
    ].join(' '),
    rpath: found.system ? '' : `-Wl,-rpath,${found.libDir}`,
    defines: abi ? `_GLIBCXX_USE_CXX11_ABI=${abi[1]}` : '',
    cuda: hasCuda,
  };
}

function torchVersion(found) {
  const p = join(found.headerDir, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h');
  if (!existsSync(p)) return 'unknown';
  const t = readFileSync(p, 'utf8');
  const get = (k) => (new RegExp(`#define TORCH_VERSION_${k} (\\d+)`).exec(t) || [])[1];
  return `${get('MAJOR')}.${get('MINOR')}.${get('PATCH')}`;
}

function main() {
  const found = findLibtorch();
  if (!found || found.error) {
    console.error(`d2po: ${found ? `${found.error}\n` : ''}${INSTALL_HINT}`);
    process.exit(1);
  }
  const values = gypValues(found);
  const gi = process.argv.indexOf('--gyp');
  if (gi >= 0) {
    const key = process.argv[gi + 1];
    if (!(key in values)) {
      console.error(`check-libtorch: unknown key ${key}; one of ${Object.keys(values).join(', ')}`);
      process.exit(2);
    }
    process.stdout.write(String(values[key]));
    return;
  }
  console.log(`d2po: libtorch ${torchVersion(found)} from ${found.source} (lib ${found.libDir}${values.cuda ? ', with CUDA' : ''})`);
  if (found.system && process.arch === 'x64' && !existsSync(join(found.libDir, 'openblas-pthread'))) {
    console.warn(
      'd2po: WARNING libopenblas0-pthread is not installed: libtorch will use the reference BLAS (about 50x slower).\n' +
        '    apt-get install -y libopenblas0-pthread',
    );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
