/** Dtypes and devices: names, native codes (must match native/common/args.cc), host array types. */
import { argError } from './errors';

export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool' | 'int8' | 'int16' | 'complex64' | 'complex128';
export type Device = string;

/** Index = native dtype code. */
export const DTYPES: readonly DType[] = [
  'float32',
  'float16',
  'bfloat16',
  'float64',
  'int64',
  'int32',
  'uint8',
  'bool',
  'int8',
  'int16',
  'complex64',
  'complex128',
];
const CODES = new Map<string, number>(DTYPES.map((d, i) => [d, i]));
const ALIASES: Record<string, DType> = { float: 'float32', half: 'float16', double: 'float64', long: 'int64', int: 'int32' };

export const ELEMENT_SIZE: Record<DType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
  int8: 1,
  int16: 2,
  complex64: 8,
  complex128: 16,
};

export function dtypeCode(d: unknown, fn = 'dtype', arg = 'dtype'): number {
  const name = typeof d === 'string' ? (ALIASES[d] ?? d) : d;
  const c = CODES.get(name as string);
  if (c === undefined) argError(fn, arg, `one of ${DTYPES.join(', ')}`, d);
  return c;
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';
}

export function checkDevice(fn: string, device: unknown, arg = 'device'): string {
  if (typeof device !== 'string' || !/^(cpu|cuda(:\d+)?|meta)$/.test(device)) {
    argError(fn, arg, "'cpu' or 'cuda[:N]'", device);
  }
  return device as string;
}

export type HostArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array;

/** The TypedArray a dtype reads into (float16/bfloat16 are widened to float32; bool to uint8). */
export function hostArray(dtype: DType, buf: ArrayBuffer): HostArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
    case 'int64':
      return new BigInt64Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'int16':
      return new Int16Array(buf);
    case 'int8':
      return new Int8Array(buf);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf);
    case 'complex64':
      return new Float32Array(buf);
    case 'complex128':
      return new Float64Array(buf);
    default:
      throw new Error(`hostArray: ${dtype} is read through float32`);
  }
}

/** The dtype a TypedArray holds. */
export function dtypeOfArray(a: ArrayBufferView): DType | null {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 'uint8';
  return null;
}
