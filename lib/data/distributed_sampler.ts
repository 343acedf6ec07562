/**
 * DistributedSampler: PyTorch's `torch.utils.data.DistributedSampler` semantics, index for index.
 * Each of `numReplicas` ranks sees `numSamples` items per epoch, the same count everywhere:
 * - shuffle (default): the epoch's order is `torch.randperm(n, generator=torch.Generator().manual_seed(seed +
 *   epoch))` — the same LibTorch generator, so the same order as Python;
 * - dropLast false (default): the order is padded by repeating its start until it divides evenly;
 *   dropLast true: the tail that does not divide evenly is dropped;
 * - rank r takes positions r, r + numReplicas, r + 2 * numReplicas, ...
 * Plug into the loader with `createLoader(source, { sampler, batchSize })` (instead of `shuffle`).
 */
import { native as N } from '../native/binding';
import { DataError } from './errors';

/** What the loader needs of a sampler (loader.ts `LoaderOptions.sampler`). */
export interface Sampler {
  /** Items per epoch. */
  readonly numSamples: number;
  /** Dataset indices of one epoch, in order (length numSamples). */
  indices(epoch: number): number[];
}

export interface DistributedSamplerOptions {
  /** Ranks sharing the dataset (torch.distributed's world size). */
  numReplicas: number;
  /** This rank, in [0, numReplicas). */
  rank: number;
  shuffle?: boolean; // true
  seed?: number; // 0
  dropLast?: boolean; // false
}

function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max)
    throw new DataError(`DistributedSampler: ${name} must be an integer in [${min}, ${max}], got ${String(v)}`, 'ERR_INVALID_ARG');
  return v as number;
}

/** torch.randperm(n, generator seeded with `seed`), as numbers. */
function seededPermutation(n: number, seed: number): number[] {
  const id = N.randpermSeeded(n, seed);
  try {
    return Array.from(new BigInt64Array(N.toBuffer(id)), Number);
  } finally {
    N.dispose(id);
  }
}

export class DistributedSampler implements Sampler {
  readonly datasetLength: number;
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly numSamples: number;
  readonly totalSize: number;

  constructor(datasetLength: number, opts: DistributedSamplerOptions) {
    this.datasetLength = checkInt('datasetLength', datasetLength, 0);
    this.numReplicas = checkInt('numReplicas', opts.numReplicas, 1);
    this.rank = checkInt('rank', opts.rank, 0, this.numReplicas - 1);
    this.shuffle = opts.shuffle ?? true;
    this.seed = checkInt('seed', opts.seed ?? 0, 0);
    this.dropLast = opts.dropLast ?? false;
    const n = this.datasetLength,
      r = this.numReplicas;
    this.numSamples = this.dropLast && n % r !== 0 ? Math.ceil((n - r) / r) : Math.ceil(n / r);
    this.totalSize = this.numSamples * r;
  }

  indices(epoch: number): number[] {
    checkInt('epoch', epoch, 0);
    const n = this.datasetLength;
    let order = this.shuffle ? seededPermutation(n, this.seed + epoch) : Array.from({ length: n }, (_, i) => i);
    if (!this.dropLast) {
      const pad = this.totalSize - order.length;
      if (pad > 0 && n > 0) {
        const repeated: number[] = [];
        while (repeated.length < pad) repeated.push(...order);
        order = order.concat(repeated.slice(0, pad));
      }
    } else {
      order = order.slice(0, this.totalSize);
    }
    const out: number[] = [];
    for (let i = this.rank; i < this.totalSize && i < order.length; i += this.numReplicas) out.push(order[i]!);
    return out;
  }
}
