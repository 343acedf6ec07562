/**
 * Optimizer state dicts in PyTorch's layout: keys and order as torch.optim's state_dict(); a state
 * saved by PyTorch resumes here (and ours resumes in PyTorch) with bit-identical continuation; our own
 * round trip; casting to the parameters' dtype; validation errors; tensor lifetime.
 */
import t from 'tap';
import { torch, Tensor } from '../../lib/tensor';
import { Adam, AdamW, Optimizer, OptimizerStateDict, SGD, StepLR } from '../../lib/optim';
import { bitEqual, maxAbsDiff, runPython, skipWithoutPython } from '../nn/pyref';

const SHAPES = [[6, 4], [4], [3], [2, 2]];

function makeParams(seed: number, dtype: 'float32' | 'float64' = 'float32'): Tensor[] {
  torch.manualSeed(seed);
  return SHAPES.map((s) => torch.keep(torch.randn(s, { dtype, requiresGrad: true })));
}
/** grads for step k (param 3 never gets one) */
function gradsFor(k: number, dtype: 'float32' | 'float64' = 'float32'): (Tensor | undefined)[] {
  torch.manualSeed(100 + k);
  return SHAPES.map((s, i) => (i === 3 ? undefined : torch.keep(torch.randn(s, { dtype }))));
}
function step(opt: Optimizer, params: Tensor[], k: number): void {
  const gs = gradsFor(k, params[0].dtype as 'float32');
  torch.tidy(() =>
    params.forEach((p, i) => {
      p.grad = gs[i] ? gs[i]!.clone() : undefined;
    }),
  );
  opt.step();
  torch.dispose(gs);
}

t.test('param_groups keys and values as torch.optim.state_dict()', { skip: skipWithoutPython() }, async (t) => {
  const py = runPython(`
p = [torch.zeros(2, requires_grad=True) for _ in range(4)]
JSON['adam'] = torch.optim.Adam([{'params': p[:2]}, {'params': p[2:], 'lr': 0.5}], betas=(0.95, 0.999), weight_decay=5e-7).state_dict()['param_groups']
JSON['adamw'] = torch.optim.AdamW([{'params': p[:2]}, {'params': p[2:], 'lr': 0.5}], amsgrad=True).state_dict()['param_groups']
JSON['sgd'] = torch.optim.SGD([{'params': p[:2]}, {'params': p[2:], 'lr': 0.5}], lr=0.1, momentum=0.9).state_dict()['param_groups']
`);
  const ps = makeParams(1);
  const mk = (name: string): Optimizer => {
    const g = [{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.5 }];
    if (name === 'adam') return new Adam(g, { betas: [0.95, 0.999], weightDecay: 5e-7 });
    if (name === 'adamw') return new AdamW(g, { amsgrad: true });
    return new SGD(g, { lr: 0.1, momentum: 0.9 });
  };
  for (const name of ['adam', 'adamw', 'sgd']) {
    const ref = py.json[name] as Record<string, unknown>[];
    const sd = mk(name).stateDict();
    ref.forEach((g, i) => {
      const ours = sd.param_groups[i];
      const keys = Object.keys(ours).filter((k) => k in g);
      t.same(keys, Object.keys(g), `${name} group ${i}: PyTorch's keys, in order`);
      for (const k of keys) {
        // our default fused: null means "pick" (PyTorch 2.x's default is None too; 1.13 stores False)
        if (k === 'fused' && ours[k] === null) t.ok(g[k] === false || g[k] === null, `${name} group ${i}: fused default`);
        else t.same(ours[k], g[k], `${name} group ${i}: ${k}`);
      }
      if ('betas' in ours) t.ok(Object.isFrozen(ours.betas), 'betas is a tuple (frozen array)');
    });
    t.same(sd.state.size, 0, 'no state before the first step');
  }
  torch.dispose(ps);
});

const PY_ADAM_RESUME = `
shapes = ${JSON.stringify(SHAPES)}
def grads(k):
    torch.manual_seed(100 + k)
    return [torch.randn(s) for s in shapes]
`;

