/**
 * Kaldi-compatible log-mel filterbank features with `torchaudio.compliance.kaldi.fbank` semantics: the
 * same options, defaults, assertions and float32 operation order (so results agree with torchaudio to
 * the last bits on the same LibTorch), computed with tensor ops.
 *
 *   waveform [C, N] (or [N]) --channel--> [N] --frames--> [M, win] --dither, DC, energy, preemphasis,
 *   window, zero-pad--> [M, nfft] --|rfft|^p--> [M, nfft/2+1] --mel banks--> [M, bins] --log--> (+energy)
 *
 * M = 1 + (N - win) // hop with snipEdges (no padding), else (N + hop//2) // hop with reflected edges.
 * `fbankBatch` runs several clips through one rfft and one matmul.
 */
import { torch, F, type Tensor } from '../tensor';
import { DataError } from './errors';

/** Window functions (torchaudio names). */
export type WindowType = 'hamming' | 'hanning' | 'povey' | 'rectangular' | 'blackman';

/** torchaudio.compliance.kaldi.fbank options, camelCased; defaults are torchaudio's. */
export interface FbankOptions {
  blackmanCoeff?: number; // 0.42
  /** Channel to use; negative values mean 0 (torchaudio clamps -1 to 0). */
  channel?: number; // -1
  /** Gaussian dither amplitude (0 = off). */
  dither?: number; // 0
  /** Seeds the LibTorch generator before drawing the dither noise (torch.manualSeed(seed)). */
  seed?: number;
  energyFloor?: number; // 1
  /** Frame length and shift in milliseconds. */
  frameLength?: number; // 25
  frameShift?: number; // 10
  /** High cut-off in Hz; <= 0 means nyquist + highFreq. */
  highFreq?: number; // 0
  htkCompat?: boolean; // false
  lowFreq?: number; // 20
  /** Return an empty tensor when the signal is shorter than this (seconds). */
  minDuration?: number; // 0
  numMelBins?: number; // 23
  preemphasisCoefficient?: number; // 0.97
  rawEnergy?: boolean; // true
  removeDcOffset?: boolean; // true
  roundToPowerOfTwo?: boolean; // true
  sampleFrequency?: number; // 16000
  snipEdges?: boolean; // true
  subtractMean?: boolean; // false
  useEnergy?: boolean; // false
  useLogFbank?: boolean; // true
  usePower?: boolean; // true
  vtlnHigh?: number; // -500
  vtlnLow?: number; // 100
  vtlnWarp?: number; // 1
  windowType?: WindowType; // 'povey'
}

type Full = Required<Omit<FbankOptions, 'seed'>> & { seed?: number };

const DEFAULTS: Full = {
  blackmanCoeff: 0.42,
  channel: -1,
  dither: 0,
  energyFloor: 1,
  frameLength: 25,
  frameShift: 10,
  highFreq: 0,
  htkCompat: false,
  lowFreq: 20,
  minDuration: 0,
  numMelBins: 23,
  preemphasisCoefficient: 0.97,
  rawEnergy: true,
  removeDcOffset: true,
  roundToPowerOfTwo: true,
  sampleFrequency: 16000,
  snipEdges: true,
  subtractMean: false,
  useEnergy: false,
  useLogFbank: true,
  usePower: true,
  vtlnHigh: -500,
  vtlnLow: 100,
  vtlnWarp: 1,
  windowType: 'povey',
};

/** torch.finfo(torch.float32).eps, the floor before every log. */
export const FBANK_EPSILON = 1.1920928955078125e-7;

function invalid(msg: string): never {
  throw new DataError(`fbank: ${msg}`, 'ERR_INVALID_ARG');
}

