/**
 * Which video frames a clip contributes: pure index arithmetic, no decoding.
 *
 * A plan has T = targetFps * duration output slots (8 by default); `frameIndices[t]` is the 0-based
 * decode-order frame shown in slot t (time is the last axis of the video tensor), `decodeIndices` the
 * sorted unique frames to decode (what `decodeVideoFrames` takes). A plan always has exactly T slots.
 *
 * - `referenceIndices`: the reference dataset (`MyDataset.__getitem__`), exactly: interval
 *   `int(fps // targetFps)`, window `n_keep = duration * fps` frames (a float) starting at
 *   `random.randint(0, int(length - n_keep))` (or `startFrame`), `numpy.arange(start, start + n_keep,
 *   interval)[:T]`; when the *reported* length is shorter than the window, start 0, window = length and
 *   the frames are tiled cyclically (f0, f1, …, f0, f1, …). Its effective rate is fps / int(fps//2):
 *   2.083 fps at 12.5 fps, so 8 frames span 3.4 s, not 4 s.
 * - `uniformIndices`: true timestamps: slot k shows the frame at time start + k / targetFps
 *   (`round(k * fps / targetFps)` frames after the start; constant frame rate assumed). The default for
 *   new training.
 * - `padPlan`: when fewer frames decode than metadata promised (a lying frame count), maps every slot to
 *   a frame that exists (tiling or repeating the last), with a warning — never fewer than T slots.
 */
import { DataError } from './errors';
import type { RandomSource } from './pyrandom';

/** A frame plan for one clip. */
export interface FramePlan {
  /** Slot t (0..T-1) shows decode-order frame `frameIndices[t]`. Length T, always. */
  frameIndices: number[];
  /** Sorted, unique frame indices to decode. */
  decodeIndices: number[];
  /** First frame of the window. */
  start: number;
  /** Frames between consecutive samples (reference: an integer; uniform: fps / targetFps). */
  interval: number;
  /** Number of slots T. */
  length: number;
  /** True when some slots repeat a frame (short clip). */
  padded: boolean;
  /** Notes for the caller to log (short clip tiling, clamped start, ...). */
  warnings: string[];
}

/** Common sampling options. */
export interface SamplingOptions {
  /** Frames per second of the video (OpenCV's CAP_PROP_FPS: avg_frame_rate). */
  fps: number;
  /** Output frames per second (default 2). */
  targetFps?: number;
  /** Window length in seconds (default 4); T = targetFps * duration slots. */
  duration?: number;
  /** Fixed first frame; otherwise drawn with `rng`. */
  startFrame?: number;
  /** Random source for the start frame (PyRandom reproduces Python's `random`); default Math.random. */
  rng?: RandomSource;
}

/** Options of referenceIndices. */
export interface ReferenceSamplingOptions extends SamplingOptions {
  /** Frame count as the container reports it (OpenCV's CAP_PROP_FRAME_COUNT, may be a float). */
  reportedFrames: number;
}

/** Options of uniformIndices. */
export interface UniformSamplingOptions extends SamplingOptions {
  /** Number of frames (the real decodable count when known, else the reported count). */
  frameCount: number;
  /** Fixed start time in seconds (converted to the nearest frame); ignored when startFrame is given. */
  startTime?: number;
}

/** A RandomSource backed by Math.random. */
export const mathRandom: RandomSource = {
  randint(lo: number, hi: number): number {
    return lo + Math.floor(Math.random() * (hi - lo + 1));
  },
};

/** Python's float floor division `a // b` (CPython float_floor_div), e.g. 12.5 // 2 = 6. */
export function pyFloorDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('float floor division by zero');
  let mod = a % b; // C fmod
  let div = (a - mod) / b;
  if (mod !== 0) {
    if (b < 0 !== mod < 0) {
      mod += b;
      div -= 1;
    }
  }
  if (div === 0) return 0;
  let floordiv = Math.floor(div);
  if (div - floordiv > 0.5) floordiv += 1;
  return floordiv;
}

