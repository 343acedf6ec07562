/**
 * Creation: JS numbers, nested arrays, every TypedArray (incl. BigInt64Array), raw bytes (fromBuffer),
 * constants, ranges, random draws, windows, conversions and host read-back.
 */
import t from 'tap';
import { torch, Tensor, F } from '../../lib/tensor';
import { compareTable, pyRun, pyTorchMissing, checkClose, values } from './pyref';

t.test('torch.tensor from JS numbers and nested arrays', async (t) => {
  const s = torch.tensor(3);
  t.same(s.shape, [], 'a number is a 0-d tensor');
  t.same(s.dtype, 'int64');
  t.equal(s.item(), 3);
  const f = torch.tensor(2.5);
  t.same([f.shape, f.dtype, f.item()], [[], 'float32', 2.5]);
  const n = torch.tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  t.same(n.shape, [2, 3]);
  t.same(n.dtype, 'int64', 'integers infer int64 (as torch.tensor)');
  t.same(n.tolist(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const fl = torch.tensor([
    [1, 2.5],
    [3, 4],
  ]);
  t.same(fl.dtype, 'float32', 'any non-integer makes float32');
  t.same(fl.tolist(), [
    [1, 2.5],
    [3, 4],
  ]);
  const bo = torch.tensor([
    [true, false],
    [false, true],
  ]);
  t.same(bo.dtype, 'bool');
  t.same(bo.tolist(), [
    [true, false],
    [false, true],
  ]);
  const deep = torch.tensor([[[[1]], [[2]]]]);
  t.same(deep.shape, [1, 2, 1, 1]);
  const withShape = torch.tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] });
  t.same(withShape.tolist(), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  const asF64 = torch.tensor([1, 2], { dtype: 'float64' });
  t.same([asF64.dtype, asF64.tolist()], ['float64', [1, 2]]);
  const asHalf = torch.tensor([0.1, 65504, 1e-8], { dtype: 'float16' });
  t.same(asHalf.dtype, 'float16');
  t.same(values(asHalf), [Math.fround(0.0999755859375), 65504, 0], 'float16 rounding, read back widened to float32');
  const special = torch.tensor([NaN, Infinity, -Infinity, -0]);
  t.same(special.dtype, 'float32');
  const sv = Array.from(special.toArray() as Float32Array);
  t.ok(Number.isNaN(sv[0]) && sv[1] === Infinity && sv[2] === -Infinity && Object.is(sv[3], -0), 'NaN, ±Inf, -0 survive');
  const empty = torch.tensor([]);
  t.same([empty.shape, empty.dtype], [[0], 'float32'], 'torch.tensor([]) is float32[0] (as torch)');
  const empty2 = torch.tensor([[], []]);
  t.same([empty2.shape, empty2.dtype], [[2, 0], 'float32']);
  const big = torch.tensor([1e20, 2 ** 53 + 2]);
  t.same(big.dtype, 'float32', 'integers beyond 2^53 are not int64-exact in JS: float (as a Python float)');
  const bi = torch.tensor([2n ** 62n + 1n, -(2n ** 63n)]);
  t.same(bi.dtype, 'int64');
  t.same(Array.from(bi.toArray() as BigInt64Array), [2n ** 62n + 1n, -(2n ** 63n)], 'bigints are exact');
  const mixed = torch.tensor([1n, 2, 3]);
  t.same([mixed.dtype, mixed.tolist()], ['int64', [1, 2, 3]]);
  const req = torch.tensor([1.5, 2], { requiresGrad: true });
  t.same([req.dtype, req.requiresGrad, req.isLeaf], ['float32', true, true]);
  t.throws(() => torch.tensor([1, 2], { requiresGrad: true }), { code: 'ERR_DTYPE' }, 'integer tensors cannot require grad (as torch)');
  t.throws(() => torch.tensor([[1, 2], [3]]), { code: 'ERR_INVALID_ARG' }, 'ragged');
  t.throws(() => torch.tensor([1, 'a' as unknown as number]), { code: 'ERR_INVALID_ARG' }, 'strings');
  t.throws(() => torch.tensor([1, 2, 3], { shape: [2, 2] }), { code: 'ERR_INVALID_ARG' }, 'shape/element count mismatch');
});

