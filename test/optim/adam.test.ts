/**
 * Adam / AdamW multi-step parity with torch.optim (/usr/bin/python3): plain, the reference's
 * hyperparameters (lr 1e-3, betas (0.95, 0.999), weight decay 5e-7), amsgrad, maximize, AdamW,
 * parameter groups with their own options, float64; parameters whose grad is undefined are skipped
 * (left unchanged, no state). Tolerance 1e-6 absolute; the per-parameter native step follows
 * torch's operation order, so results are expected to be bit-identical on the same LibTorch.
 */
import t from 'tap';
import { torch } from '../../lib/tensor';
import { Adam, AdamW, ParamGroupInit } from '../../lib/optim';
import { bitEqual, maxAbsDiff, skipWithoutPython } from '../nn/pyref';
import { ParitySpec, runParity } from './harness';

const SHAPES = [[24, 16], [16], [4, 3, 5], [7], [1, 1, 8], [33]];
/** param 3 never has a gradient; param 1 has none on even steps. */
const missing = (k: number, i: number) => i === 3 || (i === 1 && k % 2 === 0);
const all = [{ idx: [0, 1, 2, 3, 4, 5] }];

const SPECS: ParitySpec[] = [
  { name: 'Adam defaults', shapes: SHAPES, steps: 6, missing, groups: all, seed: 1, js: (g) => new Adam(g), py: 'torch.optim.Adam(groups)' },
  {
    name: 'Adam reference hyperparameters (lr 1e-3, betas .95/.999, wd 5e-7)',
    shapes: SHAPES,
    steps: 6,
    missing,
    groups: all,
    seed: 2,
    js: (g) => new Adam(g, { lr: 1e-3, betas: [0.95, 0.999], weightDecay: 5e-7 }),
    py: 'torch.optim.Adam(groups, lr=1e-3, betas=(0.95, 0.999), weight_decay=5e-7)',
  },
  {
    name: 'Adam amsgrad + weight decay',
    shapes: SHAPES,
    steps: 8,
    missing,
    groups: all,
    seed: 3,
    js: (g) => new Adam(g, { lr: 1e-2, amsgrad: true, weightDecay: 1e-2 }),
    py: 'torch.optim.Adam(groups, lr=1e-2, amsgrad=True, weight_decay=1e-2)',
  },
  {
    name: 'Adam maximize',
    shapes: SHAPES,
    steps: 5,
    missing,
    groups: all,
    seed: 4,
    js: (g) => new Adam(g, { lr: 5e-3, maximize: true }),
    py: 'torch.optim.Adam(groups, lr=5e-3, maximize=True)',
  },
  {
    name: 'Adam amsgrad + maximize + eps 1e-6',
    shapes: SHAPES,
    steps: 6,
    missing,
    groups: all,
    seed: 5,
    gradScale: 1e-3,
    js: (g) => new Adam(g, { lr: 2e-3, amsgrad: true, maximize: true, eps: 1e-6, weightDecay: 1e-4 }),
    py: 'torch.optim.Adam(groups, lr=2e-3, amsgrad=True, maximize=True, eps=1e-6, weight_decay=1e-4)',
  },
  {
    name: 'AdamW defaults (weight decay 1e-2)',
    shapes: SHAPES,
    steps: 6,
    missing,
    groups: all,
    seed: 6,
    js: (g) => new AdamW(g),
    py: 'torch.optim.AdamW(groups)',
  },
  {
    name: 'AdamW amsgrad + maximize',
    shapes: SHAPES,
    steps: 7,
    missing,
    groups: all,
    seed: 7,
    js: (g) => new AdamW(g, { lr: 3e-3, betas: [0.8, 0.99], amsgrad: true, maximize: true, weightDecay: 0.05 }),
    py: 'torch.optim.AdamW(groups, lr=3e-3, betas=(0.8, 0.99), amsgrad=True, maximize=True, weight_decay=0.05)',
  },
  {
    name: 'Adam parameter groups with their own options',
    shapes: SHAPES,
    steps: 6,
    missing,
    seed: 8,
    groups: [
      { idx: [0, 2], js: { lr: 1e-2, betas: [0.5, 0.9] }, py: { lr: 1e-2, betas: [0.5, 0.9] } },
      { idx: [1, 3], js: { weightDecay: 0.1, amsgrad: true }, py: { weight_decay: 0.1, amsgrad: true } },
      { idx: [4, 5] },
    ],
    js: (g) => new Adam(g, { lr: 1e-3, weightDecay: 5e-7 }),
    py: 'torch.optim.Adam(groups, lr=1e-3, weight_decay=5e-7)',
  },
  {
    name: 'AdamW float64',
    shapes: SHAPES,
    steps: 4,
    missing,
    groups: all,
    seed: 9,
    dtype: 'float64',
    js: (g) => new AdamW(g, { lr: 1e-2 }),
    py: 'torch.optim.AdamW(groups, lr=1e-2)',
  },
];

