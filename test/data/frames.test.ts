import t from 'tap';
import * as path from 'path';
import { torch, F } from '../../lib/tensor';
import { readCheckpointRaw } from '../../lib/io';
import { framesToHost, framesToTensor, loadVideoFrames, sampleVideo, seekTime } from '../../lib/data/frames';
import { decodeVideoFrames, probe } from '../../lib/data/ffmpeg';
import { PyRandom } from '../../lib/data/pyrandom';
import { CLIP, LYING, FIX, tmpDir, ffmpegSync, NO_FFMPEG } from './helpers';

async function fixture() {
  const m = (await readCheckpointRaw(path.join(FIX, 'video_frames.pt'))) as Map<string, any>;
  const bytes = (k: string) => new Uint8Array(m.get(k).contiguousBytes());
  return {
    raw: bytes('raw_frames_bgr_u8'),
    first: new Float32Array(bytes('first_frame_f32').slice().buffer),
    f16: bytes('frames_f16'),
  };
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * The bicubic resize is a 16-tap float32 sum that LibTorch compiles once per CPU kind, with and without
 * FMA: its last bits differ between ATEN_CPU_CAPABILITY=default and avx2/avx512 (measured 7.4e-6 against
 * first_frame_f32 with default, 0 with avx2 and avx512). Our native transform (native/data/frame_transform.cc)
 * sums without FMA on every machine, as the default kind does: 7.4e-6. Such a difference flips the float16
 * rounding of the values that lie that close to a float16 rounding midpoint (3534 of 1.2 M with default).
 */
const RESIZE_SLACK = 1e-5;

/**
 * Count of values of `ours` that do not round to the float16 fixture `ref` (as float32), allowing values
 * within `slack` of a float16 rounding midpoint to round either way: |ours - ref| <= ulp16(ref) / 2 + slack.
 * A different decoded byte moves the outputs it feeds by up to 1/255/0.229 = 0.017 (times the tap weight).
 */
function f16Mismatches(ours: ArrayLike<number>, ref: ArrayLike<number>, slack: number): number {
  if (ours.length !== ref.length) return Infinity;
  let bad = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const halfUlp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(r))), -14) - 11); // float16: 10 fraction bits
    if (!(Math.abs(ours[i]! - r) <= halfUlp + slack)) bad++;
  }
  return bad;
}

t.test('transform of the reference raw frames matches frames_f16 / first_frame_f32', async (t) => {
  const fx = await fixture();
  const live = torch.memory().liveTensors;
  const fb = 144 * 256 * 3;
  const frames = Array.from({ length: 8 }, (_, i) => fx.raw.subarray(i * fb, (i + 1) * fb));
  torch.tidy(() => {
    const v = framesToTensor(frames, 256, 144);
    t.same(v.shape, [3, 224, 224, 8]);
    t.equal(v.dtype, 'float32');
    const ref = torch.fromBuffer(fx.f16, 'float16', [3, 224, 224, 8]);
    const err = maxAbs(v.toArray() as Float32Array, ref.to('float32').toArray() as Float32Array);
    t.comment(`max |ours - frames_f16| = ${err} (float16 rounding of the fixture: <= 9.8e-4)`);
    t.ok(err <= 1e-3);
    const mis = f16Mismatches(v.toArray() as Float32Array, ref.to('float32').toArray() as Float32Array, RESIZE_SLACK);
    t.equal(mis, 0, `rounded to float16: the fixture's values (up to ${RESIZE_SLACK} at rounding midpoints)`);
    const e0 = maxAbs(v.select(3, 0).contiguous().toArray() as Float32Array, fx.first);
    t.comment(`max |ours - first_frame_f32| = ${e0}`);
    t.ok(e0 <= 1e-5);
    // no clamping: bicubic overshoot leaves [0, 1] before normalisation
    const un = framesToTensor(frames, 256, 144, { mean: null });
    t.ok(un.max().item() > 1 || un.min().item() < 0, 'bicubic overshoot kept');
    t.same(framesToTensor(frames.slice(0, 2), 256, 144, { size: [112, 160] }).shape, [3, 112, 160, 2]);
    // from a uint8 tensor [T, H, W, 3] too
    const u8 = torch.fromBuffer(fx.raw, 'uint8', [8, 144, 256, 3]);
    t.ok(framesToTensor(u8, 256, 144).equal(v));
  });
  t.throws(() => framesToTensor([new Uint8Array(10)], 256, 144), { code: 'ERR_INVALID_ARG' });
  t.equal(torch.memory().liveTensors, live, 'no tensors leaked');
});

