/**
 * CUDA check of optim.Adam/AdamW (run on a GPU machine, LibTorch 2.x): our per-parameter native step
 * (fused: false), the default choice (fused unset: the fused kernel on CUDA) and our `fused: true` path (LibTorch's _fused_adam_/_fused_adamw_, with PyTorch's step increments)
 * against torch.optim on the same GPU — single-tensor (foreach=False) and fused — over 5 steps with
 * some gradients undefined. Prints and writes a JSON summary (max |diff| per pairing).
 *
 *   SOCIAL_MAE_TEST_PYTHON=python3 node dist/bench/optim_adam_cuda_check.js [--out file.json]
 */
import * as fs from 'fs';
import { torch, Tensor } from '../lib/tensor';
import { Adam, AdamOptions, AdamW } from '../lib/optim';
import { maxAbsDiff, runPython } from '../test/nn/pyref';

const SHAPES = [[257, 129], [1000], [64, 3, 7, 7], [5], [3, 1, 31]];
const STEPS = 5;
const missing = (k: number, i: number) => i === 3 || (i === 1 && k % 2 === 0);
const CONFIGS: { name: string; cls: 'Adam' | 'AdamW'; js: AdamOptions; py: string }[] = [
  {
    name: 'Adam reference hyperparameters',
    cls: 'Adam',
    js: { lr: 1e-3, betas: [0.95, 0.999], weightDecay: 5e-7 },
    py: 'lr=1e-3, betas=(0.95, 0.999), weight_decay=5e-7',
  },
  {
    name: 'Adam amsgrad maximize wd',
    cls: 'Adam',
    js: { lr: 1e-2, amsgrad: true, maximize: true, weightDecay: 1e-2 },
    py: 'lr=1e-2, amsgrad=True, maximize=True, weight_decay=1e-2',
  },
  { name: 'AdamW amsgrad', cls: 'AdamW', js: { lr: 3e-3, amsgrad: true }, py: 'lr=3e-3, amsgrad=True' },
];

function main(): void {
  const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : undefined;
  if (!torch.cuda.isAvailable()) {
    console.log('CUDA not available: nothing to check');
    return;
  }
  torch.manualSeed(0);
  const inputs: Record<string, Tensor> = {};
  const init = SHAPES.map((s, i) => (inputs[`p${i}`] = torch.keep(torch.randn(s))));
  const grads = Array.from({ length: STEPS }, (_, k) =>
    SHAPES.map((s, i) => {
      const g = torch.keep(torch.randn(s));
      if (missing(k, i)) {
        g.dispose();
        return undefined;
      }
      return (inputs[`g${k}_${i}`] = g);
    }),
  );
  const py = runPython(
    `
cfgs = ${JSON.stringify(CONFIGS.map((c) => [c.cls, c.py]))}
for ci, (cls, kw) in enumerate(cfgs):
    for impl in ('single', 'fused'):
        ps = [IN['p%d' % i].clone().cuda().requires_grad_(True) for i in range(${SHAPES.length})]
        extra = ', foreach=False' if impl == 'single' else ', fused=True'
        opt = eval('torch.optim.%s(ps, %s%s)' % (cls, kw, extra))
        for k in range(${STEPS}):
            for i, p in enumerate(ps):
                key = 'g%d_%d' % (k, i)
                p.grad = IN[key].cuda() if key in IN else None
            opt.step()
        for i, p in enumerate(ps): OUT['c%d_%s_p%d' % (ci, impl, i)] = p
JSON['torch'] = torch.__version__
`,
    inputs,
  );
  const report: Record<string, unknown> = { torch: torch.version(), python_torch: py.json.torch, results: [] };
  let worst = 0;
  CONFIGS.forEach((c, ci) => {
    for (const fused of [false, true, undefined]) {
      const ps = torch.tidy(() => init.map((x) => torch.keep(x.to('cuda:0').requiresGrad_(true))));
      const opts = { ...c.js, fused };
      const opt = c.cls === 'Adam' ? new Adam(ps, opts) : new AdamW(ps, opts);
      for (let k = 0; k < STEPS; k++) {
        torch.tidy(() =>
          ps.forEach((p, i) => {
            p.grad = grads[k][i] ? grads[k][i]!.to('cuda:0') : undefined;
          }),
        );
        opt.step();
      }
      const ours = fused === undefined ? 'ours_default' : fused ? 'ours_fused' : 'ours_native';
      for (const impl of ['single', 'fused']) {
        const diffs = ps.map((p, i) => torch.tidy(() => maxAbsDiff(p.detach().cpu(), py.out.get(`c${ci}_${impl}_p${i}`)!)));
        const d = Math.max(...diffs);
        worst = Math.max(worst, d);
        const unchanged = torch.tidy(() => ps[3].detach().cpu().equal(init[3]));
        (report.results as unknown[]).push({ config: c.name, ours, pytorch: impl, max_abs_diff: d, no_grad_param_unchanged: unchanged });
        console.log(
          `${c.name.padEnd(32)} ${ours.padEnd(12)} vs torch ${impl.padEnd(7)} max |diff| ${d.toExponential(2)}` +
            `${unchanged ? '' : '  (param without grad CHANGED)'}`,
        );
      }
      opt.dispose();
      torch.dispose(ps);
    }
  });
  report.worst = worst;
  report.ok = worst <= 1e-6;
  console.log(`worst ${worst}: ${report.ok ? 'OK' : 'FAIL'} (tolerance 1e-6)`);
  if (out) fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
}

main();
