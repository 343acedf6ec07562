/**
 * Indexing methods: gather/scatter, masks, sorting, and Python-style multi-dimensional indexing.
 *
 * Index specs for `index(...)` / `indexAssign_(...)`, one per dimension, like Python's x[...]:
 *   number          select (negative counts from the end)      x[2]
 *   'a:b:c' string  slice with optional parts ('', ':', '::2')  x[1:-1]
 *   { start, end, step }  the same as an object
 *   '...'           as many full slices as needed               x[..., 0]
 *   number[]        advanced index by positions                 x[[0, 2]]
 *   null            a new axis of size 1                        x[None]
 *   Tensor          advanced index (int64 positions or bool mask)
 */
import { native as N, Id } from '../native/binding';
import { argError, TorchError } from './errors';
import { Tensor, wrap, tid } from './tensor';
import { ValuesIndices } from './ops_reduce';

export type SliceSpec = { start?: number | null; end?: number | null; step?: number };
export type IndexSpec = number | string | SliceSpec | null | Tensor | number[];

declare module './tensor' {
  interface Tensor {
    gather(dim: number, index: Tensor): Tensor;
    scatter(dim: number, index: Tensor, src: Tensor | number): Tensor;
    scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor;
    indexSelect(dim: number, index: Tensor): Tensor;
    maskedFill(mask: Tensor, value: number | boolean | Tensor): Tensor;
    maskedFill_(mask: Tensor, value: number | boolean): this;
    maskedSelect(mask: Tensor): Tensor;
    sort(dim?: number, descending?: boolean, opts?: { stable?: boolean }): ValuesIndices;
    argsort(dim?: number, descending?: boolean, opts?: { stable?: boolean }): Tensor;
    topk(k: number, dim?: number, largest?: boolean, sorted?: boolean): ValuesIndices;
    nonzero(): Tensor;
    /** x.index(...specs): Python's x[spec0, spec1, ...]. */
    index(...specs: IndexSpec[]): Tensor;
    /** x[spec0, ...] = value, in place (autograd-aware). Returns this. */
    indexAssign_(specs: IndexSpec[], value: Tensor | number): this;
    /** x.indexPut_([idx0, idx1, ...], values, accumulate) as torch.Tensor.index_put_. */
    indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate?: boolean): this;
  }
}

const P = Tensor.prototype;

function pair(ids: [Id, Id]): ValuesIndices {
  const v = wrap(ids[0]),
    i = wrap(ids[1]);
  return Object.assign([v, i] as [Tensor, Tensor], { values: v, indices: i });
}

P.gather = function (this: Tensor, dim: number, index: Tensor) {
  return wrap(N.gather(this.id, dim, tid(index, 'gather', 'index')));
};
P.scatter = function (this: Tensor, dim: number, index: Tensor, src: Tensor | number) {
  if (src instanceof Tensor) return wrap(N.scatter(this.id, dim, tid(index, 'scatter', 'index'), tid(src, 'scatter', 'src')));
  return wrap(N.scatterS(this.id, dim, tid(index, 'scatter', 'index'), src));
};
P.scatterAdd = function (this: Tensor, dim: number, index: Tensor, src: Tensor) {
  return wrap(N.scatterAdd(this.id, dim, tid(index, 'scatterAdd', 'index'), tid(src, 'scatterAdd', 'src')));
};
P.indexSelect = function (this: Tensor, dim: number, index: Tensor) {
  return wrap(N.indexSelect(this.id, dim, tid(index, 'indexSelect', 'index')));
};
P.maskedFill = function (this: Tensor, mask: Tensor, value: number | boolean | Tensor) {
  if (value instanceof Tensor) return wrap(N.maskedFillT(this.id, tid(mask, 'maskedFill', 'mask'), tid(value, 'maskedFill', 'value')));
  return wrap(N.maskedFill(this.id, tid(mask, 'maskedFill', 'mask'), value));
};
P.maskedFill_ = function (this: Tensor, mask: Tensor, value: number | boolean) {
  N.maskedFill_(this.id, tid(mask, 'maskedFill_', 'mask'), value);
  return this;
};
P.maskedSelect = function (this: Tensor, mask: Tensor) {
  return wrap(N.maskedSelect(this.id, tid(mask, 'maskedSelect', 'mask')));
};
P.sort = function (this: Tensor, dim = -1, descending = false, opts = {}) {
  return pair(N.sort(this.id, dim, descending, opts.stable ?? false));
};
P.argsort = function (this: Tensor, dim = -1, descending = false, opts = {}) {
  return wrap(N.argsort(this.id, dim, descending, opts.stable ?? false));
};
P.topk = function (this: Tensor, k: number, dim = -1, largest = true, sorted = true) {
  return pair(N.topk(this.id, k, dim, largest, sorted));
};
P.nonzero = function (this: Tensor) {
  return wrap(N.nonzero(this.id));
};

