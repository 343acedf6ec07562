import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { torch } from '../../lib/tensor';
import { readCheckpointRaw } from '../../lib/io';
import { fbank, fbankBatch, numFrames, nextPowerOfTwo, type FbankOptions } from '../../lib/data/fbank';
import { wav2fbank, normalizeFbank, loadAudio, waveformToFbank, padOrTrim, FBANK_MEAN, FBANK_STD } from '../../lib/data/audio';
import { CLIP, WAV, FIX, referencePython, tmpDir, NO_FFMPEG } from './helpers';
import { FLOAT32_EPS } from '../helpers/float';

async function fixtureFloats(): Promise<Record<string, Float32Array>> {
  const m = (await readCheckpointRaw(path.join(FIX, 'audio_fbank.pt'))) as Map<string, any>;
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of m) out[k] = new Float32Array(new Uint8Array(v.contiguousBytes()).buffer);
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

t.test('wav2fbank reproduces the reference fbank of the fixture wav', async (t) => {
  const ref = await fixtureFloats();
  const live = torch.memory().liveTensors;
  const f = await wav2fbank(WAV);
  t.same(f.shape, [1024, 128]);
  const n = normalizeFbank(f);
  const errLog = maxAbs(f.toArray() as Float32Array, ref.audio_fbank!);
  const errNorm = maxAbs(n.toArray() as Float32Array, ref.audio_fbank_norm!);
  t.comment(`fixture wav: max |fbank - ref| = ${errLog}, normalised ${errNorm}`);
  t.ok(errNorm <= 1e-4, 'normalised within 1e-4');
  t.ok(errLog <= 2e-3, 'log domain within 2e-3');
  const padRow = torch.tidy(() => n.select(0, 1023).toArray() as Float32Array);
  t.ok(Math.abs(padRow[0]! - 0.5132573) < 1e-6, 'padding rows normalise to 0.5132573');
  const fn = await wav2fbank(WAV, { normalize: true });
  t.equal(maxAbs(fn.toArray() as Float32Array, n.toArray() as Float32Array), 0);
  torch.dispose([f, n, fn]);
  const { waveform } = await loadAudio(WAV);
  t.equal(
    torch.tidy(() => waveform.mean().item()),
    ref.audio_waveform_mean![0],
    'waveform mean',
  );
  waveform.dispose();
  t.equal(torch.memory().liveTensors, live, 'no tensors leaked');
});

t.test('wav2fbank straight from the mp4', { skip: NO_FFMPEG }, async (t) => {
  const ref = await fixtureFloats();
  // the wav's own recipe (ffmpeg -ac 1 -ar 16000 pcm_s16le), without a temporary file: identical
  const s16 = await wav2fbank(CLIP, { decode: { sampleRate: 16000, channels: 1, sampleFormat: 's16' }, normalize: true });
  const e1 = maxAbs(s16.toArray() as Float32Array, ref.audio_fbank_norm!);
  t.comment(`mp4 -> 16 kHz mono s16: max error ${e1}`);
  t.ok(e1 <= 1e-4);
  // float decode (no int16 rounding): only the lowest energies move
  const f32 = await wav2fbank(CLIP, { decode: { sampleRate: 16000, channels: 1 }, normalize: true });
  const e2 = maxAbs(f32.toArray() as Float32Array, ref.audio_fbank_norm!);
  t.comment(`mp4 -> 16 kHz mono float: max error ${e2}`);
  t.ok(e2 <= 0.05);
  // reference recipe on the mp4 itself: 44.1 kHz stereo, left channel, 1102-sample windows
  const nat = await wav2fbank(CLIP);
  t.same(nat.shape, [1024, 128]);
  const { waveform, sampleRate } = await loadAudio(CLIP);
  t.equal(sampleRate, 44100);
  t.equal(numFrames(waveform.shape[1]!, { sampleFrequency: 44100 }), 1 + Math.floor((441344 - 1102) / 441));
  const left = torch.tidy(() => {
    const centred = waveform.sub(waveform.mean());
    return fbank(centred.narrow(0, 0, 1), { htkCompat: true, sampleFrequency: 44100, windowType: 'hanning', numMelBins: 128, dither: 0 });
  });
  t.equal(left.shape[0], 999);
  t.equal(
    maxAbs((nat.toArray() as Float32Array).subarray(0, 999 * 128), left.toArray() as Float32Array),
    0,
    'stereo: the left channel after subtracting the all-channel mean',
  );
  const mono = await wav2fbank(CLIP, { mono: 'mean' });
  t.ok(maxAbs(mono.toArray() as Float32Array, nat.toArray() as Float32Array) > 0, "mono: 'mean' differs");
  const rs = await wav2fbank(CLIP, { resample: 16000 });
  t.same(rs.shape, [1024, 128]);
  torch.dispose([s16, f32, nat, waveform, left, mono, rs]);
});

