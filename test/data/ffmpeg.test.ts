import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import {
  probe,
  countDecodableFrames,
  decodeAudio,
  decodeVideoFrames,
  locateFfmpeg,
  resetFfmpegLocation,
  selectExpression,
  settleChildren,
  useFfmpeg,
  bundledBinary,
  ffmpegConfig,
  ffmpegFeatures,
} from '../../lib/data/ffmpeg';
import { spawnSync } from 'child_process';
import { frameToSeekTime } from '../../lib/data/sampling';
import { processCpuSeconds } from '../../lib/data/cpu-time';
import { CLIP, WAV, LYING, referenceRawFrames, tmpDir, longClip, ffmpegSync, noMediaChildren, NO_FFMPEG, DECODERS } from './helpers';

const KEEP = [53, 59, 65, 71, 77, 83, 89, 95];

/** int16 samples of a canonical 44-byte-header wav, read independently of lib/data/wav.ts. */
function wavInt16(file: string): Int16Array {
  const b = fs.readFileSync(file);
  let off = 12;
  while (b.toString('latin1', off, off + 4) !== 'data') off += 8 + b.readUInt32LE(off + 4);
  const n = b.readUInt32LE(off + 4) / 2;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = b.readInt16LE(off + 8 + 2 * i);
  return out;
}

t.test('locateFfmpeg finds the executables, and reports a missing one clearly', { skip: NO_FFMPEG }, async (t) => {
  const p = locateFfmpeg();
  t.ok(fs.existsSync(p.ffmpeg) && fs.existsSync(p.ffprobe));
  const saved = process.env.FFMPEG_PATH;
  process.env.FFMPEG_PATH = '/nonexistent/ffmpeg';
  resetFfmpegLocation();
  try {
    t.throws(() => locateFfmpeg(), { code: 'ERR_FFMPEG_MISSING', message: /FFMPEG_PATH.*apt-get install -y ffmpeg/ });
    await t.rejects(probe(CLIP, { decoder: 'process' }), { code: 'ERR_FFMPEG_MISSING' });
    process.env.FFMPEG_PATH = p.ffmpeg;
    resetFfmpegLocation();
    t.equal(locateFfmpeg().ffmpeg, p.ffmpeg, 'FFMPEG_PATH override is used');
  } finally {
    if (saved === undefined) delete process.env.FFMPEG_PATH;
    else process.env.FFMPEG_PATH = saved;
    resetFfmpegLocation();
  }
});

t.test('the ffmpeg build is selectable (bundled | system | path) and reported', { skip: NO_FFMPEG }, async (t) => {
  const saved = process.env.SOCIAL_MAE_FFMPEG;
  const savedPath = process.env.FFMPEG_PATH;
  delete process.env.FFMPEG_PATH;
  try {
    const bundled = bundledBinary('ffmpeg');
    resetFfmpegLocation();
    delete process.env.SOCIAL_MAE_FFMPEG;
    const onPath = spawnSync('sh', ['-c', 'command -v ffmpeg && command -v ffprobe'], { encoding: 'utf8' }).status === 0;
    t.equal(locateFfmpeg().source, onPath || !bundled ? 'system' : 'bundled', 'default: the system ffmpeg (AAC parity), else the bundled build');
    t.equal(locateFfmpeg().selectedBy, 'default');
    process.env.SOCIAL_MAE_FFMPEG = '/nonexistent/dir';
    t.throws(() => locateFfmpeg({ refresh: true }), { code: 'ERR_FFMPEG_MISSING', message: /SOCIAL_MAE_FFMPEG=\/nonexistent\/dir/ });
    const sys = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).stdout.trim();
    if (sys) {
      process.env.SOCIAL_MAE_FFMPEG = 'system';
      const p = locateFfmpeg({ refresh: true });
      t.equal(p.source, 'system');
      t.equal(p.selectedBy, 'SOCIAL_MAE_FFMPEG=system');
      process.env.SOCIAL_MAE_FFMPEG = path.dirname(sys);
      t.equal(locateFfmpeg({ refresh: true }).source, 'path', 'a directory holding ffmpeg and ffprobe');
      t.match(ffmpegConfig(), /media backend: path ffmpeg \(selected by SOCIAL_MAE_FFMPEG=.*\)\n {2}ffmpeg: .*libavformat \d+\.\d+/);
    }
    if (bundled) {
      t.equal(useFfmpeg('bundled').source, 'bundled', 'useFfmpeg wins over the environment');
      t.match(ffmpegConfig(), /media backend: bundled ffmpeg \(selected by useFfmpeg\(\)/);
      t.equal(ffmpegFeatures().fpsModeFlag, '-vsync', 'the static 2018 build predates -fps_mode');
      const v = await decodeVideoFrames(CLIP, { indices: [53] });
      t.ok(Buffer.from(v.frames[0]!).equals(referenceRawFrames().subarray(0, 144 * 256 * 3)), 'bundled: frame 53 identical to cv2');
    }
    t.throws(() => useFfmpeg(42 as unknown as string), { code: 'ERR_INVALID_ARG' });
  } finally {
    useFfmpeg(null);
    if (saved === undefined) delete process.env.SOCIAL_MAE_FFMPEG;
    else process.env.SOCIAL_MAE_FFMPEG = saved;
    if (savedPath !== undefined) process.env.FFMPEG_PATH = savedPath;
    resetFfmpegLocation();
  }
});

