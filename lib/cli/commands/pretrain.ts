/**
 * `social-mae pretrain --train DATA --out DIR [options]`: self-supervised pretraining of SocialMAE on a
 * dataset (folder layout or CSV/JSONL manifest), checkpoints after every epoch in DIR (the reference's
 * layout), `--resume` continues from the last complete epoch. `--init` starts from a Social-MAE or a
 * CAV-MAE checkpoint (the video patch embedding is inflated in time).
 */
import * as io from '../../io';
import { torch, type Tensor } from '../../tensor';
import { SocialMAE, initFromCavMae, loadCheckpoint } from '../../models';
import { pretrain } from '../../train';
import { ParsedArgs, checkFlags, choiceFlag, floatFlag, intFlag, requiredFlag } from '../args';
import { LOADER_FLAGS, SMALL_DECODER, deviceFlag, encoderPreset, log, makeLoader, openData, sizeFlag } from '../training';

const FLAGS = ['train', 'val', 'out', 'epochs', 'lr', 'size', 'init', 'amp', 'resume', 'warmup', 'noise', 'mask-ratio', 'contrast-weight',
  'lr-start', 'lr-step', 'lr-decay', 'log-every', ...LOADER_FLAGS] as const;

/** Loads a pretraining checkpoint as is, or initialises from CAV-MAE (4-D video patch embedding). */
async function initFrom(model: SocialMAE, file: string): Promise<string> {
  const sd = (await io.load(file)) as Map<string, Tensor>;
  try {
    const pv = sd.get('patch_embed_v.proj.weight') ?? sd.get('module.patch_embed_v.proj.weight');
    if (pv && pv.ndim === 4) {
      const r = initFromCavMae(model, sd);
      return `initialised from CAV-MAE ${file}: ${r.loaded.length} loaded, ${r.adapted.length} adapted, ${r.missing.length} fresh`;
    }
    const r = loadCheckpoint(model, sd);
    return `loaded ${file}: ${r.loaded.length} tensors`;
  } finally {
    torch.dispose(sd);
  }
}

/** Flags that take no value. */
export const BOOLEAN_FLAGS = ['resume', 'warmup', 'noise', 'skip-broken'];

export async function run(args: ParsedArgs): Promise<void> {
  // Every flag is read before any data is opened or any model is built: a bad value fails at once.
  checkFlags(args, FLAGS);
  const size = sizeFlag(args);
  const device = deviceFlag(args);
  const out = requiredFlag(args, 'out');
  const trainSpec = requiredFlag(args, 'train');
  const valSpec = args.flags.get('val');
  const init = args.flags.get('init');
  const seed = intFlag(args, 'seed', 0);
  const ratio = floatFlag(args, 'mask-ratio', 0.75);
  const modelOptions = { ...encoderPreset(size), ...(size === 'small' ? SMALL_DECODER : {}) };
  const options = {
    epochs: intFlag(args, 'epochs', 25),
    lr: floatFlag(args, 'lr', 1e-4),
    forward: { maskRatioA: ratio, maskRatioV: ratio, contrastLossWeight: floatFlag(args, 'contrast-weight', 0.01) },
    amp: choiceFlag(args, 'amp', ['off', 'bf16', 'fp16'] as const, 'off'),
    schedule: {
      warmup: args.flags.has('warmup'),
      start: intFlag(args, 'lr-start', 10),
      step: intFlag(args, 'lr-step', 5),
      decay: floatFlag(args, 'lr-decay', 0.5),
    },
    noise: args.flags.has('noise'),
    runDir: out,
    resume: args.flags.has('resume'),
    logEvery: intFlag(args, 'log-every', 50),
    onLog: log,
    config: { model: modelOptions, size, init: typeof init === 'string' ? init : null },
  };
  const train = makeLoader(args, await openData(args, trainSpec), { train: true, device });
  const val = typeof valSpec === 'string' ? makeLoader(args, await openData(args, valSpec), { train: false, device }) : undefined;
  torch.manualSeed(seed);
  const model = new SocialMAE(modelOptions).to(device);
  try {
    log(`social-mae pretrain: ${size} model (${model.numParameters().toLocaleString('en')} parameters) on ${device}, ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`);
    if (typeof init === 'string' && !options.resume) log(await initFrom(model, init));
    await pretrain(model, train, { ...options, ...(val ? { val } : {}) });
    log(`checkpoints in ${out}/models (best: best_audio_model.pth)`);
  } finally {
    model.dispose();
    await train.close();
    await val?.close();
  }
}
