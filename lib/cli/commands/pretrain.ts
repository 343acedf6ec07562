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
import { defineCommand, type Flags } from '../args';
import { SMALL_DECODER, encoderPreset, fitOptions, log, loopFlags, makeLoader, openData, resolveDevice } from '../training';

export const command = defineCommand({
  name: 'pretrain',
  summary: 'self-supervised pretraining on a dataset; checkpoints per epoch, --resume',
  example: 'social-mae pretrain --train clips/ --out runs/pre --size small --epochs 2 --batch-size 4',
  flags: {
    ...loopFlags({ epochs: 25, lr: 1e-4, lrStart: 10, lrStep: 5 }),
    maskRatio: { type: 'float', min: 0, max: 1, default: 0.75, help: 'fraction of audio and video patches masked' },
    contrastWeight: { type: 'float', min: 0, default: 0.01, help: 'weight of the contrastive loss' },
  },
});

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

export async function run(f: Flags<typeof command.spec.flags>): Promise<void> {
  const { size, out, init } = f;
  const device = resolveDevice(f.device);
  const fit = fitOptions(f);
  const ratio = f.maskRatio;
  const modelOptions = { ...encoderPreset(size), ...(size === 'small' ? SMALL_DECODER : {}) };
  const train = makeLoader(f, await openData(f, f.train), { train: true, device });
  const val = f.val !== undefined ? makeLoader(f, await openData(f, f.val), { train: false, device }) : undefined;
  torch.manualSeed(f.seed);
  const model = new SocialMAE(modelOptions).to(device);
  try {
    log(
      `social-mae pretrain: ${size} model (${model.numParameters().toLocaleString('en')} parameters) on ${device}, ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`,
    );
    if (init !== undefined && !fit.resume) log(await initFrom(model, init));
    await pretrain(model, train, {
      ...fit,
      forward: { maskRatioA: ratio, maskRatioV: ratio, contrastLossWeight: f.contrastWeight },
      ...(val ? { val } : {}),
      config: { model: modelOptions, size, init: init ?? null },
    });
    log(`checkpoints in ${out}/models (best: best_audio_model.pth)`);
  } finally {
    model.dispose();
    await train.close();
    await val?.close();
  }
}
