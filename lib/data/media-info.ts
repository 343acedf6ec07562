/**
 * Media facts as the pipeline needs them, parsed from `ffprobe -print_format json -show_format
 * -show_streams` output. Pure functions: no processes here (lib/data/ffmpeg.ts runs ffprobe).
 *
 * Frame rate and frame count follow OpenCV's FFmpeg backend (`CAP_PROP_FPS`, `CAP_PROP_FRAME_COUNT`),
 * because the reference recipe samples frames from those two numbers:
 *   fps            = avg_frame_rate, falling back to r_frame_rate when it is 0/0.
 *   reportedFrames = the container's nb_frames; when absent or 0,
 *                    floor(duration * fps + 0.5) with the container duration (stream duration fallback).
 * `reportedFrames` is metadata and can lie (the fixture KlsG1EnBEjc_000361.mp4 reports 400 frames and
 * decodes 299); `countDecodableFrames` in ffmpeg.ts gives the real number.
 */

/** One video stream (cover-art "attached pictures" are not video streams). */
export interface VideoStreamInfo {
  /** Absolute stream index in the file (what `-map 0:<index>` selects). */
  index: number;
  /** Ordinal among the file's video streams (what `stream` options select). */
  ordinal: number;
  codec: string;
  /** Width and height of decoded frames after ffmpeg's auto-rotation (what the decoders deliver). */
  width: number;
  height: number;
  /** Coded width/height before rotation. */
  codedWidth: number;
  codedHeight: number;
  /** Rotation from the display matrix / rotate tag, degrees in {0, 90, 180, 270}. */
  rotation: number;
  pixelFormat: string | null;
  /** Frames per second as OpenCV reports it (avg_frame_rate, fallback r_frame_rate); null if unknown. */
  fps: number | null;
  /** r_frame_rate and avg_frame_rate as fractions ("30000/1001"). */
  rFrameRate: string | null;
  avgFrameRate: string | null;
  /** Stream duration in seconds (null if unknown). */
  duration: number | null;
  /** Start time of the stream in seconds (0 if unknown). */
  startTime: number;
  /** Frame count as OpenCV's CAP_PROP_FRAME_COUNT reports it (metadata; may over- or under-report). */
  reportedFrames: number | null;
  /** nb_frames exactly as the container stores it (null when absent). */
  containerFrames: number | null;
  /** Real number of decodable frames, only when the probe was asked to count (`countFrames`). */
  decodableFrames?: number;
}

/** One audio stream. */
export interface AudioStreamInfo {
  index: number;
  ordinal: number;
  codec: string;
  sampleRate: number;
  channels: number;
  channelLayout: string | null;
  sampleFormat: string | null;
  /** Stream duration in seconds (null if unknown). */
  duration: number | null;
  startTime: number;
  /** Sample count stored by the container (duration_ts for PCM), null when unknown. */
  reportedSamples: number | null;
}

/** Any stream, as a short summary. */
export interface StreamSummary {
  index: number;
  type: string;
  codec: string;
}

/** What `probe(path)` returns. */
export interface MediaInfo {
  path: string;
  /** Container format name(s), e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  format: string;
  /** Container duration in seconds (null if unknown). */
  duration: number | null;
  bitRate: number | null;
  size: number | null;
  streams: StreamSummary[];
  videoStreams: VideoStreamInfo[];
  audioStreams: AudioStreamInfo[];
  /** First video stream (or null). */
  video: VideoStreamInfo | null;
  /** First audio stream (or null). */
  audio: AudioStreamInfo | null;
}

/** Parses "30000/1001" (or "12.5") to a number; null for "0/0", missing or invalid values. */
export function parseRate(r: unknown): number | null {
  if (typeof r === 'number') return Number.isFinite(r) && r > 0 ? r : null;
  if (typeof r !== 'string' || r.length === 0) return null;
  const m = /^\s*(-?[\d.]+)\s*(?:\/\s*(-?[\d.]+))?\s*$/.exec(r);
  if (!m) return null;
  const num = Number(m[1]);
  const den = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isFinite(num) || !Number.isFinite(den) || den === 0) return null;
  const v = num / den;
  return v > 0 ? v : null;
}

