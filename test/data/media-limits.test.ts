/**
 * Bounded memory on long or huge media, and no silent NaN (issue 15's media cases):
 *  - a 15-minute audio file is decoded only for the recipe's window (peak memory bounded, measured in a
 *    child process), for the in-process WAV reader and for the ffmpeg path;
 *  - frames larger than EXACT_MAX_PIXELS are scaled inside ffmpeg, absurd sizes (8192x8192) are refused
 *    with ERR_MEDIA_TOO_LARGE before anything is decoded;
 *  - NaN/Inf samples give ERR_MEDIA (and a skipped item in the loader's skip mode), never a NaN batch.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { decodeAudio, decodeVideoFrames, probe, useFfmpeg } from '../../lib/data/ffmpeg';
import { recipeWindowSamples, waveformToFbank, wav2fbank } from '../../lib/data/audio';
import { loadVideoFrames } from '../../lib/data/frames';
import { DataLoader } from '../../lib/data/loader';
import type { DataItem } from '../../lib/data/source-types';
import { torch } from '../../lib/tensor';
import { WAV, ffmpegSync, noMediaChildren, tmpDir, NO_FFMPEG } from './helpers';

const { dir, cleanup } = tmpDir('smae-limits-');
t.teardown(cleanup);

/** A canonical WAV file: 44-byte header + `data` (interleaved samples). */
function writeWav(file: string, data: Buffer, opts: { rate: number; channels: number; bits: number; float: boolean }): void {
  const h = Buffer.alloc(44);
  const block = (opts.channels * opts.bits) / 8;
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(opts.float ? 3 : 1, 20);
  h.writeUInt16LE(opts.channels, 22);
  h.writeUInt32LE(opts.rate, 24);
  h.writeUInt32LE(opts.rate * block, 28);
  h.writeUInt16LE(block, 32);
  h.writeUInt16LE(opts.bits, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, data]));
}