function isSliceSpec(s: unknown): s is SliceSpec {
  if (s === null || typeof s !== 'object' || Object.getPrototypeOf(s) !== Object.prototype) return false;
  for (const [k, v] of Object.entries(s)) {
    if (k !== 'start' && k !== 'end' && k !== 'step') return false;
    if (v !== null && v !== undefined && !Number.isSafeInteger(v)) return false;
  }
  return true;
}

function parseSlice(s: string): SliceSpec {
  const m = /^\s*(-?\d*)\s*:\s*(-?\d*)\s*(?::\s*(\d*)\s*)?$/.exec(s);
  if (!m) argError('index', 'spec', "a slice string like '1:5', ':', '::2' or '...'", s);
  const num = (x: string | undefined) => (x === undefined || x === '' ? null : Number(x));
  return { start: num(m[1]), end: num(m[2]), step: num(m[3]) ?? 1 };
}

/**
 * Applies the basic part of an index (selects, slices, new axes) and returns the resulting view's id
 * plus the advanced indices aligned with the view's dimensions. `temps` collects intermediate ids.
 */
function basicIndex(x: Tensor, specs: IndexSpec[], temps: Id[]): { id: Id; advanced: (Id | null)[] } {
  const ndim = x.ndim;
  const consumed = specs.filter((s) => s !== null && s !== '...').length;
  const ellipses = specs.filter((s) => s === '...').length;
  if (ellipses > 1) argError('index', 'specs', "at most one '...'", specs);
  if (consumed > ndim) throw new TorchError(`index: too many indices (${consumed}) for a tensor of ${ndim} dimensions`, 'ERR_INDEX');
  let id = x.id;
  let dim = 0;
  const advanced: (Id | null)[] = [];
  const step = (next: Id) => {
    temps.push(next);
    id = next;
  };
  for (const s of specs) {
    if (s === '...') {
      const n = ndim - consumed;
      for (let k = 0; k < n; k++) advanced.push(null);
      dim += n;
    } else if (s === null) {
      step(N.unsqueeze(id, dim));
      advanced.push(null);
      dim++;
    } else if (typeof s === 'number') {
      step(N.select(id, dim, s));
    } else if (s instanceof Tensor) {
      advanced.push(s.id);
      dim++;
    } else if (Array.isArray(s)) {
      // x[[0, 2]]: a list of integers is an advanced index, as in Python
      if (!s.every((v) => Number.isSafeInteger(v))) argError('index', 'spec', 'an array of integers', s);
      const t = N.fromBuffer(
        BigInt64Array.from(s as number[], (v) => BigInt(v)),
        4,
        [s.length],
        N.device(x.id),
      );
      temps.push(t);
      advanced.push(t);
      dim++;
    } else {
      const sl = typeof s === 'string' ? parseSlice(s) : (s as SliceSpec);
      if (!isSliceSpec(sl)) argError('index', 'spec', 'a number, slice string or {start, end, step}, null, "...", integer array or Tensor', s);
      step(N.slice(id, dim, sl.start ?? null, sl.end ?? null, sl.step ?? 1));
      advanced.push(null);
      dim++;
    }
  }
  return { id, advanced };
}

P.index = function (this: Tensor, ...specs: IndexSpec[]) {
  const temps: Id[] = [];
  try {
    const { id, advanced } = basicIndex(this, specs, temps);
    if (advanced.some((a) => a !== null)) return wrap(N.index(id, trimTrailing(advanced)));
    temps.pop();
    return wrap(id === this.id ? N.view(id, this.shape) : id);
  } finally {
    for (const t of temps) N.dispose(t);
  }
};

function trimTrailing(adv: (Id | null)[]): (Id | null)[] {
  let n = adv.length;
  while (n > 0 && adv[n - 1] === null) n--;
  return adv.slice(0, n);
}

P.indexAssign_ = function (this: Tensor, specs: IndexSpec[], value: Tensor | number) {
  if (!Array.isArray(specs)) argError('indexAssign_', 'specs', 'an array of index specs', specs);
  if (!(value instanceof Tensor) && typeof value !== 'number' && typeof value !== 'boolean') {
    argError('indexAssign_', 'value', 'a Tensor or number', value);
  }
  const temps: Id[] = [];
  try {
    const { id, advanced } = basicIndex(this, specs, temps);
    let valueId: Id;
    if (value instanceof Tensor) valueId = tid(value, 'indexAssign_', 'value');
    else {
      valueId = N.scalarTensor(value, N.dtype(this.id), N.device(this.id));
      temps.push(valueId);
    }
    if (advanced.some((a) => a !== null)) N.indexPut_(id, trimTrailing(advanced), valueId, false);
    else N.copy_(id, valueId, false);
    return this;
  } finally {
    for (const t of temps) N.dispose(t);
  }
};

P.indexPut_ = function (this: Tensor, indices: (Tensor | null)[], values: Tensor, accumulate = false) {
  if (!Array.isArray(indices)) argError('indexPut_', 'indices', 'an array of Tensors or null', indices);
  N.indexPut_(
    this.id,
    indices.map((t, k) => (t === null || t === undefined ? null : tid(t, 'indexPut_', `indices[${k}]`))),
    tid(values, 'indexPut_', 'values'),
    accumulate,
  );
  return this;
};
