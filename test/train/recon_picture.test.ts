/**
 * The pretraining reconstruction picture: layout and size, the masked row paints exactly the removed
 * patches, the reconstructed row keeps the kept patches, and pretrain writes plots/reconstruction.E.png
 * after every epoch without drawing from the global RNG.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { torch, data, train, SocialMAE } from '../../lib';
import { reconstructionPng } from '../../lib/train/recon_picture';
import { CLIP, LYING, tmpDir, NO_FFMPEG } from '../data/helpers';

const ENCODER = { imgSize: 32, audioLength: 64, nFrame: 2, embedDim: 32, numHeads: 2, modalitySpecificDepth: 1 } as const;
const DECODER = { decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 } as const;

t.test('layout: spectrogram rows then frame rows; the masked row paints the removed fraction', async (t) => {
  torch.manualSeed(0);
  const model = new SocialMAE({ ...ENCODER, ...DECODER });
  const audio = torch.randn([1, 64, 128]);
  const video = torch.randn([1, 3, 32, 32, 2]);
  const live = torch.memory().liveTensors;
  const png = PNG.sync.read(reconstructionPng(model, audio, video, { forward: { maskRatioA: 0.5, maskRatioV: 0.75 }, frames: 2 }));
  t.equal(torch.memory().liveTensors, live, 'no tensors left behind');
  // width max(T = 64, 2 frames * (32 + 4) - 4 = 68); height 3 * (128 + 4) + 3 * (32 + 4) - 4
  t.same([png.width, png.height], [68, 3 * 132 + 3 * 36 - 4]);
  const grey = (x: number, y: number) => {
    const i = (y * png.width + x) * 4;
    return png.data[i] === 40 && png.data[i + 1] === 40 && png.data[i + 2] === 90;
  };
  const frac = (x0: number, y0: number, w: number, h: number) => {
    let n = 0;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (grey(x, y)) n++;
    return n / (w * h);
  };
  t.equal(frac(0, 132, 64, 128), 0.5, 'half of the spectrogram patches are masked');
  t.equal(frac(0, 0, 64, 128), 0, 'the original has no masked patch');
  t.equal(frac(0, 3 * 132 + 36, 68 - 4 - 32, 32), 0.75, 'three quarters of the first frame are masked (patches span both frames)');
  model.dispose();
  torch.dispose([audio, video]);
});

t.test('pretrain writes plots/reconstruction.E.png and leaves the global RNG alone', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-recon-');
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'video\na.mp4\nb.mp4\n');
  const src = await data.loadManifest(path.join(dir, 'm.csv'));
  const recipe: data.Recipe = { audio: { targetLength: 64 }, video: { fps: 2, duration: 1, size: 32, start: 'center' } };
  const loader = new data.DataLoader(src, { recipe, batchSize: 2, cacheDir: path.join(dir, 'cache'), onWarning: () => undefined });
  const after: number[] = [];
  for (const reconstruction of [true, false]) {
    torch.manualSeed(3);
    const model = new SocialMAE({ ...ENCODER, ...DECODER });
    await train.pretrain(model, loader, { epochs: 1, runDir: path.join(dir, `run-${reconstruction}`), reconstruction });
    after.push(torch.rand([1]).item());
    model.dispose();
  }
  t.equal(after[0], after[1], 'the same RNG state after training with and without the picture');
  const file = path.join(dir, 'run-true', 'plots', 'reconstruction.1.png');
  const png = PNG.sync.read(fs.readFileSync(file));
  t.same([png.width, png.height], [Math.max(64, 2 * 36 - 4), 3 * 132 + 3 * 36 - 4]);
  t.notOk(fs.existsSync(path.join(dir, 'run-false', 'plots', 'reconstruction.1.png')), 'reconstruction: false');
  await loader.close();
});
