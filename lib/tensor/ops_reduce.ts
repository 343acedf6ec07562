/** Reduction methods. `dim` is a number or number[]; omitted = all dimensions. */
import { native as N } from '../native/binding';
import { DType, dtypeCode } from './dtype';
import { argError } from './errors';
import { Tensor, wrap, tid } from './tensor';

type Dim = number | number[];
/** A (values, indices) pair: destructure as an array or read the named fields. */
export type ValuesIndices = [Tensor, Tensor] & { values: Tensor; indices: Tensor };

declare module './tensor' {
  interface Tensor {
    sum(dim?: Dim | null, keepdim?: boolean, opts?: { dtype?: DType }): Tensor;
    mean(dim?: Dim | null, keepdim?: boolean, opts?: { dtype?: DType }): Tensor;
    prod(dim?: number | null, keepdim?: boolean): Tensor;
    /** var(dim?, { unbiased = true, keepdim = false }) */
    var(dim?: Dim | null, opts?: { unbiased?: boolean; keepdim?: boolean }): Tensor;
    std(dim?: Dim | null, opts?: { unbiased?: boolean; keepdim?: boolean }): Tensor;
    max(): Tensor;
    max(dim: number, keepdim?: boolean): ValuesIndices;
    min(): Tensor;
    min(dim: number, keepdim?: boolean): ValuesIndices;
    amax(dim?: Dim | null, keepdim?: boolean): Tensor;
    amin(dim?: Dim | null, keepdim?: boolean): Tensor;
    argmax(dim?: number | null, keepdim?: boolean): Tensor;
    argmin(dim?: number | null, keepdim?: boolean): Tensor;
    /** Vector p-norm over dim (all elements when omitted). */
    norm(p?: number, dim?: Dim | null, keepdim?: boolean): Tensor;
    logsumexp(dim: Dim, keepdim?: boolean): Tensor;
    cumsum(dim: number, opts?: { dtype?: DType }): Tensor;
    cumprod(dim: number, opts?: { dtype?: DType }): Tensor;
    all(dim?: number | null, keepdim?: boolean): Tensor;
    any(dim?: number | null, keepdim?: boolean): Tensor;
    countNonzero(dim?: number | null): Tensor;
    allclose(other: Tensor, opts?: { rtol?: number; atol?: number; equalNan?: boolean }): boolean;
    equal(other: Tensor): boolean;
  }
}

const P = Tensor.prototype;

function dims(fn: string, d: Dim | null | undefined): number[] | null {
  if (d === undefined || d === null) return null;
  if (typeof d === 'number') return [d];
  if (!Array.isArray(d)) argError(fn, 'dim', 'a number or number[]', d);
  return d;
}

function pair(ids: [number, number]): ValuesIndices {
  const v = wrap(ids[0]),
    i = wrap(ids[1]);
  return Object.assign([v, i] as [Tensor, Tensor], { values: v, indices: i });
}

P.sum = function (this: Tensor, dim?: Dim | null, keepdim = false, opts = {}) {
  return wrap(N.sum(this.id, dims('sum', dim), keepdim, opts.dtype ? dtypeCode(opts.dtype) : null));
};
P.mean = function (this: Tensor, dim?: Dim | null, keepdim = false, opts = {}) {
  return wrap(N.mean(this.id, dims('mean', dim), keepdim, opts.dtype ? dtypeCode(opts.dtype) : null));
};
P.prod = function (this: Tensor, dim?: number | null, keepdim = false) {
  return wrap(N.prod(this.id, dim ?? null, keepdim));
};
P.var = function (this: Tensor, dim?: Dim | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}) {
  return wrap(N.var(this.id, dims('var', dim), opts.unbiased ?? true, opts.keepdim ?? false));
};
P.std = function (this: Tensor, dim?: Dim | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}) {
  return wrap(N.std(this.id, dims('std', dim), opts.unbiased ?? true, opts.keepdim ?? false));
};
P.max = function (this: Tensor, dim?: number, keepdim: boolean = false): never {
  return (dim === undefined ? wrap(N.max(this.id)) : pair(N.maxDim(this.id, dim, keepdim))) as never;
};
P.min = function (this: Tensor, dim?: number, keepdim: boolean = false): never {
  return (dim === undefined ? wrap(N.min(this.id)) : pair(N.minDim(this.id, dim, keepdim))) as never;
};
P.amax = function (this: Tensor, dim?: Dim | null, keepdim = false) {
  return wrap(N.amax(this.id, dims('amax', dim), keepdim));
};
P.amin = function (this: Tensor, dim?: Dim | null, keepdim = false) {
  return wrap(N.amin(this.id, dims('amin', dim), keepdim));
};
P.argmax = function (this: Tensor, dim?: number | null, keepdim = false) {
  return wrap(N.argmax(this.id, dim ?? null, keepdim));
};
P.argmin = function (this: Tensor, dim?: number | null, keepdim = false) {
  return wrap(N.argmin(this.id, dim ?? null, keepdim));
};
P.norm = function (this: Tensor, p = 2, dim?: Dim | null, keepdim = false) {
  return wrap(N.norm(this.id, p, dims('norm', dim), keepdim));
};
P.logsumexp = function (this: Tensor, dim: Dim, keepdim = false) {
  return wrap(N.logsumexp(this.id, dims('logsumexp', dim), keepdim));
};
P.cumsum = function (this: Tensor, dim: number, opts = {}) {
  return wrap(N.cumsum(this.id, dim, opts.dtype ? dtypeCode(opts.dtype) : null));
};
P.cumprod = function (this: Tensor, dim: number, opts = {}) {
  return wrap(N.cumprod(this.id, dim, opts.dtype ? dtypeCode(opts.dtype) : null));
};
P.all = function (this: Tensor, dim?: number | null, keepdim = false) {
  return wrap(N.all(this.id, dim ?? null, keepdim));
};
P.any = function (this: Tensor, dim?: number | null, keepdim = false) {
  return wrap(N.any(this.id, dim ?? null, keepdim));
};
P.countNonzero = function (this: Tensor, dim?: number | null) {
  return wrap(N.countNonzero(this.id, dim ?? null));
};
P.allclose = function (this: Tensor, other: Tensor, opts = {}) {
  return N.allclose(this.id, tid(other, 'allclose', 'other'), opts.rtol ?? 1e-5, opts.atol ?? 1e-8, opts.equalNan ?? false);
};
P.equal = function (this: Tensor, other: Tensor) {
  return N.equal(this.id, tid(other, 'equal', 'other'));
};
