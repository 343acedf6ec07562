/**
 * Decoding through ffmpeg: in-process (libav.ts) or as child processes. The children are started by the
 * spawn helper (spawn-helper.ts: a small process, so the decoding process never forks), ffprobe with
 * execFile, ffmpeg with its stdout on a socket to the requesting thread.
 *
 * - `probe(path)`: container and stream facts (ffprobe JSON; see media-info.ts for the OpenCV-style
 *   fps / frame-count semantics).
 * - `countDecodableFrames(path)`: the real frame count (`ffprobe -count_frames`), which can differ from
 *   the container's count (KlsG1EnBEjc_000361.mp4 reports 400 and decodes 299).
 * - `decodeAudio(path)`: float32 planar `[C, N]` at the native rate (or resampled), through a pipe.
 * - `decodeVideoFrames(path, {indices})`: selected frames as packed uint8 HxWx3 (BGR or RGB), through a
 *   pipe, decoding only up to the last requested frame.
 *
 * Nothing writes temporary files. Every child process runs under a timeout and is SIGKILLed when it
 * expires, so a broken file can not hang a data loader.
 * Media paths reach both command lines only as `mediaInputArg(file)` (ffmpeg-env.ts), never as options.
 */
import { execFileSync } from 'child_process';
import { abortError } from './abort';
import { decoderKind, decoderLine, type DecoderKind } from './decoder';
import { DataError } from './errors';
import { checkMediaFile, classifyFfmpegError, locateFfmpeg, mediaInputArg, type MediaTask } from './ffmpeg-env';
import { libavDecodeAudio, libavDecodeVideo, libavProbe, settleNativeCalls } from './libav';
import { parseProbe, type MediaInfo } from './media-info';
import { helperExec, helperRun, type ExecResult, type HelperJob, type RunFailure } from './spawn-helper';
import { parseWavHeader, readWavFile, wavToPlanar } from './wav';

export { abortError } from './abort';
export { useDecoder, decoderChoice, libavAvailable, DECODER_KINDS, type DecoderKind } from './decoder';
export { locateFfmpeg, resetFfmpegLocation, useFfmpeg, bundledBinary, FFMPEG_INSTALL_HINT, type FfmpegPaths, type FfmpegSource } from './ffmpeg-env';

/** Default limit for one ffmpeg/ffprobe run (ms). Decodes of normal clips take well under a second. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Common options of every call. */
export interface ProcessOptions {
  /** Kill the child process and fail with ERR_MEDIA (reason 'timeout') after this many ms. */
  timeoutMs?: number;
  /** Kill the child process and reject with an AbortError when this signal aborts. */
  signal?: AbortSignal;
  /** 'libav' (in-process) or 'process' (ffmpeg children) for this call; default: decoder.ts's choice. */
  decoder?: DecoderKind;
}

/** What the selected ffmpeg build is and which spelling of version-dependent options it takes. */
export interface FfmpegFeatures {
  /** First line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1". */
  version: string;
  /** libavformat major.minor (decides the option spellings). */
  libavformat: [number, number];
  /** The frame-rate option: '-fps_mode' (libavformat >= 59.27, ffmpeg 5.1) or '-vsync' (older builds). */
  fpsModeFlag: '-fps_mode' | '-vsync';
}

const featureMemo = new Map<string, FfmpegFeatures>();

