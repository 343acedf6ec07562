/**
 * What the pretrain / finetune / predict commands share: model size presets, the flag groups (declared
 * once, spread into each command's spec), the device, data sources and loaders whose recipe fits the
 * model, and the progress log. Everything here reads flags only from a parsed result (lib/cli/args.ts).
 */
import { torch } from '../tensor';
import * as data from '../data';
import type { DataLoader } from '../data/loader';
import type { EncoderOptions } from '../models';
import { UsageError, type FlagSet, type Flags } from './args';

/** 'full': the released configuration; 'small': trains in seconds on a laptop CPU (the demo's). */
export const SIZES = ['full', 'small'] as const;
export type Size = (typeof SIZES)[number];
export const SMALL_ENCODER = { embedDim: 192, numHeads: 3, modalitySpecificDepth: 2, unifiedDepth: 1 } as const;
export const SMALL_DECODER = { decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4 } as const;

export function encoderPreset(size: Size): EncoderOptions {
  return size === 'small' ? { ...SMALL_ENCODER } : {};
}

/** --device, the model's and the batches'. */
export const DEVICE_FLAGS = {
  device: { type: 'string', default: 'cpu', value: 'DEV', help: 'cpu, cuda or cuda:N' },
} as const satisfies FlagSet;

/** The loader's flags (makeLoader, openData). */
export const LOADER_FLAGS = {
  ...DEVICE_FLAGS,
  batchSize: { type: 'int', min: 1, default: 12, help: 'items per batch' },
  workers: { type: 'int', min: 0, default: 0, help: 'decoding worker processes; 0 decodes in this process' },
  cache: { type: 'string', value: 'DIR', help: 'feature cache directory (decoded items are reused across epochs and runs)' },
  seed: { type: 'int', min: 0, default: 0, help: 'seed of the model initialisation, shuffling and random windows' },
  onBadItem: { type: 'choice', choices: ['raise', 'skip'], default: 'raise', help: 'an item that fails to decode stops the run (raise) or is left out (skip)' },
  partition: { type: 'string', value: 'NAME', help: 'partition of a folder-layout dataset' },
} as const satisfies FlagSet;
type LoaderFlags = Flags<typeof LOADER_FLAGS>;

/** The defaults that differ between pretrain and finetune. */
export interface LoopDefaults {
  epochs: number;
  lr: number;
  lrStart: number;
  lrStep: number;
}

/** The flags pretrain and finetune share, with the command's defaults. */
export function loopFlags(d: LoopDefaults) {
  return {
    train: { type: 'string', required: true, value: 'DATA', help: 'training data: a folder layout or a CSV/JSONL manifest' },
    val: { type: 'string', value: 'DATA', help: 'validation data (picks the best epoch)' },
    out: { type: 'string', required: true, value: 'DIR', help: 'run directory: config.json, progress.json, models/' },
    init: { type: 'string', value: 'FILE', help: 'initial weights (.pth / .safetensors checkpoint)' },
    size: { type: 'choice', choices: SIZES, default: 'full', help: "model size: 'full' is the released configuration, 'small' trains in seconds on a CPU" },
    epochs: { type: 'int', min: 1, default: d.epochs, help: 'training epochs' },
    lr: { type: 'float', min: 0, default: d.lr, help: 'learning rate' },
    amp: { type: 'choice', choices: ['off', 'bf16', 'fp16'], default: 'off', help: 'mixed precision on CUDA' },
    resume: { type: 'boolean', help: 'continue the run in --out after its last complete epoch' },
    warmup: { type: 'boolean', help: "the reference's learning-rate warm-up" },
    noise: { type: 'boolean', help: 'fbank noise augmentation' },
    lrStart: { type: 'int', min: 0, default: d.lrStart, help: 'first epoch of the MultiStepLR decay' },
    lrStep: { type: 'int', min: 1, default: d.lrStep, help: 'epochs between lr decays' },
    lrDecay: { type: 'float', min: 0, default: 0.5, help: 'lr factor per decay' },
    logEvery: { type: 'int', min: 1, default: 50, help: 'steps between progress lines' },
    ...LOADER_FLAGS,
  } as const satisfies FlagSet;
}
type LoopFlags = Flags<ReturnType<typeof loopFlags>>;

/** The options of train.pretrain / train.finetune that come from the shared flags. */
export function fitOptions(f: LoopFlags) {
  return {
    epochs: f.epochs,
    lr: f.lr,
    amp: f.amp,
    schedule: { warmup: f.warmup, start: f.lrStart, step: f.lrStep, decay: f.lrDecay },
    noise: f.noise,
    runDir: f.out,
    resume: f.resume,
    logEvery: f.logEvery,
    onLog: log,
  };
}

/** --device: 'cpu' or 'cuda' / 'cuda:N', checked against what this LibTorch has. */
export function resolveDevice(d: string): string {
  if (d === 'cpu') return d;
  if (!/^cuda(:\d+)?$/.test(d)) throw new UsageError(`--device expects cpu, cuda or cuda:N, got ${d}`);
  if (!torch.cuda.isAvailable()) throw new UsageError(`--device ${d}: CUDA is not available (this LibTorch is CPU-only or no GPU is visible)`);
  return d === 'cuda' ? 'cuda:0' : d;
}

/** A dataset (folder layout or manifest); `labels` pins the label space (validation, prediction). */
export async function openData(f: Pick<LoaderFlags, 'partition'>, spec: string, labels?: data.LabelMap): Promise<data.DataSource> {
  return data.openSource(spec, { ...(f.partition !== undefined ? { partition: f.partition } : {}), ...(labels ? { labels } : {}) });
}

/** A loader over `source` with the reference recipe; training shuffles and samples random windows. */
export function makeLoader(f: LoaderFlags, source: data.DataSource, o: { train: boolean; device: string; mixup?: number }): DataLoader {
  const recipe: data.Recipe = { audio: { ...data.REFERENCE_RECIPE.audio }, video: { ...data.REFERENCE_RECIPE.video, start: o.train ? 'random' : 'center' } };
  return new data.DataLoader(source, {
    recipe,
    batchSize: f.batchSize,
    shuffle: o.train,
    seed: f.seed,
    workers: f.workers,
    onError: f.onBadItem,
    device: o.device,
    ...(o.mixup ? { mixup: o.mixup } : {}),
    ...(f.cache !== undefined ? { cacheDir: f.cache } : {}),
  });
}

export const log = (msg: string) => process.stdout.write(`${msg}\n`);
