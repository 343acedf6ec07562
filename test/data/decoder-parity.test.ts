/**
 * The in-process decoder (native/media) against the ffmpeg processes (the system ffmpeg, same FFmpeg
 * libraries): probe facts, audio samples and selected frames must be bit-identical, on the fixture clips
 * and on generated ones covering what the data path meets (B-frames, full-range yuvj420p, > 1080p frames
 * scaled in the decoder, a rotated clip, AAC / MP3 / PCM audio, resampling and downmix, seeking).
 */
import t from 'tap';
import * as path from 'path';
import {
  decodeAudio,
  decodeVideoFrames,
  probe,
  useFfmpeg,
  countDecodableFrames,
  ffmpegConfig,
  settleChildren,
  type DecodeVideoOptions,
} from '../../lib/data/ffmpeg';
import { decoderChoice, libavAvailable, useDecoder } from '../../lib/data/decoder';
import { DataLoader } from '../../lib/data/loader';
import type { DataSource } from '../../lib/data/source-types';
import { CLIP, LYING, WAV, ffmpegSync, tmpDir, NO_FFMPEG, NO_LIBAV, md5 } from './helpers';

const skip = NO_LIBAV;

async function compare(t: tap.Test, file: string, frameSets: Array<{ indices: number[]; startTime?: number; scaleTo?: [number, number] }>) {
  const name = path.basename(file);
  const [pi, li] = [await probe(file, { decoder: 'process' }), await probe(file, { decoder: 'libav' })];
  t.same({ ...li, bitRate: null }, { ...pi, bitRate: null }, `${name}: probe facts`);
  if (pi.audio) {
    for (const o of [
      {},
      { sampleRate: 16000, channels: 1, sampleFormat: 's16' as const },
      { sampleRate: 22050 },
      { maxSamples: (sr: number) => Math.floor(sr * 1.5) + 7 },
    ]) {
      const [p, l] = [
        await decodeAudio(file, { ...o, decoder: 'process', inProcessWav: false }),
        await decodeAudio(file, { ...o, decoder: 'libav', inProcessWav: false }),
      ];
      t.same([l.channels, l.samples, l.sampleRate, md5(l.data)], [p.channels, p.samples, p.sampleRate, md5(p.data)], `${name}: audio ${JSON.stringify(o)}`);
    }
  }
  if (pi.video) {
    for (const fs of frameSets) {
      const o: DecodeVideoOptions = { ...fs, info: pi };
      const [p, l] = [await decodeVideoFrames(file, { ...o, decoder: 'process' }), await decodeVideoFrames(file, { ...o, decoder: 'libav' })];
      t.same(
        [l.width, l.height, l.decoded, l.endOfStream, l.frames.map(md5)],
        [p.width, p.height, p.decoded, p.endOfStream, p.frames.map(md5)],
        `${name}: frames ${JSON.stringify(fs)}`,
      );
    }
    t.equal(
      await countDecodableFrames(file, { info: pi, decoder: 'libav' }),
      await countDecodableFrames(file, { info: pi, decoder: 'process' }),
      `${name}: frame count`,
    );
  }
}

t.test('fixture clips: identical probe, audio and frames', { skip }, async (t) => {
  useFfmpeg('system');
  t.teardown(() => useFfmpeg(null));
  await compare(t, CLIP, [{ indices: [0, 7, 53, 100] }, { indices: [0, 1, 9], startTime: 2.02 }, { indices: [3], startTime: 1.0, scaleTo: [224, 224] }]);
  await compare(t, LYING, [{ indices: [0, 50, 298, 350] }, { indices: [0, 4, 40], startTime: 1.2 }, { indices: [1, 2], scaleTo: [224, 224] }]);
  await compare(t, WAV, []);
});