t.test('probe reports OpenCV-style fps and frame counts', { skip: NO_FFMPEG }, async (t) => {
  const a = await probe(CLIP);
  t.equal(a.video!.fps, 12.5);
  t.equal(a.video!.reportedFrames, 125);
  t.equal(a.video!.width, 256);
  t.equal(a.video!.height, 144);
  t.equal(a.audio!.sampleRate, 44100);
  t.equal(a.audio!.channels, 2);
  t.equal(a.audio!.codec, 'aac');
  // The container duration depends on the ffprobe: Debian's 5.1 (what OpenCV links) counts the AAC
  // track's trailing priming (10.024 s), the bundled 2023 build does not (10.000 s). Frame counts and fps
  // (what sampling uses) are the same with both.
  t.ok(Math.abs(a.duration! - (locateFfmpeg().source === 'bundled' ? 10.0 : 10.024)) < 0.002, `container duration ${a.duration}`);
  const b = await probe(LYING, { countFrames: true });
  t.equal(b.video!.reportedFrames, 400, 'the container lies');
  t.equal(b.video!.decodableFrames, 299, 'only 299 decode');
  t.equal(b.video!.fps, 30000 / 1001);
  t.equal(b.video!.width, 1280);
  const w = await probe(WAV);
  t.equal(w.video, null);
  t.equal(w.audio!.sampleRate, 16000);
  t.equal(w.audio!.reportedSamples, 160125);
});

t.test('countDecodableFrames', { skip: NO_FFMPEG }, async (t) => {
  t.equal(await countDecodableFrames(CLIP), 125);
  t.equal(await countDecodableFrames(LYING), 299);
});

t.test('decodeAudio: wav values are int16/32768 exactly (torchaudio.load), both paths', { skip: NO_FFMPEG }, async (t) => {
  const ref = wavInt16(WAV);
  for (const inProcessWav of [true, false]) {
    const a = await decodeAudio(WAV, { inProcessWav });
    t.equal(a.sampleRate, 16000);
    t.equal(a.channels, 1);
    t.equal(a.samples, 160125);
    let bad = 0;
    for (let i = 0; i < ref.length; i++) if (a.data[i] !== ref[i]! / 32768) bad++;
    t.equal(bad, 0, `every sample equals int16/32768 (inProcessWav=${inProcessWav})`);
  }
});

t.test('decodeAudio from the mp4', { skip: NO_FFMPEG }, async (t) => {
  const ref = wavInt16(WAV);
  // the fixture wav was made with `ffmpeg -vn -ac 1 -ar 16000 -c:a pcm_s16le`: bit-identical
  const s16 = await decodeAudio(CLIP, { sampleRate: 16000, channels: 1, sampleFormat: 's16' });
  t.equal(s16.samples, ref.length);
  let bad = 0;
  for (let i = 0; i < ref.length; i++) if (s16.data[i] !== ref[i]! / 32768) bad++;
  t.equal(bad, 0, 's16 decode of the mp4 equals the fixture wav');
  // float path: same downmix gain, only the int16 rounding differs
  const f32 = await decodeAudio(CLIP, { sampleRate: 16000, channels: 1 });
  let maxErr = 0;
  for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(f32.data[i]! - ref[i]! / 32768));
  t.ok(maxErr <= 1 / 32768, `f32 within one int16 step (max ${maxErr})`);
  // native: stereo 44.1 kHz, planar
  const nat = await decodeAudio(CLIP);
  t.equal(nat.channels, 2);
  t.equal(nat.sampleRate, 44100);
  t.equal(nat.samples, 441344);
  t.equal(nat.data.length, 2 * 441344);
  const part = await decodeAudio(CLIP, { startTime: 2, duration: 1 });
  t.equal(part.samples, 44100);
});

