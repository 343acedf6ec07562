/**
 * nn.functional (F) and linear algebra, native where LibTorch has a kernel. Shapes follow PyTorch:
 * linear x [*, in] · weight [out, in] -> [*, out]; conv x [N, C, *spatial]; attention q [B, H, L, E].
 */
import { native as N } from '../native/binding';
import { DType, dtypeCode } from './dtype';
import { argError } from './errors';
import { Tensor, wrap, tid, optTid } from './tensor';
import { checkOptions, opt } from './options';

type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
function reduction(fn: string, r: Reduction | undefined): number {
  const code = REDUCTION[r ?? 'mean'];
  if (code === undefined) argError(fn, 'reduction', "'none', 'mean' or 'sum'", r);
  return code;
}
const idOf = (t: Tensor | null | undefined) => optTid(t, 'nn.functional', 'optional tensor argument');
const REDUCTION_OPTIONS = { reduction: opt.oneOf(['none', 'mean', 'sum']) } as const;
const SOFTMAX_OPTIONS = { dtype: opt.dtype } as const;
const CONV_OPTIONS = { stride: opt.intOrInts, padding: opt.intOrInts, dilation: opt.intOrInts, groups: opt.int } as const;
const FFT_OPTIONS = { n: opt.int, dim: opt.int, norm: opt.oneOf(['backward', 'forward', 'ortho']) } as const;

declare module './tensor' {
  interface Tensor {
    matmul(other: Tensor): Tensor;
    mm(other: Tensor): Tensor;
    bmm(other: Tensor): Tensor;
    outer(other: Tensor): Tensor;
    softmax(dim: number, opts?: { dtype?: DType }): Tensor;
    logSoftmax(dim: number, opts?: { dtype?: DType }): Tensor;
  }
}
const P = Tensor.prototype;
P.matmul = function (this: Tensor, o: Tensor) {
  return wrap(N.matmul(this.id, tid(o, 'matmul', 'other')));
};
P.mm = function (this: Tensor, o: Tensor) {
  return wrap(N.mm(this.id, tid(o, 'mm', 'other')));
};
P.bmm = function (this: Tensor, o: Tensor) {
  return wrap(N.bmm(this.id, tid(o, 'bmm', 'other')));
};
P.outer = function (this: Tensor, o: Tensor) {
  return wrap(N.outer(this.id, tid(o, 'outer', 'other')));
};
P.softmax = function (this: Tensor, dim: number, opts = {}) {
  checkOptions('softmax', opts, SOFTMAX_OPTIONS);
  return wrap(N.softmax(this.id, dim, opts.dtype ? dtypeCode(opts.dtype) : null));
};
P.logSoftmax = function (this: Tensor, dim: number, opts = {}) {
  checkOptions('logSoftmax', opts, SOFTMAX_OPTIONS);
  return wrap(N.logSoftmax(this.id, dim, opts.dtype ? dtypeCode(opts.dtype) : null));
};

export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  if (typeof equation !== 'string') argError('einsum', 'equation', 'a string', equation);
  return wrap(
    N.einsum(
      equation,
      operands.map((t, k) => tid(t, 'einsum', `operand ${k}`)),
    ),
  );
}

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return wrap(N.linear(tid(x, 'linear', 'x'), tid(weight, 'linear', 'weight'), idOf(bias)));
}

export function layerNorm(x: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return wrap(N.layerNorm(tid(x, 'layerNorm', 'x'), normalizedShape, idOf(weight), idOf(bias), eps));
}