t.test('generated clips: identical probe, audio and frames', { skip }, async (t) => {
  useFfmpeg('system');
  t.teardown(() => useFfmpeg(null));
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const clip = (name: string, v: string, a: string[], enc: string[]) => {
    const f = path.join(dir, name);
    ffmpegSync(['-f', 'lavfi', '-i', v, ...a, ...enc, '-shortest', f]);
    return f;
  };
  const sine = (r: number, ch: number) => ['-f', 'lavfi', '-i', `sine=f=440:r=${r}:d=3`, '-ac', String(ch)];
  // small VoxCeleb2-like: 256x144 25 fps with B-frames, AAC 16 kHz mono
  const small = clip('small.mp4', 'testsrc2=s=256x144:r=25:d=3', sine(16000, 1), ['-c:v', 'libx264', '-bf', '2', '-g', '25', '-c:a', 'aac']);
  await compare(t, small, [{ indices: [0, 10, 40, 74] }, { indices: [0, 3, 20], startTime: 1.2 }]);
  // 720p 30 fps, full range (yuvj420p), AAC 48 kHz stereo
  const hd = clip('hd.mp4', 'testsrc2=s=1280x720:r=30:d=2,format=yuvj420p', sine(48000, 2), ['-c:v', 'libx264', '-g', '30', '-c:a', 'aac']);
  await compare(t, hd, [{ indices: [1, 29, 59] }, { indices: [0, 5], startTime: 1.1 }, { indices: [2, 3], scaleTo: [224, 224] }]);
  // > 1080p, scaled in the decoder as the recipe does; MP3 audio in MKV
  const big = clip('big.mkv', 'testsrc2=s=2048x1152:r=24:d=1', sine(44100, 2), ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'libmp3lame']);
  await compare(t, big, [{ indices: [0, 12, 23], scaleTo: [224, 224] }]);
  // rotated 90 degrees (display matrix): ffmpeg's autorotation, PCM audio in MOV
  const rot = path.join(dir, 'rot.mov');
  const plain = clip('plain.mov', 'testsrc2=s=320x240:r=25:d=2', sine(22050, 2), ['-c:v', 'libx264', '-c:a', 'pcm_s16le']);
  ffmpegSync(['-i', plain, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rot]);
  t.equal((await probe(rot, { decoder: 'libav' })).video!.rotation, 90, 'the clip is rotated (autorotation is exercised)');
  await compare(t, rot, [{ indices: [0, 7, 30] }, { indices: [0, 2], startTime: 1.1 }]);
});

t.test('the decoder is selectable and reported; an aborted in-process decode rejects at once', { skip: NO_FFMPEG }, async (t) => {
  const saved = process.env.SOCIAL_MAE_DECODER;
  t.teardown(() => {
    if (saved === undefined) delete process.env.SOCIAL_MAE_DECODER;
    else process.env.SOCIAL_MAE_DECODER = saved;
    useDecoder(null);
  });
  delete process.env.SOCIAL_MAE_DECODER;
  t.same(decoderChoice(), { kind: libavAvailable() ? 'libav' : 'process', selectedBy: 'default' });
  process.env.SOCIAL_MAE_DECODER = 'process';
  t.same(decoderChoice(), { kind: 'process', selectedBy: 'SOCIAL_MAE_DECODER' });
  t.match(ffmpegConfig(), /^decoder: process \(selected by SOCIAL_MAE_DECODER/);
  process.env.SOCIAL_MAE_DECODER = 'gpu';
  t.throws(() => decoderChoice(), { code: 'ERR_INVALID_ARG', message: /SOCIAL_MAE_DECODER must be 'libav' or 'process', got "gpu"/ });
  delete process.env.SOCIAL_MAE_DECODER;
  t.throws(() => useDecoder('ffmpeg' as never), { code: 'ERR_INVALID_ARG' });
  const src = { items: [{ id: 'a', video: CLIP, origin: 'test' }] } as unknown as DataSource;
  t.throws(
    () => new DataLoader(src, { batchSize: 1, decoder: 'gpu' as never }),
    { code: 'ERR_INVALID_ARG', message: /decoder must be/ },
    'the loader checks its decoder option up front',
  );
  if (!libavAvailable()) {
    t.throws(() => useDecoder('libav'), { code: 'ERR_FFMPEG_MISSING', message: /built without FFmpeg's libraries/ });
    return;
  }
  useDecoder('process');
  t.same(decoderChoice(), { kind: 'process', selectedBy: 'useDecoder()' });
  useDecoder(null);
  t.match(ffmpegConfig(), /^decoder: libav \(selected by default.*\n {2}in-process: libavformat \d+\.\d+\.\d+/);
  const ac = new AbortController();
  const p = decodeVideoFrames(LYING, { indices: [0, 399], decoder: 'libav', signal: ac.signal });
  setImmediate(() => ac.abort());
  await t.rejects(p, { name: 'AbortError', code: 'ABORT_ERR' });
  await settleChildren(); // the native decode itself ends on its own
  await t.rejects(decodeAudio(path.join(path.dirname(CLIP), 'nope.mp4'), { decoder: 'libav' }), { code: 'ERR_FILE_NOT_FOUND' });
});
