/**
 * Elementwise ops, dtype promotion, broadcasting and reductions against Python torch (same LibTorch),
 * with inputs made here and passed to Python exactly.
 */
import t from 'tap';
import { torch, Tensor } from '../../lib/tensor';
import { compareTable, Row } from './pyref';

torch.manualSeed(1234);
const x = torch.randn([3, 4]);
const y = torch.randn([4]);
const z = torch.randn([2, 1, 4]);
const pos = torch.rand([3, 4]).add(0.1);
const i = torch.randint(-5, 6, [3, 4]);
const i32 = torch.randint(-5, 6, [3, 4], { dtype: 'int32' });
const u8 = torch.randint(0, 200, [3, 4], { dtype: 'uint8' });
const b = torch.tensor([
  [true, false, true, false],
  [false, false, true, true],
  [true, true, true, false],
]);
const b2 = torch.tensor([true, false, false, true]);
const d = torch.randn([3, 4], { dtype: 'float64' });
const h = torch.randn([3, 4]).half();
const special = torch.tensor([0, NaN, Infinity, -Infinity, 1.5, -2.5, 0.5, 2.5]);
const halves = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997]);
const inputs = { x, y, z, pos, i, i32, u8, b, b2, d, h, special, halves };

const elementwise: Row[] = [
  // arithmetic, broadcasting, alpha
  { name: 'add broadcast [3,4]+[4]', ours: () => x.add(y), py: 'out = x.add(y)' },
  { name: 'add [2,1,4]+[3,4] -> [2,3,4]', ours: () => z.add(x), py: 'out = z + x' },
  { name: 'add alpha', ours: () => x.add(y, { alpha: 2.5 }), py: 'out = torch.add(x, y, alpha=2.5)' },
  { name: 'add scalar', ours: () => x.add(2.5), py: 'out = x + 2.5' },
  { name: 'sub alpha', ours: () => x.sub(y, { alpha: -3 }), py: 'out = torch.sub(x, y, alpha=-3)' },
  { name: 'sub scalar', ours: () => x.sub(1), py: 'out = x - 1' },
  { name: 'rsub', ours: () => x.rsub(1), py: 'out = 1 - x' },
  { name: 'mul broadcast', ours: () => z.mul(y), py: 'out = z * y' },
  { name: 'div', ours: () => x.div(pos), py: 'out = x / pos' },
  { name: 'div scalar', ours: () => x.div(3), py: 'out = x / 3' },
  { name: 'pow scalar', ours: () => pos.pow(2.5), py: 'out = pos ** 2.5' },
  { name: 'pow tensor', ours: () => pos.pow(y), py: 'out = pos ** y' },
  { name: 'rpow', ours: () => x.rpow(2), py: 'out = 2 ** x' },
  { name: 'remainder (python sign)', ours: () => i.remainder(3), py: 'out = i.remainder(3)' },
  { name: 'remainder float', ours: () => x.remainder(0.7), py: 'out = x.remainder(0.7)' },
  { name: 'fmod (C sign)', ours: () => i.fmod(3), py: 'out = i.fmod(3)' },
  { name: 'maximum', ours: () => x.maximum(y), py: 'out = torch.maximum(x, y)' },
  { name: 'minimum', ours: () => x.minimum(y), py: 'out = torch.minimum(x, y)' },
  { name: 'atan2', ours: () => x.atan2(y), py: 'out = torch.atan2(x, y)' },
  // dtype promotion
  { name: 'int64 + int scalar stays int64', ours: () => i.add(2), py: 'out = i + 2' },
  { name: 'int64 + float scalar -> float32', ours: () => i.add(2.5), py: 'out = i + 2.5' },
  { name: 'int64 * float32 -> float32', ours: () => i.mul(x), py: 'out = i * x' },
  { name: 'int32 + int64 -> int64', ours: () => i32.add(i), py: 'out = i32 + i' },
  { name: 'int32 + int scalar stays int32', ours: () => i32.mul(3), py: 'out = i32 * 3' },
  { name: 'uint8 + int32 -> int32', ours: () => u8.add(i32), py: 'out = u8 + i32' },
  { name: 'bool + int64 -> int64', ours: () => b.add(i), py: 'out = b + i' },
  { name: 'bool * float scalar -> float32', ours: () => b.mul(1.5), py: 'out = b * 1.5' },
  { name: 'float32 + float64 -> float64', ours: () => x.add(d), py: 'out = x + d', rtol: 1e-12, atol: 1e-12 },
  { name: 'float16 + float32 -> float32', ours: () => h.add(x), py: 'out = h + x' },
  { name: 'float16 * scalar stays float16', ours: () => h.mul(3), py: 'out = h * 3', rtol: 1e-3 },
  { name: 'int / int true division -> float32', ours: () => i.div(2), py: 'out = i / 2' },
  { name: 'int div floor', ours: () => i.div(2, { roundingMode: 'floor' }), py: "out = torch.div(i, 2, rounding_mode='floor')" },
  { name: 'int div trunc', ours: () => i.div(2, { roundingMode: 'trunc' }), py: "out = torch.div(i, 2, rounding_mode='trunc')" },
  { name: 'float div floor tensor', ours: () => x.div(pos, { roundingMode: 'floor' }), py: "out = torch.div(x, pos, rounding_mode='floor')" },
  { name: 'comparison gt scalar -> bool', ours: () => x.gt(0), py: 'out = x > 0' },
  { name: 'comparison le broadcast', ours: () => x.le(y), py: 'out = x <= y' },
  { name: 'eq int/float', ours: () => i.eq(i.double()), py: 'out = i == i.double()' },
  { name: 'ne scalar', ours: () => i.ne(0), py: 'out = i != 0' },
  { name: 'lt', ours: () => x.lt(y), py: 'out = x < y' },
  { name: 'ge', ours: () => i.ge(1), py: 'out = i >= 1' },
  { name: 'logicalAnd', ours: () => b.logicalAnd(b2), py: 'out = torch.logical_and(b, b2)' },
  { name: 'logicalOr', ours: () => b.logicalOr(b2), py: 'out = torch.logical_or(b, b2)' },
  { name: 'logicalXor', ours: () => b.logicalXor(x), py: 'out = torch.logical_xor(b, x)' },
  { name: 'logicalNot', ours: () => x.logicalNot(), py: 'out = torch.logical_not(x)' },
  { name: 'bitwiseNot bool', ours: () => b.bitwiseNot(), py: 'out = ~b' },
  // unary math
  ...(
    [
      'neg',
      'abs',
      'exp',
      'expm1',
      'sin',
      'cos',
      'tan',
      'atan',
      'sinh',
      'cosh',
      'tanh',
      'sigmoid',
      'erf',
      'floor',
      'ceil',
      'trunc',
      'frac',
      'sign',
      'square',
      'relu',
      'silu',
    ] as const
  ).map((op) => ({ name: `${op}`, ours: () => (x[op] as () => Tensor)(), py: `out = torch.${op === 'silu' ? 'nn.functional.silu' : op}(x)` })),
  ...(['sqrt', 'rsqrt', 'log', 'log10', 'log2', 'log1p', 'reciprocal', 'asin', 'acos', 'erfinv'] as const).map((op) => ({
    name: `${op} (positive input)`,
    ours: () => (pos.mul(0.8)[op] as () => Tensor)(),
    py: `out = torch.${op}(pos * 0.8)`,
  })),
  { name: 'round half to even', ours: () => halves.round(), py: 'out = torch.round(halves)' },
  { name: 'abs int', ours: () => i.abs(), py: 'out = i.abs()' },
  { name: 'neg int32', ours: () => i32.neg(), py: 'out = -i32' },
  { name: 'sign int', ours: () => i.sign(), py: 'out = i.sign()' },
  { name: 'exp of int -> float32', ours: () => i.exp(), py: 'out = i.exp()' },
  { name: 'isnan', ours: () => special.isnan(), py: 'out = special.isnan()' },
  { name: 'isinf', ours: () => special.isinf(), py: 'out = special.isinf()' },
  { name: 'isfinite', ours: () => special.isfinite(), py: 'out = special.isfinite()' },
  { name: 'nanToNum default', ours: () => special.nanToNum(), py: 'out = torch.nan_to_num(special)' },
  {
    name: 'nanToNum explicit',
    ours: () => special.nanToNum({ nan: -1, posinf: 100, neginf: -100 }),
    py: 'out = torch.nan_to_num(special, nan=-1.0, posinf=100.0, neginf=-100.0)',
  },
  { name: 'clamp both', ours: () => x.clamp(-0.5, 0.5), py: 'out = x.clamp(-0.5, 0.5)' },
  { name: 'clamp min only', ours: () => x.clamp(0), py: 'out = x.clamp(min=0)' },
  { name: 'clamp max only', ours: () => x.clamp(null, 0.25), py: 'out = x.clamp(max=0.25)' },
  { name: 'clampMin', ours: () => x.clampMin(-0.1), py: 'out = x.clamp_min(-0.1)' },
  { name: 'clamp tensors', ours: () => x.clamp(y.abs().neg(), y.abs()), py: 'out = x.clamp(-y.abs(), y.abs())' },
  { name: 'clamp int', ours: () => i.clamp(-2, 2), py: 'out = i.clamp(-2, 2)' },
  { name: 'where tensor', ours: () => torch.where(b, x, d), py: 'out = torch.where(b, x, d)', rtol: 1e-12 },
  { name: 'where scalar other', ours: () => x.where(x.gt(0), 0), py: 'out = torch.where(x > 0, x, torch.tensor(0.0))' },
  { name: 'lerp', ours: () => x.lerp(pos, 0.3), py: 'out = torch.lerp(x, pos, 0.3)' },
  { name: 'addcmul', ours: () => x.addcmul(pos, y, { value: 0.5 }), py: 'out = torch.addcmul(x, pos, y, value=0.5)' },
  { name: 'addcdiv', ours: () => x.addcdiv(y, pos, { value: -2 }), py: 'out = torch.addcdiv(x, y, pos, value=-2)' },
  { name: 'torch.add functional form', ours: () => torch.add(x, y) as Tensor, py: 'out = torch.add(x, y)' },
  { name: 'torch.exp functional form', ours: () => torch.exp(x) as Tensor, py: 'out = torch.exp(x)' },
];
compareTable(t, 'elementwise ops, promotion and broadcasting vs torch', inputs, elementwise);