/** Runs `ffmpeg -version` once per executable (and thread) and derives the option spellings. */
export function ffmpegFeatures(): FfmpegFeatures {
  const { ffmpeg } = locateFfmpeg();
  const memo = featureMemo.get(ffmpeg);
  if (memo) return memo;
  let text: string;
  try {
    text = execFileSync(ffmpeg, ['-hide_banner', '-version'], {
      encoding: 'utf8',
      timeout: 10_000,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch (e) {
    throw new DataError(`cannot run ${ffmpeg} -version (${(e as Error).message.split('\n')[0]})`, 'ERR_FFMPEG_MISSING');
  }
  const m = /libavformat\s+(\d+)\.\s*(\d+)/.exec(text);
  const lavf: [number, number] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  const f: FfmpegFeatures = {
    version: text.split('\n')[0]!.trim(),
    libavformat: lavf,
    fpsModeFlag: lavf[0] > 59 || (lavf[0] === 59 && lavf[1] >= 27) ? '-fps_mode' : '-vsync',
  };
  featureMemo.set(ffmpeg, f);
  return f;
}

/**
 * The media backend as text, in the manner of `torch.config()`: which ffmpeg/ffprobe run, where they came
 * from (bundled static build, system, env), what chose them and their versions.
 */
export function ffmpegConfig(): string {
  let p: ReturnType<typeof locateFfmpeg>;
  let f: FfmpegFeatures;
  try {
    p = locateFfmpeg();
    f = ffmpegFeatures();
  } catch (e) {
    if (decoderKind() !== 'libav') throw e;
    return `${decoderLine()}\nmedia backend: no ffmpeg executables (${(e as Error).message.split('\n')[0]})`;
  }
  let probeVersion = '?';
  try {
    probeVersion = execFileSync(p.ffprobe, ['-hide_banner', '-version'], {
      encoding: 'utf8',
      timeout: 10_000,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')[0]!
      .trim();
  } catch {
    probeVersion = 'cannot run';
  }
  return [
    decoderLine(),
    `media backend: ${p.source} ffmpeg (selected by ${p.selectedBy}; SOCIAL_MAE_FFMPEG=bundled|system|<path> or data.useFfmpeg() choose)`,
    `  ffmpeg:  ${p.ffmpeg} (${f.version}; libavformat ${f.libavformat.join('.')})`,
    `  ffprobe: ${p.ffprobe} (${probeVersion})`,
  ].join('\n');
}

function timeoutError(file: string, ms: number, what: string): DataError {
  return new DataError('timeout', 'ERR_MEDIA', { file, message: `${file}: ${what} did not finish within ${ms} ms (killed)` });
}

type Finish<T> = (err: Error | null, value?: T) => void;

/**
 * Runs a spawn-helper job (`start`) under a timeout and `signal`, settling once: through `outcome` when the
 * child ends, or with a timeout / abort error (the child is then killed). `start` gets `finish` and whether
 * the call has settled. The child counts as unreaped (settleChildren) until the helper has reaped it.
 */
function supervise<R, T>(
  file: string,
  what: 'ffmpeg' | 'ffprobe',
  timeoutMs: number,
  signal: AbortSignal | undefined,
  start: (finish: Finish<T>, settled: () => boolean) => HelperJob<R>,
  outcome: (r: R, finish: Finish<T>) => void,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortError(file));
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      job.kill();
      finish(timeoutError(file, timeoutMs, what));
    }, timeoutMs);
    const finish: Finish<T> = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value as T);
    };
    const job = start(finish, () => settled);
    const onAbort = () => {
      job.kill();
      finish(abortError(file));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    unreaped.add(job.reaped);
    void job.reaped.then(() => unreaped.delete(job.reaped));
    void job.result.then((r) => outcome(r, finish));
  });
}

/** Runs ffprobe (in the spawn helper) with JSON output under a timeout; resolves to the parsed JSON. */
function ffprobeJson(file: string, args: string[], task: MediaTask, timeoutMs: number, signal?: AbortSignal): Promise<any> {
  const { ffprobe } = locateFfmpeg();
  return supervise<ExecResult, unknown>(
    file,
    'ffprobe',
    timeoutMs,
    signal,
    () => helperExec(ffprobe, ['-v', 'error', '-print_format', 'json', ...args, mediaInputArg(file)], 64 * 1024 * 1024),
    ({ stdout, stderr, error }, finish) => {
      if (error?.code === 'ENOENT' || error?.code === 'EACCES') return finish(new DataError(`cannot run ${ffprobe} (${error.code})`, 'ERR_FFMPEG_MISSING'));
      if (error) return finish(classifyFfmpegError(stderr + '\n' + error.message, file, task, 'ffprobe failed'));
      try {
        finish(null, JSON.parse(stdout));
      } catch {
        finish(new DataError('ffprobe printed invalid JSON', 'ERR_MEDIA', { file }));
      }
    },
  );
}