t.test('decodeVideoFrames matches the reference (cv2) frames bit for bit', { skip: NO_FFMPEG }, async (t) => {
  const raw = referenceRawFrames();
  const v = await decodeVideoFrames(CLIP, { indices: KEEP });
  t.equal(v.width, 256);
  t.equal(v.height, 144);
  t.equal(v.decoded, 8);
  t.equal(v.endOfStream, false);
  t.same(v.indices, KEEP);
  const fb = 144 * 256 * 3;
  for (let i = 0; i < 8; i++) {
    t.ok(Buffer.from(v.frames[i]!).equals(raw.subarray(i * fb, (i + 1) * fb)), `frame ${KEEP[i]} identical`);
  }
  const rgb = await decodeVideoFrames(CLIP, { indices: [KEEP[0]!], pixelFormat: 'rgb24', threads: 1 });
  const a = rgb.frames[0]!;
  const b = v.frames[0]!;
  let swapped = true;
  for (let p = 0; p < a.length; p += 3) if (a[p] !== b[p + 2] || a[p + 1] !== b[p + 1] || a[p + 2] !== b[p]) swapped = false;
  t.ok(swapped, 'rgb24 = bgr24 with channels swapped');
});

t.test('decodeVideoFrames: seeking, runs of indices, the lying clip', { skip: NO_FFMPEG }, async (t) => {
  const all = await decodeVideoFrames(CLIP, { indices: [49, 50, 51, 52] });
  const seek = await decodeVideoFrames(CLIP, { indices: [0, 1, 2], startTime: frameToSeekTime(50, 12.5) });
  t.ok(Buffer.from(seek.frames[0]!).equals(Buffer.from(all.frames[1]!)), 'startTime -> frame 50 is index 0');
  t.ok(Buffer.from(seek.frames[2]!).equals(Buffer.from(all.frames[3]!)));
  t.equal(selectExpression([1, 2, 3, 7, 9, 10]), 'between(n,1,3)+eq(n,7)+between(n,9,10)');
  const info = await probe(LYING);
  const l = await decodeVideoFrames(LYING, { indices: [0, 298, 299, 350], info });
  t.equal(l.decoded, 2);
  t.same(l.indices, [0, 298]);
  t.equal(l.endOfStream, true);
  t.equal(l.frames[1]!.length, 1280 * 720 * 3);
  await t.rejects(decodeVideoFrames(CLIP, { indices: [3, 3] }), { code: 'ERR_INVALID_ARG' });
  await t.rejects(decodeVideoFrames(CLIP, { indices: [] }), { code: 'ERR_INVALID_ARG' });
  await t.rejects(decodeVideoFrames(CLIP, { indices: [-1] }), { code: 'ERR_INVALID_ARG' });
});

/** CPU time (user + system, ms) of this process's exited and reaped children, from /proc/self/stat (USER_HZ = 100). */
t.test('decodeVideoFrames stops at the last requested frame', { skip: NO_FFMPEG }, async (t) => {
  // Measured in ffmpeg's CPU time, not wall time (which other processes' load stretches), on six copies of
  // the 299-frame clip back to back (stream copy, no re-encoding): ffmpeg's start-up (about 0.6 s CPU on a
  // slow machine) is then small against decoding 1794 frames (about 4.5 s), so 6 frames cost about 0.15 of
  // the full decode instead of about 0.55 with a single copy.
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const long = longClip(dir);
  const info = await probe(long);
  await settleChildren();
  // The process path's cost is its children's CPU (ffmpeg runs as a child of the spawn helper, whose reaped
  // children processCpuSeconds counts); the in-process decoder's is this process's own.
  const ownCpuMs = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  for (const decoder of DECODERS) {
    const clock = decoder === 'process' ? () => processCpuSeconds() * 1000 : ownCpuMs;
    const cpu = async (indices: number[]) => {
      const c0 = clock();
      const r = await decodeVideoFrames(long, { indices, info, decoder });
      await settleChildren();
      t.same([r.decoded, r.endOfStream], [2, false], `${decoder}: frames ${indices} decoded`);
      return clock() - c0;
    };
    const full = await cpu([0, 6 * 299 - 1]);
    const early = await cpu([0, 5]);
    t.comment(`${decoder} CPU time: first frames ${early} ms, up to the last of 1794 frames ${full} ms`);
    t.ok(early < full * 0.6, `${decoder}: decoding 6 frames is much cheaper than decoding 1794`);
  }
});

