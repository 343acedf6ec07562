/**
 * SGD multi-step parity with torch.optim.SGD: plain, momentum, dampening, Nesterov, weight decay,
 * maximize, parameter groups; parameters without gradients are skipped.
 */
import t from 'tap';
import { torch } from '../../lib/tensor';
import { SGD } from '../../lib/optim';
import { maxAbsDiff, skipWithoutPython } from '../nn/pyref';
import { ParitySpec, runParity } from './harness';

const SHAPES = [[12, 10], [10], [3, 3, 3], [5], [64]];
const missing = (k: number, i: number) => i === 3 || (i === 1 && k % 3 === 1);
const all = [{ idx: [0, 1, 2, 3, 4] }];

const SPECS: ParitySpec[] = [
  { name: 'SGD plain', shapes: SHAPES, steps: 5, missing, groups: all, seed: 21, js: (g) => new SGD(g, { lr: 0.1 }), py: 'torch.optim.SGD(groups, lr=0.1)' },
  {
    name: 'SGD momentum',
    shapes: SHAPES,
    steps: 7,
    missing,
    groups: all,
    seed: 22,
    js: (g) => new SGD(g, { lr: 0.05, momentum: 0.9 }),
    py: 'torch.optim.SGD(groups, lr=0.05, momentum=0.9)',
  },
  {
    name: 'SGD momentum + dampening + weight decay',
    shapes: SHAPES,
    steps: 7,
    missing,
    groups: all,
    seed: 23,
    js: (g) => new SGD(g, { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 1e-3 }),
    py: 'torch.optim.SGD(groups, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3)',
  },
  {
    name: 'SGD nesterov + weight decay',
    shapes: SHAPES,
    steps: 7,
    missing,
    groups: all,
    seed: 24,
    js: (g) => new SGD(g, { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
    py: 'torch.optim.SGD(groups, lr=0.02, momentum=0.9, nesterov=True, weight_decay=1e-4)',
  },
  {
    name: 'SGD maximize + momentum',
    shapes: SHAPES,
    steps: 6,
    missing,
    groups: all,
    seed: 25,
    js: (g) => new SGD(g, { lr: 0.01, momentum: 0.5, maximize: true }),
    py: 'torch.optim.SGD(groups, lr=0.01, momentum=0.5, maximize=True)',
  },
  {
    name: 'SGD groups',
    shapes: SHAPES,
    steps: 6,
    missing,
    seed: 26,
    groups: [
      { idx: [0, 3], js: { momentum: 0.9, nesterov: true }, py: { momentum: 0.9, nesterov: true } },
      { idx: [1, 2], js: { lr: 0.3 }, py: { lr: 0.3 } },
      { idx: [4], js: { weightDecay: 0.01, momentum: 0.7 }, py: { weight_decay: 0.01, momentum: 0.7 } },
    ],
    js: (g) => new SGD(g, { lr: 0.1 }),
    py: 'torch.optim.SGD(groups, lr=0.1)',
  },
];

t.test('SGD matches torch.optim.SGD step by step', { skip: skipWithoutPython() }, async (t) => {
  const start = torch.memory().liveTensors;
  let worst = 0;
  for (const r of runParity(SPECS)) {
    r.params.forEach((p, i) => {
      const d = maxAbsDiff(p, r.pyParams[i]);
      worst = Math.max(worst, d);
      t.ok(d <= 1e-6, `${r.name}: param ${i} max |diff| ${d}`);
    });
    t.ok(r.params[3].equal(r.initial[3]), `${r.name}: parameter without gradients unchanged`);
    t.same([...r.state.keys()].sort(), [...r.pyState.keys()].sort(), `${r.name}: state for the same parameters`);
    for (const [idx, py] of r.pyState) {
      const ours = r.state.get(idx)!;
      t.same(Object.keys(ours), [...py.keys()], `${r.name}: state ${idx} keys`);
      const ref = py.get('momentum_buffer');
      const buf = ours.momentum_buffer as typeof ref;
      if (ref === null || ref === undefined) t.equal(buf, null, `${r.name}: momentum_buffer None`);
      else t.ok(maxAbsDiff(buf!, ref) <= 1e-6, `${r.name}: momentum_buffer ${idx}`);
    }
    r.dispose();
  }
  t.comment(`worst max |diff| ${worst}`);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

t.test('SGD validation', async (t) => {
  const p = torch.keep(torch.zeros([2], { requiresGrad: true }));
  t.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), { message: /Nesterov momentum requires a momentum and zero dampening/ });
  t.throws(() => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), { message: /Nesterov/ });
  t.throws(() => new SGD([p], { lr: -0.1 }), { message: /Invalid learning rate/ });
  t.throws(() => new SGD([p], { momentum: -1 }), { message: /Invalid momentum/ });
  t.throws(() => new SGD([p], { weightDecay: -1 }), { message: /Invalid weight_decay/ });
  const opt = new SGD([p], { lr: 0.5 });
  torch.tidy(() => {
    p.grad = torch.ones([2]);
  });
  opt.step();
  t.same(Array.from(p.toArray() as Float32Array), [-0.5, -0.5]);
  t.same(opt.stateDict().state.get(0), { momentum_buffer: null }, 'momentum_buffer None without momentum');
  opt.dispose();
  p.dispose();
});
