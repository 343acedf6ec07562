/**
 * Reference values from Python torch (Debian python3-torch 1.13.1 at /usr/bin/python3, or
 * $SMAE_PYTHON), computed at test time. Never a runtime dependency: tests skip with a clear message
 * when it is absent.
 *
 * A case is a Python snippet that assigns `out` (a tensor, number, bool, or a list/tuple of them),
 * with named input tensors built from our own tensors' exact values (`inp(t)`), plus `torch` and `F`.
 */
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import type { Test } from 'tap';
import { Tensor } from '../../lib/tensor';

export const PYTHON = process.env.SMAE_PYTHON ?? '/usr/bin/python3';

let cached: string | null | undefined;
/** Null when Python torch is usable, else why not (use as a tap `skip` reason). */
export function pyTorchMissing(): string | null {
  if (cached !== undefined) return cached;
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  cached = r.status === 0 ? null : `Python torch not available at ${PYTHON} (set SMAE_PYTHON): reference comparison skipped`;
  return cached;
}

export interface PyIn {
  data: (number | string | boolean)[];
  shape: number[];
  dtype: string;
  requiresGrad?: boolean;
}
export interface PyTensor {
  shape: number[];
  dtype: string;
  data: number[];
}
export type PyOut = PyTensor | number | boolean | string | null | PyOut[] | { error: string };
export interface PyCase {
  inputs?: Record<string, PyIn>;
  code: string;
}

const enc = (v: number | bigint | boolean): number | string | boolean => {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v;
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return v;
};

/** Describes one of our tensors as a Python input with exactly the same values and dtype. */
export function inp(t: Tensor, requiresGrad = false): PyIn {
  const dtype = t.dtype;
  const src = t.toArray() as ArrayLike<number | bigint>;
  let data: (number | string | boolean)[];
  if (dtype === 'bool') data = Array.from(src as ArrayLike<number>, (v) => v !== 0);
  else data = Array.from(src, (v) => enc(v));
  return { data, shape: t.shape, dtype, requiresGrad };
}

const SCRIPT = String.raw`
import json, math, sys
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
DT = {'float32': torch.float32, 'float16': torch.float16, 'bfloat16': torch.bfloat16, 'float64': torch.float64,
      'int64': torch.int64, 'int32': torch.int32, 'int16': torch.int16, 'int8': torch.int8, 'uint8': torch.uint8,
      'bool': torch.bool, 'complex64': torch.complex64, 'complex128': torch.complex128}
NAMES = {v: k for k, v in DT.items()}
def dec(v):
    if isinstance(v, str):
        return float(v)
    return v
def enc(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        if math.isnan(v): return 'nan'
        if math.isinf(v): return 'inf' if v > 0 else '-inf'
    return v
def ser(o):
    if isinstance(o, torch.Tensor):
        o = o.detach()
        dt = NAMES[o.dtype]
        if o.is_complex():
            o = torch.view_as_real(o)
        if o.dtype in (torch.float16, torch.bfloat16):
            o = o.float()
        return {'shape': list(o.shape) if dt not in ('complex64', 'complex128') else list(o.shape[:-1]),
                'dtype': dt, 'data': [enc(x) for x in o.reshape(-1).tolist()]}
    if isinstance(o, (list, tuple)):
        return [ser(x) for x in o]
    if isinstance(o, (bool, int, float, str)) or o is None:
        return enc(o)
    if hasattr(o, 'values') and hasattr(o, 'indices'):
        return [ser(o.values), ser(o.indices)]
    return str(o)
cases = json.load(sys.stdin)
res = {}
for name, c in cases.items():
    env = {'torch': torch, 'F': F, 'math': math}
    try:
        for k, v in (c.get('inputs') or {}).items():
            t = torch.tensor([dec(x) for x in v['data']], dtype=DT[v['dtype']]).reshape(v['shape'])
            if v.get('requiresGrad'):
                t.requires_grad_(True)
            env[k] = t
        exec(c['code'], env)
        res[name] = ser(env['out'])
    except Exception as e:
        res[name] = {'error': type(e).__name__ + ': ' + str(e)}
json.dump(res, sys.stdout)
`;

