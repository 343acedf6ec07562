/**
 * DistributedDataParallel for nn.Module, PyTorch's recipe on our process group (process_group.ts):
 * - at wrap, rank 0's parameters and buffers are broadcast to every rank (all start identical);
 * - after backward, gradients are averaged across ranks in buckets: parameters (requiring grad, in
 *   `namedParameters()` order) are grouped into ~`bucketCapMb` MB buckets of one dtype and device, each
 *   bucket's gradients are flattened into one tensor, all-reduced with one collective ('avg': sum then
 *   divide by the world size) and copied back. Up to two buckets are in flight while the next one is
 *   flattened.
 * - Overlap with backward: NOT done. The addon exposes no autograd hooks, so reduction starts once
 *   `loss.backward()` returned (PyTorch's Reducer starts buckets from gradient hooks during backward).
 * - `noSync(fn)`: backward calls inside fn accumulate gradients locally (gradient accumulation); the next
 *   synced `backward` reduces the accumulated sum, as in PyTorch.
 * - The wrapped module is `ddp.module`; its state dict keys are unchanged (no prefix is added here).
 * A parameter that requires grad but got none on this rank contributes zeros and receives the average,
 * so every rank takes the same optimizer step (PyTorch without find_unused_parameters raises instead).
 * Use outside `torch.tidy` (the calls await collectives).
 */
import type { Module } from '../nn';
import { Tensor, TorchError, torch } from '../tensor';
import { ELEMENT_SIZE } from '../tensor/dtype';
import { argError } from '../tensor/errors';
import { allReduce, broadcast, getRank, isInitialized } from './process_group';

export interface DDPOptions {
  /** Bucket size in MB (default 25, as PyTorch's bucket_cap_mb). */
  bucketCapMb?: number;
  /** Broadcast buffers from rank 0 at wrap (default true). */
  broadcastBuffers?: boolean;
  /** Per-collective timeout (default: the group's). */
  timeoutMs?: number;
}

const MAX_IN_FLIGHT = 2;

/** Groups tensors into buckets of at most `capBytes` (a tensor larger than the cap gets its own) of one dtype and device. */
export function bucketize(tensors: Tensor[], capBytes: number): Tensor[][] {
  const out: Tensor[][] = [];
  let cur: Tensor[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const size = t.numel() * ELEMENT_SIZE[t.dtype];
    const fits = cur.length > 0 && bytes + size <= capBytes && cur[0].dtype === t.dtype && cur[0].device === t.device;
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

/** One flat tensor holding `parts` (each flattened, in order); missing parts (null) are zeros of `numels[k]`. */
function flatten(parts: (Tensor | undefined)[], like: Tensor[]): Tensor {
  return torch.tidy(() =>
    torch.cat(parts.map((p, k) => (p ? p.reshape(-1) : torch.zeros([like[k].numel()], { dtype: like[k].dtype, device: like[k].device })))),
  );
}

/** Broadcasts `tensors` from rank 0 in buckets, copying the result into each (parameters included, no autograd). */
async function broadcastTensors(tensors: Tensor[], capBytes: number, timeoutMs?: number): Promise<void> {
  const rank = getRank();
  for (const bucket of bucketize(tensors, capBytes)) {
    const flat = torch.noGrad(() =>
      flatten(
        bucket.map((t) => t.detach()),
        bucket,
      ),
    );
    try {
      await broadcast(flat, 0, timeoutMs === undefined ? {} : { timeoutMs });
      if (rank !== 0) unflattenInto(flat, bucket, (t, piece) => t.copy_(piece));
    } finally {
      flat.dispose();
    }
  }
}

/** Calls `write(target, piece)` for each target with its slice of `flat` shaped like it. */
function unflattenInto(flat: Tensor, targets: Tensor[], write: (target: Tensor, piece: Tensor) => void): void {
  torch.tidy(() =>
    torch.noGrad(() => {
      const pieces = flat.split(targets.map((t) => t.numel()));
      targets.forEach((t, k) => write(t, pieces[k].view(t.shape)));
    }),
  );
}

export class DistributedDataParallel<M extends Module = Module> {
  readonly module: M;
  private readonly buckets: Tensor[][];
  private readonly timeoutMs: number | undefined;
  private syncEnabled = true;

  private constructor(module: M, buckets: Tensor[][], timeoutMs: number | undefined) {
    this.module = module;
    this.buckets = buckets;
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
    return new DistributedDataParallel(module, bucketize(trainable, capBytes), opts.timeoutMs);
  }

  /** Parameter buckets (each reduced with one collective). */
  get bucketSizes(): number[] {
    return this.buckets.map((b) => b.length);
  }

  /** `loss.backward()`, then (unless inside noSync) the gradient average across ranks. */
  async backward(loss: Tensor, opts: { retainGraph?: boolean } = {}): Promise<void> {
    loss.backward(undefined, opts);
    if (this.syncEnabled) await this.syncGradients();
  }

  /** Averages every parameter's gradient across ranks (bucketed, in place). */
  async syncGradients(): Promise<void> {
    const inFlight: Promise<void>[] = [];
    const errors: unknown[] = [];
    const timeout = this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs };
    for (const bucket of this.buckets) {
      if (inFlight.length >= MAX_IN_FLIGHT) await inFlight.shift();
      const flat = torch.tidy(() =>
        flatten(
          bucket.map((p) => p.grad),
          bucket,
        ),
      );
      inFlight.push(
        allReduce(flat, 'avg', timeout)
          .then(() =>
            unflattenInto(flat, bucket, (p, piece) => {
              const g = p.grad;
              if (g) g.copy_(piece);
              else p.grad = piece.clone();
            }),
          )
          .catch((e: unknown) => void errors.push(e))
          .finally(() => flat.dispose()),
      );
    }
    await Promise.all(inFlight);
    if (errors.length > 0) throw errors[0];
  }

  /** Runs `fn` (forward + backward of micro-batches) without gradient synchronisation. */
  async noSync<T>(fn: () => T | Promise<T>): Promise<T> {
    const prev = this.syncEnabled;
    this.syncEnabled = false;
    try {
      return await fn();
    } finally {
      this.syncEnabled = prev;
    }
  }

  /** Broadcasts rank 0's buffers to every rank (PyTorch does this before each forward with broadcast_buffers). */
  async syncBuffers(): Promise<void> {
    await broadcastTensors(this.module.buffers(), 25 * 1024 * 1024, this.timeoutMs);
  }
}
