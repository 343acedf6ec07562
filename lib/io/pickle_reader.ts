/**
 * An allowlist unpickler (protocols 2-5) for the values a PyTorch weights file holds.
 *
 * It understands the pickle opcodes that can build data - dicts, lists, tuples, sets, ints
 * (LONG1/LONG4 become numbers when safe, bigints otherwise), floats, strings, bytes, None, bools -
 * and exactly these globals:
 *
 * - `collections.OrderedDict` (with BUILD of instance attributes such as `_metadata`)
 * - `torch._utils._rebuild_tensor_v2`, `_rebuild_tensor`, `_rebuild_parameter`,
 *   `_rebuild_parameter_with_state`
 * - `torch.<T>Storage` (and `torch.cuda.<T>Storage`, `torch.UntypedStorage`) for the dtypes in
 *   {@link DTYPE_INFO}, used in persistent ids `('storage', type, key, location, numel[, view])`
 * - `torch.Size`
 * - `_codecs.encode`, `builtins.bytes`/`bytearray` (how protocol 2 spells bytes)
 *
 * Any other global (GLOBAL, STACK_GLOBAL, INST, EXT*) is refused at once with `ERR_UNSAFE_PICKLE`;
 * there is no permissive fallback. Every read is bounds-checked (lengths against the buffer, memo
 * indices, stack and mark underflow, argument types), failing with `ERR_CHECKPOINT_CORRUPT`.
 */

import { CheckpointError, check, corrupt, unsafe, unsupported } from './errors';
import {
  PyOrderedDict, RawStorage, RawTensor, dtypeFromStorageName,
  type RawDType, type RawKey, type RawValue,
} from './raw';

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

export interface UnpickleOptions {
  /** Resolves a storage persistent id (must return one object per key). Without it, ids are corrupt. */
  loadStorage?: (ref: StorageRef) => RawStorage;
  /** name used in error messages (e.g. `archive/data.pkl`) */
  what?: string;
}

export interface UnpickleResult {
  value: RawValue;
  /** offset just past the STOP opcode */
  end: number;
}

/**
 * Thrown (code `ERR_CHECKPOINT_CORRUPT`) when the pickle needs bytes past the end of the buffer, so
 * that a reader holding only a prefix of a file can fetch more and retry.
 */
export class PickleTruncatedError extends CheckpointError {
  constructor(message: string) {
    super('ERR_CHECKPOINT_CORRUPT', message);
  }
}

type GlobalKind =
  | 'ordered_dict' | 'size' | 'rebuild_tensor_v2' | 'rebuild_tensor' | 'rebuild_parameter'
  | 'rebuild_parameter_with_state' | 'storage_type' | 'codecs_encode' | 'bytes' | 'bytearray';

