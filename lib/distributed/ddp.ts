/**
 * DistributedDataParallel for nn.Module, PyTorch's recipe on our process group (process_group.ts):
 * - at wrap, rank 0's parameters and buffers are broadcast to every rank (all start identical);
 * - gradients are averaged across ranks in buckets, overlapped with backward: parameters requiring grad
 *   are grouped in reverse `namedParameters()` order (roughly the order backward produces their
 *   gradients, as PyTorch's Reducer) into ~`bucketCapMb` MB buckets of one dtype and device (the first
 *   one 1 MB, as PyTorch's); a hook on
 *   each parameter's gradient accumulator (native/distributed/grad_buckets.h) starts a bucket's
 *   all-reduce ('avg': sum, then divide by the world size) as soon as its gradients are complete, while
 *   backward goes on; `ddp.backward(loss)` / `syncGradients()` then waits (off the JS thread) for the
 *   rest and writes the averages into `.grad`. Buckets start in the same order on every rank.
 * - `noSync(fn)`: backward calls inside fn accumulate gradients locally (gradient accumulation); the next
 *   synced `backward` reduces the accumulated sum, as in PyTorch.
 * - The wrapped module is `ddp.module`; its state dict keys are unchanged (no prefix is added here).
 * A parameter that requires grad but got none on this rank contributes zeros and receives the average,
 * so every rank takes the same optimizer step (PyTorch without find_unused_parameters raises instead).
 * Use outside `torch.tidy` (the calls await collectives); `dispose()` removes the hooks.
 */
import type { Module } from '../nn';
import { Tensor, TorchError, torch } from '../tensor';
import { ELEMENT_SIZE } from '../tensor/dtype';
import { argError } from '../tensor/errors';
import { native as N } from '../native/binding';
import { broadcast, currentGroup, getRank, isInitialized } from './process_group';

export interface DDPOptions {
  /** Bucket size in MB (default 25, as PyTorch's bucket_cap_mb). */
  bucketCapMb?: number;
  /** Broadcast buffers from rank 0 at wrap (default true). */
  broadcastBuffers?: boolean;
  /** Per-collective timeout (default: the group's). */
  timeoutMs?: number;
}

/** PyTorch's first bucket cap (torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES): the last layers' gradients,
 *  ready first, start reducing early. */
const FIRST_BUCKET_BYTES = 1024 * 1024;

/**
 * Groups tensors into buckets of one dtype and device holding at most `capBytes` (the first bucket at
 * most `firstCapBytes`; a tensor larger than the cap gets its own bucket).
 */