t.test('Adam/AdamW match torch.optim step by step', { skip: skipWithoutPython() }, async (t) => {
  const start = torch.memory().liveTensors;
  const results = runParity(SPECS);
  let worst = 0,
    exact = 0,
    compared = 0;
  for (const r of results) {
    r.params.forEach((p, i) => {
      const d = maxAbsDiff(p, r.pyParams[i]);
      worst = Math.max(worst, d);
      compared++;
      if (torch.tidy(() => bitEqual(p.detach(), r.pyParams[i]))) exact++;
      t.ok(d <= 1e-6, `${r.name}: param ${i} max |diff| ${d}`);
      t.ok(p.requiresGrad && p.isLeaf, `${r.name}: param ${i} is still a trainable leaf`);
    });
    t.ok(r.params[3].equal(r.initial[3]), `${r.name}: a parameter without gradients is unchanged`);
    t.notOk(r.state.has(3), `${r.name}: and has no state`);
    t.same([...r.state.keys()].sort(), [...r.pyState.keys()].sort(), `${r.name}: same parameters have state`);
    for (const [idx, py] of r.pyState) {
      const ours = r.state.get(idx)!;
      t.same(Object.keys(ours), [...py.keys()], `${r.name}: state ${idx} keys in PyTorch's order`);
      for (const [name, ref] of py) {
        const v = ours[name] as typeof ref;
        if (name === 'step') {
          t.equal(v!.item(), ref!.item(), `${r.name}: state ${idx} step`);
          t.same([v!.dtype, v!.shape], ['float32', []], 'step is a float32 0-d tensor');
          continue;
        }
        const d = maxAbsDiff(v!, ref!);
        t.ok(d <= 1e-6, `${r.name}: state ${idx}.${name} max |diff| ${d}`);
      }
    }
    r.dispose();
  }
  t.comment(`worst max |diff| ${worst}; ${exact}/${compared} parameters bit-identical to PyTorch`);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

t.test('Adam without Python: one step by the formula, skip semantics, validation', async (t) => {
  const start = torch.memory().liveTensors;
  const p = torch.keep(torch.tensor([1, -2, 3], { dtype: 'float32', requiresGrad: true }));
  const q = torch.keep(torch.tensor([0.5, 0.5], { dtype: 'float32', requiresGrad: true }));
  const opt = new Adam([p, q], { lr: 0.1, betas: [0.9, 0.999], weightDecay: 0 });
  torch.tidy(() => {
    p.grad = torch.tensor([0.1, -0.2, 0], { dtype: 'float32' });
  });
  opt.step();
  // first step: m = 0.1 g, v = 0.001 g^2, update = lr * g / (|g| + eps) = lr * sign(g) (0 for g = 0)
  const got = Array.from(p.toArray() as Float32Array);
  const exp = [1 - 0.1, -2 + 0.1, 3];
  got.forEach((v, i) => t.ok(Math.abs(v - exp[i]) < 1e-6, `p[${i}] = ${v}`));
  t.same(Array.from(q.toArray() as Float32Array), [0.5, 0.5], 'no grad -> unchanged');
  t.equal(opt.state.size, 1, 'state only for the parameter with a gradient');
  opt.zeroGrad();
  t.equal(p.grad, undefined, 'zeroGrad() sets grads to undefined');
  torch.tidy(() => {
    p.grad = torch.ones([3]);
  });
  opt.zeroGrad({ setToNone: false });
  const g = p.grad!;
  t.same(Array.from(g.toArray() as Float32Array), [0, 0, 0], 'zeroGrad({ setToNone: false }) zeros in place');
  g.dispose();

  t.throws(() => new Adam([p], { lr: -1 }), { code: 'ERR_INVALID_ARG', message: /Invalid learning rate/ });
  t.throws(() => new Adam([p], { betas: [1, 0.9] }), { message: /beta parameter at index 0/ });
  t.throws(() => new AdamW([p], { eps: -1 }), { message: /epsilon/ });
  t.throws(() => new Adam([p], { weightDecay: -1 }), { message: /weight_decay/ });
  t.throws(() => new Adam([]), { message: /empty parameter list/ });
  t.throws(() => new Adam(p as unknown as ParamGroupInit[]), { code: 'ERR_INVALID_ARG' });
  t.throws(() => new Adam([{ params: [p] }, { params: [p] }]), { message: /more than one parameter group/ });
  t.throws(() => new Adam([p, p]), { message: /duplicate/ });
  const nonLeaf = torch.tidy(() => torch.keep(p.mul(2)));
  t.throws(() => new Adam([nonLeaf]), { message: /non-leaf/ });
  if (torch.version().startsWith('1.')) t.throws(() => new Adam([p], { fused: true }), { code: 'ERR_UNSUPPORTED' });
  opt.dispose();
  torch.dispose([p, q, nonLeaf]);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

t.test('state survives tidy scopes; step inside tidy does not leak', async (t) => {
  const start = torch.memory().liveTensors;
  const p = torch.keep(torch.randn([5, 5], { requiresGrad: true }));
  const opt = new AdamW([p], { amsgrad: true });
  for (let i = 0; i < 3; i++) {
    torch.tidy(() => {
      p.mul(p).sum().backward();
      opt.step();
      opt.zeroGrad();
    });
  }
  const s = opt.state.get(p)!;
  t.equal(s.step, 3);
  t.notOk((s.expAvg as { isDisposed: boolean }).isDisposed, 'state tensors kept across tidy');
  t.equal(torch.memory().liveTensors - start, 1 + 3, 'param + exp_avg, exp_avg_sq, max_exp_avg_sq');
  opt.dispose();
  p.dispose();
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});
