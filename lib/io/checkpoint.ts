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
 * still share memory; strides and offsets are those of the file. Each storage is read, turned into
 * a tensor on its target device and released before the next one is read, so peak host memory
 * stays near one file's worth plus the largest storage.
 *
 * save(obj, file) writes the zip `torch.save` format, readable by Python's
 * `torch.load(file, weights_only=True)`, atomically. Tensors are copied to the host one at a time
 * while writing. A top-level Map whose values are all tensors is written as an OrderedDict (what
 * `model.state_dict()` is in PyTorch).
 */

import { torch, Tensor } from '../tensor';
import { CheckpointError, invalid } from './errors';
import { readCheckpointRawFile, writeCheckpointRaw, writeSafetensorsRaw, type WriteCheckpointOptions } from './checkpoint_raw';
import {
  PyOrderedDict, RawStorage, RawTensor, contiguousStrides, isRawDType, isTuple, numelOf,
  type RawKey, type RawValue,
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
}

const DEVICE_RE = /^(cpu|cuda(:\d+)?)$/;

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
        throw new CheckpointError('ERR_CHECKPOINT_DEVICE',
          `load: the checkpoint holds tensors saved on '${location}', which is not available here; pass { mapLocation: 'cpu' }`);
      }
      invalid(`load: mapLocation gave ${JSON.stringify(d)} for location '${location}' (expected 'cpu' or 'cuda[:N]')`);
    }
    const dev = norm(d);
    if (dev.startsWith('cuda')) {
      const index = Number(dev.slice(5));
      if (!torch.cuda.isAvailable()) {
        throw new CheckpointError('ERR_CHECKPOINT_DEVICE',
          `load: tensors are to be placed on ${dev} (saved on '${location}') but CUDA is not available; ` +
          "pass { mapLocation: 'cpu' } to load them on the CPU");
      }
      if (index >= torch.cuda.deviceCount()) {
        throw new CheckpointError('ERR_CHECKPOINT_DEVICE', `load: ${dev} does not exist (${torch.cuda.deviceCount()} CUDA devices)`);
      }
    }
    return dev;
  };
}

/**
 * Loads a checkpoint (see the module comment). The type parameter only names what the caller
 * expects at the root; a state dict file gives `Map<string, Tensor>`.
 */
export async function load<T = Map<string, Tensor>>(file: string | Uint8Array, opts: LoadOptions = {}): Promise<T> {
  const resolve = resolver(opts.mapLocation);
  const bases = new Map<RawStorage, Tensor>();
  const kept = new Set<Tensor>();
  const made: Tensor[] = [];
  try {
    const { value } = await readCheckpointRawFile(file, {
      verifyCrc: opts.verifyCrc,
      keepBytes: false,
      onStorage: (s, bytes) => {
        const device = resolve(s.location);
        bases.set(s, torch.fromBuffer(bytes, s.dtype, [s.numel], { device }));
      },
    });
    const memo = new Map<unknown, unknown>();
    const conv = (x: RawValue): unknown => {
      if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return x;
      if (memo.has(x)) return memo.get(x);
      if (x instanceof RawTensor) {
        const base = bases.get(x.storage);
        if (!base) invalid('load: a tensor refers to a storage that was not read');
        const t = base.asStrided([...x.shape], [...x.stride], x.storageOffset);
        made.push(t);
        if (x.requiresGrad) t.requiresGrad_(true);
        memo.set(x, t);
        return t;
      }
      if (x instanceof RawStorage) {
        const base = bases.get(x);
        if (!base) invalid('load: a storage was not read');
        kept.add(base);
        memo.set(x, base);
        return base;
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
    for (const b of bases.values()) if (!kept.has(b)) b.dispose();
  }
}

/** A RawTensor whose bytes are copied from `t` (to the host) only when written. */
function rawOf(t: Tensor, where: string): RawTensor {
  if (t.isDisposed) invalid(`save: the tensor at ${where} has been disposed`);
  const dtype = t.dtype;
  if (!isRawDType(dtype)) invalid(`save: dtype ${dtype} (at ${where}) cannot be written to a PyTorch checkpoint by this version`);
  const shape = t.shape;
  const storage = new RawStorage('', dtype, numelOf(shape), null, t.device);
  storage.provider = () => t.toBuffer();
  return new RawTensor({ storage, shape, stride: contiguousStrides(shape), requiresGrad: t.requiresGrad });
}

function isTensorMap(x: unknown): x is Map<unknown, Tensor> {
  if (!(x instanceof Map) || x.size === 0) return false;
  for (const v of x.values()) if (!(v instanceof Tensor)) return false;
  return true;
}

/** Converts a tree with Tensor leaves into a RawValue tree (tensors copied lazily). */
function toRawTree(obj: unknown): RawValue {
  const memo = new Map<unknown, unknown>();
  const conv = (x: unknown, where: string): unknown => {
    if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return x;
    if (memo.has(x)) return memo.get(x);
    if (x instanceof Tensor) {
      const r = rawOf(x, where);
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
      const out = x instanceof PyOrderedDict || (where === 'root' && isTensorMap(x))
        ? new PyOrderedDict<unknown, unknown>() : new Map<unknown, unknown>();
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
 * Tensor and plain leaves) in the zip `torch.save` format, atomically. Each tensor is written as
 * its own contiguous storage (views of one another are not detected, so they are stored apart).
 */
export async function save(obj: unknown, file: string, opts: WriteCheckpointOptions = {}): Promise<void> {
  await writeCheckpointRaw(file, toRawTree(obj), opts);
}

/** Saves a flat map of tensors as safetensors (with optional string metadata), atomically. */
export async function saveSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>, file: string, metadata?: Record<string, string> | Map<string, string>,
): Promise<void> {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const raw: [string, RawTensor][] = entries.map(([k, t]) => {
    if (!(t instanceof Tensor)) invalid(`saveSafetensors: "${k}" is not a Tensor`);
    return [k, rawOf(t, k)];
  });
  await writeSafetensorsRaw(file, raw, metadata);
}