/**
 * Probes a media file: container format/duration, every stream, the first video and audio stream.
 * With `countFrames`, also decodes the first video stream to fill `video.decodableFrames`.
 * Throws ERR_FILE_NOT_FOUND, ERR_MEDIA (empty/corrupt/not media/timeout), ERR_FFMPEG_MISSING.
 */
export async function probe(file: string, opts: ProcessOptions & { countFrames?: boolean } = {}): Promise<MediaInfo> {
  await checkMediaFile(file);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const json =
    decoderKind(opts.decoder) === 'libav'
      ? await libavProbe(file, timeoutMs, opts.signal)
      : await ffprobeJson(file, ['-show_format', '-show_streams'], 'probe', timeoutMs, opts.signal);
  const info = parseProbe(json, file);
  if (info.streams.length === 0) throw new DataError('no streams (not a media file?)', 'ERR_MEDIA', { file });
  if (opts.countFrames && info.video) {
    info.video.decodableFrames = await countDecodableFrames(file, {
      timeoutMs,
      info,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.decoder ? { decoder: opts.decoder } : {}),
    });
  }
  return info;
}

/**
 * Real number of decodable frames of a video stream (`ffprobe -count_frames`, decodes the stream once;
 * the count equals OpenCV's decode counter at end of file). `stream` is the ordinal among video streams.
 * Throws ERR_NO_VIDEO when there is no such stream.
 */
