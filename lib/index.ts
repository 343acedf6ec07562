/**
 * social-mae: the curated public API. Everything users import comes from here.
 *
 *   import { torch, nn, optim, data, io, train, SocialMAE, SocialMAEFT } from 'social-mae';
 */
import { torch as tensorApi } from './tensor';
import { load, save } from './io';
import * as distributed from './distributed';
export { Tensor, TorchError, F } from './tensor';
export type { DType, IndexSpec, SliceSpec, ValuesIndices, MemoryInfo } from './tensor';
export * as nn from './nn';
export * as optim from './optim';
export * as data from './data';
export * as io from './io';
export * as models from './models';
export * as train from './train';
export * as distributed from './distributed';
export { SocialMAE, SocialMAEFT } from './models';

/** The torch namespace, with checkpoint I/O (`await torch.load(path, { mapLocation })`, `await torch.save(obj, path)`)
 *  and `torch.distributed`. */
export const torch = { ...tensorApi, load, save, distributed };
export type {
  FTMode,
  PretrainOutput,
  EncoderOutput,
  CompatMode,
  PretrainForwardOptions,
  MaskingOptions,
  MaskMode,
  EncoderOptions,
  FTOptions,
  PretrainOptions,
  Embeddings,
  LoadReport,
} from './models';
