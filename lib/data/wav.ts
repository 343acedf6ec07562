/**
 * Minimal RIFF/WAVE parsing for what ffmpeg writes to a pipe (`-f wav`, PCM s16le or f32le), so one
 * ffmpeg process gives both the samples and their layout (rate, channels) without a separate probe.
 *
 * Piped WAV has unknown sizes (0xFFFFFFFF); the data chunk then runs to the end of the buffer.
 */
import * as fs from 'fs';
import { DataError } from './errors';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Layout read from a WAV header. */
export interface WavHeader {
  /** 1 = integer PCM, 3 = IEEE float (WAVE_FORMAT_EXTENSIBLE is resolved to its sub-format). */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Bytes per sample frame (all channels). */
  blockAlign: number;
  /** Byte offset of the first sample. */
  dataOffset: number;
  /** Byte length of the sample data (whole frames only). */
  dataLength: number;
}

/** Parses the header of a WAV byte buffer. Throws ERR_MEDIA when it is not a PCM/float WAV. */
export function parseWavHeader(buf: Uint8Array, file?: string): WavHeader {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (o: number) => String.fromCharCode(buf[o]!, buf[o + 1]!, buf[o + 2]!, buf[o + 3]!);
  const bad = (why: string) => new DataError(`bad WAV stream from ffmpeg: ${why}`, 'ERR_MEDIA', file === undefined ? {} : { file });
  if (buf.byteLength < 12 || (tag(0) !== 'RIFF' && tag(0) !== 'RF64') || tag(8) !== 'WAVE') throw bad('no RIFF/WAVE header');
  let off = 12;
  let fmt: Omit<WavHeader, 'dataOffset' | 'dataLength'> | null = null;
  while (off + 8 <= buf.byteLength) {
    const id = tag(off);
    const size = dv.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (body + 16 > buf.byteLength) throw bad('truncated fmt chunk');
      let format = dv.getUint16(body, true);
      const channels = dv.getUint16(body + 2, true);
      const sampleRate = dv.getUint32(body + 4, true);
      const blockAlign = dv.getUint16(body + 12, true);
      const bitsPerSample = dv.getUint16(body + 14, true);
      if (format === 0xfffe && size >= 40 && body + 26 <= buf.byteLength) format = dv.getUint16(body + 24, true);
      fmt = { format, channels, sampleRate, bitsPerSample, blockAlign };
    } else if (id === 'data') {
      if (!fmt) throw bad('data chunk before fmt chunk');
      if (fmt.channels < 1 || fmt.blockAlign < 1) throw bad(`invalid layout (${fmt.channels} channels)`);
      const avail = buf.byteLength - body;
      const declared = size === 0xffffffff || size === 0 ? avail : Math.min(size, avail);
      const dataLength = declared - (declared % fmt.blockAlign);
      return { ...fmt, dataOffset: body, dataLength };
    }
    if (size === 0xffffffff) break;
    off = body + size + (size & 1);
  }
  throw bad('no data chunk');
}

/**
 * Converts interleaved little-endian samples to planar float32 `[C, N]` (channel c at `c*N .. c*N+N`),
 * scaled exactly as torchaudio.load (normalize=True) does: u8 -> (x-128)/128, s16 -> x/2^15,
 * s24 -> x/2^23, s32 -> x/2^31, f32 copied, f64 rounded to float32.
 */
export function wavToPlanar(buf: Uint8Array, h: WavHeader, file?: string): { data: Float32Array; samples: number } {
  const C = h.channels;
  const bits = h.bitsPerSample;
  const bytesPer = bits / 8;
  const kind = h.format === 3 && (bits === 32 || bits === 64) ? 'float' : h.format === 1 && [8, 16, 24, 32].includes(bits) ? 'int' : null;
  if (!kind || h.blockAlign !== C * bytesPer) {
    throw new DataError(`unsupported WAV sample format (format tag ${h.format}, ${bits} bits)`, 'ERR_MEDIA', file === undefined ? {} : { file });
  }
  const N = Math.floor(h.dataLength / h.blockAlign);
  const out = new Float32Array(C * N);
  const dv = new DataView(buf.buffer, buf.byteOffset + h.dataOffset, N * h.blockAlign);
  if (kind === 'float' && bits === 32 && C === 1 && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(buf.subarray(h.dataOffset, h.dataOffset + N * 4));
    return { data: out, samples: N };
  }
  const read: (p: number) => number =
    kind === 'float'
      ? bits === 32
        ? (p) => dv.getFloat32(p, true)
        : (p) => dv.getFloat64(p, true)
      : bits === 8
        ? (p) => (dv.getUint8(p) - 128) / 128
        : bits === 16
          ? (p) => dv.getInt16(p, true) / 32768
          : bits === 24
            ? (p) => (dv.getUint8(p) | (dv.getUint8(p + 1) << 8) | (dv.getInt8(p + 2) << 16)) / 8388608
            : (p) => dv.getInt32(p, true) / 2147483648;
  for (let i = 0, p = 0; i < N; i++) {
    for (let c = 0; c < C; c++, p += bytesPer) out[c * N + i] = read(p);
  }
  return { data: out, samples: N };
}

