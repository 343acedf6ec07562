/**
 * `social-mae pretrain --train DATA --out DIR [options]`: self-supervised pretraining of SocialMAE on a
 * dataset (folder layout or CSV/JSONL manifest), checkpoints after every epoch in DIR (the reference's
 * layout), `--resume` continues from the last complete epoch. `--init` starts from a Social-MAE or a
 * CAV-MAE pretraining checkpoint, the model options read from its shapes (the video patch embedding of a
 * CAV-MAE file is inflated in time).
 */
import { torch } from '../../tensor';
import { SocialMAE, initFromCavMae, loadCheckpoint } from '../../models';
import { CONTRAST_SCOPES, pretrain } from '../../train';
import { defineCommand, type Flags } from '../args';
import { readCheckpoint, type CheckpointFile } from '../checkpoint-file';
import { checkAmp, fitOptions, log, loopFlags, makeLoader, modelOptionsFor, openTrainingData, resolveDevice, runRecord } from '../training';
import { endDistributed, startDistributed } from '../distributed';

export const command = defineCommand({
  name: 'pretrain',
  summary: 'self-supervised pretraining on a dataset; checkpoints per epoch, --resume',
  example: 'social-mae pretrain --train clips/ --val clips/ --out runs/pre --size small --epochs 2 --batch-size 4',
  flags: {
    ...loopFlags({ epochs: 25, lr: 1e-4, lrStart: 10, lrStep: 5 }),
    maskRatio: { type: 'float', min: 0, max: 1, default: 0.75, help: 'fraction of audio and video patches masked' },
    contrastWeight: { type: 'float', min: 0, default: 0.01, help: 'weight of the contrastive loss' },
    contrastScope: {
      type: 'choice',
      choices: CONTRAST_SCOPES,
      default: 'global',
      help: "with --nproc-per-node / several ranks: contrast every clip with the whole global batch (global, = one process on the union batch) or with its rank's shard only (local, as the reference's nn.DataParallel)",
    },
  },
});

/** Loads a pretraining checkpoint as is, or initialises from CAV-MAE (4-D video patch embedding). */
function initFrom(model: SocialMAE, ck: CheckpointFile): string {
  if (ck.inferred.family === 'CAV-MAE') {
    const r = initFromCavMae(model, ck.stateDict);
    return `initialised from CAV-MAE ${ck.file}: ${r.loaded.length} loaded, ${r.adapted.length} adapted, ${r.missing.length} fresh`;
  }
  const r = loadCheckpoint(model, ck.stateDict);
  return `loaded ${ck.file}: ${r.loaded.length} tensors`;
}

export async function run(f: Flags<typeof command.spec.flags>): Promise<void> {
  const requested = resolveDevice(f.device);
  checkAmp(f.amp, requested);
  const d = await startDistributed(f, requested);
  if (d.role === 'launcher') return;
  const device = d.device;
  const fit = fitOptions(f);
  const ratio = f.maskRatio;
  const init = f.init !== undefined ? await readCheckpoint(f.init) : null;
  let model: SocialMAE | null = null;
  let loaders: { close(): Promise<void> }[] = [];
  try {
    const modelOptions = modelOptionsFor(f.size, init, true);
    const data = await openTrainingData(f, { labels: false });
    const config = { model: modelOptions, size: f.size ?? null, ...(await runRecord(f, data.records, device)) };
    const train = makeLoader(f, data.train, { train: true, device, ...(d.role === 'rank' ? { sampler: d.sampler } : {}) });
    const val = data.val ? makeLoader(f, data.val, { train: false, device }) : undefined;
    loaders = [train, ...(val ? [val] : [])];
    torch.manualSeed(f.seed);
    model = new SocialMAE(modelOptions);
    log(
      `social-mae pretrain: ${f.size ?? (init ? 'checkpoint-sized' : 'full')} model (${model.numParameters().toLocaleString('en')} parameters) on ${device}, ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`,
    );
    if (init && !fit.resume) log(initFrom(model, init));
    if (init) torch.dispose(init.stateDict);
    model.to(device);
    await pretrain(model, train, {
      ...fit,
      forward: { maskRatioA: ratio, maskRatioV: ratio, contrastLossWeight: f.contrastWeight },
      contrastScope: f.contrastScope,
      ...(val ? { val } : {}),
      config,
    });
    log(`checkpoints in ${f.out}/models (best: best_audio_model.pth)`);
  } finally {
    if (init) torch.dispose(init.stateDict);
    model?.dispose();
    for (const l of loaders) await l.close();
    await endDistributed(d);
  }
}
