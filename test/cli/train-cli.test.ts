/** social-mae pretrain -> finetune -> predict on the bundled-size recipe with the small preset. */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { CLIP, LYING, tmpDir, NO_FFMPEG } from '../data/helpers';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');
const run = (cwd: string, args: string[]) =>
  spawnSync(process.execPath, ['--no-warnings', MAIN, ...args], { cwd, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });

t.test('pretrain, finetune from it, predict with the finetune run', { skip: NO_FFMPEG, timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-cli-');
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'video,label\na.mp4,happy\nb.mp4,sad\n');
  const common = ['--size', 'small', '--batch-size', '2', '--cache', 'cache'];

  const pre = run(dir, ['pretrain', '--train', 'm.csv', '--out', 'pre', '--noise', '--epochs', '1', ...common]);
  t.equal(pre.status, 0, pre.stderr);
  t.match(pre.stdout, /social-mae pretrain: small model \([\d,]+ parameters\) on cpu, 2 training items/);
  t.match(pre.stdout, /epoch 1 done in [\d.]+ s: train loss [\d.]+, lossMae/);
  t.ok(fs.existsSync(path.join(dir, 'pre', 'models', 'best_audio_model.pth')));
  t.match(JSON.parse(fs.readFileSync(path.join(dir, 'pre', 'config.json'), 'utf8')), { noise: true, size: 'small' }, '--noise is a flag, --epochs still read');

  const ft = run(dir, [
    'finetune',
    '--train',
    'm.csv',
    '--val',
    'm.csv',
    '--allow-overlap',
    '--out',
    'ft',
    '--init',
    'pre/models/best_audio_model.pth',
    '--epochs',
    '1',
    '--freqm',
    '48',
    '--timem',
    '192',
    '--label-smooth',
    '0.1',
    '--mixup',
    '0.5',
    ...common,
  ]);
  t.equal(ft.status, 0, ft.stderr);
  t.match(ft.stdout, /2 classes \(happy, sad\)/);
  t.match(ft.stdout, /WARNING: the --val set is the training set \(2 clips\) \(e\.g\. m\.csv:2\); --val metrics are measured partly on training data/);
  t.match(ft.stdout, /initialised from pre\/models\/best_audio_model\.pth: \d+ loaded, \d+ unused, fresh: mlp_head\.0\.weight/);
  t.match(ft.stdout, /epoch 1 done .* val loss [\d.]+, acc [\d.]+, mAP [\d.]+/);

  const files = run(dir, ['predict', '--run', 'ft', '--json', 'a.mp4', 'b.mp4']);
  t.equal(files.status, 0, files.stderr);
  const rows = JSON.parse(files.stdout) as { id: string; label: string; probability: number; probabilities: Record<string, number> }[];
  t.same(
    rows.map((r) => r.id),
    ['a.mp4', 'b.mp4'],
  );
  for (const r of rows) {
    t.ok(['happy', 'sad'].includes(r.label));
    t.ok(Math.abs(r.probabilities.happy! + r.probabilities.sad! - 1) < 1e-6, 'softmax probabilities sum to 1');
    t.equal(r.probability, Math.max(r.probabilities.happy!, r.probabilities.sad!));
  }
  const labelled = run(dir, ['predict', '--run', 'ft', 'm.csv']);
  t.equal(labelled.status, 0, labelled.stderr);
  t.match(labelled.stdout, /accuracy [\d.]+, mAP [\d.]+, mAUC [\d.na/]+ over 2 items/);

  const again = run(dir, ['pretrain', '--train', 'm.csv', '--out', 'pre', '--epochs', '1', ...common]);
  t.equal(again.status, 1);
  t.match(again.stderr, /already holds a run \(up to epoch 1\).*\[ERR_BAD_STATE\]/);
  const typo = run(dir, ['finetune', '--train', 'm.csv', '--out', 'x', '--epoch', '3']);
  t.equal(typo.status, 1);
  t.match(typo.stderr, /unknown option --epoch \(did you mean --epochs\?\) \[ERR_USAGE\]/);
  const badValue = run(dir, ['pretrain', '--train', 'm.csv', '--out', 'z', '--epochs', 'abc']);
  t.equal(badValue.status, 1);
  t.match(badValue.stderr, /--epochs expects an integer, got 'abc'/);
  t.notMatch(badValue.stdout, /parameters/, 'flags are checked before any model is built');
  // not a wall-clock bound (load stretches it): a CLI that got past the flags into training would be
  // killed at the child limit instead of exiting by itself
  t.equal(badValue.signal, null, 'exits by itself');
  const stray = run(dir, ['pretrain', '--train', 'm.csv', '--out', 'y', '--resume', 'yes']);
  t.equal(stray.status, 1);
  t.match(stray.stderr, /unexpected argument 'yes'/, '--resume takes no value');
  const wrongRun = run(dir, ['predict', '--run', 'pre', 'a.mp4']);
  t.equal(wrongRun.status, 1);
  t.match(wrongRun.stderr, /pre is a pretrain run; predict needs a finetune run/);
  const noRun = run(dir, ['predict', '--run', 'nowhere', 'a.mp4']);
  t.equal(noRun.status, 1);
  t.match(noRun.stderr, /nowhere\/config\.json/);
});