t.test('end to end from the mp4 (reference sampling, startFrame 53)', { skip: NO_FFMPEG }, async (t) => {
  const fx = await fixture();
  const s = await sampleVideo(CLIP, { sampling: 'reference', startFrame: 53 });
  t.same(s.plan.frameIndices, [53, 59, 65, 71, 77, 83, 89, 95]);
  t.same(s.warnings, []);
  torch.tidy(() => {
    const ref = torch.fromBuffer(fx.f16, 'float16', [3, 224, 224, 8]);
    const err = maxAbs(s.video.toArray() as Float32Array, ref.to('float32').toArray() as Float32Array);
    t.comment(`end to end (ffmpeg decode + transform) vs frames_f16: ${err}`);
    const mis = f16Mismatches(s.video.toArray() as Float32Array, ref.to('float32').toArray() as Float32Array, RESIZE_SLACK);
    t.equal(mis, 0, `the fixture's float16 values (up to ${RESIZE_SLACK} at rounding midpoints): decoded bytes equal OpenCV's`);
  });
  s.video.dispose();
  // the reference's random start: Python's random.seed(4242) -> 53
  const r = await sampleVideo(CLIP, { sampling: 'reference', rng: new PyRandom(4242) });
  t.same(r.plan.frameIndices, [53, 59, 65, 71, 77, 83, 89, 95]);
  r.video.dispose();
  const seeded = await sampleVideo(CLIP, { sampling: 'reference', seed: 4242 });
  t.equal(seeded.plan.start, 53);
  seeded.video.dispose();
  const v = await loadVideoFrames(CLIP, { startFrame: 0 });
  t.same(v.shape, [3, 224, 224, 8]);
  v.dispose();
});

t.test('channel order, sizes, uniform sampling', { skip: NO_FFMPEG }, async (t) => {
  const bgr = await loadVideoFrames(CLIP, { sampling: 'reference', startFrame: 53, mean: null });
  const rgb = await loadVideoFrames(CLIP, { sampling: 'reference', startFrame: 53, mean: null, channelOrder: 'rgb' });
  torch.tidy(() => t.ok(rgb.equal(bgr.flip(0)), "'rgb' is 'bgr' with the channels reversed"));
  const u = await sampleVideo(CLIP, { startTime: 2, fps: 4, duration: 2, size: 64 });
  t.same(u.video.shape, [3, 64, 64, 8]);
  t.same(u.plan.frameIndices, [25, 28, 31, 34, 38, 41, 44, 47], 'uniform: round(k * 12.5 / 4) after frame 25 (2 s)');
  torch.dispose([bgr, rgb, u.video]);
  await t.rejects(loadVideoFrames(CLIP, { sampling: 'nope' as never }), { code: 'ERR_INVALID_ARG' });
  await t.rejects(loadVideoFrames(CLIP, { channelOrder: 'xyz' as never }), { code: 'ERR_INVALID_ARG' });
});

t.test('a clip whose real frame count is below its metadata never yields fewer frames', { skip: NO_FFMPEG }, async (t) => {
  const warnings: string[] = [];
  const ref = await sampleVideo(LYING, { sampling: 'reference', startFrame: 250, onWarning: (m) => warnings.push(m) });
  t.same(ref.plan.frameIndices, [250, 264, 278, 292, 250, 264, 278, 292], 'reference: frames that exist, tiled');
  t.same(ref.video.shape, [3, 224, 224, 8]);
  t.ok(warnings.some((w) => /only 4 of 8 planned frames decoded/.test(w)));
  const uw: string[] = [];
  const uni = await sampleVideo(LYING, { startFrame: 280, onWarning: (m) => uw.push(m) });
  t.ok(
    uni.plan.frameIndices.every((f) => f < 299),
    'uniform: re-planned inside the 299 real frames',
  );
  t.equal(new Set(uni.plan.frameIndices).size, 8, 'eight distinct frames');
  t.ok(uw.some((w) => /only 299 frames decode but 400 are reported/.test(w)));
  // whole window past the real end, even for reference sampling
  const far = await sampleVideo(LYING, { sampling: 'reference', startFrame: 320, onWarning: () => undefined });
  t.ok(far.plan.frameIndices.every((f) => f < 299));
  t.same(far.video.shape, [3, 224, 224, 8]);
  torch.dispose([ref.video, uni.video, far.video]);
});

