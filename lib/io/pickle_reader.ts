/**
 * An allowlist unpickler (protocols 2-5) for the values a PyTorch weights file holds.
 *
 * It understands the pickle opcodes that can build data - dicts, lists, tuples, sets, ints
 * (LONG1/LONG4 become numbers when safe, bigints otherwise), floats, strings, bytes, None, bools -
 * and exactly these globals (the allowlist lives in pickle_globals.ts):
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
import { PyGlobal, call, decodeStoragePid, describe, isKey, resolveGlobal, type StorageRef } from './pickle_globals';
import { PyOrderedDict, type RawStorage, type RawValue } from './raw';

export { decodeStoragePid, resolveGlobal, type StorageRef } from './pickle_globals';

const utf8 = new TextDecoder('utf-8');

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
    super(message, 'ERR_CHECKPOINT_CORRUPT');
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
      case 0x80: {
        // PROTO
        const v = take(1, 'PROTO')[0];
        if (v > 5) unsupported(`${what}: pickle protocol ${v} is not supported (2 to 5 are)`);
        break;
      }
      case 0x95:
        need(8, 'FRAME');
        pos += 8;
        break; // FRAME: framing is only a hint
      case 0x2e: {
        // STOP
        const value = pop('STOP');
        checkTree(value, what);
        return { value: value as RawValue, end: pos };
      }
      case 0x28:
        marks.push(stack.length);
        break; // MARK
      case 0x30:
        if (stack.length > floor()) stack.pop();
        else popMark('POP');
        break; // POP
      case 0x31:
        popMark('POP_MARK');
        break;
      case 0x32:
        stack.push(top('DUP'));
        break;
      // --- numbers
      case 0x4a:
        need(4, 'BININT');
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b:
        stack.push(take(1, 'BININT1')[0]);
        break;
      case 0x4d:
        need(2, 'BININT2');
        stack.push(dv.getUint16(pos, true));
        pos += 2;
        break;
      case 0x8a: {
        const n = take(1, 'LONG1')[0];
        stack.push(long(take(n, 'LONG1')));
        break;
      }
      case 0x8b: {
        need(4, 'LONG4');
        const n = dv.getInt32(pos, true);
        pos += 4;
        check(n >= 0, `${what}: LONG4 with negative length`);
        stack.push(long(take(n, 'LONG4')));
        break;
      }
      case 0x49: {
        // INT (text); I01/I00 are True/False
        const s = line('INT');
        stack.push(s === '01' ? true : s === '00' ? false : parseIntText(s, 'INT'));
        break;
      }
      case 0x4c:
        stack.push(parseIntText(line('LONG'), 'LONG'));
        break;
      case 0x47:
        need(8, 'BINFLOAT');
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: {
        // FLOAT (text)
        const s = line('FLOAT').trim();
        const v = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === 'nan' ? NaN : Number(s);
        check(!Number.isNaN(v) || s === 'nan', `${what}: malformed FLOAT '${s.slice(0, 40)}'`);
        stack.push(v);
        break;
      }
      // --- constants
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      // --- strings and bytes
      case 0x58: {
        need(4, 'BINUNICODE');
        const n = dv.getUint32(pos, true);
        pos += 4;
        stack.push(utf8.decode(take(n, 'BINUNICODE')));
        break;
      }
      case 0x8c: {
        const n = take(1, 'SHORT_BINUNICODE')[0];
        stack.push(utf8.decode(take(n, 'SHORT_BINUNICODE')));
        break;
      }
      case 0x8d: {
        need(8, 'BINUNICODE8');
        const n = Number(dv.getBigUint64(pos, true));
        pos += 8;
        stack.push(utf8.decode(take(n, 'BINUNICODE8')));
        break;
      }
      case 0x55: {
        const n = take(1, 'SHORT_BINSTRING')[0];
        stack.push(utf8.decode(take(n, 'SHORT_BINSTRING')));
        break;
      }
      case 0x54: {
        need(4, 'BINSTRING');
        const n = dv.getInt32(pos, true);
        pos += 4;
        stack.push(utf8.decode(take(n, 'BINSTRING')));
        break;
      }
      case 0x43: {
        const n = take(1, 'SHORT_BINBYTES')[0];
        stack.push(Uint8Array.from(take(n, 'SHORT_BINBYTES')));
        break;
      }
      case 0x42: {
        need(4, 'BINBYTES');
        const n = dv.getUint32(pos, true);
        pos += 4;
        stack.push(Uint8Array.from(take(n, 'BINBYTES')));
        break;
      }
      case 0x8e:
      case 0x96: {
        // BINBYTES8, BYTEARRAY8
        need(8, 'BINBYTES8');
        const n = Number(dv.getBigUint64(pos, true));
        pos += 8;
        stack.push(Uint8Array.from(take(n, 'BINBYTES8')));
        break;
      }
      case 0x53:
      case 0x56:
        unsupported(`${what}: text-mode string opcodes (protocol 0) are not supported`);
      // --- containers
      case 0x29:
        stack.push(Object.freeze([]));
        break; // EMPTY_TUPLE
      case 0x85:
        stack.push(Object.freeze([pop('TUPLE1')]));
        break;
      case 0x86: {
        const b = pop('TUPLE2');
        const a = pop('TUPLE2');
        stack.push(Object.freeze([a, b]));
        break;
      }
      case 0x87: {
        const c = pop('TUPLE3');
        const b = pop('TUPLE3');
        const a = pop('TUPLE3');
        stack.push(Object.freeze([a, b, c]));
        break;
      }
      case 0x74:
        stack.push(Object.freeze(popMark('TUPLE')));
        break;
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x6c:
        stack.push(popMark('LIST'));
        break;
      case 0x61: {
        const item = pop('APPEND');
        appendTo(top('APPEND'), [item], 'APPEND');
        break;
      }
      case 0x65: {
        const items = popMark('APPENDS');
        appendTo(top('APPENDS'), items, 'APPENDS');
        break;
      }
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x64: {
        const items = popMark('DICT');
        const d = new Map();
        setItems(d, items, 'DICT');
        stack.push(d);
        break;
      }
      case 0x73: {
        const v = pop('SETITEM');
        const k = pop('SETITEM');
        setItems(top('SETITEM'), [k, v], 'SETITEM');
        break;
      }
      case 0x75: {
        const items = popMark('SETITEMS');
        setItems(top('SETITEMS'), items, 'SETITEMS');
        break;
      }
      case 0x8f:
        stack.push(new Set());
        break; // EMPTY_SET
      case 0x90: {
        // ADDITEMS
        const items = popMark('ADDITEMS');
        const s = top('ADDITEMS');
        if (!(s instanceof Set)) corrupt(`${what}: ADDITEMS on ${describe(s)}`);
        for (const it of items) {
          check(isKey(it), `${what}: unhashable set item`);
          s.add(it);
        }
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = popMark('FROZENSET');
        for (const it of items) check(isKey(it), `${what}: unhashable set item`);
        stack.push(new Set(items));
        break;
      }
      // --- memo
      case 0x70:
        memoPut(Number(parseIntText(line('PUT'), 'PUT')), 'PUT');
        break;
      case 0x71:
        memoPut(take(1, 'BINPUT')[0], 'BINPUT');
        break;
      case 0x72:
        need(4, 'LONG_BINPUT');
        memoPut(dv.getUint32(pos, true), 'LONG_BINPUT');
        pos += 4;
        break;
      case 0x94:
        memoPut(memo.size, 'MEMOIZE');
        break;
      case 0x67:
        stack.push(memoGet(Number(parseIntText(line('GET'), 'GET'))));
        break;
      case 0x68:
        stack.push(memoGet(take(1, 'BINGET')[0]));
        break;
      case 0x6a:
        need(4, 'LONG_BINGET');
        stack.push(memoGet(dv.getUint32(pos, true)));
        pos += 4;
        break;
      // --- globals and calls
      case 0x63: {
        const m = line('GLOBAL');
        const n = line('GLOBAL');
        stack.push(resolveGlobal(m, n));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const n = pop('STACK_GLOBAL');
        const m = pop('STACK_GLOBAL');
        if (typeof m !== 'string' || typeof n !== 'string') corrupt(`${what}: STACK_GLOBAL needs two strings`);
        stack.push(resolveGlobal(m, n));
        break;
      }
      case 0x69: {
        // INST: a global plus a call, like GLOBAL + REDUCE
        const g = resolveGlobal(line('INST'), line('INST'));
        stack.push(reduce(g, Object.freeze(popMark('INST')), 'INST'));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = popMark('OBJ');
        check(items.length >= 1, `${what}: OBJ without a class`);
        stack.push(reduce(items[0], Object.freeze(items.slice(1)), 'OBJ'));
        break;
      }
      case 0x82:
      case 0x83:
      case 0x84:
        unsafe(`${what}: pickle extension-registry opcodes (EXT1/2/4) are not allowed`);
      case 0x52: {
        const args = pop('REDUCE');
        const fn = pop('REDUCE');
        stack.push(reduce(fn, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop('NEWOBJ');
        const cls = pop('NEWOBJ');
        if (!(cls instanceof PyGlobal) || (cls.kind !== 'ordered_dict' && cls.kind !== 'size')) {
          unsafe(`${what}: NEWOBJ of ${describe(cls)} is not allowed`);
        }
        stack.push(reduce(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
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
      case 0x62: {
        // BUILD: only instance attributes of an OrderedDict (e.g. `_metadata`)
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
      case 0x51:
        stack.push(persistent(pop('BINPERSID')));
        break;
      case 0x50:
        stack.push(persistent(line('PERSID')));
        break;
      case 0x97:
      case 0x98:
        unsupported(`${what}: out-of-band pickle buffers are not supported`);
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
