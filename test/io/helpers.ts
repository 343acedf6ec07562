/** Test helpers for lib/io tests (not a test file itself). */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { PyOrderedDict, RawTensor, isTuple, type RawValue } from '../../lib/io/core';

/** test/fixtures, from dist/test/io or test/io. */
export const FIX = fs.existsSync(path.join(__dirname, '..', 'fixtures', 'ft_state_dict.pt'))
  ? path.join(__dirname, '..', 'fixtures')
  : path.join(__dirname, '..', '..', '..', 'test', 'fixtures');

/** The checkpoint fixtures (every .pt file in test/fixtures). */
export const PT_FILES = fs
  .readdirSync(FIX)
  .filter((f) => f.endsWith('.pt'))
  .sort();

/** Debian's Python, which has python3-torch (the `python3` on PATH may not). */
export const PY = process.env.SMAE_TORCH_PYTHON ?? '/usr/bin/python3';

let torchOk: boolean | undefined;
/** true when {@link PY} can `import torch`. */
export function hasTorch(): boolean {
  if (torchOk === undefined) {
    const r = spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' });
    torchOk = r.status === 0;
  }
  return torchOk;
}

/** Why Python-dependent tests are skipped (false when they can run). */
export function noTorchReason(): string | false {
  return hasTorch() ? false : `${PY} cannot import torch (install python3-torch to run the PyTorch interop checks)`;
}

/** Runs a Python script with `args`; returns stdout, throws with stderr on failure. */
export function py(script: string, args: string[] = [], input?: string): string {
  const r = spawnSync(PY, ['-c', script, ...args], { encoding: 'utf8', input, maxBuffer: 1 << 28, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Python code that loads each file named in sys.argv[2:] (with weights_only when sys.argv[1] is
 * 'weights_only') and prints, as one JSON object {file: rows}, every leaf of each object:
 * rows are [path, kind, info]; tensors give {dtype, shape, stride, offset, sha256, requires_grad,
 * parameter}, other leaves their value. A file that fails to load maps to {"error": message}.
 */
export const PY_DUMP = String.raw`
import sys, json, hashlib, torch, collections
INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
def h(t):
    c = t.detach().contiguous()
    if c.dtype == torch.bool: c = c.to(torch.uint8)
    b = c.view(INT[c.element_size()]).numpy().tobytes() if c.numel() else b''
    return hashlib.sha256(b).hexdigest()
def dump(obj):
    out = []
    def walk(p, x):
        if isinstance(x, torch.Tensor):
            out.append([p, 'tensor', {'dtype': str(x.dtype)[6:], 'shape': list(x.shape), 'stride': list(x.stride()),
                'offset': x.storage_offset(), 'sha256': h(x), 'requires_grad': x.requires_grad,
                'parameter': isinstance(x, torch.nn.Parameter)}])
        elif isinstance(x, dict):
            out.append([p, 'OrderedDict' if isinstance(x, collections.OrderedDict) else 'dict', len(x)])
            for k, v in x.items(): walk(p + '/' + str(k), v)
        elif isinstance(x, (list, tuple)):
            out.append([p, 'tuple' if isinstance(x, tuple) else 'list', len(x)])  # torch.Size is a tuple
            for i, v in enumerate(x): walk(p + '/' + str(i), v)
        elif isinstance(x, bytes):
            out.append([p, 'bytes', x.hex()])
        else:
            out.append([p, type(x).__name__, x])
    walk('', obj)
    return out
res = {}
for f in sys.argv[2:]:
    try:
        res[f] = dump(torch.load(f, weights_only=(sys.argv[1] == 'weights_only')))
    except Exception as e:
        res[f] = {'error': type(e).__name__ + ': ' + str(e)}
print(json.dumps(res))
`;

/** Dumps `files` with Python (see {@link PY_DUMP}). */
export function pyDump(files: string[], weightsOnly = false): Record<string, DumpRow[] | { error: string }> {
  return JSON.parse(py(PY_DUMP, [weightsOnly ? 'weights_only' : 'full', ...files]));
}

export type DumpRow = [string, string, unknown];

/** The same dump as {@link PY_DUMP}, computed from a RawValue tree. */
export function dumpRaw(value: RawValue): DumpRow[] {
  const out: DumpRow[] = [];
  const walk = (p: string, x: RawValue): void => {
    if (x instanceof RawTensor) {
      out.push([
        p,
        'tensor',
        {
          dtype: x.dtype,
          shape: [...x.shape],
          stride: [...x.stride],
          offset: x.storageOffset,
          sha256: sha256(x.contiguousBytes()),
          requires_grad: x.requiresGrad,
          parameter: x.isParameter,
        },
      ]);
    } else if (x instanceof Map) {
      out.push([p, x instanceof PyOrderedDict ? 'OrderedDict' : 'dict', x.size]);
      for (const [k, v] of x) walk(`${p}/${String(k)}`, v);
    } else if (Array.isArray(x)) {
      out.push([p, isTuple(x) ? 'tuple' : 'list', x.length]);
      x.forEach((v: RawValue, i: number) => walk(`${p}/${i}`, v));
    } else if (x instanceof Uint8Array) {
      out.push([p, 'bytes', Buffer.from(x).toString('hex')]);
    } else if (typeof x === 'number' && !Number.isInteger(x)) {
      out.push([p, 'float', x]);
    } else {
      const kind = x === null ? 'NoneType' : typeof x === 'boolean' ? 'bool' : typeof x === 'string' ? 'str' : 'int';
      out.push([p, kind, typeof x === 'bigint' ? Number(x) : x]);
    }
  };
  walk('', value);
  return out;
}

export function sha256(b: Uint8Array): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** A fresh temporary directory (removed by the returned cleanup). */
export function tmpDir(prefix = 'smae-io-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Bytes of a float32 array as little-endian. */
export function f32(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** Deterministic pseudo-random generator (mulberry32) for fuzzing and test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