const reductions: Row[] = [
  { name: 'sum all', ours: () => x.sum(), py: 'out = x.sum()' },
  { name: 'sum dim 1', ours: () => x.sum(1), py: 'out = x.sum(1)' },
  { name: 'sum dim -1 keepdim', ours: () => x.sum(-1, true), py: 'out = x.sum(-1, keepdim=True)' },
  { name: 'sum dims [0,2] keepdim', ours: () => z.add(x).sum([0, 2], true), py: 'out = (z + x).sum([0, 2], keepdim=True)' },
  { name: 'sum all keepdim', ours: () => x.sum(null, true), py: 'out = x.sum(dim=(0, 1), keepdim=True)' },
  { name: 'sum int64 stays int64', ours: () => i.sum(), py: 'out = i.sum()' },
  { name: 'sum int32 -> int64', ours: () => i32.sum(0), py: 'out = i32.sum(0)' },
  { name: 'sum bool -> int64', ours: () => b.sum(1), py: 'out = b.sum(1)' },
  { name: 'sum dtype float64', ours: () => x.sum(0, false, { dtype: 'float64' }), py: 'out = x.sum(0, dtype=torch.float64)' },
  { name: 'mean all', ours: () => x.mean(), py: 'out = x.mean()' },
  { name: 'mean dim -2', ours: () => x.mean(-2), py: 'out = x.mean(-2)' },
  { name: 'mean keepdim all', ours: () => x.mean(null, true), py: 'out = x.mean((0, 1), keepdim=True)' },
  { name: 'mean dims list', ours: () => z.mean([0, -1]), py: 'out = z.mean([0, -1])' },
  { name: 'var all (unbiased)', ours: () => x.var(), py: 'out = x.var()' },
  { name: 'var dim 1 biased', ours: () => x.var(1, { unbiased: false }), py: 'out = x.var(1, unbiased=False)' },
  { name: 'var dim -1 keepdim', ours: () => x.var(-1, { keepdim: true }), py: 'out = x.var(-1, keepdim=True)' },
  { name: 'std all', ours: () => x.std(), py: 'out = x.std()' },
  { name: 'std dim 0 keepdim biased', ours: () => x.std(0, { unbiased: false, keepdim: true }), py: 'out = x.std(0, unbiased=False, keepdim=True)' },
  { name: 'std float64', ours: () => d.std(1), py: 'out = d.std(1)', rtol: 1e-12 },
  { name: 'max all', ours: () => x.max(), py: 'out = x.max()' },
  { name: 'min all', ours: () => x.min(), py: 'out = x.min()' },
  { name: 'max dim 1 values+indices', ours: () => [...x.max(1)], py: 'out = list(x.max(1))' },
  { name: 'max dim -1 keepdim', ours: () => [...x.max(-1, true)], py: 'out = list(x.max(-1, keepdim=True))' },
  { name: 'min dim 0', ours: () => [...x.min(0)], py: 'out = list(x.min(0))' },
  {
    name: 'min int dim 1 keepdim',
    ours: () => {
      const r = i.add(i.mul(100)).add(torch.arange(4)).min(1, true);
      return [r.values, r.indices];
    },
    py: 'out = list((i + i * 100 + torch.arange(4)).min(1, keepdim=True))',
  },
  { name: 'amax dims', ours: () => z.add(x).amax([0, 2]), py: 'out = (z + x).amax((0, 2))' },
  { name: 'amin keepdim', ours: () => x.amin(1, true), py: 'out = x.amin(1, keepdim=True)' },
  { name: 'argmax all', ours: () => x.argmax(), py: 'out = x.argmax()' },
  { name: 'argmax dim keepdim', ours: () => x.argmax(1, true), py: 'out = x.argmax(1, keepdim=True)' },
  { name: 'argmin dim -2', ours: () => x.argmin(-2), py: 'out = x.argmin(-2)' },
  { name: 'prod all', ours: () => pos.prod(), py: 'out = pos.prod()' },
  { name: 'prod dim keepdim', ours: () => x.prod(1, true), py: 'out = x.prod(1, keepdim=True)' },
  { name: 'prod int', ours: () => i.prod(0), py: 'out = i.prod(0)' },
  { name: 'norm 2 all', ours: () => x.norm(), py: 'out = torch.linalg.vector_norm(x)' },
  { name: 'norm 1 dim', ours: () => x.norm(1, 1), py: 'out = torch.linalg.vector_norm(x, 1, dim=1)' },
  { name: 'norm inf dim keepdim', ours: () => x.norm(Infinity, 0, true), py: "out = torch.linalg.vector_norm(x, float('inf'), dim=0, keepdim=True)" },
  { name: 'norm 3 dims', ours: () => z.norm(3, [0, 2]), py: 'out = torch.linalg.vector_norm(z, 3, dim=(0, 2))' },
  { name: 'logsumexp dim', ours: () => x.logsumexp(1), py: 'out = x.logsumexp(1)' },
  { name: 'logsumexp dims keepdim', ours: () => x.logsumexp([0, 1], true), py: 'out = x.logsumexp((0, 1), keepdim=True)' },
  { name: 'cumsum dim 0', ours: () => x.cumsum(0), py: 'out = x.cumsum(0)' },
  { name: 'cumsum int dim -1', ours: () => i.cumsum(-1), py: 'out = i.cumsum(-1)' },
  { name: 'cumsum bool dtype', ours: () => b.cumsum(1, { dtype: 'int32' }), py: 'out = b.cumsum(1, dtype=torch.int32)' },
  { name: 'cumprod', ours: () => pos.cumprod(1), py: 'out = pos.cumprod(1)' },
  { name: 'all', ours: () => b.all(), py: 'out = b.all()' },
  { name: 'all dim', ours: () => b.all(1), py: 'out = b.all(1)' },
  { name: 'any dim keepdim', ours: () => b.any(0, true), py: 'out = b.any(0, keepdim=True)' },
  { name: 'any float', ours: () => x.gt(1).any(), py: 'out = (x > 1).any()' },
  { name: 'countNonzero', ours: () => i.countNonzero(), py: 'out = torch.count_nonzero(i)' },
  { name: 'countNonzero dim', ours: () => i.countNonzero(1), py: 'out = torch.count_nonzero(i, 1)' },
  { name: 'allclose', ours: () => x.allclose(x.add(1e-7)), py: 'out = torch.allclose(x, x + 1e-7)' },
  { name: 'equal', ours: () => x.equal(x.clone()), py: 'out = torch.equal(x, x.clone())' },
  { name: 'item', ours: () => x.sum().item(), py: 'out = x.sum().item()' },
  { name: 'matmul 2d', ours: () => x.matmul(x.t()), py: 'out = x @ x.t()' },
  { name: 'matmul batched broadcast', ours: () => z.matmul(x.t()), py: 'out = z @ x.t()' },
  { name: 'matmul vec', ours: () => x.matmul(y), py: 'out = x @ y' },
  { name: 'mm', ours: () => x.mm(d.float().t()), py: 'out = x.mm(d.float().t())' },
  { name: 'bmm', ours: () => z.bmm(z.transpose(1, 2)), py: 'out = z.bmm(z.transpose(1, 2))' },
  { name: 'outer', ours: () => y.outer(y), py: 'out = torch.outer(y, y)' },
  { name: 'einsum', ours: () => torch.einsum('bij,kj->bik', z, x), py: "out = torch.einsum('bij,kj->bik', z, x)" },
  { name: 'softmax', ours: () => x.softmax(-1), py: 'out = x.softmax(-1)' },
  { name: 'softmax dim 0 float64', ours: () => x.softmax(0, { dtype: 'float64' }), py: 'out = x.softmax(0, dtype=torch.float64)' },
  { name: 'logSoftmax', ours: () => x.logSoftmax(1), py: 'out = x.log_softmax(1)' },
];
compareTable(t, 'reductions, keepdim, negative dims, linear algebra vs torch', inputs, reductions);

