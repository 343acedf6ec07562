/**
 * One dataset item -> host-side features (plain Float32Arrays, so they can cross worker threads and be
 * cached): the audio fbank `[targetLength, numMelBins]` and the video `[3, size, size, T]` of the
 * recipe, plus the label. Used by the loader, in the main thread or in worker threads.
 */
import * as fs from 'fs';
import { torch } from '../tensor';
import { assertFiniteAudio, recipeMaxSamples, waveformToFbank } from './audio';
import { FeatureCache, fileContentHash } from './cache';
import { DataError } from './errors';
import { decodeAudio, probe, useDecoder, useFfmpeg, type DecoderKind } from './ffmpeg';
import { centerRandom, decodeVideoHost, planVideo, type LoadVideoFramesOptions } from './frames';
import type { MediaInfo } from './media-info';
import { PyRandom, itemSeed } from './pyrandom';
import { mixTargets, mixWaveforms, type MixPlan } from './mixup';
import type { DataItem } from './source-types';

/** Audio part of a recipe. */
export interface AudioRecipe {
  /** Frames (default 1024), mel bins (128), frame shift in ms (10). */
  targetLength?: number;
  numMelBins?: number;
  frameShift?: number;
  /** Apply the dataset normalisation (default true: what the reference dataset returns). */
  normalize?: boolean;
  mean?: number;
  std?: number;
  /** Resample first (not in the reference); 'mean' downmix instead of the left channel (not in the reference). */
  resample?: number;
  mono?: 'left' | 'mean';
}

/** Video part of a recipe. */
export interface VideoRecipe {
  /** Frames per second (default 2), seconds (4), output size (224). */
  fps?: number;
  duration?: number;
  size?: number;
  /** 'uniform' (default) or 'reference'. */
  sampling?: 'uniform' | 'reference';
  /** 'bgr' (default, as the released checkpoints) or 'rgb'. */
  channelOrder?: 'bgr' | 'rgb';
  /** Window start when the item gives none: 'random' (training, default) or 'center' (evaluation). */
  start?: 'random' | 'center';
}

/** What to compute per item; `false` leaves a modality out. */
export interface Recipe {
  audio?: AudioRecipe | false;
  video?: VideoRecipe | false;
}

/** The reference recipe (fbank normalised, 8 BGR frames at 224 sampled the reference way). */
export const REFERENCE_RECIPE: Recipe = {
  audio: { targetLength: 1024, numMelBins: 128, frameShift: 10, normalize: true },
  video: { fps: 2, duration: 4, size: 224, sampling: 'reference', channelOrder: 'bgr', start: 'random' },
};

/** Features of one item. */
export interface HostSample {
  /** Index of the item in the source. */
  index: number;
  id: string;
  /** [targetLength, numMelBins] row-major. */
  audio?: Float32Array;
  audioShape?: number[];
  /** [3, size, size, T] row-major. */
  video?: Float32Array;
  videoShape?: number[];
  label?: number;
  target?: number[];
  /** Frames used (slot order), when video was decoded or read from the cache. */
  frameIndices?: number[];
  warnings: string[];
  cached: { audio: boolean; video: boolean };
}

/** Per-call context. */
export interface SampleContext {
  /** Seed and epoch make the random window reproducible: PyRandom(seed, epoch, index). */
  seed: number;
  epoch: number;
  cache?: FeatureCache | null;
  timeoutMs?: number;
  threads?: number;
  signal?: AbortSignal;
  /** The ffmpeg build for this thread ('bundled' | 'system' | a path; see useFfmpeg). */
  ffmpeg?: string;
  /** The decoder for this thread ('libav' | 'process'; see useDecoder). */
  decoder?: DecoderKind;
}

const probeMemo = new Map<string, { size: number; mtimeMs: number; info: MediaInfo }>();

/**
 * Forgets this thread's memoised probes (they are kept per path, size and mtime for the life of the
 * thread, so later epochs start no ffprobe). For benchmarks of the cold path, or to free the memory.
 */
export function forgetProbes(): void {
  probeMemo.clear();
}

/** probe() memoised per (path, size, mtime), and through the feature cache when there is one. */
async function probeCached(file: string, ctx: SampleContext): Promise<MediaInfo> {
  const st = await fs.promises.stat(file).catch(() => null);
  if (!st) throw new DataError('file not found', 'ERR_FILE_NOT_FOUND', { file });
  const m = probeMemo.get(file);
  const memo = m && m.size === st.size && m.mtimeMs === st.mtimeMs ? m.info : null;
  if (!ctx.cache) {
    if (memo) return memo;
    const info = await probe(file, { ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) });
    probeMemo.set(file, { size: st.size, mtimeMs: st.mtimeMs, info });
    return info;
  }
  const hash = await fileContentHash(file);
  let info = await ctx.cache.getProbe(hash, file);
  if (!info) {
    info = memo ?? (await probe(file, { ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) }));
    await ctx.cache.putProbe(hash, info);
  }
  probeMemo.set(file, { size: st.size, mtimeMs: st.mtimeMs, info });
  return info;
}

