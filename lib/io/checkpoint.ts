/**
 * `torch.load` / `torch.save` on Tensors, built on the raw checkpoint layer.
 *
 * load(file, { mapLocation }) reads a zip or legacy `torch.save` file or a safetensors file and
 * returns the object with Tensor leaves:
 * - a state dict -> `Map<string, Tensor>` (a {@link PyOrderedDict} when the file had an
 *   OrderedDict; its `attributes` keep `_metadata`)
 * - nested checkpoints `{ model, optimizer, epoch, ... }` -> `Map`s of plain JS values: numbers,
 *   bigint (ints beyond 2^53), strings, booleans, null, Uint8Array (bytes), arrays (lists), frozen
 *   arrays (tuples), Sets
 * Tensors that share a storage in the file become views (`asStrided`) of one base tensor, so they
 * still share memory; strides and offsets are those of the file. A storage bound for the CPU is
 * allocated as an empty tensor (`torch.empty([numel], { dtype })`) and the file bytes are read, or
 * inflated, straight into its memory (`hostView`), with every check (CRC-32 included) done there:
 * no intermediate copy, so peak host memory is that of the loaded tensors plus small buffers. That
 * memory is first advised into transparent huge pages (`adviseHugePages`: filling fresh memory is
 * mostly page faults).
 * A storage bound for a GPU goes through one host buffer, released before the next is read.
 *
 * save(obj, file) writes the zip `torch.save` format, readable by Python's
 * `torch.load(file, weights_only=True)`, atomically. Tensors that share a LibTorch storage are
 * written as views of one storage, as PyTorch does. CPU storages are written from the tensors' own
 * memory; others are copied to the host one storage at a time while writing. A top-level Map whose
 * values are all tensors is written as an OrderedDict (what `model.state_dict()` is in PyTorch).
 */

import { torch, Tensor } from '../tensor';
import { native } from '../native/binding';
import { CheckpointError, corrupt, invalid } from './errors';
import { readCheckpointRawFile, writeCheckpointRaw, writeSafetensorsRaw, type WriteCheckpointOptions } from './checkpoint_raw';
import {
  DTYPE_INFO,
  PyOrderedDict,
  RawStorage,
  RawTensor,
  contiguousStrides,
  isRawDType,
  isTuple,
  numelOf,
  type RawDType,
  type RawKey,
  type RawValue,
} from './raw';

/**
 * Where tensors go: a device for all (`'cpu'`, `'cuda:0'`), a function from the saved location
 * (`'cpu'`, `'cuda:1'`, ...) to a device, or a table `{ 'cuda:1': 'cuda:0' }` (unlisted locations
 * stay). Default: the saved location, as PyTorch does.
 */
export type MapLocation = string | ((location: string) => string) | Record<string, string>;

export interface LoadOptions {
  mapLocation?: MapLocation;
  /** verify zip CRC-32s (default true) */
  verifyCrc?: boolean;
  /** files up to this size (bytes) are read with one read first, larger ones storage by storage (default 32 MiB) */
  wholeFileLimit?: number;
}

const DEVICE_RE = /^(cpu|cuda(:\d+)?)$/;
const FLOAT_DTYPES: ReadonlySet<RawDType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);

