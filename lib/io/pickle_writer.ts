/**
 * Writes protocol-2 pickles of the allowlisted vocabulary, the way `torch.save` does, using only
 * opcodes and globals that `torch.load(path, weights_only=True)` accepts:
 *
 * - {@link PyOrderedDict} -> `collections.OrderedDict` (plus a BUILD of its `attributes`, e.g.
 *   `_metadata`); other `Map`s and plain objects -> dict
 * - mutable arrays -> list; frozen arrays ({@link tuple}) -> tuple
 * - safe integers -> int; other numbers -> float (so `1.0` is written as the int `1`); bigint -> int
 * - string -> str; Uint8Array -> bytes (`_codecs.encode(s, 'latin1')`, as Python writes bytes in
 *   protocol 2); null -> None; boolean -> bool
 * - {@link RawTensor} -> `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 *   requires_grad, OrderedDict())`, wrapped in `_rebuild_parameter` when `isParameter`
 * - {@link RawStorage} -> a persistent id `('storage', torch.<T>Storage, key, location, numel)`
 *
 * Objects that occur several times (same JS identity) are written once and referenced through
 * the memo, so shared tensors and storages stay shared. Note: torch 1.13's `weights_only` loader
 * lacks the BINFLOAT opcode, so there only files without Python floats load with
 * `weights_only=True` (PyTorch's own files have the same limitation); torch >= 2.0 reads all.
 */

import { invalid } from './errors';
import { DTYPE_INFO, PyOrderedDict, RawStorage, RawTensor, isTuple } from './raw';

export interface PickleWriteOptions {
  /** archive key for a storage (called once per distinct storage object, in first-use order) */
  storageKey(storage: RawStorage): string;
}

/** A growable little-endian byte buffer. */
class ByteBuilder {
  buf = new Uint8Array(1 << 12);
  len = 0;
  private dv = new DataView(this.buf.buffer);

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.len, v, true);
    this.len += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.dv.setInt32(this.len, v, true);
    this.len += 4;
  }
  f64be(v: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.len, v, false);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  ascii(s: string): void {
    this.bytes(Buffer.from(s, 'latin1'));
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const BATCH = 1000; // Python's pickler batches APPENDS/SETITEMS in groups of 1000

/** Two's-complement little-endian bytes of `v`, as short as possible (pickle's encode_long). */
function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
    const sign = out[out.length - 1] & 0x80;
    if ((x === 0n && !sign) || (x === -1n && sign)) break;
  }
  return Uint8Array.from(out);
}

