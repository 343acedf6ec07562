/**
 * `social-mae finetune --train DATA --val DATA --out DIR [--init PRETRAIN.pth] [options]`: supervised
 * finetuning of SocialMAEFT. The label space comes from the training data and is saved in
 * DIR/config.json (with the model options), which is what `social-mae predict --run DIR` reads back.
 */
import * as io from '../../io';
import { torch, type Tensor } from '../../tensor';
import { SocialMAEFT, FT_MODES, initFinetuneFromPretrain } from '../../models';
import { finetune } from '../../train';
import { ParsedArgs, UsageError, checkFlags, choiceFlag, floatFlag, intFlag, requiredFlag } from '../args';
import { LOADER_FLAGS, deviceFlag, encoderPreset, log, makeLoader, openData, sizeFlag } from '../training';

const FLAGS = ['train', 'val', 'out', 'init', 'epochs', 'lr', 'head-lr', 'size', 'mode', 'loss', 'label-smooth', 'freqm', 'timem',
  'metric', 'mixup', 'freeze-base', 'amp', 'resume', 'warmup', 'noise', 'lr-start', 'lr-step', 'lr-decay', 'log-every', ...LOADER_FLAGS] as const;

/** Flags that take no value. */
export const BOOLEAN_FLAGS = ['resume', 'warmup', 'noise', 'skip-broken', 'freeze-base'];

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
  const mixup = floatFlag(args, 'mixup', 0);
  // Without --loss / --metric the loop picks them from the label task (single- or multi-label).
  const loss = args.flags.has('loss') ? choiceFlag(args, 'loss', ['CE', 'BCE'] as const, 'CE') : undefined;
  const metric = args.flags.has('metric') ? choiceFlag(args, 'metric', ['acc', 'mAP'] as const, 'acc') : undefined;
  const options = {
    epochs: intFlag(args, 'epochs', 10),
    lr: floatFlag(args, 'lr', 1e-5),
    headLr: floatFlag(args, 'head-lr', 100),
    mode: choiceFlag(args, 'mode', FT_MODES, 'multimodal'),
    ...(loss ? { loss } : {}),
    ...(metric ? { metric } : {}),
    labelSmooth: floatFlag(args, 'label-smooth', 0),
    freqm: intFlag(args, 'freqm', 0),
    timem: intFlag(args, 'timem', 0),
    freezeBase: args.flags.has('freeze-base'),
    amp: choiceFlag(args, 'amp', ['off', 'bf16', 'fp16'] as const, 'off'),
    schedule: {
      warmup: args.flags.has('warmup'),
      start: intFlag(args, 'lr-start', 2),
      step: intFlag(args, 'lr-step', 1),
      decay: floatFlag(args, 'lr-decay', 0.5),
    },
    noise: args.flags.has('noise'),
    runDir: out,
    resume: args.flags.has('resume'),
    logEvery: intFlag(args, 'log-every', 50),
    onLog: log,
  };
  const trainSource = await openData(args, trainSpec);
  const labels = trainSource.labels;
  if (!labels || labels.task === 'regression') throw new UsageError('finetune needs class labels in the training data (a label column or the folder layout)');
  const train = makeLoader(args, trainSource, { train: true, device, mixup });
  const val = typeof valSpec === 'string' ? makeLoader(args, await openData(args, valSpec, labels), { train: false, device }) : undefined;
  const modelOptions = { ...encoderPreset(size), labelDim: labels.size };
  torch.manualSeed(seed);
  const model = new SocialMAEFT(modelOptions).to(device);
  try {
    log(`social-mae finetune: ${size} model on ${device}, ${labels.size} classes (${labels.names.join(', ')}), ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`);
    if (typeof init === 'string' && !options.resume) {
      const sd = (await io.load(init)) as Map<string, Tensor>;
      try {
        const r = initFinetuneFromPretrain(model, sd);
        log(`initialised from ${init}: ${r.loaded.length} loaded, ${r.unused.length} unused, fresh: ${r.missing.join(', ')}`);
      } finally {
        torch.dispose(sd);
      }
    }
    await finetune(model, train, {
      ...options,
      ...(val ? { val } : {}),
      config: { model: modelOptions, size, labels: labels.toJSON(), mixup, init: typeof init === 'string' ? init : null },
    });
    log(`checkpoints in ${out}/models (best: best_audio_model.pth); predict with: social-mae predict --run ${out} FILES...`);
  } finally {
    model.dispose();
    await train.close();
    await val?.close();
  }
}
