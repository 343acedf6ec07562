/**
 * What the pretrain / finetune / predict commands share: model size presets, the flag groups (declared
 * once, spread into each command's spec), the device, data sources and loaders whose recipe fits the
 * model, and the progress log. Everything here reads flags only from a parsed result (lib/cli/args.ts).
 */
import { torch } from '../tensor';
import * as data from '../data';
import * as dist from '../distributed';
import { DIST_FLAGS, printsLogs } from './distributed';
import type { DataLoader } from '../data/loader';
import type { EncoderOptions, PretrainOptions } from '../models';
import { describeModel, type CheckpointFile } from './checkpoint-file';
import { UsageError, type FlagSet, type Flags } from './args';
import { ReportingLoader } from './report';
import { fileRecord, versions } from './run-record';
import { TRAIN_FLAGS, VAL_FLAGS, checkDisjoint, describeSource, openSplit, type SourceRecord } from './splits';

/** 'full': the released configuration; 'small': trains in seconds on a laptop CPU (the demo's). */
export const SIZES = ['full', 'small'] as const;
export type Size = (typeof SIZES)[number];
export const SMALL_ENCODER = { embedDim: 192, numHeads: 3, modalitySpecificDepth: 2, unifiedDepth: 1 } as const;
export const SMALL_DECODER = { decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4 } as const;

export function encoderPreset(size: Size): EncoderOptions {
  return size === 'small' ? { ...SMALL_ENCODER } : {};
}

/** The sizes a preset fixes (full: the released configuration's defaults), to check an --init against. */
const PRESET_SIZES: Record<Size, Partial<Record<'embedDim' | 'modalitySpecificDepth' | 'unifiedDepth', number>>> = {
  full: { embedDim: 768, modalitySpecificDepth: 11, unifiedDepth: 1 },
  small: { embedDim: SMALL_ENCODER.embedDim, modalitySpecificDepth: SMALL_ENCODER.modalitySpecificDepth, unifiedDepth: SMALL_ENCODER.unifiedDepth },
};

/**
 * The model options of a training run: read from the --init checkpoint's shapes when there is one (a
 * --size that disagrees with them is an error), else the --size preset (default full). `decoder`: also
 * the decoder options (pretraining).
 */
export function modelOptionsFor(size: Size | undefined, init: CheckpointFile | null, decoder: boolean): PretrainOptions {
  if (!init) {
    const s = size ?? 'full';
    return { ...encoderPreset(s), ...(decoder && s === 'small' ? SMALL_DECODER : {}) };
  }
  const { labelDim: _l, decoderEmbedDim, decoderDepth, decoderNumHeads, ...encoder } = init.inferred.options;
  if (size !== undefined) {
    for (const [k, v] of Object.entries(PRESET_SIZES[size]))
      if (encoder[k as keyof EncoderOptions] !== v)
        throw new UsageError(
          `--size ${size} does not fit --init ${init.file} (${describeModel(init.inferred)}); leave --size out to use the checkpoint's sizes`,
        );
  }
  if (!decoder) return encoder;
  if (decoderEmbedDim === undefined)
    throw new UsageError(`--init ${init.file} holds a ${describeModel(init.inferred)}; pretraining starts from a pretraining checkpoint (with the decoder)`);
  return { ...encoder, decoderEmbedDim, decoderDepth, decoderNumHeads };
}

/** --device, the model's and the batches'. */
export const DEVICE_FLAGS = {
  device: { type: 'string', default: 'cpu', value: 'DEV', help: 'cpu, cuda or cuda:N' },
} as const satisfies FlagSet;

/** The loader's flags (makeLoader). */
export const LOADER_FLAGS = {
  ...DEVICE_FLAGS,
  batchSize: { type: 'int', min: 1, default: 12, help: 'items per batch' },
  workers: { type: 'int', min: 0, default: 0, help: 'decoding worker processes; 0 decodes in this process' },
  cache: { type: 'string', value: 'DIR', help: 'feature cache directory (decoded items are reused across epochs and runs)' },
  seed: { type: 'int', min: 0, default: 0, help: 'seed of the model initialisation, shuffling and random windows' },
  onBadItem: {
    type: 'choice',
    choices: ['raise', 'skip'],
    default: 'raise',
    help: 'an item that is missing or fails to decode stops the command (raise) or is left out and summed up after each pass (skip)',
  },
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
    ...TRAIN_FLAGS,
    ...VAL_FLAGS,
    out: { type: 'string', required: true, value: 'DIR', help: 'run directory: config.json, progress.json, models/' },
    init: { type: 'string', value: 'FILE', help: 'initial weights (.pth / .safetensors); the model options are read from its shapes' },
    size: {
      type: 'choice',
      choices: SIZES,
      defaultHelp: 'the size of --init, else full',
      help: "model size: 'full' is the released configuration, 'small' trains in seconds on a CPU",
    },
    epochs: { type: 'int', min: 1, default: d.epochs, help: 'training epochs' },
    lr: { type: 'float', min: 0, default: d.lr, help: 'learning rate' },
    amp: { type: 'choice', choices: ['off', 'bf16', 'fp16'], default: 'off', help: 'mixed precision (CUDA only: an error on the CPU)' },
    resume: { type: 'boolean', help: 'continue the run in --out after its last complete epoch' },
    warmup: { type: 'boolean', help: "the reference's learning-rate warm-up" },
    noise: { type: 'boolean', help: 'fbank noise augmentation' },
    lrStart: { type: 'int', min: 0, default: d.lrStart, help: 'first epoch of the MultiStepLR decay' },
    lrStep: { type: 'int', min: 1, default: d.lrStep, help: 'epochs between lr decays' },
    lrDecay: { type: 'float', min: 0, default: 0.5, help: 'lr factor per decay' },
    logEvery: { type: 'int', min: 1, default: 50, help: 'steps between progress lines (and metrics.jsonl records)' },
    quiet: { type: 'boolean', help: 'no progress bar or progress lines (metrics.jsonl and plots are still written)' },
    ...LOADER_FLAGS,
    ...DIST_FLAGS,
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
    // A progress bar per epoch on a terminal, plain lines otherwise; nothing with --quiet.
    ...(f.quiet ? {} : { onLog: log, progressBar: process.stderr.isTTY === true }),
  };
}

