/**
 * The MAE papers' reconstruction picture for pretraining, as a PNG (encoded by the maintained `pngjs`):
 * for one clip, top to bottom
 *   the spectrogram (time left to right, low frequencies at the bottom): original, masked, reconstructed
 *   `frames` video frames side by side: original, masked, reconstructed
 * "masked" paints the removed patches dark blue; "reconstructed" shows the decoder's prediction in the removed
 * patches and the original in the kept ones (with normPixLoss the prediction is mapped back with the
 * patch's own mean and variance, as the MAE visualisations do). Grey levels / colours are min-max scaled
 * per modality over the original.
 */
import { PNG } from 'pngjs';
import { torch, type Tensor } from '../tensor';
import { unpatchifyAudio, unpatchifyVideo, type SocialMAE, type PretrainForwardOptions } from '../models';

export interface ReconstructionOptions {
  /** Forward options (mask ratios, mask mode); the masks are drawn at random. */
  forward?: Omit<PretrainForwardOptions, 'returnPred'>;
  /** Frames shown (evenly spaced; default 4). */
  frames?: number;
  /** The video's channel order (the reference recipe's is 'bgr'). */
  channelOrder?: 'rgb' | 'bgr';
}

const GAP = 4;
/** Removed patches: a dark blue no grey level of the spectrogram can take. */
const MASKED = [40, 40, 90];

/** audio [1, T, F] and video [1, C, H, W, Tv] of one clip -> PNG bytes. */
export function reconstructionPng(model: SocialMAE, audio: Tensor, video: Tensor, o: ReconstructionOptions = {}): Buffer {
  const { patchSize: p, stride: s, compat, normPixLoss } = model.config;
  const order = compat === 'reference' ? 'reference' : 'token';
  const [, T, Fq] = audio.shape as [number, number, number];
  const [, C, H, W, Tv] = video.shape as [number, number, number, number, number];
  const host = torch.noGrad(() =>
    torch.tidy(() => {
      const out = model.forward(audio, video, { ...(o.forward ?? {}), returnPred: true });
      const { targetA, targetV } = model.targets(audio, video);
      const denorm = (pred: Tensor, target: Tensor) =>
        normPixLoss ? pred.mul(target.var(-1, { keepdim: true }).add(1e-6).pow(0.5)).add(target.mean(-1, true)) : pred;
      const mix = (target: Tensor, pred: Tensor, mask: Tensor) => {
        const m = mask.to('float32').unsqueeze(-1);
        return target.mul(m.mul(-1).add(1)).add(denorm(pred, target).mul(m));
      };
      const maskImage = (target: Tensor, mask: Tensor) => target.mul(0).add(mask.to('float32').unsqueeze(-1));
      const a = (x: Tensor) => unpatchifyAudio(x, T, p, Fq).toArray() as Float32Array;
      const v = (x: Tensor) => unpatchifyVideo(x, { C, H, W, T: Tv }, p, s, order).toArray() as Float32Array;
      return {
        a: audio.to('float32').toArray() as Float32Array,
        aMask: a(maskImage(targetA, out.maskA)),
        aRec: a(mix(targetA, out.predA!, out.maskA)),
        v: video.to('float32').toArray() as Float32Array,
        vMask: v(maskImage(targetV, out.maskV)),
        vRec: v(mix(targetV, out.predV!, out.maskV)),
      };
    }),
  );
  const nF = Math.max(1, Math.min(o.frames ?? 4, Tv));
  const frameIdx = Array.from({ length: nF }, (_, i) => Math.round((i * (Tv - 1)) / Math.max(1, nF - 1)));
  const width = Math.max(T, nF * (W + GAP) - GAP);
  const height = 3 * (Fq + GAP) + 3 * (H + GAP) - GAP;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const put = (x: number, y: number, rgb: readonly number[]) => {
    const i = (y * width + x) * 4;
    png.data[i] = rgb[0]!;
    png.data[i + 1] = rgb[1]!;
    png.data[i + 2] = rgb[2]!;
    png.data[i + 3] = 255;
  };
  const range = (x: Float32Array) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const e of x) if (Number.isFinite(e)) [lo, hi] = [Math.min(lo, e), Math.max(hi, e)];
    return (e: number) => Math.max(0, Math.min(255, Math.round(((e - lo) / (hi - lo || 1)) * 255)));
  };
  const ga = range(host.a);
  // spectrogram rows: element (t, f) at index t*F + f
  [host.a, null, host.aRec].forEach((img, row) => {
    const y0 = row * (Fq + GAP);
    for (let t = 0; t < T; t++)
      for (let f = 0; f < Fq; f++) {
        const masked = row === 1 && host.aMask[t * Fq + f]! > 0.5;
        const g = ga((img ?? host.a)[t * Fq + f]!);
        put(t, y0 + Fq - 1 - f, masked ? MASKED : [g, g, g]);
      }
  });
  const gv = range(host.v);
  const rgb = o.channelOrder === 'rgb' || C !== 3 ? [0, 1, 2] : [2, 1, 0];
  // video [C, H, W, Tv]: element (c, y, x, t) at ((c*H + y)*W + x)*Tv + t
  const at = (c: number, y: number, x: number, t: number) => ((Math.min(c, C - 1) * H + y) * W + x) * Tv + t;
  [host.v, null, host.vRec].forEach((img, row) => {
    const y0 = 3 * (Fq + GAP) + row * (H + GAP);
    frameIdx.forEach((t, k) => {
      const x0 = k * (W + GAP);
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const masked = row === 1 && host.vMask[at(0, y, x, t)]! > 0.5;
          put(x0 + x, y0 + y, masked ? MASKED : rgb.map((c) => gv((img ?? host.v)[at(c, y, x, t)]!)));
        }
    });
  });
  return PNG.sync.write(png);
}
