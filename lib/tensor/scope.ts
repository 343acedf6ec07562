/** Explicit memory management: tidy scopes, keep, memory accounting, grad-mode scopes. */
import { native as N } from '../native/binding';
import { TorchError } from './errors';
import { Tensor, scopeState, tid } from './tensor';

/** Collects the tensors inside a result (tensor, arrays, Maps, plain objects), without cycles. */
function collect(value: unknown, out: Tensor[], seen: Set<unknown>): void {
  if (value instanceof Tensor) {
    out.push(value);
    return;
  }
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) for (const v of value) collect(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) collect(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, seen);
}

/**
 * Runs fn and frees every tensor created inside it except those it returns (in a Tensor, array, Map
 * or plain object) or passed to `keep`. Nested tidies move returned tensors to the enclosing scope.
 * fn must be synchronous: a returned Promise is an error (ERR_TIDY_ASYNC).
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TorchError('tidy: argument fn expected a function', 'ERR_INVALID_ARG');
  N.beginScope();
  scopeState.depth++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopeState.depth--;
    N.endScope([]);
    throw e;
  }
  scopeState.depth--;
  if (result instanceof Promise) {
    N.endScope([]);
    result.catch(() => undefined);
    throw new TorchError('tidy: fn returned a Promise; tidy scopes are synchronous (await outside, tidy inside)', 'ERR_TIDY_ASYNC');
  }
  const survivors: Tensor[] = [];
  collect(result, survivors, new Set());
  N.endScope(survivors.map((t) => t.id));
  return result;
}

/** Exempts a tensor from scope cleanup; it lives until dispose(). Returns it. */
export function keep<T extends Tensor>(t: T): T {
  N.keep(tid(t, 'keep', 't'));
  return t;
}

/** Disposes every tensor inside a value (tensor, arrays, Maps, plain objects). */
export function dispose(value: unknown): void {
  const ts: Tensor[] = [];
  collect(value, ts, new Set());
  for (const t of ts) t.dispose();
}

export interface MemoryInfo {
  /** Live native tensor handles. */
  liveTensors: number;
  /** Host bytes held by live tensors (each storage counted once). */
  bytes: number;
  /** The most one host allocation may take: physical memory or, when smaller, the memory limit of this
   *  process's cgroup (a container's limit), or SOCIAL_MAE_MAX_ALLOC_BYTES. Larger requests fail with ERR_OOM
   *  instead of being granted by overcommit and getting the process killed later. */
  hostLimit: { bytes: number; source: string };
  /** The cache of freed host blocks of at least `minBlockBytes` (default 128 KiB, glibc's default mmap
   *  threshold; SOCIAL_MAE_HOST_CACHE_MIN_BYTES) that the CPU allocator reuses instead of faulting in fresh
   *  pages (native/common/host_cache.h). `capBytes` from SOCIAL_MAE_HOST_CACHE_BYTES (0 turns it off) or
   *  `torch.setHostCacheBytes`, default min(1 GiB, hostLimit / 16); oldest freed blocks are evicted first.
   *  `installed` is false on LibTorch 2.x builds, which keep LibTorch's allocator. */
  hostCache: HostCacheInfo;
  /** CUDA bytes held by live tensors, and the caching allocator's view when CUDA is present. */
  cuda?: { bytes: number; allocated: number; peakAllocated: number; reserved: number; peakReserved: number };
}

export interface HostCacheInfo {
  installed: boolean;
  capBytes: number;
  minBlockBytes: number;
  cachedBytes: number;
  cachedBlocks: number;
  /** Large requests served from the cache, and given new memory. */
  hits: number;
  misses: number;
  /** Kept blocks returned to the system (cap exceeded or lowered). */
  evictions: number;
  source: string;
  /** glibc's malloc thresholds, raised when the addon loads (native/common/malloc_tune.h) so that the large
   *  blocks that are not tensors (decoder frames, ArrayBuffers) also keep their pages; SOCIAL_MAE_MALLOC_TUNE=0
   *  leaves glibc's defaults. `source` says the values or why they were not set. */
  malloc: { tuned: boolean; source: string };
}

export function hostCache(): HostCacheInfo {
  const [installed, capBytes, cachedBytes, cachedBlocks, hits, misses, evictions, source, tuned, mallocSource, minBlockBytes] = N.hostCache();
  return { installed, capBytes, minBlockBytes, cachedBytes, cachedBlocks, hits, misses, evictions, source, malloc: { tuned, source: mallocSource } };
}

/** Sets the host block cache's cap in bytes (0: keep nothing and free what is kept) and, when given, the
 *  smallest block it keeps. Returns false, changing nothing, where no cache is installed (LibTorch 2.x builds). */
export function setHostCacheBytes(bytes: number, minBlockBytes?: number): boolean {
  const check = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new TorchError(`setHostCacheBytes: argument ${name} expected a non-negative integer, got ${String(v)}`, 'ERR_INVALID_ARG');
    }
  };
  check('bytes', bytes);
  if (minBlockBytes !== undefined) check('minBlockBytes', minBlockBytes);
  return N.setHostCacheBytes(bytes, minBlockBytes ?? hostCache().minBlockBytes);
}

export function memory(): MemoryInfo {
  const [liveTensors, bytes, cudaBytes, limitBytes, limitSource] = N.memory();
  const info: MemoryInfo = { liveTensors, bytes, hostLimit: { bytes: limitBytes, source: limitSource }, hostCache: hostCache() };
  if (N.cudaIsAvailable()) {
    const [allocated, peakAllocated, reserved, peakReserved] = N.cudaMemoryStats(0);
    info.cuda = { bytes: cudaBytes, allocated, peakAllocated, reserved, peakReserved };
  }
  return info;
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = N.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    N.setGradEnabled(prev);
  }
}

/** Runs fn with autograd recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs fn with autograd recording on (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}
