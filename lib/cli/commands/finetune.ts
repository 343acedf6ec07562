/**
 * `social-mae finetune --train DATA --val DATA --out DIR [--init PRETRAIN.pth] [options]`: supervised
 * finetuning of SocialMAEFT. The label space comes from the training data and is saved in
 * DIR/config.json (with the model options), which is what `social-mae predict --run DIR` reads back.
 */
import * as io from '../../io';
import { torch, type Tensor } from '../../tensor';
import { SocialMAEFT, FT_MODES, initFinetuneFromPretrain } from '../../models';
import { finetune } from '../../train';
import { UsageError, defineCommand, type Flags } from '../args';
import { encoderPreset, fitOptions, log, loopFlags, makeLoader, openData, resolveDevice } from '../training';

export const command = defineCommand({
  name: 'finetune',
  summary: 'supervised finetuning from a pretraining checkpoint; accuracy/mAP per epoch',
  example: 'social-mae finetune --train train.csv --val val.csv --out runs/ft --init runs/pre/models/best_audio_model.pth --size small',
  flags: {
    ...loopFlags({ epochs: 10, lr: 1e-5, lrStart: 2, lrStep: 1 }),
    headLr: { type: 'float', min: 0, default: 100, help: "the classification head's lr as a multiple of --lr" },
    mode: { type: 'choice', choices: FT_MODES, default: 'multimodal', help: 'which modalities the model sees' },
    loss: { type: 'choice', choices: ['CE', 'BCE'], defaultHelp: 'CE for single-label, BCE for multi-label data', help: 'loss' },
    metric: {
      type: 'choice',
      choices: ['acc', 'mAP'],
      defaultHelp: 'acc for single-label, mAP for multi-label data',
      help: 'metric that picks the best epoch',
    },
    labelSmooth: { type: 'float', min: 0, max: 1, default: 0, help: 'label smoothing' },
    freqm: { type: 'int', min: 0, default: 0, help: 'SpecAugment frequency mask width (bins)' },
    timem: { type: 'int', min: 0, default: 0, help: 'SpecAugment time mask width (frames)' },
    mixup: { type: 'float', min: 0, max: 1, default: 0, help: 'probability of mixing a batch item with another' },
    freezeBase: { type: 'boolean', help: 'train the head only' },
  },
});

export async function run(f: Flags<typeof command.spec.flags>): Promise<void> {
  const { size, out, init, mixup } = f;
  const device = resolveDevice(f.device);
  const fit = fitOptions(f);
  // Without --loss / --metric the loop picks them from the label task (single- or multi-label).
  const options = {
    ...fit,
    headLr: f.headLr,
    mode: f.mode,
    ...(f.loss !== undefined ? { loss: f.loss } : {}),
    ...(f.metric !== undefined ? { metric: f.metric } : {}),
    labelSmooth: f.labelSmooth,
    freqm: f.freqm,
    timem: f.timem,
    freezeBase: f.freezeBase,
  };
  const trainSource = await openData(f, f.train);
  const labels = trainSource.labels;
  if (!labels || labels.task === 'regression') throw new UsageError('finetune needs class labels in the training data (a label column or the folder layout)');
  const train = makeLoader(f, trainSource, { train: true, device, mixup });
  const val = f.val !== undefined ? makeLoader(f, await openData(f, f.val, labels), { train: false, device }) : undefined;
  const modelOptions = { ...encoderPreset(size), labelDim: labels.size };
  torch.manualSeed(f.seed);
  const model = new SocialMAEFT(modelOptions).to(device);
  try {
    log(
      `social-mae finetune: ${size} model on ${device}, ${labels.size} classes (${labels.names.join(', ')}), ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`,
    );
    if (init !== undefined && !fit.resume) {
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
      config: { model: modelOptions, size, labels: labels.toJSON(), mixup, init: init ?? null },
    });
    log(`checkpoints in ${out}/models (best: best_audio_model.pth); predict with: social-mae predict --run ${out} FILES...`);
  } finally {
    model.dispose();
    await train.close();
    await val?.close();
  }
}
