/** Checkpoint adapters: strict Social-MAE loads, CAV-MAE init (reference and inflated), FT from pretrain. */
import t from 'tap';
import { Tensor, torch, F } from '../../lib/tensor';
import { Linear, StateDictError } from '../../lib/nn';
import { CAVMAE_VIDEO_KEYS, SocialMAE, SocialMAEFT, initFinetuneFromPretrain, initFromCavMae, loadCheckpoint } from '../../lib/models';
import { TINY_DECODER, TINY_ENCODER, absErr, disposeMap, loadPt, readJson } from './helpers';
import { FLOAT32_EPS } from '../helpers/float';

const TINY = { ...TINY_ENCODER, ...TINY_DECODER };

/** A tiny CAV-MAE-shaped state dict (DataParallel keys): the pretrain fixture with 2-D video parts. */
async function tinyCavMae(grid: number): Promise<Map<string, Tensor>> {
  const sd = await loadPt('pretrain_state_dict.pt');
  const video: Record<string, number[]> = {
    'module.patch_embed_v.proj.weight': [64, 3, 16, 16],
    'module.patch_embed_v.proj.bias': [64],
    'module.pos_embed_v': [1, grid * grid, 64],
    'module.decoder_pos_embed_v': [1, grid * grid, 32],
    'module.decoder_pred_v.weight': [768, 32],
    'module.decoder_pred_v.bias': [768],
  };
  for (const [k, shape] of Object.entries(video)) {
    sd.get(k)!.dispose();
    sd.set(k, torch.keep(torch.randn(shape)));
  }
  return sd;
}

t.test('loadCheckpoint is strict and lists every problem', async (t) => {
  const sd = await loadPt('pretrain_state_dict.pt');
  const m = new SocialMAE({ ...TINY, compat: 'reference' });
  t.equal(loadCheckpoint(m, sd).loaded.length, sd.size);
  t.equal(absErr(m.mask_token, sd.get('module.mask_token')!), 0, 'values copied');
  const broken = new Map(sd);
  broken.delete('module.norm.bias');
  broken.set('module.pos_embed_a', sd.get('module.pos_embed_v')!);
  broken.set('module.extra', sd.get('module.norm.weight')!);
  const err = (() => {
    try {
      loadCheckpoint(m, broken);
    } catch (e) {
      return e as StateDictError;
    }
  })();
  t.ok(err instanceof StateDictError, 'StateDictError');
  t.equal(err?.code, 'ERR_STATE_DICT');
  t.same(err?.issues.map((i) => `${i.code}:${i.key}`).sort(), ['missing_key:norm.bias', 'shape_mismatch:pos_embed_a', 'unexpected_key:extra']);
  t.match(err?.message, /size mismatch for pos_embed_a: expected \[1,32,64\], found \[1,16,64\]/);
  m.dispose();
  disposeMap(sd);
});

t.test("initFromCavMae method 'reference' drops the six video keys", async (t) => {
  const cav = await tinyCavMae(2);
  const m = new SocialMAE({ ...TINY, compat: 'reference' });
  const fresh = torch.keep(m.patch_embed_v.proj.bias!.clone());
  const report = initFromCavMae(m, cav, { method: 'reference' });
  t.same(
    report.dropped,
    [...CAVMAE_VIDEO_KEYS].sort((a, b) => order(a) - order(b)),
    'dropped exactly the reference deletions',
  );
  t.same(report.missing.sort(), [...CAVMAE_VIDEO_KEYS].sort(), 'they stay at their fresh values');
  t.same(report.adapted, []);
  t.equal(report.loaded.length, cav.size - 6);
  t.equal(absErr(m.patch_embed_v.proj.bias!, fresh), 0, 'video bias not loaded (as the reference)');
  t.equal(absErr(m.blocks_v.at(3).attn.qkv.weight, cav.get('module.blocks_v.3.attn.qkv.weight')!), 0, 'the rest is loaded');
  fresh.dispose();
  m.dispose();
  disposeMap(cav);

  function order(k: string): number {
    return [...cav.keys()].indexOf(`module.${k}`);
  }
});

