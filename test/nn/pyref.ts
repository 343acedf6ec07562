/**
 * Reference values from Debian's python3-torch (/usr/bin/python3), for parity tests only (never a
 * runtime dependency). Inputs go to Python as raw little-endian files (read with torch.frombuffer,
 * so numpy is not needed); the script fills OUT (tensors) and JSON (plain values); results come back
 * the same way. Tests skip with a clear message when no Python torch is available.
 */
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, Tensor } from '../../lib/tensor';
import type { DType } from '../../lib/tensor';

export const PYTHON = process.env.SOCIAL_MAE_TEST_PYTHON ?? '/usr/bin/python3';

let available: string | null | undefined;
/** null when python torch is usable, else the reason it is not. */
export function pythonTorchMissing(): string | null {
  if (available !== undefined) return available;
  if (!fs.existsSync(PYTHON)) return (available = `${PYTHON} not found (install Debian's python3-torch to run parity tests)`);
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  available = r.status === 0 ? null : `${PYTHON} cannot import torch (install python3-torch): ${(r.stderr || '').trim().split('\n').pop()}`;
  return available;
}

/** tap's skip option: false when python torch is present, else the reason. */
export function skipWithoutPython(): false | string {
  const why = pythonTorchMissing();
  return why === null ? false : `skipped: ${why}`;
}

const PRELUDE = `
import json, os, sys, math
import torch
D = sys.argv[1]
_DT = {'float32': torch.float32, 'float64': torch.float64, 'int64': torch.int64, 'int32': torch.int32, 'uint8': torch.uint8, 'bool': torch.bool}
_m = json.load(open(os.path.join(D, 'in.json')))
IN = {}
for _i, _e in enumerate(_m):
    with open(os.path.join(D, 'in_%d.bin' % _i), 'rb') as _f:
        _b = bytearray(_f.read())
    _t = torch.frombuffer(_b, dtype=_DT[_e['dtype']]) if len(_b) else torch.empty(0, dtype=_DT[_e['dtype']])
    IN[_e['name']] = _t.clone().reshape(_e['shape'])
OUT = {}
JSON = {}
`;

const EPILOGUE = `
def _bytes(t):
    if hasattr(t, 'untyped_storage'):
        return bytes(t.untyped_storage())
    return t.numpy().tobytes()
_om = []
for _i, (_k, _t) in enumerate(OUT.items()):
    _t = _t.detach().cpu().contiguous().clone()
    with open(os.path.join(D, 'out_%d.bin' % _i), 'wb') as _f:
        _f.write(_bytes(_t))
    _om.append({'name': _k, 'dtype': str(_t.dtype).replace('torch.', ''), 'shape': list(_t.shape)})
json.dump({'tensors': _om, 'json': JSON}, open(os.path.join(D, 'out.json'), 'w'))
`;

function dedent(s: string): string {
  const lines = s.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

export interface PyResult {
  /** OUT entries as tensors (kept: dispose them). */
  out: Map<string, Tensor>;
  /** JSON entries. */
  json: Record<string, unknown>;
}

/**
 * Runs `script` (Python, dedented) with IN = inputs (torch tensors, CPU) and returns OUT and JSON.
 * Throws with Python's stderr when the script fails.
 */
export function runPython(script: string, inputs: Record<string, Tensor> = {}): PyResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-pyref-'));
  try {
    const manifest = Object.entries(inputs).map(([name, t], i) => {
      const c = t.detach();
      fs.writeFileSync(path.join(dir, `in_${i}.bin`), c.toBuffer());
      c.dispose();
      return { name, dtype: t.dtype, shape: t.shape };
    });
    fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify(manifest));
    fs.writeFileSync(path.join(dir, 'script.py'), PRELUDE + dedent(script) + '\n' + EPILOGUE);
    const r = spawnSync(PYTHON, [path.join(dir, 'script.py'), dir], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    if (r.status !== 0) throw new Error(`python reference failed (${r.status}):\n${r.stderr}`);
    const res = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8')) as {
      tensors: { name: string; dtype: DType; shape: number[] }[];
      json: Record<string, unknown>;
    };
    const out = new Map<string, Tensor>();
    res.tensors.forEach((e, i) => {
      const bytes = fs.readFileSync(path.join(dir, `out_${i}.bin`));
      out.set(e.name, torch.keep(torch.fromBuffer(new Uint8Array(bytes), e.dtype, e.shape)));
    });
    return { out, json: res.json };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** max |a - b| over all elements (as float64 on the host). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.toArray() as ArrayLike<number>,
    y = b.toArray() as ArrayLike<number>;
  if (x.length !== y.length) return Infinity;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** true when both hold the same bits (same dtype and shape). */
export function bitEqual(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  return Buffer.from(a.toBuffer()).equals(Buffer.from(b.toBuffer()));
}
