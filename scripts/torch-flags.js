#!/usr/bin/env node
'use strict';
/**
 * The single source of LibTorch build flags (docs/ARCHITECTURE.md, "Where LibTorch comes from").
 *
 * Discovery order: 1. `LIBTORCH` (an unpacked LibTorch distribution), 2. a Python with `torch`
 * (`$PYTHON`, then `python3`, then `/usr/bin/python3`) whose package carries headers and
 * `libtorch_cpu.so`, 3. Debian's `libtorch-dev` under /usr.
 *
 * CLI: `node scripts/torch-flags.js --json` prints everything; `--cmake` prints `KEY=value` lines read by
 * CMakeLists.txt; `--gyp <field>` prints one space-separated field for binding.gyp; `--variant` prints the
 * prebuild variant name (e.g. `cpu-torch1.13`). The loader requires this file for the same discovery.
 */
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const DEBIAN_LIBDIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];

/** Reads TORCH_VERSION_MAJOR/MINOR/PATCH from the version header under an include root (its place
 *  moved in 2.x: torch/headeronly/version.h), else parses `fallback` (e.g. Python's torch.__version__). */
function readVersion(includeRoot, fallback) {
  const files = [path.join(includeRoot, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'), path.join(includeRoot, 'torch', 'headeronly', 'version.h')];
  for (const f of files) {
    if (!fs.existsSync(f)) continue;
    const text = fs.readFileSync(f, 'utf8');
    const get = (k) => Number((text.match(new RegExp(`#define TORCH_VERSION_${k} (\\d+)`)) || [])[1]);
    const major = get('MAJOR'),
      minor = get('MINOR'),
      patch = get('PATCH');
    if (Number.isFinite(major)) return { major, minor, patch, string: `${major}.${minor}.${patch}` };
  }
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(fallback || '');
  if (m && fs.existsSync(files[0])) return { major: +m[1], minor: +m[2], patch: +m[3], string: `${m[1]}.${m[2]}.${m[3]}` };
  return null;
}

/** True when libc10 was built with the C++11 std::string ABI (the symbol table names `__cxx11`). */
function usesCxx11Abi(libDir) {
  const lib = path.join(libDir, 'libc10.so');
  try {
    return fs.readFileSync(lib).includes('__cxx11');
  } catch {
    return true;
  }
}

function realDir(file) {
  try {
    return path.dirname(fs.realpathSync(file));
  } catch {
    return null;
  }
}

/** CUDA runtime headers (c10/cuda includes cuda_runtime_api.h): CUDA_HOME, /usr/local/cuda, or the
 *  nvidia-* Python packages next to a pip-installed torch. */
function cudaIncludeDir(torchLibDir) {
  const candidates = [process.env.CUDA_HOME && path.join(process.env.CUDA_HOME, 'include'), '/usr/local/cuda/include'];
  const nvidia = path.join(torchLibDir, '..', '..', 'nvidia');
  if (fs.existsSync(nvidia)) {
    for (const d of fs.readdirSync(nvidia)) candidates.push(path.join(nvidia, d, 'include'));
  }
  return candidates.find((d) => d && fs.existsSync(path.join(d, 'cuda_runtime_api.h'))) || null;
}

/**
 * torch.distributed (c10d) backends this LibTorch can build (native/distributed): Gloo needs c10d's
 * ProcessGroupGloo.hpp and Gloo's own headers (Debian: libgloo-dev; a Python torch may ship them in its
 * include/); NCCL needs a CUDA LibTorch with ProcessGroupNCCL.hpp and nccl.h. The defines are torch's own
 * (USE_C10D_GLOO / USE_C10D_NCCL: its headers are guarded by them). Adds Gloo's or NCCL's include dir
 * to `includeDirs` when it is not already on the path.
 */
function c10dDefines(includeRoot, libDir, cuda, includeDirs) {
  const c10d = path.join(includeRoot, 'torch', 'csrc', 'distributed', 'c10d');
  const out = [];
  const gloo = [includeRoot, '/usr/include'].find((d) => fs.existsSync(path.join(d, 'gloo', 'algorithm.h')));
  if (gloo && fs.existsSync(path.join(c10d, 'ProcessGroupGloo.hpp'))) {
    if (!includeDirs.includes(gloo)) includeDirs.push(gloo);
    out.push('USE_C10D_GLOO=1', 'SMAE_WITH_GLOO=1');
  }
  if (cuda && fs.existsSync(path.join(c10d, 'ProcessGroupNCCL.hpp'))) {
    const nvidia = path.join(libDir, '..', '..', 'nvidia', 'nccl', 'include');
    const nccl = [includeRoot, nvidia, '/usr/include', process.env.CUDA_HOME && path.join(process.env.CUDA_HOME, 'include')]
      .filter(Boolean)
      .find((d) => fs.existsSync(path.join(d, 'nccl.h')));
    if (nccl) {
      if (!includeDirs.includes(nccl)) includeDirs.push(nccl);
      out.push('USE_C10D_NCCL=1', 'SMAE_WITH_NCCL=1');
    }
  }
  return out;
}

function fromRoot(source, includeRoot, libDir, abi, versionHint) {
  const version = readVersion(includeRoot, versionHint);
  if (!version || !fs.existsSync(path.join(libDir, 'libtorch_cpu.so'))) return null;
  const cuda = fs.existsSync(path.join(libDir, 'libtorch_cuda.so'));
  const libs = ['torch', 'torch_cpu', 'c10'].concat(cuda ? ['torch_cuda', 'c10_cuda'] : []);
  const cxx11 = abi === undefined ? usesCxx11Abi(libDir) : abi;
  const defines = [
    `_GLIBCXX_USE_CXX11_ABI=${cxx11 ? 1 : 0}`,
    `SMAE_TORCH_MAJOR=${version.major}`,
    `SMAE_TORCH_MINOR=${version.minor}`,
    `SMAE_TORCH_PATCH=${version.patch}`,
  ].concat(cuda ? ['SMAE_WITH_CUDA=1'] : []);
  const includeDirs = [includeRoot, path.join(includeRoot, 'torch', 'csrc', 'api', 'include')];
  if (cuda) {
    const cudaInc = cudaIncludeDir(libDir);
    if (cudaInc) includeDirs.push(cudaInc);
  }
  defines.push(...c10dDefines(includeRoot, libDir, cuda, includeDirs));
  return {
    source,
    version: version.string,
    cuda,
    variant: `${cuda ? 'cuda' : 'cpu'}-torch${version.major}.${version.minor}`,
    includeDirs,
    libDirs: [libDir],
    libs,
    defines,
    // --no-as-needed keeps libtorch_cuda linked although no symbol of it is referenced: its static
    // initialisers register the CUDA kernels.
    ldflags: ['-Wl,--no-as-needed'].concat(
      libs.map((l) => `-l${l}`),
      ['-Wl,--as-needed', `-Wl,-rpath,${libDir}`],
    ),
  };
}

function fromLibtorchEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  return fromRoot('LIBTORCH', path.join(root, 'include'), path.join(root, 'lib'));
}

function fromPython() {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  const script = 'import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI));print(torch.__version__)';
  for (const py of [...new Set(candidates)]) {
    let out;
    try {
      out = execFileSync(py, ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 });
    } catch {
      continue;
    }
    const [dir, abi, version] = out.trim().split('\n').slice(-3);
    // Debian's python3-torch links its lib/ to the system libtorch: that is case 3, not a separate one.
    const real = realDir(path.join(dir, 'lib', 'libtorch_cpu.so'));
    if (real && DEBIAN_LIBDIRS.includes(real)) continue;
    const found = fromRoot(`python (${py})`, path.join(dir, 'include'), path.join(dir, 'lib'), abi === '1', version);
    if (found) return found;
  }
  return null;
}

