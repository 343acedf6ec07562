/**
 * `social-mae finetune --train DATA --val DATA --out DIR [--init PRETRAIN.pth] [options]`: supervised
 * finetuning of SocialMAEFT. The label space comes from the training data and is saved in
 * DIR/config.json (with the model options), which is what `social-mae predict --run DIR` reads back.
 */
import * as io from '../../io';
import { torch, type Tensor } from '../../tensor';
import { SocialMAEFT, FT_MODES, initFinetuneFromPretrain } from '../../models';
import { finetune } from '../../train';
import { ParsedArgs, UsageError, checkFlags, choiceFlag, floatFlag, intFlag } from '../args';
import { LOOP_BOOLEAN_FLAGS, LOOP_FLAGS, encoderPreset, log, loopFlags, makeLoader, openData } from '../training';

const FLAGS = [...LOOP_FLAGS, 'head-lr', 'mode', 'loss', 'label-smooth', 'freqm', 'timem', 'metric', 'mixup', 'freeze-base'] as const;

/** Flags that take no value. */
export const BOOLEAN_FLAGS = [...LOOP_BOOLEAN_FLAGS, 'freeze-base'];

export async function run(args: ParsedArgs): Promise<void> {
  checkFlags(args, FLAGS);
  const { size, device, out, trainSpec, valSpec, init, seed, fit } = loopFlags(args, { epochs: 10, lr: 1e-5, lrStart: 2, lrStep: 1 });
  const mixup = floatFlag(args, 'mixup', 0);
  // Without --loss / --metric the loop picks them from the label task (single- or multi-label).
  const loss = args.flags.has('loss') ? choiceFlag(args, 'loss', ['CE', 'BCE'] as const, 'CE') : undefined;
  const metric = args.flags.has('metric') ? choiceFlag(args, 'metric', ['acc', 'mAP'] as const, 'acc') : undefined;
  const options = {
    ...fit,
    headLr: floatFlag(args, 'head-lr', 100),
    mode: choiceFlag(args, 'mode', FT_MODES, 'multimodal'),
    ...(loss ? { loss } : {}),
    ...(metric ? { metric } : {}),
    labelSmooth: floatFlag(args, 'label-smooth', 0),
    freqm: intFlag(args, 'freqm', 0),
    timem: intFlag(args, 'timem', 0),
    freezeBase: args.flags.has('freeze-base'),
  };
  const trainSource = await openData(args, trainSpec);
  const labels = trainSource.labels;
  if (!labels || labels.task === 'regression') throw new UsageError('finetune needs class labels in the training data (a label column or the folder layout)');
  const train = makeLoader(args, trainSource, { train: true, device, mixup });
  const val = valSpec !== null ? makeLoader(args, await openData(args, valSpec, labels), { train: false, device }) : undefined;
  const modelOptions = { ...encoderPreset(size), labelDim: labels.size };
  torch.manualSeed(seed);
  const model = new SocialMAEFT(modelOptions).to(device);
  try {
    log(
      `social-mae finetune: ${size} model on ${device}, ${labels.size} classes (${labels.names.join(', ')}), ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`,
    );
    if (init !== null && !fit.resume) {
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
      config: { model: modelOptions, size, labels: labels.toJSON(), mixup, init },
    });
    log(`checkpoints in ${out}/models (best: best_audio_model.pth); predict with: social-mae predict --run ${out} FILES...`);
  } finally {
    model.dispose();
    await train.close();
    await val?.close();
  }
}
