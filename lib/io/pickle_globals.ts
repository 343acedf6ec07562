/**
 * The allowlist of the unpickler (see pickle_reader.ts): which globals may appear, and what
 * calling them (REDUCE / NEWOBJ) builds. Everything else is refused with `ERR_UNSAFE_PICKLE`.
 *
 * - `collections.OrderedDict` -> {@link PyOrderedDict}; `collections.Counter` -> a Map of counts
 * - `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`,
 *   `_rebuild_tensor(storage, offset, size, stride)` -> {@link RawTensor} (bounds-checked)
 * - `torch._utils._rebuild_parameter(data, requires_grad, hooks)` and `_with_state(..., state)`
 *   -> RawTensor with `isParameter`
 * - `torch.<T>Storage`, `torch.cuda.<T>Storage`, `torch.UntypedStorage`: storage types, only
 *   usable inside persistent ids `('storage', type, key, location, numel[, view])`
 * - `torch.Size(tuple)` -> frozen array
 * - `_codecs.encode(str, 'latin1')`, `builtins.bytes()`, `builtins.bytearray(...)` -> Uint8Array
 */

import { check, corrupt, unsafe, unsupported } from './errors';
import { PyOrderedDict, RawStorage, RawTensor, dtypeFromStorageName, type RawDType, type RawKey, type RawValue } from './raw';

/** A decoded storage persistent id. */
export interface StorageRef {
  dtype: RawDType;
  /** archive key (zip: `data/<key>`; legacy: the storage id) */
  key: string;
  /** `cpu`, `cuda:0`, ... */
  location: string;
  /** elements in the root storage */
  numel: number;
  /** legacy format only: a view `[offset, offset + numel)` of the root storage, named `key` */
  view?: { key: string; offset: number; numel: number };
}

type GlobalKind =
  | 'ordered_dict'
  | 'counter'
  | 'size'
  | 'rebuild_tensor_v2'
  | 'rebuild_tensor'
  | 'rebuild_parameter'
  | 'rebuild_parameter_with_state'
  | 'storage_type'
  | 'codecs_encode'
  | 'bytes'
  | 'bytearray';

/** An allowlisted global on the stack. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly kind: GlobalKind,
    readonly dtype?: RawDType,
  ) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

const FIXED_GLOBALS: Record<string, GlobalKind> = {
  'collections.OrderedDict': 'ordered_dict',
  // LR scheduler states (MultiStepLR.milestones) hold a Counter: a dict of counts.
  'collections.Counter': 'counter',
  'torch.Size': 'size',
  'torch._utils._rebuild_tensor_v2': 'rebuild_tensor_v2',
  'torch._utils._rebuild_tensor': 'rebuild_tensor',
  'torch._utils._rebuild_parameter': 'rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state': 'rebuild_parameter_with_state',
  '_codecs.encode': 'codecs_encode',
  'builtins.bytes': 'bytes',
  '__builtin__.bytes': 'bytes',
  'builtins.bytearray': 'bytearray',
  '__builtin__.bytearray': 'bytearray',
};

/** Resolves `module.name` against the allowlist, or throws `ERR_UNSAFE_PICKLE`. */
export function resolveGlobal(module: string, name: string): PyGlobal {
  const full = `${module}.${name}`;
  const kind = FIXED_GLOBALS[full];
  if (kind) return new PyGlobal(module, name, kind);
  if (module === 'torch' || module === 'torch.cuda') {
    if (name === 'UntypedStorage' && module === 'torch') return new PyGlobal(module, name, 'storage_type', 'uint8');
    const dtype = dtypeFromStorageName(name);
    if (dtype) return new PyGlobal(module, name, 'storage_type', dtype);
    if (/Storage$/.test(name)) unsupported(`the pickle uses storage type \`${full}\`, whose dtype is not supported`);
  }
  if (full.startsWith('torch.nn.')) {
    unsafe(`this file contains a pickled \`${full}\`; save \`model.state_dict()\` instead`);
  }
  unsafe(
    `this file contains a pickled \`${full}\`, which is not on the allowlist of a weights file ` +
      '(tensors, storages, OrderedDict, plain containers); unpickling it could run arbitrary code. ' +
      'If it is a model or another Python object, save `model.state_dict()` (or plain tensors) instead',
  );
}

export function isKey(x: unknown): x is RawKey {
  return (
    x === null ||
    typeof x === 'string' ||
    typeof x === 'number' ||
    typeof x === 'bigint' ||
    typeof x === 'boolean' ||
    x instanceof Uint8Array ||
    (Array.isArray(x) && Object.isFrozen(x))
  );
}

function asIndex(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) corrupt(`${what}: expected a non-negative int, got ${describe(x)}`);
  return x;
}

function asIntTuple(x: unknown, what: string): number[] {
  if (!Array.isArray(x)) corrupt(`${what}: expected a tuple of ints, got ${describe(x)}`);
  return x.map((v, i) => asIndex(v, `${what}[${i}]`));
}

function asString(x: unknown, what: string): string {
  if (typeof x === 'string') return x;
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.length).toString('latin1');
  corrupt(`${what}: expected a string, got ${describe(x)}`);
}

export function describe(x: unknown): string {
  if (x === null) return 'None';
  if (Array.isArray(x)) return Object.isFrozen(x) ? `tuple of ${x.length}` : `list of ${x.length}`;
  if (x instanceof PyGlobal) return `\`${x.fullName}\``;
  if (x instanceof Map) return 'dict';
  if (x instanceof RawTensor) return 'tensor';
  if (x instanceof RawStorage) return 'storage';
  if (x instanceof Uint8Array) return 'bytes';
  return typeof x === 'string' ? 'str' : typeof x;
}