/** Runs every case in one Python process; returns outputs by case name. */
export function pyRun(cases: Record<string, PyCase>): Record<string, PyOut> {
  const r = spawnSync(PYTHON, ['-c', SCRIPT], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  if (r.status !== 0) throw new Error(`python reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export function asPyTensor(o: PyOut | undefined, what: string): PyTensor {
  if (!o || typeof o !== 'object' || Array.isArray(o) || !('shape' in o)) {
    throw new Error(`${what}: python gave ${JSON.stringify(o)?.slice(0, 300)}`);
  }
  return o;
}

const dec = (v: number | string | boolean): number => (typeof v === 'string' ? Number(v.replace('inf', 'Infinity')) : Number(v));

/** Largest violation of |a - b| <= atol + rtol * |b| (0 when everything matches; NaN matches NaN). */
export function maxViolation(
  a: ArrayLike<number>,
  b: ArrayLike<number | string | boolean>,
  rtol: number,
  atol: number,
): { idx: number; got: number; want: number } | null {
  for (let i = 0; i < a.length; i++) {
    const x = a[i],
      y = dec(b[i]);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return { idx: i, got: x, want: y };
  }
  return null;
}

/** Our tensor's values as plain numbers (complex as interleaved real/imag, bool as 0/1). */
export function values(t: Tensor): number[] {
  return Array.from(t.toArray() as ArrayLike<number | bigint>, (v) => Number(v));
}

type TapLike = Pick<Test, 'ok' | 'same' | 'fail'>;

/** Asserts our tensor equals the Python result: shape, dtype and values within tolerance. */
export function checkClose(t: TapLike, name: string, ours: Tensor, ref: PyOut | undefined, opts: { rtol?: number; atol?: number; dtype?: boolean } = {}): void {
  let r: PyTensor;
  try {
    r = asPyTensor(ref, name);
  } catch (e) {
    t.fail((e as Error).message);
    return;
  }
  t.same(ours.shape, r.shape, `${name}: shape`);
  if (opts.dtype !== false) t.same(ours.dtype, r.dtype, `${name}: dtype`);
  const got = values(ours);
  if (got.length !== r.data.length) {
    t.fail(`${name}: ${got.length} values vs python ${r.data.length}`);
    return;
  }
  const v = maxViolation(got, r.data, opts.rtol ?? 1e-5, opts.atol ?? 1e-6);
  t.ok(v === null, `${name}: values match torch`, v ? { violation: v } : {});
}

/** One row of a comparison table: our computation and the Python snippet that assigns `out`. */
export interface Row {
  name: string;
  ours: () => Tensor | Tensor[] | number | boolean;
  py: string;
  rtol?: number;
  atol?: number;
  /** compare dtype too (default true) */
  dtype?: boolean;
}

/**
 * Runs every row's Python in one process (inputs: our tensors by name) and checks our results.
 * Skips the whole table with a message when Python torch is missing.
 */
export function compareTable(t: Pick<Test, 'test'>, title: string, inputs: Record<string, Tensor>, rows: Row[]): void {
  const missing = pyTorchMissing();
  t.test(title, { skip: missing ?? false }, async (t) => {
    const ins: Record<string, PyIn> = {};
    for (const [k, v] of Object.entries(inputs)) ins[k] = inp(v);
    const cases: Record<string, PyCase> = {};
    for (const r of rows) cases[r.name] = { inputs: ins, code: r.py };
    const res = pyRun(cases);
    for (const r of rows) {
      const ref = res[r.name];
      let ours: ReturnType<Row['ours']>;
      try {
        ours = r.ours();
      } catch (e) {
        t.fail(`${r.name}: ours threw ${(e as Error).message}`);
        continue;
      }
      if (ref && typeof ref === 'object' && !Array.isArray(ref) && 'error' in ref) {
        t.fail(`${r.name}: python threw ${ref.error}`);
        continue;
      }
      const o = { rtol: r.rtol, atol: r.atol, dtype: r.dtype };
      if (Array.isArray(ours)) {
        if (!Array.isArray(ref) || ref.length !== ours.length) {
          t.fail(`${r.name}: ${ours.length} outputs vs python ${JSON.stringify(ref)?.slice(0, 200)}`);
          continue;
        }
        ours.forEach((x, k) => checkClose(t, `${r.name}[${k}]`, x, (ref as PyOut[])[k], o));
      } else if (ours instanceof Tensor) {
        checkClose(t, r.name, ours, ref, o);
      } else if (typeof ours === 'number') {
        const v = maxViolation([ours], [ref as number], r.rtol ?? 1e-5, r.atol ?? 1e-6);
        t.ok(v === null, `${r.name}: ${ours} vs torch ${ref}`);
      } else {
        t.same(ours, ref, `${r.name}: ${ours} vs torch ${ref}`);
      }
    }
  });
}