function resolver(map: MapLocation | undefined): (location: string) => string {
  const norm = (d: string): string => (d === 'cuda' ? 'cuda:0' : d);
  let f: (location: string) => string;
  if (map === undefined) f = (loc) => loc;
  else if (typeof map === 'string') f = () => map;
  else if (typeof map === 'function') f = map;
  else if (map !== null && typeof map === 'object') f = (loc) => (Object.prototype.hasOwnProperty.call(map, loc) ? map[loc] : loc);
  else invalid(`load: mapLocation must be a device string, a function or a table, got ${typeof map}`);
  return (location) => {
    const d = f(location);
    if (typeof d !== 'string' || !DEVICE_RE.test(d)) {
      if (map === undefined) {
        throw new CheckpointError(
          `load: the checkpoint holds tensors saved on '${location}', which is not available here; pass { mapLocation: 'cpu' }`,
          'ERR_CHECKPOINT_DEVICE',
        );
      }
      invalid(`load: mapLocation gave ${JSON.stringify(d)} for location '${location}' (expected 'cpu' or 'cuda[:N]')`);
    }
    const dev = norm(d);
    if (dev.startsWith('cuda')) {
      const index = Number(dev.slice(5));
      if (!torch.cuda.isAvailable()) {
        throw new CheckpointError(
          `load: tensors are to be placed on ${dev} (saved on '${location}') but CUDA is not available; ` +
            "pass { mapLocation: 'cpu' } to load them on the CPU",
          'ERR_CHECKPOINT_DEVICE',
        );
      }
      if (index >= torch.cuda.deviceCount()) {
        throw new CheckpointError(`load: ${dev} does not exist (${torch.cuda.deviceCount()} CUDA devices)`, 'ERR_CHECKPOINT_DEVICE');
      }
    }
    return dev;
  };
}

/** A storage as loaded: the tensor holding it, and where its elements start (legacy slices). */
interface Base {
  t: Tensor;
  offset: number;
}

/**
 * An empty CPU tensor for `s` and a byte view of it for the reader to fill, or undefined when its
 * memory cannot be exposed (an empty storage, or a runtime without external ArrayBuffers).
 */
function allocHost(s: RawStorage): { t: Tensor; view: Uint8Array } | undefined {
  if (s.nbytes === 0) return undefined;
  const t = torch.empty([s.numel], { dtype: s.dtype });
  try {
    native.adviseHugePages(t.id); // the read is this memory's first write: fewer page faults
    return { t, view: new Uint8Array(native.hostView(t.id)) };
  } catch {
    t.dispose();
    return undefined;
  }
}

/**
 * Loads a checkpoint (see the module comment). The type parameter only names what the caller
 * expects at the root; a state dict file gives `Map<string, Tensor>`.
 */
export async function load<T = Map<string, Tensor>>(file: string | Uint8Array, opts: LoadOptions = {}): Promise<T> {
  const resolve = resolver(opts.mapLocation);
  const bases = new Map<RawStorage, Base>();
  /** CPU tensors allocated for storages being read, not yet delivered */
  const staged = new Map<RawStorage, Tensor>();
  const kept = new Set<Tensor>();
  const made: Tensor[] = [];
  try {
    const { value } = await readCheckpointRawFile(file, {
      verifyCrc: opts.verifyCrc,
      wholeFileLimit: opts.wholeFileLimit,
      keepBytes: false,
      // CPU storages are read straight into their tensors; others go through a host buffer.
      allocStorage: (s) => {
        if (resolve(s.location) !== 'cpu') return undefined;
        const h = allocHost(s);
        if (!h) return undefined;
        staged.set(s, h.t);
        return h.view;
      },
      onStorage: (s, bytes, view) => {
        const root = view && bases.get(view.root);
        if (root) {
          bases.set(s, { t: root.t, offset: root.offset + view.offset });
          return;
        }
        const device = resolve(s.location);
        const t = staged.get(s);
        if (t) {
          staged.delete(s);
          bases.set(s, { t, offset: 0 });
          return;
        }
        bases.set(s, { t: torch.fromBuffer(bytes, s.dtype, [s.numel], { device }), offset: 0 });
      },
    });
    const memo = new Map<unknown, unknown>();
    const conv = (x: RawValue): unknown => {
      if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return x;
      if (memo.has(x)) return memo.get(x);
      if (x instanceof RawTensor) {
        const base = bases.get(x.storage);
        if (!base) invalid('load: a tensor refers to a storage that was not read');
        const t = base.t.asStrided([...x.shape], [...x.stride], base.offset + x.storageOffset);
        made.push(t);
        if (x.requiresGrad) {
          // PyTorch refuses this too ("only Tensors of floating point dtype can require gradients")
          if (!FLOAT_DTYPES.has(x.dtype)) corrupt(`load: a ${x.dtype} tensor is marked requires_grad, which only floating-point tensors can be`);
          t.requiresGrad_(true);
        }
        memo.set(x, t);
        return t;
      }
      if (x instanceof RawStorage) {
        const base = bases.get(x);
        if (!base) invalid('load: a storage was not read');
        let t = base.t;
        if (base.offset !== 0 || t.numel() !== x.numel) {
          t = t.asStrided([x.numel], [1], base.offset);
          made.push(t);
        } else {
          kept.add(t);
        }
        memo.set(x, t);
        return t;
      }
      if (Array.isArray(x)) {
        const out: unknown[] = [];
        memo.set(x, out);
        for (const v of x) out.push(conv(v));
        return isTuple(x) ? Object.freeze(out) : out;
      }
      if (x instanceof Map) {
        const out = x instanceof PyOrderedDict ? new PyOrderedDict<unknown, unknown>() : new Map<unknown, unknown>();
        memo.set(x, out);
        for (const [k, v] of x) out.set(conv(k as RawValue), conv(v));
        if (x instanceof PyOrderedDict && x.attributes && out instanceof PyOrderedDict) {
          out.attributes = conv(x.attributes) as Map<RawKey, RawValue>;
        }
        return out;
      }
      if (x instanceof Set) {
        const out = new Set<unknown>();
        memo.set(x, out);
        for (const v of x) out.add(conv(v));
        return out;
      }
      return x;
    };
    return conv(value) as T;
  } catch (e) {
    for (const t of made) t.dispose();
    for (const b of kept) b.dispose();
    throw e;
  } finally {
    // Views keep their storage alive; the base handles themselves are no longer needed.
    const seen = new Set<Tensor>();
    for (const { t } of bases.values()) {
      if (seen.has(t) || kept.has(t)) continue;
      seen.add(t);
      t.dispose();
    }
    for (const t of staged.values()) t.dispose(); // read but never delivered (a later failure)
  }
}

