/**
 * Video part of the reference recipe (`MyDataset.__getitem__`): pick frames, decode them, and turn them
 * into the model's video tensor `[3, size, size, T]` (time LAST).
 *
 * Per frame, exactly as the reference's torchvision transform on an OpenCV frame:
 *   ToTensor   uint8 HxWx3 -> float32 3xHxW / 255. Channels stay in decode order: the reference decodes
 *              BGR with OpenCV and never converts, so the released checkpoints were trained on BGR
 *              frames. `channelOrder: 'bgr'` (default) reproduces that; 'rgb' gives true RGB.
 *   Resize     (size, size), bicubic (PyTorch cubic kernel a = -0.75, align_corners = False), no
 *              antialiasing, no clamping (values may leave [0, 1]); the aspect ratio is not kept.
 *   Normalize  ImageNet mean [0.485, 0.456, 0.406] / std [0.229, 0.224, 0.225] applied to channels 0, 1, 2
 *              in tensor order — with BGR frames, blue gets the "red" statistics (the reference's quirk).
 */
import { native } from '../native/binding';
import { torch, type Tensor } from '../tensor';
import { DataError } from './errors';
import { checkFrameSize, countDecodableFrames, decodeVideoFrames, probe, type DecodeVideoOptions } from './ffmpeg';
import { parseRate, type MediaInfo, type VideoStreamInfo } from './media-info';
import { PyRandom, type RandomSource } from './pyrandom';
import { frameToSeekTime, mathRandom, padPlan, referenceIndices, uniformIndices, type FramePlan, type PaddedPlan } from './sampling';

/** ImageNet statistics (RGB order), as torchvision.transforms.Normalize gets them in the reference. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** Options of framesToTensor. */
export interface FrameTransformOptions {
  /** Output height and width (default 224), or [height, width]. */
  size?: number | [number, number];
  /** Per-channel mean/std (default ImageNet), applied in tensor channel order. null: no normalisation. */
  mean?: number[] | null;
  std?: number[];
}

/** [oh, ow] of a transform's `size` option (default 224). */
function outputSize(opts: FrameTransformOptions): [number, number] {
  return typeof opts.size === 'number' || opts.size === undefined ? [opts.size ?? 224, opts.size ?? 224] : opts.size;
}

/**
 * The reference transform into a host buffer, in one native pass per frame (native/data/frame_transform.cc:
 * the bicubic reads the bytes through a v / 255 table, so no full-size float intermediates are written;
 * 8 frames of 720p: 0.09-0.13 -> ~0.01 CPU-s). Same-size frames (224x224 clips, or frames scaled in the
 * decoder) take the identity resize, as LibTorch's bicubic does.
 * @param frames `U` packed HxWx3 uint8 frames
 * @param positions frame shown in each output slot (default 0..U-1): padding repeats frames without
 *   transforming them again
 * @returns float32 data of shape [3, oh, ow, positions.length]
 */
