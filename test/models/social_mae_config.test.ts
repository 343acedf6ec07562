/** Schema and options: full-size keys/order/shapes/counts, option validation, seeded init = reference. */
import t from 'tap';
import { torch } from '../../lib/tensor';
import { SocialMAE, SocialMAEFT } from '../../lib/models';
import { TINY_DECODER, TINY_ENCODER, absErr, disposeMap, loadPt, readJson } from './helpers';

function schema(m: { stateDict(prefix?: string): Map<string, import('../../lib/tensor').Tensor> }): Record<string, number[]> {
  const sd = m.stateDict('module');
  const out: Record<string, number[]> = {};
  for (const [k, v] of sd) out[k] = v.shape;
  torch.dispose(sd);
  return out;
}

t.test('new SocialMAE() has the reference keys, order, shapes and parameter count', async (t) => {
  const before = torch.memory().liveTensors;
  const m = new SocialMAE();
  const man = readJson<Record<string, number[]>>('manifest_socialmae_pretrain_full.json');
  const counts = readJson('manifest_param_counts.json')['SocialMAE(n_frame=8, stride=2, tr_pos=True)'];
  const s = schema(m);
  t.same(Object.keys(s), Object.keys(man), 'keys in the same order');
  t.same(s, man, 'shapes');
  t.equal(Object.keys(s).length, counts.state_dict_entries);
  t.equal(m.numParameters(), counts.num_params);
  t.equal(m.numParameters({ trainableOnly: true }), counts.num_trainable_params);
  m.dispose();
  t.equal(torch.memory().liveTensors, before, 'no tensors left');
});

t.test('new SocialMAEFT({ labelDim: 6 }) has the reference keys, order, shapes and parameter count', async (t) => {
  const m = new SocialMAEFT({ labelDim: 6 });
  const man = readJson<Record<string, number[]>>('manifest_socialmaeft_full.json');
  const counts = readJson('manifest_param_counts.json')['SocialMAEFT(label_dim=6, n_frame=8)'];
  const s = schema(m);
  t.same(Object.keys(s), Object.keys(man), 'keys in the same order');
  t.same(s, man, 'shapes');
  t.equal(m.numParameters(), counts.num_params);
  t.equal(m.config.numPatchesA, 512);
  t.equal(m.config.numPatchesV, 784);
  m.dispose();
});

t.test('trPos: false freezes the four positional embeddings', async (t) => {
  const m = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, trPos: false });
  const frozen = m
    .namedParameters()
    .filter(([, p]) => !p.requiresGrad)
    .map(([k]) => k);
  t.same(frozen, ['pos_embed_a', 'pos_embed_v', 'decoder_pos_embed_a', 'decoder_pos_embed_v']);
  m.dispose();
});

t.test('seeded construction draws the same initial weights as the reference', async (t) => {
  // The fixture weights (not biases/norms/tokens, which were perturbed) are the reference's random init.
  const ftSd = await loadPt('ft_state_dict.pt');
  torch.manualSeed(20240611);
  const ft = new SocialMAEFT({ labelDim: 6, ...TINY_ENCODER, compat: 'reference' });
  let worst = 0,
    n = 0;
  for (const [k, p] of ft.namedParameters()) {
    if (k.endsWith('weight') && p.ndim >= 2) {
      worst = Math.max(worst, absErr(p, ftSd.get(`module.${k}`)!));
      n++;
    }
  }
  t.equal(n, 95);
  t.equal(worst, 0, 'finetune Linear/conv weights identical');
  const ptSd = await loadPt('pretrain_state_dict.pt');
  torch.manualSeed(20240611 + 2);
  const pt = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, compat: 'reference' });
  worst = 0;
  for (const [k, p] of pt.namedParameters()) if (k.endsWith('weight') && p.ndim >= 2) worst = Math.max(worst, absErr(p, ptSd.get(`module.${k}`)!));
  t.equal(worst, 0, 'pretrain Linear/conv weights identical');
  ft.dispose();
  pt.dispose();
  disposeMap(ftSd);
  disposeMap(ptSd);
});

