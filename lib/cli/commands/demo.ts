/**
 * `social-mae demo`: the package end to end on the CPU with the bundled clip.
 * 1. ffmpeg decodes data/samples/*.mp4; features follow the reference recipe (Kaldi fbank of the audio,
 *    normalised; 8 BGR frames at 224x224) for two 4-second windows of the clip -> a batch of 2.
 * 2. A Social-MAE (small by default, `--full` for the released configuration) pretrains `--steps` steps
 *    with Adam (the reference's betas and weight decay).
 * 3. The state dict is saved atomically as a PyTorch zip checkpoint, read back, and loaded into a
 *    SocialMAEFT the way main_ft.py does (encoder strictly, decoder reported unused, fresh head).
 * 4. A measured result (lib/cli/learning-demo.ts): a tiny model finetunes on clips ffmpeg generates, whose
 *    label is audible and visible, and the held-out accuracy is printed next to chance (--skip-learning
 *    leaves this step out).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, Tensor } from '../../tensor';
import * as data from '../../data';
import * as io from '../../io';
import { Adam } from '../../optim';
import { SocialMAE, SocialMAEFT, initFinetuneFromPretrain } from '../../models';
import { defineCommand, type Flags } from '../args';
import { SMALL_DECODER, SMALL_ENCODER, log } from '../training';
import { learningDemo } from '../learning-demo';

const SAMPLES = path.resolve(__dirname, '..', '..', '..', '..', 'data', 'samples');

async function features(clip: string): Promise<{ audio: Tensor; video: Tensor }> {
  const fbank = await data.wav2fbank(clip);
  const audio = torch.keep(torch.tidy(() => data.normalizeFbank(fbank).unsqueeze(0).expand(2, -1, -1).contiguous()));
  fbank.dispose();
  const windows = await Promise.all([0, 5].map((startTime) => data.loadVideoFrames(clip, { startTime })));
  const video = torch.keep(torch.stack(windows));
  for (const w of windows) w.dispose();
  return { audio, video };
}

export const command = defineCommand({
  name: 'demo',
  summary: 'decode the bundled clips, pretrain a few steps, save, reload; then learn a generated task and print held-out accuracy',
  example: 'social-mae demo --steps 3',
  flags: {
    full: { type: 'boolean', help: 'the released (full-size) model instead of the small one' },
    steps: { type: 'int', min: 1, default: 3, help: 'pretraining steps' },
    skipLearning: { type: 'boolean', help: 'leave out the finetuning on generated clips (step 4)' },
    out: { type: 'string', value: 'DIR', defaultHelp: 'a temporary directory, removed at the end', help: 'where the checkpoint is written (and kept)' },
  },
});

type DemoFlags = Flags<typeof command.spec.flags>;

/** Runs the demo writing into --out (kept), or into a temporary directory that is removed at the end. */
export async function run(f: DemoFlags): Promise<void> {
  if (f.out !== undefined) {
    fs.mkdirSync(f.out, { recursive: true });
    return demo(f, f.out);
  }
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'social-mae-demo-'));
  try {
    await demo(f, temp);
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
    log(`removed the temporary ${temp} (--out DIR keeps the checkpoint)`);
  }
}

async function demo(f: DemoFlags, out: string): Promise<void> {
  const { full, steps } = f;
  const clip = path.join(SAMPLES, fs.readdirSync(SAMPLES).find((f) => f.endsWith('.mp4')) ?? '');
  log(`social-mae demo: LibTorch ${torch.version()}, ${torch.getNumThreads()} threads, ${full ? 'full-size' : 'small'} model`);
  const start = torch.memory().liveTensors;

  let t0 = Date.now();
  const { audio, video } = await features(clip);
  log(`features of ${path.basename(clip)}: audio ${JSON.stringify(audio.shape)}, video ${JSON.stringify(video.shape)} (${Date.now() - t0} ms)`);

  torch.manualSeed(0);
  const encoder = full ? {} : SMALL_ENCODER;
  const mae = new SocialMAE({ ...encoder, ...(full ? {} : SMALL_DECODER) });
  log(`SocialMAE: ${mae.numParameters().toLocaleString('en')} parameters`);
  const opt = new Adam(mae.parameters(), { lr: 1e-4, betas: [0.95, 0.999], weightDecay: 5e-7 });
  mae.train();
  for (let step = 1; step <= steps; step++) {
    t0 = Date.now();
    const r = torch.tidy(() => {
      const o = mae.forward(audio, video);
      opt.zeroGrad();
      o.loss.backward();
      opt.step();
      return { loss: o.loss.item(), mae: o.lossMae.item(), c: o.lossC.item(), acc: o.cAcc.item() };
    });
    log(`step ${step}: loss ${r.loss.toFixed(4)} (mae ${r.mae.toFixed(4)}, contrastive ${r.c.toFixed(4)}, cAcc ${r.acc}) ${Date.now() - t0} ms`);
  }

  const file = path.join(out, 'social-mae-pretrain.pth');
  const sd = mae.stateDict();
  await io.save(sd, file);
  torch.dispose(sd);
  log(`saved ${file} (${(fs.statSync(file).size / 1e6).toFixed(1)} MB)`);

  const loaded = (await io.load(file)) as Map<string, Tensor>;
  const ft = new SocialMAEFT({ ...encoder, labelDim: 6 });
  const report = initFinetuneFromPretrain(ft, loaded);
  torch.dispose(loaded);
  log(
    `SocialMAEFT from the checkpoint: ${report.loaded.length} keys loaded, ${report.unused.length} unused (decoder), ` +
      `${report.missing.length} fresh (${report.missing.join(', ')})`,
  );
  const logits = torch.noGrad(() => torch.tidy(() => ft.eval().forward(audio, video, 'multimodal').tolist()));
  log(`logits: ${JSON.stringify(logits, (_k, v) => (typeof v === 'number' ? Number(v.toFixed(4)) : v))}`);

  opt.dispose();
  mae.dispose();
  ft.dispose();
  audio.dispose();
  video.dispose();
  log(`live tensors: ${torch.memory().liveTensors - start} left over`);
  if (f.skipLearning) return;

  log('learning: 16 training and 8 test clips made with ffmpeg (high tone over red vs low tone over blue); finetuning a tiny model from scratch');
  const r = await learningDemo(path.join(out, 'learning'), { log: (l) => log(`  ${l}`) });
  log(
    `held-out accuracy ${r.accuracy.toFixed(3)} (balanced ${r.balancedAccuracy.toFixed(3)}) on ${r.testItems} test clips, chance ${r.chance}; ${r.seconds.toFixed(0)} s`,
  );
}
