/** torch.cuda: availability, synchronisation, memory statistics, autocast. */
import { native as N } from '../native/binding';
import { dtypeCode } from './dtype';
import { checkOptions, opt } from './options';

export interface CudaMemoryStats {
  allocatedBytes: number;
  peakAllocatedBytes: number;
  reservedBytes: number;
  peakReservedBytes: number;
  allocRetries: number;
}

export const cuda = {
  isAvailable: (): boolean => N.cudaIsAvailable(),
  deviceCount: (): number => N.cudaDeviceCount(),
  /** Waits for every queued kernel on the current device. */
  synchronize: (): void => N.cudaSynchronize(),
  memoryStats(device = 0): CudaMemoryStats {
    const [allocatedBytes, peakAllocatedBytes, reservedBytes, peakReservedBytes, allocRetries] = N.cudaMemoryStats(device);
    return { allocatedBytes, peakAllocatedBytes, reservedBytes, peakReservedBytes, allocRetries };
  },
  resetPeakMemoryStats: (device = 0): void => N.cudaResetPeakMemoryStats(device),
  emptyCache: (): void => N.cudaEmptyCache(),
};

/**
 * Runs fn with CUDA autocast (bf16 by default, or fp16): matmuls, convolutions and attention run in
 * the lower precision, reductions and norms in float32, as torch.autocast('cuda'). Synchronous fn only.
 */
export function autocast<T>(fn: () => T, opts: { dtype?: 'bfloat16' | 'float16'; enabled?: boolean } = {}): T {
  checkOptions('autocast', opts, { dtype: opt.oneOf(['bfloat16', 'float16']), enabled: opt.boolean });
  const dt = opts.dtype ?? 'bfloat16';
  if (opts.enabled === false) return fn();
  const prev = N.setAutocast(true, dtypeCode(dt));
  try {
    return fn();
  } finally {
    N.setAutocast(prev, dtypeCode(dt));
  }
}