t.test('short clips and broken files', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const short = path.join(dir, 'short.mp4');
  ffmpegSync(['-i', CLIP, '-t', '2', '-an', '-c:v', 'libx264', '-preset', 'ultrafast', short]);
  const w: string[] = [];
  const s = await sampleVideo(short, { sampling: 'reference', onWarning: (m) => w.push(m) });
  t.equal(s.plan.start, 0);
  t.same(s.plan.frameIndices, [0, 6, 12, 18, 24, 0, 6, 12], 'reference short-clip tiling (25 frames < 50)');
  t.ok(w.some((m) => /short clip/.test(m)));
  s.video.dispose();
  const audioOnly = path.join(dir, 'a.m4a');
  ffmpegSync(['-i', CLIP, '-vn', '-c:a', 'copy', audioOnly]);
  await t.rejects(loadVideoFrames(audioOnly), { code: 'ERR_NO_VIDEO', message: /a\.m4a/ });
  await t.rejects(loadVideoFrames(path.join(dir, 'missing.mp4')), { code: 'ERR_FILE_NOT_FOUND' });
});

t.test('seeking to the keyframe before the window gives the frames of a decode from the start', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  // B-frames, a keyframe every 2 s, and a file whose streams start at 0.3 s.
  const bf = path.join(dir, 'bframes.mp4');
  ffmpegSync(['-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=30:d=8', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', '-bf', '3', '-pix_fmt', 'yuv420p', bf]);
  const off = path.join(dir, 'offset.mp4');
  ffmpegSync([
    '-f',
    'lavfi',
    '-i',
    'testsrc2=s=160x120:r=25:d=8',
    '-f',
    'lavfi',
    '-i',
    'sine=d=8',
    '-c:v',
    'libx264',
    '-g',
    '50',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-shortest',
    '-output_ts_offset',
    '0.3',
    off,
  ]);
  for (const file of [CLIP, LYING, bf, off]) {
    const info = await probe(file);
    const vs = info.video!;
    let windows = 0;
    for (const start of [31, 62, 150, 290]) {
      const idx = [start, start + 3, start + 7];
      if (idx[2]! >= vs.reportedFrames!) continue;
      const at = seekTime(info, vs, start);
      t.ok(at !== null && at > 0, `${path.basename(file)}: window at frame ${start} seeks (${at})`);
      const whole = await decodeVideoFrames(file, { indices: idx, info });
      const seeked = await decodeVideoFrames(file, { indices: idx.map((i) => i - start), startTime: at!, info });
      t.equal(seeked.decoded, whole.decoded);
      t.ok(
        whole.frames.every((f, i) => Buffer.from(f).equals(seeked.frames[i]!)),
        `${path.basename(file)}: frames ${idx.join(',')} identical`,
      );
      windows++;
    }
    t.ok(windows >= 2);
  }
  // Variable frame rate: no seeking (frames are counted from the start, as OpenCV does).
  const info = await probe(CLIP);
  t.equal(seekTime(info, { ...info.video!, avgFrameRate: '25/3' }, 60), null);
  t.equal(seekTime(info, info.video!, 5), null, 'a window in the first second decodes from the start');
  // The reference recipe with and without seeking: identical tensors.
  const a = await loadVideoFrames(LYING, { sampling: 'reference', startFrame: 200, onWarning: () => undefined });
  const b = await loadVideoFrames(LYING, { sampling: 'reference', startFrame: 200, seek: false, onWarning: () => undefined });
  t.same(Array.from(a.toArray() as Float32Array), Array.from(b.toArray() as Float32Array));
  torch.dispose([a, b]);
});

/** The reference transform written out with tensor ops (ToTensor, bicubic Resize, Normalize): [3, OH, OW, T]. */
function tensorTransform(frames: Uint8Array[], W: number, H: number, OH: number, OW: number, opts: { mean?: number[] | null; std?: number[] }) {
  return torch.tidy(() => {
    const T = frames.length;
    const all = new Uint8Array(H * W * 3 * T);
    frames.forEach((f, i) => all.set(f, i * H * W * 3));
    let x = torch.fromBuffer(all, 'uint8', [T, H, W, 3]).permute(0, 3, 1, 2).contiguous().to('float32').div(255);
    x = F.interpolate(x, { size: [OH, OW], mode: 'bicubic', alignCorners: false, antialias: false });
    const mean = opts.mean === undefined ? [0.485, 0.456, 0.406] : opts.mean;
    const std = opts.std ?? [0.229, 0.224, 0.225];
    if (mean !== null) x = x.sub(torch.tensor(mean, { dtype: 'float32' }).view(1, 3, 1, 1)).div(torch.tensor(std, { dtype: 'float32' }).view(1, 3, 1, 1));
    return x.permute(1, 2, 3, 0).contiguous();
  });
}

function randomFrames(T: number, W: number, H: number, seed: number): Uint8Array[] {
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 256;
  return Array.from({ length: T }, () => Uint8Array.from({ length: H * W * 3 }, rnd));
}

t.test('frames already at the output size: the native transform equals the tensor path bit for bit', async (t) => {
  const [H, W, T] = [32, 32, 3];
  const frames = randomFrames(T, W, H, 7);
  const cases: { mean?: number[] | null; std?: number[] }[] = [{}, { mean: null }, { mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2] }];
  for (const opts of cases) {
    const fast = framesToTensor(frames, W, H, { ...opts, size: 32 });
    const ref = tensorTransform(frames, W, H, H, W, opts);
    t.same(fast.shape, [3, H, W, T]);
    const a = fast.toArray() as Float32Array;
    const b = ref.toArray() as Float32Array;
    let bad = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) bad++;
    t.equal(bad, 0, `${JSON.stringify(opts)}: identical`);
    torch.dispose([fast, ref]);
  }
});

