/**
 * nn.functional (F) and linear algebra, native where LibTorch has a kernel. Shapes follow PyTorch:
 * linear x [*, in] · weight [out, in] -> [*, out]; conv x [N, C, *spatial]; attention q [B, H, L, E].
 */
import { native as N } from '../native/binding';
import { DType, dtypeCode } from './dtype';
import { argError } from './errors';
import { Tensor, wrap } from './tensor';

type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
function reduction(fn: string, r: Reduction | undefined): number {
  const code = REDUCTION[r ?? 'mean'];
  if (code === undefined) argError(fn, 'reduction', "'none', 'mean' or 'sum'", r);
  return code;
}
const idOf = (t: Tensor | null | undefined) => (t ? t.id : null);

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
P.matmul = function (this: Tensor, o: Tensor) { return wrap(N.matmul(this.id, o.id)); };
P.mm = function (this: Tensor, o: Tensor) { return wrap(N.mm(this.id, o.id)); };
P.bmm = function (this: Tensor, o: Tensor) { return wrap(N.bmm(this.id, o.id)); };
P.outer = function (this: Tensor, o: Tensor) { return wrap(N.outer(this.id, o.id)); };
P.softmax = function (this: Tensor, dim: number, opts = {}) {
  return wrap(N.softmax(this.id, dim, opts.dtype ? dtypeCode(opts.dtype) : null));
};
P.logSoftmax = function (this: Tensor, dim: number, opts = {}) {
  return wrap(N.logSoftmax(this.id, dim, opts.dtype ? dtypeCode(opts.dtype) : null));
};

export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  if (typeof equation !== 'string') argError('einsum', 'equation', 'a string', equation);
  return wrap(N.einsum(equation, operands.map((t) => t.id)));
}

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return wrap(N.linear(x.id, weight.id, idOf(bias)));
}

export function layerNorm(x: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return wrap(N.layerNorm(x.id, normalizedShape, idOf(weight), idOf(bias), eps));
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
function conv(fn: string, n: number, x: Tensor, w: Tensor, b: Tensor | null | undefined, o: ConvOptions,
  transposed = false, outputPadding: number | number[] = 0): Tensor {
  if (w.ndim !== n + 2) argError(fn, 'weight', `a ${n + 2}-D tensor`, w.shape);
  return wrap(N.conv(x.id, w.id, idOf(b), expandArg(fn, 'stride', o.stride, n, 1), expandArg(fn, 'padding', o.padding, n, 0),
    expandArg(fn, 'dilation', o.dilation, n, 1), transposed, expandArg(fn, 'outputPadding', outputPadding, n, 0), o.groups ?? 1));
}
export const conv1d = (x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions = {}) => conv('conv1d', 1, x, w, b, o);
export const conv2d = (x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions = {}) => conv('conv2d', 2, x, w, b, o);
export const conv3d = (x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions = {}) => conv('conv3d', 3, x, w, b, o);
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor | null, o: ConvOptions & { outputPadding?: number | number[] } = {}): Tensor {
  return conv('convTranspose2d', 2, x, w, b, o, true, o.outputPadding ?? 0);
}

/** gelu(x, { approximate: 'none' (erf, default) | 'tanh' }) */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const a = opts.approximate ?? 'none';
  if (a !== 'none' && a !== 'tanh') argError('gelu', 'approximate', "'none' or 'tanh'", a);
  return wrap(N.gelu(x.id, a));
}
export const relu = (x: Tensor) => wrap(N.relu(x.id));
export const silu = (x: Tensor) => wrap(N.silu(x.id));
export const sigmoid = (x: Tensor) => wrap(N.sigmoid(x.id));
export const tanh = (x: Tensor) => wrap(N.tanh(x.id));
export const leakyRelu = (x: Tensor, negativeSlope = 0.01) => wrap(N.leakyRelu(x.id, negativeSlope));
export const softplus = (x: Tensor, beta = 1, threshold = 20) => wrap(N.softplus(x.id, beta, threshold));
export const softmax = (x: Tensor, dim: number) => wrap(N.softmax(x.id, dim, null));
export const logSoftmax = (x: Tensor, dim: number) => wrap(N.logSoftmax(x.id, dim, null));

/** dropout(x, p = 0.5, training = true): identity when not training or p = 0. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  return wrap(N.dropout(x.id, p, training));
}

/** x / max(||x||_p over dim, eps), as torch.nn.functional.normalize. */
export function normalize(x: Tensor, opts: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  const n = N.norm(x.id, opts.p ?? 2, [opts.dim ?? 1], true);
  const c = N.clamp(n, opts.eps ?? 1e-12, null);
  const e = N.expand(c, x.shape);
  const out = wrap(N.div(x.id, e, null));
  N.dispose(n);
  N.dispose(c);
  N.dispose(e);
  return out;
}