t.test('padding, trimming, short input, batching', async (t) => {
  const live = torch.memory().liveTensors;
  torch.manualSeed(20240611); // deterministic noise clips
  torch.tidy(() => {
    const long = torch.randn([1, 16000 * 12]);
    const f = waveformToFbank(long, 16000);
    t.same(f.shape, [1024, 128], '12 s trims to 1024 frames');
    const direct = fbank(long.sub(long.mean()), { htkCompat: true, sampleFrequency: 16000, windowType: 'hanning', numMelBins: 128 });
    t.equal(direct.shape[0], 1198);
    t.ok(f.equal(direct.narrow(0, 0, 1024)), 'trim keeps the first frames');
    const tiny = waveformToFbank(torch.randn([1, 100]), 16000, { targetLength: 64 });
    t.same(tiny.shape, [64, 128]);
    t.equal(tiny.abs().sum().item(), 0, 'shorter than one window: all zeros');
    t.same(padOrTrim(torch.ones([3, 2]), 5).toArray(), new Float32Array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]));
    const clips = [torch.randn([1, 8000]), torch.randn([1, 16000]), torch.randn([2, 12345])];
    const opts: FbankOptions = { numMelBins: 40, sampleFrequency: 16000, windowType: 'hamming', useEnergy: true };
    const batch = fbankBatch(clips, opts);
    // Batched and single calls run differently shaped matmuls, which BLAS kernels may round differently
    // (e.g. OPENBLAS_CORETYPE=Haswell: 9.5e-7 here). Each mel energy is a float32 sum of nfft/2+1 = 257
    // non-negative products, so its relative error is <= 257*eps = 3.1e-5 and log turns that into an
    // absolute error <= 3.1e-5; two such results differ by <= 2*257*eps = 6.1e-5. A wrong frame, padding
    // or row offset moves log-mel values by O(1).
    const tol = 2 * 257 * FLOAT32_EPS;
    clips.forEach((c, i) => {
      const single = fbank(c, opts);
      t.same(batch[i]!.shape, single.shape, `batch item ${i} has the single call's shape`);
      const err = maxAbs(batch[i]!.toArray() as Float32Array, single.toArray() as Float32Array);
      t.ok(err <= tol, `batch item ${i} equals a single call within ${tol.toExponential(2)} (max error ${err})`);
    });
    const n = normalizeFbank(torch.tensor([FBANK_MEAN, FBANK_MEAN + FBANK_STD]));
    t.ok(Math.abs((n.toArray() as Float32Array)[1]! - 1) < 1e-6);
  });
  t.equal(nextPowerOfTwo(400), 512);
  t.equal(nextPowerOfTwo(1102), 2048);
  t.equal(nextPowerOfTwo(512), 512);
  torch.tidy(() => t.throws(() => fbank(torch.zeros([1, 10])), { code: 'ERR_INVALID_ARG', message: /window size 400/ }));
  torch.tidy(() => t.throws(() => fbank(torch.zeros([1, 1000]), { channel: 1 }), { code: 'ERR_INVALID_ARG', message: /channel 1/ }));
  torch.tidy(() => t.throws(() => fbank(torch.zeros([1, 1000]), { numMelBins: 3 }), { code: 'ERR_INVALID_ARG' }));
  torch.tidy(() => t.throws(() => fbank(torch.zeros([1, 1000]), { windowType: 'nope' as never }), { code: 'ERR_INVALID_ARG' }));
  torch.tidy(() => t.throws(() => fbank(torch.zeros([1, 1000]), { lowFreq: 9000 }), { code: 'ERR_INVALID_ARG', message: /low-freq/ }));
  t.equal(torch.memory().liveTensors, live, 'no tensors leaked');
});