t.test('hand-computed values (no Python needed)', async (t) => {
  const a = torch.tensor(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    { dtype: 'float64' },
  );
  t.same(a.sum().item(), 21);
  t.same(a.sum(0).tolist(), [5, 7, 9]);
  t.same(a.sum(-1, true).shape, [2, 1]);
  t.same(a.mean(1).tolist(), [2, 5]);
  t.same(a.var(1).tolist(), [1, 1], 'unbiased var of [1,2,3] is 1');
  t.same(a.var(1, { unbiased: false }).toArray()[0], 2 / 3, 'biased var is 2/3');
  t.same(a.std().item(), Math.sqrt(17.5 / 5));
  const [v, idx] = a.max(1);
  t.same(v.tolist(), [3, 6]);
  t.same(idx.tolist(), [2, 2]);
  t.same(idx.dtype, 'int64');
  const m = a.min(0, true);
  t.same(m.values.tolist(), [[1, 2, 3]]);
  t.same(m.indices.tolist(), [[0, 0, 0]]);
  t.same(torch.tensor([7, -7]).remainder(3).tolist(), [1, 2], 'Python-sign remainder');
  t.same(torch.tensor([7, -7]).fmod(3).tolist(), [1, -1], 'C-sign fmod');
  t.same(torch.tensor([7, -7]).div(2, { roundingMode: 'floor' }).tolist(), [3, -4]);
  t.same(torch.tensor([7, -7]).div(2, { roundingMode: 'trunc' }).tolist(), [3, -3]);
  t.same(torch.tensor([1, 2]).div(2).dtype, 'float32', 'int / int is true division');
  t.same(torch.tensor([1, 2]).add(torch.tensor([0.5])).dtype, 'float32');
  t.same(torch.tensor([1.5], { dtype: 'float64' }).add(torch.tensor([1], { dtype: 'int32' })).dtype, 'float64');
  t.same(torch.tensor([true]).add(torch.tensor([true])).dtype, 'bool', 'bool + bool stays bool (logical or)');
  t.same(torch.tensor([0.5, 1.5, 2.5, -0.5]).round().tolist(), [0, 2, 2, -0], 'round half to even');
});