type FullAudioRecipe = AudioRecipe & Required<Pick<AudioRecipe, 'targetLength' | 'numMelBins' | 'frameShift' | 'normalize'>>;

function fullAudioRecipe(r: AudioRecipe): FullAudioRecipe {
  return { ...r, targetLength: r.targetLength ?? 1024, numMelBins: r.numMelBins ?? 128, frameShift: r.frameShift ?? 10, normalize: r.normalize ?? true };
}

function audioSource(item: DataItem): string {
  if (!item.audio) throw new DataError('the item has no audio source', 'ERR_NO_AUDIO', { file: item.origin });
  return item.audio;
}

/** The recipe's (normalised) fbank of a decoded waveform [channels, samples]. */
function fbankOf(data: Float32Array, channels: number, sampleRate: number, recipe: FullAudioRecipe): Float32Array {
  return torch.tidy(() => {
    const w = torch.fromBuffer(data, 'float32', [channels, data.length / channels]);
    let f = waveformToFbank(w, sampleRate, {
      targetLength: recipe.targetLength,
      numMelBins: recipe.numMelBins,
      frameShift: recipe.frameShift,
      ...(recipe.mono ? { mono: recipe.mono } : {}),
    });
    if (recipe.normalize) f = f.sub(recipe.mean ?? -6.2943).div(recipe.std ?? 12.26344);
    return f.toArray() as Float32Array;
  });
}