export interface ConvOptions {
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  groups?: number;
}
function expandArg(fn: string, name: string, v: number | number[] | undefined, n: number, dflt: number): number[] {
  if (v === undefined) return new Array(n).fill(dflt);
  if (typeof v === 'number') return new Array(n).fill(v);
  if (!Array.isArray(v) || v.length !== n) argError(fn, name, `a number or ${n} numbers`, v);
  return v;
}
function conv(
  fn: string,
  n: number,
  x: Tensor,
  w: Tensor,
  b: Tensor | null | undefined,
  o: ConvOptions,
  transposed = false,
  outputPadding: number | number[] = 0,
): Tensor {
  if (!transposed) checkOptions(fn, o, CONV_OPTIONS); // convTranspose2d checks its own (one more key)
  const xid = tid(x, fn, 'input'),
    wid = tid(w, fn, 'weight');
  if (w.ndim !== n + 2) argError(fn, 'weight', `a ${n + 2}-D tensor`, w.shape);
  return wrap(
    N.conv(
      xid,
      wid,
      idOf(b),
      expandArg(fn, 'stride', o.stride, n, 1),
      expandArg(fn, 'padding', o.padding, n, 0),
      expandArg(fn, 'dilation', o.dilation, n, 1),
      transposed,
      expandArg(fn, 'outputPadding', outputPadding, n, 0),
      o.groups ?? 1,
    ),
  );
}
export const conv1d = (x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions = {}) => conv('conv1d', 1, x, w, b, o);
export const conv2d = (x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions = {}) => conv('conv2d', 2, x, w, b, o);
export const conv3d = (x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions = {}) => conv('conv3d', 3, x, w, b, o);
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions & { outputPadding?: number | number[] } = {}): Tensor {
  checkOptions('convTranspose2d', o, { ...CONV_OPTIONS, outputPadding: opt.intOrInts });
  return conv('convTranspose2d', 2, x, w, b, o, true, o.outputPadding ?? 0);
}

/** gelu(x, { approximate: 'none' (erf, default) | 'tanh' }) */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  checkOptions('gelu', opts, { approximate: opt.oneOf(['none', 'tanh']) });
  const a = opts.approximate ?? 'none';
  if (a !== 'none' && a !== 'tanh') argError('gelu', 'approximate', "'none' or 'tanh'", a);
  return wrap(N.gelu(tid(x, 'gelu', 'x'), a));
}
export const relu = (x: Tensor) => wrap(N.relu(tid(x, 'relu', 'x')));
export const silu = (x: Tensor) => wrap(N.silu(tid(x, 'silu', 'x')));
export const sigmoid = (x: Tensor) => wrap(N.sigmoid(tid(x, 'sigmoid', 'x')));
export const tanh = (x: Tensor) => wrap(N.tanh(tid(x, 'tanh', 'x')));
export const leakyRelu = (x: Tensor, negativeSlope = 0.01) => wrap(N.leakyRelu(tid(x, 'leakyRelu', 'x'), negativeSlope));
export const softplus = (x: Tensor, beta = 1, threshold = 20) => wrap(N.softplus(tid(x, 'softplus', 'x'), beta, threshold));
export const softmax = (x: Tensor, dim: number) => wrap(N.softmax(tid(x, 'softmax', 'x'), dim, null));
export const logSoftmax = (x: Tensor, dim: number) => wrap(N.logSoftmax(tid(x, 'logSoftmax', 'x'), dim, null));

/** dropout(x, p = 0.5, training = true): identity when not training or p = 0. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  return wrap(N.dropout(tid(x, 'dropout', 'x'), p, training));
}

/** x / max(||x||_p over dim, eps), as torch.nn.functional.normalize. */
export function normalize(x: Tensor, opts: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  checkOptions('normalize', opts, { p: opt.number, dim: opt.int, eps: opt.number });
  const n = N.norm(tid(x, 'normalize', 'x'), opts.p ?? 2, [opts.dim ?? 1], true);
  const c = N.clamp(n, opts.eps ?? 1e-12, null);
  const e = N.expand(c, x.shape);
  const out = wrap(N.div(tid(x, 'normalize', 'x'), e, null));
  N.dispose(n);
  N.dispose(c);
  N.dispose(e);
  return out;
}

