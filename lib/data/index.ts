/**
 * lib/data: media decoding (ffmpeg), frame sampling, dataset sources and label maps.
 * Everything here is re-exported as the `data` namespace of the package.
 */
export * from './errors';
export {
  probe,
  countDecodableFrames,
  decodeAudio,
  decodeVideoFrames,
  selectExpression,
  locateFfmpeg,
  resetFfmpegLocation,
  useFfmpeg,
  useDecoder,
  decoderChoice,
  libavAvailable,
  DECODER_KINDS,
  type DecoderKind,
  bundledBinary,
  ffmpegFeatures,
  ffmpegConfig,
  FFMPEG_INSTALL_HINT,
  DEFAULT_TIMEOUT_MS,
  MAX_FRAME_PIXELS,
  checkFrameSize,
  type FfmpegPaths,
  type FfmpegSource,
  type FfmpegFeatures,
  type ProcessOptions,
  type DecodeAudioOptions,
  type DecodedAudio,
  type DecodeVideoOptions,
  type DecodedFrames,
} from './ffmpeg';
export type { MediaInfo, VideoStreamInfo, AudioStreamInfo, StreamSummary } from './media-info';
export { PyRandom, betavariate, gammavariate, itemSeed, type RandomSource } from './pyrandom';
export { planMixup, mixWaveforms, mixTargets, type MixPlan } from './mixup';
export {
  referenceIndices,
  uniformIndices,
  padPlan,
  frameToSeekTime,
  pyFloorDiv,
  npArange,
  mathRandom,
  type FramePlan,
  type PaddedPlan,
  type PadMode,
  type SamplingOptions,
  type ReferenceSamplingOptions,
  type UniformSamplingOptions,
} from './sampling';
export * from './sources';
export { parseCsv, type CsvRow } from './csv';
export {
  fbank,
  fbankBatch,
  melBanks,
  featureWindow,
  frameGeometry,
  numFrames,
  nextPowerOfTwo,
  FBANK_EPSILON,
  type FbankOptions,
  type WindowType,
} from './fbank';
export {
  loadAudio,
  wav2fbank,
  waveformToFbank,
  waveformsToFbank,
  recipeWindowSamples,
  recipeMaxSamples,
  assertFiniteAudio,
  normalizeFbank,
  padOrTrim,
  recipeFbankOptions,
  FBANK_MEAN,
  FBANK_STD,
  type LoadedAudio,
  type Wav2FbankOptions,
} from './audio';
export {
  loadVideoFrames,
  sampleVideo,
  planVideo,
  decodeVideoPlan,
  framesToTensor,
  centerRandom,
  IMAGENET_MEAN,
  IMAGENET_STD,
  EXACT_MAX_PIXELS,
  seekTime,
  type LoadVideoFramesOptions,
  type SampledVideo,
  type VideoPlan,
  type FrameTransformOptions,
} from './frames';
export { DistributedSampler, type Sampler, type DistributedSamplerOptions } from './distributed_sampler';
export { DataLoader, createLoader, pyShuffle, type LoaderOptions, type Batch, type LoaderStats, type LoaderThroughput, type SkippedRecord } from './loader';
export { clipFeatures, EVAL_RECIPE, type ClipFeaturesOptions } from './features';
export { loadSample, forgetProbes, REFERENCE_RECIPE, type Recipe, type AudioRecipe, type VideoRecipe, type HostSample, type SampleContext } from './sample';
export { FeatureCache, fileContentHash, stableStringify, CACHE_VERSION, type CacheStats, type CachedArray } from './cache';
export { abortError } from './ffmpeg';
export { readWavFile, decodeWavBuffer, parseWavHeader, type WavData, type WavHeader } from './wav';
export { parseProbe, parseRate } from './media-info';
export { processCpuSeconds } from './cpu-time';