export async function countDecodableFrames(file: string, opts: ProcessOptions & { stream?: number; info?: MediaInfo } = {}): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const info =
    opts.info ?? (await probe(file, { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.decoder ? { decoder: opts.decoder } : {}) }));
  const vs = info.videoStreams[opts.stream ?? 0];
  if (!vs) throw new DataError(noStream(info, 'video', opts.stream ?? 0), 'ERR_NO_VIDEO', { file });
  if (decoderKind(opts.decoder) === 'libav') {
    const r = await libavDecodeVideo(file, {
      streamIndex: vs.index,
      indices: [Number.MAX_SAFE_INTEGER],
      filters: '',
      pixelFormat: 'bgr24',
      timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return r.counted;
  }
  const json = await ffprobeJson(
    file,
    ['-count_frames', '-select_streams', String(vs.index), '-show_entries', 'stream=nb_read_frames'],
    'count',
    timeoutMs,
    opts.signal,
  );
  const n = Number(json?.streams?.[0]?.nb_read_frames);
  if (!Number.isFinite(n)) throw new DataError('could not count frames', 'ERR_MEDIA', { file });
  return n;
}

function noStream(info: MediaInfo, kind: 'audio' | 'video', ordinal: number): string {
  const n = kind === 'audio' ? info.audioStreams.length : info.videoStreams.length;
  return n === 0 ? `no ${kind} stream` : `no ${kind} stream #${ordinal} (the file has ${n})`;
}

/** Exits of ffmpeg processes started by runPipe that have not been reaped yet. */
const unreaped = new Set<Promise<void>>();

/**
 * Resolves once every ffmpeg process this thread started has exited and been reaped, and every in-process
 * decode it started has ended. A worker thread must wait for this before it is terminated, or a killed
 * child stays a zombie (or a decode outlives its thread).
 */
export async function settleChildren(): Promise<void> {
  while (unreaped.size > 0) await Promise.all([...unreaped]);
  await settleNativeCalls();
}

/** What runPipe's data callback returns: true once it has everything it needs. */
type OnData = (chunk: Buffer) => boolean;

/**
 * Runs ffmpeg (in the spawn helper: spawn-helper.ts) with stdout piped to `onData`.
 * Resolves when ffmpeg exits cleanly or as soon as `onData` returns true (ffmpeg is then killed: nothing
 * more is decoded). Rejects with a classified DataError on failure or timeout.
 */
function runPipe(
  file: string,
  inputOptions: string[],
  outputOptions: string[],
  task: MediaTask,
  timeoutMs: number,
  onData: OnData,
  signal?: AbortSignal,
): Promise<void> {
  const { ffmpeg } = locateFfmpeg();
  return supervise<RunFailure | undefined, void>(
    file,
    'ffmpeg',
    timeoutMs,
    signal,
    (finish, settled) => {
      const job = helperRun(
        { ffmpeg, input: mediaInputArg(file), inputOptions: ['-hide_banner', '-nostdin', '-v', 'error', ...inputOptions], outputOptions },
        (chunk) => {
          if (!settled() && onData(chunk)) {
            finish(null);
            job.kill();
          }
        },
      );
      return job;
    },
    (failure, finish) => {
      if (!failure) return finish(null);
      const msg = failure.message;
      if (/ENOENT|Cannot find ffmpeg/.test(msg)) finish(new DataError(`cannot run ffmpeg (${msg})`, 'ERR_FFMPEG_MISSING'));
      else finish(classifyFfmpegError(failure.stderr + '\n' + msg, file, task, msg.split('\n')[0] ?? 'ffmpeg failed'));
    },
  );
}

/** Options of decodeAudio. */
export interface DecodeAudioOptions extends ProcessOptions {
  /** Resample to this rate (Hz). Default: the stream's own rate (what torchaudio.load returns). */
  sampleRate?: number;
  /** Remix to this many channels with ffmpeg's default matrix (e.g. 1 = mono downmix). Default: native. */
  channels?: number;
  /** Ordinal of the audio stream (default 0). */
  stream?: number;
  /**
   * 'f32' (default): ffmpeg converts to float. 's16': ffmpeg converts to 16-bit PCM first and the
   * values are int16/32768 — bit-identical to writing a `pcm_s16le` wav with the same flags and loading
   * it with torchaudio (e.g. the fixture wav = mp4 with `{sampleRate: 16000, channels: 1, sampleFormat:
   * 's16'}`). For s16 sources both give exactly int16/32768.
   */
  sampleFormat?: 'f32' | 's16';
  /** Start offset in seconds (`-ss`) and maximal duration in seconds (`-t`). */
  startTime?: number;
  duration?: number;
  /**
   * Keep only the first this many samples per channel (a count, or a function of the output sample rate):
   * the file is decoded only that far (a WAV read in-process reads only those bytes; ffmpeg is stopped once
   * they have arrived), so memory and CPU stay bounded whatever the file's length.
   */
  maxSamples?: number | ((sampleRate: number) => number);
  /**
   * Read plain PCM/float WAV files in-process instead of spawning ffmpeg (default true). Used only when
   * no resampling, remixing, seeking or format conversion is asked for; values are identical either way.
   */
  inProcessWav?: boolean;
}

/** Decoded audio: `data` is planar float32 `[channels, samples]` (channel c at `c*samples`). */
export interface DecodedAudio {
  data: Float32Array;
  channels: number;
  samples: number;
  sampleRate: number;
}

/**
 * Decodes an audio stream (of any file ffmpeg reads: wav, mp4, mkv, webm, ...) to planar float32.
 * One ffmpeg process, WAV (self-describing) on a pipe. Throws ERR_NO_AUDIO when the file has no audio.
 */
export async function decodeAudio(file: string, opts: DecodeAudioOptions = {}): Promise<DecodedAudio> {
  await checkMediaFile(file);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fmt = opts.sampleFormat ?? 'f32';
  if (fmt !== 'f32' && fmt !== 's16') throw new DataError(`sampleFormat must be 'f32' or 's16', got ${String(fmt)}`, 'ERR_INVALID_ARG');
  const stream = streamOrdinal(opts.stream);
  const sampleRate = opts.sampleRate === undefined ? undefined : positiveInt(opts.sampleRate, 'sampleRate');
  const channels = opts.channels === undefined ? undefined : positiveInt(opts.channels, 'channels');
  if (opts.inProcessWav !== false && stream === 0 && opts.startTime === undefined && opts.duration === undefined) {
    const w = await readWavFile(file, opts.maxSamples === undefined ? {} : { maxSamples: opts.maxSamples });
    if (
      w &&
      w.samples > 0 &&
      (sampleRate === undefined || sampleRate === w.sampleRate) &&
      (channels === undefined || channels === w.channels) &&
      (fmt === 'f32' || (!w.isFloat && w.bitsPerSample <= 16))
    ) {
      return { data: w.data, channels: w.channels, samples: w.samples, sampleRate: w.sampleRate };
    }
  }
  if (decoderKind(opts.decoder) === 'libav' && opts.startTime === undefined && opts.duration === undefined) {
    return decodeAudioLibav(file, opts, { stream, fmt, timeoutMs, ...(sampleRate ? { sampleRate } : {}), ...(channels ? { channels } : {}) });
  }
  const input: string[] = [];
  if (opts.startTime !== undefined) input.push('-ss', seconds(opts.startTime, 'startTime'));
  const out = ['-map', `0:a:${stream}`, '-vn', '-sn', '-dn', '-map_metadata', '-1'];
  if (opts.duration !== undefined) out.push('-t', seconds(opts.duration, 'duration'));
  if (sampleRate !== undefined) out.push('-ar', String(sampleRate));
  // rematrix_maxval 1: the downmix matrix is normalised for float output too (ffmpeg only does that
  // for integer output by default), so 'f32' and 's16' give the same gain.
  if (channels !== undefined) out.push('-ac', String(channels), '-rematrix_maxval', '1.0');
  out.push('-c:a', fmt === 'f32' ? 'pcm_f32le' : 'pcm_s16le', '-f', 'wav');
  const chunks: Buffer[] = [];
  let have = 0;
  let need = Infinity; // bytes of header + the samples asked for, once the header has arrived
  const max = opts.maxSamples;
  await runPipe(
    file,
    input,
    out,
    'audio',
    timeoutMs,
    (c) => {
      chunks.push(c);
      have += c.length;
      if (max === undefined) return false;
      if (need === Infinity && have >= 4096) {
        const h = parseWavHeader(Buffer.concat(chunks), file);
        const n = typeof max === 'function' ? max(h.sampleRate) : max;
        need = h.dataOffset + Math.max(0, Math.floor(n)) * h.blockAlign;
      }
      return have >= need;
    },
    opts.signal,
  );
  let buf = Buffer.concat(chunks);
  const h = parseWavHeader(buf, file);
  if (max !== undefined) {
    const n = typeof max === 'function' ? max(h.sampleRate) : max;
    const end = h.dataOffset + Math.min(h.dataLength, Math.max(0, Math.floor(n)) * h.blockAlign);
    buf = buf.subarray(0, end);
    h.dataLength = end - h.dataOffset;
  }
  const { data, samples } = wavToPlanar(buf, h, file);
  if (samples === 0) throw new DataError('audio stream decoded to 0 samples', 'ERR_MEDIA', { file });
  return { data, channels: h.channels, samples, sampleRate: h.sampleRate };
}

/** Options of decodeVideoFrames. */
export interface DecodeVideoOptions extends ProcessOptions {
  /** 0-based decode-order frame indices to return, strictly increasing (counted from `startTime`). */
  indices: number[];
  /** Byte order of the packed pixels. Default 'bgr24' (what OpenCV and the reference use). */
  pixelFormat?: 'bgr24' | 'rgb24';
  /** Seek here (seconds) before counting frames; index 0 = the first frame at or after this time. */
  startTime?: number;
  /** Ordinal of the video stream (default 0; cover art is not counted). */
  stream?: number;
  /** A probe of this file (saves one ffprobe run; frame size comes from it). */
  info?: MediaInfo;
  /** Decoder threads (`-threads`); default: ffmpeg's automatic choice. Use 1 with many parallel decodes. */
  threads?: number;
  /**
   * YUV→RGB matrix. 'bt601' (default) is what OpenCV's FFmpeg backend uses whatever the file says,
   * and gives frames bit-identical to cv2.VideoCapture; 'auto' lets ffmpeg follow the stream's tags
   * (e.g. BT.709 for HD video: up to ~16 levels different from OpenCV).
   */
  colorMatrix?: 'bt601' | 'auto';
  /**
   * Scale in ffmpeg to [width, height] (bicubic) before the frames leave the decoder: each frame then
   * costs width*height*3 bytes here whatever the stream's size. Not bit-identical to decoding at full
   * size and resizing afterwards (swscale filters, the reference's torch resize does not).
   */
  scaleTo?: [number, number];
  /** Refuse streams whose frames have more pixels than this (ERR_MEDIA_TOO_LARGE). Default MAX_FRAME_PIXELS. */
  maxPixels?: number;
}

/**
 * Default frame-size limit: 7680x4320 (8K UHD). A larger stream (an 8192x8192 clip of 198 KB exists) is
 * refused before anything is decoded; ffmpeg's own decoder memory grows with the frame size.
 */
export const MAX_FRAME_PIXELS = 7680 * 4320;

/** Decoded frames. `frames[i]` is the frame with index `indices[i]`, packed H*W*3 uint8. */
export interface DecodedFrames {
  frames: Uint8Array[];
  /** The indices actually delivered (a prefix of the request). */
  indices: number[];
  width: number;
  height: number;
  /** Number of requested frames that were decoded (= frames.length). */
  decoded: number;
  /** True when the stream ended before every requested index was reached (lying frame counts). */
  endOfStream: boolean;
  /**
   * Pictures the in-process decoder decoded to deliver these frames (from the keyframe before the window,
   * H.264 non-reference pictures that are not kept left out); absent with decoder 'process'.
   */
  pictures?: number;
}

/** Throws ERR_MEDIA_TOO_LARGE when the stream's frames exceed `maxPixels` (default MAX_FRAME_PIXELS). */
export function checkFrameSize(vs: { width: number; height: number }, file: string, maxPixels: number = MAX_FRAME_PIXELS): void {
  if (typeof maxPixels !== 'number' || !(maxPixels > 0))
    throw new DataError(`maxPixels must be a positive number, got ${String(maxPixels)}`, 'ERR_INVALID_ARG', { file });
  if (vs.width * vs.height > maxPixels) {
    throw new DataError('frames too large', 'ERR_MEDIA_TOO_LARGE', {
      file,
      message: `${file}: frames too large: ${vs.width}x${vs.height} (${vs.width * vs.height} pixels), expected at most ${maxPixels} pixels (maxPixels)`,
    });
  }
}

/** A filter-graph `select` expression for a sorted index list; runs of consecutive indices share a between(). */
export function selectExpression(indices: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length;) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j]! + 1) j++;
    parts.push(i === j ? `eq(n,${indices[i]})` : `between(n,${indices[i]},${indices[j]})`);
    i = j + 1;
  }
  return parts.join('+');
}

