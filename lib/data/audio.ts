/**
 * Audio front end of the reference recipe (`MyDataset.wav2fbank` + the dataset normalisation):
 *
 *   loadAudio(path)        -> waveform [C, N] float32 at the file's own rate (torchaudio.load values)
 *   wav2fbank(path)        -> [targetLength, 128] log-mel fbank, NOT normalised:
 *                             waveform - mean(all channels and samples), fbank of channel 0 with
 *                             htk_compat, hanning window, 128 bins, 10 ms shift, dither 0, the file's
 *                             own sample rate (no resampling), zero rows appended / frames trimmed
 *   normalizeFbank(f)      -> (f - mean) / std with the dataset's mean -6.2943 and std 12.26344
 *
 * Alternatives to the reference's choices (both change the features): `resample: 16000` resamples
 * first (ffmpeg's resampler), `mono: 'mean'` averages the channels instead of taking the left one.
 */
import { torch, F, type Tensor } from '../tensor';
import { DataError } from './errors';
import { decodeAudio, type DecodeAudioOptions } from './ffmpeg';
import { fbank, fbankBatch, frameGeometry, type FbankOptions } from './fbank';

/** The dataset's fbank statistics (AudioSet/CAV-MAE values used by the released checkpoints). */
export const FBANK_MEAN = -6.2943;
export const FBANK_STD = 12.26344;

/** A waveform tensor and its sample rate. */
export interface LoadedAudio {
  /** [channels, samples] float32 (caller disposes). */
  waveform: Tensor;
  sampleRate: number;
}

/**
 * Decodes an audio file (or a video's audio track) to a float32 tensor `[C, N]`, at the native rate by
 * default: the same values as torchaudio.load (16-bit PCM -> int16/32768).
 */
export async function loadAudio(path: string, opts: DecodeAudioOptions = {}): Promise<LoadedAudio> {
  const a = await decodeAudio(path, opts);
  return { waveform: torch.fromBuffer(a.data, 'float32', [a.channels, a.samples]), sampleRate: a.sampleRate };
}

/** Options of wav2fbank / waveformToFbank. */
export interface Wav2FbankOptions {
  /** Frames of the output (pad with zero rows or trim). Default 1024. */
  targetLength?: number;
  /** Mel bins. Default 128. */
  numMelBins?: number;
  /** Frame shift in ms. Default 10. */
  frameShift?: number;
  /** Resample to this rate before the fbank (not in the reference). */
  resample?: number;
  /** 'left' (reference: channel 0 after subtracting the all-channel mean) or 'mean' (downmix). */
  mono?: 'left' | 'mean';
  /** Apply normalizeFbank with the dataset statistics. Default false. */
  normalize?: boolean;
  /** Audio stream of the file (default 0). */
  stream?: number;
  /** Child-process timeout for decoding (ms). */
  timeoutMs?: number;
  /**
   * Raw decode options (override resample/stream/timeoutMs). E.g. `{ sampleRate: 16000, channels: 1,
   * sampleFormat: 's16' }` reproduces `ffmpeg -ac 1 -ar 16000 -c:a pcm_s16le` wav files from a video.
   */
  decode?: DecodeAudioOptions;
  /** Extra fbank options (override the recipe's). */
  fbank?: FbankOptions;
}

/** The reference recipe's fbank options for a given sample rate. */
export function recipeFbankOptions(sampleRate: number, opts: Wav2FbankOptions = {}): FbankOptions {
  return {
    htkCompat: true,
    sampleFrequency: sampleRate,
    useEnergy: false,
    windowType: 'hanning',
    numMelBins: opts.numMelBins ?? 128,
    dither: 0.0,
    frameShift: opts.frameShift ?? 10,
    ...opts.fbank,
  };
}

/**
 * Samples (per channel, at `sampleRate`) that give all `targetLength` frames of the recipe: one window plus
 * `targetLength - 1` shifts (10.255 s at any rate for 1024 frames of 25 ms / 10 ms). Samples after these
 * do not change any kept frame, so the recipe decodes only this many (a 15-minute file costs what a
 * 10-second one does). The one difference from decoding everything: the mean subtracted first is the
 * window's, not the whole file's; the fbank's per-frame DC removal cancels any constant offset, so the
 * features agree up to float rounding. Files no longer than the window give identical features.
 * Returns undefined for `snipEdges: false` (its last frames depend on where the signal ends).
 */
export function recipeWindowSamples(sampleRate: number, opts: Wav2FbankOptions = {}): number | undefined {
  const fo = recipeFbankOptions(sampleRate, opts);
  if (fo.snipEdges === false) return undefined;
  const g = frameGeometry(fo);
  return g.windowSize + ((opts.targetLength ?? 1024) - 1) * g.windowShift;
}