t.test('torch.tensor from every TypedArray', async (t) => {
  const cases: [ArrayBufferView, string, number[] | bigint[]][] = [
    [new Float32Array([1.5, -2, 3]), 'float32', [1.5, -2, 3]],
    [new Float64Array([1.5, -2, 1e300]), 'float64', [1.5, -2, 1e300]],
    [new Int8Array([-128, 0, 127]), 'int8', [-128, 0, 127]],
    [new Uint8Array([0, 128, 255]), 'uint8', [0, 128, 255]],
    [new Uint8ClampedArray([0, 128, 255]), 'uint8', [0, 128, 255]],
    [new Int16Array([-32768, 0, 32767]), 'int16', [-32768, 0, 32767]],
    [new Uint16Array([0, 40000, 65535]), 'int32', [0, 40000, 65535]],
    [new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]), 'int32', [-(2 ** 31), 0, 2 ** 31 - 1]],
    [new Uint32Array([0, 2 ** 31, 2 ** 32 - 1]), 'int64', [0n, 2n ** 31n, 2n ** 32n - 1n]],
    [new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]), 'int64', [-(2n ** 63n), 0n, 2n ** 63n - 1n]],
    [new BigUint64Array([0n, 5n, 2n ** 63n - 1n]), 'int64', [0n, 5n, 2n ** 63n - 1n]],
  ];
  for (const [arr, dtype, want] of cases) {
    const x = torch.tensor(arr);
    const name = arr.constructor.name;
    t.same(x.dtype, dtype, `${name} -> ${dtype}`);
    t.same(x.shape, [3], `${name} shape`);
    t.same(Array.from(x.toArray() as ArrayLike<number | bigint>), want, `${name} values`);
  }
  t.throws(() => torch.tensor(new BigUint64Array([2n ** 63n])), { code: 'ERR_INVALID_ARG' }, 'uint64 beyond int64');
  // views with a byte offset into a larger buffer
  const buf = new Float32Array([9, 9, 1, 2, 3, 4, 9]);
  const sub = buf.subarray(2, 6);
  t.same(values(torch.tensor(sub, { shape: [2, 2] })), [1, 2, 3, 4], 'subarray honours byteOffset');
  const i16 = new Int16Array(new ArrayBuffer(16), 6, 3);
  i16.set([7, 8, 9]);
  t.same(values(torch.tensor(i16)), [7, 8, 9]);
  const conv = torch.tensor(new Float32Array([1.7, -1.7]), { dtype: 'int32' });
  t.same(values(conv), [1, -1], 'float -> int conversion truncates');
  // the tensor owns a copy
  const src = new Float32Array([1, 2]);
  const c = torch.tensor(src);
  src[0] = 100;
  t.equal(c.toArray()[0], 1, 'copy, not a view of the JS memory');
});

