/**
 * Autograd: gradients of many ops against central finite differences (float64), backward with a
 * gradient argument and retainGraph, torch.autograd.grad (incl. higher order), grad-mode scopes,
 * in-place ops that autograd accepts (and the ones it refuses).
 */
import t from 'tap';
import { torch, F, Tensor } from '../../lib/tensor';

torch.manualSeed(5);
const f64 = { dtype: 'float64' as const };

/** Central differences of sum(f(x) * w) with respect to each element of x. */
function fdGrad(f: (x: Tensor) => Tensor, x0: Tensor, w: Tensor, eps = 1e-6): Float64Array {
  const base = Float64Array.from(x0.toArray() as Float64Array);
  const shape = x0.shape;
  const out = new Float64Array(base.length);
  torch.noGrad(() => {
    for (let i = 0; i < base.length; i++) {
      const val = (delta: number) =>
        torch.tidy(() => {
          const b = Float64Array.from(base);
          b[i] += delta;
          return f(torch.tensor(b, { shape })).mul(w).sum().item();
        });
      out[i] = (val(eps) - val(-eps)) / (2 * eps);
    }
  });
  return out;
}

interface GradCase {
  name: string;
  shapes: number[][];
  f: (...xs: Tensor[]) => Tensor;
  positive?: boolean;
}
const lnW = torch.randn([4], f64),
  lnB = torch.randn([4], f64);