/** Option combinations checked against torchaudio.compliance.kaldi.fbank. */
const CASES: FbankOptions[] = [
  {},
  { windowType: 'hanning', htkCompat: true, numMelBins: 128 },
  { windowType: 'hamming', useEnergy: true },
  { windowType: 'hamming', useEnergy: true, htkCompat: true },
  { windowType: 'rectangular', rawEnergy: false, useEnergy: true, energyFloor: 0 },
  { windowType: 'blackman', blackmanCoeff: 0.4, numMelBins: 40 },
  { snipEdges: false },
  { snipEdges: false, frameLength: 20, frameShift: 15 },
  { usePower: false, useLogFbank: false },
  { lowFreq: 60, highFreq: -400, numMelBins: 30 },
  { vtlnWarp: 0.9, vtlnLow: 200, vtlnHigh: -1000, numMelBins: 30 },
  { vtlnWarp: 1.1, vtlnLow: 200, vtlnHigh: 6000, numMelBins: 30 },
  { subtractMean: true, useEnergy: true, energyFloor: 2 },
  { roundToPowerOfTwo: false, frameLength: 25 },
  { preemphasisCoefficient: 0, removeDcOffset: false },
  { sampleFrequency: 44100, numMelBins: 64, highFreq: 0 },
  { channel: 1 },
  { minDuration: 5 },
  { dither: 1.0, seed: 1234 },
];

const py = referencePython();
t.test('fbank options agree with torchaudio', { skip: py ? false : 'no /usr/bin/python3 with torchaudio' }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const { waveform } = await loadAudio(WAV);
  const input = torch.tidy(() => {
    const a = waveform.narrow(1, 16000, 32000);
    return torch.cat([a, a.flip(1).mul(0.5)], 0).contiguous(); // [2, 32000]
  });
  fs.writeFileSync(path.join(dir, 'in.f32'), Buffer.from((input.toArray() as Float32Array).buffer));
  const snake = (o: FbankOptions) =>
    Object.fromEntries(
      Object.entries(o)
        .filter(([k]) => k !== 'seed')
        .map(([k, v]) => [k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()), v]),
    );
  fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(CASES.map((c) => ({ opts: snake(c), seed: c.seed ?? null }))));
  const script = `
import sys, json, numpy as np, torch, torchaudio
d = sys.argv[1]
x = torch.from_numpy(np.fromfile(d + '/in.f32', dtype=np.float32).reshape(2, -1))
for i, c in enumerate(json.load(open(d + '/cases.json'))):
    o = dict(c['opts'])
    o.setdefault('sample_frequency', 16000)
    if c['seed'] is not None: torch.manual_seed(c['seed'])
    f = torchaudio.compliance.kaldi.fbank(x, **o)
    f.numpy().astype(np.float32).tofile('%s/out%d.f32' % (d, i))
    open('%s/out%d.txt' % (d, i), 'w').write(' '.join(map(str, f.shape)))
`;
  const r = spawnSync(py!, ['-c', script, dir], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  t.equal(r.status, 0, r.stderr);
  let worst = 0;
  CASES.forEach((c, i) => {
    const shape = fs
      .readFileSync(path.join(dir, `out${i}.txt`), 'utf8')
      .split(' ')
      .filter((s) => s)
      .map(Number);
    const ref = new Float32Array(new Uint8Array(fs.readFileSync(path.join(dir, `out${i}.f32`))).buffer);
    const f = fbank(input, c);
    t.same(f.shape, shape, `shape ${JSON.stringify(c)}`);
    const err = maxAbs(f.toArray() as Float32Array, ref);
    const scale = Math.max(1, ...Array.from(ref, Math.abs));
    worst = Math.max(worst, err / scale);
    t.ok(err <= 1e-5 * scale, `${JSON.stringify(c)}: max error ${err}`);
    f.dispose();
  });
  t.comment(`worst relative error over ${CASES.length} option sets: ${worst}`);
  torch.dispose([waveform, input]);
});
