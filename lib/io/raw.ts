/**
 * The neutral intermediate representation of checkpoint contents.
 *
 * The I/O layer never touches the Tensor class: readers produce, and writers consume, a tree of
 * plain JS values whose tensor leaves are {@link RawTensor}s. Tensors that share memory in the file
 * share one {@link RawStorage} object, so views survive a round trip.
 *
 * Python value  -> JS value in the tree
 * - dict                  -> `Map` (insertion order kept; keys may be strings, numbers, tuples...)
 * - collections.OrderedDict -> {@link PyOrderedDict} (a `Map`; `attributes` holds `_metadata`)
 * - list                  -> mutable array
 * - tuple, torch.Size     -> frozen array (`Object.isFrozen(x)`; see {@link tuple})
 * - int                   -> number, or bigint outside the safe-integer range
 * - float                 -> number
 * - str / bytes           -> string / Uint8Array
 * - None / bool           -> null / boolean
 * - set, frozenset        -> Set
 * - tensor / nn.Parameter -> RawTensor (`isParameter` set for parameters)
 * - bare storage          -> RawStorage
 * When writing, plain objects `{}` are written as dicts as well.
 */

import { constants as bufferConstants } from 'buffer';
import { CheckpointError, corrupt, unsupported } from './errors';

const MAX_BUFFER = bufferConstants.MAX_LENGTH;

/** Element types a checkpoint may hold (PyTorch names without the `torch.` prefix). */
export type RawDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** Per-dtype facts: bytes per element and the names used by PyTorch pickles and safetensors. */
export interface DTypeInfo {
  /** bytes per element */
  readonly itemsize: number;
  /** PyTorch legacy storage class, e.g. `FloatStorage` (pickled as `torch.FloatStorage`) */
  readonly storage: string;
  /** safetensors dtype tag, e.g. `F32` */
  readonly safetensors: string;
}

export const DTYPE_INFO: Readonly<Record<RawDType, DTypeInfo>> = Object.freeze({
  float32: { itemsize: 4, storage: 'FloatStorage', safetensors: 'F32' },
  float64: { itemsize: 8, storage: 'DoubleStorage', safetensors: 'F64' },
  float16: { itemsize: 2, storage: 'HalfStorage', safetensors: 'F16' },
  bfloat16: { itemsize: 2, storage: 'BFloat16Storage', safetensors: 'BF16' },
  int64: { itemsize: 8, storage: 'LongStorage', safetensors: 'I64' },
  int32: { itemsize: 4, storage: 'IntStorage', safetensors: 'I32' },
  int16: { itemsize: 2, storage: 'ShortStorage', safetensors: 'I16' },
  int8: { itemsize: 1, storage: 'CharStorage', safetensors: 'I8' },
  uint8: { itemsize: 1, storage: 'ByteStorage', safetensors: 'U8' },
  bool: { itemsize: 1, storage: 'BoolStorage', safetensors: 'BOOL' },
});

export const RAW_DTYPES = Object.freeze(Object.keys(DTYPE_INFO) as RawDType[]);

/** `FloatStorage` -> `float32`; undefined for unknown names. */
export function dtypeFromStorageName(name: string): RawDType | undefined {
  for (const d of RAW_DTYPES) if (DTYPE_INFO[d].storage === name) return d;
  return undefined;
}

/** `F32` -> `float32`; undefined for unknown tags. */
export function dtypeFromSafetensors(tag: string): RawDType | undefined {
  for (const d of RAW_DTYPES) if (DTYPE_INFO[d].safetensors === tag) return d;
  return undefined;
}

export function isRawDType(x: unknown): x is RawDType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_INFO, x);
}

/** Most dimensions a tensor may have (anything above is treated as corrupt). */
export const MAX_DIMS = 64;

/**
 * One flat buffer of `numel` elements of `dtype` (little-endian), as stored in a checkpoint.
 * `bytes.length === numel * itemsize` once loaded.
 */
export class RawStorage {
  /** archive key (`data/<key>` in a zip checkpoint); writers assign their own keys */
  key: string;
  readonly dtype: RawDType;
  /** number of elements */
  readonly numel: number;
  /** where PyTorch had it: `cpu`, `cuda:0`, ... */
  location: string;
  private _bytes: Uint8Array;

  constructor(key: string, dtype: RawDType, numel: number, bytes: Uint8Array | null, location = 'cpu') {
    if (!Number.isSafeInteger(numel) || numel < 0) corrupt(`storage '${key}': invalid element count ${numel}`);
    this.key = key;
    this.dtype = dtype;
    this.numel = numel;
    this.location = location;
    this._bytes = new Uint8Array(0);
    if (bytes) this.bytes = bytes;
  }

  /** `numel * itemsize` */
  get nbytes(): number {
    return this.numel * DTYPE_INFO[this.dtype].itemsize;
  }

  /** The raw little-endian bytes; assigning checks the length against `nbytes`. */
  get bytes(): Uint8Array {
    return this._bytes;
  }
  set bytes(b: Uint8Array) {
    this.checkLength(b);
    this._bytes = b;
  }

