/**
 * Malformed calls: several hundred wrong shapes, dtypes, devices, disposed tensors, NaN/negative sizes,
 * huge allocations, wrong argument types and forged ids, thrown at the public API and at the raw
 * addon. Each must be a JS Error with a string `code`; the process must stay alive and no tensor
 * handle may leak from a failed call.
 */
import t from 'tap';
import { torch, F, Tensor, TorchError } from '../../lib/tensor';
import { native as N } from '../../lib/native/binding';

type Thunk = () => unknown;
const cases: [string, Thunk][] = [];
const add = (label: string, f: Thunk) => cases.push([label, f]);
// `any` on purpose: these calls break the types the way untyped JS callers would.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const start = torch.memory().liveTensors;
const x = torch.randn([3, 4]);
const y = torch.randn([5]);
const i = torch.tensor([
  [0, 1],
  [2, 3],
]);
const b = torch.tensor([true, false, true]);
const c = torch.fft.rfft(torch.randn([8]));
const img = torch.randn([1, 3, 8, 8]);
const w2 = torch.randn([4, 3, 3, 3]);
const dead = torch.ones([2]);
dead.dispose();
const cudaBad = torch.cuda.isAvailable() ? 'cuda:99' : 'cuda:0';
const bads: [string, Any][] = [
  ['a string', 'abc'],
  ['an object', { a: 1 }],
  ['undefined', undefined],
  ['null', null],
  ['NaN', NaN],
  ['an array', [1, 2]],
  ['a function', () => 1],
  ['a symbol', Symbol('s')],
  ['a bigint', 10n],
  ['a disposed tensor', dead],
];

// ---- creation -------------------------------------------------------------------------------------
const creators: [string, (s: Any, o?: Any) => Tensor][] = [
  ['zeros', torch.zeros],
  ['ones', torch.ones],
  ['empty', torch.empty],
  ['randn', torch.randn],
  ['rand', torch.rand],
];
const badShapes: [string, Any][] = [
  ['NaN size', [NaN]],
  ['negative size', [-1]],
  ['fractional size', [1.5]],
  ['Infinity', [Infinity]],
  ['string shape', 'abc'],
  ['object shape', {}],
  ['undefined shape', undefined],
  ['nested shape', [[2]]],
  ['huge 1e6 x 1e6', [1e6, 1e6]],
  ['huge 2^53', [2 ** 53]],
  ['null shape', null],
  ['string element', ['2']],
];
for (const [name, f] of creators) {
  for (const [what, s] of badShapes) add(`${name}(${what})`, () => f(s));
  add(`${name} bad dtype`, () => f([2], { dtype: 'float31' }));
  add(`${name} numeric dtype`, () => f([2], { dtype: 3 }));
  add(`${name} device ${cudaBad}`, () => f([2], { device: cudaBad }));
  add(`${name} device 'gpu'`, () => f([2], { device: 'gpu' }));
  add(`${name} device 42`, () => f([2], { device: 42 }));
}
add('zeros bigger than memory as int64', () => torch.zeros([1e5, 1e5, 10], { dtype: 'int64' }));
add('tensor(string)', () => torch.tensor('abc' as Any));
add('tensor(object)', () => torch.tensor({ a: 1 } as Any));
add('tensor(ragged)', () => torch.tensor([[1], [1, 2]]));
add('tensor([undefined])', () => torch.tensor([undefined] as Any));
add('tensor([null])', () => torch.tensor([null] as Any));
add('tensor(DataView)', () => torch.tensor(new DataView(new ArrayBuffer(4)) as Any));
add('tensor(function)', () => torch.tensor((() => 1) as Any));
add('tensor shape mismatch', () => torch.tensor([1, 2, 3], { shape: [2] }));
add('tensor shape NaN', () => torch.tensor([1, 2], { shape: [NaN] }));
add('tensor bad dtype', () => torch.tensor([1, 2], { dtype: 'int128' as Any }));
add(`tensor device ${cudaBad}`, () => torch.tensor([1, 2], { device: cudaBad }));
add('tensor int requiresGrad', () => torch.tensor([1, 2], { requiresGrad: true }));
add('full bad value', () => torch.full([2], 'x' as Any));
add('full negative shape', () => torch.full([-2], 1));
add('arange step 0', () => torch.arange(0, 10, 0));
add('arange NaN', () => torch.arange(NaN));
add('arange Infinity', () => torch.arange(0, Infinity));
add('arange huge', () => torch.arange(0, 1e15));
add('arange string', () => torch.arange('10' as Any));
add('arange wrong direction', () => torch.arange(0, 10, -1));
add('linspace negative steps', () => torch.linspace(0, 1, -1));
add('linspace fractional steps', () => torch.linspace(0, 1, 2.5));
add('eye negative', () => torch.eye(-1));
add('eye huge', () => torch.eye(1e6, 1e6));
add('randint high <= low', () => torch.randint(5, 1, [2]));
add('randint negative shape', () => torch.randint(0, 10, [-1]));
add('randint fractional bound', () => torch.randint(0.5, 10, [2]));
add('randperm negative', () => torch.randperm(-1));
add('randperm huge', () => torch.randperm(1e13));
add('fromBuffer short buffer', () => torch.fromBuffer(new Uint8Array(3), 'float32', [1]));
add('fromBuffer long buffer', () => torch.fromBuffer(new Uint8Array(8), 'float32', [1]));
add('fromBuffer not a buffer', () => torch.fromBuffer([1, 2, 3, 4] as Any, 'uint8', [4]));
add('fromBuffer negative shape', () => torch.fromBuffer(new Uint8Array(4), 'uint8', [-4]));
add('fromBuffer huge shape', () => torch.fromBuffer(new Uint8Array(4), 'uint8', [2 ** 40, 2 ** 40]));
add('fromBuffer bad dtype', () => torch.fromBuffer(new Uint8Array(4), 'float8' as Any, [4]));
add('zerosLike(string)', () => torch.zerosLike('x' as Any));
add('zerosLike(undefined)', () => torch.zerosLike(undefined as Any));
add('onesLike bad dtype', () => torch.onesLike(x, { dtype: 'nope' as Any }));
add('hannWindow negative', () => torch.hannWindow(-1));
add('hannWindow fractional', () => torch.hannWindow(2.5));
add('manualSeed negative', () => torch.manualSeed(-1));
add('manualSeed fractional', () => torch.manualSeed(1.5));
add('setNumThreads 0', () => torch.setNumThreads(0));
add('setNumThreads string', () => torch.setNumThreads('2' as Any));

