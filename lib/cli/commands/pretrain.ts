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
import { ParsedArgs, checkFlags, floatFlag } from '../args';
import { LOOP_BOOLEAN_FLAGS, LOOP_FLAGS, SMALL_DECODER, encoderPreset, log, loopFlags, makeLoader, openData } from '../training';

const FLAGS = [...LOOP_FLAGS, 'mask-ratio', 'contrast-weight'] as const;

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
export const BOOLEAN_FLAGS = LOOP_BOOLEAN_FLAGS;

export async function run(args: ParsedArgs): Promise<void> {
  checkFlags(args, FLAGS);
  const { size, device, out, trainSpec, valSpec, init, seed, fit } = loopFlags(args, { epochs: 25, lr: 1e-4, lrStart: 10, lrStep: 5 });
  const ratio = floatFlag(args, 'mask-ratio', 0.75);
  const contrastLossWeight = floatFlag(args, 'contrast-weight', 0.01);
  const modelOptions = { ...encoderPreset(size), ...(size === 'small' ? SMALL_DECODER : {}) };
  const train = makeLoader(args, await openData(args, trainSpec), { train: true, device });
  const val = valSpec !== null ? makeLoader(args, await openData(args, valSpec), { train: false, device }) : undefined;
  torch.manualSeed(seed);
  const model = new SocialMAE(modelOptions).to(device);
  try {
    log(
      `social-mae pretrain: ${size} model (${model.numParameters().toLocaleString('en')} parameters) on ${device}, ${train.items.length} training items${val ? `, ${val.items.length} validation items` : ''}`,
    );
    if (init !== null && !fit.resume) log(await initFrom(model, init));
    await pretrain(model, train, {
      ...fit,
      forward: { maskRatioA: ratio, maskRatioV: ratio, contrastLossWeight },
      ...(val ? { val } : {}),
      config: { model: modelOptions, size, init },
    });
    log(`checkpoints in ${out}/models (best: best_audio_model.pth)`);
  } finally {
    model.dispose();
    await train.close();
    await val?.close();
  }
}