const convW = torch.randn([2, 3, 2, 2], f64);
const target = torch.tensor([1, 0, 3]);
const gIdx = torch.tensor([
  [0, 2],
  [1, 1],
  [3, 0],
]);
const cases: GradCase[] = [
  { name: 'add broadcast', shapes: [[3, 4], [4]], f: (a, b) => a.add(b, { alpha: 2 }) },
  {
    name: 'mul broadcast',
    shapes: [
      [3, 4],
      [3, 1],
    ],
    f: (a, b) => a.mul(b),
  },
  {
    name: 'div',
    shapes: [
      [3, 4],
      [3, 4],
    ],
    f: (a, b) => a.div(b.abs().add(0.5)),
  },
  {
    name: 'pow tensor',
    shapes: [
      [2, 3],
      [2, 3],
    ],
    f: (a, b) => a.abs().add(0.5).pow(b),
  },
  { name: 'pow scalar', shapes: [[2, 3]], f: (a) => a.pow(3) },
  { name: 'exp / log / sqrt', shapes: [[2, 3]], f: (a) => a.exp().add(a.abs().add(1).log()).add(a.abs().add(0.1).sqrt()) },
  { name: 'tanh / sigmoid / sin', shapes: [[2, 3]], f: (a) => a.tanh().mul(a.sigmoid()).add(a.sin()) },
  {
    name: 'matmul batched',
    shapes: [
      [2, 3, 4],
      [4, 2],
    ],
    f: (a, b) => a.matmul(b),
  },
  { name: 'softmax', shapes: [[3, 5]], f: (a) => a.softmax(-1) },
  { name: 'logSoftmax dim 0', shapes: [[3, 5]], f: (a) => a.logSoftmax(0) },
  { name: 'layerNorm (input, weight, bias)', shapes: [[3, 4], [4], [4]], f: (a, w, b) => F.layerNorm(a, [4], w, b, 1e-5) },
  { name: 'layerNorm fixed affine', shapes: [[2, 3, 4]], f: (a) => F.layerNorm(a, [4], lnW, lnB) },
  { name: 'gelu exact', shapes: [[3, 4]], f: (a) => F.gelu(a) },
  { name: 'gelu tanh', shapes: [[3, 4]], f: (a) => F.gelu(a, { approximate: 'tanh' }) },
  { name: 'silu', shapes: [[3, 4]], f: (a) => F.silu(a) },
  {
    name: 'conv2d (input, weight)',
    shapes: [
      [1, 3, 4, 4],
      [2, 3, 2, 2],
    ],
    f: (x, w) => F.conv2d(x, w, null, { stride: 2 }),
  },
  { name: 'conv2d padding', shapes: [[2, 3, 3, 3]], f: (x) => F.conv2d(x, convW, null, { padding: 1 }) },
  {
    name: 'conv3d',
    shapes: [
      [1, 2, 3, 3, 2],
      [3, 2, 2, 2, 2],
    ],
    f: (x, w) => F.conv3d(x, w),
  },
  { name: 'linear', shapes: [[3, 4], [2, 4], [2]], f: (x, w, b) => F.linear(x, w, b) },
  { name: 'mean / var / std', shapes: [[3, 4]], f: (a) => a.mean(1).sum().add(a.var(0).sum()).add(a.std()).reshape([1]) },
  { name: 'var biased keepdim', shapes: [[3, 4]], f: (a) => a.var(1, { unbiased: false, keepdim: true }) },
  { name: 'sum dims keepdim', shapes: [[2, 3, 4]], f: (a) => a.sum([0, 2], true) },
  { name: 'max dim values', shapes: [[3, 4]], f: (a) => a.max(1).values },
  { name: 'amax', shapes: [[3, 4]], f: (a) => a.amax(0) },
  { name: 'norm', shapes: [[3, 4]], f: (a) => a.norm(2, 1) },
  { name: 'logsumexp', shapes: [[3, 4]], f: (a) => a.logsumexp(1) },
  { name: 'cumsum', shapes: [[3, 4]], f: (a) => a.cumsum(1) },
  { name: 'prod', shapes: [[2, 3]], f: (a) => a.prod(1) },
  { name: 'crossEntropy label smoothing', shapes: [[3, 4]], f: (a) => F.crossEntropy(a, target, { labelSmoothing: 0.1 }).reshape([1]) },
  {
    name: 'mseLoss',
    shapes: [
      [3, 4],
      [3, 4],
    ],
    f: (a, b) => F.mseLoss(a, b).reshape([1]),
  },
  { name: 'bceWithLogits', shapes: [[3, 4]], f: (a) => F.binaryCrossEntropyWithLogits(a, a.detach().gt(0).double()).reshape([1]) },
  {
    name: 'sdpa',
    shapes: [
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ],
    f: (q, k, v) => F.scaledDotProductAttention(q, k, v),
  },
  { name: 'gather', shapes: [[3, 4]], f: (a) => a.gather(1, gIdx) },
  { name: 'index slices + tensor', shapes: [[3, 4]], f: (a) => a.index('1:', torch.tensor([0, 0, 3])) },
  {
    name: 'cat / stack',
    shapes: [
      [2, 3],
      [2, 3],
    ],
    f: (a, b) => torch.stack([torch.cat([a, b], 1), torch.cat([b, a], 1)]),
  },
  { name: 'reshape / permute / transpose', shapes: [[2, 3, 4]], f: (a) => a.permute(2, 0, 1).reshape([4, 6]).transpose(0, 1) },
  { name: 'interpolate bilinear', shapes: [[1, 1, 3, 3]], f: (a) => F.interpolate(a, { size: [5, 4], mode: 'bilinear' }) },
  { name: 'clamp', shapes: [[3, 4]], f: (a) => a.clamp(-0.5, 0.5) },
  {
    name: 'where',
    shapes: [
      [3, 4],
      [3, 4],
    ],
    f: (a, b) => torch.where(a.detach().gt(0), a.mul(2), b),
  },
  { name: 'maskedFill', shapes: [[3, 4]], f: (a) => a.maskedFill(a.detach().lt(0), 0) },
  { name: 'expand / repeat', shapes: [[3, 1]], f: (a) => a.expand([3, 4]).repeat(2, 1) },
  { name: 'pad reflect', shapes: [[1, 2, 4]], f: (a) => F.pad(a, [2, 1], { mode: 'reflect' }) },
];