// ---- elementwise with bad operands ------------------------------------------------------------------
for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'eq', 'lt', 'remainder', 'maximum', 'atan2', 'logicalAnd'] as const) {
  for (const [what, v] of bads) if (what !== 'NaN') add(`x.${op}(${what})`, () => (x[op] as Any)(v)); // NaN is a valid scalar
  add(`x.${op}(shape mismatch)`, () => (x[op] as Any)(y));
}
add('x.add alpha string', () => x.add(x, { alpha: 'a' as Any }));
add('int.add(float, alpha float)', () => i.add(i, { alpha: 0.5 }));
add('x.div bad rounding mode', () => x.div(2, { roundingMode: 'ceil' as Any }));
add('bool.sub(bool)', () => b.sub(b));
add('float.bitwiseNot()', () => x.bitwiseNot());
add('complex.max()', () => c.max());
add('complex.clamp()', () => c.clamp(0, 1));
add('x.clamp(string)', () => x.clamp('a' as Any));
add('x.clamp(no bounds)', () => x.clamp());
add('x.clamp(tensor, number)', () => x.clamp(x, 1));
add('x.where(string, 1)', () => x.where('a' as Any, 1));
add('x.where(float cond)', () => x.where(x, 1));
add('torch.where shape mismatch', () => torch.where(x.gt(0), x, y));
add('x.lerp(undefined)', () => x.lerp(undefined as Any, 0.5));
add('x.addcmul(shape mismatch)', () => x.addcmul(y, y));
add('x.fill_(string)', () => x.fill_('a' as Any));
add('x.copy_(number)', () => x.copy_(5 as Any));
add('x.copy_(shape mismatch)', () => x.clone().copy_(y));
add('x.add_(broadcast to larger)', () => y.clone().add_(x));
add('int.div_(2) in place', () => i.clone().div_(2));
add('x.nanToNum bad', () => x.nanToNum({ nan: 'a' as Any }));