t.test('option validation', async (t) => {
  const code = (fn: () => unknown, c: string, re: RegExp, msg: string) => t.throws(fn, { code: c, message: re }, msg);
  code(() => new SocialMAEFT(undefined as never), 'ERR_INVALID_ARG', /labelDim/, 'FT needs options');
  code(() => new SocialMAEFT({} as never), 'ERR_INVALID_ARG', /labelDim/, 'labelDim required');
  code(() => new SocialMAEFT({ labelDim: 0 }), 'ERR_INVALID_ARG', /labelDim/, 'labelDim >= 1');
  code(() => new SocialMAEFT({ labelDim: 2, label_dim: 2 } as never), 'ERR_INVALID_ARG', /label_dim.*no such option/, 'unknown option');
  code(() => new SocialMAE({ embedDim: 1.5 }), 'ERR_INVALID_ARG', /embedDim/, 'integer dims');
  code(() => new SocialMAE({ ...TINY_ENCODER, audioLength: 72 }), 'ERR_CONFIG', /audioLength \(72\).*multiple of patchSize/, 'audio length % 16');
  code(() => new SocialMAE({ ...TINY_ENCODER, numHeads: 5 }), 'ERR_CONFIG', /divisible by numHeads/, 'heads divide dim');
  code(() => new SocialMAE({ ...TINY_ENCODER, decoderEmbedDim: 30, decoderNumHeads: 3 }), 'ERR_CONFIG', /decoderEmbedDim/, 'decoder dim');
  code(() => new SocialMAE({ ...TINY_ENCODER, nFrame: 7 }), 'ERR_CONFIG', /nFrame \(7\).*stride/, 'frames % stride');
  code(() => new SocialMAE({ ...TINY_ENCODER, imgSize: 40 }), 'ERR_CONFIG', /imgSize/, 'image % patch');
  code(() => new SocialMAE({ ...TINY_ENCODER, compat: 'pytorch' as never }), 'ERR_INVALID_ARG', /compat/, 'compat value');
  code(
    () => new SocialMAE({ ...TINY_ENCODER, nFrame: 4, compat: 'reference' }),
    'ERR_CONFIG',
    /perfect square/,
    'reference pos-embed init needs a square video token count (2x2x2 = 8)',
  );
  code(
    () => new SocialMAE({ ...TINY_ENCODER, modalitySpecificDepth: 12, compat: 'reference' }),
    'ERR_CONFIG',
    /unified block/,
    'reference needs a unified block',
  );
  code(() => new SocialMAE({ ...TINY_ENCODER, patchSize: 8, compat: 'reference' }), 'ERR_CONFIG', /16x16/, 'reference patch size');
  code(() => new SocialMAE({ ...TINY_ENCODER, modalitySpecificDepth: 13 }), 'ERR_CONFIG', /unifiedDepth/, 'depth > 12 needs unifiedDepth');
  // the corrected mode accepts what the reference cannot build
  const m = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, nFrame: 4, patchSize: 8, modalitySpecificDepth: 2, unifiedDepth: 0 });
  t.same(m.config.gridV, [4, 4, 2]);
  t.same(m.config.gridA, [16, 8]);
  t.equal(m.blocks_u.length, 0);
  m.dispose();
});

t.test('forward input validation names the argument and the expected shape', async (t) => {
  const ft = new SocialMAEFT({ labelDim: 3, ...TINY_ENCODER });
  const mae = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER });
  const a = torch.randn([2, 64, 128]),
    v = torch.randn([2, 3, 32, 32, 8]);
  const before = torch.memory().liveTensors;
  t.throws(() => ft.forward(torch.randn([2, 63, 128]), v), { code: 'ERR_INVALID_ARG', message: /'audio' expected a float tensor \[B, 64, 128\]/ });
  t.throws(() => ft.forward(a, torch.randn([2, 3, 32, 32, 4])), { code: 'ERR_INVALID_ARG', message: /'video' expected .*\[2, 3, 32, 32, 8\]/ });
  t.throws(() => ft.forward(a, torch.randn([1, 3, 32, 32, 8])), { code: 'ERR_INVALID_ARG', message: /'video'/ }, 'batch sizes differ');
  t.throws(() => ft.forward(a, v, 'mutlimodal' as never), { code: 'ERR_INVALID_ARG', message: /mode/ });
  t.throws(() => ft.forward(a, null, 'multimodal'), { code: 'ERR_INVALID_ARG', message: /'video'/ });
  t.throws(() => mae.forward(a, v, { maskRatioA: 1 }), { code: 'ERR_INVALID_ARG', message: /maskRatioA/ });
  t.throws(() => mae.forward(a, v, { noiseA: torch.randn([2, 31]) }), { code: 'ERR_INVALID_ARG', message: /noiseA.*\[2, 32\]/ });
  t.throws(() => mae.forward(a, v, { maskMode: 'random' as never }), { code: 'ERR_INVALID_ARG', message: /maskMode/ });
  t.throws(() => mae.forward(a, v, { contrastLossWeight: NaN }), { code: 'ERR_INVALID_ARG', message: /contrastLossWeight/ });
  t.ok(torch.memory().liveTensors <= before + 4, 'failed calls free what they made (only the test inputs remain)');
  ft.dispose();
  mae.dispose();
});

t.test('configs the reference cannot build run end to end in the default mode', async (t) => {
  const cfg = { ...TINY_ENCODER, nFrame: 4, stride: 1, patchSize: 8, modalitySpecificDepth: 1, unifiedDepth: 0, imgSize: [16, 24] as [number, number] };
  const mae = new SocialMAE({ ...cfg, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 2, normPixLoss: true });
  const ft = new SocialMAEFT({ labelDim: 3, ...cfg });
  const before = torch.memory().liveTensors;
  torch.tidy(() => {
    const a = torch.randn([1, 64, 128]),
      v = torch.randn([1, 3, 16, 24, 4]);
    t.same([mae.config.numPatchesA, mae.config.numPatchesV], [16 * 8, 2 * 3 * 4]);
    const out = mae.forward(a, v, { returnPred: true, bidirectionalContrast: true });
    t.same(out.predA!.shape, [1, 128, 64]);
    t.same(out.predV!.shape, [1, 24, 8 * 8 * 1 * 3]);
    t.ok(Number.isFinite(out.loss.item()));
    out.loss.backward();
    for (const mode of ['multimodal', 'audioonly', 'videoonly', 'missingaudioonly', 'missingvideoonly'] as const) {
      t.same(ft.forward(a, v, mode).shape, [1, 3], mode);
    }
  });
  mae.zeroGrad();
  t.equal(torch.memory().liveTensors, before);
  mae.dispose();
  ft.dispose();
});