t.test('resizing frames: the native transform equals LibTorch bicubic interpolate to float32 rounding', async (t) => {
  // [W, H] -> [OH, OW]: down in both axes (720p-like aspect), up in both, mixed, and one axis the same.
  const cases: [number, number, number, number][] = [
    [128, 72, 32, 32],
    [30, 20, 48, 40],
    [40, 50, 24, 64],
    [37, 29, 29, 16],
  ];
  for (const [W, H, OH, OW] of cases) {
    const frames = randomFrames(2, W, H, W * 31 + H);
    for (const opts of [{}, { mean: null }] as { mean?: number[] | null }[]) {
      const fast = framesToTensor(frames, W, H, { ...opts, size: [OH, OW] });
      const ref = tensorTransform(frames, W, H, OH, OW, opts);
      t.same(fast.shape, [3, OH, OW, 2]);
      const err = maxAbs(fast.toArray() as Float32Array, ref.toArray() as Float32Array);
      // Both are 16-tap float32 sums in the same order; LibTorch compiles its kernel per CPU kind, with FMA
      // on avx2/avx512 (see RESIZE_SLACK), and computes weights with its own roundings: random bytes (the
      // worst case: every tap at full swing) measured <= 5e-6 after the /0.225 normalisation.
      t.ok(err <= 2e-5, `${W}x${H} -> ${OW}x${OH} ${JSON.stringify(opts)}: max |native - interpolate| = ${err}`);
      torch.dispose([fast, ref]);
    }
  }
  // Slots repeat frames (the loader's padding) without transforming them twice.
  const frames = randomFrames(3, 40, 30, 5);
  const host = framesToHost(frames, 40, 30, { size: 16 }, [2, 0, 0, 1, 2]);
  t.same(host.shape, [3, 16, 16, 5]);
  const one = framesToHost(frames, 40, 30, { size: 16 });
  const slot = (d: Float32Array, T: number, k: number) => Array.from({ length: 3 * 16 * 16 }, (_, q) => d[q * T + k]!);
  for (const [k, p] of [2, 0, 0, 1, 2].entries()) t.same(slot(host.data, 5, k), slot(one.data, 3, p), `slot ${k} shows frame ${p}`);
  // Bad arguments: a clear error, never a crash.
  t.throws(() => framesToHost(frames, 40, 30, { size: 16 }, [3]), { code: 'ERR_INVALID_ARG' });
  t.throws(() => framesToHost(frames, 40, 30, { size: 0 }), { code: 'ERR_INVALID_ARG' });
  t.throws(() => framesToHost([frames[0]!, new Uint8Array(5)], 40, 30), { code: 'ERR_INVALID_ARG' });
  t.throws(() => framesToHost(frames, 40, 30, { mean: [0.5], std: [0.5] }), { code: 'ERR_INVALID_ARG' });
});
