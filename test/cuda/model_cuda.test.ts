/** Social-MAE on CUDA against the CPU reference fixtures: fp32 to 1e-5, bf16 autocast to 1e-2. */
import t from 'tap';
import { torch, Tensor } from '../../lib';
import { SocialMAE, SocialMAEFT, loadCheckpoint } from '../../lib/models';
import { TINY_DECODER, TINY_ENCODER, disposeMap, loadPt } from '../models/helpers';
import { SKIP_WITHOUT_CUDA } from '../helpers/device';

const opts = { skip: SKIP_WITHOUT_CUDA };

/** |a - b| / |b| for scalars. */
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

t.test('pretraining losses on cuda match the reference', opts, async (t) => {
  const io = await loadPt('pretrain_io.pt');
  const sd = await loadPt('pretrain_state_dict.pt');
  const model = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, compat: 'reference' });
  loadCheckpoint(model, sd);
  disposeMap(sd);
  model.eval().to('cuda');
  const g = (k: string) => (io.get(k) as Tensor).to('cuda');
  const ref = (k: string) => (io.get(k) as Tensor).item();
  const before = torch.memory().liveTensors;
  for (const [label, tol, autocast] of [
    ['fp32', 1e-5, false],
    ['bf16', 1e-2, true],
  ] as const) {
    const out = torch.tidy(() => {
      const run = () => model.forward(g('audio'), g('imgs'), { maskRatioA: 0.75, maskRatioV: 0.75, noiseA: g('noise_a'), noiseV: g('noise_v') });
      const o = autocast ? torch.autocast(run) : run();
      return { loss: o.loss.item(), lossMaeA: o.lossMaeA.item(), lossMaeV: o.lossMaeV.item(), lossC: o.lossC.item() };
    });
    t.ok(rel(out.loss, ref('loss')) <= tol, `${label} loss ${out.loss} vs ${ref('loss')}`);
    t.ok(rel(out.lossMaeA, ref('loss_mae_a')) <= tol, `${label} loss_mae_a`);
    t.ok(rel(out.lossMaeV, ref('loss_mae_v')) <= tol, `${label} loss_mae_v`);
    // The contrastive term (0.01 x NCE over cosine similarities / 0.05) amplifies bf16 rounding; its
    // parity is checked in fp32, and in bf16 through the total loss.
    if (!autocast) t.ok(rel(out.lossC, ref('loss_c')) <= tol, `${label} loss_c ${out.lossC} vs ${ref('loss_c')}`);
  }
  t.equal(torch.memory().liveTensors, before, 'no tensors leak');
  model.dispose();
  disposeMap(io);
});

t.test('finetuning logits on cuda match the reference', opts, async (t) => {
  const io = await loadPt('ft_io.pt');
  const sd = await loadPt('ft_state_dict.pt');
  const model = new SocialMAEFT({ ...TINY_ENCODER, labelDim: 6, compat: 'reference' });
  loadCheckpoint(model, sd);
  disposeMap(sd);
  model.eval().to('cuda');
  torch.noGrad(() =>
    torch.tidy(() => {
      const a = (io.get('a') as Tensor).to('cuda'),
        v = (io.get('v') as Tensor).to('cuda');
      for (const mode of ['multimodal', 'audioonly', 'videoonly'] as const) {
        const refLogits = io.get(`logits_${mode}`) as Tensor;
        const err = model.forward(a, v, mode).cpu().sub(refLogits).abs().max().item() / refLogits.abs().max().item();
        t.ok(err <= 1e-5, `${mode}: relative error ${err}`);
      }
    }),
  );
  model.dispose();
  disposeMap(io);
});