/** Samples of a WAV file read in-process (no ffmpeg): planar float32 `[channels, samples]`. */
export interface WavData {
  data: Float32Array;
  channels: number;
  samples: number;
  sampleRate: number;
  /** Stored sample type: bits per sample and whether it is IEEE float. */
  bitsPerSample: number;
  isFloat: boolean;
}

/**
 * Reads a PCM/float WAV file without ffmpeg, with torchaudio.load's values. Returns null when the file is
 * not a WAV this reader handles (compressed WAV codecs, RIFF oddities): the caller then uses ffmpeg.
 */
export function decodeWavBuffer(buf: Uint8Array, file?: string): WavData | null {
  let h: WavHeader;
  try {
    h = parseWavHeader(buf, file);
  } catch {
    return null;
  }
  const bits = h.bitsPerSample;
  const ok = (h.format === 3 && (bits === 32 || bits === 64)) || (h.format === 1 && [8, 16, 24, 32].includes(bits));
  if (!ok || h.blockAlign !== h.channels * (bits / 8) || h.sampleRate <= 0) return null;
  const { data, samples } = wavToPlanar(buf, h, file);
  return { data, channels: h.channels, samples, sampleRate: h.sampleRate, bitsPerSample: bits, isFloat: h.format === 3 };
}

/**
 * Reads `file` in-process when it is a RIFF/WAVE file with PCM/float samples; null otherwise (other
 * containers, compressed WAV codecs) — only the first 12 bytes are read in that case.
 * `maxSamples` (a count, or a function of the sample rate) reads only the header and the first that many
 * samples per channel: memory stays bounded whatever the file's length.
 */
export async function readWavFile(file: string, opts: { maxSamples?: number | ((sampleRate: number) => number) } = {}): Promise<WavData | null> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(12);
    const { bytesRead } = await fh.read(head, 0, 12, 0);
    const magic = head.toString('latin1', 0, 4);
    if (bytesRead < 12 || (magic !== 'RIFF' && magic !== 'RF64') || head.toString('latin1', 8, 12) !== 'WAVE') return null;
    if (opts.maxSamples === undefined) return decodeWavBuffer(await fh.readFile(), file);
    // Header chunks (fmt, LIST, ...) come first; 64 KiB holds them in any WAV this reader accepts.
    const size = (await fh.stat()).size;
    const first = Buffer.alloc(Math.min(size, 65536));
    await fh.read(first, 0, first.length, 0);
    let h: WavHeader;
    try {
      h = parseWavHeader(first, file);
    } catch {
      return null;
    }
    const max = typeof opts.maxSamples === 'function' ? opts.maxSamples(h.sampleRate) : opts.maxSamples;
    const declared = new DataView(first.buffer, first.byteOffset).getUint32(h.dataOffset - 4, true);
    const onDisk = size - h.dataOffset;
    const total = declared === 0xffffffff || declared === 0 ? onDisk : Math.min(declared, onDisk);
    const want = Math.min(total - (total % Math.max(1, h.blockAlign)), Math.max(0, Math.floor(max)) * h.blockAlign);
    const buf = Buffer.alloc(h.dataOffset + want);
    first.copy(buf, 0, 0, Math.min(first.length, buf.length));
    if (buf.length > first.length) await fh.read(buf, first.length, buf.length - first.length, first.length);
    return decodeWavBuffer(buf, file);
  } finally {
    await fh.close();
  }
}