t.test('gradients match central finite differences (float64)', async (t) => {
  for (const c of cases) {
    torch.tidy(() => {
      const xs = c.shapes.map((s) => torch.randn(s, f64).requiresGrad_(true));
      const y = c.f(...xs);
      const w = torch.randn(y.shape, f64);
      y.mul(w).sum().backward();
      xs.forEach((x, k) => {
        const analytic = Float64Array.from(x.grad!.toArray() as Float64Array);
        const numeric = fdGrad((xk) => c.f(...xs.map((o, j) => (j === k ? xk : o.detach()))), x.detach(), w);
        let worst = 0;
        for (let i = 0; i < numeric.length; i++) worst = Math.max(worst, Math.abs(analytic[i] - numeric[i]) / (1 + Math.abs(numeric[i])));
        t.ok(worst < 1e-5, `${c.name}: d/dx${k} (max rel err ${worst.toExponential(2)})`);
      });
    });
  }
});

t.test('backward with a gradient argument, retainGraph, accumulation', async (t) => {
  const x = torch.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
  const y = x.mul(x);
  t.throws(() => y.backward(), { code: 'ERR_AUTOGRAD' }, 'non-scalar output needs a gradient');
  y.backward(torch.tensor([1, 0.5, -1], f64), { retainGraph: true });
  t.same(x.grad!.tolist(), [2, 2, -6], 'dy/dx · g');
  y.backward(torch.tensor([1, 1, 1], f64));
  t.same(x.grad!.tolist(), [4, 6, 0], 'gradients accumulate across backward calls');
  t.throws(() => y.backward(torch.ones([3], f64)), { name: 'TorchError' }, 'graph freed without retainGraph');
  try {
    y.backward(torch.ones([3], f64));
  } catch (e) {
    t.type((e as { code: unknown }).code, 'string', `second backward error has a code (${(e as { code: string }).code})`);
  }
  x.grad = null;
  t.equal(x.grad, undefined, 'grad can be cleared');
  const s = x.sum();
  s.backward();
  t.same(x.grad!.tolist(), [1, 1, 1]);
  t.throws(() => torch.tensor([1, 2], f64).sum().backward(), { code: 'ERR_AUTOGRAD' }, 'no grad_fn');
  t.throws(() => y.backward(torch.ones([2], f64)), 'gradient of the wrong shape');
  const nonLeaf = x.mul(2).retainGrad();
  nonLeaf.sum().backward();
  t.same(nonLeaf.grad!.tolist(), [1, 1, 1], 'retainGrad keeps a non-leaf gradient');
  t.equal(nonLeaf.isLeaf, false);
  t.equal(x.isLeaf, true);
  t.match(nonLeaf.gradFn, /^MulBackward/);
  t.equal(x.gradFn, null);
  const d = nonLeaf.detach();
  t.same([d.requiresGrad, d.isLeaf], [false, true], 'detach');
});

t.test('torch.autograd.grad', async (t) => {
  const x = torch.tensor([0.5, -1, 2], { dtype: 'float64', requiresGrad: true });
  const w = torch.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
  const y = x.pow(3).mul(w).sum();
  const [gx, gw] = torch.autograd.grad(y, [x, w], { createGraph: true });
  t.same(gx!.tolist(), [0.75, 6, 36], '3 x^2 w');
  t.same(gw!.tolist(), [0.125, -1, 8], 'x^3');
  t.equal(x.grad, undefined, 'functional grad does not accumulate into .grad');
  const [gxx] = torch.autograd.grad(gx!.sum(), x);
  t.same(gxx!.tolist(), [3, -12, 36], 'second derivative 6 x w (createGraph)');
  const unused = torch.tensor([1], { dtype: 'float64', requiresGrad: true });
  const z = x.sum();
  t.throws(() => torch.autograd.grad(z, [x, unused], { retainGraph: true }), 'unused input without allowUnused');
  const [g1, g2] = torch.autograd.grad(z, [x, unused], { allowUnused: true });
  t.same(g1!.tolist(), [1, 1, 1]);
  t.equal(g2, undefined, 'unused input gives undefined');
  const v = x.mul(2);
  const [gv] = torch.autograd.grad([v], [x], { gradOutputs: [torch.tensor([1, 10, 100], f64)] });
  t.same(gv!.tolist(), [2, 20, 200], 'gradOutputs');
});

