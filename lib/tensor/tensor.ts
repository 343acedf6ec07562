/**
 * The Tensor class: a JS handle on one at::Tensor living in the native handle table.
 *
 * Lifetime is explicit: `dispose()` (idempotent), `torch.tidy(fn)` and `torch.keep(t)` (scope.ts).
 * Using a disposed tensor throws ERR_TENSOR_DISPOSED. Tensors created outside any tidy scope that are
 * still alive when the current task ends get a FinalizationRegistry entry as a safety net; V8 runs it
 * late and cannot see GPU memory, so do not rely on it. Op methods are added by ops_*.ts (declaration
 * merging keeps each file to one concern).
 */
import { native as N, Id } from '../native/binding';
import { DType, DTYPES, dtypeCode, hostArray, HostArray, checkDevice } from './dtype';
import { TorchError, argError } from './errors';

/** Open tidy scopes (mirrors the native scope stack; only used to decide leak-net registration). */
export const scopeState = { depth: 0 };

const leakNet = new FinalizationRegistry<Id>((id) => {
  N.dispose(id);
});

/**
 * Leak-net registration is deferred to the end of the current task: registering costs ~0.15 µs per
 * tensor (as much as the rest of the JS wrapper), while most unscoped results are disposed within the
 * task that made them. A finalizer could not run before the task ends anyway, so nothing is lost.
 */
let pending: Tensor[] = [];
let flushScheduled = false;
/** Registers the pending tensors that are still alive and forgets the rest. */
function registerPending(): void {
  const list = pending;
  pending = [];
  for (const t of list) if (N.isLive(t.id)) leakNet.register(t, t.id);
}
function flushLeakNet(): void {
  flushScheduled = false;
  registerPending();
}
/** A long synchronous loop flushes every PENDING_MAX tensors, so the list never pins many wrappers. */
const PENDING_MAX = 4096;

export class Tensor {
  /** The native handle. */
  readonly id: Id;
  private cachedShape?: number[];
  private cachedDtype?: DType;

