/** SocialMAE pretraining against the reference fixtures (compat 'reference'). */
import t from 'tap';
import { F, Tensor, torch } from '../../lib/tensor';
import { SocialMAE, loadCheckpoint } from '../../lib/models';
import { TINY_DECODER, TINY_ENCODER, disposeMap, loadPt, readJson, relErr, sameValues } from './helpers';

const TOL = 1e-5;
const GRAD_TOL = 1e-4;

async function setup() {
  const io = await loadPt('pretrain_io.pt');
  const sd = await loadPt('pretrain_state_dict.pt');
  const model = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, compat: 'reference' });
  loadCheckpoint(model, sd);
  disposeMap(sd);
  model.eval();
  return { io, model, g: (k: string) => io.get(k) as Tensor };
}

t.test('encoder, decoder and targets match the reference', async (t) => {
  const { io, model, g } = await setup();
  const caps = new Map<string, Tensor>();
  model.debugHook = (name, x) => caps.set(name, torch.keep(x.detach()));
  const before = torch.memory().liveTensors;
  const errors: Record<string, number> = {};
  torch.noGrad(() =>
    torch.tidy(() => {
      const enc = model.forwardEncoder(g('audio'), g('imgs'), 0.75, 0.75, { noiseA: g('noise_a'), noiseV: g('noise_v') });
      t.ok(sameValues(enc.maskA, g('mask_a')), 'mask_a exact');
      t.ok(sameValues(enc.maskV, g('mask_v')), 'mask_v exact');
      t.ok(sameValues(enc.idsRestoreA, g('ids_restore_a')), 'ids_restore_a exact');
      t.ok(sameValues(enc.idsRestoreV, g('ids_restore_v')), 'ids_restore_v exact');
      t.ok(sameValues(enc.idsRestoreA.argsort(1).slice(1, 0, 8), g('ids_keep_a')), 'ids_keep_a exact');
      t.ok(sameValues(enc.idsRestoreV.argsort(1).slice(1, 0, 4), g('ids_keep_v')), 'ids_keep_v exact');
      t.equal(enc.maskA.dtype, 'float32');
      for (const [ours, ref] of [
        ['patch_a', 'enc_patch_a'],
        ['patch_v', 'enc_patch_v'],
        ['masked_a', 'enc_masked_a'],
        ['masked_v', 'enc_masked_v'],
        ['blocks_a_out', 'enc_blocks_a_out'],
        ['blocks_v_out', 'enc_blocks_v_out'],
      ]) {
        errors[ref] = relErr(caps.get(ours)!, g(ref));
      }
      errors.latent = relErr(enc.x, g('latent'));
      errors.latent_c_a = relErr(enc.ca, g('latent_c_a'));
      errors.latent_c_v = relErr(enc.cv, g('latent_c_v'));
      const dec = model.forwardDecoder(enc.x, enc.maskA, enc.idsRestoreA, enc.maskV, enc.idsRestoreV);
      for (const k of ['decoder_embed_out', 'decoder_in', 'decoder_norm_out']) errors[k] = relErr(caps.get(k)!, g(k));
      errors.pred_a = relErr(dec.predA, g('pred_a'));
      errors.pred_v = relErr(dec.predV, g('pred_v'));
      const tg = model.targets(g('audio'), g('imgs'));
      t.ok(sameValues(tg.targetA, g('target_a')), 'target_a exact');
      t.ok(sameValues(tg.targetV, g('target_v')), 'target_v exact (the reference (t, h, w) order)');
      // contrast logits helper: S = a^ v^T / 0.05
      const S = F.normalize(enc.ca.mean(1), { dim: -1 })
        .mm(F.normalize(enc.cv.mean(1), { dim: -1 }).t())
        .div(0.05);
      errors.contrast_logits = relErr(S, g('contrast_logits'));
    }),
  );
  model.debugHook = undefined;
  torch.dispose([...caps.values()]);
  t.equal(torch.memory().liveTensors, before, 'no leaks');
  for (const [k, e] of Object.entries(errors)) t.ok(e <= TOL, `${k}: max rel err ${e.toExponential(2)}`);
  t.comment(`pretrain intermediates max rel errors: ${JSON.stringify(errors)}`);
  model.dispose();
  disposeMap(io);
});