// ---- reductions -------------------------------------------------------------------------------------
add('sum dim out of range', () => x.sum(5));
add('sum dim string', () => x.sum('a' as Any));
add('sum duplicate dims', () => x.sum([0, 0]));
add('sum fractional dim', () => x.sum(0.5));
add('mean of int64', () => i.mean());
add('mean dtype bad', () => x.mean(0, false, { dtype: 'x' as Any }));
add('var of int64', () => i.var());
add('std dim out of range', () => x.std(7));
add('max dim out of range', () => x.max(5));
add('max dim string', () => x.max('a' as Any));
add('min of empty', () => torch.zeros([0]).min());
add('argmax dim out of range', () => x.argmax(9));
add('norm string p', () => x.norm('fro' as Any));
add('cumsum dim out of range', () => x.cumsum(7));
add('cumsum dim missing', () => (x.cumsum as Any)());
add('prod dim out of range', () => x.prod(3));
add('logsumexp dim out of range', () => x.logsumexp(4));
add('all dim out of range', () => b.all(9));
add('topk k too big', () => x.topk(100));
add('topk negative k', () => x.topk(-1));
add('topk k string', () => x.topk('a' as Any));
add('sort dim out of range', () => x.sort(5));
add('item of many', () => x.item());
add('item of empty', () => torch.zeros([0]).item());
add('allclose shape mismatch', () => x.allclose(y));
add('allclose undefined', () => x.allclose(undefined as Any));

// ---- shape ------------------------------------------------------------------------------------------
add('reshape incompatible', () => x.reshape([7]));
add('reshape two -1', () => x.reshape([-1, -1]));
add('reshape string', () => x.reshape('a' as Any));
add('reshape NaN', () => x.reshape([NaN]));
add('view of non-contiguous', () => x.t().view([-1]));
add('permute repeated', () => x.permute([0, 0]));
add('permute too few', () => x.permute([0]));
add('transpose out of range', () => x.transpose(0, 5));
add('transpose string', () => x.transpose('a' as Any, 1));
add('squeeze out of range', () => x.squeeze(9));
add('unsqueeze out of range', () => x.unsqueeze(9));
add('expand smaller', () => x.expand([1]));
add('expand incompatible', () => x.expand([3, 5]));
add('repeat fewer dims', () => x.repeat([1]));
add('repeat negative', () => x.repeat([-1, 1]));
// huge requests are far beyond any address space (PB), so that no overcommit policy can grant them
add('repeat huge', () => y.repeat([1e7, 1e7]));
add('expand huge then contiguous', () => y.expand([1e7, 1e7, 5]).contiguous());
add('cat empty list', () => torch.cat([]));
add('cat mismatched', () => torch.cat([x, y]));
add('cat string', () => torch.cat('a' as Any));
add('cat undefined', () => torch.cat(undefined as Any));
add('cat with disposed', () => torch.cat([x, dead]));
add('cat dim out of range', () => torch.cat([x, x], 5));
add('stack mismatched', () => torch.stack([x, x.t()]));
add('stack numbers', () => torch.stack([1, 2] as Any));
add('split size 0', () => x.split(0));
add('split sizes wrong sum', () => x.split([1, 1]));
add('chunk 0', () => x.chunk(0));
add('narrow out of range', () => x.narrow(0, 2, 5));
add('narrow string', () => x.narrow(0, 'a' as Any, 1));
add('slice step 0', () => x.slice(0, 0, 2, 0));
add('slice negative step', () => x.slice(0, null, null, -1));
add('slice dim out of range', () => x.slice(4, 0, 1));
add('select out of range', () => x.select(0, 100));
add('select undefined dim', () => x.select(undefined as Any, 0));
add('flip dim out of range', () => x.flip([5]));
add('roll dim out of range', () => x.roll(1, 5));
add('roll shifts/dims mismatch', () => x.roll([1, 2], [0]));
add('unfold size too big', () => y.unfold(0, 100, 1));
add('unfold step 0', () => y.unfold(0, 2, 0));
add('asStrided beyond storage', () => y.asStrided([10], [1]));
add('asStrided negative stride', () => y.asStrided([2], [-1], 4));
add('asStrided negative offset', () => y.asStrided([2], [1], -1));
add('asStrided length mismatch', () => y.asStrided([2, 2], [1]));
add('pad odd length', () => F.pad(x, [1]));
add('pad circular mode', () => F.pad(x, [1, 1], { mode: 'circular' as Any }));
add('pad reflect too large', () => F.pad(x.unsqueeze(0), [9, 9], { mode: 'reflect' }));
add('pad reflect 4 dims of pads', () => F.pad(y, [1, 1, 1, 1, 1, 1, 1, 1], { mode: 'reflect' }));
add('movedim out of range', () => x.movedim(0, 7));
add('flatten bad range', () => x.flatten(1, 0));
add('unflatten bad sizes', () => x.unflatten(1, [3, 3]));
add('t() of 3-d', () => torch.zeros([2, 2, 2]).t());
add('size(dim) out of range', () => x.size(5));

