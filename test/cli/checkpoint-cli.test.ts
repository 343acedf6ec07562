/**
 * A checkpoint file alone on the command line: `predict --checkpoint` (model options from the shapes, keys
 * with `module.`), the README's snippet giving the same numbers as `predict` for a clip (one preprocessing
 * path: data.clipFeatures), `convert` .pth -> .safetensors -> .pth bit for bit, `inspect` naming the full
 * configuration.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { SocialMAEFT, data, io, torch } from '../../lib';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import type { Command, FlagSet } from '../../lib/cli/args';
import * as convert from '../../lib/cli/commands/convert';
import * as predict from '../../lib/cli/commands/predict';
import { CLIP, LYING, NO_FFMPEG, WAV, tmpDir } from '../data/helpers';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');
const README = path.resolve(__dirname, '../../../README.md');
const run = (args: string[]) =>
  spawnSync(process.execPath, ['--no-warnings', MAIN, ...args], {
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, SOCIAL_MAE_NUM_THREADS: '1' },
  });
/** A command run in this process (faster than a child where only the error matters). */
async function inProcess(mod: { command: Command<FlagSet>; run: (f: never, p: string[]) => Promise<void> }, argv: string[]): Promise<void> {
  const p = mod.command.parse(argv);
  if (p.help) throw new Error('unexpected --help');
  await mod.run(p.flags as never, p.positionals);
}
type Row = { id: string; label: string; probability: number; probabilities: Record<string, number> };

