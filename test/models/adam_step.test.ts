/** One Adam step of the pretraining objective, end to end, against pretrain_params_after_adam.pt. */
import t from 'tap';
import { Tensor, torch } from '../../lib/tensor';
import { optim } from '../../lib';
import { SocialMAE, loadCheckpoint } from '../../lib/models';
import { TINY_DECODER, TINY_ENCODER, disposeMap, loadPt, readJson } from './helpers';

const ADAM = { lr: 1e-3, betas: [0.95, 0.999] as [number, number], eps: 1e-8, weightDecay: 5e-7 };

async function setup() {
  const sd = await loadPt('pretrain_state_dict.pt');
  const m = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, compat: 'reference' });
  loadCheckpoint(m, sd);
  return { m, sd };
}

t.test('Adam on the stored gradients reproduces the reference step', async (t) => {
  const { m, sd } = await setup();
  const grads = await loadPt('pretrain_grads.pt');
  const after = await loadPt('pretrain_params_after_adam.pt');
  const noGrad = new Set<string>(readJson('models_meta.json').pretrain.params_without_grad);
  for (const [k, p] of m.namedParameters()) p.grad = noGrad.has(k) ? undefined : grads.get(k);
  new optim.Adam(m.parameters(), ADAM).step();
  let worst = 0,
    unchanged = 0;
  for (const [k, p] of m.namedParameters()) {
    worst = Math.max(
      worst,
      torch.tidy(() =>
        p
          .sub(after.get(k) as Tensor)
          .abs()
          .max()
          .item(),
      ),
    );
    if (
      noGrad.has(k) &&
      torch.tidy(() =>
        p
          .eq(sd.get(`module.${k}`) as Tensor)
          .all()
          .item(),
      )
    )
      unchanged++;
  }
  t.ok(worst <= 1e-6, `max abs error ${worst.toExponential(2)} <= 1e-6`);
  t.equal(unchanged, 192, 'parameters without a gradient are skipped (no weight decay)');
  m.zeroGrad();
  m.dispose();
  [sd, grads, after].forEach(disposeMap);
});

t.test('forward, backward and Adam step end to end', async (t) => {
  const { m, sd } = await setup();
  const io = await loadPt('pretrain_io.pt');
  const grads = await loadPt('pretrain_grads.pt');
  const after = await loadPt('pretrain_params_after_adam.pt');
  const opt = new optim.Adam(m.parameters(), ADAM);
  const out = m.forward(io.get('audio')!, io.get('imgs')!, { noiseA: io.get('noise_a'), noiseV: io.get('noise_v') });
  out.loss.backward();
  torch.dispose(out);
  opt.step();
  // Adam normalises by |g|: where the reference gradient is tiny (|g| < 1e-6) a last-bit difference in g
  // can move the parameter by up to lr (fixtures README); elsewhere the step must agree to 1e-6.
  let worstBig = 0,
    worstAll = 0;
  for (const [k, p] of m.namedParameters()) {
    torch.tidy(() => {
      const d = p.sub(after.get(k) as Tensor).abs();
      const big = (grads.get(k) as Tensor).abs().ge(1e-6);
      worstBig = Math.max(worstBig, d.mul(big.to('float32')).max().item());
      worstAll = Math.max(worstAll, d.max().item());
    });
  }
  t.ok(worstBig <= 1e-6, `|g| >= 1e-6: max abs error ${worstBig.toExponential(2)} <= 1e-6`);
  t.ok(worstAll <= ADAM.lr, `all elements: max abs error ${worstAll.toExponential(2)} <= lr`);
  t.comment(`Adam end to end: ${worstBig.toExponential(2)} where |g| >= 1e-6, ${worstAll.toExponential(2)} overall`);
  m.zeroGrad();
  m.dispose();
  [sd, io, grads, after].forEach(disposeMap);
});