function num(v: unknown): number | null {
  if (v === undefined || v === null || v === '' || v === 'N/A') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 && v !== 'unknown' ? v : null;
}

/** Rotation in degrees (0/90/180/270, clockwise as ffmpeg's autorotate applies it) from an ffprobe stream. */
export function streamRotation(s: Record<string, any>): number {
  let deg: number | null = null;
  const sd = Array.isArray(s.side_data_list) ? s.side_data_list : [];
  for (const d of sd) {
    if (d && d.rotation !== undefined && num(d.rotation) !== null) deg = num(d.rotation);
  }
  if (deg === null && s.tags && s.tags.rotate !== undefined) {
    // The legacy tag is counter-clockwise-positive the other way round; only its magnitude mod 180 matters here.
    const t = num(s.tags.rotate);
    if (t !== null) deg = -t;
  }
  if (deg === null) return 0;
  const r = (((Math.round(deg / 90) * 90) % 360) + 360) % 360;
  return r;
}

/**
 * Converts ffprobe's JSON (`-show_format -show_streams`) into MediaInfo.
 * @param json parsed ffprobe output
 * @param path the probed file (kept in the result for error messages)
 */
export function parseProbe(json: any, path: string): MediaInfo {
  const fmt = (json && json.format) || {};
  const containerDuration = num(fmt.duration);
  const rawStreams: any[] = Array.isArray(json?.streams) ? json.streams : [];
  const streams: StreamSummary[] = [];
  const videoStreams: VideoStreamInfo[] = [];
  const audioStreams: AudioStreamInfo[] = [];
  for (const s of rawStreams) {
    const type = String(s.codec_type ?? 'unknown');
    const codec = String(s.codec_name ?? 'none');
    const index = num(s.index) ?? streams.length;
    streams.push({ index, type, codec });
    if (type === 'video') {
      if (s.disposition && Number(s.disposition.attached_pic) === 1) continue; // cover art
      const w = num(s.width) ?? 0;
      const h = num(s.height) ?? 0;
      const rotation = streamRotation(s);
      const swap = rotation === 90 || rotation === 270;
      const fps = parseRate(s.avg_frame_rate) ?? parseRate(s.r_frame_rate);
      const duration = num(s.duration);
      const nb = num(s.nb_frames);
      const containerFrames = nb !== null && nb > 0 ? nb : null;
      let reportedFrames: number | null = containerFrames;
      if (reportedFrames === null) {
        const d = containerDuration !== null && containerDuration > 0 ? containerDuration : duration;
        reportedFrames = d !== null && fps !== null ? Math.floor(d * fps + 0.5) : null;
      }
      videoStreams.push({
        index,
        ordinal: videoStreams.length,
        codec,
        width: swap ? h : w,
        height: swap ? w : h,
        codedWidth: w,
        codedHeight: h,
        rotation,
        pixelFormat: str(s.pix_fmt),
        fps,
        rFrameRate: str(s.r_frame_rate),
        avgFrameRate: str(s.avg_frame_rate),
        duration,
        startTime: num(s.start_time) ?? 0,
        reportedFrames,
        containerFrames,
      });
    } else if (type === 'audio') {
      const sr = num(s.sample_rate) ?? 0;
      const durTs = num(s.duration_ts);
      const tb = parseRate(s.time_base);
      // duration_ts counts samples when the time base is 1/sample_rate (PCM in wav, most mp4 audio).
      const reportedSamples = durTs !== null && tb !== null && sr > 0 && Math.abs(tb * sr - 1) < 1e-9 ? durTs : null;
      audioStreams.push({
        index,
        ordinal: audioStreams.length,
        codec,
        sampleRate: sr,
        channels: num(s.channels) ?? 0,
        channelLayout: str(s.channel_layout),
        sampleFormat: str(s.sample_fmt),
        duration: num(s.duration),
        startTime: num(s.start_time) ?? 0,
        reportedSamples,
      });
    }
  }
  return {
    path,
    format: String(fmt.format_name ?? 'unknown'),
    duration: containerDuration,
    bitRate: num(fmt.bit_rate),
    size: num(fmt.size),
    streams,
    videoStreams,
    audioStreams,
    video: videoStreams[0] ?? null,
    audio: audioStreams[0] ?? null,
  };
}
