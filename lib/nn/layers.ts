/** Layers with PyTorch's parameter names, shapes and default initialisation. */
import { F, Tensor, TorchError, torch } from '../tensor';
import { Module } from './module';
import { Parameter } from './parameter';
import * as init from './init';

/** y = x W^T + b. x: [*, inFeatures] -> [*, outFeatures]. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = Parameter(torch.empty([outFeatures, inFeatures]));
    this.bias = opts.bias === false ? null : Parameter(torch.empty([outFeatures]));
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

/** LayerNorm over the trailing `normalizedShape` dimensions (eps 1e-5, affine by default). */
export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly normalizedShape: number[];
  constructor(
    normalizedShape: number | number[],
    readonly opts: { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? Parameter(torch.ones(this.normalizedShape)) : null;
    this.bias = affine ? Parameter(torch.zeros(this.normalizedShape)) : null;
  }
  get eps(): number {
    return this.opts.eps ?? 1e-5;
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

type Size<N extends number> = number | (number[] & { length: N });
function tuple(name: string, v: number | number[], n: number): number[] {
  const out = typeof v === 'number' ? new Array(n).fill(v) : v;
  if (out.length !== n || !out.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    throw new TorchError(`${name}: expected ${n} non-negative integers, got ${JSON.stringify(v)}`, 'ERR_INVALID_ARG');
  }
  return out;
}

export interface ConvOptions {
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  groups?: number;
  bias?: boolean;
}

/** Shared by Conv1d/2d/3d: weight [out, in/groups, *kernel], bias [out], PyTorch's default init. */
abstract class ConvNd extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly stride: number[];
  readonly padding: number[];
  readonly dilation: number[];
  readonly groups: number;
  constructor(
    n: number,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | number[],
    opts: ConvOptions,
  ) {
    super();
    const kernel = tuple('kernelSize', kernelSize, n);
    this.stride = tuple('stride', opts.stride ?? 1, n);
    this.padding = tuple('padding', opts.padding ?? 0, n);
    this.dilation = tuple('dilation', opts.dilation ?? 1, n);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new TorchError(`Conv${n}d: channels (${inChannels}, ${outChannels}) must be divisible by groups ${this.groups}`, 'ERR_INVALID_ARG');
    }
    this.weight = Parameter(torch.empty([outChannels, inChannels / this.groups, ...kernel]));
    this.bias = opts.bias === false ? null : Parameter(torch.empty([outChannels]));
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const { fanIn } = init.calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }
  forward(x: Tensor): Tensor {
    const o = { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups };
    const n = this.stride.length;
    return n === 1 ? F.conv1d(x, this.weight, this.bias, o) : n === 2 ? F.conv2d(x, this.weight, this.bias, o) : F.conv3d(x, this.weight, this.bias, o);
  }
}

/** x: [N, C, L] */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: Size<1>, opts: ConvOptions = {}) {
    super(1, inChannels, outChannels, kernelSize, opts);
  }
}
/** x: [N, C, H, W] */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: Size<2>, opts: ConvOptions = {}) {
    super(2, inChannels, outChannels, kernelSize, opts);
  }
}
/** x: [N, C, D, H, W] */
export class Conv3d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: Size<3>, opts: ConvOptions = {}) {
    super(3, inChannels, outChannels, kernelSize, opts);
  }
}

export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

export class Identity extends Module {
  /** Returns a new handle on the same tensor (so callers can dispose results uniformly). */
  forward(x: Tensor): Tensor {
    return x.view(x.shape);
  }
}

/** Zeroes elements with probability p in training mode, scaling the rest by 1/(1-p). */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new TorchError(`Dropout: p must be in [0, 1], got ${p}`, 'ERR_INVALID_ARG');
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/** Stochastic depth (timm's DropPath): drops whole samples' residual branch with probability p. */
export class DropPath extends Module {
  constructor(readonly p = 0) {
    super();
    if (!(p >= 0 && p < 1)) throw new TorchError(`DropPath: p must be in [0, 1), got ${p}`, 'ERR_INVALID_ARG');
  }
  forward(x: Tensor): Tensor {
    if (this.p === 0 || !this.training) return x.view(x.shape);
    return torch.tidy(() => {
      const keep = 1 - this.p;
      const shape = [x.shape[0], ...new Array(x.ndim - 1).fill(1)];
      const mask = torch.empty(shape, { dtype: x.dtype, device: x.device }).bernoulli(keep);
      return x.div(keep).mul(mask);
    });
  }
}

/** A lookup table: indices [*] -> [*, embeddingDim]; weight ~ N(0, 1) as PyTorch. */
export class Embedding extends Module {
  weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
  ) {
    super();
    this.weight = Parameter(torch.empty([numEmbeddings, embeddingDim]));
    init.normal_(this.weight);
  }
  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight);
  }
}