  /**
   * Writers only: produces the bytes on demand (called once, when the storage is written), so that
   * a large model is copied to the host one storage at a time. Used when `bytes` is not set.
   */
  provider?: () => Uint8Array;

  /** true once `bytes` holds the data (always, unless a reader ran with `keepBytes: false`) */
  get loaded(): boolean {
    return this._bytes.length === this.nbytes;
  }

  /** Throws `ERR_CHECKPOINT_CORRUPT` unless `b` has exactly `nbytes` bytes. */
  checkLength(b: Uint8Array): void {
    if (b.length !== this.nbytes) {
      corrupt(`storage '${this.key}' (${this.dtype}, ${this.numel} elements) needs ${this.nbytes} bytes, got ${b.length}`);
    }
  }
}

/** Options shared by the readers for receiving storage data as it is read. */
export interface StorageReadHooks {
  /**
   * Called once per storage right after its bytes are read (in file order), e.g. to turn them
   * into a device tensor while the next storage is read.
   */
  onStorage?: (storage: RawStorage, bytes: Uint8Array, view?: StorageViewOf) => void | Promise<void>;
  /**
   * Keep the bytes on `storage.bytes` (default true). With false they can be freed once
   * `onStorage` returns, so a large file is never held whole; `storage.loaded` stays false.
   */
  keepBytes?: boolean;
  /**
   * Supplies the memory a storage's bytes are read into: exactly `storage.nbytes` bytes (e.g. a
   * view of a freshly allocated tensor), or undefined to let the reader allocate. It is called
   * before the storage is read, in file order (possibly while the previous storage is still being
   * checked); the same memory is then passed to `onStorage`. File bytes are read (or inflated)
   * straight into it, with the same validation as otherwise; if reading fails, the memory is simply
   * not delivered.
   */
  allocStorage?: (storage: RawStorage) => Uint8Array | undefined;
}

/**
 * Passed to `onStorage` for a storage that is a slice of another (legacy-format storage views):
 * its bytes are those of `root` from element `offset` on, and `root` was delivered before.
 */
export interface StorageViewOf {
  root: RawStorage;
  /** first element of the slice, in elements of the root */
  offset: number;
}

/** Hands freshly read `bytes` of `storage` to the hooks (length-checked). */
export async function deliverStorage(storage: RawStorage, bytes: Uint8Array, hooks: StorageReadHooks, view?: StorageViewOf): Promise<void> {
  storage.checkLength(bytes);
  if (hooks.keepBytes !== false) storage.bytes = bytes;
  if (hooks.onStorage) await (view ? hooks.onStorage(storage, bytes, view) : hooks.onStorage(storage, bytes));
}

/** The caller's memory for `storage` (see {@link StorageReadHooks.allocStorage}), length-checked, or undefined. */
export function storageTarget(storage: RawStorage, hooks: StorageReadHooks): Uint8Array | undefined {
  if (!hooks.allocStorage) return undefined;
  const dest = hooks.allocStorage(storage);
  if (dest === undefined) return undefined;
  if (!(dest instanceof Uint8Array) || dest.length !== storage.nbytes) {
    throw new CheckpointError(
      `allocStorage gave ${dest instanceof Uint8Array ? `${dest.length} bytes` : typeof dest} for storage '${storage.key}', which needs ${storage.nbytes}`,
      'ERR_CHECKPOINT_INVALID',
    );
  }
  return dest;
}

/** Row-major strides for `shape`. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= Math.max(shape[i], 1);
  }
  return stride;
}

/** Product of `shape` (1 for a 0-d shape). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

function isIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Checks that a view (`shape`, `stride`, `offset`, all in elements) stays inside a storage of
 * `storageNumel` elements, the way `Tensor.set_` does. Throws `ERR_CHECKPOINT_CORRUPT` naming `what`.
 * Sizes, strides and the offset must be non-negative safe integers.
 */
export function checkView(what: string, shape: readonly unknown[], stride: readonly unknown[], offset: unknown, storageNumel: number): void {
  if (shape.length > MAX_DIMS) corrupt(`${what}: ${shape.length} dimensions (at most ${MAX_DIMS})`);
  if (stride.length !== shape.length) corrupt(`${what}: size has ${shape.length} dims but stride has ${stride.length}`);
  if (!isIndex(offset)) corrupt(`${what}: invalid storage offset ${String(offset)}`);
  let numel = 1;
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    const n = shape[i];
    const s = stride[i];
    if (!isIndex(n)) corrupt(`${what}: invalid size ${String(n)} in dim ${i}`);
    if (!isIndex(s)) corrupt(`${what}: invalid stride ${String(s)} in dim ${i}`);
    numel *= n;
    if (n > 0) last += (n - 1) * s;
  }
  if (!Number.isSafeInteger(numel)) corrupt(`${what}: shape [${shape.join(', ')}] has too many elements`);
  if (numel === 0) return; // an empty view never touches memory (PyTorch skips the check too)
  if (!Number.isSafeInteger(last) || last >= storageNumel) {
    corrupt(
      `${what}: view (size [${shape.join(', ')}], stride [${stride.join(', ')}], offset ${offset}) ` +
        `reaches element ${last} of a storage with ${storageNumel} elements`,
    );
  }
}

