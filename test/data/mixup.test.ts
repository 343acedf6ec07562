/** Mixup: Python's betavariate, the reference's waveform/label mix, and the loader producing mixed samples. */
import t from 'tap';
import * as path from 'path';
import * as fs from 'fs';
import { torch } from '../../lib/tensor';
import * as data from '../../lib/data';
import { CLIP, LYING, tmpDir, NO_FFMPEG } from './helpers';

t.test('betavariate / gammavariate draw what CPython 3.11 draws for the same seed', async (t) => {
  // python3: r = random.Random(5); [r.betavariate(10, 10) for _ in range(3)], [r.gammavariate(0.5, 2) for _ in range(2)], r.gammavariate(1, 1)
  const r = new data.PyRandom(5);
  const beta = [0, 1, 2].map(() => data.betavariate(r, 10, 10));
  const gamma = [0, 1].map(() => data.gammavariate(r, 0.5, 2));
  const g1 = data.gammavariate(r, 1, 1);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-15 * Math.max(1, Math.abs(b)) * 8;
  t.ok(
    [0.45113960620058535, 0.73986823129785, 0.48283644416359767].every((v, i) => close(beta[i]!, v)),
    `beta ${beta}`,
  );
  t.ok(
    [0.00048213881234248913, 1.6437484008913346].every((v, i) => close(gamma[i]!, v)),
    `gamma(0.5) ${gamma}`,
  );
  t.ok(close(g1, 1.595273657944495), `gamma(1) ${g1}`);
  t.throws(() => data.gammavariate(r, 0, 1), RangeError);
});

t.test('waveform and label mix follow the reference', async (t) => {
  // item [1, 2, 3, 6] (mean 3), partner [10, 20] (mean 15) zero-padded after mean removal
  const m = data.mixWaveforms(new Float32Array([1, 2, 3, 6]), 1, new Float32Array([10, 20]), 1, 0.25);
  t.same(Array.from(m.data), [0.25 * -2 + 0.75 * -5, 0.25 * -1 + 0.75 * 5, 0, 0.25 * 3]);
  // a longer partner is cut
  const cut = data.mixWaveforms(new Float32Array([0, 2]), 1, new Float32Array([1, 1, 1, 9]), 1, 0.5);
  t.same(Array.from(cut.data), [0.5 * -1 + 0.5 * -2, 0.5 * 1 + 0.5 * -2]);
  const stereoMono = data.mixWaveforms(new Float32Array([1, 3, 100, 100]), 2, new Float32Array([5, 7]), 1, 0.5);
  t.equal(stereoMono.channels, 1, 'different channel counts: channel 0 of both');
  t.same(Array.from(stereoMono.data), [0.5 * -1 + 0.5 * -1, 0.5 * 1 + 0.5 * 1]);
  t.same(data.mixTargets(0, 2, 0.75, 3), [0.75, 0, 0.25]);
  t.same(data.mixTargets([0, 1, 1], 0, 0.5, 3), [0.5, 0.5, 0.5]);
});

t.test('the loader mixes audio, frames and labels; workers give the same samples', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'video,label\na.mp4,happy\nb.mp4,sad\n');
  const src = await data.loadManifest(path.join(dir, 'm.csv'));
  const recipe: data.Recipe = { audio: { targetLength: 64 }, video: { fps: 2, duration: 1, size: 32 } };
  const live = torch.memory().liveTensors;
  const epochOf = async (l: data.DataLoader) => {
    const out: { audio: Float32Array; video: Float32Array; label: Float32Array }[] = [];
    for await (const b of l.epoch(0)) {
      out.push({ audio: b.audio!.toArray() as Float32Array, video: b.video!.toArray() as Float32Array, label: b.label!.toArray() as Float32Array });
      b.dispose();
    }
    await l.close();
    return out[0]!;
  };
  const plain = await epochOf(new data.DataLoader(src, { recipe, batchSize: 2, seed: 4, onWarning: () => undefined }));
  const mixed = await epochOf(new data.DataLoader(src, { recipe, batchSize: 2, seed: 4, mixup: 1, onWarning: () => undefined }));
  const workers = await epochOf(new data.DataLoader(src, { recipe, batchSize: 2, seed: 4, mixup: 1, workers: 2, onWarning: () => undefined }));
  const plans = [0, 1].map((i) => data.planMixup(src.items, i, { seed: 4, epoch: 0, probability: 1, labelCount: 2 })!);
  const A = 64 * 128;
  const V = 3 * 32 * 32 * 2;
  for (let i = 0; i < 2; i++) {
    const { lambda, partnerIndex } = plans[i]!;
    t.ok(lambda > 0 && lambda < 1, `item ${i}: partner ${partnerIndex}, lambda ${lambda.toFixed(4)}`);
    // labels: lambda * onehot(item) + (1 - lambda) * onehot(partner)
    const want = data.mixTargets(i, partnerIndex, lambda, 2);
    t.ok(
      want.every((v, k) => Math.abs(mixed.label[i * 2 + k]! - v) < 1e-6),
      `label row ${i}: ${Array.from(mixed.label.subarray(i * 2, i * 2 + 2))} vs ${want}`,
    );
    // frames: the same windows as without mixup, mixed with lambda
    let maxV = 0;
    for (let j = 0; j < V; j++)
      maxV = Math.max(maxV, Math.abs(mixed.video[i * V + j]! - (lambda * plain.video[i * V + j]! + (1 - lambda) * plain.video[partnerIndex * V + j]!)));
    t.ok(maxV < 1e-5, `video ${i}: max error ${maxV}`);
    // audio: the recipe on the mixed waveforms (the recipe's window of each: recipeWindowSamples)
    const maxSamples = data.recipeMaxSamples({ targetLength: 64 })!;
    const wa = await data.decodeAudio(src.items[i]!.audio!, { maxSamples });
    const wb = await data.decodeAudio(src.items[partnerIndex]!.audio!, { sampleRate: wa.sampleRate, maxSamples });
    const mw = data.mixWaveforms(wa.data, wa.channels, wb.data, wb.channels, lambda);
    const ref = torch.tidy(
      () =>
        data
          .normalizeFbank(
            data.waveformToFbank(torch.fromBuffer(mw.data, 'float32', [mw.channels, mw.data.length / mw.channels]), wa.sampleRate, { targetLength: 64 }),
          )
          .toArray() as Float32Array,
    );
    let maxA = 0;
    for (let j = 0; j < A; j++) maxA = Math.max(maxA, Math.abs(mixed.audio[i * A + j]! - ref[j]!));
    t.ok(maxA < 1e-5, `audio ${i}: max error ${maxA}`);
    if (partnerIndex !== i) {
      let differs = 0;
      for (let j = 0; j < A; j++) differs = Math.max(differs, Math.abs(mixed.audio[i * A + j]! - plain.audio[i * A + j]!));
      t.ok(differs > 0.01, 'mixed with another clip: differs from the unmixed fbank');
    }
  }
  t.ok(
    plans.some((p, i) => p.partnerIndex !== i),
    'at least one item has another clip as partner (seed 4)',
  );
  t.same(Array.from(workers.audio), Array.from(mixed.audio), 'worker threads: same audio');
  t.same(Array.from(workers.video), Array.from(mixed.video), 'worker threads: same video');
  t.throws(() => new data.DataLoader(src, { mixup: 2 }), { code: 'ERR_INVALID_ARG', message: /mixup must be a probability in \[0, 1\], got 2/ });
  t.equal(torch.memory().liveTensors, live);
});