// ---- indexing ---------------------------------------------------------------------------------------
add('gather float index', () => x.gather(1, x));
add('gather index out of range', () => x.gather(1, torch.tensor([[0, 9]])));
add('gather string index', () => x.gather(0, 'idx' as Any));
add('gather undefined index', () => x.gather(0, undefined as Any));
add('scatter shape mismatch', () => x.scatter(1, i, y));
add('scatter index out of range', () => x.scatter(1, torch.tensor([[7]]), 1));
add('scatterAdd float index', () => x.scatterAdd(1, x, x));
add('indexSelect float index', () => x.indexSelect(0, torch.tensor([0.5])));
add('indexSelect out of range', () => x.indexSelect(0, torch.tensor([3])));
add('indexSelect 2-d index', () => x.indexSelect(0, i));
add('maskedFill float mask', () => x.maskedFill(x, 0));
add('maskedFill mask shape', () => x.maskedFill(b, 0));
add('maskedFill string value', () => x.maskedFill(x.gt(0), 'a' as Any));
add('maskedSelect mismatch', () => x.maskedSelect(b));
add('index tensor out of range', () => x.index(torch.tensor([3])));
add('index float tensor', () => x.index(torch.tensor([0.5])));
add('index bad slice string', () => x.index('x'));
add('index boolean spec', () => x.index(true as Any));
add('index symbol spec', () => x.index(Symbol('s') as Any));
add('index too many', () => x.index(0, 0, 0));
add('index two ellipses', () => x.index('...', '...'));
add('index disposed tensor', () => x.index(dead));
add('index list with fraction', () => x.index([0.5]));
add('index list out of range', () => x.index([7]));
add('index mask wrong shape', () => x.index(torch.tensor([true, false, true, false, true])));
add('indexAssign_ shape mismatch', () => x.clone().indexAssign_([':', '0:2'], torch.ones([3, 3])));
add('indexAssign_ string value', () => x.clone().indexAssign_([0], 'a' as Any));
add('indexAssign_ specs not an array', () => x.clone().indexAssign_(0 as Any, 1));
add('indexPut_ mismatch', () => x.clone().indexPut_([torch.tensor([0, 1])], torch.ones([3])));
add('sort string dim', () => x.sort('a' as Any));
add('argsort out of range', () => x.argsort(3));
add('oneHot negative', () => F.oneHot(torch.tensor([-1]), 3));
add('oneHot float', () => F.oneHot(torch.tensor([0.5]), 3));
add('embedding out of range', () => F.embedding(torch.tensor([9]), x));
add('embedding float indices', () => F.embedding(torch.tensor([0.5]), x));