/**
 * Decodes the requested frames of a video stream as raw packed pixels, in one ffmpeg run:
 * `-fps_mode passthrough` (every decoded frame counts once, as in OpenCV's decode counter),
 * a `select` filter (only requested frames are colour-converted) and `-frames:v K`, so ffmpeg stops at the
 * last requested frame; the pipe reader also kills it as soon as the last frame has arrived.
 * When the stream ends early, the frames that exist are returned with `endOfStream: true`.
 * Throws ERR_NO_VIDEO (no video stream), ERR_MEDIA (corrupt, timeout), ERR_INVALID_ARG (bad indices).
 */
export async function decodeVideoFrames(file: string, opts: DecodeVideoOptions): Promise<DecodedFrames> {
  const indices = opts.indices;
  if (!Array.isArray(indices) || indices.length === 0) throw new DataError('indices must be a non-empty array', 'ERR_INVALID_ARG', { file });
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i]!;
    if (!Number.isInteger(v) || v < 0 || (i > 0 && v <= indices[i - 1]!)) {
      throw new DataError(`indices must be strictly increasing non-negative integers (got ${v} at position ${i})`, 'ERR_INVALID_ARG', { file });
    }
  }
  const pixelFormat = opts.pixelFormat ?? 'bgr24';
  if (pixelFormat !== 'bgr24' && pixelFormat !== 'rgb24')
    throw new DataError(`pixelFormat must be bgr24 or rgb24, got ${String(pixelFormat)}`, 'ERR_INVALID_ARG', { file });
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (opts.info) await checkMediaFile(file); // otherwise probe() checks it
  const info =
    opts.info ?? (await probe(file, { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.decoder ? { decoder: opts.decoder } : {}) }));
  const vs = info.videoStreams[streamOrdinal(opts.stream)];
  if (!vs) throw new DataError(noStream(info, 'video', opts.stream ?? 0), 'ERR_NO_VIDEO', { file });
  if (!(vs.width > 0 && vs.height > 0)) throw new DataError(`video stream has no frame size (${vs.width}x${vs.height})`, 'ERR_MEDIA', { file });
  checkFrameSize(vs, file, opts.maxPixels);
  const scale = opts.scaleTo;
  if (scale !== undefined && !(Array.isArray(scale) && scale.length === 2 && scale.every((v) => Number.isInteger(v) && v > 0 && v <= 16384))) {
    throw new DataError(`scaleTo must be [width, height] of positive integers, got ${JSON.stringify(scale)}`, 'ERR_INVALID_ARG', { file });
  }
  const [width, height] = scale ?? [vs.width, vs.height];
  const frameBytes = width * height * 3;
  const input: string[] = [];
  if (opts.threads !== undefined) input.push('-threads', String(positiveInt(opts.threads, 'threads')));
  if (opts.startTime !== undefined && opts.startTime > 0) input.push('-ss', seconds(opts.startTime, 'startTime'));
  const filters = [`select='${selectExpression(indices)}'`];
  const size = scale ? `w=${width}:h=${height}:` : '';
  if ((opts.colorMatrix ?? 'bt601') === 'bt601') filters.push(`scale=${size}in_color_matrix=bt601:flags=bicubic`);
  else if (opts.colorMatrix !== 'auto') throw new DataError(`colorMatrix must be 'bt601' or 'auto'`, 'ERR_INVALID_ARG', { file });
  else if (scale) filters.push(`scale=${size}flags=bicubic`);
  if (decoderKind(opts.decoder) === 'libav') {
    return decodeVideoLibav(
      file,
      opts,
      {
        streamIndex: vs.index,
        indices,
        ...(input.includes('-ss') ? { startTime: input[input.indexOf('-ss') + 1]! } : {}),
        filters: filters.slice(1).join(','),
        pixelFormat,
        timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      width,
      height,
    );
  }
  const out = [
    '-map',
    `0:${vs.index}`,
    '-an',
    '-sn',
    '-dn',
    ffmpegFeatures().fpsModeFlag,
    'passthrough',
    '-vf',
    filters.join(','),
    '-frames:v',
    String(indices.length),
    '-pix_fmt',
    pixelFormat,
    '-f',
    'rawvideo',
  ];
  const frames: Uint8Array[] = [];
  let cur = new Uint8Array(frameBytes);
  let fill = 0;
  await runPipe(
    file,
    input,
    out,
    'video',
    timeoutMs,
    (chunk) => {
      let off = 0;
      while (off < chunk.length && frames.length < indices.length) {
        const n = Math.min(frameBytes - fill, chunk.length - off);
        cur.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === frameBytes) {
          frames.push(cur);
          fill = 0;
          if (frames.length < indices.length) cur = new Uint8Array(frameBytes);
        }
      }
      return frames.length === indices.length;
    },
    opts.signal,
  );
  if (fill !== 0) {
    throw new DataError(`frame size mismatch: got ${fill} stray bytes, expected ${width}x${height}x3 frames`, 'ERR_MEDIA', { file });
  }
  return {
    frames,
    indices: indices.slice(0, frames.length),
    width,
    height,
    decoded: frames.length,
    endOfStream: frames.length < indices.length,
  };
}

