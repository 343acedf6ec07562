/**
 * pretrain / finetune end to end on real clips (tiny models, small recipe): run directory in the
 * reference's layout, checkpoints PyTorch-style, resume, label smoothing / SpecAugment / head lr, metrics,
 * errors, and no tensors left behind.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch, io, data, optim, train, SocialMAE, SocialMAEFT, models, Tensor } from '../../lib';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { CLIP, LYING, tmpDir, NO_FFMPEG, referencePython } from '../data/helpers';

const RECIPE: data.Recipe = { audio: { targetLength: 64 }, video: { fps: 2, duration: 1, size: 32, start: 'center' } };
const ENCODER = { imgSize: 32, audioLength: 64, nFrame: 2, embedDim: 32, numHeads: 2, modalitySpecificDepth: 1 } as const;
const DECODER = { decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 } as const;
const quiet = { onWarning: () => undefined };

async function dataset(dir: string): Promise<data.DataSource> {
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'video,label\na.mp4,happy\nb.mp4,sad\na.mp4,happy\n');
  return data.loadManifest(path.join(dir, 'm.csv'));
}

t.test('pretrain: epochs, checkpoints in the reference layout, resume, refusals', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-train-');
  t.teardown(cleanup);
  const src = await dataset(dir);
  const loader = new data.DataLoader(src, { recipe: RECIPE, batchSize: 2, cacheDir: path.join(dir, 'cache'), ...quiet });
  const live = torch.memory().liveTensors;
  torch.manualSeed(1);
  const mae = new SocialMAE({ ...ENCODER, ...DECODER });
  const runDir = path.join(dir, 'run');
  const logs: string[] = [];
  const schedule = { start: 1, step: 1, decay: 0.5 };
  const h = await train.pretrain(mae, loader, { epochs: 2, lr: 1e-3, runDir, schedule, logEvery: 1, onLog: (l) => logs.push(l) });
  t.equal(h.length, 2);
  t.same(
    h.map((r) => [r.epoch, r.globalStep]),
    [
      [1, 2],
      [2, 4],
    ],
    '3 items in batches of 2: 2 steps per epoch',
  );
  t.same(
    h.map((r) => r.lr[0]),
    [1e-3, 5e-4],
    'MultiStepLR halves after epoch 1',
  );
  for (const r of h)
    t.ok(
      ['loss', 'lossMae', 'lossMaeA', 'lossMaeV', 'lossC', 'cAcc'].every((k) => Number.isFinite(r.train[k])),
      `epoch ${r.epoch} losses finite`,
    );
  t.ok(
    logs.some((l) => /^epoch 1 step 1 \(global 1\): loss [\d.]+/.test(l)),
    logs[0],
  );
  // the loader's throughput per epoch: 3 clips (padded batches count items delivered), CPU time spent
  for (const r of h) {
    t.equal(r.input?.clips, 3, `epoch ${r.epoch}: the input record counts the epoch's clips`);
    t.ok(r.input!.cpuSecondsPerClip > 0 && r.input!.clipsPerSecond > 0, `epoch ${r.epoch}: CPU per clip and rate measured`);
    t.ok(r.input!.inputBound >= 0 && r.input!.inputBound <= 1, `epoch ${r.epoch}: inputBound is a fraction`);
  }
  t.equal(h[1]!.input!.cacheHits.audio, 3, 'epoch 2 reads the audio features from the cache');
  t.ok(
    logs.some((l) => /^epoch 2 input [\d.]+ clips\/s, [\d.]+ CPU-s\/clip, cache hits 3 audio/.test(l)),
    logs.join('\n'),
  );
  const files = fs.readdirSync(path.join(runDir, 'models')).sort();
  t.same(files, [
    'audio_model.1.pth',
    'audio_model.2.pth',
    'best_audio_model.pth',
    'best_optim_state.pth',
    'optim_state.1.pth',
    'optim_state.2.pth',
    'trainer_state.1.pth',
    'trainer_state.2.pth',
  ]);
  const progress = JSON.parse(fs.readFileSync(path.join(runDir, 'progress.json'), 'utf8'));
  t.same(
    progress.map((r: { epoch: number }) => r.epoch),
    [1, 2],
  );

  // the saved model is the model after epoch 2, with DataParallel keys; the optimizer state is PyTorch's
  const sd = (await io.load(path.join(runDir, 'models', 'audio_model.2.pth'))) as Map<string, Tensor>;
  const own = mae.stateDict();
  t.equal(sd.size, own.size);
  t.ok(
    [...own].every(([k, v]) => torch.tidy(() => sd.get(`module.${k}`)!.equal(v))),
    'module.-prefixed copy of the state dict',
  );
  torch.dispose(sd);
  torch.dispose(own);
  const osd = (await io.load(path.join(runDir, 'models', 'optim_state.2.pth'))) as Map<string, unknown>;
  const groups = osd.get('param_groups') as Map<string, unknown>[];
  t.equal(groups.length, 1);
  t.equal(groups[0]!.get('lr'), 2.5e-4, 'saved after the epoch-2 schedule step (next epoch lr)');
  t.same(groups[0]!.get('betas'), [0.95, 0.999]);
  t.equal(groups[0]!.get('weight_decay'), 5e-7);
  const state = osd.get('state') as Map<number, Map<string, Tensor>>;
  t.equal(
    torch.tidy(() => state.get(0)!.get('step')!.item()),
    4,
    'four Adam steps',
  );
  torch.dispose(osd);

  // PyTorch reads the run directory: the model as a DataParallel state dict, the optimizer state into
  // a torch.optim.Adam over parameters of the same shapes, the trainer state as plain values
  const py = referencePython();
  if (py) {
    const script = [
      'import sys, torch',
      'd = sys.argv[1]',
      "sd = torch.load(d + '/audio_model.2.pth')",
      'ps = [torch.nn.Parameter(v.clone()) for v in sd.values() if v.dtype == torch.float32]',
      'opt = torch.optim.Adam(ps, lr=1.0)',
      "opt.load_state_dict(torch.load(d + '/optim_state.2.pth'))",
      "ts = torch.load(d + '/trainer_state.2.pth')",
      "print(len(sd), all(k.startswith('module.') for k in sd), opt.param_groups[0]['lr'], int(opt.state[ps[0]]['step']), ts['epoch'], ts['global_step'])",
    ].join('\n');
    const r = spawnSync(py, ['-c', script, path.join(runDir, 'models')], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
    t.equal(r.stdout.trim(), `${mae.namedParameters().length + mae.namedBuffers().length} True 0.00025 4 2 4`, r.stderr);
  }

  await t.rejects(
    train.pretrain(mae, loader, { epochs: 3, runDir, schedule }),
    { code: 'ERR_BAD_STATE', message: /already holds a run \(up to epoch 2\)/ },
    'no silent overwrite',
  );
  await t.rejects(train.pretrain(mae, loader, { epochs: 3, runDir, schedule, resume: true, lr: 5e-3 }), {
    code: 'ERR_BAD_STATE',
    message: /config\.json describes another run/,
  });

  // resume into a fresh model: continues at epoch 3 with the restored step count and lr
  const again = new SocialMAE({ ...ENCODER, ...DECODER });
  const h3 = await train.pretrain(again, loader, { epochs: 3, lr: 1e-3, runDir, schedule, resume: true, onLog: (l) => logs.push(l) });
  t.same(
    h3.map((r) => [r.epoch, r.globalStep]),
    [
      [1, 2],
      [2, 4],
      [3, 6],
    ],
  );
  t.equal(h3[2]!.lr[0], 2.5e-4);
  t.ok(logs.some((l) => /resumed .* after epoch 2 \(step 4\)/.test(l)));

  // an abort between steps stops the run; the unfinished epoch is not saved
  const ac = new AbortController();
  const stopped = path.join(dir, 'stopped');
  await t.rejects(train.pretrain(mae, loader, { epochs: 2, runDir: stopped, signal: ac.signal, logEvery: 1, onLog: () => ac.abort(new Error('stop now')) }), {
    message: 'stop now',
  });
  t.same(fs.readdirSync(path.join(stopped, 'models')), [], 'nothing saved for the aborted epoch');
  await t.rejects(
    train.pretrain(mae, loader, { epochs: 2, runDir: stopped }),
    { code: 'ERR_BAD_STATE', message: /already holds a run \(started, no epoch finished\)/ },
    'a started run is not overwritten either',
  );

  await t.rejects(train.pretrain(mae, loader, { epochs: 0 }), { code: 'ERR_INVALID_ARG', message: /epochs must be an integer >= 1, got 0/ });
  await t.rejects(train.pretrain(mae, loader, { epochs: 1, amp: 'fp8' as 'bf16' }), { code: 'ERR_INVALID_ARG', message: /amp/ });
  const audioOnly = new data.DataLoader(src, { recipe: { audio: RECIPE.audio, video: false }, batchSize: 2, ...quiet });
  await t.rejects(train.pretrain(mae, audioOnly, { epochs: 1 }), { code: 'ERR_INVALID_ARG', message: /need audio and video/ });
  mae.dispose();
  again.dispose();
  t.equal(torch.memory().liveTensors, live, 'no tensors left');
});

t.test('finetune: head lr group, smoothing, SpecAugment, metrics, best epoch, predictions', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-ft-');
  t.teardown(cleanup);
  const src = await dataset(dir);
  t.same(src.labels!.names, ['happy', 'sad']);
  const loader = new data.DataLoader(src, { recipe: RECIPE, batchSize: 2, cacheDir: path.join(dir, 'cache'), ...quiet });
  const live = torch.memory().liveTensors;
  torch.manualSeed(2);
  const ft = new SocialMAEFT({ ...ENCODER, labelDim: 2 });
  const runDir = path.join(dir, 'ft');
  const h = await train.finetune(ft, loader, { epochs: 3, val: loader, runDir, lr: 1e-4, headLr: 10, labelSmooth: 0.1, freqm: 8, timem: 16, noise: true });
  t.equal(h.length, 3);
  for (const r of h) {
    t.ok(r.val && ['loss', 'acc', 'mAP', 'mAUC'].every((k) => Number.isFinite(r.val![k]) && r.val![k]! >= 0), `epoch ${r.epoch}: ${JSON.stringify(r.val)}`);
    t.ok(r.val!.acc <= 1 && r.val!.mAP <= 1);
    t.same(r.lr, [1e-4, 1e-3], 'base group at lr, head at lr * headLr (the first default milestone is epoch 10)');
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  t.match(cfg, { task: 'finetune', loss: 'CE', metric: 'acc', labelSmooth: 0.1, freqm: 8, timem: 16, noise: true, headLr: 10 });
  const bestEpoch = h.reduce((b, r) => (r.val!.acc > b.val!.acc ? r : b), h[0]!).epoch;
  const best = (await io.load(path.join(runDir, 'models', 'best_audio_model.pth'))) as Map<string, Tensor>;
  const atBest = (await io.load(path.join(runDir, 'models', `audio_model.${bestEpoch}.pth`))) as Map<string, Tensor>;
  t.ok(
    [...best].every(([k, v]) => torch.tidy(() => atBest.get(k)!.equal(v))),
    `best_audio_model.pth is epoch ${bestEpoch} (first with the highest accuracy)`,
  );
  torch.dispose(best);
  torch.dispose(atBest);

  // predictions of the trained model agree with the metrics of the last epoch
  const p = await train.predictScores(ft, loader);
  t.same(p.ids, ['a.mp4', 'b.mp4', 'a.mp4']);
  t.equal(p.scores.length, 6);
  t.same(Array.from(p.targets), [1, 0, 0, 1, 1, 0]);
  const stats = train.classificationStats(p.scores, p.targets, 2);
  t.equal(stats.acc, h[2]!.val!.acc);

  // head only: the encoder does not move
  const frozen = new SocialMAEFT({ ...ENCODER, labelDim: 2 });
  const before = torch.keep(frozen.blocks_a[0]!.attn.qkv.weight.clone());
  const headBefore = torch.keep((frozen.mlp_head.at(1) as unknown as { weight: Tensor }).weight.clone());
  await train.finetune(frozen, loader, { epochs: 1, freezeBase: true, lr: 1e-2, headLr: 1, runDir: path.join(dir, 'frozen') });
  t.ok(fs.existsSync(path.join(dir, 'frozen', 'models', 'best_audio_model.pth')), 'without validation the best epoch is the lowest training loss');
  t.ok(
    torch.tidy(() => frozen.blocks_a[0]!.attn.qkv.weight.equal(before)),
    'frozen encoder unchanged',
  );
  t.notOk(
    torch.tidy(() => (frozen.mlp_head.at(1) as unknown as { weight: Tensor }).weight.equal(headBefore)),
    'head trained',
  );
  torch.dispose([before, headBefore]);

  // mixup batches carry float label rows; BCE and CE both train on them
  const mixLoader = new data.DataLoader(src, { recipe: RECIPE, batchSize: 3, mixup: 1, seed: 5, ...quiet });
  for (const loss of ['BCE', 'CE'] as const) {
    const r = await train.finetune(ft, mixLoader, { epochs: 1, loss });
    t.ok(Number.isFinite(r[0]!.train.loss), `${loss} on mixed labels: ${r[0]!.train.loss}`);
  }

  await t.rejects(train.finetune(ft, loader, { epochs: 1, labelSmooth: 1 }), { code: 'ERR_INVALID_ARG', message: /labelSmooth/ });
  const unlabelled = new data.DataLoader(
    src.items.map(({ label: _l, ...it }) => it),
    { recipe: RECIPE, batchSize: 2, ...quiet },
  );
  await t.rejects(train.finetune(ft, unlabelled, { epochs: 1 }), { code: 'ERR_INVALID_ARG', message: /need labels/ });
  ft.dispose();
  frozen.dispose();
  t.equal(torch.memory().liveTensors, live, 'no tensors left');
});

t.test('finetune: each mode reads the inputs models.FT_MODE_INPUTS names, and only those', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-modes-');
  t.teardown(cleanup);
  const src = await dataset(dir);
  const live = torch.memory().liveTensors;
  const cacheDir = path.join(dir, 'cache');
  const audioOnly = new data.DataLoader(src, { recipe: { audio: RECIPE.audio, video: false }, batchSize: 3, cacheDir, ...quiet });
  const videoOnly = new data.DataLoader(src, { recipe: { audio: false, video: RECIPE.video }, batchSize: 3, cacheDir, ...quiet });
  const ft = new SocialMAEFT({ ...ENCODER, labelDim: 2 });
  for (const mode of models.FT_MODES) {
    const need = models.modeInputs(mode);
    for (const [loader, has] of [
      [audioOnly, 'audio'],
      [videoOnly, 'video'],
    ] as const) {
      if (need.audio === (has === 'audio') && need.video === (has === 'video')) {
        const r = await train.finetune(ft, loader, { epochs: 1, mode });
        t.ok(Number.isFinite(r[0]!.train.loss), `${mode} trains on ${has} alone: ${r[0]!.train.loss}`);
        const p = await train.predictScores(ft, loader, { mode });
        t.equal(p.scores.length, 6, `${mode} predicts from ${has} alone`);
      } else {
        await t.rejects(
          train.finetune(ft, loader, { epochs: 1, mode }),
          { code: 'ERR_INVALID_ARG', message: new RegExp(`mode '${mode}' needs .*${has === 'audio' ? 'video' : 'audio'}`) },
          `${mode} refuses ${has} alone`,
        );
      }
    }
  }
  t.same(models.modeInputs('missingaudioonly'), { audio: true, video: false }, 'missingaudioonly: the audio is what is given');
  t.throws(() => models.modeInputs('both' as models.FTMode), { code: 'ERR_INVALID_ARG', message: /'mode' expected one of multimodal, audioonly/ });
  ft.dispose();
  t.equal(torch.memory().liveTensors, live, 'no tensors left');
});

t.test('a finetuning model initialised from a pretraining run directory', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-chain-');
  t.teardown(cleanup);
  const src = await dataset(dir);
  const loader = new data.DataLoader(src, { recipe: RECIPE, batchSize: 3, ...quiet });
  const live = torch.memory().liveTensors;
  const mae = new SocialMAE({ ...ENCODER, ...DECODER });
  const adamw = new optim.AdamW(mae.parameters(), { lr: 1e-3 });
  await train.pretrain(mae, loader, { epochs: 1, runDir: path.join(dir, 'pre'), optimizer: adamw, noise: true });
  const st = adamw.stateDict();
  t.equal(
    torch.tidy(() => (st.state.get(0)!.step as Tensor).item()),
    1,
    'a caller-supplied optimizer is used and left alive',
  );
  torch.dispose(st);
  adamw.dispose();
  t.match(JSON.parse(fs.readFileSync(path.join(dir, 'pre', 'config.json'), 'utf8')), { optimizer: 'AdamW', noise: true });
  const ft = new SocialMAEFT({ ...ENCODER, labelDim: 2 });
  const sd = (await io.load(path.join(dir, 'pre', 'models', 'best_audio_model.pth'))) as Map<string, Tensor>;
  const r = models.initFinetuneFromPretrain(ft, sd);
  torch.dispose(sd);
  t.same(r.missing, ['mlp_head.0.weight', 'mlp_head.0.bias', 'mlp_head.1.weight', 'mlp_head.1.bias']);
  t.ok(
    r.unused.every((k) => k.startsWith('decoder') || k.startsWith('mask_token') || k.startsWith('pos_embed_v_decoder') || /decoder/.test(k)),
    'only decoder keys unused',
  );
  t.ok(
    torch.tidy(() => ft.blocks_v[0]!.mlp.fc1.weight.equal(mae.blocks_v[0]!.mlp.fc1.weight)),
    'encoder weights carried over',
  );
  mae.dispose();
  ft.dispose();
  t.equal(torch.memory().liveTensors, live, 'no tensors left (run directory, caller-supplied optimizer, FT init)');
});