/** The bytes of all of `owner`'s storage (`numel` elements of its dtype): aliased on the CPU, copied otherwise. */
function wholeStorageBytes(owner: Tensor, numel: number): Uint8Array {
  const d = owner.detach();
  try {
    const full = d.asStrided([numel], [1], 0);
    try {
      if (full.device === 'cpu') {
        try {
          return new Uint8Array(native.hostView(full.id));
        } catch {
          // no external ArrayBuffers here: copy
        }
      }
      return full.toBuffer();
    } finally {
      full.dispose();
    }
  } finally {
    d.dispose();
  }
}

/** The row-major bytes of `t`: aliased for a contiguous CPU tensor, copied otherwise. */
function tensorBytes(t: Tensor): Uint8Array {
  if (t.device === 'cpu' && t.isContiguous() && t.numel() > 0) {
    try {
      return new Uint8Array(native.hostView(t.id));
    } catch {
      // fall through to a copy
    }
  }
  return t.toBuffer();
}

function checkSavable(t: Tensor, where: string): RawDType {
  if (t.isDisposed) invalid(`save: the tensor at ${where} has been disposed`);
  const dtype = t.dtype;
  if (!isRawDType(dtype)) invalid(`save: dtype ${dtype} (at ${where}) cannot be written to a PyTorch checkpoint by this version`);
  return dtype;
}

/** A RawTensor with its own contiguous storage whose bytes are taken from `t` (to the host) only when written. */
function rawOf(t: Tensor, where: string): RawTensor {
  const dtype = checkSavable(t, where);
  const shape = t.shape;
  const storage = new RawStorage('', dtype, numelOf(shape), null, t.device);
  storage.provider = () => tensorBytes(t);
  return new RawTensor({ storage, shape, stride: contiguousStrides(shape), requiresGrad: t.requiresGrad });
}

/**
 * Converts tensors for `save`, keeping shared storages shared: tensors on one LibTorch storage
 * (found with `storageInfo`) become views (size, stride, offset) of one {@link RawStorage} holding
 * that whole storage, as PyTorch writes them. The storage's bytes are taken when written: aliased
 * on the CPU, copied from other devices. Tensors without a storage, or viewing one storage as a
 * different dtype, are written by value.
 */
