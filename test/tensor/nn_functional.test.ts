/**
 * nn.functional against Python torch: convolutions, normalisation, activations, attention,
 * interpolation, losses, FFT/STFT.
 */
import t from 'tap';
import { torch, F, Tensor } from '../../lib/tensor';
import { compareTable, Row } from './pyref';

torch.manualSeed(2024);
const r = (shape: number[], scale = 1) => torch.tidy(() => torch.randn(shape).mul(scale));
const x1 = r([2, 4, 11]),
  w1 = r([6, 2, 3], 0.3),
  b1 = r([6]);
const x2 = r([2, 3, 9, 8]),
  w2 = r([4, 3, 3, 2], 0.3),
  b2 = r([4]);
const wt2 = r([3, 2, 3, 3], 0.3);
const x3 = r([1, 3, 8, 8, 4]),
  w3 = r([5, 3, 4, 4, 2], 0.2),
  b3 = r([5]);
const xl = r([2, 5, 16]),
  lw = r([16]),
  lb = r([16]);
const wl = r([7, 16], 0.25),
  bl = r([7]);
const q = r([2, 3, 5, 8]),
  k = r([2, 3, 6, 8]),
  v = r([2, 3, 6, 4]);
const qs = r([2, 3, 6, 8]);
const amask = torch.randn([5, 6]).gt(-0.5);
const fmask = r([2, 1, 5, 6]);
const img = r([2, 3, 10, 12]);
const logits = r([6, 5]),
  target = torch.tensor([0, 4, 2, 2, 1, 3]),
  cw = torch.tensor([1, 2, 0.5, 1.5, 3]);
const tIgn = torch.tensor([0, -100, 2, 2, -100, 3]);
const probs = torch.tidy(() => torch.rand([6, 5]).softmax(-1));
const pa = r([4, 3]),
  pb = r([4, 3]);
const yb = torch.rand([4, 3]).gt(0.5).float();
const posW = torch.tensor([1, 2, 3]);
const sig = r([2, 400]);
const wav = torch.tidy(() => torch.sin(torch.arange(0, 1600).float().mul(0.05)).add(torch.randn([1600]).mul(0.1)));
const win = torch.hannWindow(64);
const inputs = {
  x1,
  w1,
  b1,
  x2,
  w2,
  b2,
  wt2,
  x3,
  w3,
  b3,
  xl,
  lw,
  lb,
  wl,
  bl,
  q,
  k,
  v,
  qs,
  amask,
  fmask,
  img,
  logits,
  target,
  cw,
  tIgn,
  probs,
  pa,
  pb,
  yb,
  posW,
  sig,
  wav,
  win,
};

