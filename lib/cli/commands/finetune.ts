/**
 * `social-mae finetune --train DATA --val DATA [--test DATA] --out DIR [--init PRETRAIN.pth] [options]`:
 * supervised finetuning of SocialMAEFT: a classifier, a multi-label tagger or a regressor (--task; by
 * default what the training labels are: float columns are regression targets). The label space comes from
 * the training data and is saved in DIR/config.json (with the model options), which is what `social-mae
 * predict / evaluate --run DIR` read back. With --test the best checkpoint is evaluated at the end
 * (DIR/eval.json), as the reference's main_ft.py does.
 */
import { torch } from '../../tensor';
import { SocialMAEFT, FT_MODES, FT_MODE_INPUTS, initFinetuneFromPretrain, initFromCavMae } from '../../models';
import { BEST_METRICS, LOSS_KINDS, TASKS, finetune } from '../../train';
import { UsageError, defineCommand, type Flags } from '../args';
import { readCheckpoint, type CheckpointFile } from '../checkpoint-file';
import { TEST_FLAGS, checkDisjoint, describeSource, openSplit } from '../splits';
import { checkAmp, fitOptions, log, loopFlags, makeLoader, modelOptionsFor, openTrainingData, resolveDevice, runRecord } from '../training';
import { endDistributed, startDistributed } from '../distributed';

export const command = defineCommand({
  name: 'finetune',
  summary: 'supervised finetuning (classes or regression targets) from a pretraining checkpoint; metrics per epoch, --test at the end',
  example: [
    'social-mae finetune --train train.csv --val val.csv --test test.csv --out runs/ft --init runs/pre/models/best_audio_model.pth',
    'social-mae finetune --task regression --loss L1 --train traits_train.csv --val traits_val.csv --out runs/traits --size small',
  ],
  flags: {
    ...loopFlags({ epochs: 10, lr: 1e-5, lrStart: 2, lrStep: 1 }),
    headLr: { type: 'float', min: 0, default: 100, help: "the classification head's lr as a multiple of --lr" },
    mode: { type: 'choice', choices: FT_MODES, default: 'multimodal', help: 'which modalities the model sees' },
    ...TEST_FLAGS,
    task: { type: 'choice', choices: TASKS, defaultHelp: 'from the training labels (float targets: regression)', help: 'what the labels are' },
    loss: {
      type: 'choice',
      choices: LOSS_KINDS,
      defaultHelp: 'CE single-label, BCE multi-label, MSE regression',
      help: 'loss (CE / BCE for classes, MSE / L1 for regression)',
    },
    metric: {
      type: 'choice',
      choices: [...new Set(Object.values(BEST_METRICS).flat())],
      defaultHelp: 'acc single-label, mAP multi-label, loss regression',
      help: "validation metric that picks the best epoch ('loss': the lowest validation loss, the reference's rule)",
    },
    labelSmooth: { type: 'float', min: 0, max: 1, default: 0, help: 'label smoothing' },
    freqm: { type: 'int', min: 0, default: 0, help: 'SpecAugment frequency mask width (bins)' },
    timem: { type: 'int', min: 0, default: 0, help: 'SpecAugment time mask width (frames)' },
    mixup: { type: 'float', min: 0, max: 1, default: 0, help: 'probability of mixing a batch item with another' },
    freezeBase: { type: 'boolean', help: 'train the head only' },
  },
});

/** Initialises the finetuning model: from a Social-MAE (pretraining or finetuning) or a CAV-MAE checkpoint. */
function initFrom(model: SocialMAEFT, ck: CheckpointFile): string {
  const r = ck.inferred.family === 'CAV-MAE' ? initFromCavMae(model, ck.stateDict) : initFinetuneFromPretrain(model, ck.stateDict);
  const adapted = r.adapted.length > 0 ? `, ${r.adapted.length} adapted` : '';
  return `initialised from ${ck.file}: ${r.loaded.length} loaded${adapted}, ${r.unused.length} unused, fresh: ${r.missing.join(', ')}`;
}

export async function run(f: Flags<typeof command.spec.flags>): Promise<void> {
  const requested = resolveDevice(f.device);
  checkAmp(f.amp, requested);
  const d = await startDistributed(f, requested);
  if (d.role === 'launcher') return;
  const device = d.device;
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
  const init = f.init !== undefined ? await readCheckpoint(f.init) : null;
  let model: SocialMAEFT | null = null;
  let loaders: { close(): Promise<void> }[] = [];
  try {
    const encoder = modelOptionsFor(f.size, init, false);
    const data = await openTrainingData(f, { labels: true, ...(f.task ? { task: f.task } : {}) });
    const labels = data.train.labels;
    if (!labels) throw new UsageError('finetune needs labels in the training data (a label column, regression target columns, or the folder layout)');
    const test = f.test !== undefined ? await openSplit(f.test, f.testPartition, { labels, skipMissing: f.onBadItem === 'skip' }) : null;
    if (test) {
      const note = checkDisjoint(data.train, test, 'test', f.allowOverlap);
      if (note) log(note);
    }
    const modelOptions = { ...encoder, labelDim: labels.size };
    const config = {
      model: modelOptions,
      size: f.size ?? null,
      labels: labels.toJSON(),
      mixup: f.mixup,
      ...(await runRecord(
        f,
        test && f.test !== undefined ? { ...data.records, test: await describeSource(f.test, test, f.testPartition) } : data.records,
        device,
      )),
    };
    // only the modalities the mode reads are decoded (an audio-only dataset trains 'audioonly')
    const inputs = FT_MODE_INPUTS[f.mode];
    const train = makeLoader(f, data.train, { train: true, device, mixup: f.mixup, inputs, ...(d.role === 'rank' ? { sampler: d.sampler } : {}) });
    const val = data.val ? makeLoader(f, data.val, { train: false, device, inputs }) : undefined;
    const testLoader = test ? makeLoader(f, test, { train: false, device, name: 'test', inputs }) : undefined;
    loaders = [train, ...(val ? [val] : []), ...(testLoader ? [testLoader] : [])];
    torch.manualSeed(f.seed);
    model = new SocialMAEFT(modelOptions);
    log(
      `social-mae finetune: ${f.size ?? (init ? 'checkpoint-sized' : 'full')} model on ${device}, ${labels.size} ${labels.task === 'regression' ? 'regression targets' : 'classes'} (${labels.names.join(', ')}), ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`,
    );
    if (init && !fit.resume) log(initFrom(model, init));
    if (init) torch.dispose(init.stateDict);
    model.to(device);
    await finetune(model, train, {
      ...options,
      task: labels.task,
      names: labels.names,
      ...(val ? { val } : {}),
      // the test set is evaluated once, by rank 0 of a data-parallel job
      ...(testLoader && (d.role !== 'rank' || d.rank === 0) ? { test: testLoader } : {}),
      config,
    });
    log(`checkpoints in ${f.out}/models (best: best_audio_model.pth); predict with: social-mae predict --run ${f.out} FILES...`);
  } finally {
    if (init) torch.dispose(init.stateDict);
    model?.dispose();
    for (const l of loaders) await l.close();
    await endDistributed(d);
  }
}