/** `numpy.arange(start, stop, step)` for a positive step (length ceil((stop - start) / step)). */
export function npArange(start: number, stop: number, step: number): number[] {
  if (!(step > 0)) throw new RangeError(`arange step must be > 0, got ${step}`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return out;
}

function slotCount(targetFps: number, duration: number): number {
  const T = targetFps * duration;
  if (!(targetFps > 0) || !(duration > 0) || !Number.isInteger(T)) {
    throw new DataError(`targetFps * duration must be a positive integer (got ${targetFps} * ${duration})`, 'ERR_INVALID_ARG');
  }
  return T;
}

function checkFps(fps: number): void {
  if (!(typeof fps === 'number' && Number.isFinite(fps) && fps > 0)) throw new DataError(`fps must be a positive number, got ${fps}`, 'ERR_INVALID_ARG');
}

/** Builds a plan from the per-slot list, tiling a shorter list cyclically to T slots. */
function finish(keep: number[], T: number, start: number, interval: number, warnings: string[]): FramePlan {
  if (keep.length === 0) throw new DataError('the video has no frames to sample', 'ERR_MEDIA');
  const frameIndices = Array.from({ length: T }, (_, t) => keep[t % keep.length]!);
  const decodeIndices = [...new Set(frameIndices)].sort((a, b) => a - b);
  return { frameIndices, decodeIndices, start, interval, length: T, padded: decodeIndices.length < T, warnings };
}

/**
 * The reference recipe's frame indices (fixtures README "Video frames", steps 2–7), exactly.
 * Extension: when fps < targetFps the reference crashes (arange step 0); here the interval becomes 1.
 */
export function referenceIndices(opts: ReferenceSamplingOptions): FramePlan {
  const { fps, reportedFrames } = opts;
  checkFps(fps);
  const targetFps = opts.targetFps ?? 2;
  const duration = opts.duration ?? 4;
  const T = slotCount(targetFps, duration);
  if (!(typeof reportedFrames === 'number' && Number.isFinite(reportedFrames) && reportedFrames >= 0)) {
    throw new DataError(`reportedFrames must be a non-negative number, got ${reportedFrames}`, 'ERR_INVALID_ARG');
  }
  const warnings: string[] = [];
  let interval = Math.trunc(pyFloorDiv(fps, targetFps));
  if (interval < 1) {
    warnings.push(`fps ${fps} < targetFps ${targetFps}: frame interval int(fps // targetFps) = 0, using 1`);
    interval = 1;
  }
  let nKeep = duration * fps;
  let start: number;
  if (reportedFrames < nKeep) {
    if (opts.startFrame !== undefined && opts.startFrame !== 0) {
      warnings.push(`startFrame ${opts.startFrame} ignored: the clip (${reportedFrames} frames) is shorter than the window (${nKeep})`);
    }
    start = 0;
    nKeep = reportedFrames;
    warnings.push(`short clip: ${reportedFrames} reported frames < ${duration * fps} needed; frames are tiled to ${T}`);
  } else if (opts.startFrame !== undefined) {
    start = checkStart(opts.startFrame);
  } else {
    start = (opts.rng ?? mathRandom).randint(0, Math.trunc(reportedFrames - nKeep));
  }
  const keep = npArange(start, start + nKeep, interval).slice(0, T);
  return finish(keep, T, start, interval, warnings);
}

function checkStart(s: number): number {
  if (!Number.isInteger(s) || s < 0) throw new DataError(`startFrame must be a non-negative integer, got ${s}`, 'ERR_INVALID_ARG');
  return s;
}

/**
 * Frames at true timestamps: slot k is frame `start + round(k * fps / targetFps)`, i.e. targetFps real
 * frames per second over `duration` seconds. The start is drawn uniformly among the windows that fit
 * (or given by startFrame / startTime, clamped so the window fits). A clip shorter than the window
 * starts at 0 and repeats its last sampled frame.
 */
export function uniformIndices(opts: UniformSamplingOptions): FramePlan {
  const { fps, frameCount } = opts;
  checkFps(fps);
  const targetFps = opts.targetFps ?? 2;
  const duration = opts.duration ?? 4;
  const T = slotCount(targetFps, duration);
  if (!(Number.isFinite(frameCount) && frameCount >= 0)) throw new DataError(`frameCount must be a non-negative number, got ${frameCount}`, 'ERR_INVALID_ARG');
  const count = Math.floor(frameCount);
  const step = fps / targetFps;
  const offsets = Array.from({ length: T }, (_, k) => Math.floor(k * step + 0.5));
  const span = offsets[T - 1]! + 1;
  const warnings: string[] = [];
  let start: number;
  let requested: number | undefined;
  if (opts.startFrame !== undefined) requested = checkStart(opts.startFrame);
  else if (opts.startTime !== undefined) {
    if (!(opts.startTime >= 0)) throw new DataError(`startTime must be >= 0, got ${opts.startTime}`, 'ERR_INVALID_ARG');
    requested = Math.floor(opts.startTime * fps + 0.5);
  }
  if (count >= span) {
    const maxStart = count - span;
    if (requested === undefined) start = (opts.rng ?? mathRandom).randint(0, maxStart);
    else {
      start = Math.min(requested, maxStart);
      if (start !== requested) warnings.push(`start frame ${requested} moved to ${start} so the ${duration} s window fits in ${count} frames`);
    }
  } else {
    start = 0;
    if (requested) warnings.push(`start frame ${requested} ignored: the clip is shorter than the window`);
    warnings.push(`short clip: ${count} frames < ${span} needed for ${duration} s at ${targetFps} fps; the last frame is repeated`);
  }
  const frameIndices: number[] = [];
  for (const o of offsets) {
    const i = start + o;
    frameIndices.push(i < count ? i : frameIndices.length > 0 ? frameIndices[frameIndices.length - 1]! : Math.max(0, count - 1));
  }
  if (count === 0) throw new DataError('the video has no frames to sample', 'ERR_MEDIA');
  const decodeIndices = [...new Set(frameIndices)].sort((a, b) => a - b);
  return { frameIndices, decodeIndices, start, interval: step, length: T, padded: decodeIndices.length < T, warnings };
}

/** How padPlan fills slots whose frame did not decode. */
export type PadMode = 'tile' | 'repeat-last';

/** Result of padPlan: the corrected plan and, per slot, the position in the delivered frames. */
export interface PaddedPlan extends FramePlan {
  /** Slot t takes `delivered[positions[t]]` (delivered = the frames decodeVideoFrames returned). */
  positions: number[];
}

/**
 * Adapts a plan to the frames that actually decoded. `delivered` is the number of leading
 * `plan.decodeIndices` that were returned (decodeVideoFrames returns a prefix when the stream ends early).
 * Missing slots are filled with 'tile' (the delivered frames cycled in slot order — the reference's own
 * short-clip behaviour; default) or 'repeat-last' (the last delivered frame). A warning is added whenever
 * a slot had to be filled. Throws ERR_MEDIA when nothing was delivered (re-plan with the real count).
 */
export function padPlan(plan: FramePlan, delivered: number, mode: PadMode = 'tile'): PaddedPlan {
  const have = plan.decodeIndices.slice(0, Math.max(0, Math.min(delivered, plan.decodeIndices.length)));
  if (have.length === 0) throw new DataError(`none of the planned frames decoded (first planned frame ${plan.decodeIndices[0]})`, 'ERR_MEDIA');
  const pos = new Map(have.map((f, i) => [f, i] as [number, number]));
  let frameIndices = plan.frameIndices;
  const warnings = [...plan.warnings];
  if (have.length < plan.decodeIndices.length) {
    const missing = plan.decodeIndices.length - have.length;
    if (mode === 'tile') {
      const base: number[] = [];
      for (const f of plan.frameIndices) if (pos.has(f) && !base.includes(f)) base.push(f);
      frameIndices = plan.frameIndices.map((_, t) => base[t % base.length]!);
    } else {
      const last = have[have.length - 1]!;
      frameIndices = plan.frameIndices.map((f) => (pos.has(f) ? f : last));
    }
    warnings.push(
      `only ${have.length} of ${plan.decodeIndices.length} planned frames decoded (the stream ends before frame ${plan.decodeIndices[have.length]}; ` +
        `metadata over-reports the frame count); ${missing} filled by ${mode === 'tile' ? 'tiling' : 'repeating the last frame'}`,
    );
  }
  const decodeIndices = [...new Set(frameIndices)].sort((a, b) => a - b);
  return {
    ...plan,
    frameIndices,
    decodeIndices,
    padded: decodeIndices.length < plan.length,
    warnings,
    positions: frameIndices.map((f) => pos.get(f)!),
  };
}

/** Converts a start frame to a seek time that lands on that frame (half a frame early, never < 0). */
export function frameToSeekTime(frame: number, fps: number): number {
  return Math.max(0, (frame - 0.5) / fps);
}