const tol = { rtol: 1e-4, atol: 1e-5 };
const rows: Row[] = [
  { name: 'conv1d', ours: () => F.conv1d(x1, w1, b1, { groups: 2 }), py: 'out = F.conv1d(x1, w1, b1, groups=2)', ...tol },
  {
    name: 'conv1d stride padding dilation',
    ours: () => F.conv1d(x1, w1, null, { stride: 2, padding: 2, dilation: 2, groups: 2 }),
    py: 'out = F.conv1d(x1, w1, None, stride=2, padding=2, dilation=2, groups=2)',
    ...tol,
  },
  { name: 'conv2d', ours: () => F.conv2d(x2, w2, b2), py: 'out = F.conv2d(x2, w2, b2)', ...tol },
  {
    name: 'conv2d stride/padding per dim',
    ours: () => F.conv2d(x2, w2, b2, { stride: [2, 1], padding: [1, 0] }),
    py: 'out = F.conv2d(x2, w2, b2, stride=(2, 1), padding=(1, 0))',
    ...tol,
  },
  { name: 'conv3d', ours: () => F.conv3d(x3, w3, b3), py: 'out = F.conv3d(x3, w3, b3)', ...tol },
  {
    name: 'conv3d patch-embed style stride',
    ours: () => F.conv3d(x3, w3, b3, { stride: [4, 4, 2] }),
    py: 'out = F.conv3d(x3, w3, b3, stride=(4, 4, 2))',
    ...tol,
  },
  {
    name: 'convTranspose2d',
    ours: () => F.convTranspose2d(x2, wt2, null, { stride: 2, padding: 1, outputPadding: 1 }),
    py: 'out = F.conv_transpose2d(x2, wt2, None, stride=2, padding=1, output_padding=1)',
    ...tol,
  },
  { name: 'linear', ours: () => F.linear(xl, wl, bl), py: 'out = F.linear(xl, wl, bl)', ...tol },
  { name: 'linear no bias', ours: () => F.linear(xl, wl), py: 'out = F.linear(xl, wl)', ...tol },
  { name: 'layerNorm affine', ours: () => F.layerNorm(xl, [16], lw, lb, 1e-6), py: 'out = F.layer_norm(xl, (16,), lw, lb, 1e-6)', ...tol },
  { name: 'layerNorm plain', ours: () => F.layerNorm(xl, [16]), py: 'out = F.layer_norm(xl, (16,))', ...tol },
  { name: 'layerNorm 2 dims', ours: () => F.layerNorm(xl, [5, 16]), py: 'out = F.layer_norm(xl, (5, 16))', ...tol },
  { name: 'gelu exact', ours: () => F.gelu(xl), py: 'out = F.gelu(xl)', ...tol },
  { name: 'gelu tanh', ours: () => F.gelu(xl, { approximate: 'tanh' }), py: "out = F.gelu(xl, approximate='tanh')", ...tol },
  { name: 'relu', ours: () => F.relu(xl), py: 'out = F.relu(xl)' },
  { name: 'silu', ours: () => F.silu(xl), py: 'out = F.silu(xl)', ...tol },
  { name: 'leakyRelu', ours: () => F.leakyRelu(xl, 0.2), py: 'out = F.leaky_relu(xl, 0.2)' },
  { name: 'softplus', ours: () => F.softplus(xl, 2, 1), py: 'out = F.softplus(xl, 2, 1)', ...tol },
  { name: 'sigmoid', ours: () => F.sigmoid(xl), py: 'out = torch.sigmoid(xl)', ...tol },
  { name: 'softmax', ours: () => F.softmax(xl, 1), py: 'out = F.softmax(xl, 1)', ...tol },
  { name: 'logSoftmax', ours: () => F.logSoftmax(xl, -1), py: 'out = F.log_softmax(xl, -1)', ...tol },
  {
    name: 'softmax with -inf',
    ours: () => xl.maskedFill(xl.gt(1), -Infinity).softmax(-1),
    py: "out = xl.masked_fill(xl > 1, float('-inf')).softmax(-1)",
    ...tol,
  },
  { name: 'normalize', ours: () => F.normalize(xl, { dim: -1 }), py: 'out = F.normalize(xl, dim=-1)', ...tol },
  { name: 'normalize p=1 dim 1', ours: () => F.normalize(xl, { p: 1, dim: 1 }), py: 'out = F.normalize(xl, p=1, dim=1)', ...tol },
  { name: 'dropout eval is identity', ours: () => F.dropout(xl, 0.5, false), py: 'out = F.dropout(xl, 0.5, training=False)' },
  { name: 'sdpa', ours: () => F.scaledDotProductAttention(q, k, v), py: 'out = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), -1) @ v', ...tol },
  {
    name: 'sdpa bool mask',
    ours: () => F.scaledDotProductAttention(q, k, v, { attnMask: amask }),
    py: "out = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(8)).masked_fill(~amask, float('-inf')), -1) @ v",
    ...tol,
  },
  {
    name: 'sdpa float mask + scale',
    ours: () => F.scaledDotProductAttention(q, k, v, { attnMask: fmask, scale: 0.3 }),
    py: 'out = torch.softmax(q @ k.transpose(-2, -1) * 0.3 + fmask, -1) @ v',
    ...tol,
  },
  {
    name: 'sdpa causal',
    ours: () => F.scaledDotProductAttention(qs, k, v, { isCausal: true }),
    py: "out = torch.softmax((qs @ k.transpose(-2, -1) / math.sqrt(8)).masked_fill(torch.ones(6, 6, dtype=torch.bool).tril().logical_not(), float('-inf')), -1) @ v",
    ...tol,
  },
  {
    name: 'interpolate bilinear',
    ours: () => F.interpolate(img, { size: [7, 15], mode: 'bilinear' }),
    py: "out = F.interpolate(img, size=(7, 15), mode='bilinear')",
    ...tol,
  },
  {
    name: 'interpolate bilinear alignCorners',
    ours: () => F.interpolate(img, { size: [7, 15], mode: 'bilinear', alignCorners: true }),
    py: "out = F.interpolate(img, size=(7, 15), mode='bilinear', align_corners=True)",
    ...tol,
  },
  {
    name: 'interpolate bilinear antialias (down)',
    ours: () => F.interpolate(img, { size: [4, 5], mode: 'bilinear', antialias: true }),
    py: "out = F.interpolate(img, size=(4, 5), mode='bilinear', antialias=True)",
    ...tol,
  },
  {
    name: 'interpolate bicubic',
    ours: () => F.interpolate(img, { size: [13, 9], mode: 'bicubic' }),
    py: "out = F.interpolate(img, size=(13, 9), mode='bicubic')",
    ...tol,
  },
  {
    name: 'interpolate bicubic alignCorners',
    ours: () => F.interpolate(img, { size: [13, 9], mode: 'bicubic', alignCorners: true }),
    py: "out = F.interpolate(img, size=(13, 9), mode='bicubic', align_corners=True)",
    ...tol,
  },
  {
    name: 'interpolate bicubic antialias',
    ours: () => F.interpolate(img, { size: [5, 6], mode: 'bicubic', antialias: true }),
    py: "out = F.interpolate(img, size=(5, 6), mode='bicubic', antialias=True)",
    ...tol,
  },
  {
    name: 'interpolate bicubic antialias alignCorners',
    ours: () => F.interpolate(img, { size: [5, 6], mode: 'bicubic', antialias: true, alignCorners: true }),
    py: "out = F.interpolate(img, size=(5, 6), mode='bicubic', antialias=True, align_corners=True)",
    ...tol,
  },
  { name: 'interpolate nearest', ours: () => F.interpolate(img, { size: [5, 17] }), py: 'out = F.interpolate(img, size=(5, 17))' },
  { name: 'mseLoss', ours: () => F.mseLoss(pa, pb), py: 'out = F.mse_loss(pa, pb)', ...tol },
  { name: 'mseLoss sum', ours: () => F.mseLoss(pa, pb, { reduction: 'sum' }), py: "out = F.mse_loss(pa, pb, reduction='sum')", ...tol },
  { name: 'mseLoss none', ours: () => F.mseLoss(pa, pb, { reduction: 'none' }), py: "out = F.mse_loss(pa, pb, reduction='none')", ...tol },
  { name: 'l1Loss', ours: () => F.l1Loss(pa, pb), py: 'out = F.l1_loss(pa, pb)', ...tol },
  { name: 'smoothL1Loss', ours: () => F.smoothL1Loss(pa, pb, { beta: 0.5 }), py: 'out = F.smooth_l1_loss(pa, pb, beta=0.5)', ...tol },
  { name: 'crossEntropy', ours: () => F.crossEntropy(logits, target), py: 'out = F.cross_entropy(logits, target)', ...tol },
  {
    name: 'crossEntropy label smoothing',
    ours: () => F.crossEntropy(logits, target, { labelSmoothing: 0.1 }),
    py: 'out = F.cross_entropy(logits, target, label_smoothing=0.1)',
    ...tol,
  },
  {
    name: 'crossEntropy class weights',
    ours: () => F.crossEntropy(logits, target, { weight: cw }),
    py: 'out = F.cross_entropy(logits, target, weight=cw)',
    ...tol,
  },
  {
    name: 'crossEntropy weights + smoothing',
    ours: () => F.crossEntropy(logits, target, { weight: cw, labelSmoothing: 0.2 }),
    py: 'out = F.cross_entropy(logits, target, weight=cw, label_smoothing=0.2)',
    ...tol,
  },
  {
    name: 'crossEntropy ignoreIndex + smoothing none',
    ours: () => F.crossEntropy(logits, tIgn, { labelSmoothing: 0.1, reduction: 'none' }),
    py: "out = F.cross_entropy(logits, tIgn, label_smoothing=0.1, reduction='none')",
    ...tol,
  },
  {
    name: 'crossEntropy ignoreIndex mean',
    ours: () => F.crossEntropy(logits, tIgn, { weight: cw }),
    py: 'out = F.cross_entropy(logits, tIgn, weight=cw)',
    ...tol,
  },
  {
    name: 'crossEntropy prob targets + smoothing',
    ours: () => F.crossEntropy(logits, probs, { labelSmoothing: 0.1 }),
    py: 'out = F.cross_entropy(logits, probs, label_smoothing=0.1)',
    ...tol,
  },
  {
    name: 'crossEntropy sum',
    ours: () => F.crossEntropy(logits, target, { reduction: 'sum' }),
    py: "out = F.cross_entropy(logits, target, reduction='sum')",
    ...tol,
  },
  {
    name: 'nllLoss',
    ours: () => F.nllLoss(logits.logSoftmax(1), target, { weight: cw }),
    py: 'out = F.nll_loss(logits.log_softmax(1), target, weight=cw)',
    ...tol,
  },
  { name: 'bceWithLogits', ours: () => F.binaryCrossEntropyWithLogits(pa, yb), py: 'out = F.binary_cross_entropy_with_logits(pa, yb)', ...tol },
  {
    name: 'bceWithLogits posWeight + weight',
    ours: () => F.binaryCrossEntropyWithLogits(pa, yb, { posWeight: posW, weight: pb.abs(), reduction: 'sum' }),
    py: "out = F.binary_cross_entropy_with_logits(pa, yb, pos_weight=posW, weight=pb.abs(), reduction='sum')",
    ...tol,
  },
  { name: 'rfft', ours: () => torch.fft.rfft(sig), py: 'out = torch.fft.rfft(sig)', rtol: 1e-4, atol: 1e-4 },
  {
    name: 'rfft n padded ortho',
    ours: () => torch.fft.rfft(sig, { n: 512, norm: 'ortho' }),
    py: "out = torch.fft.rfft(sig, n=512, norm='ortho')",
    rtol: 1e-4,
    atol: 1e-4,
  },
  {
    name: 'rfft abs (power spectrum path)',
    ours: () => torch.fft.rfft(sig).abs().pow(2),
    py: 'out = torch.fft.rfft(sig).abs().pow(2)',
    rtol: 1e-4,
    atol: 1e-3,
  },
  {
    name: 'irfft round trip',
    ours: () => torch.fft.irfft(torch.fft.rfft(sig), { n: 400 }),
    py: 'out = torch.fft.irfft(torch.fft.rfft(sig), n=400)',
    rtol: 1e-4,
    atol: 1e-5,
  },
  { name: 'fft', ours: () => torch.fft.fft(sig.slice(1, 0, 64), { dim: 1 }), py: 'out = torch.fft.fft(sig[:, :64], dim=1)', rtol: 1e-4, atol: 1e-4 },
  {
    name: 'viewAsReal',
    ours: () => torch.fft.rfft(sig.slice(1, 0, 16)).viewAsReal(),
    py: 'out = torch.view_as_real(torch.fft.rfft(sig[:, :16]))',
    rtol: 1e-4,
    atol: 1e-5,
  },
  {
    name: 'stft center reflect',
    ours: () => torch.stft(wav, 64, { hopLength: 16, window: win }),
    py: 'out = torch.stft(wav, 64, hop_length=16, window=win, return_complex=True)',
    rtol: 1e-4,
    atol: 1e-4,
  },
  {
    name: 'stft no center, winLength < nFft',
    ours: () => torch.stft(wav, 128, { hopLength: 40, winLength: 64, window: win, center: false }),
    py: 'out = torch.stft(wav, 128, hop_length=40, win_length=64, window=win, center=False, return_complex=True)',
    rtol: 1e-4,
    atol: 1e-4,
  },
  {
    name: 'stft normalized two-sided',
    ours: () => torch.stft(wav, 64, { hopLength: 32, window: win, normalized: true, onesided: false }),
    py: 'out = torch.stft(wav, 64, hop_length=32, window=win, normalized=True, onesided=False, return_complex=True)',
    rtol: 1e-4,
    atol: 1e-4,
  },
  { name: 'stft default window and hop', ours: () => torch.stft(wav, 32), py: 'out = torch.stft(wav, 32, return_complex=True)', rtol: 1e-4, atol: 1e-4 },
];
compareTable(t, 'nn.functional vs torch', inputs, rows);

