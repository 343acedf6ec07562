/**
 * Which decoder lib/data runs:
 * - 'libav': in-process libavformat/libavcodec/libavfilter inside the addon (native/media), on libuv's
 *   worker threads; no process start per clip. The default when the addon was built with FFmpeg's
 *   libraries (pkg-config found them: CMakeLists.txt, binding.gyp).
 * - 'process': ffmpeg/ffprobe child processes, started by a spawn helper process (ffmpeg.ts,
 *   spawn-helper.ts); the default otherwise.
 * SOCIAL_MAE_DECODER=process|libav, useDecoder() (this thread) or the loader's `decoder` option choose.
 * Both give bit-identical frames and audio with the same FFmpeg version (test/data/decoder-parity.test.ts).
 */
import { native } from '../native/binding';
import { DataError } from './errors';

export type DecoderKind = 'libav' | 'process';
export const DECODER_KINDS: readonly DecoderKind[] = ['libav', 'process'];

let chosen: DecoderKind | null = null;

/** True when the addon was built with the in-process decoder. */
export function libavAvailable(): boolean {
  return typeof native.mediaDecodeVideo === 'function';
}

function check(kind: unknown, by: string): DecoderKind {
  if (kind !== 'libav' && kind !== 'process') {
    throw new DataError('invalid decoder', 'ERR_INVALID_ARG', { message: `${by} must be 'libav' or 'process', got ${JSON.stringify(kind)}` });
  }
  if (kind === 'libav' && !libavAvailable()) {
    throw new DataError('no in-process decoder', 'ERR_FFMPEG_MISSING', {
      message:
        `${by} asks for the in-process decoder, but the addon was built without FFmpeg's libraries ` +
        '(Debian 12: apt-get install libavformat-dev libavcodec-dev libavfilter-dev pkg-config, then npm run build:native); ' +
        "'process' uses the ffmpeg executables instead",
    });
  }
  return kind;
}

/** Chooses the decoder for this thread (null: back to SOCIAL_MAE_DECODER / the default). */
export function useDecoder(kind: DecoderKind | null): void {
  chosen = kind === null ? null : check(kind, 'useDecoder()');
}

/** The decoder in effect and what chose it. */
export function decoderChoice(): { kind: DecoderKind; selectedBy: string } {
  if (chosen) return { kind: chosen, selectedBy: 'useDecoder()' };
  const env = process.env.SOCIAL_MAE_DECODER;
  if (env !== undefined && env !== '') return { kind: check(env, 'SOCIAL_MAE_DECODER'), selectedBy: 'SOCIAL_MAE_DECODER' };
  return { kind: libavAvailable() ? 'libav' : 'process', selectedBy: 'default' };
}

/** The decoder in effect, or `override` (a call's own `decoder` option) when given. */
export function decoderKind(override?: DecoderKind): DecoderKind {
  return override === undefined ? decoderChoice().kind : check(override, 'decoder');
}

/** One line for ffmpegConfig(): the decoder and its libraries. */
export function decoderLine(): string {
  const { kind, selectedBy } = decoderChoice();
  const libs = libavAvailable() ? native.mediaVersions!() : 'not built in (FFmpeg development libraries were missing at build time)';
  return `decoder: ${kind} (selected by ${selectedBy}; SOCIAL_MAE_DECODER=libav|process or data.useDecoder() choose)\n  in-process: ${libs}`;
}