export function framesToHost(
  frames: Uint8Array[],
  width: number,
  height: number,
  opts: FrameTransformOptions = {},
  positions: number[] = frames.map((_, i) => i),
): { data: Float32Array; shape: number[] } {
  const [oh, ow] = outputSize(opts);
  if (frames.length === 0) throw new DataError('framesToTensor: no frames', 'ERR_INVALID_ARG');
  for (const [name, v] of [
    ['width', width],
    ['height', height],
    ['output height', oh],
    ['output width', ow],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new DataError(`framesToTensor: ${name} must be a positive integer, got ${v}`, 'ERR_INVALID_ARG');
  }
  const fb = width * height * 3;
  frames.forEach((f, i) => {
    if (!(f instanceof Uint8Array) || f.length !== fb) {
      throw new DataError(`framesToTensor: frame ${i} has ${f?.length} bytes, expected ${width}x${height}x3`, 'ERR_INVALID_ARG');
    }
  });
  const mean = opts.mean === undefined ? IMAGENET_MEAN : opts.mean;
  const std = opts.std ?? IMAGENET_STD;
  if (mean !== null && (mean.length !== 3 || std.length !== 3)) {
    throw new DataError(`framesToTensor: mean and std need 3 values, got ${mean.length} and ${std.length}`, 'ERR_INVALID_ARG');
  }
  const data = new Float32Array(3 * oh * ow * positions.length);
  native.framesTransform(data, frames, width, height, oh, ow, mean, std, positions);
  return { data, shape: [3, oh, ow, positions.length] };
}

/**
 * The reference transform on decoded frames (framesToHost as a tensor).
 * @param frames `T` packed HxWx3 uint8 frames (or one uint8 tensor [T, H, W, 3])
 * @returns float32 [3, size, size, T]
 */
export function framesToTensor(frames: Uint8Array[] | Tensor, width: number, height: number, opts: FrameTransformOptions = {}): Tensor {
  let list: Uint8Array[];
  if (Array.isArray(frames)) list = frames;
  else {
    if (frames.dtype !== 'uint8' || frames.ndim !== 4 || frames.shape[1] !== height || frames.shape[2] !== width || frames.shape[3] !== 3) {
      throw new DataError(`framesToTensor: expected a uint8 tensor [T, ${height}, ${width}, 3], got ${frames.dtype} [${frames.shape}]`, 'ERR_INVALID_ARG');
    }
    const all = frames.toArray() as Uint8Array;
    const fb = width * height * 3;
    list = Array.from({ length: frames.shape[0]! }, (_, i) => all.subarray(i * fb, (i + 1) * fb));
  }
  const h = framesToHost(list, width, height, opts);
  return torch.fromBuffer(h.data, 'float32', h.shape);
}

/** Options of loadVideoFrames / sampleVideo. */
export interface LoadVideoFramesOptions extends FrameTransformOptions {
  /** Output frames per second (default 2) and window length in seconds (default 4): T = fps * duration. */
  fps?: number;
  duration?: number;
  /** 'uniform' (default: true timestamps) or 'reference' (the reference's int(fps // 2) interval). */
  sampling?: 'uniform' | 'reference';
  /** Fixed window start (frame index, or seconds for uniform sampling); otherwise random. */
  startFrame?: number;
  startTime?: number;
  /** Random source for the window start, or a seed for a Python-compatible one (PyRandom). */
  rng?: RandomSource;
  seed?: number;
  /** 'bgr' (default, what the released checkpoints were trained on) or 'rgb'. */
  channelOrder?: 'bgr' | 'rgb';
  /** Count the real decodable frames before planning (one extra full decode; default false). */
  countFrames?: boolean;
  /** A probe of the file (saves an ffprobe run). */
  info?: MediaInfo;
  /** Called with each warning (short clips, lying frame counts); default process.emitWarning. */
  onWarning?: (message: string) => void;
  /** Passed to decodeVideoFrames. */
  stream?: number;
  threads?: number;
  timeoutMs?: number;
  colorMatrix?: DecodeVideoOptions['colorMatrix'];
  /** Aborts decoding (child processes are killed). */
  signal?: AbortSignal;
  /**
   * Frames with more pixels than this (default EXACT_MAX_PIXELS, 1920x1080) are scaled to the output size
   * inside ffmpeg (bicubic, antialiased by swscale) instead of being decoded at full size and resized here,
   * which is the reference's (bit-exact) way. Bounds memory: a kept frame costs at most
   * max(maxExactPixels, size*size) * 3 bytes here. `Infinity` keeps the exact path at every size.
   */
  maxExactPixels?: number;
  /** Larger frames are refused with ERR_MEDIA_TOO_LARGE before decoding (default MAX_FRAME_PIXELS, 8K UHD). */
  maxPixels?: number;
  /** Seek to the keyframe before the window instead of decoding from the start (default true; see seekTime). */
  seek?: boolean;
}

/** Largest frame (pixels) decoded at full size and resized the reference's way: 1920x1080. */
export const EXACT_MAX_PIXELS = 1920 * 1080;

/** What sampleVideo returns. */
export interface SampledVideo {
  /** float32 [3, size, size, T] (caller disposes). */
  video: Tensor;
  /** The plan that was used, after padding to the frames that decoded. */
  plan: PaddedPlan;
  info: MediaInfo;
  warnings: string[];
}

function defaultWarn(path: string) {
  return (m: string) => process.emitWarning(`${path}: ${m}`, { type: 'SocialMaeDataWarning' });
}

function makePlan(opts: LoadVideoFramesOptions, fps: number, count: number, rng: RandomSource): FramePlan {
  const common = { fps, targetFps: opts.fps ?? 2, duration: opts.duration ?? 4, rng };
  if ((opts.sampling ?? 'uniform') === 'reference') {
    return referenceIndices({ ...common, reportedFrames: count, ...(opts.startFrame !== undefined ? { startFrame: opts.startFrame } : {}) });
  }
  if ((opts.sampling ?? 'uniform') !== 'uniform')
    throw new DataError(`sampling must be 'uniform' or 'reference', got ${String(opts.sampling)}`, 'ERR_INVALID_ARG');
  return uniformIndices({
    ...common,
    frameCount: count,
    ...(opts.startFrame !== undefined ? { startFrame: opts.startFrame } : {}),
    ...(opts.startTime !== undefined ? { startTime: opts.startTime } : {}),
  });
}

/** A planned clip: what planVideo decided before decoding. */
export interface VideoPlan {
  plan: FramePlan;
  info: MediaInfo;
  /** Real decodable frame count, when known. */
  decodable?: number;
  rng: RandomSource;
}

/** A RandomSource that always picks the middle of the range (deterministic centred windows). */
export const centerRandom: RandomSource = { randint: (lo: number, hi: number) => Math.floor((lo + hi) / 2) };

function processOpts(opts: LoadVideoFramesOptions): { timeoutMs?: number; signal?: AbortSignal } {
  return { ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
}

/** Probes (unless `info` is given) and plans which frames to decode. */
export async function planVideo(path: string, opts: LoadVideoFramesOptions = {}): Promise<VideoPlan> {
  const info = opts.info ?? (await probe(path, processOpts(opts)));
  const vs = info.videoStreams[opts.stream ?? 0];
  if (!vs) throw new DataError('no video stream', 'ERR_NO_VIDEO', { file: path });
  if (vs.fps === null) throw new DataError('unknown frame rate', 'ERR_MEDIA', { file: path });
  checkFrameSize(vs, path, opts.maxPixels);
  if (opts.channelOrder !== undefined && opts.channelOrder !== 'bgr' && opts.channelOrder !== 'rgb') {
    throw new DataError(`channelOrder must be 'bgr' or 'rgb', got ${String(opts.channelOrder)}`, 'ERR_INVALID_ARG');
  }
  const rng: RandomSource = opts.rng ?? (opts.seed !== undefined ? new PyRandom(opts.seed) : mathRandom);
  const reference = (opts.sampling ?? 'uniform') === 'reference';
  let decodable = vs.decodableFrames;
  if (decodable === undefined && opts.countFrames) decodable = await countDecodableFrames(path, { info, ...processOpts(opts) });
  // The reference plans from the reported count (even when it lies); uniform sampling uses the real one when known.
  const count = reference ? (vs.reportedFrames ?? decodable ?? 0) : (decodable ?? vs.reportedFrames ?? 0);
  const plan = makePlan(opts, vs.fps, count, rng);
  return decodable === undefined ? { plan, info, rng } : { plan, info, rng, decodable };
}

/**
 * Where to seek (seconds, for ffmpeg's `-ss` before the input) so that the first frame delivered is frame
 * `first`, or null to decode from the start. ffmpeg then demuxes from the keyframe before that time and
 * drops the frames before it, instead of decoding everything up to the window (most of the cost on HD
 * clips with late windows). Frame k of a constant-rate stream has the timestamp start + k / fps, so the
 * time half a frame before frame `first` (frameToSeekTime), relative to the file's start, selects it.
 * Only for constant-rate streams (r_frame_rate = avg_frame_rate) and windows starting at least one second
 * in; a variable-rate stream is decoded from the start and its frames counted, as OpenCV does.
 */
export function seekTime(info: MediaInfo, vs: VideoStreamInfo, first: number): number | null {
  const fps = vs.fps;
  const r = parseRate(vs.rFrameRate);
  const a = parseRate(vs.avgFrameRate);
  if (fps === null || r === null || a === null || Math.abs(r - a) > 1e-9 * r || first < fps) return null;
  const fileStart = Math.min(...[...info.videoStreams, ...info.audioStreams].map((s) => s.startTime));
  return vs.startTime - fileStart + frameToSeekTime(first, fps);
}

/**
 * Decodes and transforms a planned clip. When the file decodes fewer frames than its metadata says
 * (a warning is emitted either way, and the result always has T frames):
 *  - reference sampling keeps its plan (made from the reported count, as the reference does) and tiles
 *    the frames that exist over the missing slots, like its own short-clip case;
 *  - uniform sampling counts the real frames and plans again inside them (two extra decodes, only for
 *    such files); slots past a clip that is shorter than the window repeat the last frame.
 */
export async function decodeVideoHost(path: string, vp: VideoPlan, opts: LoadVideoFramesOptions = {}): Promise<HostVideo> {
  const warn = opts.onWarning ?? defaultWarn(path);
  const { info, rng } = vp;
  const vs = info.videoStreams[opts.stream ?? 0]!;
  const reference = (opts.sampling ?? 'uniform') === 'reference';
  let plan = vp.plan;
  const dec: DecodeVideoOptions = {
    indices: plan.decodeIndices,
    pixelFormat: opts.channelOrder === 'rgb' ? 'rgb24' : 'bgr24',
    info,
    ...(opts.stream !== undefined ? { stream: opts.stream } : {}),
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...processOpts(opts),
    ...(opts.colorMatrix !== undefined ? { colorMatrix: opts.colorMatrix } : {}),
    ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
  };
  if (vs.width * vs.height > (opts.maxExactPixels ?? EXACT_MAX_PIXELS)) {
    const [oh, ow] = typeof opts.size === 'number' || opts.size === undefined ? [opts.size ?? 224, opts.size ?? 224] : opts.size;
    dec.scaleTo = [ow, oh];
  }
  const decode = (indices: number[]) => {
    const at = opts.seek === false ? null : seekTime(info, vs, indices[0]!);
    return at === null
      ? decodeVideoFrames(path, { ...dec, indices })
      : decodeVideoFrames(path, { ...dec, startTime: at, indices: indices.map((i) => i - indices[0]!) });
  };
  let frames = await decode(plan.decodeIndices);
  if (frames.endOfStream && (frames.decoded === 0 || !reference)) {
    // Uniform sampling (or a window entirely past the real end): plan again inside the frames that exist.
    const real = await countDecodableFrames(path, { info, ...processOpts(opts) });
    if (real === 0) throw new DataError('the video stream has no decodable frames', 'ERR_MEDIA', { file: path });
    vs.decodableFrames = real; // remembered in `info` (the loader reuses it: later epochs plan inside the real count)
    const was = plan.decodeIndices;
    const keepStart = !reference && (opts.startFrame !== undefined || opts.startTime !== undefined);
    plan = makePlan(keepStart ? opts : { ...opts, startFrame: undefined, startTime: undefined }, vs.fps!, real, rng);
    plan.warnings.unshift(
      `only ${real} frames decode but ${vs.reportedFrames} are reported; the planned frames ${was[frames.decoded]}.. do not exist, re-planned within ${real} frames`,
    );
    frames = await decode(plan.decodeIndices);
    if (frames.decoded === 0) throw new DataError('no frames decoded', 'ERR_MEDIA', { file: path });
  }
  const padded = padPlan(plan, frames.decoded, reference ? 'tile' : 'repeat-last');
  for (const w of padded.warnings) warn(w);
  const { data, shape } = framesToHost(frames.frames, frames.width, frames.height, opts, padded.positions); // [3, S, S, T]
  return { data, shape, plan: padded, info, warnings: padded.warnings };
}

/** Decodes and transforms a planned clip (decodeVideoHost) into a tensor. */
export async function decodeVideoPlan(path: string, vp: VideoPlan, opts: LoadVideoFramesOptions = {}): Promise<SampledVideo> {
  const { data, shape, ...rest } = await decodeVideoHost(path, vp, opts);
  return { video: torch.fromBuffer(data, 'float32', shape), ...rest };
}

/** SampledVideo with the frames in a host buffer (what the loader keeps: no tensor round trip). */
export interface HostVideo extends Omit<SampledVideo, 'video'> {
  /** float32 [3, size, size, T] row-major. */
  data: Float32Array;
  shape: number[];
}

/** Picks, decodes and transforms a clip's frames: planVideo + decodeVideoPlan. */
export async function sampleVideo(path: string, opts: LoadVideoFramesOptions = {}): Promise<SampledVideo> {
  return decodeVideoPlan(path, await planVideo(path, opts), opts);
}

/**
 * `data.loadVideoFrames(path, opts)`: the clip's video tensor `[3, size, size, fps * duration]`.
 * With `{ sampling: 'reference', startFrame: 53 }` on the fixture clip it reproduces the reference's
 * `frames_f16`.
 */
export async function loadVideoFrames(path: string, opts: LoadVideoFramesOptions = {}): Promise<Tensor> {
  return (await sampleVideo(path, opts)).video;
}
