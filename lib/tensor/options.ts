/**
 * The one validator of option objects of the public tensor APIs (creation, *Like, windows, F.*,
 * autograd.grad, autocast). `undefined` options mean every default; `null` or anything that is not a
 * plain object is ERR_INVALID_ARG. Every key must be one the function takes (an unknown key is
 * ERR_INVALID_ARG naming it and the allowed keys) and every value must pass its rule (ERR_INVALID_ARG
 * naming `opts.<key>`, what was expected and what was given); a key set to `undefined` is the default.
 */
import { argError, checkShape, describeValue, TorchError } from './errors';
import { dtypeCode, checkDevice } from './dtype';
import { Tensor } from './tensor';

/** Throws (through argError) when `v` is not acceptable for `arg` of `fn`. */
export type OptionRule = (fn: string, arg: string, v: unknown) => void;

/** The rule of every key of T (all keys, optional or not). */
export type OptionSpec<T> = { readonly [K in keyof Required<T>]: OptionRule };

/** Validates `opts` against `spec` (see the module comment); returns it, or {} for undefined. */
export function checkOptions<T extends object>(fn: string, opts: T | undefined, spec: OptionSpec<T>): T {
  if (opts === undefined) return {} as T;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts) || !isPlain(opts)) argError(fn, 'opts', 'an options object or undefined', opts);
  for (const key of Object.keys(opts)) {
    const rule = (spec as Record<string, OptionRule>)[key];
    if (!rule) {
      const allowed = Object.keys(spec);
      throw new TorchError(
        `${fn}: unknown option '${key}' (allowed: ${allowed.length ? allowed.join(', ') : 'none'}), got ${describeValue((opts as Record<string, unknown>)[key])}`,
        'ERR_INVALID_ARG',
      );
    }
    const v = (opts as Record<string, unknown>)[key];
    if (v !== undefined) rule(fn, `opts.${key}`, v);
  }
  return opts;
}

function isPlain(o: object): boolean {
  const proto = Object.getPrototypeOf(o);
  return proto === Object.prototype || proto === null;
}

/** Rules for OptionSpec entries. */
export const opt = {
  boolean: ((fn, arg, v) => {
    if (typeof v !== 'boolean') argError(fn, arg, 'a boolean', v);
  }) as OptionRule,
  number: ((fn, arg, v) => {
    if (typeof v !== 'number' || Number.isNaN(v)) argError(fn, arg, 'a number', v);
  }) as OptionRule,
  int: ((fn, arg, v) => {
    if (!Number.isSafeInteger(v)) argError(fn, arg, 'an integer', v);
  }) as OptionRule,
  /** A number or an array of numbers (conv stride / padding / dilation; the length is checked by the op). */
  intOrInts: ((fn, arg, v) => {
    if (!Number.isSafeInteger(v) && !(Array.isArray(v) && v.every((x) => Number.isSafeInteger(x)))) argError(fn, arg, 'an integer or an array of integers', v);
  }) as OptionRule,
  dtype: ((fn, arg, v) => void dtypeCode(v, fn, arg)) as OptionRule,
  device: ((fn, arg, v) => void checkDevice(fn, v, arg)) as OptionRule,
  shape: ((fn, arg, v) => void checkShape(fn, arg, v)) as OptionRule,
  oneOf:
    (values: readonly unknown[]): OptionRule =>
    (fn, arg, v) => {
      if (!values.includes(v)) argError(fn, arg, `one of ${values.map((x) => describeValue(x)).join(', ')}`, v);
    },
  tensorOrNull: ((fn, arg, v) => {
    if (v !== null && !(v instanceof Tensor)) argError(fn, arg, 'a Tensor or null', v);
  }) as OptionRule,
  tensors: ((fn, arg, v) => {
    if (!Array.isArray(v) || !v.every((x) => x instanceof Tensor)) argError(fn, arg, 'an array of Tensors', v);
  }) as OptionRule,
};

/** The options of the creation functions (dtype, device, requiresGrad). */
export const CREATE_OPTIONS = { dtype: opt.dtype, device: opt.device, requiresGrad: opt.boolean } as const;