/** softmax(q k^T * scale + mask) v: LibTorch's fused kernels on 2.x, the math path on 1.13. */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: { attnMask?: Tensor | null; dropoutP?: number; isCausal?: boolean; scale?: number } = {},
): Tensor {
  checkOptions('scaledDotProductAttention', opts, { attnMask: opt.tensorOrNull, dropoutP: opt.number, isCausal: opt.boolean, scale: opt.number });
  return wrap(
    N.scaledDotProductAttention(
      tid(q, 'scaledDotProductAttention', 'q'),
      tid(k, 'scaledDotProductAttention', 'k'),
      tid(v, 'scaledDotProductAttention', 'v'),
      idOf(opts.attnMask),
      opts.dropoutP ?? 0,
      !!opts.isCausal,
      opts.scale ?? null,
    ),
  );
}

/** interpolate(x [N, C, H, W], { size: [h, w], mode, alignCorners, antialias }) */
export function interpolate(
  x: Tensor,
  opts: { size: [number, number]; mode?: 'bilinear' | 'bicubic' | 'nearest'; alignCorners?: boolean; antialias?: boolean },
): Tensor {
  const xid = tid(x, 'interpolate', 'x');
  checkOptions('interpolate', opts, {
    size: opt.shape,
    mode: opt.oneOf(['bilinear', 'bicubic', 'nearest']),
    alignCorners: opt.boolean,
    antialias: opt.boolean,
  });
  if (!opts || !Array.isArray(opts.size)) argError('interpolate', 'opts.size', 'an [h, w] array', opts?.size);
  return wrap(N.interpolate(xid, opts.size, opts.mode ?? 'nearest', !!opts.alignCorners, !!opts.antialias));
}

/** pad(x, pads as F.pad (last dimension first), mode, value) */
export function pad(x: Tensor, pads: number[], opts: { mode?: 'constant' | 'reflect' | 'replicate'; value?: number } = {}): Tensor {
  checkOptions('pad', opts, { mode: opt.oneOf(['constant', 'reflect', 'replicate']), value: opt.number });
  return wrap(N.pad(tid(x, 'pad', 'x'), pads, opts.mode ?? 'constant', opts.value ?? 0));
}

export function mseLoss(x: Tensor, y: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  checkOptions('mseLoss', opts, REDUCTION_OPTIONS);
  return wrap(N.mseLoss(tid(x, 'mseLoss', 'x'), tid(y, 'mseLoss', 'y'), reduction('mseLoss', opts.reduction)));
}
export function l1Loss(x: Tensor, y: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  checkOptions('l1Loss', opts, REDUCTION_OPTIONS);
  return wrap(N.l1Loss(tid(x, 'l1Loss', 'x'), tid(y, 'l1Loss', 'y'), reduction('l1Loss', opts.reduction)));
}
export function smoothL1Loss(x: Tensor, y: Tensor, opts: { reduction?: Reduction; beta?: number } = {}): Tensor {
  checkOptions('smoothL1Loss', opts, { ...REDUCTION_OPTIONS, beta: opt.number });
  return wrap(N.smoothL1Loss(tid(x, 'smoothL1Loss', 'x'), tid(y, 'smoothL1Loss', 'y'), reduction('smoothL1Loss', opts.reduction), opts.beta ?? 1));
}

