/**
 * nn.utils: clipGradNorm_ (vs torch.nn.utils.clip_grad_norm_ for norms 2, 1, inf, with and without
 * clipping, undefined grads ignored), clipGradValue_, parametersToVector / vectorToParameters,
 * countParameters.
 */
import t from 'tap';
import { torch, Tensor } from '../../lib/tensor';
import * as nn from '../../lib/nn';
import { clipGradNorm_, clipGradValue_, countParameters, gradNorm, parametersToVector, vectorToParameters } from '../../lib/nn/utils';
import { maxAbsDiff, runPython, skipWithoutPython } from './pyref';

const SHAPES = [[16, 8], [8], [3, 4, 5], [1], [7, 7]];

/** Seeded leaf params with grads (param 3 has none). */
function setup(seed: number): { params: Tensor[]; grads: (Tensor | undefined)[] } {
  torch.manualSeed(seed);
  const params = SHAPES.map((s) => torch.keep(torch.randn(s).requiresGrad_(true)));
  const grads = SHAPES.map((s, i) => (i === 3 ? undefined : torch.keep(torch.randn(s).mul_(0.5))));
  params.forEach((p, i) => {
    if (grads[i]) p.grad = grads[i];
  });
  return { params, grads };
}

t.test('clipGradNorm_ matches torch.nn.utils.clip_grad_norm_', { skip: skipWithoutPython() }, async (t) => {
  const cases: [number, number | 'inf'][] = [
    [1.0, 2],
    [100.0, 2],
    [0.5, 1],
    [2.0, 'inf'],
    [0.1, 3],
  ];
  const { params, grads } = setup(7);
  const inputs: Record<string, Tensor> = {};
  params.forEach((p, i) => {
    inputs[`p${i}`] = p;
    if (grads[i]) inputs[`g${i}`] = grads[i]!;
  });
  const script = [
    `
n = ${SHAPES.length}
for ci, (mx, nt) in enumerate(${JSON.stringify(cases).replace(/"inf"/g, "float('inf')")}):
    ps = []
    for i in range(n):
        p = IN['p%d' % i].clone().requires_grad_(True)
        if ('g%d' % i) in IN:
            p.grad = IN['g%d' % i].clone()
        ps.append(p)
    total = torch.nn.utils.clip_grad_norm_(ps, mx, nt)
    OUT['total%d' % ci] = total
    for i, p in enumerate(ps):
        if p.grad is not None:
            OUT['c%d_g%d' % (ci, i)] = p.grad
`,
  ];
  const py = runPython(script.join('\n'), inputs);
  cases.forEach(([mx, nt], ci) => {
    const ps = params.map((p, i) => {
      const q = torch.keep(p.detach().clone().requiresGrad_(true));
      if (grads[i]) q.grad = torch.tidy(() => grads[i]!.clone());
      return q;
    });
    const total = clipGradNorm_(ps, mx, nt);
    const ref = py.out.get(`total${ci}`)!;
    t.same(total.shape, [], 'total is 0-d');
    t.ok(Math.abs(total.item() - ref.item()) <= 1e-6 * Math.max(1, ref.item()), `case ${ci} (max ${mx}, p ${nt}): total ${total.item()} vs ${ref.item()}`);
    ps.forEach((q, i) => {
      const g = q.grad;
      if (!grads[i]) {
        t.equal(g, undefined, `case ${ci}: undefined grad stays undefined`);
        return;
      }
      const d = maxAbsDiff(g!, py.out.get(`c${ci}_g${i}`)!);
      t.ok(d <= 1e-7, `case ${ci}: clipped grad ${i} (max |diff| ${d})`);
      g!.dispose();
    });
    total.dispose();
    torch.dispose(ps);
  });
  torch.dispose([params, grads, py.out]);
});

t.test('clipGradNorm_: no clipping below maxNorm, empty input, gradNorm, errors', async (t) => {
  const start = torch.memory().liveTensors;
  const { params, grads } = setup(3);
  const norm = gradNorm(params);
  const expected = Math.sqrt(torch.tidy(() => grads.filter(Boolean).reduce((s, g) => s + g!.pow(2).sum().item(), 0)));
  t.ok(Math.abs(norm.item() - expected) < 1e-4, `gradNorm ${norm.item()} ~ ${expected}`);
  const before = params.map((p) => p.grad);
  const total = clipGradNorm_(params, 1e6);
  t.equal(total.item(), norm.item(), 'returns the total norm');
  params.forEach((p, i) => {
    const g = p.grad;
    if (g) t.ok(g.equal(before[i]!), `grad ${i} unchanged when under maxNorm`);
    g?.dispose();
  });
  const stray = torch.keep(torch.zeros([2]).requiresGrad_(true));
  const zero = clipGradNorm_([stray], 1);
  t.equal(zero.item(), 0, 'no grads -> 0');
  const nan = params[0].grad!;
  nan.fill_(NaN);
  t.throws(() => clipGradNorm_(params, 1, 2, { errorIfNonfinite: true }), { code: 'ERR_NONFINITE' });
  t.throws(() => clipGradNorm_(params, NaN), { code: 'ERR_INVALID_ARG' });
  t.throws(() => clipGradNorm_(3 as unknown as Tensor[], 1), { code: 'ERR_INVALID_ARG' });
  torch.dispose([params, grads, before, norm, total, zero, nan, stray]);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

t.test('clipGradValue_', async (t) => {
  const { params, grads } = setup(5);
  clipGradValue_(params, 0.25);
  for (const p of params) {
    const g = p.grad;
    if (g) t.ok(torch.tidy(() => g.abs().max().item()) <= 0.25, 'clamped');
    g?.dispose();
  }
  torch.dispose([params, grads]);
});

t.test('parametersToVector / vectorToParameters / countParameters', async (t) => {
  const start = torch.memory().liveTensors;
  torch.manualSeed(11);
  const lin = new nn.Linear(5, 3);
  const ln = new nn.LayerNorm(3);
  const ps = [...lin.parameters(), ...ln.parameters()];
  const v = parametersToVector(ps);
  t.same(v.shape, [15 + 3 + 3 + 3]);
  const flat = torch.tidy(() => torch.cat(ps.map((p) => p.detach().reshape([-1]))));
  t.ok(
    torch.tidy(() => v.detach().equal(flat)),
    'concatenation in order',
  );
  t.ok(v.requiresGrad, 'differentiable like PyTorch');
  const w = torch.arange(24, undefined, undefined, { dtype: 'float32' });
  vectorToParameters(w, ps);
  t.same(
    Array.from(lin.weight.toArray() as Float32Array),
    Array.from({ length: 15 }, (_, i) => i),
  );
  t.same(Array.from(ln.bias!.toArray() as Float32Array), [21, 22, 23]);
  t.ok(lin.weight.requiresGrad && lin.weight.isLeaf, 'still leaves');
  t.throws(() => torch.tidy(() => vectorToParameters(torch.zeros([5]), ps)), { code: 'ERR_SHAPE_MISMATCH' });
  t.equal(countParameters(ps), 24);
  t.equal(countParameters(lin), 18);
  ln.requiresGrad_(false);
  t.equal(countParameters([...ps, ps[0]], { trainableOnly: true }), 18, 'shared tensors counted once, frozen skipped');
  torch.dispose([v, flat, w]);
  lin.dispose();
  ln.dispose();
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});