t.test('15 minutes of audio: only the window is decoded, peak memory stays bounded', { skip: NO_FFMPEG }, async (t) => {
  const wav = path.join(dir, 'long.wav');
  writeWav(wav, Buffer.alloc(16000 * 900 * 2), { rate: 16000, channels: 1, bits: 16, float: false }); // 28.8 MB of silence
  const flac = path.join(dir, 'long.flac');
  ffmpegSync(['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '900', '-c:a', 'flac', flac]);
  // In a fresh process per file: warm up on the short fixture (LibTorch's pools, the code path), then
  // measure the growth of the peak resident set (VmHWM) over one wav2fbank of the long file. Decoding all
  // of a 15-minute 16 kHz file costs > 400 MB (57.6 MB of float samples, its pipe copies and a
  // 90,000-frame fbank; measured 1.9 GB for the WAV); the window costs 10.255 s of samples (0.66 MB) and
  // a 1024-frame fbank (a few MB).
  const script = `
const d = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib', 'data'))});
const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
(async () => {
  (await d.wav2fbank(${JSON.stringify(WAV)})).dispose();
  const before = hwm();
  const fb = await d.wav2fbank(process.argv[1]);
  console.log(JSON.stringify({ growth: hwm() - before, shape: fb.shape }));
})().catch((e) => { console.error(e); process.exit(1); });`;
  // The bound: 64 MiB above the warmed-up peak (measured growth: 2-3 MiB).
  const BOUND = 64 * 1024 * 1024;
  for (const f of [wav, flac]) {
    const r = spawnSync(process.execPath, ['-e', script, f], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
    t.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { growth: number; shape: number[] };
    t.same(res.shape, [1024, 128], `${path.basename(f)}: recipe shape`);
    t.ok(res.growth < BOUND, `${path.basename(f)}: peak memory grew ${(res.growth / 2 ** 20).toFixed(1)} MiB (bound 64 MiB)`);
  }
});

t.test('the window gives the features of the whole file (up to float rounding)', { skip: NO_FFMPEG }, async (t) => {
  const f = path.join(dir, 'tone20.wav');
  ffmpegSync(['-f', 'lavfi', '-i', 'aevalsrc=0.3*sin(2*PI*440*t)+0.05*sin(2*PI*3000*t)+0.2:s=16000:d=20', '-c:a', 'pcm_s16le', f]);
  const whole = await decodeAudio(f);
  t.equal(whole.samples, 320000);
  t.equal(recipeWindowSamples(16000), 400 + 1023 * 160);
  const full = torch.tidy(() => waveformToFbank(torch.fromBuffer(whole.data, 'float32', [1, whole.samples]), 16000));
  const win = await wav2fbank(f);
  const a = full.toArray() as Float32Array;
  const b = win.toArray() as Float32Array;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  // The only difference is the mean subtracted first (window vs file: a DC offset of 0.2 here), which the
  // fbank's per-frame DC removal cancels; what is left is float32 rounding of the shifted samples.
  t.ok(max < 1e-3, `max |whole - window| = ${max}`);
  torch.dispose([full, win]);
});

t.test('frames above EXACT_MAX_PIXELS are scaled in the decoder; 8192x8192 is refused', { skip: NO_FFMPEG }, async (t) => {
  const qhd = path.join(dir, 'qhd.mp4');
  ffmpegSync(['-f', 'lavfi', '-i', 'testsrc2=s=2560x1440:r=25:d=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', qhd]);
  const info = await probe(qhd);
  const scaled = await decodeVideoFrames(qhd, { indices: [0, 5], info, scaleTo: [224, 224] });
  t.equal(scaled.width, 224);
  t.equal(scaled.height, 224);
  t.equal(scaled.frames[0]!.length, 224 * 224 * 3, 'each frame leaves ffmpeg at the output size');
  const v = await loadVideoFrames(qhd, { fps: 2, duration: 1, startFrame: 0, onWarning: () => undefined });
  t.same(v.shape, [3, 224, 224, 2]);
  const arr = v.toArray() as Float32Array;
  t.ok(arr.every(Number.isFinite));
  v.dispose();

  const huge = path.join(dir, 'huge.mov'); // 2 frames of 8192x8192 (ffmpeg needs ~0.5 GB to write it)
  ffmpegSync(['-f', 'lavfi', '-i', 'color=c=black:s=8192x8192:r=25', '-frames:v', '2', '-pix_fmt', 'gray', '-c:v', 'png', huge]);
  await t.rejects(loadVideoFrames(huge, { fps: 2, duration: 1, onWarning: () => undefined }), {
    code: 'ERR_MEDIA_TOO_LARGE',
    message: /8192x8192 \(67108864 pixels\), expected at most 33177600/,
  });
  await t.rejects(decodeVideoFrames(huge, { indices: [0] }), { code: 'ERR_MEDIA_TOO_LARGE' });
  await t.rejects(decodeVideoFrames(qhd, { indices: [0], maxPixels: 1000 }), { code: 'ERR_MEDIA_TOO_LARGE' });
  await t.rejects(decodeVideoFrames(qhd, { indices: [0], scaleTo: [0, 10] as [number, number] }), { code: 'ERR_INVALID_ARG' });
  t.same(await noMediaChildren(), [], 'no ffmpeg process left');
});

t.test('NaN/Inf audio: ERR_MEDIA, a skipped item in skip mode, never a NaN batch', { skip: NO_FFMPEG }, async (t) => {
  const samples = (bad: number) => {
    const f = new Float32Array(16000).map((_, i) => 0.1 * Math.sin(i / 10));
    f[1234] = bad;
    return Buffer.from(f.buffer);
  };
  const nan = path.join(dir, 'nan.wav');
  const inf = path.join(dir, 'inf.wav');
  const good = path.join(dir, 'good.wav');
  writeWav(nan, samples(NaN), { rate: 16000, channels: 1, bits: 32, float: true });
  writeWav(inf, samples(-Infinity), { rate: 16000, channels: 1, bits: 32, float: true });
  writeWav(good, samples(0), { rate: 16000, channels: 1, bits: 32, float: true });
  await t.rejects(wav2fbank(nan), { code: 'ERR_MEDIA', message: /non-finite audio: 1 NaN\/Inf sample\(s\), the first at sample 1234/ });
  await t.rejects(wav2fbank(inf), { code: 'ERR_MEDIA', message: /non-finite audio/ });
  // Through ffmpeg too (the in-process WAV reader off).
  await t.rejects(wav2fbank(nan, { decode: { inProcessWav: false } }), { code: 'ERR_MEDIA', message: /non-finite audio/ });

  const items: DataItem[] = [good, nan, good, inf].map((f, i) => ({
    id: `a${i}`,
    video: null,
    audio: f,
    audioFromVideo: false,
    label: 0,
    origin: `m.csv:${i + 2}`,
  }));
  const raise = new DataLoader(items, { batchSize: 4, recipe: { audio: { targetLength: 64 }, video: false }, concurrency: 1 });
  await t.rejects(
    (async () => {
      for await (const b of raise) b.dispose();
    })(),
    { code: 'ERR_MEDIA', message: /nan\.wav.*non-finite audio.*m\.csv:3/ },
  );
  const skip = new DataLoader(items, {
    batchSize: 4,
    recipe: { audio: { targetLength: 64 }, video: false },
    onError: 'skip',
    concurrency: 1,
    onWarning: () => undefined,
  });
  let rows = 0;
  for await (const b of skip) {
    const a = b.audio!.toArray() as Float32Array;
    t.ok(a.every(Number.isFinite), 'the batch holds only finite values');
    rows += b.audio!.shape[0]!;
    b.dispose();
  }
  t.equal(rows, 2);
  t.same(
    skip.stats.skipped.map((s) => [s.id, s.code]),
    [
      ['a1', 'ERR_MEDIA'],
      ['a3', 'ERR_MEDIA'],
    ],
  );
  const tp = skip.throughput();
  t.equal(tp.clips, 2);
  t.equal(tp.skipped, 2);
  t.ok(tp.cpuSecondsPerClip > 0 && tp.clipsPerSecond > 0 && tp.inputBound >= 0 && tp.inputBound <= 1);
});

t.test("the loader's ffmpeg option reaches its worker threads", { skip: NO_FFMPEG }, async (t) => {
  const items: DataItem[] = [{ id: 'w', video: null, audio: WAV, audioFromVideo: false, label: 0, origin: 'm.csv:2' }];
  const recipe = { audio: { targetLength: 64 }, video: false as const };
  for (const workers of [0, 1]) {
    const bad = new DataLoader(items, { batchSize: 1, recipe, workers, ffmpeg: path.join(dir, 'no-such-ffmpeg'), onWarning: () => undefined });
    try {
      // The WAV is read in-process, but the ffmpeg choice is resolved first: a bad one is reported.
      await t.rejects(
        (async () => {
          for await (const b of bad) b.dispose();
        })(),
        { code: 'ERR_FFMPEG_MISSING', message: /no-such-ffmpeg/ },
        `workers ${workers}`,
      );
    } finally {
      await bad.close();
      useFfmpeg(null);
    }
  }
});
