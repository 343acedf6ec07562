/**
 * Optimizer parity harness: runs the same seeded parameters and gradient sequences (some gradients
 * undefined) through our optimizer and torch.optim in /usr/bin/python3, in one Python process for a
 * batch of configurations, and compares parameters and state.
 */
import { torch, Tensor } from '../../lib/tensor';
import type { DType } from '../../lib/tensor';
import type { Optimizer, ParamGroupInit } from '../../lib/optim';
import { runPython } from '../nn/pyref';

export interface ParitySpec {
  name: string;
  shapes: number[][];
  steps: number;
  /** true where parameter i has no gradient at step k (PyTorch: grad None). */
  missing?: (k: number, i: number) => boolean;
  /** parameter indices and options of each group (js: camelCase, py: torch keyword arguments). */
  groups: { idx: number[]; js?: Record<string, unknown>; py?: Record<string, unknown> }[];
  js: (groups: ParamGroupInit[]) => Optimizer;
  /** Python expression building the optimizer from `groups`, e.g. 'torch.optim.Adam(groups, lr=1e-3)'. */
  py: string;
  dtype?: DType;
  seed: number;
  /** gradient scale per parameter (default 1). */
  gradScale?: number;
}

export interface ParityResult {
  name: string;
  /** ours, after all steps */
  params: Tensor[];
  state: Map<number, Record<string, unknown>>;
  /** PyTorch's */
  pyParams: Tensor[];
  pyState: Map<number, Map<string, Tensor | null>>;
  pyGroups: Record<string, unknown>[];
  /** initial values (to check untouched parameters) */
  initial: Tensor[];
  dispose(): void;
}

function inputsFor(spec: ParitySpec, si: number): { inputs: Record<string, Tensor>; initial: Tensor[]; grads: (Tensor | undefined)[][] } {
  torch.manualSeed(spec.seed);
  const dtype = spec.dtype ?? 'float32';
  const inputs: Record<string, Tensor> = {};
  const initial = spec.shapes.map((s, i) => (inputs[`c${si}_p${i}`] = torch.keep(torch.randn(s, { dtype }))));
  const grads: (Tensor | undefined)[][] = [];
  for (let k = 0; k < spec.steps; k++) {
    grads.push(
      spec.shapes.map((s, i) => {
        const g = torch.keep(torch.tidy(() => torch.randn(s, { dtype }).mul(spec.gradScale ?? 1)));
        if (spec.missing?.(k, i)) {
          g.dispose();
          return undefined;
        }
        return (inputs[`c${si}_g${k}_${i}`] = g);
      }),
    );
  }
  return { inputs, initial, grads };
}

const PY_LOOP = `
for _si, _cfg in enumerate(CFGS):
    _n = len(_cfg['shapes'])
    ps = [IN['c%d_p%d' % (_si, i)].clone().requires_grad_(True) for i in range(_n)]
    groups = [dict(params=[ps[i] for i in g['idx']], **g['py']) for g in _cfg['groups']]
    opt = eval(_cfg['ctor'])
    for k in range(_cfg['steps']):
        for i, p in enumerate(ps):
            key = 'c%d_g%d_%d' % (_si, k, i)
            p.grad = IN[key].clone() if key in IN else None
        opt.step()
    for i, p in enumerate(ps):
        OUT['c%d_p%d' % (_si, i)] = p
    sd = opt.state_dict()
    keys = {}
    for idx, st in sd['state'].items():
        keys[str(idx)] = list(st.keys())
        for name, v in st.items():
            if torch.is_tensor(v):
                OUT['c%d_s%d_%s' % (_si, idx, name)] = v
    JSON['c%d_keys' % _si] = keys
    JSON['c%d_groups' % _si] = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd['param_groups']]
`;

/** Runs every spec here and in PyTorch (one Python process). */
export function runParity(specs: ParitySpec[]): ParityResult[] {
  const all: Record<string, Tensor> = {};
  const prepared = specs.map((spec, si) => {
    const p = inputsFor(spec, si);
    Object.assign(all, p.inputs);
    return p;
  });
  const cfgs = specs.map((s) => ({ shapes: s.shapes, steps: s.steps, ctor: s.py, groups: s.groups.map((g) => ({ idx: g.idx, py: g.py ?? {} })) }));
  const py = runPython(`CFGS = json.loads(${JSON.stringify(JSON.stringify(cfgs))})\n${PY_LOOP}`, all);

  return specs.map((spec, si) => {
    const { initial, grads } = prepared[si];
    const params = initial.map((p) => torch.keep(p.clone().requiresGrad_(true)));
    const opt = spec.js(spec.groups.map((g) => ({ params: g.idx.map((i) => params[i]), ...(g.js ?? {}) })));
    for (let k = 0; k < spec.steps; k++) {
      params.forEach((p, i) => {
        const g = grads[k][i];
        if (!g) {
          p.grad = undefined;
          return;
        }
        const c = g.clone();
        p.grad = c;
        c.dispose(); // the gradient keeps the data; only this handle goes
      });
      opt.step();
    }
    for (const row of grads) torch.dispose(row);
    const sd = opt.stateDict();
    const pyState = new Map<number, Map<string, Tensor | null>>();
    for (const [idx, names] of Object.entries(py.json[`c${si}_keys`] as Record<string, string[]>)) {
      pyState.set(Number(idx), new Map(names.map((n) => [n, py.out.get(`c${si}_s${idx}_${n}`) ?? null])));
    }
    const pyParams = spec.shapes.map((_, i) => py.out.get(`c${si}_p${i}`)!);
    return {
      name: spec.name,
      params,
      state: sd.state,
      pyParams,
      pyState,
      pyGroups: py.json[`c${si}_groups`] as Record<string, unknown>[],
      initial,
      dispose() {
        torch.dispose([params, initial, pyParams, [...pyState.values()].map((m) => [...m.values()]), sd]);
        opt.dispose();
      },
    };
  });
}
