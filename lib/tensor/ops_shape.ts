/** Shape and view methods: reshape, permute, concatenation helpers, split, slice, select. */
import { native as N } from '../native/binding';
import { argError, checkSizes } from './errors';
import { Tensor, wrap } from './tensor';

/** Accepts f([a, b, c]) and f(a, b, c). */
type Sizes = number[] | [number[]];
function sizes(fn: string, args: Sizes): number[] {
  return checkSizes(fn, 'shape', Array.isArray(args[0]) ? args[0] : args);
}

declare module './tensor' {
  interface Tensor {
    view(...shape: Sizes): Tensor;
    reshape(...shape: Sizes): Tensor;
    permute(...dims: Sizes): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    /** Transpose of a 2-D tensor. */
    t(): Tensor;
    movedim(source: number | number[], destination: number | number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    unflatten(dim: number, sizes: number[]): Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    expand(...shape: Sizes): Tensor;
    expandAs(other: Tensor): Tensor;
    repeat(...reps: Sizes): Tensor;
    repeatInterleave(repeats: number, dim?: number): Tensor;
    /** split(size | sizes, dim = 0) */
    split(sizeOrSizes: number | number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    unbind(dim?: number): Tensor[];
    narrow(dim: number, start: number, length: number): Tensor;
    /** Python's x[..., start:end:step] along dim (negative and out-of-range bounds clamp like Python). */
    slice(dim: number, start?: number | null, end?: number | null, step?: number): Tensor;
    select(dim: number, index: number): Tensor;
    flip(dims: number | number[]): Tensor;
    roll(shifts: number | number[], dims: number | number[]): Tensor;
    tril(diagonal?: number): Tensor;
    triu(diagonal?: number): Tensor;
    /** Sliding windows of `size` with `step` along dim, as a new last dimension (a view). */
    unfold(dim: number, size: number, step: number): Tensor;
    /** A strided view of this tensor's storage (bounds-checked against the storage). */
    asStrided(size: number[], stride: number[], storageOffset?: number): Tensor;
  }
}

const P = Tensor.prototype;
const asList = (v: number | number[]) => (typeof v === 'number' ? [v] : v);

P.view = function (this: Tensor, ...shape: Sizes) {
  return wrap(N.view(this.id, sizes('view', shape)));
};
P.reshape = function (this: Tensor, ...shape: Sizes) {
  return wrap(N.reshape(this.id, sizes('reshape', shape)));
};
P.permute = function (this: Tensor, ...dims: Sizes) {
  return wrap(N.permute(this.id, sizes('permute', dims)));
};
P.transpose = function (this: Tensor, d0: number, d1: number) {
  return wrap(N.transpose(this.id, d0, d1));
};
P.t = function (this: Tensor) {
  if (this.ndim > 2) argError('t', 'self', 'a tensor with at most 2 dimensions', this.shape);
  return this.ndim < 2 ? wrap(N.clone(this.id)) : wrap(N.transpose(this.id, 0, 1));
};
P.movedim = function (this: Tensor, src: number | number[], dst: number | number[]) {
  return wrap(N.movedim(this.id, asList(src), asList(dst)));
};
P.flatten = function (this: Tensor, start = 0, end = -1) {
  return wrap(N.flatten(this.id, start, end));
};
P.unflatten = function (this: Tensor, dim: number, s: number[]) {
  return wrap(N.unflatten(this.id, dim, checkSizes('unflatten', 'sizes', s)));
};
P.squeeze = function (this: Tensor, dim?: number) {
  return wrap(N.squeeze(this.id, dim ?? null));
};
P.unsqueeze = function (this: Tensor, dim: number) {
  return wrap(N.unsqueeze(this.id, dim));
};
P.expand = function (this: Tensor, ...shape: Sizes) {
  return wrap(N.expand(this.id, sizes('expand', shape)));
};
P.expandAs = function (this: Tensor, other: Tensor) {
  if (!(other instanceof Tensor)) argError('expandAs', 'other', 'a Tensor', other);
  return wrap(N.expand(this.id, other.shape));
};
P.repeat = function (this: Tensor, ...reps: Sizes) {
  return wrap(N.repeat(this.id, sizes('repeat', reps)));
};
P.repeatInterleave = function (this: Tensor, repeats: number, dim?: number) {
  return wrap(N.repeatInterleave(this.id, repeats, dim ?? null));
};
P.split = function (this: Tensor, s: number | number[], dim = 0) {
  const ids = typeof s === 'number' ? N.split(this.id, s, dim) : N.splitSizes(this.id, checkSizes('split', 'sizes', s, 0, Infinity), dim);
  return ids.map(wrap);
};
P.chunk = function (this: Tensor, chunks: number, dim = 0) {
  return N.chunk(this.id, chunks, dim).map(wrap);
};
P.unbind = function (this: Tensor, dim = 0) {
  return N.unbind(this.id, dim).map(wrap);
};
P.narrow = function (this: Tensor, dim: number, start: number, length: number) {
  return wrap(N.narrow(this.id, dim, start, length));
};
P.slice = function (this: Tensor, dim: number, start?: number | null, end?: number | null, step = 1) {
  return wrap(N.slice(this.id, dim, start ?? null, end ?? null, step));
};
P.select = function (this: Tensor, dim: number, index: number) {
  return wrap(N.select(this.id, dim, index));
};
P.flip = function (this: Tensor, dims: number | number[]) {
  return wrap(N.flip(this.id, asList(dims)));
};
P.roll = function (this: Tensor, shifts: number | number[], dims: number | number[]) {
  return wrap(N.roll(this.id, asList(shifts), asList(dims)));
};
P.tril = function (this: Tensor, k = 0) {
  return wrap(N.tril(this.id, k));
};
P.triu = function (this: Tensor, k = 0) {
  return wrap(N.triu(this.id, k));
};
P.unfold = function (this: Tensor, dim: number, size: number, step: number) {
  return wrap(N.unfold(this.id, dim, size, step));
};
P.asStrided = function (this: Tensor, size: number[], stride: number[], offset = 0) {
  return wrap(N.asStrided(this.id, size, stride, offset));
};