function storageSharer(): (t: Tensor, where: string) => RawTensor {
  const groups = new Map<string, RawStorage>();
  return (t, where) => {
    const dtype = checkSavable(t, where);
    const [sid, sbytes, offset] = native.storageInfo(t.id);
    const item = DTYPE_INFO[dtype].itemsize;
    if (sid === 0 || sbytes === 0 || sbytes % item !== 0) return rawOf(t, where);
    const key = `${sid}/${dtype}`;
    let storage = groups.get(key);
    if (!storage) {
      const numel = sbytes / item;
      storage = new RawStorage('', dtype, numel, null, t.device);
      storage.provider = () => wholeStorageBytes(t, numel);
      groups.set(key, storage);
    }
    return new RawTensor({ storage, shape: t.shape, stride: t.stride(), storageOffset: offset, requiresGrad: t.requiresGrad });
  };
}

function isTensorMap(x: unknown): x is Map<unknown, Tensor> {
  if (!(x instanceof Map) || x.size === 0) return false;
  for (const v of x.values()) if (!(v instanceof Tensor)) return false;
  return true;
}

/** Converts a tree with Tensor leaves into a RawValue tree (tensors copied lazily). */
function toRawTree(obj: unknown): RawValue {
  const memo = new Map<unknown, unknown>();
  const rawOfShared = storageSharer();
  const conv = (x: unknown, where: string): unknown => {
    if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return x;
    if (memo.has(x)) return memo.get(x);
    if (x instanceof Tensor) {
      const r = rawOfShared(x, where);
      memo.set(x, r);
      return r;
    }
    if (x instanceof RawTensor || x instanceof RawStorage) return x;
    if (Array.isArray(x)) {
      const out: unknown[] = [];
      memo.set(x, out);
      x.forEach((v, i) => out.push(conv(v, `${where}[${i}]`)));
      return isTuple(x) ? Object.freeze(out) : out;
    }
    if (x instanceof Map) {
      const out = x instanceof PyOrderedDict || (where === 'root' && isTensorMap(x)) ? new PyOrderedDict<unknown, unknown>() : new Map<unknown, unknown>();
      memo.set(x, out);
      for (const [k, v] of x) out.set(conv(k, `${where} key`), conv(v, `${where}[${String(k)}]`));
      if (x instanceof PyOrderedDict && x.attributes && out instanceof PyOrderedDict) {
        out.attributes = conv(x.attributes, `${where}.attributes`) as Map<RawKey, RawValue>;
      }
      return out;
    }
    const proto = Object.getPrototypeOf(x);
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, unknown> = {};
      memo.set(x, out);
      for (const [k, v] of Object.entries(x)) {
        Object.defineProperty(out, k, { value: conv(v, `${where}.${k}`), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return x; // the pickler reports anything it cannot write
  };
  return conv(obj, 'root') as RawValue;
}

/**
 * Saves `obj` (a state dict `Map<string, Tensor>`, or nested Maps / plain objects / arrays with
 * Tensor and plain leaves) in the zip `torch.save` format, atomically. Tensors that share a
 * storage are written as views of one storage (with their sizes, strides and offsets), and a
 * storage is written whole, as PyTorch does (so saving a small slice of a large tensor writes the
 * large one). CPU bytes are written straight from the tensors' memory while the returned promise
 * is pending: do not modify the tensors until it settles.
 */
export async function save(obj: unknown, file: string, opts: WriteCheckpointOptions = {}): Promise<void> {
  await writeCheckpointRaw(file, toRawTree(obj), opts);
}

/** Saves a flat map of tensors as safetensors (with optional string metadata), atomically. */
export async function saveSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  file: string,
  metadata?: Record<string, string> | Map<string, string>,
): Promise<void> {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const raw: [string, RawTensor][] = entries.map(([k, t]) => {
    if (!(t instanceof Tensor)) invalid(`saveSafetensors: "${k}" is not a Tensor`);
    return [k, rawOf(t, k)];
  });
  await writeSafetensorsRaw(file, raw, metadata);
}