// ---- nn.functional ----------------------------------------------------------------------------------
add('conv2d 3-d weight', () => F.conv2d(img, torch.zeros([4, 3, 3])));
add('conv2d channel mismatch', () => F.conv2d(img, torch.zeros([4, 2, 3, 3])));
add('conv2d stride length', () => F.conv2d(img, w2, null, { stride: [1, 2, 3] }));
add('conv2d negative padding', () => F.conv2d(img, w2, null, { padding: -1 }));
add('conv2d stride 0', () => F.conv2d(img, w2, null, { stride: 0 }));
add('conv2d groups 0', () => F.conv2d(img, w2, null, { groups: 0 }));
add('conv2d groups not dividing', () => F.conv2d(img, w2, null, { groups: 2 }));
add('conv2d kernel larger than input', () => F.conv2d(torch.zeros([1, 3, 2, 2]), w2));
add('conv2d bias shape', () => F.conv2d(img, w2, torch.zeros([3])));
add('conv2d input string', () => F.conv2d('x' as Any, w2));
add('conv2d input undefined', () => F.conv2d(undefined as Any, w2));
add('conv2d weight undefined', () => F.conv2d(img, undefined as Any));
add('conv2d dtype mismatch', () => F.conv2d(img.double(), w2));
add('conv1d 4-d input', () => F.conv1d(img, torch.zeros([2, 3, 3])));
add('conv3d 4-d input', () => F.conv3d(img, torch.zeros([2, 3, 1, 1, 1])));
add('convTranspose2d bad outputPadding', () => F.convTranspose2d(img, torch.zeros([3, 2, 3, 3]), null, { stride: 1, outputPadding: 2 }));
add('linear shape mismatch', () => F.linear(x, torch.zeros([2, 5])));
add('linear bias mismatch', () => F.linear(x, torch.zeros([2, 4]), torch.zeros([3])));
add('linear undefined weight', () => F.linear(x, undefined as Any));
add('linear int weight', () => F.linear(x, torch.zeros([2, 4], { dtype: 'int64' })));
add('layerNorm bad shape', () => F.layerNorm(x, [5]));
add('layerNorm weight mismatch', () => F.layerNorm(x, [4], torch.ones([3])));
add('layerNorm string shape', () => F.layerNorm(x, 'a' as Any));
add('layerNorm int input', () => F.layerNorm(i, [2]));
add('gelu bad approximate', () => F.gelu(x, { approximate: 'foo' as Any }));
add('gelu undefined', () => F.gelu(undefined as Any));
add('softmax dim out of range', () => x.softmax(5));
add('softmax dim undefined', () => (x.softmax as Any)());
add('logSoftmax int', () => i.logSoftmax(0));
add('dropout p negative', () => F.dropout(x, -1));
add('dropout p NaN', () => F.dropout(x, NaN));
add('dropout p > 1', () => F.dropout(x, 2));
add('normalize dim out of range', () => F.normalize(x, { dim: 5 }));
add('sdpa shape mismatch', () => F.scaledDotProductAttention(torch.zeros([1, 2, 3, 4]), torch.zeros([1, 2, 3, 5]), torch.zeros([1, 2, 3, 4])));
add('sdpa mask shape', () =>
  F.scaledDotProductAttention(torch.zeros([1, 1, 3, 4]), torch.zeros([1, 1, 3, 4]), torch.zeros([1, 1, 3, 4]), { attnMask: torch.zeros([2, 2]) }),
);
add('sdpa undefined', () => F.scaledDotProductAttention(undefined as Any, x, x));
add('interpolate 3-d input', () => F.interpolate(x.unsqueeze(0), { size: [2, 2], mode: 'bilinear' }));
add('interpolate negative size', () => F.interpolate(img, { size: [-1, 2], mode: 'bilinear' }));
add('interpolate zero size', () => F.interpolate(img, { size: [0, 2], mode: 'bilinear' }));
add('interpolate bad mode', () => F.interpolate(img, { size: [2, 2], mode: 'trilinear' as Any }));
add('interpolate missing size', () => F.interpolate(img, {} as Any));
add('interpolate without options', () => (F.interpolate as Any)(img));
add('interpolate size length 3', () => F.interpolate(img, { size: [2, 2, 2] as Any, mode: 'bilinear' }));
add('interpolate int input', () => F.interpolate(img.long(), { size: [2, 2], mode: 'bilinear' }));
add('mseLoss int', () => F.mseLoss(i, i));
add('mseLoss bad reduction', () => F.mseLoss(x, x, { reduction: 'avg' as Any }));
add('mseLoss undefined', () => F.mseLoss(x, undefined as Any));
add('l1Loss incompatible shapes', () => F.l1Loss(x, y));
add('crossEntropy target out of range', () => F.crossEntropy(x, torch.tensor([0, 1, 9])));
add('crossEntropy target batch mismatch', () => F.crossEntropy(x, torch.tensor([0, 1])));
add('crossEntropy float target wrong shape', () => F.crossEntropy(x, torch.zeros([3, 5])));
add('crossEntropy label smoothing > 1', () => F.crossEntropy(x, torch.tensor([0, 1, 2]), { labelSmoothing: 2 }));
add('crossEntropy weight wrong size', () => F.crossEntropy(x, torch.tensor([0, 1, 2]), { weight: torch.ones([3]) }));
add('crossEntropy int logits', () => F.crossEntropy(i, torch.tensor([0, 1])));
add('nllLoss target dtype', () => F.nllLoss(x, torch.zeros([3])));
add('bce shape mismatch', () => F.binaryCrossEntropyWithLogits(x, y));
add('bce posWeight mismatch', () => F.binaryCrossEntropyWithLogits(x, x, { posWeight: torch.ones([3]) }));
add('rfft of complex', () => torch.fft.rfft(c));
add('rfft dim out of range', () => torch.fft.rfft(y, { dim: 3 }));
add('rfft bad norm', () => torch.fft.rfft(y, { norm: 'nope' as Any }));
add('rfft n = 0', () => torch.fft.rfft(y, { n: 0 }));
add('irfft of real... n negative', () => torch.fft.irfft(c, { n: -2 }));
add('stft nFft > length without center', () => torch.stft(y, 64, { center: false }));
add('stft window wrong size', () => torch.stft(torch.randn([256]), 64, { window: torch.ones([10]) }));
add('stft hop 0', () => torch.stft(torch.randn([256]), 64, { hopLength: 0 }));
add('stft 3-d input', () => torch.stft(torch.randn([2, 2, 256]), 64));
add('einsum bad equation', () => torch.einsum('ij,jk->', x));
add('einsum operand count', () => torch.einsum('ij,jk->ik', x));
add('einsum non-string', () => torch.einsum(5 as Any, x));
add('matmul shape mismatch', () => x.matmul(x));
add('matmul dtype mismatch', () => x.matmul(i));
add('matmul 0-d', () => x.matmul(torch.tensor(1.5)));
add('matmul string', () => x.matmul('a' as Any));
add('mm 3-d', () => torch.zeros([2, 2, 2]).mm(x));
add('bmm 2-d', () => x.bmm(x));
add('outer 2-d', () => x.outer(x));

