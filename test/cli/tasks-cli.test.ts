/**
 * The downstream-task commands end to end (small preset, one epoch): finetune a regressor with --test and
 * --quiet, evaluate, predict the named targets, embed and retrieve; --help of each new command; bad input
 * (a missing target, a test set with an unseen class, --labels that do not fit the head) fails with one
 * line naming the problem and leaves nothing half-written.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { CLIP, LYING, tmpDir, NO_FFMPEG } from '../data/helpers';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');
const run = (cwd: string, args: string[]) =>
  spawnSync(process.execPath, ['--no-warnings', MAIN, ...args], { cwd, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });

t.test('--help of evaluate, embed, retrieve and the new finetune flags', async (t) => {
  for (const [cmd, flags] of [
    ['evaluate', ['--run DIR', '--checkpoint FILE', '--data DATA', '--out FILE', 'default: DIR/eval.json']],
    ['embed', ['--data DATA', '--out DIR', '--kinds K,...', 'default: audio,video,joint']],
    ['retrieve', ['--embeddings DIR', '--top N', 'default: 0']],
    ['finetune', ['--task classification|multilabel|regression', '--loss CE|BCE|MSE|L1', '--test DATA', '--quiet', '--metric']],
  ] as const) {
    const r = run('.', [cmd, '--help']);
    t.equal(r.status, 0, r.stderr);
    for (const f of flags) t.ok(r.stdout.includes(f), `${cmd} --help names ${f}`);
    t.match(r.stdout, /example/);
  }
  const bad = run('.', ['retrieve', '--embeddings', 'x', '--nope']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /unknown option --nope/);
});

t.test('regression: finetune --test --quiet, evaluate, predict, embed, retrieve; bad input', { skip: NO_FFMPEG, timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-tasks-cli-');
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'r.csv'), 'video,extraversion,neuroticism\na.mp4,0.5,0.25\nb.mp4,0.75,0.9\n');
  const common = ['--batch-size', '2', '--cache', 'cache'];

  fs.writeFileSync(path.join(dir, 'bad.csv'), 'video,extraversion,neuroticism\na.mp4,0.5,0.25\nb.mp4,0.75,high\n');
  const bad = run(dir, ['finetune', '--train', 'bad.csv', '--out', 'badrun', '--size', 'small', ...common]);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /bad\.csv:3: regression target in column "neuroticism" is not a number: "high"/);
  t.notOk(fs.existsSync(path.join(dir, 'badrun')), 'nothing written');

  const ft = run(dir, [
    'finetune',
    '--train',
    'r.csv',
    '--val',
    'r.csv',
    '--test',
    'r.csv',
    '--allow-overlap',
    '--out',
    'ft',
    '--size',
    'small',
    '--epochs',
    '1',
    '--quiet',
    ...common,
  ]);
  t.equal(ft.status, 0, ft.stderr);
  t.match(ft.stdout, /2 regression targets \(extraversion, neuroticism\)/);
  t.notMatch(ft.stdout, /epoch 1/, '--quiet: no progress lines');
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'ft', 'config.json'), 'utf8'));
  t.match(cfg, { labels: { task: 'regression', names: ['extraversion', 'neuroticism'] }, loss: 'MSE', metric: 'loss' });
  t.match(cfg.data.test, { spec: 'r.csv', items: Number, sha256: String }, 'config.json records the test source');
  const ev = JSON.parse(fs.readFileSync(path.join(dir, 'ft', 'eval.json'), 'utf8'));
  t.equal(ev.items, 2);
  t.ok(Number.isFinite(ev.metrics.meanScore));
  const types = fs
    .readFileSync(path.join(dir, 'ft', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).type);
  t.same(types, ['epoch', 'test'], 'log every 50 steps: one epoch record, then the test');
  t.ok(fs.existsSync(path.join(dir, 'ft', 'plots', 'loss.svg')));

  const e = run(dir, ['evaluate', '--run', 'ft', '--data', 'r.csv', '--out', 'ev/eval.json', ...common]);
  t.equal(e.status, 0, e.stderr);
  t.match(e.stdout, /extraversion: 1 - MAE -?[\d.]+, Pearson r/);
  const ev2 = JSON.parse(fs.readFileSync(path.join(dir, 'ev', 'eval.json'), 'utf8'));
  t.same(ev2.metrics, ev.metrics, 'evaluate gives what finetune --test gave (same checkpoint, same data)');

  const p = run(dir, ['predict', '--run', 'ft', '--json', 'a.mp4', ...common]);
  t.equal(p.status, 0, p.stderr);
  const rows = JSON.parse(p.stdout);
  t.same(Object.keys(rows[0].targets), ['extraversion', 'neuroticism'], 'predict prints the named targets');
  t.ok(Math.abs(rows[0].targets.extraversion - ev.predictions[0].output[0]) < 1e-5, 'the same output as the evaluation (batch of 1 vs 2)');

  const wrong = run(dir, ['evaluate', '--checkpoint', 'ft/models/best_audio_model.pth', '--labels', 'a,b,c', '--data', 'r.csv', ...common]);
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /--labels names 3 classes, the checkpoint's head has 2/);
  t.notOk(fs.existsSync(path.join(dir, 'eval.json')));

  const emb = run(dir, ['embed', '--run', 'ft', '--data', 'r.csv', '--out', 'emb', ...common]);
  t.equal(emb.status, 0, emb.stderr);
  t.match(emb.stdout, /2 clips x 192 \(audio, video, joint\)/);
  const r = run(dir, ['retrieve', '--embeddings', 'emb', '--top', '2', '--json']);
  t.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  t.equal(res.items, 2);
  t.equal(res.audioToVideo.R5, 1, 'two candidates: always within the top 5');
  t.same(
    res.topAudioToVideo.map((q: { query: string }) => q.query),
    ['a.mp4', 'b.mp4'],
  );
  t.ok(fs.existsSync(path.join(dir, 'emb', 'retrieval.json')));
  const byLabel = run(dir, ['retrieve', '--embeddings', 'emb', '--match', 'label']);
  t.not(byLabel.status, 0, 'regression targets are not classes');
  t.match(byLabel.stderr, /--match label needs class labels/);
});

t.test('finetune --test with a class the training set does not have: one line naming file and row', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-tasks-cli-');
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'train.csv'), 'video,label\na.mp4,happy\nb.mp4,sad\n');
  fs.writeFileSync(path.join(dir, 'test.csv'), 'video,label\na.mp4,happy\nb.mp4,angry\n');
  const r = run(dir, ['finetune', '--train', 'train.csv', '--test', 'test.csv', '--allow-overlap', '--out', 'ft', '--size', 'small']);
  t.equal(r.status, 1);
  t.match(r.stderr, /test\.csv:3: unknown label "angry" \(known: happy, sad\)/);
  t.notOk(fs.existsSync(path.join(dir, 'ft')), 'nothing written');
});
