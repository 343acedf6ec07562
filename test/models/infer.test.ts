/**
 * models.inferConfig (lib/models/social_mae/infer.ts): the released checkpoints' shapes (the full-size
 * manifests written by the reference code) give the released configurations; small models of many
 * configurations give back options that rebuild exactly their shapes; keys with or without `module.`.
 */
import t from 'tap';
import { SocialMAE, SocialMAEFT, inferConfig, type PretrainOptions } from '../../lib/models';
import { torch } from '../../lib/tensor';
import { readJson } from './helpers';

const shapesOf = (man: Record<string, number[]>) => new Map(Object.entries(man).map(([k, shape]) => [k, { shape }]));
const RELEASED = {
  imgSize: 224,
  audioLength: 1024,
  patchSize: 16,
  inChans: 3,
  embedDim: 768,
  modalitySpecificDepth: 11,
  unifiedDepth: 1,
  numHeads: 12,
  mlpRatio: 4,
  nFrame: 8,
  stride: 2,
};

t.test('the released configurations from the reference manifests', (t) => {
  const ft = inferConfig(shapesOf(readJson('manifest_socialmaeft_full.json')));
  t.same([ft.family, ft.kind], ['Social-MAE', 'finetune']);
  t.same(ft.options, { ...RELEASED, labelDim: 6 });
  const pre = inferConfig(shapesOf(readJson('manifest_socialmae_pretrain_full.json')));
  t.same([pre.family, pre.kind], ['Social-MAE', 'pretrain']);
  t.same(pre.options, { ...RELEASED, decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16 });
  t.match(pre.assumed.join('; '), /numHeads = 12 \(768 \/ 64\).*decoderNumHeads = 16 \(512 \/ 32\)/);
  const cav = inferConfig(shapesOf(readJson('manifest_cavmae_pretrain_full.json')));
  t.same([cav.family, cav.kind], ['CAV-MAE', 'pretrain']);
  t.same(cav.options, { ...RELEASED, decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16 }, 'the Social-MAE model a CAV-MAE file initialises');
  const cavft = inferConfig(shapesOf(readJson('manifest_cavmaeft_full.json')));
  t.same([cavft.family, cavft.kind, cavft.options.labelDim], ['CAV-MAE', 'finetune', 527]);
  t.end();
});

/** Small configurations (heads follow the 64-per-head rule the inference assumes, or are given). */
const CONFIGS: (PretrainOptions & { labelDim?: number; given?: { numHeads?: number; decoderNumHeads?: number; nFrame?: number } })[] = [
  { embedDim: 64, numHeads: 1, modalitySpecificDepth: 1, unifiedDepth: 1, labelDim: 3 },
  { embedDim: 128, numHeads: 2, modalitySpecificDepth: 2, unifiedDepth: 2, imgSize: 32, audioLength: 64, labelDim: 5, mlpRatio: 2 },
  { embedDim: 64, numHeads: 1, modalitySpecificDepth: 0, unifiedDepth: 1, nFrame: 4, stride: 1, labelDim: 2 },
  {
    embedDim: 64,
    numHeads: 4,
    modalitySpecificDepth: 1,
    unifiedDepth: 1,
    imgSize: 32,
    audioLength: 128,
    nFrame: 16,
    stride: 4,
    labelDim: 2,
    given: { numHeads: 4, nFrame: 16 },
  },
  {
    embedDim: 64,
    numHeads: 1,
    modalitySpecificDepth: 1,
    unifiedDepth: 0,
    patchSize: 8,
    imgSize: 32,
    audioLength: 64,
    decoderEmbedDim: 32,
    decoderDepth: 1,
    decoderNumHeads: 1,
  },
  {
    embedDim: 64,
    numHeads: 1,
    modalitySpecificDepth: 2,
    unifiedDepth: 1,
    imgSize: 48,
    audioLength: 32,
    inChans: 1,
    decoderEmbedDim: 64,
    decoderDepth: 2,
    decoderNumHeads: 2,
  },
];

t.test('options inferred from a model rebuild exactly its shapes, with or without module.', (t) => {
  for (const { given, ...c } of CONFIGS) {
    const ft = c.labelDim !== undefined;
    const { labelDim, ...pre } = c;
    torch.manualSeed(0);
    const model = ft ? new SocialMAEFT({ ...pre, labelDim: labelDim! }) : new SocialMAE(pre);
    const sd = model.stateDict();
    const shapes = (m: Map<string, { shape: readonly number[] }>) => [...m].map(([k, v]) => `${k}:${v.shape.join('x')}`);
    try {
      for (const prefix of ['', 'module.']) {
        const m = inferConfig(new Map([...sd].map(([k, v]) => [prefix + k, v])), given ?? {});
        t.equal(m.kind, ft ? 'finetune' : 'pretrain', `${JSON.stringify(c)} ${prefix}`);
        for (const [k, v] of Object.entries(c)) t.same((m.options as Record<string, unknown>)[k], v, `${k} of ${JSON.stringify(c)}`);
        const again = ft ? new SocialMAEFT({ ...m.options, labelDim: m.options.labelDim! }) : new SocialMAE(m.options);
        const sd2 = again.stateDict();
        t.same(shapes(sd2), shapes(sd), 'same keys and shapes');
        torch.dispose(sd2);
        again.dispose();
      }
    } finally {
      torch.dispose(sd);
      model.dispose();
    }
  }
  t.end();
});

t.test('SocialMAEFT.fromStateDict loads every key; anything else is ERR_CONFIG', (t) => {
  torch.manualSeed(0);
  const src = new SocialMAEFT({ embedDim: 64, numHeads: 1, modalitySpecificDepth: 1, unifiedDepth: 1, imgSize: 32, audioLength: 64, labelDim: 4 });
  const sd = src.stateDict();
  const m = SocialMAEFT.fromStateDict(new Map([...sd].map(([k, v]) => [`module.${k}`, v])));
  const sd2 = m.stateDict();
  t.ok(
    [...sd].every(([k, v]) => torch.tidy(() => v.equal(sd2.get(k)!))),
    'identical values',
  );
  t.throws(() => inferConfig(new Map([['weight', { shape: [3, 3] }]])), { code: 'ERR_CONFIG', message: /not a Social-MAE \/ CAV-MAE state dict/ });
  const pre = new SocialMAE({
    embedDim: 64,
    numHeads: 1,
    modalitySpecificDepth: 1,
    unifiedDepth: 1,
    imgSize: 32,
    audioLength: 64,
    decoderEmbedDim: 32,
    decoderDepth: 1,
    decoderNumHeads: 1,
  });
  const psd = pre.stateDict();
  t.throws(() => SocialMAEFT.fromStateDict(psd), { code: 'ERR_CONFIG', message: /holds a Social-MAE pretrain model/ });
  t.throws(
    () =>
      inferConfig(
        shapesOf({
          'patch_embed_a.proj.weight': [64, 1, 16, 16],
          'patch_embed_v.proj.weight': [64, 3, 16, 16, 2],
          pos_embed_a: [1, 32, 64],
          pos_embed_v: [1, 7, 64],
        }),
      ),
    {
      code: 'ERR_CONFIG',
      message: /cannot split 7 video tokens/,
    },
  );
  for (const x of [sd, sd2, psd]) torch.dispose(x);
  for (const x of [src, m, pre]) x.dispose();
  t.end();
});