t.test('noGrad / enableGrad', async (t) => {
  const x = torch.ones([2], { requiresGrad: true });
  t.equal(torch.isGradEnabled(), true);
  const y = torch.noGrad(() => x.mul(2));
  t.equal(y.requiresGrad, false, 'no graph inside noGrad');
  const z = torch.noGrad(() => torch.enableGrad(() => x.mul(2)));
  t.equal(z.requiresGrad, true, 'enableGrad inside noGrad');
  t.throws(
    () =>
      torch.noGrad(() => {
        throw new Error('boom');
      }),
    /boom/,
  );
  t.equal(torch.isGradEnabled(), true, 'grad mode restored after a throw');
  const nested = torch.noGrad(() => {
    torch.noGrad(() => 0);
    return torch.isGradEnabled();
  });
  t.equal(nested, false, 'nested noGrad keeps it off');
});

t.test('in-place ops and autograd', async (t) => {
  const x = torch.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
  t.throws(() => x.add_(1), 'in-place on a leaf that requires grad is refused (as torch)');
  torch.noGrad(() => x.sub_(torch.tensor([1, 1, 1], f64)));
  t.same(x.tolist(), [0, 1, 2], 'in-place on a leaf is fine under noGrad (optimizer updates)');
  t.equal(x.requiresGrad, true);
  const y = x.mul(2);
  y.add_(1).mul_(3);
  y.sum().backward();
  t.same(x.grad!.tolist(), [6, 6, 6], 'in-place on a non-leaf is recorded');
  x.grad = null;
  const c = x.mul(1);
  c.indexAssign_(['1:'], 0);
  c.mul(torch.tensor([1, 2, 3], f64))
    .sum()
    .backward();
  t.same(x.grad!.tolist(), [1, 0, 0], 'slice assignment blocks the overwritten gradient');
  x.grad = null;
  const src = torch.tensor([5, 6], { dtype: 'float64', requiresGrad: true });
  const d = x.mul(1);
  d.indexAssign_(['0:2'], src);
  d.mul(torch.tensor([1, 2, 3], f64))
    .sum()
    .backward();
  t.same(src.grad!.tolist(), [1, 2], 'gradient flows into the assigned values');
  t.same(x.grad!.tolist(), [0, 0, 3]);
  const e = x.exp();
  e.add_(1);
  t.throws(() => e.sum().backward(), 'modifying a tensor saved for backward is detected at backward');
  const m = x.mul(1);
  m.maskedFill_(torch.tensor([true, false, false]), 0);
  x.grad = null;
  m.sum().backward();
  t.same(x.grad!.tolist(), [0, 1, 1], 'maskedFill_');
  const cl = x.mul(1).clamp_(0.5, 1.5);
  x.grad = null;
  cl.sum().backward();
  t.same(x.grad!.tolist(), [0, 1, 0], 'clamp_');
});

t.test('requiresGrad flags', async (t) => {
  const a = torch.zeros([2]);
  t.equal(a.requiresGrad, false);
  a.requiresGrad = true;
  t.equal(a.requiresGrad, true);
  a.requiresGrad_(false);
  t.equal(a.requiresGrad, false);
  t.throws(() => torch.zeros([2], { dtype: 'int64' }).requiresGrad_(), { code: 'ERR_DTYPE' });
  const b = torch.ones([2], { requiresGrad: true });
  t.equal(b.add(1).requiresGrad, true, 'results of ops on grad tensors require grad');
  t.equal(b.detach().add(1).requiresGrad, false);
  t.equal(b.gt(0).requiresGrad, false, 'comparisons never require grad');
});
