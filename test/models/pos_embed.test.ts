/** Positional embeddings: the reference helper bit for bit, the corrected 2-D/3-D ones, resampling. */
import t from 'tap';
import { torch } from '../../lib/tensor';
import { SocialMAE, SocialMAEFT, inflateTime, referenceSincos2d, resampleGrid2d, sincos2d, sincos3d } from '../../lib/models';
import { TINY_DECODER, TINY_ENCODER, absErr, disposeMap, loadPt } from './helpers';

t.test('reference helper outputs (pos_embed.pt) exactly', async (t) => {
  const pe = await loadPt('pos_embed.pt');
  let n = 0;
  for (const [k, v] of pe) {
    const m = /^sincos_D(\d+)_h(\d+)_w(\d+)$/.exec(k);
    if (!m) continue;
    const ours = referenceSincos2d(+m[1], +m[2], +m[3]);
    t.same(ours.shape, v.shape, `${k} shape`);
    t.equal(absErr(ours, v), 0, `${k} bit-identical`);
    ours.dispose();
    n++;
  }
  t.equal(n, 6);
  disposeMap(pe);
});

t.test('compat models start from the reference pos-embeds', async (t) => {
  const pe = await loadPt('pos_embed.pt');
  const ft = new SocialMAEFT({ labelDim: 6, ...TINY_ENCODER, compat: 'reference' });
  const pt = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, compat: 'reference' });
  t.equal(absErr(ft.pos_embed_a, pe.get('ft_pos_embed_a_init')!), 0);
  t.equal(absErr(ft.pos_embed_v, pe.get('ft_pos_embed_v_init')!), 0);
  t.equal(absErr(pt.pos_embed_a, pe.get('pt_pos_embed_a_init')!), 0);
  t.equal(absErr(pt.pos_embed_v, pe.get('pt_pos_embed_v_init')!), 0);
  t.equal(absErr(pt.decoder_pos_embed_a, pe.get('pt_decoder_pos_embed_a_init')!), 0);
  t.equal(absErr(pt.decoder_pos_embed_v, pe.get('pt_decoder_pos_embed_v_init')!), 0);
  ft.dispose();
  pt.dispose();
  disposeMap(pe);
});

t.test('corrected 2-D sin-cos (MAE / CAV-MAE layout)', async (t) => {
  const D = 16,
    gh = 3,
    gw = 5;
  const pe = sincos2d(D, gh, gw);
  const v = pe.toArray() as Float32Array;
  const at = (m: number, k: number) => v[m * D + k];
  const omega = (k: number, d: number) => 1 / 10000 ** (k / (d / 2));
  // token m = 7 is row 1, column 2: first half encodes the column, second half the row
  for (let k = 0; k < D / 4; k++) {
    t.ok(Math.abs(at(7, k) - Math.sin(2 * omega(k, D / 2))) < 1e-6, `col sin ${k}`);
    t.ok(Math.abs(at(7, D / 4 + k) - Math.cos(2 * omega(k, D / 2))) < 1e-6, `col cos ${k}`);
    t.ok(Math.abs(at(7, D / 2 + k) - Math.sin(1 * omega(k, D / 2))) < 1e-6, `row sin ${k}`);
  }
  // every token distinct (the reference helper repeats rows)
  const rows = new Set<string>();
  for (let m = 0; m < gh * gw; m++) rows.add(Array.from(v.subarray(m * D, (m + 1) * D)).join(','));
  t.equal(rows.size, gh * gw, 'all positions distinct');
  const ref = referenceSincos2d(D, gh, gw).toArray() as Float32Array;
  const refRows = new Set<string>();
  for (let m = 0; m < gh * gw; m++) refRows.add(Array.from(ref.subarray(m * D, (m + 1) * D)).join(','));
  t.equal(refRows.size, gw, 'the reference helper only tells columns apart');
  pe.dispose();
});

t.test('corrected 3-D sin-cos for (h, w, t) video tokens', async (t) => {
  const D = 32,
    gh = 2,
    gw = 3,
    gt = 4;
  const pe = sincos3d(D, gh, gw, gt);
  t.same(pe.shape, [gh * gw * gt, D]);
  const v = pe.toArray() as Float32Array;
  const row = (h: number, w: number, tt: number) => Array.from(v.subarray(((h * gw + w) * gt + tt) * D, ((h * gw + w) * gt + tt + 1) * D));
  const sp = (r: number[]) => r.slice(0, 24).join(','),
    tp = (r: number[]) => r.slice(24).join(',');
  t.equal(sp(row(1, 2, 0)), sp(row(1, 2, 3)), 'same (h, w): same spatial part');
  t.not(tp(row(1, 2, 0)), tp(row(1, 2, 3)), 'different t: different temporal part');
  t.equal(tp(row(0, 0, 2)), tp(row(1, 1, 2)), 'same t: same temporal part');
  t.not(sp(row(0, 1, 0)), sp(row(1, 0, 0)), 'h and w are told apart');
  const s2 = sincos2d(24, gh, gw).toArray() as Float32Array;
  t.same(row(1, 2, 3).slice(0, 24), Array.from(s2.subarray((1 * gw + 2) * 24, (1 * gw + 3) * 24)), 'spatial part = 2-D sin-cos');
  t.throws(() => sincos3d(24, 2, 2, 2), { code: 'ERR_CONFIG' }, 'D must be a multiple of 16');
  pe.dispose();
});

t.test('default models use the corrected embeddings', async (t) => {
  const m = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER });
  const a = sincos2d(64, 8, 4).unsqueeze(0),
    v = sincos3d(64, 2, 2, 4).unsqueeze(0),
    dv = sincos3d(32, 2, 2, 4).unsqueeze(0);
  t.equal(absErr(m.pos_embed_a, a), 0);
  t.equal(absErr(m.pos_embed_v, v), 0);
  t.equal(absErr(m.decoder_pos_embed_v, dv), 0);
  torch.dispose([a, v, dv]);
  m.dispose();
});

t.test('resampling and temporal inflation', async (t) => {
  const before = torch.memory().liveTensors;
  torch.tidy(() => {
    const pe = sincos2d(16, 4, 4).unsqueeze(0);
    t.equal(absErr(resampleGrid2d(pe, 4, 4, 4, 4), pe), 0, 'same grid: unchanged');
    const r = resampleGrid2d(pe, 4, 4, 8, 6);
    t.same(r.shape, [1, 48, 16]);
    const back = resampleGrid2d(pe, 4, 4, 4, 4);
    t.equal(absErr(back, pe), 0);
    const inf = inflateTime(pe, 3);
    t.same(inf.shape, [1, 48, 16]);
    t.equal(absErr(inf.index(':', '5:6'), pe.index(':', '1:2')), 0, 'token (h, w, t=2) of patch 1 = patch 1');
    t.throws(() => resampleGrid2d(pe, 3, 3, 4, 4), { code: 'ERR_CONFIG' });
  });
  t.equal(torch.memory().liveTensors, before);
});
