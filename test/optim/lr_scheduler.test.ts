/**
 * LR schedulers vs torch.optim.lr_scheduler: getLastLr() after construction and after each of 30
 * steps (two parameter groups with different lrs), state-dict keys, resuming from a state dict, and
 * the `lastEpoch` resume path. The formulas are PyTorch's operation by operation; the only
 * differences left are V8's Math.cos / ** against glibc's cos / pow (at most 1 ulp per call, a few
 * 1e-16 relative), so the bound is 1e-12 relative.
 */
import t from 'tap';
import { torch, Tensor } from '../../lib/tensor';
import {
  ChainedScheduler,
  ConstantLR,
  CosineAnnealingLR,
  ExponentialLR,
  LambdaLR,
  LinearLR,
  MultiStepLR,
  Optimizer,
  ReduceLROnPlateau,
  SGD,
  SequentialLR,
  StepLR,
} from '../../lib/optim';
import { runPython, skipWithoutPython } from '../nn/pyref';

const STEPS = 30;
const METRICS = [
  1.0, 0.9, 0.89, 0.895, 0.9, 0.88, 0.879, 0.8795, 0.88, 0.87, 0.87, 0.87, 0.86, 0.9, 0.95, 0.84, 0.84, 0.841, 0.85, 0.83, 0.83, 0.83, 0.83, 0.82, 0.82, 0.82,
  0.82, 0.82, 0.81, 0.81,
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Sched = { step: (...args: any[]) => void; getLastLr(): number[]; stateDict(): Record<string, unknown> };
interface Case {
  name: string;
  js: (opt: Optimizer) => Sched;
  py: string; // builds `s` from `opt`
  plateau?: boolean;
  /** set initial_lr on the groups first (resume with lastEpoch) */
  initialLr?: boolean;
}

const CASES: Case[] = [
  { name: 'LambdaLR 0.95^e', js: (o) => new LambdaLR(o, (e) => 0.95 ** e), py: 'LambdaLR(opt, lambda e: 0.95 ** e)' },
  {
    name: 'LambdaLR per group',
    js: (o) => new LambdaLR(o, [(e) => Math.min(1.0, (e + 1) / 5), (e) => 1 / (1 + e)]),
    py: 'LambdaLR(opt, [lambda e: min(1.0, (e + 1) / 5), lambda e: 1 / (1 + e)])',
  },
  { name: 'StepLR(7, 0.5)', js: (o) => new StepLR(o, 7, { gamma: 0.5 }), py: 'StepLR(opt, 7, gamma=0.5)' },
  {
    name: 'MultiStepLR([5, 12, 12, 20], 0.3)',
    js: (o) => new MultiStepLR(o, [5, 12, 12, 20], { gamma: 0.3 }),
    py: 'MultiStepLR(opt, [5, 12, 12, 20], gamma=0.3)',
  },
  { name: 'ConstantLR(0.25, 4)', js: (o) => new ConstantLR(o, { factor: 0.25, totalIters: 4 }), py: 'ConstantLR(opt, factor=0.25, total_iters=4)' },
  {
    name: 'LinearLR warmup 0.1 -> 1 over 8',
    js: (o) => new LinearLR(o, { startFactor: 0.1, totalIters: 8 }),
    py: 'LinearLR(opt, start_factor=0.1, total_iters=8)',
  },
  {
    name: 'LinearLR decay 1 -> 0.05 over 20',
    js: (o) => new LinearLR(o, { startFactor: 1, endFactor: 0.05, totalIters: 20 }),
    py: 'LinearLR(opt, start_factor=1.0, end_factor=0.05, total_iters=20)',
  },
  { name: 'ExponentialLR(0.9)', js: (o) => new ExponentialLR(o, 0.9), py: 'ExponentialLR(opt, 0.9)' },
  { name: 'CosineAnnealingLR(10, 1e-4) past T_max', js: (o) => new CosineAnnealingLR(o, 10, { etaMin: 1e-4 }), py: 'CosineAnnealingLR(opt, 10, eta_min=1e-4)' },
  { name: 'CosineAnnealingLR(30)', js: (o) => new CosineAnnealingLR(o, 30), py: 'CosineAnnealingLR(opt, 30)' },
  {
    name: 'CosineAnnealingLR resumed at lastEpoch 5',
    initialLr: true,
    js: (o) => new CosineAnnealingLR(o, 12, { etaMin: 0.001, lastEpoch: 5 }),
    py: 'CosineAnnealingLR(opt, 12, eta_min=0.001, last_epoch=5)',
  },
  {
    name: 'SequentialLR(LinearLR warmup 5, CosineAnnealingLR 25)',
    js: (o) => new SequentialLR(o, [new LinearLR(o, { startFactor: 0.01, totalIters: 5 }), new CosineAnnealingLR(o, 25)], [5]),
    py: 'SequentialLR(opt, [LinearLR(opt, start_factor=0.01, total_iters=5), CosineAnnealingLR(opt, 25)], [5])',
  },
  {
    name: 'SequentialLR(ConstantLR, ExponentialLR, StepLR)',
    js: (o) => new SequentialLR(o, [new ConstantLR(o, { factor: 0.5, totalIters: 3 }), new ExponentialLR(o, 0.9), new StepLR(o, 4)], [4, 12]),
    py: 'SequentialLR(opt, [ConstantLR(opt, factor=0.5, total_iters=3), ExponentialLR(opt, 0.9), StepLR(opt, 4)], [4, 12])',
  },
  {
    name: 'SequentialLR(LambdaLR warmup, MultiStepLR)',
    js: (o) => new SequentialLR(o, [new LambdaLR(o, (e) => (e + 1) / 4), new MultiStepLR(o, [3, 9], { gamma: 0.5 })], [4]),
    py: 'SequentialLR(opt, [LambdaLR(opt, lambda e: (e + 1) / 4), MultiStepLR(opt, [3, 9], gamma=0.5)], [4])',
  },
  {
    name: 'ChainedScheduler(ConstantLR, ExponentialLR)',
    js: (o) => new ChainedScheduler([new ConstantLR(o, { factor: 0.1, totalIters: 2 }), new ExponentialLR(o, 0.9)]),
    py: 'ChainedScheduler([ConstantLR(opt, factor=0.1, total_iters=2), ExponentialLR(opt, 0.9)])',
  },
  {
    name: 'ReduceLROnPlateau(min, rel, patience 2, cooldown 1)',
    plateau: true,
    js: (o) => new ReduceLROnPlateau(o, { factor: 0.5, patience: 2, cooldown: 1, threshold: 0.01 }),
    py: 'ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, threshold=0.01)',
  },
  {
    name: 'ReduceLROnPlateau(max, abs, min_lr per group)',
    plateau: true,
    js: (o) => new ReduceLROnPlateau(o, { mode: 'max', thresholdMode: 'abs', threshold: 0.005, patience: 1, minLr: [0.01, 0.004], factor: 0.7 }),
    py: "ReduceLROnPlateau(opt, mode='max', threshold_mode='abs', threshold=0.005, patience=1, min_lr=[0.01, 0.004], factor=0.7)",
  },
];

function makeOpt(initialLr: boolean): { opt: SGD; params: Tensor[] } {
  const params = [torch.keep(torch.zeros([2], { requiresGrad: true })), torch.keep(torch.zeros([3], { requiresGrad: true }))];
  const opt = new SGD(
    [
      { params: [params[0]], lr: 0.1 },
      { params: [params[1]], lr: 0.02 },
    ],
    { momentum: 0.9 },
  );
  if (initialLr)
    opt.paramGroups.forEach((g) => {
      g.initialLr = g.lr;
    });
  return { opt, params };
}

/** lr sequences: after construction, then after each step */
function runJs(c: Case): { lrs: number[][]; sd: Record<string, unknown> } {
  const { opt, params } = makeOpt(!!c.initialLr);
  const s = c.js(opt);
  const lrs = [s.getLastLr()];
  let sd: Record<string, unknown> = {};
  for (let k = 0; k < STEPS; k++) {
    opt.step();
    if (c.plateau) s.step(METRICS[k]);
    else s.step();
    lrs.push(s.getLastLr());
    if (k === 9) sd = s.stateDict();
  }
  opt.dispose();
  torch.dispose(params);
  return { lrs, sd };
}

t.test('scheduler lr sequences match PyTorch get_last_lr() over 30 steps', { skip: skipWithoutPython() }, async (t) => {
  const py = runPython(`
import warnings
warnings.filterwarnings('ignore')
from torch.optim.lr_scheduler import *
METRICS = json.loads(${JSON.stringify(JSON.stringify(METRICS))})
CASES = json.loads(${JSON.stringify(JSON.stringify(CASES.map((c) => ({ py: c.py, plateau: !!c.plateau, initialLr: !!c.initialLr }))))})
for ci, c in enumerate(CASES):
    ps = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    opt = torch.optim.SGD([{'params': [ps[0]], 'lr': 0.1}, {'params': [ps[1]], 'lr': 0.02}], lr=0.1, momentum=0.9)
    if c['initialLr']:
        for g in opt.param_groups: g['initial_lr'] = g['lr']
    s = eval(c['py'])
    lrs = [list(s.get_last_lr()) if hasattr(s, '_last_lr') else [g['lr'] for g in opt.param_groups]]
    for k in range(${STEPS}):
        opt.step()
        if c['plateau']: s.step(METRICS[k])
        else: s.step()
        lrs.append(list(s.get_last_lr()) if hasattr(s, 'get_last_lr') else [g['lr'] for g in opt.param_groups])
        if k == 9:
            JSON['keys%d' % ci] = list(s.state_dict().keys()) if hasattr(s, 'state_dict') else None
            JSON['sd%d' % ci] = {k: v for k, v in s.state_dict().items() if k in ('last_epoch', '_step_count', 'base_lrs', '_last_lr', 'num_bad_epochs', 'cooldown_counter')}
    JSON['lrs%d' % ci] = lrs
`);
  let exact = 0,
    total = 0,
    worst = 0;
  CASES.forEach((c, ci) => {
    const { lrs, sd } = runJs(c);
    const ref = py.json[`lrs${ci}`] as number[][];
    let caseWorst = 0;
    ref.forEach((row, k) =>
      row.forEach((v, g) => {
        const d = Math.abs(lrs[k][g] - v) / Math.max(Math.abs(v), 1e-300);
        caseWorst = Math.max(caseWorst, d);
        total++;
        if (lrs[k][g] === v) exact++;
      }),
    );
    worst = Math.max(worst, caseWorst);
    t.ok(caseWorst <= 1e-12, `${c.name}: ${STEPS + 1} x 2 lrs (max rel diff ${caseWorst})`);
    const keys = py.json[`keys${ci}`] as string[] | null;
    if (keys)
      t.same(
        Object.keys(sd).filter((k) => keys.includes(k)),
        keys,
        `${c.name}: state_dict keys as PyTorch's`,
      );
    for (const [k, v] of Object.entries(py.json[`sd${ci}`] as Record<string, unknown>)) {
      if (!Array.isArray(v)) t.same(sd[k], v, `${c.name}: state_dict ${k}`);
      else
        t.ok(
          (sd[k] as number[]).every((x, i) => Math.abs(x - v[i]) <= 1e-12 * Math.abs(v[i])),
          `${c.name}: state_dict ${k}`,
        );
    }
  });
  t.comment(`${exact}/${total} lrs bit-identical to PyTorch; worst relative diff ${worst}`);
});

t.test('resume from a scheduler state dict continues the same sequence', async (t) => {
  for (const c of CASES) {
    const whole = runJs(c).lrs;
    // run 10 steps, save optimizer + scheduler, rebuild, load, continue
    const a = makeOpt(!!c.initialLr);
    const s = c.js(a.opt);
    for (let k = 0; k < 10; k++) {
      a.opt.step();
      if (c.plateau) s.step(METRICS[k]);
      else s.step();
    }
    const optSd = a.opt.stateDict();
    const schedSd = s.stateDict();
    const b = makeOpt(!!c.initialLr);
    const s2 = c.js(b.opt);
    b.opt.loadStateDict(optSd);
    (s2 as unknown as { loadStateDict(x: unknown): void }).loadStateDict(schedSd);
    const lrs: number[][] = [s2.getLastLr()];
    for (let k = 10; k < STEPS; k++) {
      b.opt.step();
      if (c.plateau) s2.step(METRICS[k]);
      else s2.step();
      lrs.push(s2.getLastLr());
    }
    t.same(lrs, whole.slice(10), `${c.name}: resumed sequence`);
    for (const o of [a, b]) {
      o.opt.dispose();
      torch.dispose(o.params);
    }
    torch.dispose(optSd);
  }
});

t.test('scheduler validation and semantics without Python', async (t) => {
  const { opt, params } = makeOpt(false);
  t.throws(() => new StepLR({} as Optimizer, 3), { code: 'ERR_INVALID_ARG' });
  t.throws(() => new LambdaLR(opt, [(e) => e]), { message: /Expected 2 lr_lambdas/ });
  t.throws(() => new CosineAnnealingLR(makeOpt(false).opt, 10, { lastEpoch: 3 }), { message: /initial_lr/ });
  t.throws(() => new SequentialLR(opt, [new StepLR(opt, 2)], [3]), { message: /one more than the number of milestone/ });
  t.throws(() => new ReduceLROnPlateau(opt, { factor: 1 }), { message: /Factor should be < 1.0/ });
  t.throws(() => new ReduceLROnPlateau(opt, { mode: 'up' as 'min' }), { message: /mode up is unknown/ });
  const s = new StepLR(opt, 2, { gamma: 0.5 });
  t.same(s.getLastLr(), [0.1, 0.02]);
  s.step();
  s.step();
  t.same(s.getLastLr(), [0.05, 0.01]);
  t.same(
    opt.paramGroups.map((g) => g.lr),
    [0.05, 0.01],
    'the optimizer groups carry the lr',
  );
  s.step(7); // closed form (PyTorch's deprecated epoch argument)
  t.same(s.getLastLr(), [0.1 * 0.5 ** 3, 0.02 * 0.5 ** 3]);
  t.equal(s.lastEpoch, 7);
  const p = new ReduceLROnPlateau(opt, { patience: 0 });
  const metric = torch.scalarTensor(1.5);
  p.step(metric);
  p.step(metric);
  t.same(p.getLastLr(), [0.1 * 0.5 ** 3 * 0.1, 0.02 * 0.5 ** 3 * 0.1], 'accepts a 0-d tensor metric');
  metric.dispose();
  opt.dispose();
  torch.dispose(params);
});