/** Serialises `value` as a protocol-2 pickle (see the module comment). Throws `ERR_CHECKPOINT_INVALID`. */
export function pickle(value: unknown, opts: PickleWriteOptions): Uint8Array {
  const w = new ByteBuilder();
  const memo = new Map<unknown, number>();
  const strings = new Map<string, number>();
  const inProgress = new Set<unknown>();
  const storageKeys = new Map<RawStorage, string>();

  const put = (key: unknown, table: Map<unknown, number>): void => {
    const i = memo.size + strings.size;
    table.set(key, i);
    if (i < 256) {
      w.u8(0x71);
      w.u8(i);
    } else {
      w.u8(0x72);
      w.u32(i);
    }
  };
  const get = (i: number): void => {
    if (i < 256) {
      w.u8(0x68);
      w.u8(i);
    } else {
      w.u8(0x6a);
      w.u32(i);
    }
  };
  const memoized = (x: unknown): boolean => {
    const i = memo.get(x);
    if (i === undefined) return false;
    get(i);
    return true;
  };
  const global = (module: string, name: string): void => {
    const key = `\0global:${module}.${name}`;
    const i = strings.get(key);
    if (i !== undefined) {
      get(i);
      return;
    }
    w.u8(0x63);
    w.ascii(`${module}\n${name}\n`);
    put(key, strings as Map<unknown, number>);
  };
  const str = (s: string): void => {
    const i = strings.get(s);
    if (i !== undefined) {
      get(i);
      return;
    }
    const b = Buffer.from(s, 'utf8');
    w.u8(0x58);
    w.u32(b.length);
    w.bytes(b);
    put(s, strings as Map<unknown, number>);
  };
  const int = (v: number | bigint): void => {
    if (typeof v === 'number' && v >= 0 && v < 256) {
      w.u8(0x4b);
      w.u8(v);
      return;
    }
    if (typeof v === 'number' && v >= 0 && v < 65536) {
      w.u8(0x4d);
      w.u16(v);
      return;
    }
    if (typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff) {
      w.u8(0x4a);
      w.i32(v);
      return;
    }
    const b = encodeLong(BigInt(v));
    if (b.length < 256) {
      w.u8(0x8a);
      w.u8(b.length);
    } else {
      w.u8(0x8b);
      w.i32(b.length);
    }
    w.bytes(b);
  };
  const emptyOrderedDict = (): void => {
    global('collections', 'OrderedDict');
    w.u8(0x29); // EMPTY_TUPLE
    w.u8(0x52); // REDUCE
  };
  const items = (entries: Iterable<[unknown, unknown]>, path: string): void => {
    let batch: [unknown, unknown][] = [];
    const checkKey = (k: unknown): void => {
      if (k !== null && typeof k === 'object' && !isTuple(k) && !(k instanceof Uint8Array)) {
        invalid(`unhashable dict key (${(k as object).constructor?.name ?? 'object'}) at ${path}`);
      }
    };
    const flush = (): void => {
      if (batch.length === 0) return;
      if (batch.length === 1) {
        save(batch[0][0], `${path} key`);
        save(batch[0][1], `${path}[${String(batch[0][0])}]`);
        w.u8(0x73);
      } else {
        w.u8(0x28);
        for (const [k, v] of batch) {
          save(k, `${path} key`);
          save(v, `${path}[${String(k)}]`);
        }
        w.u8(0x75);
      }
      batch = [];
    };
    for (const kv of entries) {
      checkKey(kv[0]);
      batch.push(kv);
      if (batch.length === BATCH) flush();
    }
    flush();
  };
  const storagePid = (s: RawStorage): void => {
    let key = storageKeys.get(s);
    if (key === undefined) {
      key = opts.storageKey(s);
      storageKeys.set(s, key);
    }
    w.u8(0x28); // MARK
    str('storage');
    global('torch', DTYPE_INFO[s.dtype].storage);
    str(key);
    str(s.location);
    int(s.numel);
    w.u8(0x74); // TUPLE
    w.u8(0x51); // BINPERSID
  };
  const tensor = (t: RawTensor): void => {
    if (t.isParameter) {
      global('torch._utils', '_rebuild_parameter');
      w.u8(0x28);
    }
    global('torch._utils', '_rebuild_tensor_v2');
    w.u8(0x28);
    storagePid(t.storage);
    int(t.storageOffset);
    save(Object.freeze([...t.shape]), 'size');
    save(Object.freeze([...t.stride]), 'stride');
    w.u8(t.requiresGrad && !t.isParameter ? 0x88 : 0x89);
    emptyOrderedDict();
    w.u8(0x74); // TUPLE
    w.u8(0x52); // REDUCE
    if (t.isParameter) {
      w.u8(t.requiresGrad ? 0x88 : 0x89);
      emptyOrderedDict();
      w.u8(0x74);
      w.u8(0x52);
    }
  };

  function save(x: unknown, path: string): void {
    if (x === null) {
      w.u8(0x4e);
      return;
    }
    switch (typeof x) {
      case 'boolean':
        w.u8(x ? 0x88 : 0x89);
        return;
      case 'number':
        if (Number.isSafeInteger(x) && !Object.is(x, -0)) int(x);
        else {
          w.u8(0x47);
          w.f64be(x);
        }
        return;
      case 'bigint':
        int(x);
        return;
      case 'string':
        str(x);
        return;
      case 'object':
        break;
      default:
        invalid(`cannot pickle ${typeof x} at ${path}`);
    }
    if (memoized(x)) return;
    if (x instanceof RawTensor) {
      if (!x.storage.loaded && !x.storage.provider) invalid(`tensor at ${path}: its storage holds no data`);
      tensor(x);
      put(x, memo);
    } else if (x instanceof RawStorage) {
      if (!x.loaded && !x.provider) invalid(`storage at ${path} holds no data`);
      storagePid(x);
      put(x, memo);
    } else if ((x instanceof Uint8Array && x.constructor === Uint8Array) || Buffer.isBuffer(x)) {
      const b = x as Uint8Array;
      if (b.length === 0) {
        global('__builtin__', 'bytes');
        w.u8(0x29);
        w.u8(0x52);
      } else {
        global('_codecs', 'encode');
        str(Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1'));
        str('latin1');
        w.u8(0x86);
        w.u8(0x52); // TUPLE2 REDUCE
      }
      put(x, memo);
    } else if (isTuple(x)) {
      if (inProgress.has(x)) invalid(`recursive tuple at ${path}`);
      inProgress.add(x);
      const n = x.length;
      if (n === 0) w.u8(0x29);
      else if (n <= 3) {
        x.forEach((v, i) => save(v, `${path}[${i}]`));
        w.u8(0x84 + n);
      } else {
        w.u8(0x28);
        x.forEach((v, i) => save(v, `${path}[${i}]`));
        w.u8(0x74);
      }
      inProgress.delete(x);
      put(x, memo);
    } else if (Array.isArray(x)) {
      w.u8(0x5d); // EMPTY_LIST
      put(x, memo);
      for (let i = 0; i < x.length; i += BATCH) {
        const chunk = x.slice(i, i + BATCH);
        if (chunk.length === 1) {
          save(chunk[0], `${path}[${i}]`);
          w.u8(0x61);
          continue;
        }
        w.u8(0x28);
        chunk.forEach((v, j) => save(v, `${path}[${i + j}]`));
        w.u8(0x65);
      }
    } else if (x instanceof PyOrderedDict) {
      emptyOrderedDict();
      put(x, memo);
      items(x, path);
      if (x.attributes && x.attributes.size > 0) {
        save(x.attributes, `${path}.attributes`);
        w.u8(0x62); // BUILD
      }
    } else if (x instanceof Map) {
      w.u8(0x7d); // EMPTY_DICT
      put(x, memo);
      items(x, path);
    } else if (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null) {
      w.u8(0x7d);
      put(x, memo);
      items(Object.entries(x as Record<string, unknown>), path);
    } else {
      const name = (x as object).constructor?.name ?? 'object';
      invalid(`cannot pickle a ${name} at ${path} (allowed: tensors, Map, plain objects, arrays, numbers, strings, ` + 'bigint, boolean, null, Uint8Array)');
    }
  }

  w.u8(0x80);
  w.u8(2); // PROTO 2
  save(value, 'root');
  w.u8(0x2e); // STOP
  return w.result();
}
