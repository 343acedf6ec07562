/**
 * The downstream tasks end to end on real clips (tiny models, small recipe): regression manifests and
 * their errors, finetuning a regressor and a classifier with validation and a test set (eval.json,
 * metrics.jsonl, plots), the best epoch by validation loss, evaluation errors, and an audio-only dataset
 * in the 'missingaudioonly' mode.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch, data, train, SocialMAEFT } from '../../lib';
import { CLIP, LYING, WAV, tmpDir, NO_FFMPEG } from '../data/helpers';

const RECIPE: data.Recipe = { audio: { targetLength: 64 }, video: { fps: 2, duration: 1, size: 32, start: 'center' } };
const ENCODER = { imgSize: 32, audioLength: 64, nFrame: 2, embedDim: 32, numHeads: 2, modalitySpecificDepth: 1 } as const;
const quiet = { onWarning: () => undefined };

function clips(dir: string): void {
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
}

t.test('regression manifests: float columns are targets; missing or non-numeric targets name file, line, column', async (t) => {
  const { dir, cleanup } = tmpDir('smae-tasks-');
  t.teardown(cleanup);
  clips(dir);
  const w = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const src = await data.loadManifest(w('r.csv', 'video,extraversion,neuroticism,note\na.mp4,0.5,0.25,x\nb.mp4,0.75,1,y\n'));
  t.equal(src.task, 'regression', 'float columns make a regression manifest');
  t.same(src.labels!.names, ['extraversion', 'neuroticism'], 'named after the columns, in header order');
  t.same(
    src.items.map((i) => i.target),
    [
      [0.5, 0.25],
      [0.75, 1],
    ],
  );
  const one = await data.loadManifest(w('l.csv', 'video,label\na.mp4,0.5\nb.mp4,1\n'));
  t.equal(one.task, 'regression', 'a label column of fractions is one regression target');
  t.same(
    one.items.map((i) => i.target),
    [[0.5], [1]],
  );
  const ints = await data.loadManifest(w('c.csv', 'video,label\na.mp4,0\nb.mp4,1\n'));
  t.equal(ints.task, 'classification', 'integer labels stay class indices');
  await t.rejects(data.loadManifest(w('m.csv', 'video,extraversion,neuroticism\na.mp4,0.5,0.25\nb.mp4,0.75,\n')), {
    code: 'ERR_DATASET',
    message: /m\.csv:3: missing regression target in column "neuroticism"/,
  });
  await t.rejects(data.loadManifest(w('n.csv', 'video,extraversion\na.mp4,0.5\nb.mp4,high\n')), {
    code: 'ERR_DATASET',
    message: /n\.csv:3: regression target in column "extraversion" is not a number: "high"/,
  });
  await t.rejects(data.loadManifest(w('t.csv', 'video,target\na.mp4,0.5\nb.mp4,\n')), {
    code: 'ERR_DATASET',
    message: /t\.csv:3: missing regression target/,
  });
});

t.test('finetune a regressor with validation and test: eval.json, metrics.jsonl, plots', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-tasks-');
  t.teardown(cleanup);
  clips(dir);
  fs.writeFileSync(path.join(dir, 'r.csv'), 'video,extraversion,neuroticism\na.mp4,0.5,0.25\nb.mp4,0.75,0.9\na.mp4,0.5,0.25\n');
  const src = await data.loadManifest(path.join(dir, 'r.csv'));
  const mk = () => new data.DataLoader(src, { recipe: RECIPE, batchSize: 2, cacheDir: path.join(dir, 'cache'), ...quiet });
  const [tr, val, test] = [mk(), mk(), mk()];
  const live = torch.memory().liveTensors;
  torch.manualSeed(0);
  const model = new SocialMAEFT({ ...ENCODER, labelDim: 2 });
  const runDir = path.join(dir, 'run');
  const logs: string[] = [];
  const h = await train.finetune(model, tr, { epochs: 2, lr: 1e-3, headLr: 10, val, test, runDir, logEvery: 1, onLog: (l) => logs.push(l) });
  t.equal(h.length, 2);
  t.ok(
    h.every((r) => Number.isFinite(r.val!.loss) && Number.isFinite(r.val!.meanScore!) && 'score_extraversion' in r.val!),
    'regression metrics per epoch',
  );
  const cfg = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  t.equal(cfg.loss, 'MSE', 'MSE by default');
  t.equal(cfg.metric, 'loss', 'the best epoch is the lowest validation loss by default');
  const best = h.reduce((a, b) => (b.val!.loss < a.val!.loss ? b : a));
  const ev = JSON.parse(fs.readFileSync(path.join(runDir, 'eval.json'), 'utf8'));
  t.equal(ev.task, 'regression');
  t.equal(ev.items, 3);
  t.same(ev.names, ['extraversion', 'neuroticism']);
  t.match(ev.checkpoint, /best_audio_model\.pth$/);
  // the test set is the validation set here: the test loss is the best epoch's validation loss
  t.ok(Math.abs(ev.loss - best.val!.loss) <= 1e-5 * Math.max(1, best.val!.loss), `test loss ${ev.loss} = best val loss ${best.val!.loss} (float32 sums)`);
  const direct = train.regressionReport(
    ev.predictions.flatMap((p: { output: number[] }) => p.output),
    ev.predictions.flatMap((p: { target: number[] }) => p.target),
    ev.names,
  );
  t.ok(Math.abs(direct.meanScore - ev.metrics.meanScore) < 1e-12, 'meanScore is 1 - MAE averaged over the targets of the predictions');
  t.same(h.test!.metrics, ev.metrics, 'the returned report is the written one');
  const lines = fs
    .readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    lines.map((r) => r.type),
    ['step', 'step', 'epoch', 'step', 'step', 'epoch', 'test'],
    'one record per log step, per epoch, and the test',
  );
  t.ok(lines.filter((r) => r.type === 'step').every((r) => r.itemsPerSecond > 0 && Number.isFinite(r.train.loss)));
  for (const f of ['loss.svg', 'metrics.svg', 'lr.svg']) t.match(fs.readFileSync(path.join(runDir, 'plots', f), 'utf8'), /^<svg[^]*<\/svg>\n$/, f);
  t.notOk(fs.existsSync(path.join(runDir, 'plots', 'confusion.svg')), 'no confusion matrix for regression');
  t.ok(
    logs.some((l) => /^test \(best checkpoint, 3 items\): loss [\d.]+, meanScore/.test(l)),
    'the test line',
  );
  model.dispose();
  await Promise.all([tr.close(), val.close(), test.close()]);
  t.equal(torch.memory().liveTensors, live, 'no tensors left behind');
});

t.test('finetune a classifier: balanced accuracy, confusion matrices, eval.json; options checked', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-tasks-');
  t.teardown(cleanup);
  clips(dir);
  fs.writeFileSync(path.join(dir, 'm.csv'), 'video,label\na.mp4,happy\nb.mp4,sad\na.mp4,happy\n');
  const src = await data.loadManifest(path.join(dir, 'm.csv'));
  const mk = () => new data.DataLoader(src, { recipe: RECIPE, batchSize: 3, cacheDir: path.join(dir, 'cache'), ...quiet });
  const [tr, val] = [mk(), mk()];
  torch.manualSeed(0);
  const model = new SocialMAEFT({ ...ENCODER, labelDim: 2 });
  const runDir = path.join(dir, 'run');
  await t.rejects(train.finetune(model, tr, { epochs: 1, metric: 'meanScore', val }), { code: 'ERR_INVALID_ARG' }, 'a regression metric for classes');
  await t.rejects(train.finetune(model, tr, { epochs: 1, loss: 'MSE' }), { code: 'ERR_INVALID_ARG', message: /CE or BCE, got MSE/ });
  await t.rejects(train.finetune(model, tr, { epochs: 1, metric: 'nope' }), {
    code: 'ERR_INVALID_ARG',
    message: /metric for a classification task must be one of loss, acc, balancedAcc, macroF1, mAP, mAUC, rocAuc, got nope/,
  });
  const h = await train.finetune(model, tr, { epochs: 2, lr: 1e-3, val, test: val, runDir, metric: 'balancedAcc' });
  t.ok(h.every((r) => r.val!.balancedAcc! >= 0 && r.val!.balancedAcc! <= 1 && 'rocAuc' in r.val! && 'macroF1' in r.val!));
  const ev = JSON.parse(fs.readFileSync(path.join(runDir, 'eval.json'), 'utf8'));
  t.equal(
    ev.classification.confusion.flat().reduce((a: number, b: number) => a + b, 0),
    3,
    'the confusion matrix counts every item',
  );
  t.same(ev.names, ['happy', 'sad']);
  t.ok(ev.predictions.every((p: { predicted: string; label: string }) => ['happy', 'sad'].includes(p.predicted) && ['happy', 'sad'].includes(p.label)));
  for (const f of ['confusion.svg', 'confusion_test.svg']) t.match(fs.readFileSync(path.join(runDir, 'plots', f), 'utf8'), /<svg[^]*happy[^]*<\/svg>/, f);

  // evaluate: a label space of another size, an unlabelled set
  await t.rejects(train.evaluate(model, val, { task: 'classification', names: ['a', 'b', 'c'] }), {
    code: 'ERR_INVALID_ARG',
    message: /2 outputs, the label space 3/,
  });
  const unlabelled = new data.DataLoader([{ id: 'x', video: path.join(dir, 'a.mp4'), audio: path.join(dir, 'a.mp4'), audioFromVideo: true, origin: 'x' }], {
    recipe: RECIPE,
    ...quiet,
  });
  await t.rejects(train.evaluate(model, unlabelled, { task: 'classification', names: ['happy', 'sad'] }), {
    code: 'ERR_INVALID_ARG',
    message: /needs a label for every item/,
  });
  model.dispose();
  await Promise.all([tr.close(), val.close(), unlabelled.close()]);
});

t.test("an audio-only dataset finetunes and evaluates in 'missingaudioonly' and 'audioonly' modes", { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-tasks-');
  t.teardown(cleanup);
  fs.copyFileSync(WAV, path.join(dir, 'a.wav'));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'audio,label\na.wav,x\na.wav,y\n');
  const src = await data.loadManifest(path.join(dir, 'm.csv'));
  const loader = new data.DataLoader(src, { recipe: { audio: { targetLength: 64 }, video: false }, batchSize: 2, ...quiet });
  const model = new SocialMAEFT({ ...ENCODER, labelDim: 2 });
  for (const mode of ['missingaudioonly', 'audioonly'] as const) {
    const h = await train.finetune(model, loader, { epochs: 1, mode, val: loader });
    t.ok(Number.isFinite(h[0]!.val!.loss), mode);
  }
  model.dispose();
  await loader.close();
});