t.test('broken and partial files give clear errors', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const missing = path.join(dir, 'nope.mp4');
  const calls: Array<() => Promise<unknown>> = [
    () => probe(missing),
    () => decodeAudio(missing),
    () => decodeVideoFrames(missing, { indices: [0] }),
    () => countDecodableFrames(missing),
  ];
  for (const fn of calls) {
    await t.rejects(fn(), { code: 'ERR_FILE_NOT_FOUND', file: missing, message: /nope\.mp4: file not found/ });
  }
  const empty = path.join(dir, 'empty.mp4');
  fs.writeFileSync(empty, '');
  await t.rejects(probe(empty), { code: 'ERR_MEDIA', reason: 'empty file (0 bytes)' });
  await t.rejects(decodeAudio(empty), { code: 'ERR_MEDIA', message: /empty\.mp4/ });
  const noise = path.join(dir, 'noise.mp4');
  fs.writeFileSync(noise, Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 2654435761) >>> 24)));
  await t.rejects(probe(noise), { code: 'ERR_MEDIA', message: /noise\.mp4/ });
  await t.rejects(decodeAudio(noise), { code: 'ERR_MEDIA', message: /noise\.mp4/ });
  await t.rejects(decodeVideoFrames(noise, { indices: [0] }), { code: 'ERR_MEDIA' });
  const truncated = path.join(dir, 'truncated.mp4');
  fs.writeFileSync(truncated, fs.readFileSync(CLIP).subarray(0, 100_000));
  await t.rejects(probe(truncated), { code: 'ERR_MEDIA', message: /truncated\.mp4/ });
  await t.rejects(probe(dir), { code: 'ERR_MEDIA', reason: /directory/ });

  const audioOnly = path.join(dir, 'audio_only.m4a');
  ffmpegSync(['-i', CLIP, '-vn', '-c:a', 'copy', audioOnly]);
  await t.rejects(decodeVideoFrames(audioOnly, { indices: [0] }), { code: 'ERR_NO_VIDEO', message: /audio_only\.m4a: no video stream/ });
  await t.rejects(countDecodableFrames(audioOnly), { code: 'ERR_NO_VIDEO' });
  t.equal((await decodeAudio(audioOnly)).samples, 441344);

  const videoOnly = path.join(dir, 'video_only.mp4');
  ffmpegSync(['-i', CLIP, '-an', '-c:v', 'copy', videoOnly]);
  await t.rejects(decodeAudio(videoOnly), { code: 'ERR_NO_AUDIO', message: /video_only\.mp4: no audio stream/ });
  t.equal((await decodeVideoFrames(videoOnly, { indices: [53] })).decoded, 1);
  await t.rejects(decodeAudio(CLIP, { stream: 1 }), { code: 'ERR_NO_AUDIO' });
});

t.test('other containers: mkv (no frame count in the header), webm', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const mkv = path.join(dir, 'clip.mkv');
  ffmpegSync(['-i', CLIP, '-c', 'copy', mkv]);
  const info = await probe(mkv, { countFrames: true });
  t.equal(info.video!.containerFrames, null);
  t.equal(info.video!.reportedFrames, Math.floor(info.duration! * 12.5 + 0.5), 'duration * fps, as OpenCV');
  t.equal(info.video!.decodableFrames, 125);
  const a = await decodeVideoFrames(mkv, { indices: KEEP, info });
  const b = await decodeVideoFrames(CLIP, { indices: KEEP });
  t.ok(
    a.frames.every((f, i) => Buffer.from(f).equals(Buffer.from(b.frames[i]!))),
    'same frames as from the mp4',
  );
  const webm = path.join(dir, 'clip.webm');
  ffmpegSync(['-t', '2', '-i', CLIP, '-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '300k', '-c:a', 'libopus', webm]);
  const wa = await decodeAudio(webm);
  t.equal(wa.sampleRate, 48000, 'opus decodes at 48 kHz');
  const wv = await decodeVideoFrames(webm, { indices: [0, 24] });
  t.equal(wv.decoded, 2);
});

t.test('timeouts kill the child process', { skip: NO_FFMPEG }, async (t) => {
  await t.rejects(decodeVideoFrames(LYING, { indices: [298], timeoutMs: 50 }), {
    code: 'ERR_MEDIA',
    reason: 'timeout',
    message: /KlsG1EnBEjc_000361\.mp4.*50 ms/,
  });
  await t.rejects(countDecodableFrames(LYING, { timeoutMs: 30 }), { code: 'ERR_MEDIA', reason: 'timeout' });
  t.same(await noMediaChildren(), [], 'no ffmpeg/ffprobe left running');
});