/** 2 ** (x - 1).bit_length(), as torchaudio's _next_power_of_2. */
export function nextPowerOfTwo(x: number): number {
  if (x === 0) return 1;
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

/** Frame geometry in samples, as torchaudio computes it (int(sample_frequency * ms * 0.001)). */
export function frameGeometry(opts: FbankOptions = {}): { windowShift: number; windowSize: number; paddedWindowSize: number } {
  const o = { ...DEFAULTS, ...opts };
  const windowShift = Math.trunc(o.sampleFrequency * o.frameShift * 0.001);
  const windowSize = Math.trunc(o.sampleFrequency * o.frameLength * 0.001);
  const paddedWindowSize = o.roundToPowerOfTwo ? nextPowerOfTwo(windowSize) : windowSize;
  return { windowShift, windowSize, paddedWindowSize };
}

/** Number of frames fbank produces for `numSamples` samples. */
export function numFrames(numSamples: number, opts: FbankOptions = {}): number {
  const { windowShift, windowSize } = frameGeometry(opts);
  if ({ ...DEFAULTS, ...opts }.snipEdges) return numSamples < windowSize ? 0 : 1 + Math.floor((numSamples - windowSize) / windowShift);
  return Math.floor((numSamples + Math.floor(windowShift / 2)) / windowShift);
}

const melScalar = (f: number) => 1127.0 * Math.log(1.0 + f / 700.0);
const melT = (f: Tensor) => f.div(700.0).add(1.0).log().mul(1127.0);
const invMelT = (m: Tensor) => m.div(1127.0).exp().sub(1.0).mul(700.0);

/** torchaudio's vtln_warp_freq on a float32 tensor of frequencies. */
function vtlnWarpFreq(vLow: number, vHigh: number, low: number, high: number, warp: number, freq: Tensor): Tensor {
  const l = vLow * Math.max(1.0, warp);
  const h = vHigh * Math.min(1.0, warp);
  const scale = 1.0 / warp;
  const Fl = scale * l;
  const Fh = scale * h;
  if (!(l > low && h < high)) invalid(`vtln cut-offs out of range (l=${l}, h=${h}, low=${low}, high=${high})`);
  const scaleLeft = (Fl - low) / (l - low);
  const scaleRight = (high - Fh) / (high - h);
  const outside = freq.lt(low).logicalOr(freq.gt(high));
  let res = freq.sub(high).mul(scaleRight).add(high); // after_h (complement of before_h)
  res = freq.mul(scale).where(freq.lt(h), res);
  res = freq.sub(low).mul(scaleLeft).add(low).where(freq.lt(l), res);
  return freq.where(outside, res);
}

const melCache = new Map<string, Float32Array>();

/**
 * torchaudio's get_mel_banks: triangular filters `[numBins, paddedWindowSize / 2]` (float32), then
 * padded with a zero column for the Nyquist bin -> `[numBins, paddedWindowSize / 2 + 1]`.
 */
export function melBanks(
  numBins: number,
  paddedWindowSize: number,
  sampleFreq: number,
  lowFreq: number,
  highFreq: number,
  vtlnLow: number,
  vtlnHigh: number,
  vtlnWarp: number,
): Tensor {
  const key = [numBins, paddedWindowSize, sampleFreq, lowFreq, highFreq, vtlnLow, vtlnHigh, vtlnWarp].join(',');
  const nFft = paddedWindowSize / 2;
  let data = melCache.get(key);
  if (!data) {
    if (!(numBins > 3)) invalid('must have at least 3 mel bins');
    if (paddedWindowSize % 2 !== 0) invalid('padded window size must be even');
    const nyquist = 0.5 * sampleFreq;
    if (highFreq <= 0.0) highFreq += nyquist;
    if (!(lowFreq >= 0.0 && lowFreq < nyquist && highFreq > 0.0 && highFreq <= nyquist && lowFreq < highFreq)) {
      invalid(`bad values in options: low-freq ${lowFreq} and high-freq ${highFreq} vs. nyquist ${nyquist}`);
    }
    const fftBinWidth = sampleFreq / paddedWindowSize;
    const melLow = melScalar(lowFreq);
    const melHigh = melScalar(highFreq);
    const delta = (melHigh - melLow) / (numBins + 1);
    if (vtlnHigh < 0.0) vtlnHigh += nyquist;
    if (!(vtlnWarp === 1.0 || (lowFreq < vtlnLow && vtlnLow < highFreq && vtlnHigh > 0.0 && vtlnHigh < highFreq && vtlnLow < vtlnHigh))) {
      invalid(`bad values in options: vtln-low ${vtlnLow} and vtln-high ${vtlnHigh}, versus low-freq ${lowFreq} and high-freq ${highFreq}`);
    }
    data = torch.tidy(() => {
      const bin = torch.arange(0, numBins, 1, { dtype: 'float32' }).unsqueeze(1);
      let left = bin.mul(delta).add(melLow);
      let center = bin.add(1.0).mul(delta).add(melLow);
      let right = bin.add(2.0).mul(delta).add(melLow);
      if (vtlnWarp !== 1.0) {
        const w = (m: Tensor) => melT(vtlnWarpFreq(vtlnLow, vtlnHigh, lowFreq, highFreq, vtlnWarp, invMelT(m)));
        [left, center, right] = [w(left), w(center), w(right)];
      }
      const mel = melT(torch.arange(0, nFft, 1, { dtype: 'float32' }).mul(fftBinWidth)).unsqueeze(0);
      const up = mel.sub(left).div(center.sub(left));
      const down = right.sub(mel).div(right.sub(center));
      let bins: Tensor;
      if (vtlnWarp === 1.0) bins = up.minimum(down).clampMin(0);
      else {
        const zeros = torch.zerosLike(up);
        const upIdx = mel.gt(left).logicalAnd(mel.le(center));
        const downIdx = mel.gt(center).logicalAnd(mel.lt(right));
        bins = down.where(downIdx, up.where(upIdx, zeros));
      }
      return F.pad(bins, [0, 1]).toArray() as Float32Array;
    });
    melCache.set(key, data);
  }
  return torch.fromBuffer(data, 'float32', [numBins, nFft + 1]);
}

/** torchaudio's _feature_window_function: a symmetric window `[windowSize]` in float32. */
export function featureWindow(type: WindowType, windowSize: number, blackmanCoeff = 0.42): Tensor {
  switch (type) {
    case 'hanning':
      return torch.hannWindow(windowSize, { periodic: false });
    case 'hamming':
      return torch.hammingWindow(windowSize, { periodic: false });
    case 'povey':
      return torch.tidy(() => torch.hannWindow(windowSize, { periodic: false }).pow(0.85));
    case 'rectangular':
      return torch.ones([windowSize]);
    case 'blackman':
      return torch.tidy(() => {
        const a = (2 * Math.PI) / (windowSize - 1);
        const n = torch.arange(0, windowSize, 1, { dtype: 'float32' });
        return n
          .mul(a)
          .cos()
          .mul(0.5)
          .rsub(blackmanCoeff)
          .add(
            n
              .mul(2 * a)
              .cos()
              .mul(0.5 - blackmanCoeff),
          );
      });
    default:
      return invalid(`invalid window type ${String(type)}`);
  }
}

function resolve(waveform: Tensor, opts: FbankOptions): { o: Full; wave: Tensor; shift: number; size: number; padded: number } {
  const o: Full = { ...DEFAULTS, ...opts };
  if (waveform.ndim !== 1 && waveform.ndim !== 2) invalid(`waveform must be [channels, samples] or [samples], got shape [${waveform.shape}]`);
  if (waveform.dtype !== 'float32' && waveform.dtype !== 'float64') invalid(`waveform must be float32 or float64, got ${waveform.dtype}`);
  const channel = Math.max(o.channel, 0);
  const channels = waveform.ndim === 2 ? waveform.shape[0]! : 1;
  if (channel >= channels) invalid(`invalid channel ${channel} for size ${channels}`);
  const wave = waveform.ndim === 2 ? waveform.select(0, channel) : waveform;
  const g = frameGeometry(o);
  const n = wave.shape[0]!;
  if (!(g.windowSize >= 2 && g.windowSize <= n)) invalid(`choose a window size ${g.windowSize} that is [2, ${n}]`);
  if (!(g.windowShift > 0)) invalid('window shift must be greater than 0');
  if (g.paddedWindowSize % 2 !== 0) invalid('the padded window size must be divisible by 2 (use roundToPowerOfTwo or an even frame length)');
  if (!(o.preemphasisCoefficient >= 0 && o.preemphasisCoefficient <= 1)) invalid('preemphasisCoefficient must be between 0 and 1');
  return { o, wave, shift: g.windowShift, size: g.windowSize, padded: g.paddedWindowSize };
}

/** torchaudio's _get_strided: `[M, windowSize]` frames of a 1-D waveform. */
function strided(wave: Tensor, size: number, shift: number, snipEdges: boolean): Tensor {
  const n = wave.shape[0]!;
  if (snipEdges) return wave.unfold(0, size, shift);
  const m = Math.floor((n + Math.floor(shift / 2)) / shift);
  const pad = Math.floor(size / 2) - Math.floor(shift / 2);
  const rev = wave.flip(0);
  const padded = pad > 0 ? torch.cat([rev.narrow(0, n - pad, pad), wave, rev]) : torch.cat([wave.narrow(0, -pad, n + pad), rev]);
  return padded.unfold(0, size, shift).narrow(0, 0, m);
}

function logEnergy(x: Tensor, energyFloor: number): Tensor {
  const e = x.pow(2).sum(1).clampMin(FBANK_EPSILON).log();
  return energyFloor === 0.0 ? e : e.clampMin(Math.log(energyFloor));
}

/** Per-frame processing of `_get_window` plus the spectrum, mel and log stages, on frames [M, win]. */
function framesToFbank(frames: Tensor, o: Full, size: number, padded: number): Tensor {
  let x = frames;
  if (o.dither !== 0.0) {
    if (o.seed !== undefined) torch.manualSeed(o.seed);
    x = x.add(torch.randn(x.shape, { dtype: x.dtype }).mul(o.dither));
  }
  if (o.removeDcOffset) x = x.sub(x.mean(1, true));
  let energy: Tensor | null = o.rawEnergy ? logEnergy(x, o.energyFloor) : null;
  if (o.preemphasisCoefficient !== 0.0) {
    const prev = torch.cat([x.narrow(1, 0, 1), x.narrow(1, 0, size - 1)], 1);
    x = x.sub(prev.mul(o.preemphasisCoefficient));
  }
  x = x.mul(featureWindow(o.windowType, size, o.blackmanCoeff).to(x.dtype).unsqueeze(0));
  if (padded !== size) x = F.pad(x, [0, padded - size]);
  if (!o.rawEnergy) energy = logEnergy(x, o.energyFloor);
  let spectrum = torch.fft.rfft(x).abs();
  if (o.usePower) spectrum = spectrum.pow(2.0);
  const mel = melBanks(o.numMelBins, padded, o.sampleFrequency, o.lowFreq, o.highFreq, o.vtlnLow, o.vtlnHigh, o.vtlnWarp).to(x.dtype);
  let out = spectrum.mm(mel.t());
  if (o.useLogFbank) out = out.clampMin(FBANK_EPSILON).log();
  if (o.useEnergy) {
    const e = energy!.unsqueeze(1);
    out = o.htkCompat ? torch.cat([out, e], 1) : torch.cat([e, out], 1);
  }
  return out;
}

function subtractMean(x: Tensor, yes: boolean): Tensor {
  return yes ? x.sub(x.mean(0, true)) : x;
}

/**
 * Log-mel filterbank of one waveform, exactly `torchaudio.compliance.kaldi.fbank(waveform, **opts)`.
 * @param waveform [C, N] (or [N]) float32/float64; `channel` picks the row (negative -> 0)
 * @returns [M, numMelBins] (+1 column with useEnergy: last with htkCompat, else first); [0] when the
 *   signal is shorter than minDuration
 */
export function fbank(waveform: Tensor, opts: FbankOptions = {}): Tensor {
  return torch.tidy(() => {
    const { o, wave, shift, size, padded } = resolve(waveform, opts);
    if (wave.shape[0]! < o.minDuration * o.sampleFrequency) return torch.empty([0], { dtype: wave.dtype });
    return subtractMean(framesToFbank(strided(wave, size, shift, o.snipEdges), o, size, padded), o.subtractMean);
  });
}

/**
 * fbank of several clips with one rfft and one matmul (frames of all clips are concatenated). Same
 * values as calling `fbank` on each clip (except the dither noise draw, if any).
 * @returns one [M_i, bins] tensor per clip
 */
export function fbankBatch(waveforms: Tensor[], opts: FbankOptions = {}): Tensor[] {
  if (waveforms.length === 0) return [];
  const outs = torch.tidy(() => {
    const parts = waveforms.map((w) => resolve(w, opts));
    const { o, size, padded } = parts[0]!;
    const frames = parts.map((p) => (p.wave.shape[0]! < o.minDuration * o.sampleFrequency ? null : strided(p.wave, size, p.shift, o.snipEdges)));
    const real = frames.filter((f): f is Tensor => f !== null);
    const all = real.length > 0 ? framesToFbank(torch.cat(real, 0), o, size, padded) : null;
    const res: Tensor[] = [];
    let row = 0;
    for (const f of frames) {
      if (f === null || all === null) res.push(torch.empty([0], { dtype: parts[0]!.wave.dtype }));
      else {
        const m = f.shape[0]!;
        res.push(subtractMean(all.narrow(0, row, m).contiguous(), o.subtractMean));
        row += m;
      }
    }
    return res;
  });
  return outs;
}