t.test("initFromCavMae method 'inflate' converts the video keys", async (t) => {
  torch.manualSeed(7); // the random CAV-MAE video weights and the frame below: the same draw in any test order
  const cav = await tinyCavMae(2);
  const m = new SocialMAE(TINY);
  const report = initFromCavMae(m, cav);
  t.same(
    report.adapted.map((a) => a.key),
    ['pos_embed_v', 'decoder_pos_embed_v', 'patch_embed_v.proj.weight', 'decoder_pred_v.weight', 'decoder_pred_v.bias'],
  );
  t.same(report.adapted[2], {
    key: 'patch_embed_v.proj.weight',
    from: [64, 3, 16, 16],
    to: [64, 3, 16, 16, 2],
    how: '2-D kernel repeated over 2 frames and divided by 2',
  });
  t.ok(report.loaded.includes('patch_embed_v.proj.bias'));
  t.same(report.missing, []);
  t.same(report.dropped, []);
  torch.noGrad(() =>
    torch.tidy(() => {
      // a static clip: every token equals CAV-MAE's Conv2d on the frame
      const frame = torch.randn([1, 3, 32, 32]);
      const clip = frame.unsqueeze(-1).expand([1, 3, 32, 32, 8]).contiguous();
      const ours = m.patch_embed_v.forward(clip); // [1, 2*2*4, 64], t fastest
      const cavTok = F.conv2d(frame, cav.get('module.patch_embed_v.proj.weight')!, cav.get('module.patch_embed_v.proj.bias')!, { stride: 16 })
        .flatten(2)
        .transpose(1, 2); // [1, 4, 64]
      const expanded = cavTok.unsqueeze(2).expand([1, 4, 4, 64]).reshape([1, 16, 64]);
      // Each token is a float32 sum of 3*16*16*2 = 1536 products (768 for the 2-D kernel), summed in another
      // order by the 3-D and 2-D conv kernels. Rounding errors of random sign add up to about
      // sqrt(1536)*eps*S = 4.7e-6*S, S = max sum of |w*x| + |b| (about 540 = 6x the largest |token| of
      // about 90 for N(0,1) weights and inputs), i.e. about 3e-5 of the output scale. Measured: 0.5e-6 to
      // 1e-6 of it (about 7e-5 absolute) with the Haswell, Sandybridge and Prescott kernels and the default one
      // of an AVX-512 machine (5 seeds each).
      // A kernel not halved or frames in the wrong order err by O(1) of the output scale.
      const S = F.conv2d(frame.abs(), cav.get('module.patch_embed_v.proj.weight')!.abs(), cav.get('module.patch_embed_v.proj.bias')!.abs(), { stride: 16 })
        .max()
        .item();
      const tol = Math.sqrt(1536) * FLOAT32_EPS * S;
      const err = absErr(ours, expanded);
      t.ok(err <= tol, `inflated kernel reproduces the 2-D response on a static clip (max error ${err}, tolerance ${tol})`);
      const pe = cav.get('module.pos_embed_v')!;
      t.equal(absErr(m.pos_embed_v.index(':', '4:8'), pe.index(':', '1:2').expand([1, 4, 64])), 0, 'pos-embed (h, w) repeated over t');
      const w = cav.get('module.decoder_pred_v.weight')!;
      t.equal(absErr(m.decoder_pred_v.weight.index('768:'), w), 0, 'pred head repeated per frame');
    }),
  );
  m.dispose();
  disposeMap(cav);
});

t.test('inflate resamples a different video grid', async (t) => {
  const cav = await tinyCavMae(3);
  const m = new SocialMAE(TINY);
  const report = initFromCavMae(m, cav);
  const pe = report.adapted.find((a) => a.key === 'pos_embed_v')!;
  t.same(pe.from, [1, 9, 64]);
  t.same(pe.to, [1, 16, 64]);
  t.match(pe.how, /3x3 grid resampled \(bicubic\) to 2x2, repeated over 4 temporal slots/);
  // reference method on the same dict has nothing to resample and simply drops
  const m2 = new SocialMAE({ ...TINY, compat: 'reference' });
  t.equal(initFromCavMae(m2, cav, { method: 'reference' }).dropped.length, 6);
  // other mismatches are errors
  const bad = new Map(cav);
  bad.set('module.norm.weight', cav.get('module.norm.bias')!.index('0:10'));
  t.throws(() => initFromCavMae(m, bad), { code: 'ERR_STATE_DICT', message: /size mismatch for norm\.weight/ });
  m.dispose();
  m2.dispose();
  disposeMap(cav);
});

t.test('full-size CAV-MAE checkpoint schema initialises full-size SocialMAE', async (t) => {
  const man = readJson<Record<string, number[]>>('manifest_cavmae_pretrain_full.json');
  const zero = torch.keep(torch.zeros([1]));
  const sd = new Map(Object.entries(man).map(([k, s]) => [k, zero.reshape(new Array(s.length).fill(1)).expand(s)] as [string, Tensor]));
  const m = new SocialMAE();
  const r = initFromCavMae(m, sd);
  t.same(
    r.adapted.map((a) => `${a.key} ${JSON.stringify(a.from)}->${JSON.stringify(a.to)}`),
    [
      'pos_embed_v [1,196,768]->[1,784,768]',
      'decoder_pos_embed_v [1,196,512]->[1,784,512]',
      'patch_embed_v.proj.weight [768,3,16,16]->[768,3,16,16,2]',
      'decoder_pred_v.weight [768,512]->[1536,512]',
      'decoder_pred_v.bias [768]->[1536]',
    ],
  );
  t.equal(r.loaded.length, 647 - 5);
  t.same([r.missing, r.unused, r.dropped], [[], [], []]);
  const r2 = initFromCavMae(m, sd, { method: 'reference' });
  t.equal(r2.dropped.length, 6);
  torch.dispose([...sd.values(), zero]);
  m.dispose();
});

t.test('SocialMAEFT from a pretrain checkpoint: encoder loads, decoder unused, head fresh', async (t) => {
  const sd = await loadPt('pretrain_state_dict.pt');
  const ft = new SocialMAEFT({ labelDim: 6, ...TINY_ENCODER });
  const head = torch.keep((ft.mlp_head.at(1) as unknown as Linear).weight.clone());
  const r = initFinetuneFromPretrain(ft, sd);
  t.same(r.missing, ['mlp_head.0.weight', 'mlp_head.0.bias', 'mlp_head.1.weight', 'mlp_head.1.bias']);
  t.ok(r.unused.includes('mask_token') && r.unused.includes('decoder_pred_v.bias'));
  t.ok(
    r.unused.every((k) => k === 'mask_token' || k.startsWith('decoder_')),
    'only decoder keys unused',
  );
  t.equal(r.loaded.length + r.unused.length, sd.size);
  t.equal(absErr(ft.blocks_u.at(0).mlp.fc2.weight, sd.get('module.blocks_u.0.mlp.fc2.weight')!), 0);
  t.equal(absErr((ft.mlp_head.at(1) as unknown as Linear).weight, head), 0, 'head untouched');
  const partial = new Map(sd);
  partial.delete('module.blocks_a.2.attn.proj.bias');
  t.throws(() => initFinetuneFromPretrain(ft, partial), { code: 'ERR_STATE_DICT', message: /missing key blocks_a\.2\.attn\.proj\.bias/ });
  head.dispose();
  ft.dispose();
  disposeMap(sd);
});