/** An allowlisted global on the stack. */
class PyGlobal {
  constructor(readonly module: string, readonly name: string, readonly kind: GlobalKind, readonly dtype?: RawDType) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

const FIXED_GLOBALS: Record<string, GlobalKind> = {
  'collections.OrderedDict': 'ordered_dict',
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
  unsafe(`this file contains a pickled \`${full}\`, which is not on the allowlist of a weights file ` +
    '(tensors, storages, OrderedDict, plain containers); unpickling it could run arbitrary code. ' +
    'If it is a model or another Python object, save `model.state_dict()` (or plain tensors) instead');
}

const utf8 = new TextDecoder('utf-8');

function isKey(x: unknown): x is RawKey {
  return x === null || typeof x === 'string' || typeof x === 'number' || typeof x === 'bigint' ||
    typeof x === 'boolean' || x instanceof Uint8Array || (Array.isArray(x) && Object.isFrozen(x));
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

function describe(x: unknown): string {
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

function rebuildTensor(
  what: string, storage: unknown, offset: unknown, size: unknown, stride: unknown, requiresGrad: unknown,
): RawTensor {
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
    storage: data.storage, shape: data.shape, stride: data.stride, storageOffset: data.storageOffset,
    requiresGrad, isParameter: true,
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
function call(g: PyGlobal, args: unknown[]): unknown {
  const what = g.fullName;
  const n = args.length;
  switch (g.kind) {
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

/**
 * Unpickles one object from `data` starting at `start`. See the module comment for what is
 * accepted. Throws `CheckpointError` (`ERR_CHECKPOINT_CORRUPT`, `ERR_UNSAFE_PICKLE`,
 * `ERR_CHECKPOINT_UNSUPPORTED`) for anything else.
 */
export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}, start = 0): UnpickleResult {
  const what = opts.what ?? 'pickle';
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const len = data.length;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;

  const need = (n: number, op: string): void => {
    if (!(n >= 0 && pos + n <= len)) throw new PickleTruncatedError(`${what}: ${op} at byte ${pos} needs ${n} bytes, only ${len - pos} left`);
  };
  const take = (n: number, op: string): Uint8Array => {
    need(n, op);
    const b = data.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (op: string): string => {
    const nl = data.indexOf(0x0a, pos);
    if (nl < 0) throw new PickleTruncatedError(`${what}: ${op} at byte ${pos} has no terminating newline`);
    const s = utf8.decode(data.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const floor = (): number => (marks.length ? marks[marks.length - 1] : 0);
  const pop = (op: string): unknown => {
    if (stack.length <= floor()) corrupt(`${what}: stack underflow in ${op} at byte ${pos}`);
    return stack.pop();
  };
  const top = (op: string): unknown => {
    if (stack.length <= floor()) corrupt(`${what}: stack underflow in ${op} at byte ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (op: string): unknown[] => {
    if (!marks.length) corrupt(`${what}: ${op} without a MARK at byte ${pos}`);
    return stack.splice(marks.pop() as number);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) corrupt(`${what}: memo index ${i} was never stored`);
    return memo.get(i);
  };
  const memoPut = (i: number, op: string): void => {
    memo.set(i, top(op));
  };
  const setItems = (target: unknown, items: unknown[], op: string): void => {
    if (!(target instanceof Map)) corrupt(`${what}: ${op} on ${describe(target)} (not a dict)`);
    check(items.length % 2 === 0, `${what}: ${op} with an odd number of items`);
    for (let i = 0; i < items.length; i += 2) {
      if (!isKey(items[i])) corrupt(`${what}: unhashable dict key ${describe(items[i])}`);
      target.set(items[i], items[i + 1]);
    }
  };
  const appendTo = (target: unknown, items: unknown[], op: string): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) corrupt(`${what}: ${op} on ${describe(target)} (not a list)`);
    for (const it of items) target.push(it);
  };
  const persistent = (pid: unknown): unknown => {
    const ref = decodeStoragePid(pid);
    if (!opts.loadStorage) corrupt(`${what}: storage references are not allowed here`);
    return opts.loadStorage(ref);
  };
  const reduce = (fn: unknown, args: unknown, op: string): unknown => {
    if (!(fn instanceof PyGlobal)) corrupt(`${what}: ${op} on ${describe(fn)} (not an allowlisted callable)`);
    if (!Array.isArray(args)) corrupt(`${what}: ${op} arguments must be a tuple, got ${describe(args)}`);
    return call(fn, args);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    // little-endian two's complement; via hex so that huge values stay linear-time
    let v = BigInt('0x' + Buffer.from(b).reverse().toString('hex'));
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const parseIntText = (s: string, op: string): number | bigint => {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[-+]?\d{1,4300}$/.test(t)) corrupt(`${what}: ${op} has a malformed integer '${s.slice(0, 40)}'`);
    const v = BigInt(t);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    need(1, 'opcode');
    const op = data[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const v = take(1, 'PROTO')[0];
        if (v > 5) unsupported(`${what}: pickle protocol ${v} is not supported (2 to 5 are)`);
        break;
      }
      case 0x95: need(8, 'FRAME'); pos += 8; break; // FRAME: framing is only a hint
      case 0x2e: { // STOP
        const value = pop('STOP');
        checkTree(value, what);
        return { value: value as RawValue, end: pos };
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: if (stack.length > floor()) stack.pop(); else popMark('POP'); break; // POP
      case 0x31: popMark('POP_MARK'); break;
      case 0x32: stack.push(top('DUP')); break;
      // --- numbers
      case 0x4a: need(4, 'BININT'); stack.push(dv.getInt32(pos, true)); pos += 4; break;
      case 0x4b: stack.push(take(1, 'BININT1')[0]); break;
      case 0x4d: need(2, 'BININT2'); stack.push(dv.getUint16(pos, true)); pos += 2; break;
      case 0x8a: { const n = take(1, 'LONG1')[0]; stack.push(long(take(n, 'LONG1'))); break; }
      case 0x8b: {
        need(4, 'LONG4');
        const n = dv.getInt32(pos, true);
        pos += 4;
        check(n >= 0, `${what}: LONG4 with negative length`);
        stack.push(long(take(n, 'LONG4')));
        break;
      }
      case 0x49: { // INT (text); I01/I00 are True/False
        const s = line('INT');
        stack.push(s === '01' ? true : s === '00' ? false : parseIntText(s, 'INT'));
        break;
      }
      case 0x4c: stack.push(parseIntText(line('LONG'), 'LONG')); break;
      case 0x47: need(8, 'BINFLOAT'); stack.push(dv.getFloat64(pos, false)); pos += 8; break;
      case 0x46: { // FLOAT (text)
        const s = line('FLOAT').trim();
        const v = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === 'nan' ? NaN : Number(s);
        check(!Number.isNaN(v) || s === 'nan', `${what}: malformed FLOAT '${s.slice(0, 40)}'`);
        stack.push(v);
        break;
      }
      // --- constants
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      // --- strings and bytes
      case 0x58: { need(4, 'BINUNICODE'); const n = dv.getUint32(pos, true); pos += 4; stack.push(utf8.decode(take(n, 'BINUNICODE'))); break; }
      case 0x8c: { const n = take(1, 'SHORT_BINUNICODE')[0]; stack.push(utf8.decode(take(n, 'SHORT_BINUNICODE'))); break; }
      case 0x8d: { need(8, 'BINUNICODE8'); const n = Number(dv.getBigUint64(pos, true)); pos += 8; stack.push(utf8.decode(take(n, 'BINUNICODE8'))); break; }
      case 0x55: { const n = take(1, 'SHORT_BINSTRING')[0]; stack.push(utf8.decode(take(n, 'SHORT_BINSTRING'))); break; }
      case 0x54: { need(4, 'BINSTRING'); const n = dv.getInt32(pos, true); pos += 4; stack.push(utf8.decode(take(n, 'BINSTRING'))); break; }
      case 0x43: { const n = take(1, 'SHORT_BINBYTES')[0]; stack.push(Uint8Array.from(take(n, 'SHORT_BINBYTES'))); break; }
      case 0x42: { need(4, 'BINBYTES'); const n = dv.getUint32(pos, true); pos += 4; stack.push(Uint8Array.from(take(n, 'BINBYTES'))); break; }
      case 0x8e: case 0x96: { // BINBYTES8, BYTEARRAY8
        need(8, 'BINBYTES8');
        const n = Number(dv.getBigUint64(pos, true));
        pos += 8;
        stack.push(Uint8Array.from(take(n, 'BINBYTES8')));
        break;
      }
      case 0x53: case 0x56: unsupported(`${what}: text-mode string opcodes (protocol 0) are not supported`);
      // --- containers
      case 0x29: stack.push(Object.freeze([])); break; // EMPTY_TUPLE
      case 0x85: stack.push(Object.freeze([pop('TUPLE1')])); break;
      case 0x86: { const b = pop('TUPLE2'); const a = pop('TUPLE2'); stack.push(Object.freeze([a, b])); break; }
      case 0x87: { const c = pop('TUPLE3'); const b = pop('TUPLE3'); const a = pop('TUPLE3'); stack.push(Object.freeze([a, b, c])); break; }
      case 0x74: stack.push(Object.freeze(popMark('TUPLE'))); break;
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark('LIST')); break;
      case 0x61: { const item = pop('APPEND'); appendTo(top('APPEND'), [item], 'APPEND'); break; }
      case 0x65: { const items = popMark('APPENDS'); appendTo(top('APPENDS'), items, 'APPENDS'); break; }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { const items = popMark('DICT'); const d = new Map(); setItems(d, items, 'DICT'); stack.push(d); break; }
      case 0x73: { const v = pop('SETITEM'); const k = pop('SETITEM'); setItems(top('SETITEM'), [k, v], 'SETITEM'); break; }
      case 0x75: { const items = popMark('SETITEMS'); setItems(top('SETITEMS'), items, 'SETITEMS'); break; }
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { // ADDITEMS
        const items = popMark('ADDITEMS');
        const s = top('ADDITEMS');
        if (!(s instanceof Set)) corrupt(`${what}: ADDITEMS on ${describe(s)}`);
        for (const it of items) { check(isKey(it), `${what}: unhashable set item`); s.add(it); }
        break;
      }
      case 0x91: { // FROZENSET
        const items = popMark('FROZENSET');
        for (const it of items) check(isKey(it), `${what}: unhashable set item`);
        stack.push(new Set(items));
        break;
      }
      // --- memo
      case 0x70: memoPut(Number(parseIntText(line('PUT'), 'PUT')), 'PUT'); break;
      case 0x71: memoPut(take(1, 'BINPUT')[0], 'BINPUT'); break;
      case 0x72: need(4, 'LONG_BINPUT'); memoPut(dv.getUint32(pos, true), 'LONG_BINPUT'); pos += 4; break;
      case 0x94: memoPut(memo.size, 'MEMOIZE'); break;
      case 0x67: stack.push(memoGet(Number(parseIntText(line('GET'), 'GET')))); break;
      case 0x68: stack.push(memoGet(take(1, 'BINGET')[0])); break;
      case 0x6a: need(4, 'LONG_BINGET'); stack.push(memoGet(dv.getUint32(pos, true))); pos += 4; break;
      // --- globals and calls
      case 0x63: { const m = line('GLOBAL'); const n = line('GLOBAL'); stack.push(resolveGlobal(m, n)); break; }
      case 0x93: { // STACK_GLOBAL
        const n = pop('STACK_GLOBAL');
        const m = pop('STACK_GLOBAL');
        if (typeof m !== 'string' || typeof n !== 'string') corrupt(`${what}: STACK_GLOBAL needs two strings`);
        stack.push(resolveGlobal(m, n));
        break;
      }
      case 0x69: { // INST: a global plus a call, like GLOBAL + REDUCE
        const g = resolveGlobal(line('INST'), line('INST'));
        stack.push(reduce(g, Object.freeze(popMark('INST')), 'INST'));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark('OBJ');
        check(items.length >= 1, `${what}: OBJ without a class`);
        stack.push(reduce(items[0], Object.freeze(items.slice(1)), 'OBJ'));
        break;
      }
      case 0x82: case 0x83: case 0x84: unsafe(`${what}: pickle extension-registry opcodes (EXT1/2/4) are not allowed`);
      case 0x52: { const args = pop('REDUCE'); const fn = pop('REDUCE'); stack.push(reduce(fn, args, 'REDUCE')); break; }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const args = pop('NEWOBJ');
        const cls = pop('NEWOBJ');
        if (!(cls instanceof PyGlobal) || (cls.kind !== 'ordered_dict' && cls.kind !== 'size')) {
          unsafe(`${what}: NEWOBJ of ${describe(cls)} is not allowed`);
        }
        stack.push(reduce(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop('NEWOBJ_EX');
        const args = pop('NEWOBJ_EX');
        const cls = pop('NEWOBJ_EX');
        if (!(cls instanceof PyGlobal) || (cls.kind !== 'ordered_dict' && cls.kind !== 'size')) {
          unsafe(`${what}: NEWOBJ_EX of ${describe(cls)} is not allowed`);
        }
        check(kwargs instanceof Map && kwargs.size === 0, `${what}: NEWOBJ_EX keyword arguments are not supported`);
        stack.push(reduce(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: { // BUILD: only instance attributes of an OrderedDict (e.g. `_metadata`)
        const state = pop('BUILD');
        const inst = top('BUILD');
        if (!(inst instanceof PyOrderedDict)) unsupported(`${what}: BUILD on ${describe(inst)} is not supported`);
        const parts = Array.isArray(state) && state.length === 2 ? state : [state];
        for (const part of parts) {
          if (part === null) continue;
          if (!(part instanceof Map)) corrupt(`${what}: BUILD state must be a dict, got ${describe(part)}`);
          inst.attributes ??= new Map();
          for (const [k, v] of part) inst.attributes.set(k, v);
        }
        break;
      }
      case 0x51: stack.push(persistent(pop('BINPERSID'))); break;
      case 0x50: stack.push(persistent(line('PERSID'))); break;
      case 0x97: case 0x98: unsupported(`${what}: out-of-band pickle buffers are not supported`);
      default:
        corrupt(`${what}: unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1}`);
    }
  }
}

/** Refuses results that still hold bare globals (e.g. a storage class object as a value). */
function checkTree(root: unknown, what: string): void {
  const seen = new Set<unknown>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const x = todo.pop();
    if (x instanceof PyGlobal) unsupported(`${what}: the file holds a bare reference to \`${x.fullName}\``);
    if (x === null || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    if (Array.isArray(x)) for (const v of x) todo.push(v);
    else if (x instanceof Map) for (const [k, v] of x) todo.push(k, v);
    else if (x instanceof Set) for (const v of x) todo.push(v);
    if (x instanceof PyOrderedDict && x.attributes) todo.push(x.attributes);
  }
}