/** --device: 'cpu' or 'cuda' / 'cuda:N', checked against what this LibTorch has. */
export function resolveDevice(d: string): string {
  if (d === 'cpu') return d;
  if (!/^cuda(:\d+)?$/.test(d)) throw new UsageError(`--device expects cpu, cuda or cuda:N, got ${d}`);
  if (!torch.cuda.isAvailable()) throw new UsageError(`--device ${d}: CUDA is not available (this LibTorch is CPU-only or no GPU is visible)`);
  return d === 'cuda' ? 'cuda:0' : d;
}

/**
 * The training and validation sources of pretrain / finetune: each with its own partition, validation
 * disjoint from training (lib/cli/splits.ts), source notes logged once, and what config.json records.
 * `labels`: true to pin the validation set to the training set's label space.
 */
export async function openTrainingData(f: LoopFlags, o: { labels: boolean; task?: data.Task }) {
  const skipMissing = f.onBadItem === 'skip';
  const train = await openSplit(f.train, f.trainPartition, { skipMissing, ...(o.task ? { task: o.task } : {}) });
  const labels = o.labels && train.labels ? train.labels : undefined;
  const val = f.val !== undefined ? await openSplit(f.val, f.valPartition, { skipMissing, ...(labels ? { labels } : {}) }) : null;
  for (const [name, src] of [
    ['train', train],
    ['val', val],
  ] as const) {
    if (!src) continue;
    for (const w of src.warnings) log(`${name}: ${w}`);
    for (const s of src.skipped) log(`${name}: skipped ${s.origin}: ${s.reason}`);
  }
  const overlapNote = val ? checkDisjoint(train, val, 'val', f.allowOverlap) : null;
  if (overlapNote) log(overlapNote);
  const records: { train: SourceRecord; val: SourceRecord | null } = {
    train: await describeSource(f.train, train, f.trainPartition),
    val: val && f.val !== undefined ? await describeSource(f.val, val, f.valPartition) : null,
  };
  return { train, val, records };
}

/** What config.json records of the shared flags and the run's data (with the loops' own options). */
export async function runRecord(f: LoopFlags, data: { train: SourceRecord; val: SourceRecord | null; test?: SourceRecord }, device: string) {
  return {
    data,
    init: f.init !== undefined ? await fileRecord(f.init) : null,
    epochs: f.epochs,
    batchSize: f.batchSize,
    seed: f.seed,
    device,
    onBadItem: f.onBadItem,
    allowOverlap: f.allowOverlap,
    // data-parallel ranks (1: one process); the global batch is batchSize x worldSize
    worldSize: dist.isInitialized() ? dist.getWorldSize() : 1,
    versions: versions(),
  };
}

/** --amp needs CUDA: on the CPU it would do nothing while config.json recorded it. */
export function checkAmp(amp: string, device: string): void {
  if (amp !== 'off' && !device.startsWith('cuda'))
    throw new UsageError(`--amp ${amp} needs --device cuda (mixed precision is CUDA-only here; on the CPU it would do nothing)`);
}

/** A loader over `source` with the reference recipe (training: shuffled, random windows; else centred
 *  windows, data.EVAL_RECIPE); warnings and skipped items are summed up after each pass, as `name`. */
export function makeLoader(
  f: LoaderFlags,
  source: data.DataSource,
  o: {
    train: boolean;
    device: string;
    mixup?: number;
    name?: string;
    log?: (line: string) => void;
    inputs?: { audio: boolean; video: boolean };
    /** Data-parallel training: this rank's shard (cli/distributed.ts), shuffled per epoch by the sampler. */
    sampler?: (datasetLength: number, seed: number) => data.DistributedSampler;
  },
): DataLoader {
  const full: data.Recipe = o.train ? data.REFERENCE_RECIPE : data.EVAL_RECIPE;
  // `inputs`: the modalities the model reads (FT_MODE_INPUTS); the others are not decoded
  const recipe = { audio: o.inputs?.audio === false ? false : full.audio, video: o.inputs?.video === false ? false : full.video } as const;
  return new ReportingLoader(
    source,
    {
      recipe,
      batchSize: f.batchSize,
      ...(o.sampler ? { sampler: o.sampler(source.items.length, f.seed) } : { shuffle: o.train }),
      seed: f.seed,
      workers: f.workers,
      onError: f.onBadItem,
      device: o.device,
      ...(o.mixup ? { mixup: o.mixup } : {}),
      ...(f.cache !== undefined ? { cacheDir: f.cache } : {}),
    },
    { name: o.name ?? (o.train ? 'train' : 'val'), log: o.log ?? log },
  );
}

/** A progress line on stdout (rank 0 only in a data-parallel job). */
export const log = (msg: string) => {
  if (printsLogs()) process.stdout.write(`${msg}\n`);
};