// ---- autograd ---------------------------------------------------------------------------------------
add('backward without grad', () => x.sum().backward());
add('backward grad shape', () =>
  torch
    .ones([2], { requiresGrad: true })
    .mul(2)
    .backward(torch.ones([3])),
);
add('backward grad string', () =>
  torch
    .ones([2], { requiresGrad: true })
    .mul(2)
    .backward('a' as Any),
);
add('backward non-scalar', () => torch.ones([2], { requiresGrad: true }).mul(2).backward());
add('autograd.grad input not requiring grad', () => torch.autograd.grad(torch.ones([1], { requiresGrad: true }).sum(), x));
add('autograd.grad output not requiring grad', () => torch.autograd.grad(x.sum(), x));
add('autograd.grad undefined', () => torch.autograd.grad(undefined as Any, x));
add('grad assignment wrong shape', () => {
  const p = torch.ones([2], { requiresGrad: true });
  p.grad = torch.ones([3]);
});
add('grad assignment wrong dtype', () => {
  const p = torch.ones([2], { requiresGrad: true });
  p.grad = torch.ones([2], { dtype: 'float64' });
});
add('grad assignment string', () => {
  const p = torch.ones([2], { requiresGrad: true });
  p.grad = 'a' as Any;
});
add('requiresGrad_ on int', () => i.requiresGrad_(true));
add('requiresGrad setter on bool tensor', () => {
  b.requiresGrad = true;
});
add('in-place on leaf requiring grad', () => torch.ones([2], { requiresGrad: true }).add_(1));
add('setData_ string', () => x.clone().setData_('a' as Any));
add(
  'detach_ of a view',
  () => torch.ones([2], { requiresGrad: true }).mul(1).view([2]).detach_().add_(0) && torch.ones([2], { requiresGrad: true }).view([2]).detach_(),
);

// ---- devices and dtypes -----------------------------------------------------------------------------
add(`to('${cudaBad}')`, () => x.to(cudaBad));
add("to('tpu')", () => x.to('tpu'));
add("to('float99')", () => x.to('float99' as Any));
add('to(5)', () => x.to(5 as Any));
add('to({})', () => x.to({} as Any));
add('cuda() on this build', () => (torch.cuda.isAvailable() ? x.cuda(99) : x.cuda()));
add(`add across devices (${cudaBad})`, () => x.add(torch.zeros([3, 4], { device: cudaBad })));
add('meta tensor read', () => torch.zeros([2], { device: 'meta' }).toArray());
add('meta tensor item', () => torch.zeros([1], { device: 'meta' }).item());
add('cuda.memoryStats bad device', () => torch.cuda.memoryStats(99));
add('autocast bad dtype', () => torch.autocast(() => 1, { dtype: 'float64' as Any }));

// ---- lifetime misuse --------------------------------------------------------------------------------
for (const [name, f] of [
  ['add', () => dead.add(1)],
  ['sum', () => dead.sum()],
  ['toArray', () => dead.toArray()],
  ['item', () => dead.item()],
  ['matmul', () => dead.matmul(x)],
  ['keep', () => torch.keep(dead)],
  ['backward', () => dead.backward()],
  ['F.relu', () => F.relu(dead)],
  ['reshape', () => dead.reshape([2])],
  ['clone', () => dead.clone()],
] as [string, Thunk][]) {
  add(`disposed.${name}`, f);
}
add('tidy(null)', () => torch.tidy(null as Any));
add('tidy returning a Promise', () => torch.tidy(() => Promise.resolve(1)));
add('keep(string)', () => torch.keep('a' as Any));
add('keep(undefined)', () => torch.keep(undefined as Any));