t.test('fromBuffer: raw little-endian bytes of every dtype', async (t) => {
  const le = (bytes: number[]) => new Uint8Array(bytes);
  const f32 = torch.fromBuffer(le([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]), 'float32', [2]);
  t.same(values(f32), [1, -2]);
  const f16 = torch.fromBuffer(le([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c]), 'float16', [3]);
  t.same([f16.dtype, values(f16)], ['float16', [1, -2, Infinity]]);
  const bf16 = torch.fromBuffer(le([0x80, 0x3f, 0x49, 0x40]), 'bfloat16', [2]);
  t.same([bf16.dtype, values(bf16)], ['bfloat16', [1, 3.140625]]);
  const f64 = torch.fromBuffer(new Float64Array([Math.PI, -0.5]).buffer, 'float64', [1, 2]);
  t.same([f64.shape, f64.tolist()], [[1, 2], [[Math.PI, -0.5]]]);
  const i64 = torch.fromBuffer(new BigInt64Array([-3n, 2n ** 40n]), 'int64', [2]);
  t.same(Array.from(i64.toArray() as BigInt64Array), [-3n, 2n ** 40n]);
  const i32 = torch.fromBuffer(le([0xff, 0xff, 0xff, 0xff]), 'int32', []);
  t.same([i32.shape, i32.item()], [[], -1]);
  const u8 = torch.fromBuffer(le([1, 2, 3, 4, 5, 6]), 'uint8', [2, 3]);
  t.same(u8.tolist(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const b = torch.fromBuffer(le([1, 0, 1]), 'bool', [3]);
  t.same(b.tolist(), [true, false, true]);
  const i8 = torch.fromBuffer(le([0xff, 0x80]), 'int8', [2]);
  t.same(i8.tolist(), [-1, -128]);
  const i16 = torch.fromBuffer(le([0x00, 0x80]), 'int16', [1]);
  t.same(i16.tolist(), [-32768]);
  const c64 = torch.fromBuffer(new Float32Array([1, 2, 3, 4]), 'complex64', [2]);
  t.same([c64.dtype, c64.shape, values(c64.real().contiguous())], ['complex64', [2], [1, 3]]);
  const c128 = torch.fromBuffer(new Float64Array([1, -1]), 'complex128', [1]);
  t.same(values(c128.imag().contiguous()), [-1]);
  const empty = torch.fromBuffer(new Uint8Array(0), 'float32', [0, 5]);
  t.same(empty.shape, [0, 5]);
  // a Buffer slice from a pooled allocation has a non-zero byteOffset
  const pooled = Buffer.from([0, 0, 0, 0, 0, 0, 0x80, 0x3f]).subarray(4);
  t.same(values(torch.fromBuffer(pooled, 'float32', [1])), [1], 'Buffer slice honours byteOffset');
  t.same(Array.from(f32.toBuffer()), [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0], 'toBuffer gives the raw bytes back');
  const dv = new DataView(new ArrayBuffer(12), 4, 8);
  dv.setFloat32(0, 1.5, true);
  dv.setFloat32(4, -3, true);
  t.same(values(torch.fromBuffer(dv, 'float32', [2])), [1.5, -3], 'a DataView is raw bytes too (its own offset)');
  t.throws(() => torch.fromBuffer(le([1, 2, 3]), 'float32', [1]), { code: 'ERR_SHAPE_MISMATCH' }, 'byte count must match');
  t.throws(() => torch.fromBuffer(le([1, 2, 3, 4]), 'float31' as 'float32', [1]), { code: 'ERR_INVALID_ARG' });
  t.throws(() => torch.fromBuffer([1, 2] as unknown as Uint8Array, 'uint8', [2]), { code: 'ERR_INVALID_ARG' });
});

t.test('constants, ranges, likes, windows', async (t) => {
  t.same(torch.zeros([2, 3]).tolist(), [
    [0, 0, 0],
    [0, 0, 0],
  ]);
  t.same(torch.zeros(3).shape, [3], 'a number is a 1-d shape');
  t.same(torch.ones([2], { dtype: 'int32' }).tolist(), [1, 1]);
  t.same(torch.ones([2], { dtype: 'int32' }).dtype, 'int32');
  t.same(torch.empty([0]).shape, [0]);
  t.same(torch.zeros([]).shape, []);
  t.same(torch.full([2], 7).tolist(), [7, 7]);
  t.same(torch.full([2], 7).dtype, 'float32');
  t.same(torch.full([1], true).dtype, 'bool');
  t.same(torch.full([2], 3, { dtype: 'int64' }).tolist(), [3, 3]);
  t.same(torch.arange(5).tolist(), [0, 1, 2, 3, 4]);
  t.same(torch.arange(5).dtype, 'int64');
  t.same(torch.arange(1, 10, 3).tolist(), [1, 4, 7]);
  t.same(torch.arange(5, 0, -2).tolist(), [5, 3, 1]);
  t.same(torch.arange(0, 1, 0.25).dtype, 'float32');
  t.same(torch.arange(0, 1, 0.25).tolist(), [0, 0.25, 0.5, 0.75]);
  t.same(torch.linspace(0, 1, 5).tolist(), [0, 0.25, 0.5, 0.75, 1]);
  t.same(torch.eye(2, 3).tolist(), [
    [1, 0, 0],
    [0, 1, 0],
  ]);
  t.same(torch.eye(2).tolist(), [
    [1, 0],
    [0, 1],
  ]);
  const x = torch.randn([2, 3], { dtype: 'float64' });
  t.same(torch.zerosLike(x).dtype, 'float64');
  t.same(torch.onesLike(x, { dtype: 'int32' }).dtype, 'int32');
  t.same(torch.fullLike(x, 2).tolist(), [
    [2, 2, 2],
    [2, 2, 2],
  ]);
  t.same(torch.randnLike(x).shape, [2, 3]);
  t.same(torch.scalarTensor(4).shape, []);
  const z = torch.zeros([2], { requiresGrad: true });
  t.ok(z.requiresGrad && z.isLeaf, 'requiresGrad option makes a leaf');
  const ri = torch.randint(3, 7, [1000]);
  t.ok(ri.ge(3).all().item() && ri.lt(7).all().item(), 'randint in [low, high)');
  t.same(ri.dtype, 'int64');
  const r = torch.rand([1000]);
  t.ok(r.ge(0).all().item() && r.lt(1).all().item(), 'rand in [0, 1)');
  const rn = torch.randn([20000]);
  t.ok(Math.abs(rn.mean().item()) < 0.05 && Math.abs(rn.std().item() - 1) < 0.05, 'randn ~ N(0, 1)');
  const p = torch.randperm(10).sort().values;
  t.same(p.tolist(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  torch.manualSeed(7);
  const a1 = torch.randn([5]).tolist();
  torch.manualSeed(7);
  t.same(torch.randn([5]).tolist(), a1, 'manualSeed makes draws reproducible');
  t.same(torch.hannWindow(4).tolist(), [0, 0.5, 1, 0.5], 'periodic hann');
  t.same(torch.hannWindow(5, { periodic: false }).tolist(), [0, 0.5, 1, 0.5, 0], 'symmetric hann');
});

compareTable(t, 'creation and conversion vs torch', {}, [
  { name: 'arange float steps', ours: () => torch.arange(0, 1, 0.1), py: 'out = torch.arange(0, 1, 0.1)' },
  { name: 'arange negative float step', ours: () => torch.arange(1, -1, -0.3), py: 'out = torch.arange(1, -1, -0.3)' },
  { name: 'arange float64', ours: () => torch.arange(0, 2, 0.3, { dtype: 'float64' }), py: 'out = torch.arange(0, 2, 0.3, dtype=torch.float64)' },
  { name: 'linspace', ours: () => torch.linspace(-3, 7, 17), py: 'out = torch.linspace(-3, 7, 17)' },
  { name: 'linspace int64', ours: () => torch.linspace(0, 10, 4, { dtype: 'int64' }), py: 'out = torch.linspace(0, 10, 4, dtype=torch.int64)' },
  { name: 'hann periodic 400', ours: () => torch.hannWindow(400), py: 'out = torch.hann_window(400)' },
  { name: 'hann symmetric', ours: () => torch.hannWindow(25, { periodic: false }), py: 'out = torch.hann_window(25, periodic=False)' },
  { name: 'hamming periodic', ours: () => torch.hammingWindow(400), py: 'out = torch.hamming_window(400)' },
  {
    name: 'hamming symmetric float64',
    ours: () => torch.hammingWindow(31, { periodic: false, dtype: 'float64' }),
    py: 'out = torch.hamming_window(31, periodic=False, dtype=torch.float64)',
    rtol: 1e-12,
  },
  { name: 'blackman', ours: () => torch.blackmanWindow(64), py: 'out = torch.blackman_window(64)' },
  {
    name: 'povey window building blocks',
    ours: () => torch.hannWindow(400, { periodic: false, dtype: 'float64' }).pow(0.85),
    py: 'out = torch.hann_window(400, periodic=False, dtype=torch.float64).pow(0.85)',
    rtol: 1e-12,
  },
  {
    name: 'same seed, same draws as torch (randn)',
    ours: () => {
      torch.manualSeed(0);
      return torch.randn([7]);
    },
    py: 'torch.manual_seed(0); out = torch.randn(7)',
  },
  {
    name: 'same seed, same draws as torch (rand)',
    ours: () => {
      torch.manualSeed(42);
      return torch.rand([3, 3]);
    },
    py: 'torch.manual_seed(42); out = torch.rand(3, 3)',
  },
  {
    name: 'same seed, same draws as torch (randint)',
    ours: () => {
      torch.manualSeed(3);
      return torch.randint(0, 100, [6]);
    },
    py: 'torch.manual_seed(3); out = torch.randint(0, 100, (6,))',
  },
  {
    name: 'same seed, same draws as torch (randperm)',
    ours: () => {
      torch.manualSeed(3);
      return torch.randperm(12);
    },
    py: 'torch.manual_seed(3); out = torch.randperm(12)',
  },
  { name: 'float -> int64 truncation', ours: () => torch.tensor([-1.7, -0.5, 0.5, 2.9]).long(), py: 'out = torch.tensor([-1.7, -0.5, 0.5, 2.9]).long()' },
  { name: 'float -> uint8 conversion', ours: () => torch.tensor([0, 1.9, 255]).to('uint8'), py: 'out = torch.tensor([0, 1.9, 255]).to(torch.uint8)' },
  {
    name: 'float -> bfloat16 -> float',
    ours: () => torch.tensor([1.0001, 3.14159, -1e-3]).bfloat16().float(),
    py: 'out = torch.tensor([1.0001, 3.14159, -1e-3]).bfloat16().float()',
  },
  { name: 'float -> half', ours: () => torch.tensor([1.0001, 3.14159, 70000]).half(), py: 'out = torch.tensor([1.0001, 3.14159, 70000]).half()' },
  { name: 'int -> bool', ours: () => torch.tensor([0, 2, -1]).bool(), py: 'out = torch.tensor([0, 2, -1]).bool()' },
]);

t.test('host read-back: toArray / tolist / item of views and odd dtypes', async (t) => {
  const x = torch.arange(12).reshape([3, 4]);
  const v = x.t();
  t.notOk(v.isContiguous(), 'transpose is a non-contiguous view');
  t.same(
    v.tolist(),
    [
      [0, 4, 8],
      [1, 5, 9],
      [2, 6, 10],
      [3, 7, 11],
    ],
    'toArray of a view is in logical C order',
  );
  t.same(x.slice(1, 1, null, 2).tolist(), [
    [1, 3],
    [5, 7],
    [9, 11],
  ]);
  t.equal(torch.tensor([[5]]).item(), 5);
  t.throws(() => x.item(), { code: 'ERR_SHAPE_MISMATCH' });
  t.same(torch.tensor([true, false]).toArray() instanceof Uint8Array, true);
  t.same(torch.tensor([1, 2]).toArray() instanceof BigInt64Array, true);
  t.same(torch.zeros([2]).bfloat16().toArray() instanceof Float32Array, true, 'bfloat16 widens to Float32Array');
  t.match(String(x), /int64\[3,4\] cpu/);
});

void checkClose;
void pyRun;
void pyTorchMissing;
void Tensor;

t.test('option objects are validated like arguments: values, unknown keys, null, deep nesting', async (t) => {
  const live = torch.memory().liveTensors;
  const bad = { code: 'ERR_INVALID_ARG' };
  const x = torch.randn([2, 3]);
  const labels = torch.tensor([0, 1]);
  t.throws(() => torch.zeros([2], { requiresGrad: 'yes' as unknown as boolean }), {
    ...bad,
    message: `zeros: argument 'opts.requiresGrad' expected a boolean, got "yes"`,
  });
  t.throws(() => torch.ones([2], { dtype: 'float31' as 'float32' }), {
    ...bad,
    message: /ones: argument 'opts.dtype' expected one of float32, .*got "float31"/,
  });
  t.throws(() => torch.tensor([1], { device: 7 as unknown as string }), {
    ...bad,
    message: /tensor: argument 'opts.device' expected 'cpu' or 'cuda\[:N\]', got 7/,
  });
  t.throws(() => torch.tensor([1, 2], { shape: [-2] }), { ...bad, message: /'opts.shape'/ });
  t.throws(() => torch.zeros([2], { requiresgrad: true } as Record<string, unknown>), {
    ...bad,
    message: "zeros: unknown option 'requiresgrad' (allowed: dtype, device, requiresGrad), got true",
  });
  t.throws(() => torch.zerosLike(x, { device: 'cpu' } as Record<string, unknown>), {
    ...bad,
    message: /zerosLike: unknown option 'device' \(allowed: dtype\)/,
  });
  t.throws(() => torch.hannWindow(4, { periodic: 1 as unknown as boolean }), {
    ...bad,
    message: /hannWindow: argument 'opts.periodic' expected a boolean, got 1/,
  });
  // null and non-objects are refused; undefined (and a key set to undefined) means the defaults
  for (const o of [null, 5, 'float32', [1], new Map()]) {
    t.throws(
      () => torch.zeros([2], o as unknown as object),
      { ...bad, message: /zeros: argument 'opts' expected an options object or undefined/ },
      `options ${String(o)}`,
    );
  }
  t.same(
    torch.tidy(() => torch.zeros([2], undefined).shape),
    [2],
  );
  t.same(
    torch.tidy(() => torch.zeros([2], { dtype: undefined }).dtype),
    'float32',
  );
  t.equal(
    torch.tidy(() => torch.hannWindow(4, { requiresGrad: true }).requiresGrad),
    true,
    'windows honour requiresGrad',
  );
  // the other option-taking APIs share the validator
  t.throws(() => F.mseLoss(x, x, { reduction: 'avg' as 'mean' }), {
    ...bad,
    message: /mseLoss: argument 'opts.reduction' expected one of "none", "mean", "sum", got "avg"/,
  });
  t.throws(() => F.gelu(x, { approx: 'tanh' } as Record<string, unknown>), { ...bad, message: /gelu: unknown option 'approx' \(allowed: approximate\)/ });
  t.throws(() => x.softmax(1, { dtype: 'f32' as 'float32' }), { ...bad, message: /softmax: argument 'opts.dtype'/ });
  t.throws(() => torch.fft.rfft(x, { norm: 'unit' as 'ortho' }), { ...bad, message: /rfft: argument 'opts.norm'/ });
  t.throws(() => F.crossEntropy(x, labels, { weight: [1, 2] as unknown as Tensor }), {
    ...bad,
    message: /crossEntropy: argument 'opts.weight' expected a Tensor or null/,
  });
  t.throws(() => torch.autograd.grad(x, x, { retainGraph: 'no' } as unknown as { retainGraph: boolean }), {
    ...bad,
    message: /autograd.grad: argument 'opts.retainGraph' expected a boolean/,
  });
  t.throws(() => torch.autocast(() => 1, { dtype: 'float32' as 'float16' }), {
    ...bad,
    message: /autocast: argument 'opts.dtype' expected one of "bfloat16", "float16", got "float32"/,
  });
  torch.dispose([x, labels]);

  // nesting: 128 levels (the Python peer's limit) work, deeper ones and cycles are ERR_INVALID_ARG, never a RangeError
  const nest = (d: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < d; i++) v = [v];
    return v;
  };
  t.equal(
    torch.tidy(() => torch.tensor(nest(128) as number[]).ndim),
    128,
  );
  for (const d of [129, 10_000]) {
    t.throws(() => torch.tensor(nest(d) as number[]), { ...bad, message: /tensor: argument 'values' expected arrays nested at most 128 deep/ }, `${d} deep`);
  }
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  t.throws(() => torch.tensor(cyclic as number[]), bad, 'a cyclic array');
  t.equal(torch.memory().liveTensors, live, 'no tensor left by a refused call');
});
