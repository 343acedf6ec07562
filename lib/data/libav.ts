/**
 * The in-process decoder's calls (native/media), with the process path's argument handling and errors:
 * ffmpeg.ts decides what to decode and calls these when decoder.ts selects 'libav'. The native side
 * receives the same filter text the ffmpeg command line would, so both give the same bytes.
 */
import { native } from '../native/binding';
import { DataError } from './errors';
import { abortError } from './abort';
import { classifyFfmpegError, type MediaTask } from './ffmpeg-env';

/** Native calls still running (an aborted call keeps running until it ends, bounded by its timeout). */
const inFlight = new Set<Promise<unknown>>();

/** Resolves once every native media call this thread started has ended (a worker waits before it exits). */
export async function settleNativeCalls(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

/** Runs a native media call; rejects at once when `signal` aborts (the native call then ends on its own, bounded by its timeout). */
async function call<T>(file: string, task: MediaTask, run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) throw abortError(file);
  const started = run();
  inFlight.add(started);
  const untrack = () => inFlight.delete(started);
  started.then(untrack, untrack);
  const p = started.catch((e: Error & { code?: string }) => {
    throw toDataError(e, file, task);
  });
  if (!signal) return p;
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(file));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  p.catch(() => undefined); // a late failure after an abort is not unhandled
  try {
    return await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function toDataError(e: Error & { code?: string }, file: string, task: MediaTask): Error {
  const msg = String(e.message ?? e);
  if (e.code === 'ERR_NO_AUDIO' || e.code === 'ERR_NO_VIDEO')
    return new DataError(e.code === 'ERR_NO_AUDIO' ? 'no audio stream' : 'no video stream', e.code, { file });
  if (e.code === 'ERR_MEDIA' && /^(\w+: )?timeout:/.test(msg)) {
    return new DataError('timeout', 'ERR_MEDIA', { file, message: `${file}: ${msg.replace(/^\w+: /, '')} (in-process decoder)` });
  }
  if (e.code === 'ERR_MEDIA') return classifyFfmpegError(msg, file, task, msg.split('\n')[0] ?? 'decoding failed');
  return e;
}

/** ffprobe-shaped JSON (`-show_format -show_streams`) of `file`. */
export async function libavProbe(file: string, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
  const text = await call(file, 'probe', () => native.mediaProbe!(file, timeoutMs), signal);
  return JSON.parse(text);
}

/** What libavDecodeAudio needs (the process path's option values after validation). */
export interface LibavAudioRequest {
  ordinal: number;
  sampleRate?: number;
  channels?: number;
  s16: boolean;
  /** Stop after this many samples per channel (exact). */
  maxSamples?: number;
  /** Or after this many seconds of output (an upper bound; the caller trims exactly). */
  maxSeconds?: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Planar float32 audio, as `ffmpeg -map 0:a:N [-ar] [-ac] -c:a pcm_f32le|pcm_s16le` gives it. */
export function libavDecodeAudio(file: string, r: LibavAudioRequest): Promise<{ data: Float32Array; channels: number; samples: number; sampleRate: number }> {
  return call(
    file,
    'audio',
    () => native.mediaDecodeAudio!(file, r.ordinal, r.sampleRate ?? 0, r.channels ?? 0, r.s16, r.maxSamples ?? -1, r.maxSeconds ?? -1, r.timeoutMs),
    r.signal,
  );
}

/** What libavDecodeVideo needs. */
export interface LibavVideoRequest {
  streamIndex: number;
  indices: number[];
  /** The -ss text (seconds with 6 decimals) or undefined. */
  startTime?: string;
  /** The -vf chain after `select` ('' for none). */
  filters: string;
  pixelFormat: 'bgr24' | 'rgb24';
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * The selected frames, as `ffmpeg [-ss T] -i file -fps_mode passthrough -vf select=..,<filters>` gives them.
 * `skipped` / `pictures` / `redone` say how they were decoded (H.264 non-reference pictures not kept are
 * skipped, `pictures` were decoded, and a failed check redoes the decode with every picture:
 * native/media/video_skip.cc).
 */
export function libavDecodeVideo(
  file: string,
  r: LibavVideoRequest,
): Promise<{ frames: Uint8Array[]; width: number; height: number; counted: number; skipped: number; pictures: number; redone: boolean }> {
  // ffmpeg parses "-ss 12.340000" into whole microseconds; the same digits give the same integer.
  const startUs = r.startTime === undefined ? -1 : Number(r.startTime.replace('.', ''));
  return call(
    file,
    r.indices[0] === Number.MAX_SAFE_INTEGER ? 'count' : 'video',
    () => native.mediaDecodeVideo!(file, r.streamIndex, r.indices, startUs, r.filters, r.pixelFormat, r.timeoutMs),
    r.signal,
  );
}