t.test('predict --checkpoint, the README snippet, convert and inspect on a bare checkpoint', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-ckpt-');
  t.teardown(cleanup);
  // A small finetuning model of the released input sizes (224 frames, 1024 fbank frames), saved as the
  // reference's scripts save it (DataParallel `module.` keys).
  torch.manualSeed(3);
  const src = new SocialMAEFT({ embedDim: 64, numHeads: 1, modalitySpecificDepth: 1, unifiedDepth: 1, labelDim: 3 });
  const pth = path.join(dir, 'ft.pth');
  const sd = src.stateDict();
  await io.save(new Map([...sd].map(([k, v]) => [`module.${k}`, v])), pth);
  torch.dispose(sd);
  src.dispose();

  const p = run(['predict', '--checkpoint', pth, '--labels', 'x,y,z', '--json', CLIP, LYING]);
  t.equal(p.status, 0, p.stderr);
  t.match(p.stderr, new RegExp(`predict: checkpoint ${pth.replace(/[.]/g, '\\.')} \\(Social-MAE finetuning model \\(labelDim 3, embedDim 64, depth 1\\+1`));
  const rows = JSON.parse(p.stdout) as Row[];
  t.same(
    rows.map((r) => r.id),
    [CLIP, LYING],
  );

  // The README's snippet, line for line (the test fails if the README stops using this path).
  const readme = fs.readFileSync(README, 'utf8');
  t.match(readme, "const ft = SocialMAEFT.fromStateDict(await io.load('social-mae-ft.pth'));");
  t.match(readme, "const { audio, video } = await data.clipFeatures('clip.mp4');");
  const ft = SocialMAEFT.fromStateDict(await io.load(pth));
  for (const [i, clip] of [CLIP, LYING].entries()) {
    const { audio, video } = await data.clipFeatures(clip, { onWarning: () => undefined });
    const logits = torch.noGrad(() => ft.eval().forward(audio, video, 'multimodal'));
    const probs = torch.tidy(() => logits.softmax(-1).toArray() as Float32Array);
    torch.dispose([audio, video, logits]);
    // The same float32 ops on the same batch of one; JSON prints the float32 results as doubles.
    const got = Object.values(rows[i]!.probabilities);
    t.ok(
      got.every((v, k) => Math.abs(v - probs[k]!) <= 1e-6),
      `${path.basename(clip)}: README ${JSON.stringify(Array.from(probs))} = predict ${JSON.stringify(got)}`,
    );
  }
  // an audio file: no video decoded, the audio-only mode reads what clipFeatures computes
  const wavRun = run(['predict', '--checkpoint', pth, '--mode', 'audioonly', '--json', WAV]);
  t.equal(wavRun.status, 0, wavRun.stderr);
  const wav = await data.clipFeatures(WAV);
  t.equal(wav.video, null, 'no video for an audio file');
  const wavProbs = torch.tidy(
    () =>
      torch
        .noGrad(() => ft.forward(wav.audio, null, 'audioonly'))
        .softmax(-1)
        .toArray() as Float32Array,
  );
  torch.dispose([wav.audio]);
  const wavGot = Object.values((JSON.parse(wavRun.stdout) as Row[])[0]!.probabilities);
  t.ok(
    wavGot.every((v, k) => Math.abs(v - wavProbs[k]!) <= 1e-6),
    `audio only: README path ${JSON.stringify(Array.from(wavProbs))} = predict ${JSON.stringify(wavGot)}`,
  );
  ft.dispose();

  const st = path.join(dir, 'ft.safetensors');
  const c1 = run(['convert', pth, st]);
  t.equal(c1.status, 0, c1.stderr);
  t.match(c1.stdout, /converted .*ft\.pth \(zip\) -> .*ft\.safetensors \(safetensors\): 78 tensors/);
  await t.rejects(inProcess(convert, [pth, st]), { code: 'ERR_USAGE', message: /exists \(--force to overwrite\)$/ }, 'an existing OUT is not overwritten');
  const back = path.join(dir, 'back.pth');
  t.equal(run(['convert', st, back]).status, 0);
  const a = await io.load(pth);
  const b = await io.load(back);
  t.same([...a.keys()], [...b.keys()], 'same keys in the same order');
  t.ok(
    [...a].every(([k, v]) => torch.tidy(() => v.equal(b.get(k)!))),
    'bit-identical tensors after .pth -> .safetensors -> .pth',
  );
  torch.dispose([a, b]);
  const ps = run(['predict', '--checkpoint', st, '--labels', 'x,y,z', '--json', CLIP, LYING]);
  t.equal(ps.status, 0, ps.stderr);
  t.same(JSON.parse(ps.stdout), rows, 'the .safetensors file predicts the same numbers');

  const ins = run(['inspect', st]);
  t.equal(ins.status, 0, ins.stderr);
  t.match(
    ins.stdout,
    'looks like: Social-MAE finetuning model (labelDim 3, embedDim 64, depth 1+1, numHeads 1, mlpRatio 4, patchSize 16, imgSize 224, nFrame 8, stride 2, audioLength 1024)',
  );

  await t.rejects(inProcess(predict, ['--checkpoint', pth, '--labels', 'x,y', CLIP]), {
    code: 'ERR_USAGE',
    message: /--labels names 2 classes, the checkpoint's head has 3/,
  });
  await t.rejects(inProcess(predict, ['--checkpoint', pth, '--run', dir, CLIP]), { code: 'ERR_USAGE', message: /give either --run DIR or --checkpoint FILE/ });
  const bad = path.join(dir, 'broken.mp4');
  fs.writeFileSync(bad, 'not a video');
  const skip = run(['predict', '--checkpoint', pth, '--on-bad-item', 'skip', '--json', CLIP, bad]);
  t.equal(skip.status, 0, skip.stderr);
  t.same(
    (JSON.parse(skip.stdout) as Row[]).map((r) => r.id),
    [CLIP],
    'the broken input is left out',
  );
  t.match(skip.stderr, /predict: 1 item\(s\) skipped in this pass \(--on-bad-item skip\): .*broken\.mp4/);
  t.match(skip.stderr, /predict: 1 of 2 inputs skipped/);
  const raise = run(['predict', '--checkpoint', pth, CLIP, bad]);
  t.equal(raise.status, 1, 'without skip a broken input fails the command');
  t.match(raise.stderr, /broken\.mp4/);
});