/** crossEntropy(logits [N, C], target [N] int64 class indices or [N, C] probabilities) */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  opts: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  checkOptions('crossEntropy', opts, { ...REDUCTION_OPTIONS, weight: opt.tensorOrNull, ignoreIndex: opt.int, labelSmoothing: opt.number });
  return wrap(
    N.crossEntropy(
      tid(logits, 'crossEntropy', 'logits'),
      tid(target, 'crossEntropy', 'target'),
      idOf(opts.weight),
      reduction('crossEntropy', opts.reduction),
      opts.ignoreIndex ?? -100,
      opts.labelSmoothing ?? 0,
    ),
  );
}
export function nllLoss(logProbs: Tensor, target: Tensor, opts: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number } = {}): Tensor {
  checkOptions('nllLoss', opts, { ...REDUCTION_OPTIONS, weight: opt.tensorOrNull, ignoreIndex: opt.int });
  return wrap(
    N.nllLoss(
      tid(logProbs, 'nllLoss', 'logProbs'),
      tid(target, 'nllLoss', 'target'),
      idOf(opts.weight),
      reduction('nllLoss', opts.reduction),
      opts.ignoreIndex ?? -100,
    ),
  );
}
export function binaryCrossEntropyWithLogits(x: Tensor, y: Tensor, opts: { weight?: Tensor; posWeight?: Tensor; reduction?: Reduction } = {}): Tensor {
  checkOptions('binaryCrossEntropyWithLogits', opts, { ...REDUCTION_OPTIONS, weight: opt.tensorOrNull, posWeight: opt.tensorOrNull });
  return wrap(
    N.binaryCrossEntropyWithLogits(
      tid(x, 'binaryCrossEntropyWithLogits', 'x'),
      tid(y, 'binaryCrossEntropyWithLogits', 'y'),
      idOf(opts.weight),
      idOf(opts.posWeight),
      reduction('binaryCrossEntropyWithLogits', opts.reduction),
    ),
  );
}

export const embedding = (indices: Tensor, weight: Tensor) => wrap(N.embedding(tid(weight, 'embedding', 'weight'), tid(indices, 'embedding', 'indices')));
export const oneHot = (x: Tensor, numClasses = -1) => wrap(N.oneHot(tid(x, 'oneHot', 'x'), numClasses));

function fftArgs(fn: string, opts: { n?: number; dim?: number; norm?: 'backward' | 'forward' | 'ortho' }): [number | null, number, string | null] {
  checkOptions(fn, opts, FFT_OPTIONS);
  return [opts.n ?? null, opts.dim ?? -1, opts.norm ?? null];
}

/** torch.fft: results are complex64/complex128 tensors. */
export const fft = {
  rfft: (x: Tensor, opts: { n?: number; dim?: number; norm?: 'backward' | 'forward' | 'ortho' } = {}) =>
    wrap(N.rfft(tid(x, 'rfft', 'x'), ...fftArgs('rfft', opts))),
  irfft: (x: Tensor, opts: { n?: number; dim?: number; norm?: 'backward' | 'forward' | 'ortho' } = {}) =>
    wrap(N.irfft(tid(x, 'irfft', 'x'), ...fftArgs('irfft', opts))),
  fft: (x: Tensor, opts: { n?: number; dim?: number; norm?: 'backward' | 'forward' | 'ortho' } = {}) =>
    wrap(N.fft(tid(x, 'fft', 'x'), ...fftArgs('fft', opts))),
};

/** stft(x, nFft, { hopLength, winLength, window, center, padMode, normalized, onesided }) -> complex */
export function stft(
  x: Tensor,
  nFft: number,
  opts: {
    hopLength?: number;
    winLength?: number;
    window?: Tensor;
    center?: boolean;
    padMode?: 'reflect' | 'constant';
    normalized?: boolean;
    onesided?: boolean;
  } = {},
): Tensor {
  checkOptions('stft', opts, {
    hopLength: opt.int,
    winLength: opt.int,
    window: opt.tensorOrNull,
    center: opt.boolean,
    padMode: opt.oneOf(['reflect', 'constant']),
    normalized: opt.boolean,
    onesided: opt.boolean,
  });
  return wrap(
    N.stft(
      tid(x, 'stft', 'x'),
      nFft,
      opts.hopLength ?? null,
      opts.winLength ?? null,
      idOf(opts.window),
      opts.center ?? true,
      opts.padMode ?? 'reflect',
      !!opts.normalized,
      opts.onesided ?? true,
    ),
  );
}