  constructor(id: Id) {
    this.id = id;
    if (scopeState.depth === 0) {
      if (pending.push(this) >= PENDING_MAX) registerPending();
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushLeakNet).unref();
      }
    }
  }

  /**
   * The cached sizes (no op changes a tensor's shape in place). A disposed tensor goes to the native
   * side again, which throws ERR_TENSOR_DISPOSED.
   */
  private dims(): number[] {
    if (this.cachedShape === undefined || !N.isLive(this.id)) this.cachedShape = N.shape(this.id);
    return this.cachedShape;
  }

  /** Sizes of each dimension (a fresh array). */
  get shape(): number[] {
    return this.dims().slice();
  }
  get dtype(): DType {
    if (this.cachedDtype === undefined || !N.isLive(this.id)) this.cachedDtype = DTYPES[N.dtype(this.id)];
    return this.cachedDtype;
  }
  /** 'cpu' or 'cuda:N' */
  get device(): string {
    const d = N.device(this.id);
    return d === 'cuda' ? 'cuda:0' : d;
  }
  get ndim(): number {
    return this.dims().length;
  }
  dim(): number {
    return this.ndim;
  }
  numel(): number {
    return N.numel(this.id);
  }
  /** size() -> shape; size(d) -> the size of dimension d (negative counts from the end). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number[] | number {
    const s = this.dims();
    if (dim === undefined) return s.slice();
    const d = dim < 0 ? dim + s.length : dim;
    if (!Number.isInteger(d) || d < 0 || d >= s.length) argError('size', 'dim', `an integer in [${-s.length}, ${s.length})`, dim);
    return s[d];
  }
  stride(): number[] {
    return N.strides(this.id);
  }
  storageOffset(): number {
    return N.storageOffset(this.id);
  }
  isContiguous(): boolean {
    return N.isContiguous(this.id);
  }
  get isDisposed(): boolean {
    return !N.isLive(this.id);
  }

  /** Frees the native tensor now. Idempotent. */
  dispose(): void {
    N.dispose(this.id);
  }

  // ---- autograd -------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return N.requiresGrad(this.id);
  }
  set requiresGrad(flag: boolean) {
    N.requiresGrad_(this.id, !!flag);
  }
  requiresGrad_(flag = true): this {
    N.requiresGrad_(this.id, flag);
    return this;
  }
  /** The accumulated gradient, or undefined (PyTorch's None). Each read returns a new handle. */
  get grad(): Tensor | undefined {
    const g = N.grad(this.id);
    return g === null ? undefined : new Tensor(g);
  }
  set grad(g: Tensor | undefined | null) {
    N.setGrad(this.id, optTid(g, 'grad', 'value'));
  }
  get isLeaf(): boolean {
    return N.isLeaf(this.id);
  }
  get gradFn(): string | null {
    return N.gradFnName(this.id) || null;
  }
  /** Accumulates gradients into the leaves. `grad` is required for non-scalar outputs. */
  backward(grad?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    N.backward(this.id, optTid(grad, 'backward', 'grad'), !!opts.retainGraph, !!opts.createGraph);
  }
  retainGrad(): this {
    N.retainGrad(this.id);
    return this;
  }
  detach(): Tensor {
    return new Tensor(N.detach(this.id));
  }
  detach_(): this {
    N.detach_(this.id);
    return this;
  }
  /** Makes this handle refer to src's data, dtype and device (torch's `param.data = src`): identity,
   *  requires-grad flag and everything that references this tensor (optimizers) stay. */
  setData_(src: Tensor): this {
    N.setData_(this.id, tid(src, 'setData_', 'src'));
    this.cachedShape = undefined;
    this.cachedDtype = undefined;
    return this;
  }

  // ---- host data ------------------------------------------------------------------------------
  /** A host copy of the elements, flattened in C order. float16/bfloat16 are widened to float32. */
  toArray(): HostArray {
    const d = this.dtype;
    if (d === 'float16' || d === 'bfloat16') {
      const wide = N.toDtype(this.id, 0, false);
      try {
        return new Float32Array(N.toBuffer(wide));
      } finally {
        N.dispose(wide);
      }
    }
    return hostArray(d, N.toBuffer(this.id));
  }
  /** Raw little-endian bytes of the elements (contiguous, host). */
  toBuffer(): Uint8Array {
    return new Uint8Array(N.toBuffer(this.id));
  }
  /** Nested JS arrays (numbers; int64 as numbers, bool as booleans). */
  tolist(): unknown {
    const flat = Array.from(this.toArray() as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v));
    const vals: unknown[] = this.dtype === 'bool' ? flat.map((v) => v !== 0) : flat;
    const shape = this.shape;
    if (shape.length === 0) return vals[0];
    const build = (dim: number, offset: number, stride: number): unknown[] => {
      const out: unknown[] = [];
      const inner = stride / shape[dim];
      for (let i = 0; i < shape[dim]; i++) {
        out.push(dim === shape.length - 1 ? vals[offset + i] : build(dim + 1, offset + i * inner, inner));
      }
      return out;
    };
    return build(0, 0, vals.length);
  }
  /** The value of a one-element tensor. */
  item(): number {
    return N.item(this.id);
  }

  // ---- conversion -----------------------------------------------------------------------------
  /** to('cuda:0' | 'cpu' | dtype, { nonBlocking, copy }) */
  to(target: DType | string, opts: { nonBlocking?: boolean; copy?: boolean } = {}): Tensor {
    if (typeof target !== 'string') argError('to', 'target', 'a device or dtype string', target);
    if (/^(cpu|cuda(:\d+)?|meta)$/.test(target)) {
      return new Tensor(N.toDevice(this.id, checkDevice('to', target), !!opts.nonBlocking, !!opts.copy));
    }
    return new Tensor(N.toDtype(this.id, dtypeCode(target, 'to'), !!opts.copy));
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  cuda(device = 0): Tensor {
    return this.to(`cuda:${device}`);
  }
  float(): Tensor {
    return this.to('float32');
  }
  half(): Tensor {
    return this.to('float16');
  }
  bfloat16(): Tensor {
    return this.to('bfloat16');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  clone(): Tensor {
    return new Tensor(N.clone(this.id));
  }
  contiguous(): Tensor {
    return new Tensor(N.contiguous(this.id));
  }
  pinMemory(): Tensor {
    return new Tensor(N.pinMemory(this.id));
  }

  toString(): string {
    return N.isLive(this.id) ? `Tensor(${N.describe(this.id)})` : 'Tensor(disposed)';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    if (!N.isLive(this.id)) return 'Tensor(disposed)';
    const n = this.numel();
    const body = n <= 20 ? ` ${JSON.stringify(this.tolist())}` : '';
    return `Tensor(${N.describe(this.id)}${this.requiresGrad ? ', requiresGrad' : ''})${body}`;
  }
}

/** The id of a Tensor argument; anything else (undefined, numbers, strings, plain objects) is a
 *  TorchError ERR_INVALID_ARG naming the function and the argument. */
export function tid(x: unknown, fn: string, arg: string): Id {
  if (x instanceof Tensor) return x.id;
  return argError(fn, arg, 'a Tensor', x);
}

/** The same for optional arguments: null and undefined give null. */
export function optTid(x: unknown, fn: string, arg: string): Id | null {
  if (x === null || x === undefined) return null;
  if (x instanceof Tensor) return x.id;
  return argError(fn, arg, 'a Tensor or null', x);
}

/** Wraps a fresh native id. */
export function wrap(id: Id): Tensor {
  return new Tensor(id);
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

/** Validates a Tensor argument. */
export function checkTensor(fn: string, arg: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) argError(fn, arg, 'a Tensor', x);
  return x as Tensor;
}

export { TorchError };