export function bucketize(tensors: Tensor[], capBytes: number, firstCapBytes = capBytes): Tensor[][] {
  const out: Tensor[][] = [];
  let cur: Tensor[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const size = t.numel() * ELEMENT_SIZE[t.dtype];
    const cap = out.length === 0 ? firstCapBytes : capBytes;
    const fits = cur.length > 0 && bytes + size <= cap && cur[0].dtype === t.dtype && cur[0].device === t.device;
    if (cur.length > 0 && !fits) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(t);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Broadcasts `tensors` from rank 0 in buckets (each flattened into one tensor), copying the result into
 *  each (parameters included, no autograd). */
async function broadcastTensors(tensors: Tensor[], capBytes: number, timeoutMs?: number): Promise<void> {
  const rank = getRank();
  for (const bucket of bucketize(tensors, capBytes)) {
    const flat = torch.tidy(() => torch.noGrad(() => torch.cat(bucket.map((t) => t.detach().reshape(-1)))));
    try {
      await broadcast(flat, 0, timeoutMs === undefined ? {} : { timeoutMs });
      if (rank !== 0)
        torch.tidy(() =>
          torch.noGrad(() => {
            const pieces = flat.split(bucket.map((t) => t.numel()));
            bucket.forEach((t, k) => t.copy_(pieces[k]!.view(t.shape)));
          }),
        );
    } finally {
      flat.dispose();
    }
  }
}

export class DistributedDataParallel<M extends Module = Module> {
  readonly module: M;
  private readonly buckets: Tensor[][];
  private readonly timeoutMs: number;
  private bucketSet: number | null;
  private syncEnabled = true;

  private constructor(module: M, buckets: Tensor[][], bucketSet: number, timeoutMs: number) {
    this.module = module;
    this.buckets = buckets;
    this.bucketSet = bucketSet;
    this.timeoutMs = timeoutMs;
  }

  /** Wraps `module` (needs an initialised process group): broadcasts rank 0's parameters and buffers. */
  static async wrap<M extends Module>(module: M, opts: DDPOptions = {}): Promise<DistributedDataParallel<M>> {
    const fn = 'DistributedDataParallel.wrap';
    if (!isInitialized())
      throw new TorchError(`${fn}: the default process group is not initialised (call torch.distributed.initProcessGroup first)`, 'ERR_DIST_NOT_INITIALIZED');
    if (!module || typeof (module as Module).namedParameters !== 'function') argError(fn, 'module', 'an nn.Module', module);
    const capMb = opts.bucketCapMb ?? 25;
    if (typeof capMb !== 'number' || !(capMb > 0)) argError(fn, 'bucketCapMb', 'a number > 0', capMb);
    const capBytes = capMb * 1024 * 1024;
    const params = module.parameters();
    const state = opts.broadcastBuffers === false ? params : [...params, ...module.buffers()];
    await broadcastTensors(state, capBytes, opts.timeoutMs);
    const trainable = params.filter((p) => p.requiresGrad);
    const buckets = bucketize([...trainable].reverse(), capBytes, Math.min(FIRST_BUCKET_BYTES, capBytes));
    const index = new Map(trainable.map((p, i) => [p, i]));
    const group = currentGroup(fn);
    const set = N.distGradBuckets(
      group.id,
      trainable.map((p) => p.id),
      buckets.flat().map((p) => index.get(p)!),
      buckets.map((b) => b.length),
    );
    return new DistributedDataParallel(module, buckets, set, opts.timeoutMs ?? group.info.timeoutMs);
  }

  /** Parameters per bucket, in reduction order. */
  get bucketSizes(): number[] {
    return this.buckets.map((b) => b.length);
  }

  /** Buckets whose all-reduce has already started since the last sync: after a backward outside noSync,
   *  every bucket whose gradients are complete (all, when every parameter got one) — the overlap. */
  get startedBuckets(): number {
    return N.distGradBucketsStarted(this.set('startedBuckets'));
  }

  private set(fn: string): number {
    if (this.bucketSet === null) throw new TorchError(`DistributedDataParallel.${fn}: this wrapper was disposed`, 'ERR_INVALID_STATE');
    return this.bucketSet;
  }

  /** `loss.backward()` with the bucket reductions overlapped, then (unless inside noSync) waits for the average. */
  async backward(loss: Tensor, opts: { retainGraph?: boolean } = {}): Promise<void> {
    const set = this.set('backward');
    N.distGradBucketsEnable(set, this.syncEnabled);
    loss.backward(undefined, opts);
    if (this.syncEnabled) await this.syncGradients();
  }

  /**
   * Completes the gradient average after a backward outside noSync (a plain `loss.backward()` works too:
   * its hooks started the buckets): starts what is left, waits, writes every parameter's `.grad`.
   */
  async syncGradients(): Promise<void> {
    await N.distGradBucketsFinish(this.set('syncGradients'), this.timeoutMs);
  }

  /** Runs `fn` (forward + backward of micro-batches) without gradient synchronisation. */
  async noSync<T>(fn: () => T | Promise<T>): Promise<T> {
    const set = this.set('noSync');
    const prev = this.syncEnabled;
    this.syncEnabled = false;
    N.distGradBucketsEnable(set, false);
    try {
      return await fn();
    } finally {
      this.syncEnabled = prev;
      if (this.bucketSet !== null) N.distGradBucketsEnable(this.bucketSet, prev);
    }
  }

  /** Broadcasts rank 0's buffers to every rank (PyTorch does this before each forward with broadcast_buffers). */
  async syncBuffers(): Promise<void> {
    await broadcastTensors(this.module.buffers(), 25 * 1024 * 1024, this.timeoutMs);
  }

  /** Removes the gradient hooks; the module stays usable on its own. Idempotent. */
  dispose(): void {
    if (this.bucketSet !== null) N.distGradBucketsFree(this.bucketSet);
    this.bucketSet = null;
  }
}
