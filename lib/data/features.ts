/**
 * The features of one clip as the model sees them at evaluation: `data.clipFeatures(file)` runs the data
 * loader itself on that one file with EVAL_RECIPE (the reference recipe with a centred video window), so
 * the README example, `social-mae predict` and every evaluation loader compute the same numbers by
 * construction (one path, not two that agree by care).
 *
 *   audio [1, 1024, 128]  Kaldi fbank of the first channel, padded/trimmed, normalised (mean -6.2943, std 12.26344)
 *   video [1, 3, 224, 224, 8]  BGR frames, ImageNet-normalised, sampled the reference way from the centred window
 */
import type { Tensor } from '../tensor';
import { DataLoader, type LoaderOptions } from './loader';
import { REFERENCE_RECIPE, type Recipe } from './sample';
import { sourceFromFiles } from './sources';

/** The recipe of evaluation and prediction: the reference recipe with a deterministic, centred window. */
export const EVAL_RECIPE: Recipe = Object.freeze({
  audio: Object.freeze({ ...REFERENCE_RECIPE.audio }),
  video: Object.freeze({ ...REFERENCE_RECIPE.video, start: 'center' as const }),
});

/** Options of clipFeatures. */
export interface ClipFeaturesOptions {
  /** Default EVAL_RECIPE. */
  recipe?: Recipe;
  /** Where the tensors go (default 'cpu'). */
  device?: string;
  /** Receives warnings (e.g. a clip shorter than the window); default process.emitWarning. */
  onWarning?: LoaderOptions['onWarning'];
}

/**
 * Features of one media file as a batch of one (caller disposes): `audio` [1, T, 128] and `video`
 * [1, 3, H, W, frames]; `video` is null for an audio file (by extension), `audio` null when the recipe
 * leaves it out.
 */
export async function clipFeatures(file: string, opts: ClipFeaturesOptions = {}): Promise<{ audio: Tensor | null; video: Tensor | null }> {
  const source = await sourceFromFiles([file]);
  const recipe = opts.recipe ?? EVAL_RECIPE;
  const loader = new DataLoader(source, {
    recipe: source.items[0]!.video === null ? { ...recipe, video: false } : recipe,
    batchSize: 1,
    ...(opts.device !== undefined ? { device: opts.device } : {}),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
  });
  let out: { audio: Tensor | null; video: Tensor | null } = { audio: null, video: null };
  try {
    for await (const b of loader.epoch(0)) out = { audio: b.audio ?? null, video: b.video ?? null }; // one batch
  } finally {
    await loader.close();
  }
  return out;
}
