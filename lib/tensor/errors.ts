/**
 * The one error class of social-mae: a JS Error with a stable `code` (ERR_INVALID_ARG, ERR_SHAPE_MISMATCH,
 * ERR_DTYPE, ERR_DEVICE, ERR_OOM, ERR_TORCH, ERR_TENSOR_DISPOSED, ...). Native code constructs it too
 * (registered once at start-up), so every error carries the JS stack of its call site.
 *
 * Every subclass keeps this argument order: the text first, the code second, anything else after
 * (CheckpointError, DataError, TrainError, UsageError).
 */
export class TorchError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = 'TorchError';
    this.code = code;
  }
}

/** Throws ERR_INVALID_ARG naming the function, the argument, what was expected and what was given. */
export function argError(fn: string, arg: string, expected: string, actual: unknown): never {
  throw new TorchError(`${fn}: argument '${arg}' expected ${expected}, got ${describeValue(actual)}`, 'ERR_INVALID_ARG');
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.slice(0, 8).map(describeValue).join(', ')}${v.length > 8 ? ', ...' : ''}]`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/**
 * The most dimensions a shape (or a permutation, a repeat list) may have. PyTorch sets no general limit, but
 * its CUDA kernels index at most 25 dimensions and nothing in this package uses more than 8. The cap makes a
 * mistaken 1e8-long array fail at once, before its elements are converted one by one.
 */
export const MAX_DIMS = 64;

/** Validates a list of sizes: an array of at most `maxLength` (MAX_DIMS) safe integers, each >= `min`. */
export function checkSizes(fn: string, arg: string, sizes: unknown, min = -Infinity, maxLength = MAX_DIMS): number[] {
  const what = min === 0 ? 'non-negative integers' : 'integers';
  if (!Array.isArray(sizes)) argError(fn, arg, `an array of ${what}`, sizes);
  if (sizes.length > maxLength) {
    throw new TorchError(`${fn}: argument '${arg}' expected at most ${maxLength} dimensions, got an array of length ${sizes.length}`, 'ERR_INVALID_ARG');
  }
  if (!sizes.every((s) => Number.isSafeInteger(s) && s >= min)) argError(fn, arg, `an array of ${what}`, sizes);
  return sizes as number[];
}

/** Validates a shape: an array of at most MAX_DIMS non-negative safe integers. */
export function checkShape(fn: string, arg: string, shape: unknown): number[] {
  return checkSizes(fn, arg, shape, 0);
}

export function checkInt(fn: string, arg: string, v: unknown): number {
  if (!Number.isSafeInteger(v)) argError(fn, arg, 'an integer', v);
  return v as number;
}

export function checkNumber(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) argError(fn, arg, 'a number', v);
  return v as number;
}