t.test('losses, cAcc and gradients match the reference', async (t) => {
  const { io, model, g } = await setup();
  const meta = readJson('models_meta.json');
  const grads = await loadPt('pretrain_grads.pt');
  const before = torch.memory().liveTensors;
  const out = model.forward(g('audio'), g('imgs'), { maskRatioA: 0.75, maskRatioV: 0.75, maeLossWeight: 1, noiseA: g('noise_a'), noiseV: g('noise_v') });
  const errors: Record<string, number> = {};
  for (const [ours, ref] of [
    ['loss', 'loss'],
    ['lossMae', 'loss_mae'],
    ['lossMaeA', 'loss_mae_a'],
    ['lossMaeV', 'loss_mae_v'],
    ['lossC', 'loss_c'],
    ['cAcc', 'c_acc'],
  ] as const) {
    t.same(out[ours].shape, [], `${ours} is 0-d`);
    errors[ref] = relErr(out[ours], g(ref));
  }
  t.equal(out.cAcc.dtype, 'float32');
  t.ok(sameValues(out.maskA, g('mask_a')) && sameValues(out.maskV, g('mask_v')), 'forward masks exact');
  for (const [k, e] of Object.entries(errors)) t.ok(e <= TOL, `${k}: rel err ${e.toExponential(2)}`);
  t.ok(
    Math.abs(out.loss.item() - meta.pretrain.scalars.loss) <= 1e-6 * meta.pretrain.scalars.loss,
    'loss equals the reference float (bit-identical on LibTorch 1.13)',
  );

  model.zeroGrad();
  out.loss.backward();
  torch.dispose(out);
  t.equal(torch.memory().liveTensors, before, 'forward + backward leave no tensors');
  const noGrad = new Set<string>(meta.pretrain.params_without_grad);
  t.equal(noGrad.size, 192);
  let worst = 0,
    worstKey = '',
    undef = 0,
    n = 0;
  for (const [k, p] of model.namedParameters()) {
    const gr = p.grad;
    if (noGrad.has(k)) {
      if (gr === undefined) undef++;
      else gr.dispose();
      continue;
    }
    if (!gr) {
      t.fail(`${k} has no gradient`);
      continue;
    }
    const e = relErr(gr, grads.get(k)!);
    gr.dispose();
    n++;
    if (e > worst) {
      worst = e;
      worstKey = k;
    }
  }
  t.equal(undef, 192, 'the 192 unused LayerNorm parameters have an undefined grad');
  t.equal(n + undef, model.namedParameters().length, 'every other parameter has a gradient');
  t.ok(worst <= GRAD_TOL, `gradients: worst ${worst.toExponential(2)} (${worstKey})`);
  t.comment(`pretrain loss rel errors: ${JSON.stringify(errors)}; grads worst ${worst.toExponential(2)} at ${worstKey}`);
  model.zeroGrad();
  model.dispose();
  disposeMap(io);
  disposeMap(grads);
});

t.test('loss weights of 0 skip their branch', async (t) => {
  const { io, model, g } = await setup();
  const noise = { noiseA: g('noise_a'), noiseV: g('noise_v') };
  const calls: string[] = [];
  model.debugHook = (name) => calls.push(name);
  torch.noGrad(() =>
    torch.tidy(() => {
      const mae = model.forward(g('audio'), g('imgs'), { ...noise, contrastLossWeight: 0 });
      t.equal(mae.lossC.item(), 0);
      t.equal(mae.cAcc.item(), 0);
      t.ok(relErr(mae.loss, g('loss_mae')) <= TOL, 'loss = lossMae');
      t.notOk(calls.includes('blocks_u_a_out'), 'no contrastive path was run');
      calls.length = 0;
      const c = model.forward(g('audio'), g('imgs'), { ...noise, maeLossWeight: 0 });
      t.equal(c.lossMae.item(), 0);
      t.equal(c.lossMaeA.item(), 0);
      t.ok(relErr(c.loss, g('loss_c')) <= TOL, 'loss = lossC');
      t.notOk(calls.includes('decoder_in') || calls.includes('blocks_u_out'), 'no decoder and no joint path were run');
      const w = model.forward(g('audio'), g('imgs'), { ...noise, maeLossWeight: 2, contrastLossWeight: 0.5, returnPred: true });
      t.ok(relErr(w.lossMae, g('loss_mae').mul(2)) <= TOL, 'maeLossWeight scales');
      t.ok(relErr(w.lossC, g('loss_c').mul(50)) <= TOL, 'contrastLossWeight scales');
      t.ok(relErr(w.predV!, g('pred_v')) <= TOL, 'returnPred');
    }),
  );
  model.debugHook = undefined;
  model.dispose();
  disposeMap(io);
});
