/** Elementwise methods: arithmetic, comparisons, unary math, in-place updates. */
import { native as N, Id } from '../native/binding';
import { argError } from './errors';
import { Tensor, wrap, tid } from './tensor';

type Other = Tensor | number | boolean;

declare module './tensor' {
  interface Tensor {
    add(other: Other, opts?: { alpha?: number }): Tensor;
    sub(other: Other, opts?: { alpha?: number }): Tensor;
    /** other - this */
    rsub(other: number): Tensor;
    mul(other: Other): Tensor;
    div(other: Other, opts?: { roundingMode?: 'trunc' | 'floor' }): Tensor;
    pow(exponent: Other): Tensor;
    /** base ** this */
    rpow(base: number): Tensor;
    remainder(other: Other): Tensor;
    fmod(other: Other): Tensor;
    maximum(other: Tensor): Tensor;
    minimum(other: Tensor): Tensor;
    atan2(other: Tensor): Tensor;
    eq(other: Other): Tensor;
    ne(other: Other): Tensor;
    lt(other: Other): Tensor;
    le(other: Other): Tensor;
    gt(other: Other): Tensor;
    ge(other: Other): Tensor;
    logicalAnd(other: Tensor): Tensor;
    logicalOr(other: Tensor): Tensor;
    logicalXor(other: Tensor): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    exp(): Tensor;
    expm1(): Tensor;
    log(): Tensor;
    log10(): Tensor;
    log2(): Tensor;
    log1p(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    tan(): Tensor;
    asin(): Tensor;
    acos(): Tensor;
    atan(): Tensor;
    sinh(): Tensor;
    cosh(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    erf(): Tensor;
    erfinv(): Tensor;
    floor(): Tensor;
    ceil(): Tensor;
    round(): Tensor;
    trunc(): Tensor;
    frac(): Tensor;
    sign(): Tensor;
    reciprocal(): Tensor;
    square(): Tensor;
    relu(): Tensor;
    silu(): Tensor;
    isnan(): Tensor;
    isinf(): Tensor;
    isfinite(): Tensor;
    logicalNot(): Tensor;
    bitwiseNot(): Tensor;
    real(): Tensor;
    imag(): Tensor;
    viewAsReal(): Tensor;
    /** clamp(min?, max?) with numbers or tensors (null/undefined = unbounded on that side). */
    clamp(min?: number | Tensor | null, max?: number | Tensor | null): Tensor;
    clampMin(min: number): Tensor;
    clampMax(max: number): Tensor;
    nanToNum(opts?: { nan?: number; posinf?: number; neginf?: number }): Tensor;
    lerp(end: Tensor, weight: number): Tensor;
    addcmul(t1: Tensor, t2: Tensor, opts?: { value?: number }): Tensor;
    addcdiv(t1: Tensor, t2: Tensor, opts?: { value?: number }): Tensor;
    /** where(condition, this, other): elements of this where condition holds, else other. */
    where(condition: Tensor, other: Other): Tensor;
    // in place (return this)
    add_(other: Other, opts?: { alpha?: number }): this;
    sub_(other: Tensor, opts?: { alpha?: number }): this;
    mul_(other: Other): this;
    div_(other: Other): this;
    copy_(src: Tensor, opts?: { nonBlocking?: boolean }): this;
    fill_(value: number | boolean): this;
    zero_(): this;
    clamp_(min?: number | null, max?: number | null): this;
    addcmul_(t1: Tensor, t2: Tensor, opts?: { value?: number }): this;
    addcdiv_(t1: Tensor, t2: Tensor, opts?: { value?: number }): this;
    lerp_(end: Tensor, weight: number): this;
    sqrt_(): this;
    erfinv_(): this;
    normal_(mean?: number, std?: number): this;
    /** Bernoulli(p) draws shaped like this tensor (0/1 in its dtype). */
    bernoulli(p: number): Tensor;
    uniform_(from?: number, to?: number): this;
  }
}

const P = Tensor.prototype;

function binary(name: string, tt: (x: Id, y: Id) => Id, ts: (x: Id, s: number | boolean) => Id) {
  return function (this: Tensor, other: Other): Tensor {
    if (other instanceof Tensor) return wrap(tt(this.id, other.id));
    if (typeof other === 'number' || typeof other === 'boolean') return wrap(ts(this.id, other));
    return argError(name, 'other', 'a Tensor or number', other);
  };
}

function tensorOnly(name: string, tt: (x: Id, y: Id) => Id) {
  return function (this: Tensor, other: Tensor): Tensor {
    if (!(other instanceof Tensor)) argError(name, 'other', 'a Tensor', other);
    return wrap(tt(this.id, other.id));
  };
}

P.add = function (this: Tensor, other: Other, opts?: { alpha?: number }) {
  const alpha = opts?.alpha ?? 1;
  if (other instanceof Tensor) return wrap(N.add(this.id, tid(other, 'add', 'other'), alpha));
  if (typeof other === 'number') return wrap(N.addS(this.id, other, alpha));
  return argError('add', 'other', 'a Tensor or number', other);
};
P.sub = function (this: Tensor, other: Other, opts?: { alpha?: number }) {
  const alpha = opts?.alpha ?? 1;
  if (other instanceof Tensor) return wrap(N.sub(this.id, tid(other, 'sub', 'other'), alpha));
  if (typeof other === 'number') return wrap(N.subS(this.id, other, alpha));
  return argError('sub', 'other', 'a Tensor or number', other);
};
P.rsub = function (this: Tensor, other: number) {
  return wrap(N.rsubS(this.id, other));
};
P.div = function (this: Tensor, other: Other, opts?: { roundingMode?: 'trunc' | 'floor' }) {
  const mode = opts?.roundingMode ?? null;
  if (other instanceof Tensor) return wrap(N.div(this.id, tid(other, 'div', 'other'), mode));
  if (typeof other === 'number') return wrap(N.divS(this.id, other, mode));
  return argError('div', 'other', 'a Tensor or number', other);
};
P.rpow = function (this: Tensor, base: number) {
  return wrap(N.rpowS(this.id, base));
};
P.mul = binary('mul', N.mul, N.mulS);
P.pow = binary('pow', N.pow, N.powS);
P.remainder = binary('remainder', N.remainder, N.remainderS);
P.fmod = binary('fmod', N.fmod, N.fmodS);
P.eq = binary('eq', N.eq, N.eqS);
P.ne = binary('ne', N.ne, N.neS);
P.lt = binary('lt', N.lt, N.ltS);
P.le = binary('le', N.le, N.leS);
P.gt = binary('gt', N.gt, N.gtS);
P.ge = binary('ge', N.ge, N.geS);
P.maximum = tensorOnly('maximum', N.maximum);
P.minimum = tensorOnly('minimum', N.minimum);
P.atan2 = tensorOnly('atan2', N.atan2);
P.logicalAnd = tensorOnly('logicalAnd', N.logicalAnd);
P.logicalOr = tensorOnly('logicalOr', N.logicalOr);
P.logicalXor = tensorOnly('logicalXor', N.logicalXor);

const UNARY = [
  'neg',
  'abs',
  'sqrt',
  'rsqrt',
  'exp',
  'expm1',
  'log',
  'log10',
  'log2',
  'log1p',
  'sin',
  'cos',
  'tan',
  'asin',
  'acos',
  'atan',
  'sinh',
  'cosh',
  'tanh',
  'sigmoid',
  'erf',
  'erfinv',
  'floor',
  'ceil',
  'round',
  'trunc',
  'frac',
  'sign',
  'reciprocal',
  'square',
  'relu',
  'silu',
  'isnan',
  'isinf',
  'isfinite',
  'logicalNot',
  'bitwiseNot',
  'real',
  'imag',
  'viewAsReal',
] as const;
for (const name of UNARY) {
  const op = N[name] as (x: Id) => Id;
  (P as unknown as Record<string, unknown>)[name] = function (this: Tensor) {
    return wrap(op(this.id));
  };
}

P.clamp = function (this: Tensor, min?: number | Tensor | null, max?: number | Tensor | null) {
  if (min instanceof Tensor || max instanceof Tensor) {
    const lo = min instanceof Tensor ? tid(min, 'clamp', 'min') : null;
    const hi = max instanceof Tensor ? tid(max, 'clamp', 'max') : null;
    if ((min != null && lo === null) || (max != null && hi === null)) argError('clamp', 'min/max', 'both tensors or both numbers', [min, max]);
    return wrap(N.clampT(this.id, lo, hi));
  }
  return wrap(N.clamp(this.id, min ?? null, max ?? null));
};
P.clampMin = function (this: Tensor, min: number) {
  return wrap(N.clamp(this.id, min, null));
};
P.clampMax = function (this: Tensor, max: number) {
  return wrap(N.clamp(this.id, null, max));
};
P.nanToNum = function (this: Tensor, opts = {}) {
  return wrap(N.nanToNum(this.id, opts.nan ?? 0, opts.posinf ?? null, opts.neginf ?? null));
};
P.lerp = function (this: Tensor, end: Tensor, weight: number) {
  return wrap(N.lerp(this.id, tid(end, 'lerp', 'end'), weight));
};
P.addcmul = function (this: Tensor, t1: Tensor, t2: Tensor, opts = {}) {
  return wrap(N.addcmul(this.id, tid(t1, 'addcmul', 't1'), tid(t2, 'addcmul', 't2'), opts.value ?? 1));
};
P.addcdiv = function (this: Tensor, t1: Tensor, t2: Tensor, opts = {}) {
  return wrap(N.addcdiv(this.id, tid(t1, 'addcdiv', 't1'), tid(t2, 'addcdiv', 't2'), opts.value ?? 1));
};
P.where = function (this: Tensor, condition: Tensor, other: Other) {
  if (!(condition instanceof Tensor)) argError('where', 'condition', 'a bool Tensor', condition);
  if (other instanceof Tensor) return wrap(N.where(tid(condition, 'where', 'condition'), this.id, tid(other, 'where', 'other')));
  if (typeof other !== 'number' && typeof other !== 'boolean') argError('where', 'other', 'a Tensor or number', other);
  const o = wrap(N.scalarTensor(other, N.dtype(this.id), N.device(this.id)));
  try {
    return wrap(N.where(tid(condition, 'where', 'condition'), this.id, o.id));
  } finally {
    o.dispose();
  }
};

P.add_ = function (this: Tensor, other: Other, opts?: { alpha?: number }) {
  if (other instanceof Tensor) N.add_(this.id, tid(other, 'add_', 'other'), opts?.alpha ?? 1);
  else if (typeof other === 'number') N.addS_(this.id, other, opts?.alpha ?? 1);
  else argError('add_', 'other', 'a Tensor or number', other);
  return this;
};
P.sub_ = function (this: Tensor, other: Tensor, opts?: { alpha?: number }) {
  N.sub_(this.id, tid(other, 'sub_', 'other'), opts?.alpha ?? 1);
  return this;
};
P.mul_ = function (this: Tensor, other: Other) {
  if (other instanceof Tensor) N.mul_(this.id, tid(other, 'mul_', 'other'));
  else if (typeof other === 'number') N.mulS_(this.id, other);
  else argError('mul_', 'other', 'a Tensor or number', other);
  return this;
};
P.div_ = function (this: Tensor, other: Other) {
  if (other instanceof Tensor) N.div_(this.id, tid(other, 'div_', 'other'));
  else if (typeof other === 'number') N.divS_(this.id, other);
  else argError('div_', 'other', 'a Tensor or number', other);
  return this;
};
P.copy_ = function (this: Tensor, src: Tensor, opts = {}) {
  if (!(src instanceof Tensor)) argError('copy_', 'src', 'a Tensor', src);
  N.copy_(this.id, tid(src, 'copy_', 'src'), !!opts.nonBlocking);
  return this;
};
P.fill_ = function (this: Tensor, value: number | boolean) {
  N.fill_(this.id, value);
  return this;
};
P.zero_ = function (this: Tensor) {
  N.zero_(this.id);
  return this;
};
P.clamp_ = function (this: Tensor, min?: number | null, max?: number | null) {
  N.clamp_(this.id, min ?? null, max ?? null);
  return this;
};
P.addcmul_ = function (this: Tensor, t1: Tensor, t2: Tensor, opts = {}) {
  N.addcmul_(this.id, tid(t1, 'addcmul_', 't1'), tid(t2, 'addcmul_', 't2'), opts.value ?? 1);
  return this;
};
P.addcdiv_ = function (this: Tensor, t1: Tensor, t2: Tensor, opts = {}) {
  N.addcdiv_(this.id, tid(t1, 'addcdiv_', 't1'), tid(t2, 'addcdiv_', 't2'), opts.value ?? 1);
  return this;
};
P.lerp_ = function (this: Tensor, end: Tensor, weight: number) {
  N.lerp_(this.id, tid(end, 'lerp_', 'end'), weight);
  return this;
};
P.sqrt_ = function (this: Tensor) {
  N.sqrt_(this.id);
  return this;
};
P.erfinv_ = function (this: Tensor) {
  N.erfinv_(this.id);
  return this;
};
P.bernoulli = function (this: Tensor, p: number) {
  return wrap(N.bernoulli(this.id, p));
};
P.normal_ = function (this: Tensor, mean = 0, std = 1) {
  N.normal_(this.id, mean, std);
  return this;
};
P.uniform_ = function (this: Tensor, from = 0, to = 1) {
  N.uniform_(this.id, from, to);
  return this;
};