/** Decodes the recipe's audio window (see recipeWindowSamples) and rejects NaN/Inf samples (ERR_MEDIA). */
async function decodeFor(file: string, ctx: SampleContext, recipe: FullAudioRecipe, sampleRate?: number) {
  const maxSamples = recipeMaxSamples({ targetLength: recipe.targetLength, frameShift: recipe.frameShift });
  const a = await decodeAudio(file, {
    ...(sampleRate !== undefined ? { sampleRate } : {}),
    ...(maxSamples ? { maxSamples } : {}),
    ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  assertFiniteAudio(a.data, file);
  return a;
}

async function audioFeatures(item: DataItem, r: AudioRecipe, ctx: SampleContext, out: HostSample): Promise<void> {
  const file = audioSource(item);
  const recipe = fullAudioRecipe(r);
  let key: string | null = null;
  if (ctx.cache) {
    key = ctx.cache.key(await fileContentHash(file), 'audio', recipe);
    const hit = await ctx.cache.get(key);
    const a = hit?.get('audio');
    if (a) {
      out.audio = a.data;
      out.audioShape = a.shape;
      out.cached.audio = true;
      return;
    }
  }
  const dec = await decodeFor(file, ctx, recipe, recipe.resample);
  const data = fbankOf(dec.data, dec.channels, dec.sampleRate, recipe);
  out.audio = data;
  out.audioShape = [recipe.targetLength, recipe.numMelBins];
  if (ctx.cache && key) await ctx.cache.put(key, { audio: { data, shape: out.audioShape } }, { id: item.id });
}

async function videoFeatures(item: DataItem, index: number, r: VideoRecipe, ctx: SampleContext, out: HostSample): Promise<void> {
  const file = item.video;
  if (!file) throw new DataError('the item has no video file', 'ERR_NO_VIDEO', { file: item.origin });
  const fixedStart = item.startFrame !== undefined || item.startTime !== undefined;
  const deterministic = fixedStart || r.start === 'center';
  const opts: LoadVideoFramesOptions = {
    fps: r.fps ?? 2,
    duration: r.duration ?? 4,
    size: r.size ?? 224,
    sampling: r.sampling ?? 'uniform',
    channelOrder: r.channelOrder ?? 'bgr',
    rng: r.start === 'center' && !fixedStart ? centerRandom : new PyRandom(itemSeed(ctx.seed, ctx.epoch, index)),
    info: await probeCached(file, ctx),
    onWarning: (m) => out.warnings.push(m),
    ...(item.startFrame !== undefined ? { startFrame: item.startFrame } : {}),
    ...(item.startTime !== undefined && item.startFrame === undefined ? { startTime: item.startTime } : {}),
    ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}),
    ...(ctx.threads !== undefined ? { threads: ctx.threads } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
  if (opts.sampling === 'reference' && item.startTime !== undefined && item.startFrame === undefined) {
    opts.startFrame = Math.round(item.startTime * (opts.info!.video?.fps ?? 0));
  }
  const vp = await planVideo(file, opts);
  let key: string | null = null;
  // Only deterministic windows are cached: a random window changes every epoch.
  if (ctx.cache && deterministic) {
    const recipe = {
      fps: opts.fps,
      duration: opts.duration,
      size: opts.size,
      sampling: opts.sampling,
      channelOrder: opts.channelOrder,
      frames: vp.plan.frameIndices,
    };
    key = ctx.cache.key(await fileContentHash(file), 'video', recipe);
    const hit = (await ctx.cache.get(key))?.get('video');
    if (hit) {
      out.video = hit.data;
      out.videoShape = hit.shape;
      out.frameIndices = vp.plan.frameIndices;
      out.cached.video = true;
      return;
    }
  }
  const s = await decodeVideoHost(file, vp, opts);
  out.video = s.data;
  out.videoShape = s.shape;
  out.frameIndices = s.plan.frameIndices;
  if (ctx.cache && key) await ctx.cache.put(key, { video: { data: out.video, shape: out.videoShape } }, { id: item.id });
}

/**
 * Computes the recipe's features of one item. Errors name the item's file and origin
 * (e.g. "train.csv:12") and keep their DataError code.
 */
export async function loadSample(item: DataItem, index: number, recipe: Recipe, ctx: SampleContext, mix?: MixPlan | null): Promise<HostSample> {
  if (ctx.ffmpeg !== undefined) useFfmpeg(ctx.ffmpeg);
  if (ctx.decoder !== undefined) useDecoder(ctx.decoder);
  const out: HostSample = { index, id: item.id, warnings: [], cached: { audio: false, video: false } };
  if (item.label !== undefined) out.label = item.label;
  if (item.target !== undefined) out.target = item.target;
  try {
    if (mix) await mixedFeatures(item, index, mix, recipe, ctx, out);
    else {
      await Promise.all([
        recipe.audio === false ? null : audioFeatures(item, recipe.audio ?? {}, ctx, out),
        recipe.video === false ? null : videoFeatures(item, index, recipe.video ?? {}, ctx, out),
      ]);
    }
  } catch (e) {
    if (e instanceof DataError && !e.message.includes(item.origin)) {
      const err = new DataError(e.reason, e.code, { ...(e.file !== undefined ? { file: e.file } : {}), message: `${e.message} [item ${item.origin}]` });
      throw err;
    }
    throw e;
  }
  return out;
}

/**
 * Features of an item mixed with its partner (mixup.ts): mixed waveforms -> fbank, mixed frames, mixed
 * label vector. Nothing of a mixed sample is cached (the partner and lambda change every epoch).
 */
async function mixedFeatures(item: DataItem, index: number, mix: MixPlan, recipe: Recipe, ctx: SampleContext, out: HostSample): Promise<void> {
  const { partner, partnerIndex, lambda } = mix;
  const audio = async () => {
    if (recipe.audio === false) return;
    const r = fullAudioRecipe(recipe.audio ?? {});
    const a = await decodeFor(audioSource(item), ctx, r, r.resample);
    const b = await decodeFor(audioSource(partner), ctx, r, a.sampleRate);
    const m = mixWaveforms(a.data, a.channels, b.data, b.channels, lambda);
    out.audio = fbankOf(m.data, m.channels, a.sampleRate, r);
    out.audioShape = [r.targetLength, r.numMelBins];
  };
  const video = async () => {
    if (recipe.video === false) return;
    const own: HostSample = { ...out, warnings: [], cached: { audio: false, video: false } };
    const other: HostSample = { index: partnerIndex, id: partner.id, warnings: [], cached: { audio: false, video: false } };
    await Promise.all([
      videoFeatures(item, index, recipe.video ?? {}, { ...ctx, cache: null }, own),
      videoFeatures(partner, partnerIndex, recipe.video ?? {}, { ...ctx, cache: null }, other),
    ]);
    const v = own.video!;
    const w = other.video!;
    for (let i = 0; i < v.length; i++) v[i] = lambda * v[i]! + (1 - lambda) * w[i]!;
    out.video = v;
    out.videoShape = own.videoShape!;
    out.frameIndices = own.frameIndices!;
    out.warnings.push(...own.warnings, ...other.warnings.map((m) => `mixup partner ${partner.origin}: ${m}`));
  };
  await Promise.all([audio(), video()]);
  const y1 = item.target ?? item.label;
  const y2 = partner.target ?? partner.label;
  if (y1 !== undefined && y2 !== undefined && mix.labelCount > 0) {
    out.target = mixTargets(y1, y2, lambda, mix.labelCount);
    delete out.label;
  }
}
