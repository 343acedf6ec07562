/**
 * What the pretrain / finetune / predict commands share: model size presets, the device, data sources
 * and loaders whose recipe fits the model, and the progress log.
 */
import { torch } from '../tensor';
import * as data from '../data';
import type { DataLoader } from '../data/loader';
import type { EncoderOptions } from '../models';
import { ParsedArgs, UsageError, choiceFlag, floatFlag, intFlag, requiredFlag, stringFlag } from './args';

/** 'full': the released configuration; 'small': trains in seconds on a laptop CPU (the demo's). */
export const SIZES = ['full', 'small'] as const;
export type Size = (typeof SIZES)[number];
export const SMALL_ENCODER = { embedDim: 192, numHeads: 3, modalitySpecificDepth: 2, unifiedDepth: 1 } as const;
export const SMALL_DECODER = { decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4 } as const;

export function encoderPreset(size: Size): EncoderOptions {
  return size === 'small' ? { ...SMALL_ENCODER } : {};
}

/** The loader flags (makeLoader, openData, deviceFlag). */
const LOADER_FLAGS = ['batch-size', 'workers', 'cache', 'device', 'seed', 'skip-broken', 'partition'] as const;
/** The flags pretrain and finetune share (read by loopFlags), and those of them that take no value. */
export const LOOP_FLAGS = [
  'train',
  'val',
  'out',
  'init',
  'epochs',
  'lr',
  'size',
  'amp',
  'resume',
  'warmup',
  'noise',
  'lr-start',
  'lr-step',
  'lr-decay',
  'log-every',
  ...LOADER_FLAGS,
] as const;
export const LOOP_BOOLEAN_FLAGS = ['resume', 'warmup', 'noise', 'skip-broken'] as const;

/**
 * The shared flags of pretrain and finetune, read before any data is opened or any model is built (a bad
 * value fails at once). `defaults`: the command's epochs, lr and MultiStepLR start/step.
 */
export function loopFlags(args: ParsedArgs, defaults: { epochs: number; lr: number; lrStart: number; lrStep: number }) {
  const size = sizeFlag(args);
  const device = deviceFlag(args);
  const out = requiredFlag(args, 'out');
  const trainSpec = requiredFlag(args, 'train');
  const valSpec = args.flags.get('val');
  const init = args.flags.get('init');
  return {
    size,
    device,
    out,
    trainSpec,
    valSpec: typeof valSpec === 'string' ? valSpec : null,
    init: typeof init === 'string' ? init : null,
    seed: intFlag(args, 'seed', 0),
    /** Options of train.pretrain / train.finetune. */
    fit: {
      epochs: intFlag(args, 'epochs', defaults.epochs),
      lr: floatFlag(args, 'lr', defaults.lr),
      amp: choiceFlag(args, 'amp', ['off', 'bf16', 'fp16'] as const, 'off'),
      schedule: {
        warmup: args.flags.has('warmup'),
        start: intFlag(args, 'lr-start', defaults.lrStart),
        step: intFlag(args, 'lr-step', defaults.lrStep),
        decay: floatFlag(args, 'lr-decay', 0.5),
      },
      noise: args.flags.has('noise'),
      runDir: out,
      resume: args.flags.has('resume'),
      logEvery: intFlag(args, 'log-every', 50),
      onLog: log,
    },
  };
}

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
