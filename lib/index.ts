/**
 * social-mae: the curated public API. Everything users import comes from here.
 */
export { torch, Tensor, TorchError, F } from './tensor';
export type { DType, IndexSpec, SliceSpec, ValuesIndices, MemoryInfo } from './tensor';
export * as nn from './nn';
