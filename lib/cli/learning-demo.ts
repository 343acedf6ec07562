/**
 * The demo's measured result: a tiny Social-MAE-FT learns a task whose label is audible and visible, on
 * clips made with ffmpeg's generators (lavfi `sine` + `color`): class 'high' is a tone between 900 and
 * 1500 Hz over a reddish picture, class 'low' a tone between 200 and 400 Hz over a bluish one (pitch,
 * shade and the clip length drawn per clip from a seeded generator). It finetunes through the real
 * pipeline (manifest, DataLoader, train.finetune with a test split) and reports the held-out accuracy,
 * to compare with chance (0.5).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { torch } from '../tensor';
import * as data from '../data';
import { SocialMAEFT } from '../models';
import { finetune } from '../train';

const run = promisify(execFile);

/** The model and recipe: 32x32 frames, 2 frames, 1.28 s of audio; one block per stream. */
const RECIPE: data.Recipe = { audio: { targetLength: 128 }, video: { fps: 2, duration: 1, size: 32, start: 'center' } };
const MODEL = { imgSize: 32, audioLength: 128, nFrame: 2, embedDim: 64, numHeads: 2, modalitySpecificDepth: 1, unifiedDepth: 1, labelDim: 2 } as const;

export interface LearningDemoOptions {
  /** Clips per class in the training and in the test split (default 8 and 4). */
  train?: number;
  test?: number;
  epochs?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface LearningDemoResult {
  accuracy: number;
  balancedAccuracy: number;
  chance: number;
  testItems: number;
  seconds: number;
}

/** mulberry32: the clips' parameters from a seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `n` clips per class into `dir` and their manifest `name`.csv. */
async function makeClips(dir: string, name: string, n: number, rand: () => number): Promise<string> {
  const { ffmpeg } = data.locateFfmpeg();
  const rows = ['video,label'];
  for (let i = 0; i < n; i++)
    for (const label of ['high', 'low'] as const) {
      const hz = Math.round(label === 'high' ? 900 + 600 * rand() : 200 + 200 * rand());
      const shade = (x: number) => Math.round(x).toString(16).padStart(2, '0');
      const [r, b] = label === 'high' ? [160 + 95 * rand(), 80 * rand()] : [80 * rand(), 160 + 95 * rand()];
      const color = `0x${shade(r)}${shade(60 * rand())}${shade(b)}`;
      const seconds = (1.5 + rand()).toFixed(2);
      const file = `${name}_${label}_${i}.mp4`;
      await run(ffmpeg, [
        ...['-hide_banner', '-nostdin', '-v', 'error', '-y'],
        ...['-f', 'lavfi', '-i', `color=c=${color}:s=64x64:r=8:d=${seconds}`],
        ...['-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=16000:duration=${seconds}`],
        ...['-shortest', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', path.join(dir, file)],
      ]);
      rows.push(`${file},${label}`);
    }
  const manifest = path.join(dir, `${name}.csv`);
  fs.writeFileSync(manifest, rows.join('\n') + '\n');
  return manifest;
}

/** Generates the clips into `dir`, finetunes from scratch and returns the held-out accuracy. */
export async function learningDemo(dir: string, o: LearningDemoOptions = {}): Promise<LearningDemoResult> {
  const t0 = Date.now();
  const rand = rng(o.seed ?? 0);
  fs.mkdirSync(dir, { recursive: true });
  const trainSrc = await data.loadManifest(await makeClips(dir, 'train', o.train ?? 8, rand));
  const testSrc = await data.loadManifest(await makeClips(dir, 'test', o.test ?? 4, rand), { labels: trainSrc.labels! });
  const quiet = { onWarning: () => undefined };
  // decoded once: the features of every epoch after the first come from the cache
  const cacheDir = path.join(dir, 'cache');
  const trainLoader = new data.DataLoader(trainSrc, { recipe: RECIPE, batchSize: 4, shuffle: true, seed: o.seed ?? 0, cacheDir, ...quiet });
  const testLoader = new data.DataLoader(testSrc, { recipe: RECIPE, batchSize: 8, cacheDir, ...quiet });
  torch.manualSeed(o.seed ?? 0);
  const model = new SocialMAEFT(MODEL);
  try {
    const h = await finetune(model, trainLoader, {
      epochs: o.epochs ?? 6,
      lr: 1e-3,
      headLr: 1,
      test: testLoader,
      ...(o.log ? { onLog: o.log } : {}),
      logEvery: 1000,
    });
    const m = h.test!.metrics;
    return { accuracy: m.acc!, balancedAccuracy: m.balancedAcc!, chance: 0.5, testItems: h.test!.items, seconds: (Date.now() - t0) / 1000 };
  } finally {
    model.dispose();
    await trainLoader.close();
    await testLoader.close();
  }
}
