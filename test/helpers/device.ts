/**
 * The device tests run on: SOCIAL_MAE_TEST_DEVICE ('cpu' by default, 'cuda' on a GPU machine).
 * Tests that honour it create their tensors with `{ device: DEVICE }`; CUDA-only suites skip with a
 * reason when no GPU is visible.
 */
import { torch } from '../../lib';

export const DEVICE: string = process.env.SOCIAL_MAE_TEST_DEVICE ?? 'cpu';
export const CUDA_AVAILABLE: boolean = torch.cuda.isAvailable();
/** A tap skip option for CUDA-only tests (false = run). */
export const SKIP_WITHOUT_CUDA: string | false = CUDA_AVAILABLE ? false : 'no CUDA device (this LibTorch is CPU-only or no GPU is visible)';
