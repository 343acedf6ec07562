/**
 * Training from the command line with separate splits and a bare checkpoint: validation equal to or
 * overlapping training is refused, --amp on the CPU is refused, `finetune --init FILE` takes the model
 * options from the file (no --size), a broken clip is skipped and summed up per pass, warnings come once
 * per kind, config.json records what reruns the run, and a directory left by an aborted attempt is refused.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { SocialMAE, io, torch } from '../../lib';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { CLIP, LYING, NO_FFMPEG, WAV, ffmpegSync, tmpDir } from '../data/helpers';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');
const run = (cwd: string, args: string[]) =>
  spawnSync(process.execPath, ['--no-warnings', MAIN, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, SOCIAL_MAE_NUM_THREADS: '1' },
  });

t.test('finetune from a bare checkpoint on disjoint splits', { skip: NO_FFMPEG, timeout: 300_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-splits-');
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  // two 2-second clips: shorter than the 4-second window, so each warns (once per run, not per epoch)
  for (const [name, hz] of [
    ['s1.mp4', 440],
    ['s2.mp4', 880],
  ] as const)
    ffmpegSync([
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=64x64:rate=10',
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=${hz}`,
      '-t',
      '2',
      '-c:v',
      'mpeg4',
      '-c:a',
      'aac',
      path.join(dir, name),
    ]);
  fs.writeFileSync(path.join(dir, 'broken.mp4'), 'not a video');
  fs.writeFileSync(path.join(dir, 'train.csv'), 'video,label\ns1.mp4,happy\ns2.mp4,sad\nbroken.mp4,sad\n');
  fs.writeFileSync(path.join(dir, 'val.csv'), 'video,label\na.mp4,happy\nb.mp4,sad\n');
  fs.writeFileSync(path.join(dir, 'leaky.csv'), 'video,label\na.mp4,happy\n./s2.mp4,sad\n');
  // a small pretraining checkpoint of the released input sizes, made with the model API
  torch.manualSeed(5);
  const pre = new SocialMAE({ embedDim: 64, numHeads: 1, modalitySpecificDepth: 1, unifiedDepth: 1, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 1 });
  const sd = pre.stateDict();
  await io.save(sd, path.join(dir, 'pre.pth'));
  torch.dispose(sd);
  pre.dispose();
  const base = ['finetune', '--train', 'train.csv', '--init', 'pre.pth', '--batch-size', '2', '--cache', 'cache'];

  const same = run(dir, [...base, '--val', 'train.csv', '--out', 'x']);
  t.equal(same.status, 1);
  t.match(same.stderr, /the --val set is the training set \(3 clips\) \(e\.g\. train\.csv:2\): give disjoint data \(or --allow-overlap/);
  const leaky = run(dir, [...base, '--val', 'leaky.csv', '--out', 'x']);
  t.equal(leaky.status, 1);
  t.match(leaky.stderr, /1 of 2 --val clips are training clips \(e\.g\. leaky\.csv:3\)/, 'another spelling of the same path is the same clip');
  const amp = run(dir, [...base, '--val', 'val.csv', '--out', 'x', '--amp', 'bf16']);
  t.equal(amp.status, 1);
  t.match(amp.stderr, /--amp bf16 needs --device cuda/);
  const size = run(dir, [...base, '--val', 'val.csv', '--out', 'x', '--size', 'full']);
  t.equal(size.status, 1);
  t.match(size.stderr, /--size full does not fit --init pre\.pth \(Social-MAE pretraining model \(embedDim 64/);
  t.notOk(fs.existsSync(path.join(dir, 'x')), 'nothing written by refused runs');

  const ft = run(dir, [...base, '--val', 'val.csv', '--out', 'ft', '--epochs', '2', '--on-bad-item', 'skip', '--seed', '7']);
  t.equal(ft.status, 0, ft.stderr);
  t.match(ft.stdout, /social-mae finetune: checkpoint-sized model on cpu, 2 classes \(happy, sad\), 3 training items, 2 validation items/);
  t.match(ft.stdout, /initialised from pre\.pth: \d+ loaded, \d+ unused, fresh: mlp_head/);
  const skips = ft.stdout.match(/train: 1 item\(s\) skipped in this pass \(--on-bad-item skip\): train\.csv:4: .*broken\.mp4/g) ?? [];
  t.equal(skips.length, 2, 'the broken clip is summed up after each of the 2 epochs');
  const short = ft.stdout.split('\n').filter((l) => /short clip/.test(l));
  t.equal(short.length, 1, `one line for the short-clip warnings of 2 items over 2 epochs:\n${short.join('\n')}`);
  t.match(short[0], /^train: warning \(2 items\): train\.csv:\d: short clip/);
  t.match(ft.stdout, /epoch 2 done/);

  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'ft', 'config.json'), 'utf8'));
  t.match(cfg, {
    epochs: 2,
    batchSize: 2,
    seed: 7,
    device: 'cpu',
    onBadItem: 'skip',
    size: null,
    model: { embedDim: 64, numHeads: 1, modalitySpecificDepth: 1, unifiedDepth: 1, labelDim: 2, imgSize: 224, nFrame: 8 },
    init: { path: path.join(fs.realpathSync(dir), 'pre.pth'), bytes: fs.statSync(path.join(dir, 'pre.pth')).size, sha256: /^[0-9a-f]{64}$/ },
    data: {
      train: { spec: 'train.csv', kind: 'csv', partition: null, items: 3, sha256: /^[0-9a-f]{64}$/ },
      val: { spec: 'val.csv', kind: 'csv', items: 2, mediaBytes: fs.statSync(CLIP).size + fs.statSync(LYING).size },
    },
    versions: { socialMae: /^\d+\.\d+\.\d+/, libtorch: /^\d+\.\d+/, node: process.version },
  });

  const predicted = run(dir, ['predict', '--run', 'ft', 'val.csv']);
  t.equal(predicted.status, 0, predicted.stderr);
  t.match(predicted.stderr, /predict: checkpoint ft\/models\/best_audio_model\.pth \(best epoch\)/, 'predict says which checkpoint');
  t.match(predicted.stdout, /accuracy [\d.]+, mAP [\d.]+, mAUC [\d.na/]+ over 2 items/);

  // An audio-only dataset trains in an audio-only mode: no video is decoded.
  fs.copyFileSync(WAV, path.join(dir, 'w1.wav'));
  ffmpegSync(['-f', 'lavfi', '-i', 'sine=frequency=300', '-t', '3', '-ar', '16000', path.join(dir, 'w2.wav')]);
  fs.writeFileSync(path.join(dir, 'audio.csv'), 'audio,label\nw1.wav,happy\nw2.wav,sad\n');
  const audioOnly = run(dir, ['finetune', '--train', 'audio.csv', '--init', 'pre.pth', '--mode', 'audioonly', '--out', 'fa', '--batch-size', '2']);
  t.equal(audioOnly.status, 0, audioOnly.stderr);
  t.match(audioOnly.stdout, /epoch 1 done .*train loss [\d.]+/);

  // A directory left by an aborted attempt (config.json, no finished epoch) is not reused.
  fs.mkdirSync(path.join(dir, 'aborted'));
  fs.writeFileSync(path.join(dir, 'aborted', 'config.json'), '{}');
  const reuse = run(dir, [...base, '--val', 'val.csv', '--out', 'aborted', '--on-bad-item', 'skip']);
  t.equal(reuse.status, 1);
  t.match(reuse.stderr, /aborted already holds a run \(started, no epoch finished\): resume it or use another directory/);
});