t.test('a PyTorch-saved Adam state resumes here, bit-identically', { skip: skipWithoutPython() }, async (t) => {
  const start = torch.memory().liveTensors;
  const init = makeParams(5);
  const inputs: Record<string, Tensor> = {};
  init.forEach((p, i) => {
    inputs[`p${i}`] = p;
  });
  const py = runPython(
    PY_ADAM_RESUME +
      `
ps = [IN['p%d' % i].clone().requires_grad_(True) for i in range(4)]
opt = torch.optim.Adam([{'params': ps[:2]}, {'params': ps[2:], 'lr': 0.01, 'amsgrad': True}], betas=(0.95, 0.999), weight_decay=5e-7)
for k in range(3):
    gs = grads(k)
    for i, p in enumerate(ps): p.grad = gs[i] if i != 3 else None
    opt.step()
sd = opt.state_dict()
for i, p in enumerate(ps): OUT['mid%d' % i] = p.detach().clone()
for idx, st in sd['state'].items():
    for k, v in st.items(): OUT['s%d_%s' % (idx, k)] = v.clone()
JSON['groups'] = sd['param_groups']
JSON['state_keys'] = {str(k): list(v.keys()) for k, v in sd['state'].items()}
for k in range(3, 5):
    gs = grads(k)
    for i, p in enumerate(ps): p.grad = gs[i] if i != 3 else None
    opt.step()
for i, p in enumerate(ps): OUT['end%d' % i] = p
`,
    inputs,
  );
  // rebuild the state dict the way torch.load returns it: dicts as Maps, tuples as frozen arrays
  const state = new Map<number, Map<string, Tensor>>();
  for (const [idx, keys] of Object.entries(py.json.state_keys as Record<string, string[]>)) {
    state.set(Number(idx), new Map(keys.map((k) => [k, py.out.get(`s${idx}_${k}`)!])));
  }
  const groups = (py.json.groups as Record<string, unknown>[]).map(
    (g) => new Map(Object.entries(g).map(([k, v]) => [k, k === 'betas' ? Object.freeze(v as number[]) : v])),
  );
  const ps = init.map((_, i) => torch.keep(py.out.get(`mid${i}`)!.clone().requiresGrad_(true)));
  const opt = new Adam([{ params: ps.slice(0, 2) }, { params: ps.slice(2) }]);
  opt.loadStateDict(
    new Map<string, unknown>([
      ['state', state],
      ['param_groups', groups],
    ]),
  );
  t.equal(opt.paramGroups[1].lr, 0.01, 'group hyperparameters come from the file');
  t.equal(opt.paramGroups[1].amsgrad, true);
  t.same(opt.paramGroups[0].betas, [0.95, 0.999]);
  t.equal(opt.paramGroups[0].weightDecay, 5e-7, 'snake_case keys become camelCase');
  t.equal((opt.state.get(ps[0]) as { step: number }).step, 3, 'step read from the float tensor');
  for (let k = 3; k < 5; k++) step(opt, ps, k);
  ps.forEach((p, i) => {
    const ref = py.out.get(`end${i}`)!;
    t.ok(
      torch.tidy(() => bitEqual(p.detach(), ref)),
      `param ${i} bit-identical after resuming (max |diff| ${maxAbsDiff(p, ref)})`,
    );
  });
  opt.dispose();
  torch.dispose([init, ps, py.out]);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

t.test('our Adam/SGD state resumes in PyTorch, bit-identically', { skip: skipWithoutPython() }, async (t) => {
  const start = torch.memory().liveTensors;
  for (const kind of ['adam', 'sgd'] as const) {
    const ps = makeParams(7);
    const opt: Optimizer =
      kind === 'adam'
        ? new AdamW([{ params: ps.slice(0, 2) }, { params: ps.slice(2), amsgrad: true }], { lr: 0.01, maximize: true })
        : new SGD([{ params: ps.slice(0, 2) }, { params: ps.slice(2), momentum: 0.5 }], { lr: 0.1, momentum: 0.9, nesterov: true });
    for (let k = 0; k < 3; k++) step(opt, ps, k);
    const sd = opt.stateDict();
    const inputs: Record<string, Tensor> = {};
    ps.forEach((p, i) => {
      inputs[`p${i}`] = p;
    });
    const stateKeys: Record<string, string[]> = {};
    for (const [idx, s] of sd.state) {
      stateKeys[idx] = Object.keys(s);
      for (const [k, v] of Object.entries(s)) if (v instanceof Tensor) inputs[`s${idx}_${k}`] = v;
    }
    const py = runPython(
      PY_ADAM_RESUME +
        `
ps = [IN['p%d' % i].clone().requires_grad_(True) for i in range(4)]
groups = json.loads(${JSON.stringify(JSON.stringify(sd.param_groups))})
keys = json.loads(${JSON.stringify(JSON.stringify(stateKeys))})
state = {int(i): {k: IN.get('s%s_%s' % (i, k)) for k in ks} for i, ks in keys.items()}
opt = torch.optim.${kind === 'adam' ? 'AdamW' : 'SGD'}([{'params': ps[:2]}, {'params': ps[2:]}], lr=1.0)
opt.load_state_dict({'state': state, 'param_groups': groups})
JSON['lr'] = [g['lr'] for g in opt.param_groups]
for k in range(3, 5):
    gs = grads(k)
    for i, p in enumerate(ps): p.grad = gs[i] if i != 3 else None
    opt.step()
for i, p in enumerate(ps): OUT['end%d' % i] = p
`,
      inputs,
    );
    t.same(
      py.json.lr,
      opt.paramGroups.map((g) => g.lr),
      `${kind}: PyTorch took our group hyperparameters`,
    );
    for (let k = 3; k < 5; k++) step(opt, ps, k);
    ps.forEach((p, i) => {
      const ref = py.out.get(`end${i}`)!;
      t.ok(
        torch.tidy(() => bitEqual(p.detach(), ref)),
        `${kind}: param ${i} identical in PyTorch (max |diff| ${maxAbsDiff(p, ref)})`,
      );
    });
    opt.dispose();
    torch.dispose([ps, sd, py.out]);
  }
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

t.test('round trip here; scheduler lr and initial_lr travel; dtype cast; errors', async (t) => {
  const start = torch.memory().liveTensors;
  const a = makeParams(9);
  const b = torch.tidy(() => a.map((p) => torch.keep(p.detach().clone().requiresGrad_(true))));
  const optA = new Adam([{ params: a.slice(0, 3) }, { params: a.slice(3) }], { amsgrad: true, lr: 0.1 });
  const sched = new StepLR(optA, 1, { gamma: 0.5 });
  for (let k = 0; k < 3; k++) {
    step(optA, a, k);
    sched.step();
  }
  const sd = optA.stateDict();
  t.same([...sd.state.keys()], [0, 1, 2], 'state keyed by parameter index (no state for the grad-less parameter)');
  t.same(Object.keys(sd.state.get(0)!), ['step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
  t.same(
    sd.param_groups.map((g) => g.params),
    [[0, 1, 2], [3]],
  );
  t.equal(sd.param_groups[0].lr, 0.0125);
  t.equal(sd.param_groups[0].initial_lr, 0.1, 'initial_lr saved like PyTorch');

  // state tensors are copies on load: later steps of A do not affect B
  torch.noGrad(() => b.forEach((p, i) => p.copy_(a[i])));
  const optB = new Adam([{ params: b.slice(0, 3) }, { params: b.slice(3) }]);
  optB.loadStateDict(sd);
  t.equal(optB.paramGroups[0].lr, 0.0125);
  t.equal(optB.paramGroups[0].initialLr, 0.1);
  for (let k = 3; k < 6; k++) {
    step(optA, a, k);
    step(optB, b, k);
  }
  a.forEach((p, i) =>
    t.ok(
      torch.tidy(() => bitEqual(p.detach(), b[i].detach())),
      `param ${i} identical after round trip`,
    ),
  );
  torch.dispose(sd);

  // a float32 state loaded into float64 parameters is cast; step stays float32
  const c = makeParams(9, 'float64');
  const optC = new Adam([{ params: c.slice(0, 3) }, { params: c.slice(3) }]);
  const sdA = optA.stateDict();
  optC.loadStateDict(sdA);
  const sc = optC.state.get(c[0]) as unknown as { expAvg: Tensor; step: number };
  t.equal(sc.expAvg.dtype, 'float64', 'moments cast to the parameter dtype');
  t.equal(sc.step, 6);
  const sdC = optC.stateDict();
  t.equal((sdC.state.get(0)!.step as Tensor).dtype, 'float32');

  // errors
  const one = new Adam(a.slice(0, 1));
  t.throws(() => one.loadStateDict(sdA), { message: /different number of parameter groups/ });
  const twoWrong = new Adam([{ params: a.slice(0, 2) }, { params: a.slice(2) }]);
  t.throws(() => twoWrong.loadStateDict(sdA), { message: /doesn't match the size/ });
  const shaped = [torch.keep(torch.zeros([5], { requiresGrad: true })), ...a.slice(1)];
  const wrongShape = new Adam([{ params: shaped.slice(0, 3) }, { params: shaped.slice(3) }]);
  t.throws(() => wrongShape.loadStateDict(sdA), { code: 'ERR_SHAPE_MISMATCH' });
  t.equal(wrongShape.state.size, 0, 'a failed load leaves the state as it was');
  t.throws(() => one.loadStateDict({ state: new Map() } as unknown as OptimizerStateDict), { message: /param_groups/ });

  for (const o of [optA, optB, optC, one, twoWrong, wrongShape]) o.dispose();
  torch.dispose([a, b, c, sdA, sdC, shaped[0]]);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});
