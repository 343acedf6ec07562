/**
 * The only file that loads the native addon, and the typed interface of everything it exports.
 * Tensors cross the boundary as numeric ids into a per-environment handle table (docs/ARCHITECTURE.md,
 * "Tensor representation").
 *
 * Load order: `SOCIAL_MAE_ADDON` (an explicit path: used alone, an error if it does not load), else a
 * local build (`build/Release`), then the prebuilt variants under `prebuilds/<variant>` (one directory
 * per LibTorch variant, e.g. `cpu-torch1.13`), the variant matching `$LIBTORCH` first. When nothing
 * loads, one error lists every path tried.
 */
import * as fs from 'fs';
import * as path from 'path';

/** A tensor handle: slot + generation packed in a double. */
export type Id = number;
type U = (x: Id) => Id;
type B = (x: Id, y: Id) => Id;
type BS = (x: Id, s: number | boolean) => Id;
type Inplace = (x: Id, y: Id) => Id;
type Creator = (shape: number[], dtype: number, device: string) => Id;
type Like = (x: Id, dtype?: number | null) => Id;
type Dims = number[] | null;

export interface NativeBinding {
  // lifetime and metadata
  setErrorClass(ctor: new (message: string, code: string) => Error): void;
  dispose(id: Id): boolean;
  isLive(id: Id): boolean;
  keep(id: Id): void;
  beginScope(): number;
  endScope(survivors: Id[]): void;
  scopeDepth(): number;
  memory(): [number, number, number, number, string];
  shape(id: Id): number[];
  strides(id: Id): number[];
  storageOffset(id: Id): number;
  dtype(id: Id): number;
  device(id: Id): string;
  numel(id: Id): number;
  isContiguous(id: Id): boolean;
  describe(id: Id): string;
  version(): string;
  config(): string;
  /** [installed, capBytes, cachedBytes, cachedBlocks, hits, misses, evictions, source, mallocTuned, mallocSource,
   *  minBlockBytes] (native/common/host_cache.h, native/common/malloc_tune.h) */
  hostCache(): [boolean, number, number, number, number, number, number, string, boolean, string, number];
  setHostCacheBytes(n: number, minBlockBytes: number): boolean;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  // creation and host I/O
  empty: Creator;
  zeros: Creator;
  ones: Creator;
  randn: Creator;
  rand: Creator;
  full(shape: number[], value: number | boolean, dtype: number, device: string): Id;
  randint(low: number, high: number, shape: number[], dtype: number, device: string): Id;
  randperm(n: number, dtype: number, device: string): Id;
  arange(start: number, end: number, step: number, dtype: number, device: string): Id;
  linspace(start: number, end: number, steps: number, dtype: number, device: string): Id;
  eye(n: number, m: number, dtype: number, device: string): Id;
  scalarTensor(value: number | boolean, dtype: number, device: string): Id;
  zerosLike: Like;
  onesLike: Like;
  emptyLike: Like;
  randnLike: Like;
  randLike: Like;
  fullLike(x: Id, value: number | boolean, dtype?: number | null): Id;
  normal_(x: Id, mean: number, std: number): Id;
  uniform_(x: Id, from: number, to: number): Id;
  bernoulli(x: Id, p: number): Id;
  multinomial(x: Id, n: number, replacement: boolean): Id;
  fromBuffer(buf: ArrayBufferView | ArrayBuffer, dtype: number, shape: number[], device: string): Id;
  toBuffer(x: Id): ArrayBuffer;
  copyFromBuffer_(x: Id, buf: ArrayBufferView | ArrayBuffer): Id;
  item(x: Id): number;
  /** ArrayBuffer aliasing a contiguous CPU tensor's bytes (holds its own storage reference). */
  hostView(x: Id): ArrayBuffer;
  /** madvise(MADV_HUGEPAGE) on the whole 2 MiB pages inside a contiguous CPU tensor's memory; true if advised */
  adviseHugePages(x: Id): boolean;
  /** [storage id, storage bytes, element offset] */
  storageInfo(x: Id): [number, number, number];
  // elementwise
  neg: U;
  abs: U;
  sqrt: U;
  rsqrt: U;
  exp: U;
  expm1: U;
  log: U;
  log10: U;
  log2: U;
  log1p: U;
  sin: U;
  cos: U;
  tan: U;
  asin: U;
  acos: U;
  atan: U;
  sinh: U;
  cosh: U;
  tanh: U;
  sigmoid: U;
  erf: U;
  erfinv: U;
  erfinv_: U;
  floor: U;
  ceil: U;
  round: U;
  trunc: U;
  frac: U;
  sign: U;
  reciprocal: U;
  square: U;
  relu: U;
  silu: U;
  isnan: U;
  isinf: U;
  isfinite: U;
  logicalNot: U;
  bitwiseNot: U;
  clone: U;
  contiguous: U;
  pinMemory: U;
  mul: B;
  pow: B;
  remainder: B;
  fmod: B;
  eq: B;
  ne: B;
  lt: B;
  le: B;
  gt: B;
  ge: B;
  mulS: BS;
  powS: BS;
  remainderS: BS;
  fmodS: BS;
  eqS: BS;
  neS: BS;
  ltS: BS;
  leS: BS;
  gtS: BS;
  geS: BS;
  maximum: B;
  minimum: B;
  atan2: B;
  logicalAnd: B;
  logicalOr: B;
  logicalXor: B;
  add(x: Id, y: Id, alpha: number): Id;
  addS(x: Id, s: number, alpha: number): Id;
  sub(x: Id, y: Id, alpha: number): Id;
  subS(x: Id, s: number, alpha: number): Id;
  rsubS: BS;
  rpowS: BS;
  div(x: Id, y: Id, roundingMode?: string | null): Id;
  divS(x: Id, s: number, roundingMode?: string | null): Id;
  clamp(x: Id, min: number | null, max: number | null): Id;
  clampT(x: Id, min: Id | null, max: Id | null): Id;
  where(cond: Id, x: Id, y: Id): Id;
  nanToNum(x: Id, nan: number, posinf?: number | null, neginf?: number | null): Id;
  lerp(x: Id, end: Id, weight: number): Id;
  addcmul(x: Id, t1: Id, t2: Id, value: number): Id;
  addcdiv(x: Id, t1: Id, t2: Id, value: number): Id;
  toDtype(x: Id, dtype: number, copy: boolean): Id;
  toDevice(x: Id, device: string, nonBlocking: boolean, copy: boolean): Id;
  add_(x: Id, y: Id, alpha: number): Id;
  addS_(x: Id, s: number, alpha: number): Id;
  sub_(x: Id, y: Id, alpha: number): Id;
  mul_: Inplace;
  div_: Inplace;
  mulS_: BS;
  divS_: BS;
  copy_(x: Id, src: Id, nonBlocking: boolean): Id;
  fill_: BS;
  zero_: U;
  sqrt_: U;
  clamp_(x: Id, min: number | null, max: number | null): Id;
  addcmul_(x: Id, t1: Id, t2: Id, value: number): Id;
  addcdiv_(x: Id, t1: Id, t2: Id, value: number): Id;
  lerp_(x: Id, end: Id, weight: number): Id;
  maskedFill_(x: Id, mask: Id, value: number | boolean): Id;
  // reductions
  sum(x: Id, dims: Dims, keepdim: boolean, dtype?: number | null): Id;
  mean(x: Id, dims: Dims, keepdim: boolean, dtype?: number | null): Id;
  prod(x: Id, dim: number | null, keepdim: boolean): Id;
  var(x: Id, dims: Dims, unbiased: boolean, keepdim: boolean): Id;
  std(x: Id, dims: Dims, unbiased: boolean, keepdim: boolean): Id;
  max: U;
  min: U;
  maxDim(x: Id, dim: number, keepdim: boolean): [Id, Id];
  minDim(x: Id, dim: number, keepdim: boolean): [Id, Id];
  amax(x: Id, dims: Dims, keepdim: boolean): Id;
  amin(x: Id, dims: Dims, keepdim: boolean): Id;
  argmax(x: Id, dim: number | null, keepdim: boolean): Id;
  argmin(x: Id, dim: number | null, keepdim: boolean): Id;
  norm(x: Id, ord: number, dims: Dims, keepdim: boolean): Id;
  logsumexp(x: Id, dims: Dims, keepdim: boolean): Id;
  cumsum(x: Id, dim: number, dtype?: number | null): Id;
  cumprod(x: Id, dim: number, dtype?: number | null): Id;
  all(x: Id, dim: number | null, keepdim: boolean): Id;
  any(x: Id, dim: number | null, keepdim: boolean): Id;
  countNonzero(x: Id, dim: number | null): Id;
  allclose(x: Id, y: Id, rtol: number, atol: number, equalNan: boolean): boolean;
  equal(x: Id, y: Id): boolean;
  // shape
  view(x: Id, shape: number[]): Id;
  reshape(x: Id, shape: number[]): Id;
  permute(x: Id, dims: number[]): Id;
  transpose(x: Id, d0: number, d1: number): Id;
  movedim(x: Id, src: number[], dst: number[]): Id;
  flatten(x: Id, start: number, end: number): Id;
  unflatten(x: Id, dim: number, sizes: number[]): Id;
  squeeze(x: Id, dim: number | null): Id;
  unsqueeze(x: Id, dim: number): Id;
  expand(x: Id, shape: number[]): Id;
  repeat(x: Id, reps: number[]): Id;
  repeatInterleave(x: Id, repeats: number, dim: number | null): Id;
  cat(xs: Id[], dim: number): Id;
  stack(xs: Id[], dim: number): Id;
  split(x: Id, size: number, dim: number): Id[];
  splitSizes(x: Id, sizes: number[], dim: number): Id[];
  chunk(x: Id, n: number, dim: number): Id[];
  unbind(x: Id, dim: number): Id[];
  narrow(x: Id, dim: number, start: number, length: number): Id;
  slice(x: Id, dim: number, start: number | null, end: number | null, step: number): Id;
  select(x: Id, dim: number, index: number): Id;
  flip(x: Id, dims: number[]): Id;
  roll(x: Id, shifts: number[], dims: number[]): Id;
  tril(x: Id, k: number): Id;
  triu(x: Id, k: number): Id;
  unfold(x: Id, dim: number, size: number, step: number): Id;
  asStrided(x: Id, size: number[], stride: number[], offset: number): Id;
  pad(x: Id, pads: number[], mode: string, value: number): Id;
  // indexing
  gather(x: Id, dim: number, index: Id): Id;
  scatter(x: Id, dim: number, index: Id, src: Id): Id;
  scatterS(x: Id, dim: number, index: Id, value: number): Id;
  scatterAdd(x: Id, dim: number, index: Id, src: Id): Id;
  indexSelect(x: Id, dim: number, index: Id): Id;
  maskedFill(x: Id, mask: Id, value: number | boolean): Id;
  maskedFillT(x: Id, mask: Id, value: Id): Id;
  maskedSelect(x: Id, mask: Id): Id;
  sort(x: Id, dim: number, descending: boolean, stable: boolean): [Id, Id];
  argsort(x: Id, dim: number, descending: boolean, stable: boolean): Id;
  topk(x: Id, k: number, dim: number, largest: boolean, sorted: boolean): [Id, Id];
  nonzero: U;
  oneHot(x: Id, numClasses: number): Id;
  embedding(weight: Id, indices: Id): Id;
  index(x: Id, indices: (Id | null)[]): Id;
  indexPut_(x: Id, indices: (Id | null)[], values: Id, accumulate: boolean): Id;
  indexPut(x: Id, indices: (Id | null)[], values: Id, accumulate: boolean): Id;
  // linear algebra and nn.functional
  matmul: B;
  mm: B;
  bmm: B;
  outer: B;
  einsum(equation: string, xs: Id[]): Id;
  linear(x: Id, weight: Id, bias: Id | null): Id;
  layerNorm(x: Id, shape: number[], weight: Id | null, bias: Id | null, eps: number): Id;
  conv(x: Id, w: Id, b: Id | null, stride: number[], padding: number[], dilation: number[], transposed: boolean, outputPadding: number[], groups: number): Id;
  gelu(x: Id, approximate: string): Id;
  leakyRelu(x: Id, slope: number): Id;
  elu(x: Id, alpha: number): Id;
  softplus(x: Id, beta: number, threshold: number): Id;
  softmax(x: Id, dim: number, dtype?: number | null): Id;
  logSoftmax(x: Id, dim: number, dtype?: number | null): Id;
  dropout(x: Id, p: number, train: boolean): Id;
  scaledDotProductAttention(q: Id, k: Id, v: Id, mask: Id | null, dropoutP: number, isCausal: boolean, scale: number | null): Id;
  interpolate(x: Id, size: number[], mode: string, alignCorners: boolean, antialias: boolean): Id;
  mseLoss(x: Id, y: Id, reduction: number): Id;
  l1Loss(x: Id, y: Id, reduction: number): Id;
  smoothL1Loss(x: Id, y: Id, reduction: number, beta: number): Id;
  crossEntropy(x: Id, target: Id, weight: Id | null, reduction: number, ignoreIndex: number, labelSmoothing: number): Id;
  nllLoss(x: Id, target: Id, weight: Id | null, reduction: number, ignoreIndex: number): Id;
  binaryCrossEntropyWithLogits(x: Id, y: Id, weight: Id | null, posWeight: Id | null, reduction: number): Id;
  rfft(x: Id, n: number | null, dim: number, norm: string | null): Id;
  irfft(x: Id, n: number | null, dim: number, norm: string | null): Id;
  fft(x: Id, n: number | null, dim: number, norm: string | null): Id;
  real: U;
  imag: U;
  viewAsReal: U;
  stft(
    x: Id,
    nFft: number,
    hop: number | null,
    win: number | null,
    window: Id | null,
    center: boolean,
    padMode: string,
    normalized: boolean,
    onesided: boolean,
  ): Id;
  hannWindow(n: number, periodic: boolean, dtype: number, device: string): Id;
  hammingWindow(n: number, periodic: boolean, dtype: number, device: string): Id;
  blackmanWindow(n: number, periodic: boolean, dtype: number, device: string): Id;
  // autograd
  backward(x: Id, grad: Id | null, retainGraph: boolean, createGraph: boolean): void;
  grad(x: Id): Id | null;
  setGrad(x: Id, g: Id | null): void;
  requiresGrad(x: Id): boolean;
  requiresGrad_(x: Id, flag: boolean): Id;
  detach: U;
  detach_: U;
  retainGrad: U;
  setData_(x: Id, src: Id): Id;
  isLeaf(x: Id): boolean;
  gradFnName(x: Id): string;
  setGradEnabled(flag: boolean): boolean;
  isGradEnabled(): boolean;
  autogradGrad(outputs: Id[], inputs: Id[], gradOutputs: Id[] | null, retainGraph: boolean | null, createGraph: boolean, allowUnused: boolean): (Id | null)[];
  // optimizers
  adamStep(
    params: Id[],
    grads: Id[],
    expAvg: Id[],
    expAvgSq: Id[],
    maxExpAvgSq: Id[] | null,
    steps: number[],
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    amsgrad: boolean,
    maximize: boolean,
    decoupled: boolean,
  ): void;
  fusedAdamStep(
    params: Id[],
    grads: Id[],
    expAvg: Id[],
    expAvgSq: Id[],
    maxExpAvgSq: Id[] | null,
    steps: Id[],
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    amsgrad: boolean,
    maximize: boolean,
    decoupled: boolean,
  ): void;
  totalNorm(grads: Id[], normType: number): Id;
  scaleAll_(grads: Id[], factor: Id): void;
  // TorchScript
  jitLoad(path: string, device: string): number;
  jitMethods(module: number): string[];
  jitCall(module: number, method: string, args: Id[]): unknown;
  jitTrain(module: number, flag: boolean): void;
  jitDispose(module: number): void;
  /** int64 CPU permutation of 0..n-1 from a fresh generator seeded with `seed` (torch.randperm with a generator). */
  randpermSeeded(n: number, seed: number): Id;
  /** native/data/frame_transform.cc: out [3, outH, outW, positions.length] from packed HxWx3 uint8 frames. */
  framesTransform(
    out: Float32Array,
    frames: Uint8Array[],
    width: number,
    height: number,
    outH: number,
    outW: number,
    mean: number[] | null,
    std: number[],
    positions: number[],
  ): void;
  // In-process media decoding (native/media), on libuv's worker threads. Absent when the addon was built
  // without FFmpeg's libraries (then lib/data decodes with ffmpeg processes; lib/data/decoder.ts).
  mediaVersions?(): string;
  /** -> ffprobe-shaped JSON (`-show_format -show_streams`) */
  mediaProbe?(path: string, timeoutMs: number): Promise<string>;
  /** -> planar float32 [channels, samples] */
  mediaDecodeAudio?(
    path: string,
    audioOrdinal: number,
    sampleRate: number,
    channels: number,
    s16: boolean,
    maxSamples: number,
    maxSeconds: number,
    timeoutMs: number,
  ): Promise<{ data: Float32Array; channels: number; samples: number; sampleRate: number }>;
  /**
   * -> packed H*W*3 frames of the requested indices (a prefix when the stream ends early); `skipped`:
   * H.264 packets whose non-reference picture was not decoded; `pictures`: packets decoded (not skipped) in
   * the decode that gave the frames; `redone`: skipping was abandoned by a check and every picture decoded
   * instead (native/media/video_skip.cc)
   */
  mediaDecodeVideo?(
    path: string,
    streamIndex: number,
    indices: number[],
    startUs: number,
    filters: string,
    pixelFormat: string,
    timeoutMs: number,
  ): Promise<{ frames: Uint8Array[]; width: number; height: number; counted: number; skipped: number; pictures: number; redone: boolean }>;
  // torch.distributed (native/distributed): blocking parts run off the JS thread and settle a Promise;
  // tensors given to a collective are written in place until it settles.
  distBackends(): string[];
  /** -> group id once every rank joined the rendezvous */
  distInit(
    backend: string,
    host: string,
    port: number,
    rank: number,
    worldSize: number,
    isServer: boolean,
    timeoutMs: number,
    storePrefixes: string[],
  ): Promise<number>;
  /** [rank, worldSize, backend, timeoutMs] */
  distInfo(group: number): [number, number, string, number];
  distDestroy(group: number): Promise<void>;
  /** The process (or worker) is exiting: waiting collectives give up at once. */
  distShutdown(): void;
  distAllReduce(group: number, tensors: Id[], op: string, timeoutMs: number): Promise<void>;
  distBroadcast(group: number, tensors: Id[], src: number, timeoutMs: number): Promise<void>;
  distAllGather(group: number, outputs: Id[], input: Id, timeoutMs: number): Promise<void>;
  /** The all-gather waited for on the calling (JS) thread, without the fork gate (gather.ts). */
  distAllGatherSync(group: number, outputs: Id[], input: Id, timeoutMs: number): void;
  distReduceScatter(group: number, output: Id, inputs: Id[], op: string, timeoutMs: number): Promise<void>;
  distBarrier(group: number, timeoutMs: number): Promise<void>;
  /** DDP gradient buckets: bucket k = params[indices[sum(sizes[<k]) ...]]; hooks start reductions during backward. */
  distGradBuckets(group: number, params: Id[], indices: number[], sizes: number[]): number;
  /** false = noSync: backward starts no reduction. */
  distGradBucketsEnable(set: number, on: boolean): void;
  /** Buckets whose all-reduce started since the last finish. */
  distGradBucketsStarted(set: number): number;
  /** Starts what is left, waits, writes the averaged gradients. */
  distGradBucketsFinish(set: number, timeoutMs: number): Promise<void>;
  distGradBucketsFree(set: number): boolean;
  // cuda
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(): void;
  cudaMemoryStats(device: number): number[];
  cudaResetPeakMemoryStats(device: number): void;
  cudaEmptyCache(): void;
  setAutocast(enabled: boolean, dtype: number): boolean;
}

