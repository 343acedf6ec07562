/**
 * The `torch` namespace: creation, functional forms of the Tensor methods, scopes, autograd, CUDA,
 * random seeding, threads and library information.
 */
import * as os from 'os';
import { isMainThread } from 'worker_threads';
import { native as N } from '../native/binding';
import * as creation from './creation';
import * as F from './functional';
import { cuda, autocast } from './cuda';
import { grad } from './autograd';
import { jit, ScriptModule } from './jit';
import { tidy, keep, dispose, memory, noGrad, enableGrad, isGradEnabled, setHostCacheBytes } from './scope';
import { Tensor, wrap, isTensor, TorchError } from './tensor';
import { argError } from './errors';
import { DTYPES } from './dtype';
import type { ValuesIndices } from './ops_reduce';
import './ops_math';
import './ops_reduce';
import './ops_shape';
import './ops_index';

export { Tensor, TorchError, F, isTensor, ScriptModule };
export type { ScriptValue } from './jit';
export type { DType } from './dtype';
export type { IndexSpec, SliceSpec } from './ops_index';
export type { ValuesIndices } from './ops_reduce';
export type { MemoryInfo } from './scope';

N.setErrorClass(TorchError);

/** Intra-op threads: SOCIAL_MAE_NUM_THREADS, else one per core (LibTorch's own default here is 1). */
function defaultThreads(): number {
  const env = Number(process.env.SOCIAL_MAE_NUM_THREADS);
  return Number.isInteger(env) && env > 0 ? env : Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}
// Only the main thread sizes the pools at load: OpenBLAS's pool is process-wide, and resizing it from a
// worker thread (a data-loader worker) while another thread is inside a BLAS call is not safe.
if (isMainThread) N.setNumThreads(defaultThreads());

/** Methods that also exist as torch.fn(x, ...args). */
const FUNCTIONAL_FORMS = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'remainder',
  'fmod',
  'maximum',
  'minimum',
  'atan2',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
  'logicalAnd',
  'logicalOr',
  'logicalXor',
  'neg',
  'abs',
  'sqrt',
  'rsqrt',
  'exp',
  'expm1',
  'log',
  'log10',
  'log2',
  'log1p',
  'sin',
  'cos',
  'tan',
  'asin',
  'acos',
  'atan',
  'sinh',
  'cosh',
  'tanh',
  'sigmoid',
  'erf',
  'floor',
  'ceil',
  'round',
  'trunc',
  'frac',
  'sign',
  'reciprocal',
  'square',
  'relu',
  'isnan',
  'isinf',
  'isfinite',
  'logicalNot',
  'clamp',
  'nanToNum',
  'lerp',
  'addcmul',
  'addcdiv',
  'sum',
  'mean',
  'prod',
  'var',
  'std',
  'max',
  'min',
  'amax',
  'amin',
  'argmax',
  'argmin',
  'norm',
  'logsumexp',
  'cumsum',
  'cumprod',
  'all',
  'any',
  'countNonzero',
  'allclose',
  'equal',
  'reshape',
  'permute',
  'transpose',
  'movedim',
  'flatten',
  'unflatten',
  'squeeze',
  'unsqueeze',
  'repeatInterleave',
  'split',
  'chunk',
  'unbind',
  'narrow',
  'select',
  'flip',
  'roll',
  'tril',
  'triu',
  'gather',
  'scatter',
  'scatterAdd',
  'indexSelect',
  'maskedFill',
  'maskedSelect',
  'sort',
  'argsort',
  'topk',
  'nonzero',
  'matmul',
  'mm',
  'bmm',
  'outer',
  'softmax',
  'logSoftmax',
  'clone',
  'real',
  'imag',
  'viewAsReal',
  'asStrided',
] as const;
type FormName = (typeof FUNCTIONAL_FORMS)[number];
/** torch.fn(x, ...args) takes the method's arguments (max/min: both overloads). */
type FnForms = { [K in Exclude<FormName, 'max' | 'min'>]: (x: Tensor, ...args: Parameters<Tensor[K]>) => ReturnType<Tensor[K]> } & {
  max(x: Tensor): Tensor;
  max(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
  min(x: Tensor): Tensor;
  min(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
};
const fnForms = {} as Record<string, (x: Tensor, ...args: unknown[]) => unknown>;
for (const name of FUNCTIONAL_FORMS) {
  fnForms[name] = (x: Tensor, ...args: unknown[]) => {
    if (!(x instanceof Tensor)) argError(name, 'input', 'a Tensor', x);
    return (x[name] as (...a: unknown[]) => unknown)(...args);
  };
}

function tensors(fn: string, xs: unknown): Tensor[] {
  if (!Array.isArray(xs) || !xs.every((t) => t instanceof Tensor)) argError(fn, 'tensors', 'an array of Tensors', xs);
  return xs as Tensor[];
}

const core = {
  ...creation,
  cat: (xs: Tensor[], dim = 0) =>
    wrap(
      N.cat(
        tensors('cat', xs).map((t) => t.id),
        dim,
      ),
    ),
  stack: (xs: Tensor[], dim = 0) =>
    wrap(
      N.stack(
        tensors('stack', xs).map((t) => t.id),
        dim,
      ),
    ),
  /** where(condition, x, y): x where condition holds, else y. */
  where: (condition: Tensor, x: Tensor, y: Tensor | number) => {
    if (!(x instanceof Tensor)) argError('where', 'x', 'a Tensor', x);
    return x.where(condition, y);
  },
  einsum: F.einsum,
  tidy,
  keep,
  dispose,
  memory,
  setHostCacheBytes,
  noGrad,
  enableGrad,
  isGradEnabled,
  autograd: { grad },
  jit,
  cuda,
  autocast,
  fft: F.fft,
  stft: F.stft,
  nn: { functional: F },
  dtypes: DTYPES,
  /** Seeds LibTorch's generators (CPU and CUDA). */
  manualSeed: (seed: number) => {
    if (!Number.isSafeInteger(seed) || seed < 0) argError('manualSeed', 'seed', 'a non-negative integer', seed);
    N.manualSeed(seed);
  },
  setNumThreads: (n: number) => N.setNumThreads(n),
  getNumThreads: () => N.getNumThreads(),
  /** The linked LibTorch version, e.g. '1.13.0'. */
  version: () => N.version(),
  /** LibTorch build and parallelism configuration (at::show_config + parallel info). */
  config: () => N.config(),
  isTensor,
  Tensor,
};

export const torch = { ...(fnForms as unknown as FnForms), ...core };
export type Torch = typeof torch;