// ---- forged ids and raw addon calls -----------------------------------------------------------------
for (const id of [12345678, -1, NaN, 1.5, 2 ** 60, Infinity, -Infinity, 2 ** 24 + 0, x.id + 2 ** 24, 0.1]) {
  add(`forged id ${id}: add`, () => new Tensor(id).add(1));
  add(`forged id ${id}: toArray`, () => new Tensor(id).toArray());
}
add('forged id string', () => new Tensor('a' as Any).add(1));
add('raw add(string, object, array)', () => N.add('a' as Any, {} as Any, [] as Any));
add('raw add no args', () => (N.add as Any)());
add('raw conv missing args', () => (N.conv as Any)(img.id, w2.id));
add('raw conv bad array element', () => N.conv(img.id, w2.id, null, ['a' as Any, 1], [0, 0], [1, 1], false, [0, 0], 1));
add('raw conv sparse huge array', () => N.conv(img.id, w2.id, null, new Array(2 ** 32 - 1), [0, 0], [1, 1], false, [0, 0], 1));
add('raw cat ids not numbers', () => N.cat([x.id, 'x' as Any], 0));
add('raw cat sparse huge array', () => N.cat(new Array(2 ** 32 - 1), 0));
add('raw index not an array', () => N.index(x.id, 'nope' as Any));
add('raw index forged id inside', () => N.index(x.id, [999999]));
add('raw index bool element', () => N.index(x.id, [true as Any]));
add('raw endScope without scope', () => N.endScope([]));
add('raw endScope string', () => N.endScope('a' as Any));
add('raw dispose string', () => N.dispose('a' as Any));
add('raw fromBuffer bad dtype code', () => N.fromBuffer(new Uint8Array(4), 99, [4], 'cpu'));
add('raw fromBuffer negative dtype code', () => N.fromBuffer(new Uint8Array(4), -1, [4], 'cpu'));
add('raw fromBuffer bad device', () => N.fromBuffer(new Uint8Array(4), 6, [4], 'cuda:abc'));
add('raw toBuffer forged', () => N.toBuffer(-1));
add('raw copyFromBuffer_ wrong size', () => N.copyFromBuffer_(x.id, new Uint8Array(3)));
add('raw copyFromBuffer_ string', () => N.copyFromBuffer_(x.id, 'abc' as Any));
add('raw setErrorClass string', () => N.setErrorClass('x' as Any));
add('raw keep forged', () => N.keep(424242));
add('raw item forged', () => N.item(0.5));
add('raw setNumThreads huge', () => N.setNumThreads(1e9));
add('raw adamStep mismatched lists', () => N.adamStep([x.id], [], [], [], null, [1], 1e-3, 0.9, 0.999, 1e-8, 0, false, false, false));
add('raw totalNorm string', () => N.totalNorm('x' as Any, 2));
add('raw slice step 0', () => N.slice(x.id, 0, 0, 1, 0));
add('raw asStrided huge', () => N.asStrided(y.id, [2 ** 40], [2 ** 20], 0));
add('raw scaledDotProductAttention undefined', () => (N.scaledDotProductAttention as Any)(x.id));
add('raw interpolate size strings', () => N.interpolate(img.id, ['a' as Any, 'b' as Any], 'bilinear', false, false));
add('raw pad mode number', () => N.pad(x.id, [1, 1], 5 as Any, 0));
add('raw stft pad mode bad', () => N.stft(torch.randn([256]).id, 64, null, null, null, true, 'bogus', false, true));
add('raw gelu approximate number', () => N.gelu(x.id, 1 as Any));
add('raw sum dims of strings', () => N.sum(x.id, ['a' as Any], false, null));
add('raw reshape sparse', () => N.reshape(x.id, new Array(5)));
add('raw shape forged', () => N.shape(77777));
add('raw describe forged', () => N.describe(-5));
add('raw backward forged', () => N.backward(31337, null, false, false));
add('raw autogradGrad forged', () => N.autogradGrad([31337], [x.id], null, null, false, false));
add('raw setData_ forged', () => N.setData_(x.id, 31337));
add('raw randint reversed', () => N.randint(10, 0, [2], 4, 'cpu'));
add('raw full negative', () => N.full([-1], 0, 0, 'cpu'));
add('raw toDtype bad code', () => N.toDtype(x.id, 42, false));
add('raw toDevice number', () => N.toDevice(x.id, 5 as Any, false, false));

