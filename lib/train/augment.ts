/**
 * Training-time audio augmentation of the reference dataloader, on loader batches.
 *
 * SpecAugment as the reference dataloader applies it during finetuning (`freqm`, `timem`): one
 * torchaudio FrequencyMasking and one TimeMasking per example (iid_masks=False on [1, 128, T]):
 *   width = floor(u1 * param), start = floor(u2 * (size - u1 * param)), bins [start, start + width) := 0.
 * The reference masks the raw fbank before normalising it, so a masked bin of the normalised input we get
 * from the loader equals normalize(0) = -mean / std (`fill`).
 */
import { torch, type Tensor } from '../tensor';
import { TrainError } from './errors';

export interface SpecAugmentOptions {
  /** Maximal frequency-mask width in mel bins (0 = off; the reference's finetuning uses 48). */
  freqm: number;
  /** Maximal time-mask width in frames (0 = off; the reference's finetuning uses 192). */
  timem: number;
  /** Value of masked entries in the normalised input (default: the dataset normalisation's image of 0). */
  fill?: number;
}

/** The reference's fbank normalisation (data.normalizeFbank defaults): 0 maps to -mean/std. */
export const MASKED_FBANK_FILL = 6.2943 / 12.26344;

/**
 * audio: [B, T, F] (normalised fbank) -> a new [B, T, F] with one frequency and one time mask per example.
 * The uniform draws come from torch's generator (torch.manualSeed makes them reproducible).
 */
export function specAugment(audio: Tensor, opts: SpecAugmentOptions): Tensor {
  const { freqm, timem } = opts;
  for (const [k, v] of [
    ['freqm', freqm],
    ['timem', timem],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new TrainError(`specAugment: ${k} must be an integer >= 0, got ${v}`, 'ERR_INVALID_ARG');
  }
  if (audio.ndim !== 3) throw new TrainError(`specAugment: audio must be [B, T, F], got ${JSON.stringify(audio.shape)}`, 'ERR_INVALID_ARG');
  const [B, T, F] = audio.shape as [number, number, number];
  const fill = opts.fill ?? MASKED_FBANK_FILL;
  return torch.tidy(() => {
    const u = torch.rand([B, 4]).toArray() as Float32Array;
    const span = (size: number, param: number, a: number, b: number): [number, number] => {
      const value = a * param;
      const start = Math.floor(b * (size - value));
      return [start, start + Math.floor(value)];
    };
    const freq = new Uint8Array(B * F);
    const time = new Uint8Array(B * T);
    for (let i = 0; i < B; i++) {
      if (freqm > 0) {
        const [s, e] = span(F, freqm, u[4 * i]!, u[4 * i + 1]!);
        for (let f = Math.max(0, s); f < Math.min(F, e); f++) freq[i * F + f] = 1;
      }
      if (timem > 0) {
        const [s, e] = span(T, timem, u[4 * i + 2]!, u[4 * i + 3]!);
        for (let t = Math.max(0, s); t < Math.min(T, e); t++) time[i * T + t] = 1;
      }
    }
    const fm = torch.tensor(freq, { shape: [B, 1, F], dtype: 'bool', device: audio.device });
    const tm = torch.tensor(time, { shape: [B, T, 1], dtype: 'bool', device: audio.device });
    return audio.maskedFill(fm.logicalOr(tm), fill);
  });
}

/**
 * The reference dataloader's `noise` option, per example, on the normalised fbank:
 *   x += rand(T, F) * u / 10 (u uniform in [0, 1), one per example), then x = roll(x, k, time) with k a
 *   uniform integer in [-T, T).
 * audio: [B, T, F] -> a new [B, T, F]. Draws come from torch's generator.
 */
export function fbankNoise(audio: Tensor): Tensor {
  if (audio.ndim !== 3) throw new TrainError(`fbankNoise: audio must be [B, T, F], got ${JSON.stringify(audio.shape)}`, 'ERR_INVALID_ARG');
  const [B, T, F] = audio.shape as [number, number, number];
  return torch.tidy(() => {
    const u = torch.rand([B, 2]).toArray() as Float32Array;
    const scale = torch.tensor(
      Array.from({ length: B }, (_, i) => u[2 * i]! / 10),
      { shape: [B, 1, 1], device: audio.device },
    );
    const noisy = audio.add(torch.rand([B, T, F], { device: audio.device }).mul(scale));
    const rolled = Array.from({ length: B }, (_, i) => noisy.select(0, i).roll(Math.floor(u[2 * i + 1]! * 2 * T) - T, 0));
    return torch.stack(rolled);
  });
}