t.test('attention matches the explicit math computed here', async (t) => {
  const explicit = (qq: Tensor, mask?: Tensor) =>
    torch.tidy(() => {
      let s = qq.matmul(k.transpose(-2, -1)).div(Math.sqrt(qq.size(-1)));
      if (mask) s = s.maskedFill(mask.logicalNot(), -Infinity);
      return s.softmax(-1).matmul(v);
    });
  t.ok(F.scaledDotProductAttention(q, k, v).allclose(explicit(q), { atol: 1e-5 }), 'no mask');
  t.ok(F.scaledDotProductAttention(q, k, v, { attnMask: amask }).allclose(explicit(q, amask), { atol: 1e-5 }), 'bool mask');
  const causal = torch.ones([6, 6], { dtype: 'bool' }).tril();
  t.ok(F.scaledDotProductAttention(qs, k, v, { isCausal: true }).allclose(explicit(qs, causal), { atol: 1e-5 }), 'causal');
});

t.test('dropout in training', async (t) => {
  const ones = torch.ones([20000]);
  const d = F.dropout(ones, 0.25, true);
  const kept = d.ne(0).float().mean().item();
  t.ok(Math.abs(kept - 0.75) < 0.02, `keeps ~75% (${kept})`);
  const vals = new Set(Array.from(d.toArray() as Float32Array).map((x) => x.toFixed(5)));
  t.same([...vals].sort(), ['0.00000', (1 / 0.75).toFixed(5)].sort(), 'kept values scaled by 1/(1-p)');
  t.same(F.dropout(ones, 0, true).equal(ones), true, 'p = 0 is identity');
  t.same(F.dropout(ones, 1, true).sum().item(), 0, 'p = 1 zeroes');
  t.throws(() => F.dropout(ones, 1.5), { code: 'ERR_INVALID_ARG' });
});

t.test('gelu: exact (erf) and tanh approximations by hand', async (t) => {
  const xs = [-3, -1, -0.5, 0, 0.5, 1, 3];
  const xt = torch.tensor(xs, { dtype: 'float64' });
  const erf = (z: number) => torch.tensor([z], { dtype: 'float64' }).erf().item();
  const exact = xs.map((z) => 0.5 * z * (1 + erf(z / Math.SQRT2)));
  const tanh = xs.map((z) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3))));
  const got = Array.from(F.gelu(xt).toArray() as Float64Array);
  const gotT = Array.from(F.gelu(xt, { approximate: 'tanh' }).toArray() as Float64Array);
  t.ok(
    got.every((g, i) => Math.abs(g - exact[i]) < 1e-12),
    'exact',
  );
  t.ok(
    gotT.every((g, i) => Math.abs(g - tanh[i]) < 1e-12),
    'tanh',
  );
  t.ok(
    got.some((g, i) => Math.abs(g - gotT[i]) > 1e-6),
    'the two differ',
  );
});
