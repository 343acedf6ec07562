/** Tensor creation: from JS values and buffers, constants, ranges and random draws. */
import { native as N } from '../native/binding';
import { DType, dtypeCode, dtypeOfArray, checkDevice, ELEMENT_SIZE } from './dtype';
import { argError, checkShape, checkInt, checkNumber } from './errors';
import { checkOptions, opt, CREATE_OPTIONS } from './options';
import { Tensor, wrap, tid } from './tensor';

export interface CreateOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}
export interface TensorOptions extends CreateOptions {
  /** Shape for flat TypedArray / number[] input (default: inferred). */
  shape?: number[];
}

type Nested = number | boolean | bigint | Nested[];

/** The deepest nesting torch.tensor accepts: Python's torch.tensor refuses more than 128 dimensions. */
export const MAX_NESTING = 128;
const TENSOR_OPTIONS = { ...CREATE_OPTIONS, shape: opt.shape } as const;
const LIKE_OPTIONS = { dtype: opt.dtype } as const;
const WINDOW_OPTIONS = { ...CREATE_OPTIONS, periodic: opt.boolean } as const;

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

function inferShape(v: Nested, fn: string): number[] {
  const shape: number[] = [];
  let cur: Nested = v;
  while (Array.isArray(cur)) {
    if (shape.length === MAX_NESTING) argError(fn, 'values', `arrays nested at most ${MAX_NESTING} deep`, `deeper nesting (or a cycle)`);
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return shape;
}

function flatten(v: Nested, shape: number[], dim: number, out: (number | boolean | bigint)[], fn: string): void {
  if (dim === shape.length) {
    if (Array.isArray(v)) argError(fn, 'values', 'a rectangular nested array', 'a ragged array');
    if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint') argError(fn, 'values', 'numbers, booleans or bigints', v);
    out.push(v);
    return;
  }
  if (!Array.isArray(v) || v.length !== shape[dim]) {
    argError(fn, 'values', `a rectangular nested array (dimension ${dim} of length ${shape[dim]})`, v);
  }
  for (const x of v as Nested[]) flatten(x, shape, dim + 1, out, fn);
}

/** Converts TypedArrays torch has no dtype for (Uint16/Uint32/BigUint64) to ones it has. */
function normaliseArray(a: ArrayBufferView, fn: string): ArrayBufferView {
  if (a instanceof Uint16Array) return Int32Array.from(a);
  if (a instanceof Uint32Array) return BigInt64Array.from(a, (v) => BigInt(v));
  if (a instanceof BigUint64Array) {
    return BigInt64Array.from(a, (v) => {
      if (v > 0x7fffffffffffffffn) argError(fn, 'values', 'values below 2^63', v);
      return v;
    });
  }
  if (a instanceof Uint8ClampedArray) return new Uint8Array(a.buffer, a.byteOffset, a.length);
  return a;
}

/**
 * torch.tensor(values, { shape?, dtype?, device?, requiresGrad? }): number, nested arrays of numbers /
 * booleans / bigints, or any TypedArray. Safe integers (and bigints) infer int64, booleans bool, other
 * numbers (and an empty array) float32.
 */
export function tensor(values: Nested | ArrayBufferView, opts: TensorOptions = {}): Tensor {
  const fn = 'tensor';
  checkOptions(fn, opts, TENSOR_OPTIONS);
  const device = checkDevice(fn, opts.device ?? 'cpu');
  let data: ArrayBufferView;
  let dtype: DType;
  let shape: number[];
  if (ArrayBuffer.isView(values) && !(values instanceof DataView)) {
    data = normaliseArray(values, fn);
    dtype = dtypeOfArray(data) as DType;
    shape = opts.shape ? checkShape(fn, 'shape', opts.shape) : [(data as Uint8Array).length];
  } else {
    shape = inferShape(values as Nested, fn);
    const flat: (number | boolean | bigint)[] = [];
    flatten(values as Nested, shape, 0, flat, fn);
    if (opts.shape) shape = checkShape(fn, 'shape', opts.shape);
    if (flat.length === 0) {
      dtype = 'float32';
      data = new Float32Array(0);
    } else if (flat.every((v) => typeof v === 'boolean')) {
      dtype = 'bool';
      data = Uint8Array.from(flat as boolean[], (b) => (b ? 1 : 0));
    } else if (flat.every((v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v)))) {
      // Integers beyond 2^53 are not exact in JS numbers: they make a float tensor (as a Python float).
      dtype = 'int64';
      data = BigInt64Array.from(flat, (v) => BigInt(v as number | bigint));
    } else {
      dtype = 'float64';
      data = Float64Array.from(flat, (v) => Number(v));
      if (!opts.dtype) opts = { ...opts, dtype: 'float32' };
    }
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  const len = data.byteLength / ELEMENT_SIZE[dtype];
  if (numel !== len) argError(fn, 'shape', `a shape with ${len} elements`, shape);
  let t = wrap(N.fromBuffer(data, dtypeCode(dtype), shape, 'cpu'));
  if (opts.dtype && opts.dtype !== dtype) {
    const c = wrap(N.toDtype(t.id, dtypeCode(opts.dtype, fn), false));
    t.dispose();
    t = c;
  }
  if (device !== 'cpu') {
    const d = t.to(device);
    t.dispose();
    t = d;
  }
  return finish(t, opts);
}

/** Builds a tensor from raw little-endian bytes of any dtype (C order). Copies. */
export function fromBuffer(bytes: ArrayBufferView | ArrayBuffer, dtype: DType, shape: number[], opts: CreateOptions = {}): Tensor {
  checkOptions('fromBuffer', opts, CREATE_OPTIONS);
  checkShape('fromBuffer', 'shape', shape);
  return finish(wrap(N.fromBuffer(bytes, dtypeCode(dtype, 'fromBuffer'), shape, checkDevice('fromBuffer', opts.device ?? 'cpu'))), opts);
}

function make(
  fn: string,
  op: (shape: number[], dtype: number, device: string) => number,
  shape: number[] | number,
  opts: CreateOptions,
  defaultDtype: DType = 'float32',
): Tensor {
  checkOptions(fn, opts, CREATE_OPTIONS);
  const s = typeof shape === 'number' ? [shape] : shape;
  checkShape(fn, 'shape', s);
  return finish(wrap(op(s, dtypeCode(opts.dtype ?? defaultDtype, fn), checkDevice(fn, opts.device ?? 'cpu'))), opts);
}

export const zeros = (shape: number[] | number, opts: CreateOptions = {}) => make('zeros', N.zeros, shape, opts);
export const ones = (shape: number[] | number, opts: CreateOptions = {}) => make('ones', N.ones, shape, opts);
export const empty = (shape: number[] | number, opts: CreateOptions = {}) => make('empty', N.empty, shape, opts);
export const randn = (shape: number[] | number, opts: CreateOptions = {}) => make('randn', N.randn, shape, opts);
export const rand = (shape: number[] | number, opts: CreateOptions = {}) => make('rand', N.rand, shape, opts);

export function full(shape: number[] | number, value: number | boolean, opts: CreateOptions = {}): Tensor {
  checkOptions('full', opts, CREATE_OPTIONS);
  const s = checkShape('full', 'shape', typeof shape === 'number' ? [shape] : shape);
  if (typeof value !== 'number' && typeof value !== 'boolean') argError('full', 'value', 'a number or boolean', value);
  const dt = opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  return finish(wrap(N.full(s, value, dtypeCode(dt, 'full'), checkDevice('full', opts.device ?? 'cpu'))), opts);
}

/** randint(low, high, shape, opts): integers in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: number[], opts: CreateOptions = {}): Tensor {
  checkOptions('randint', opts, CREATE_OPTIONS);
  checkInt('randint', 'low', low);
  checkInt('randint', 'high', high);
  if (high <= low) argError('randint', 'high', `an integer > low (${low})`, high);
  checkShape('randint', 'shape', shape);
  return finish(wrap(N.randint(low, high, shape, dtypeCode(opts.dtype ?? 'int64', 'randint'), checkDevice('randint', opts.device ?? 'cpu'))), opts);
}

export function randperm(n: number, opts: CreateOptions = {}): Tensor {
  checkOptions('randperm', opts, CREATE_OPTIONS);
  checkInt('randperm', 'n', n);
  return finish(wrap(N.randperm(n, dtypeCode(opts.dtype ?? 'int64'), checkDevice('randperm', opts.device ?? 'cpu'))), opts);
}

/** arange(end) | arange(start, end, step = 1): int64 when all arguments are integers, else float32. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  checkOptions('arange', opts, CREATE_OPTIONS);
  if (end === undefined) [start, end] = [0, start];
  for (const [k, v] of [
    ['start', start],
    ['end', end],
    ['step', step],
  ] as const)
    checkNumber('arange', k, v);
  const ints = [start, end, step].every(Number.isInteger);
  const dt = opts.dtype ?? (ints ? 'int64' : 'float32');
  return finish(wrap(N.arange(start, end, step, dtypeCode(dt, 'arange'), checkDevice('arange', opts.device ?? 'cpu'))), opts);
}

export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  checkOptions('linspace', opts, CREATE_OPTIONS);
  checkNumber('linspace', 'start', start);
  checkNumber('linspace', 'end', end);
  checkInt('linspace', 'steps', steps);
  return finish(wrap(N.linspace(start, end, steps, dtypeCode(opts.dtype ?? 'float32'), checkDevice('linspace', opts.device ?? 'cpu'))), opts);
}

export function eye(n: number, m: number = n, opts: CreateOptions = {}): Tensor {
  checkOptions('eye', opts, CREATE_OPTIONS);
  checkInt('eye', 'n', n);
  checkInt('eye', 'm', m);
  return finish(wrap(N.eye(n, m, dtypeCode(opts.dtype ?? 'float32'), checkDevice('eye', opts.device ?? 'cpu'))), opts);
}

/** A 0-d tensor holding one value. */
export function scalarTensor(value: number | boolean, opts: CreateOptions = {}): Tensor {
  checkOptions('scalarTensor', opts, CREATE_OPTIONS);
  const dt = opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  return finish(wrap(N.scalarTensor(value, dtypeCode(dt), checkDevice('scalarTensor', opts.device ?? 'cpu'))), opts);
}

const like =
  (fn: string, op: (x: number, d?: number | null) => number) =>
  (x: Tensor, opts: { dtype?: DType } = {}) => {
    checkOptions(fn, opts, LIKE_OPTIONS);
    return wrap(op(tid(x, fn, 'x'), opts.dtype ? dtypeCode(opts.dtype) : null));
  };
export const zerosLike = like('zerosLike', N.zerosLike);
export const onesLike = like('onesLike', N.onesLike);
export const emptyLike = like('emptyLike', N.emptyLike);
export const randnLike = like('randnLike', N.randnLike);
export const randLike = like('randLike', N.randLike);
export function fullLike(x: Tensor, value: number | boolean, opts: { dtype?: DType } = {}): Tensor {
  checkOptions('fullLike', opts, LIKE_OPTIONS);
  return wrap(N.fullLike(tid(x, 'fullLike', 'x'), value, opts.dtype ? dtypeCode(opts.dtype) : null));
}

/** Windows for the audio front end: periodic (torch default) or symmetric. */
export function hannWindow(n: number, opts: CreateOptions & { periodic?: boolean } = {}): Tensor {
  checkOptions('hannWindow', opts, WINDOW_OPTIONS);
  return finish(
    wrap(
      N.hannWindow(checkInt('hannWindow', 'n', n), opts.periodic ?? true, dtypeCode(opts.dtype ?? 'float32'), checkDevice('hannWindow', opts.device ?? 'cpu')),
    ),
    opts,
  );
}
export function hammingWindow(n: number, opts: CreateOptions & { periodic?: boolean } = {}): Tensor {
  checkOptions('hammingWindow', opts, WINDOW_OPTIONS);
  return finish(
    wrap(
      N.hammingWindow(
        checkInt('hammingWindow', 'n', n),
        opts.periodic ?? true,
        dtypeCode(opts.dtype ?? 'float32'),
        checkDevice('hammingWindow', opts.device ?? 'cpu'),
      ),
    ),
    opts,
  );
}
export function blackmanWindow(n: number, opts: CreateOptions & { periodic?: boolean } = {}): Tensor {
  checkOptions('blackmanWindow', opts, WINDOW_OPTIONS);
  return finish(
    wrap(
      N.blackmanWindow(
        checkInt('blackmanWindow', 'n', n),
        opts.periodic ?? true,
        dtypeCode(opts.dtype ?? 'float32'),
        checkDevice('blackmanWindow', opts.device ?? 'cpu'),
      ),
    ),
    opts,
  );
}