/** Decodes `('storage', type, key, location, numel[, view_metadata])`. */
export function decodeStoragePid(pid: unknown): StorageRef {
  if (!Array.isArray(pid) || pid.length === 0) corrupt(`unsupported persistent id ${describe(pid)}`);
  const tag = asString(pid[0], 'persistent id tag');
  if (tag === 'module') unsafe('this file contains a pickled module class; save `model.state_dict()` instead');
  check(tag === 'storage', `unsupported persistent id type '${tag}'`);
  check(pid.length === 5 || pid.length === 6, `storage persistent id has ${pid.length} fields (expected 5 or 6)`);
  const type = pid[1];
  if (!(type instanceof PyGlobal) || type.kind !== 'storage_type' || !type.dtype) {
    corrupt(`storage persistent id: expected a storage type, got ${describe(type)}`);
  }
  const key = asString(pid[2], 'storage key');
  const location = asString(pid[3], 'storage location');
  const numel = asIndex(pid[4], `storage '${key}' element count`);
  const ref: StorageRef = { dtype: type.dtype, key, location, numel };
  const v = pid.length === 6 ? pid[5] : null;
  if (v !== null) {
    check(Array.isArray(v) && v.length === 3, `storage '${key}': malformed view metadata`);
    ref.view = { key: asString(v[0], 'view key'), offset: asIndex(v[1], 'view offset'), numel: asIndex(v[2], 'view size') };
  }
  return ref;
}

function rebuildTensor(what: string, storage: unknown, offset: unknown, size: unknown, stride: unknown, requiresGrad: unknown): RawTensor {
  if (!(storage instanceof RawStorage)) corrupt(`${what}: expected a storage, got ${describe(storage)}`);
  if (typeof requiresGrad !== 'boolean') corrupt(`${what}: requires_grad must be a bool, got ${describe(requiresGrad)}`);
  return new RawTensor({
    storage,
    storageOffset: asIndex(offset, `${what} offset`),
    shape: asIntTuple(size, `${what} size`),
    stride: asIntTuple(stride, `${what} stride`),
    requiresGrad,
  });
}

function asParameter(what: string, data: unknown, requiresGrad: unknown): RawTensor {
  if (!(data instanceof RawTensor)) corrupt(`${what}: expected a tensor, got ${describe(data)}`);
  if (typeof requiresGrad !== 'boolean') corrupt(`${what}: requires_grad must be a bool`);
  return new RawTensor({
    storage: data.storage,
    shape: data.shape,
    stride: data.stride,
    storageOffset: data.storageOffset,
    requiresGrad,
    isParameter: true,
  });
}

function encodeText(s: string, encoding: string, what: string): Uint8Array {
  const enc = encoding.toLowerCase().replace(/_/g, '-');
  if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') {
    for (let i = 0; i < s.length; i++) check(s.charCodeAt(i) < 256, `${what}: character outside latin-1`);
    return Buffer.from(s, 'latin1');
  }
  if (enc === 'utf-8' || enc === 'utf8') return Buffer.from(s, 'utf8');
  corrupt(`${what}: unsupported encoding '${encoding}'`);
}

/** Applies an allowlisted callable (REDUCE / NEWOBJ) to `args`. */
export function call(g: PyGlobal, args: unknown[]): unknown {
  const what = g.fullName;
  const n = args.length;
  switch (g.kind) {
    case 'counter': {
      check(n <= 1, `${what}: too many arguments`);
      check(n === 0 || args[0] instanceof Map, `${what}: expected a dict of counts`);
      return new Map(n === 1 ? (args[0] as Map<RawKey, RawValue>) : []);
    }
    case 'ordered_dict': {
      const d = new PyOrderedDict();
      check(n <= 1, `${what}: too many arguments`);
      if (n === 1) {
        const items = args[0];
        check(Array.isArray(items), `${what}: expected a list of pairs`);
        for (const kv of items) {
          check(Array.isArray(kv) && kv.length === 2 && isKey(kv[0]), `${what}: malformed item`);
          d.set(kv[0] as RawKey, kv[1] as RawValue);
        }
      }
      return d;
    }
    case 'size':
      check(n === 1, `${what}: expected one argument`);
      return Object.freeze(asIntTuple(args[0], what));
    case 'rebuild_tensor_v2':
      check(n === 6 || n === 7, `${what}: expected 6 or 7 arguments, got ${n}`);
      check(args[5] instanceof Map, `${what}: backward_hooks must be an OrderedDict`);
      return rebuildTensor(what, args[0], args[1], args[2], args[3], args[4]);
    case 'rebuild_tensor':
      check(n === 4, `${what}: expected 4 arguments, got ${n}`);
      return rebuildTensor(what, args[0], args[1], args[2], args[3], false);
    case 'rebuild_parameter':
      check(n === 3, `${what}: expected 3 arguments, got ${n}`);
      return asParameter(what, args[0], args[1]);
    case 'rebuild_parameter_with_state':
      check(n === 4, `${what}: expected 4 arguments, got ${n}`);
      return asParameter(what, args[0], args[1]);
    case 'codecs_encode':
      check(n === 2 && typeof args[0] === 'string' && typeof args[1] === 'string', `${what}: expected (str, encoding)`);
      return encodeText(args[0] as string, args[1] as string, what);
    case 'bytes':
      check(n === 0, `${what}: only bytes() with no arguments is allowed`);
      return new Uint8Array(0);
    case 'bytearray':
      if (n === 0) return new Uint8Array(0);
      if (n === 1 && args[0] instanceof Uint8Array) return Uint8Array.from(args[0]);
      check(n === 2 && typeof args[0] === 'string' && typeof args[1] === 'string', `${what}: unsupported arguments`);
      return encodeText(args[0] as string, args[1] as string, what);
    case 'storage_type':
      unsupported(`${what} cannot be called in a weights file`);
  }
}