/**
 * Rates a `maxSamples` function is evaluated at to bound the in-process decode before the output rate is
 * known (the result is then trimmed exactly at the real rate; a function roughly proportional to the rate,
 * like the recipe window, is covered by the 1 % + 0.1 s margin).
 */
const BOUND_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000];

async function decodeAudioLibav(
  file: string,
  opts: DecodeAudioOptions,
  v: { stream: number; fmt: 'f32' | 's16'; timeoutMs: number; sampleRate?: number; channels?: number },
): Promise<DecodedAudio> {
  const max = opts.maxSamples;
  const bound: { maxSamples?: number; maxSeconds?: number } = {};
  if (typeof max === 'number') bound.maxSamples = Math.max(0, Math.floor(max));
  else if (max !== undefined && v.sampleRate !== undefined) bound.maxSamples = Math.max(0, Math.floor(max(v.sampleRate)));
  else if (max !== undefined) bound.maxSeconds = Math.max(...BOUND_RATES.map((r) => max(r) / r)) * 1.01 + 0.1;
  const a = await libavDecodeAudio(file, {
    ordinal: v.stream,
    s16: v.fmt === 's16',
    timeoutMs: v.timeoutMs,
    ...(v.sampleRate !== undefined ? { sampleRate: v.sampleRate } : {}),
    ...(v.channels !== undefined ? { channels: v.channels } : {}),
    ...bound,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let { data, samples } = a;
  if (typeof max === 'function') {
    const keep = Math.min(samples, Math.max(0, Math.floor(max(a.sampleRate))));
    if (keep < samples) {
      const out = new Float32Array(a.channels * keep);
      for (let c = 0; c < a.channels; c++) out.set(data.subarray(c * samples, c * samples + keep), c * keep);
      data = out;
      samples = keep;
    }
  }
  if (samples === 0) throw new DataError('audio stream decoded to 0 samples', 'ERR_MEDIA', { file });
  return { data, channels: a.channels, samples, sampleRate: a.sampleRate };
}

async function decodeVideoLibav(
  file: string,
  opts: DecodeVideoOptions,
  req: Parameters<typeof libavDecodeVideo>[1],
  width: number,
  height: number,
): Promise<DecodedFrames> {
  const r = await libavDecodeVideo(file, req);
  if (r.frames.length > 0 && (r.width !== width || r.height !== height)) {
    throw new DataError(`frame size mismatch: decoded ${r.width}x${r.height}, expected ${width}x${height}`, 'ERR_MEDIA', { file });
  }
  const indices = opts.indices;
  return {
    frames: r.frames,
    indices: indices.slice(0, r.frames.length),
    width,
    height,
    decoded: r.frames.length,
    endOfStream: r.frames.length < indices.length,
    pictures: r.pictures,
  };
}

function streamOrdinal(s: number | undefined): number {
  if (s === undefined) return 0;
  if (!Number.isInteger(s) || s < 0) throw new DataError(`stream must be a non-negative integer, got ${s}`, 'ERR_INVALID_ARG');
  return s;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new DataError(`${name} must be a positive integer, got ${v}`, 'ERR_INVALID_ARG');
  return v;
}

function seconds(v: number, name: string): string {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new DataError(`${name} must be a non-negative number of seconds, got ${v}`, 'ERR_INVALID_ARG');
  return v.toFixed(6);
}
