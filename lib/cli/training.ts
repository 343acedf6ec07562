/**
 * What the pretrain / finetune / predict commands share: model size presets, the device, data sources
 * and loaders whose recipe fits the model, and the progress log.
 */
import { torch } from '../tensor';
import * as data from '../data';
import type { DataLoader } from '../data/loader';
import type { EncoderOptions } from '../models';
import { ParsedArgs, UsageError, choiceFlag, intFlag, stringFlag } from './args';

/** 'full': the released configuration; 'small': trains in seconds on a laptop CPU (the demo's). */
export const SIZES = ['full', 'small'] as const;
export type Size = (typeof SIZES)[number];
export const SMALL_ENCODER = { embedDim: 192, numHeads: 3, modalitySpecificDepth: 2, unifiedDepth: 1 } as const;
export const SMALL_DECODER = { decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4 } as const;

export function encoderPreset(size: Size): EncoderOptions {
  return size === 'small' ? { ...SMALL_ENCODER } : {};
}

/** Options every loop command takes (besides its own). */
export const LOADER_FLAGS = ['batch-size', 'workers', 'cache', 'device', 'seed', 'skip-broken', 'partition'] as const;

/** --device: 'cpu' (default) or 'cuda' / 'cuda:N', checked against what this LibTorch has. */
export function deviceFlag(args: ParsedArgs): string {
  const d = stringFlag(args, 'device', 'cpu');
  if (d === 'cpu') return d;
  if (!/^cuda(:\d+)?$/.test(d)) throw new UsageError(`--device expects cpu, cuda or cuda:N, got ${d}`);
  if (!torch.cuda.isAvailable()) throw new UsageError(`--device ${d}: CUDA is not available (this LibTorch is CPU-only or no GPU is visible)`);
  return d === 'cuda' ? 'cuda:0' : d;
}

/** A dataset (folder layout or manifest); `labels` pins the label space (validation, prediction). */
export async function openData(args: ParsedArgs, spec: string, labels?: data.LabelMap): Promise<data.DataSource> {
  const partition = args.flags.get('partition');
  return data.openSource(spec, { ...(typeof partition === 'string' ? { partition } : {}), ...(labels ? { labels } : {}) });
}

/** A loader over `source` with the reference recipe; training shuffles and samples random windows. */
export function makeLoader(args: ParsedArgs, source: data.DataSource, o: { train: boolean; device: string; mixup?: number }): DataLoader {
  const recipe: data.Recipe = { audio: { ...data.REFERENCE_RECIPE.audio }, video: { ...data.REFERENCE_RECIPE.video, start: o.train ? 'random' : 'center' } };
  const cache = args.flags.get('cache');
  return new data.DataLoader(source, {
    recipe,
    batchSize: intFlag(args, 'batch-size', 12),
    shuffle: o.train,
    seed: intFlag(args, 'seed', 0),
    workers: intFlag(args, 'workers', 0),
    onError: args.flags.has('skip-broken') ? 'skip' : 'raise',
    device: o.device,
    ...(o.mixup ? { mixup: o.mixup } : {}),
    ...(typeof cache === 'string' ? { cacheDir: cache } : {}),
  });
}

export function sizeFlag(args: ParsedArgs): Size {
  return choiceFlag(args, 'size', SIZES, 'full');
}

export const log = (msg: string) => process.stdout.write(`${msg}\n`);