/** `maxSamples` for decodeAudio: the recipe window at whatever rate the decode delivers. */
export function recipeMaxSamples(opts: Wav2FbankOptions = {}): ((sampleRate: number) => number) | undefined {
  if (opts.fbank?.snipEdges === false) return undefined;
  return (sr) => recipeWindowSamples(sr, opts) ?? Infinity;
}

/**
 * Throws ERR_MEDIA (reason 'non-finite audio') when decoded samples hold NaN or ±Inf (a float WAV can):
 * they would turn the whole fbank, and a batch, into NaN without a trace. The loader's skip mode skips it.
 */
export function assertFiniteAudio(data: Float32Array, file: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      let n = 0;
      for (let j = i; j < data.length; j++) if (data[j]! - data[j]! !== 0) n++;
      throw new DataError('non-finite audio', 'ERR_MEDIA', {
        file,
        message: `${file}: non-finite audio: ${n} NaN/Inf sample(s), the first at sample ${i} (value ${v}); expected finite samples`,
      });
    }
  }
}

/** Pads `f` [M, B] with zero rows or keeps its first `target` rows -> [target, B]. */
export function padOrTrim(f: Tensor, target: number): Tensor {
  const m = f.shape[0]!;
  if (m === target) return f.clone();
  if (m > target) return f.narrow(0, 0, target).contiguous();
  if (f.ndim !== 2) return torch.zeros([target, 0]);
  return F.pad(f, [0, 0, 0, target - m]);
}

/** The mean-subtracted, channel-selected waveform the recipe feeds to fbank: [1, N]. */
function recipeInput(waveform: Tensor, mono: 'left' | 'mean'): Tensor {
  const centered = waveform.sub(waveform.mean());
  return mono === 'mean' ? centered.mean(0, true) : centered;
}

/**
 * The recipe on an already loaded waveform [C, N]: returns [targetLength, numMelBins] (float32).
 * An input too short for one frame gives all-zero rows, as padding an empty fbank would.
 */
export function waveformToFbank(waveform: Tensor, sampleRate: number, opts: Wav2FbankOptions = {}): Tensor {
  return waveformsToFbank([waveform], sampleRate, opts)[0]!;
}

/** Batched waveformToFbank (one rfft and matmul for all clips of the same rate): one tensor per clip. */
export function waveformsToFbank(waveforms: Tensor[], sampleRate: number, opts: Wav2FbankOptions = {}): Tensor[] {
  const target = opts.targetLength ?? 1024;
  const fo = recipeFbankOptions(sampleRate, opts);
  return torch.tidy(() => {
    const inputs = waveforms.map((w) => recipeInput(w, opts.mono ?? 'left'));
    const win = Math.trunc(sampleRate * (fo.frameLength ?? 25) * 0.001);
    const ok = inputs.map((w) => w.shape[1]! >= win);
    const feats = fbankBatch(
      inputs.filter((_, i) => ok[i]),
      fo,
    );
    let k = 0;
    return inputs.map((_, i) => {
      const f = ok[i] ? padOrTrim(feats[k++]!, target) : torch.zeros([target, fo.numMelBins ?? 128]);
      return opts.normalize ? normalizeFbank(f) : f;
    });
  });
}

/**
 * `MyDataset.wav2fbank(path)`: decode (no resampling unless asked), subtract the mean, fbank of channel 0,
 * pad/trim to targetLength. Works on wav files and on the audio track of any video. Decodes only the
 * window the frames need (recipeWindowSamples); NaN/Inf samples throw ERR_MEDIA (assertFiniteAudio).
 * @returns [targetLength, numMelBins] float32, not normalised unless `normalize: true`
 */
export async function wav2fbank(path: string, opts: Wav2FbankOptions = {}): Promise<Tensor> {
  const dec: DecodeAudioOptions = {};
  if (opts.resample !== undefined) dec.sampleRate = opts.resample;
  if (opts.stream !== undefined) dec.stream = opts.stream;
  if (opts.timeoutMs !== undefined) dec.timeoutMs = opts.timeoutMs;
  const maxSamples = recipeMaxSamples(opts);
  if (maxSamples) dec.maxSamples = maxSamples;
  const a = await decodeAudio(path, { ...dec, ...opts.decode });
  assertFiniteAudio(a.data, path);
  return torch.tidy(() => waveformToFbank(torch.fromBuffer(a.data, 'float32', [a.channels, a.samples]), a.sampleRate, opts));
}

/** The dataset normalisation `(f - mean) / std` (defaults: mean -6.2943, std 12.26344). */
export function normalizeFbank(f: Tensor, opts: { mean?: number; std?: number } = {}): Tensor {
  return torch.tidy(() => f.sub(opts.mean ?? FBANK_MEAN).div(opts.std ?? FBANK_STD));
}

export { fbank };
