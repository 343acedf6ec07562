/**
 * nn.init: the same distributions, fan computations and RNG draws as torch.nn.init, so a seeded
 * initialisation (torch.manualSeed) reproduces PyTorch's values. In-place; return the tensor.
 */
import { Tensor, TorchError, torch } from '../tensor';

/** fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (PyTorch's rule). */
export function calculateFanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  const s = t.shape;
  if (s.length < 2) throw new TorchError(`init: fan in/out need a tensor with at least 2 dimensions, got ${JSON.stringify(s)}`, 'ERR_SHAPE_MISMATCH');
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: s[1] * receptive, fanOut: s[0] * receptive };
}

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu';

/** torch.nn.init.calculate_gain */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    default:
      throw new TorchError(`calculateGain: unsupported nonlinearity ${String(nonlinearity)}`, 'ERR_INVALID_ARG');
  }
}

const noGrad = <T>(fn: () => T) => torch.noGrad(fn);

export const uniform_ = (t: Tensor, a = 0, b = 1) => noGrad(() => t.uniform_(a, b));
export const normal_ = (t: Tensor, mean = 0, std = 1) => noGrad(() => t.normal_(mean, std));
export const constant_ = (t: Tensor, v: number) => noGrad(() => t.fill_(v));
export const zeros_ = (t: Tensor) => noGrad(() => t.zero_());
export const ones_ = (t: Tensor) => noGrad(() => t.fill_(1));

export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2 / (fanIn + fanOut)); // PyTorch's order of operations (bit-exact bounds)
  const a = Math.sqrt(3) * std;
  return uniform_(t, -a, a);
}

export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export function kaimingUniform_(t: Tensor, opts: { a?: number; mode?: 'fan_in' | 'fan_out'; nonlinearity?: Nonlinearity } = {}): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  const bound = Math.sqrt(3) * (gain / Math.sqrt(fan));
  return uniform_(t, -bound, bound);
}

export function kaimingNormal_(t: Tensor, opts: { a?: number; mode?: 'fan_in' | 'fan_out'; nonlinearity?: Nonlinearity } = {}): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  return normal_(t, 0, calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0) / Math.sqrt(fan));
}

/** N(mean, std) truncated to [a, b] by PyTorch's inverse-CDF method (same draws as torch). */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2): Tensor {
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const l = cdf((a - mean) / std),
    u = cdf((b - mean) / std);
  return noGrad(() =>
    t
      .uniform_(2 * l - 1, 2 * u - 1)
      .erfinv_()
      .mul_(std * Math.SQRT2)
      .add_(mean)
      .clamp_(a, b),
  );
}
/** PyTorch spells it trunc_normal_; both names are offered. */
export const trunc_normal_ = truncNormal_;

/** Error function (Abramowitz–Stegun 7.1.26 is too coarse; this uses a series/continued fraction). */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax,
      term = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return sign * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  return sign * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
}