t.test(`${cases.length} malformed calls each throw a coded JS Error`, async (t) => {
  t.ok(cases.length >= 200, `at least 200 malformed calls (${cases.length})`);
  const codes = new Map<string, number>();
  for (const [label, f] of cases) {
    let threw = false;
    let err: unknown;
    try {
      f();
    } catch (e) {
      threw = true;
      err = e;
    }
    const e = err as { code?: unknown; message?: unknown };
    const good = threw && err instanceof Error && typeof e.code === 'string' && /^ERR_[A-Z_]+$/.test(e.code as string);
    if (good) codes.set(e.code as string, (codes.get(e.code as string) ?? 0) + 1);
    t.ok(good, `${label}: ${threw ? `${(err as Error)?.constructor?.name} ${e.code} ${String(e.message).slice(0, 160)}` : 'did not throw'}`);
  }
  t.comment(`codes: ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])))}`);
  t.equal(
    torch.tidy(() =>
      torch
        .ones([2, 2])
        .matmul(torch.ones([2, 2]))
        .sum()
        .item(),
    ),
    8,
    'the addon still works',
  );
  t.ok(new TorchError('m', 'ERR_X') instanceof Error);
  const extra = torch.tidy(() => new Tensor((N.add as Any)(x.id, x.id, 1, ...new Array(40).fill(0))).shape);
  t.same(extra, [3, 4], 'surplus arguments are ignored, not overflowed');
});

t.test('failed calls inside tidy leak nothing', async (t) => {
  const live0 = torch.memory().liveTensors;
  for (const [label, f] of cases) {
    const before = torch.memory().liveTensors;
    try {
      torch.tidy(() => {
        f();
      });
    } catch {
      // expected
    }
    const after = torch.memory().liveTensors;
    if (after !== before) t.fail(`${label}: ${after - before} handles outlive the scope`);
  }
  // tensors the thunks made as operands were created inside tidy and are freed with it; nothing else
  // may remain (except the grad-assignment probes' leaves, also inside tidy)
  t.equal(torch.memory().liveTensors, live0, 'liveTensors back to its start value');
  t.equal(N.scopeDepth(), 0, 'scope stack balanced');
});

t.test('hostile JS values (throwing getters, proxies) propagate their own error, never crash', async (t) => {
  const evil: number[] = [1, 2];
  Object.defineProperty(evil, 1, {
    get() {
      throw new Error('evil getter');
    },
  });
  t.throws(() => N.zeros(evil, 0, 'cpu'), /evil getter/, 'raw: the getter error propagates');
  t.throws(() => torch.zeros(evil), /evil getter/, 'API: the getter error propagates');
  const proxy = new Proxy([2, 2], {
    get(target, k) {
      if (k === '0') throw new Error('proxy trap');
      return Reflect.get(target, k);
    },
  });
  t.throws(() => N.zeros(proxy, 0, 'cpu'), { code: 'ERR_INVALID_ARG' }, 'a Proxy is not an array to the addon');
  const ids = [x.id];
  Object.defineProperty(ids, 1, {
    get() {
      throw new Error('id getter');
    },
    enumerable: true,
  });
  t.throws(() => N.cat(ids, 0), /id getter/);
  const weird = {
    valueOf() {
      throw new Error('no coercion expected');
    },
  };
  t.throws(() => N.add(x.id, weird as Any, 1), { code: 'ERR_INVALID_ARG' }, 'objects are never coerced to numbers');
  t.equal(torch.tidy(() => x.add(1).sum().item()) !== undefined, true, 'still working');
});

t.test("LibTorch's typed errors decide the code before its message does", async (t) => {
  const live = torch.memory().liveTensors;
  torch.tidy(() => {
    // c10::IndexError (Python's IndexError), whatever the message says: 'shape' alone would read as ERR_SHAPE_MISMATCH
    t.throws(() => x.index(torch.tensor([true, false, true, false, true])), { code: 'ERR_INDEX', message: /shape of the mask \[5\]/ });
    t.throws(() => x.index(torch.tensor([0.5])), { code: 'ERR_INDEX', message: /used as indices must be long/ });
    t.throws(() => x.select(0, 7), { code: 'ERR_INDEX' });
    t.throws(() => x.gather(1, torch.tensor([[9]])), { code: 'ERR_INDEX' });
    // c10::NotImplementedError without a device or dtype in its message
    t.throws(() => torch.zeros([2], { device: 'meta' }).toArray(), { code: 'ERR_UNSUPPORTED', message: /meta tensor/ });
    // plain c10::Error: the message rules as before
    t.throws(() => F.conv2d(img.double(), w2), { code: 'ERR_DTYPE', message: /expected scalar type Double but found Float/ });
    t.throws(() => x.matmul(y), { code: 'ERR_SHAPE_MISMATCH' });
  });
  t.equal(torch.memory().liveTensors, live);
});

t.test('cleanup', async (t) => {
  torch.dispose([x, y, i, b, c, img, w2]);
  t.ok(torch.memory().liveTensors >= start);
});