const ROOT = path.join(__dirname, '..', '..', '..');

interface Attempt {
  path: string;
  error: string;
}

function tryLoad(file: string, attempts: Attempt[]): NativeBinding | null {
  if (!fs.existsSync(file)) {
    attempts.push({ path: file, error: 'not found' });
    return null;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeBinding;
  } catch (e) {
    attempts.push({ path: file, error: (e as Error).message.split('\n')[0] });
    return null;
  }
}

/** Prebuild variant directories, the one matching $LIBTORCH's flavour first. */
function variantDirs(): string[] {
  const base = path.join(ROOT, 'prebuilds');
  if (!fs.existsSync(base)) return [];
  const dirs = fs
    .readdirSync(base)
    .filter((d) => /^(cpu|cuda)-torch\d+\.\d+$/.test(d))
    .sort();
  const preferCuda = !!process.env.LIBTORCH && fs.existsSync(path.join(process.env.LIBTORCH, 'lib', 'libtorch_cuda.so'));
  return dirs
    .sort((a, b) => Number(b.startsWith(preferCuda ? 'cuda' : 'cpu')) - Number(a.startsWith(preferCuda ? 'cuda' : 'cpu')))
    .map((d) => path.join(base, d));
}

function load(): NativeBinding {
  const attempts: Attempt[] = [];
  if (process.env.SOCIAL_MAE_ADDON) {
    // An explicit choice: failing to load it is an error, not a reason to load something else.
    const b = tryLoad(path.resolve(process.env.SOCIAL_MAE_ADDON), attempts);
    if (b) return b;
    throw loadError(attempts, 'Fix: point SOCIAL_MAE_ADDON at a built social_mae.node, or unset it.');
  }
  const b = tryLoad(path.join(ROOT, 'build', 'Release', 'social_mae.node'), attempts);
  if (b) return b;
  for (const dir of variantDirs()) {
    let file: string;
    try {
      // node-gyp-build picks the right platform/arch/napi build inside one variant directory.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      file = require('node-gyp-build').path(dir);
    } catch (e) {
      attempts.push({ path: dir, error: (e as Error).message.split('\n')[0] });
      continue;
    }
    const b = tryLoad(file, attempts);
    if (b) return b;
  }
  throw loadError(
    attempts,
    'Fix: install LibTorch (Debian 12: apt-get install libtorch-dev libopenblas0-pthread), or set LIBTORCH to an ' +
      'unpacked LibTorch, then rebuild with `npm run build:native`.',
  );
}

function loadError(attempts: Attempt[], fix: string): Error {
  const lines = attempts.map((a) => `  ${a.path}: ${a.error}`).join('\n');
  const err = new Error(`social-mae: could not load the native addon. Tried:\n${lines}\n${fix}`) as Error & { code: string };
  err.code = 'ERR_ADDON_LOAD';
  return err;
}

/** The addon, loaded once per environment (each worker thread loads its own instance state). */
export const native: NativeBinding = load();