/** softmax(q k^T * scale + mask) v: LibTorch's fused kernels on 2.x, the math path on 1.13. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor,
  opts: { attnMask?: Tensor | null; dropoutP?: number; isCausal?: boolean; scale?: number } = {}): Tensor {
  return wrap(N.scaledDotProductAttention(q.id, k.id, v.id, idOf(opts.attnMask), opts.dropoutP ?? 0, !!opts.isCausal, opts.scale ?? null));
}

/** interpolate(x [N, C, H, W], { size: [h, w], mode, alignCorners, antialias }) */
export function interpolate(x: Tensor, opts: { size: [number, number]; mode?: 'bilinear' | 'bicubic' | 'nearest';
  alignCorners?: boolean; antialias?: boolean }): Tensor {
  return wrap(N.interpolate(x.id, opts.size, opts.mode ?? 'nearest', !!opts.alignCorners, !!opts.antialias));
}

/** pad(x, pads as F.pad (last dimension first), mode, value) */
export function pad(x: Tensor, pads: number[], opts: { mode?: 'constant' | 'reflect' | 'replicate'; value?: number } = {}): Tensor {
  return wrap(N.pad(x.id, pads, opts.mode ?? 'constant', opts.value ?? 0));
}

export const mseLoss = (x: Tensor, y: Tensor, opts: { reduction?: Reduction } = {}) =>
  wrap(N.mseLoss(x.id, y.id, reduction('mseLoss', opts.reduction)));
export const l1Loss = (x: Tensor, y: Tensor, opts: { reduction?: Reduction } = {}) =>
  wrap(N.l1Loss(x.id, y.id, reduction('l1Loss', opts.reduction)));
export const smoothL1Loss = (x: Tensor, y: Tensor, opts: { reduction?: Reduction; beta?: number } = {}) =>
  wrap(N.smoothL1Loss(x.id, y.id, reduction('smoothL1Loss', opts.reduction), opts.beta ?? 1));

/** crossEntropy(logits [N, C], target [N] int64 class indices or [N, C] probabilities) */
export function crossEntropy(logits: Tensor, target: Tensor, opts: { weight?: Tensor; reduction?: Reduction;
  ignoreIndex?: number; labelSmoothing?: number } = {}): Tensor {
  return wrap(N.crossEntropy(logits.id, target.id, idOf(opts.weight), reduction('crossEntropy', opts.reduction),
    opts.ignoreIndex ?? -100, opts.labelSmoothing ?? 0));
}
export function nllLoss(logProbs: Tensor, target: Tensor, opts: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number } = {}): Tensor {
  return wrap(N.nllLoss(logProbs.id, target.id, idOf(opts.weight), reduction('nllLoss', opts.reduction), opts.ignoreIndex ?? -100));
}
export function binaryCrossEntropyWithLogits(x: Tensor, y: Tensor, opts: { weight?: Tensor; posWeight?: Tensor;
  reduction?: Reduction } = {}): Tensor {
  return wrap(N.binaryCrossEntropyWithLogits(x.id, y.id, idOf(opts.weight), idOf(opts.posWeight),
    reduction('binaryCrossEntropyWithLogits', opts.reduction)));
}

export const embedding = (indices: Tensor, weight: Tensor) => wrap(N.embedding(weight.id, indices.id));
export const oneHot = (x: Tensor, numClasses = -1) => wrap(N.oneHot(x.id, numClasses));

/** torch.fft: results are complex64/complex128 tensors. */
export const fft = {
  rfft: (x: Tensor, opts: { n?: number; dim?: number; norm?: 'backward' | 'forward' | 'ortho' } = {}) =>
    wrap(N.rfft(x.id, opts.n ?? null, opts.dim ?? -1, opts.norm ?? null)),
  irfft: (x: Tensor, opts: { n?: number; dim?: number; norm?: 'backward' | 'forward' | 'ortho' } = {}) =>
    wrap(N.irfft(x.id, opts.n ?? null, opts.dim ?? -1, opts.norm ?? null)),
  fft: (x: Tensor, opts: { n?: number; dim?: number; norm?: 'backward' | 'forward' | 'ortho' } = {}) =>
    wrap(N.fft(x.id, opts.n ?? null, opts.dim ?? -1, opts.norm ?? null)),
};

/** stft(x, nFft, { hopLength, winLength, window, center, padMode, normalized, onesided }) -> complex */
export function stft(x: Tensor, nFft: number, opts: { hopLength?: number; winLength?: number; window?: Tensor; center?: boolean;
  padMode?: 'reflect' | 'constant'; normalized?: boolean; onesided?: boolean } = {}): Tensor {
  return wrap(N.stft(x.id, nFft, opts.hopLength ?? null, opts.winLength ?? null, idOf(opts.window), opts.center ?? true,
    opts.padMode ?? 'reflect', !!opts.normalized, opts.onesided ?? true));
}