function fromDebian() {
  for (const libDir of DEBIAN_LIBDIRS) {
    const found = fromRoot('debian libtorch-dev', '/usr/include', libDir);
    if (found) return found;
  }
  return null;
}

/** Every place looked at, for the error message when nothing is found. */
const SEARCHED = [
  '$LIBTORCH (unset or without include/ + lib/libtorch_cpu.so)',
  'python3 -c "import torch" (torch package with include/ and lib/libtorch_cpu.so)',
  `/usr/include + ${DEBIAN_LIBDIRS.join(' | ')} (Debian libtorch-dev)`,
];

/** Returns the LibTorch to build against, or throws an Error listing what was searched. */
function discover() {
  const found = fromLibtorchEnv() || fromPython() || fromDebian();
  if (found) return found;
  const err = new Error(
    `LibTorch not found. Searched:\n  ${SEARCHED.join('\n  ')}\n` +
      'Fix: apt-get install libtorch-dev libopenblas0-pthread (Debian 12), or set LIBTORCH to an unpacked LibTorch.',
  );
  err.code = 'ERR_LIBTORCH_NOT_FOUND';
  throw err;
}

module.exports = { discover, SEARCHED };

if (require.main === module) {
  const arg = process.argv[2] || '--json';
  let t;
  try {
    t = discover();
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  if (arg === '--json') process.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
  else if (arg === '--variant') process.stdout.write(`${t.variant}\n`);
  else if (arg === '--cmake') {
    // Lists are '|'-separated: CMake splits the output into lines with ';', which a list would break.
    const lines = [
      `SMAE_INCLUDE_DIRS=${t.includeDirs.join('|')}`,
      `SMAE_LIB_DIRS=${t.libDirs.join('|')}`,
      `SMAE_LINK_FLAGS=${t.ldflags.join(' ')}`,
      `SMAE_DEFINES=${t.defines.join('|')}`,
      `SMAE_SOURCE=${t.source}`,
      `SMAE_VERSION=${t.version}`,
      `SMAE_VARIANT=${t.variant}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } else if (arg === '--gyp') {
    const field = process.argv[3];
    const map = { includes: t.includeDirs, defines: t.defines, ldflags: t.ldflags };
    if (!map[field]) {
      process.stderr.write(`unknown field ${field}; expected one of ${Object.keys(map).join(', ')}\n`);
      process.exit(2);
    }
    process.stdout.write(`${map[field].join(' ')}\n`);
  } else {
    process.stderr.write('usage: torch-flags.js [--json | --cmake | --variant | --gyp includes|defines|ldflags]\n');
    process.exit(2);
  }
}