/** Options of the {@link RawTensor} constructor. */
export interface RawTensorInit {
  storage: RawStorage;
  shape: readonly number[];
  /** element strides; default row-major contiguous */
  stride?: readonly number[];
  /** first element, in elements; default 0 */
  storageOffset?: number;
  requiresGrad?: boolean;
  /** pickled as `torch.nn.Parameter` (`_rebuild_parameter`) */
  isParameter?: boolean;
}

/**
 * A strided view into a {@link RawStorage}: element `(i0, i1, ...)` lives at storage element
 * `storageOffset + sum(ik * stride[k])`. The view is bounds-checked on construction.
 */
export class RawTensor {
  readonly storage: RawStorage;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly storageOffset: number;
  requiresGrad: boolean;
  isParameter: boolean;

  constructor(init: RawTensorInit) {
    const stride = init.stride ?? contiguousStrides(init.shape);
    const offset = init.storageOffset ?? 0;
    checkView(`tensor on storage '${init.storage.key}'`, init.shape, stride, offset, init.storage.numel);
    this.storage = init.storage;
    this.shape = Object.freeze([...init.shape]);
    this.stride = Object.freeze([...stride]);
    this.storageOffset = offset;
    this.requiresGrad = init.requiresGrad ?? false;
    this.isParameter = init.isParameter ?? false;
  }

  /** A tensor owning a fresh storage that holds `bytes` (row-major, little-endian). */
  static fromBytes(dtype: RawDType, shape: readonly number[], bytes: Uint8Array, location = 'cpu'): RawTensor {
    const storage = new RawStorage('', dtype, numelOf(shape), bytes, location);
    return new RawTensor({ storage, shape });
  }

  get dtype(): RawDType {
    return this.storage.dtype;
  }

  get numel(): number {
    return numelOf(this.shape);
  }

  /** true when the elements are laid out row-major without gaps (sizes of 1 may have any stride). */
  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      const n = this.shape[i];
      if (n === 0) return true;
      if (n !== 1 && this.stride[i] !== expected) return false;
      expected *= n;
    }
    return true;
  }

  /**
   * The tensor's elements as row-major bytes. Shares memory with the storage when the view is
   * already contiguous; otherwise gathers into a new buffer.
   */
  contiguousBytes(): Uint8Array {
    const item = DTYPE_INFO[this.dtype].itemsize;
    const numel = this.numel;
    const src = this.storage.bytes;
    if (numel === 0) return new Uint8Array(0);
    if (numel * item > MAX_BUFFER) {
      unsupported(`tensor of shape [${this.shape.join(', ')}] (${numel * item} bytes) is too large to copy into one buffer`);
    }
    if (this.isContiguous()) {
      const start = this.storageOffset * item;
      return src.subarray(start, start + numel * item);
    }
    // Merge the innermost run of dims that are contiguous into one block copied at once.
    const nd = this.shape.length;
    let inner = nd;
    let block = 1;
    while (inner > 0) {
      const d = inner - 1;
      if (this.shape[d] !== 1 && this.stride[d] !== block) break;
      block *= this.shape[d];
      inner = d;
    }
    const out = new Uint8Array(numel * item);
    const blockBytes = block * item;
    const idx = new Array<number>(inner).fill(0);
    let pos = 0;
    let srcElem = this.storageOffset;
    for (;;) {
      const b = srcElem * item;
      if (blockBytes === item) {
        for (let k = 0; k < item; k++) out[pos + k] = src[b + k];
      } else {
        out.set(src.subarray(b, b + blockBytes), pos);
      }
      pos += blockBytes;
      let d = inner - 1;
      while (d >= 0) {
        idx[d]++;
        srcElem += this.stride[d];
        if (idx[d] < this.shape[d]) break;
        srcElem -= idx[d] * this.stride[d];
        idx[d] = 0;
        d--;
      }
      if (d < 0) break;
    }
    return out;
  }
}

/** Python dict key: strings, numbers, bools, None, bytes and tuples of those. */
export type RawKey = string | number | bigint | boolean | null | Uint8Array | readonly RawValue[];

/** A value in a checkpoint tree (see the module comment for the Python correspondence). */
export type RawValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | RawTensor
  | RawStorage
  | RawValue[]
  | readonly RawValue[]
  | Map<RawKey, RawValue>
  | Set<RawValue>
  | { [key: string]: RawValue };

/**
 * A `collections.OrderedDict`. `attributes` holds instance attributes set by a pickle BUILD,
 * e.g. `_metadata` (per-module versions) on a state dict; it is written back unchanged.
 */
export class PyOrderedDict<K = RawKey, V = RawValue> extends Map<K, V> {
  declare attributes?: Map<RawKey, RawValue>;
}

/** A Python tuple: a frozen array. */
export function tuple(...items: RawValue[]): readonly RawValue[] {
  return Object.freeze(items);
}

/** true for arrays that stand for Python tuples (frozen arrays). */
export function isTuple(x: unknown): x is readonly RawValue[] {
  return Array.isArray(x) && Object.isFrozen(x);
}
