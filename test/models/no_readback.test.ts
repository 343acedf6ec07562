/**
 * A pretraining forward + backward reads nothing back from the device: on a GPU every `item()` /
 * `toArray()` is a host synchronisation that stalls the stream (and breaks CUDA-graph capture). The
 * decoder's removed-token counts come from the mask ratios; only the public forwardDecoder, whose masks
 * come from the caller, counts them (once per call). Both paths give the same losses.
 */
import t from 'tap';
import { Tensor, torch } from '../../lib/tensor';
import { SocialMAE } from '../../lib/models';
import { TINY_DECODER, TINY_ENCODER } from './helpers';

/** Runs fn counting Tensor readbacks (item, toArray). */
function countReadbacks(fn: () => void): number {
  const P = Tensor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = { item: P.item, toArray: P.toArray };
  let n = 0;
  for (const k of ['item', 'toArray'] as const) {
    P[k] = function (this: Tensor, ...a: unknown[]) {
      n++;
      return saved[k].apply(this, a);
    };
  }
  try {
    fn();
  } finally {
    Object.assign(P, saved);
  }
  return n;
}

for (const compat of ['reference', 'none'] as const) {
  t.test(`compat ${compat}: forward and backward without readbacks; forwardDecoder agrees`, async (t) => {
    torch.manualSeed(3);
    const m = new SocialMAE({ ...TINY_ENCODER, ...TINY_DECODER, compat });
    const audio = torch.randn([2, TINY_ENCODER.audioLength, 128]);
    const video = torch.randn([2, 3, TINY_ENCODER.imgSize, TINY_ENCODER.imgSize, TINY_ENCODER.nFrame]); // time last, as the reference
    const noiseA = torch.rand([2, m.config.numPatchesA]);
    const noiseV = torch.rand([2, m.config.numPatchesV]);
    const opts = { noiseA, noiseV, maskRatioA: 0.75, maskRatioV: 0.5, maskMode: 'unstructured' as const };
    let loss = NaN;
    const reads = countReadbacks(() =>
      torch.tidy(() => {
        const out = m.forward(audio, video, opts);
        out.loss.backward();
        loss = out.loss.detach().item(); // counted: the one readback of this test, after the step
      }),
    );
    t.equal(reads, 1, 'only the final loss.item() read back');
    m.zeroGrad();
    const viaPublic = torch.tidy(() => {
      const enc = m.forwardEncoder(audio, video, 0.75, 0.5, { noiseA, noiseV });
      const { predA, predV } = m.forwardDecoder(enc.x as Tensor, enc.maskA, enc.idsRestoreA as Tensor, enc.maskV, enc.idsRestoreV as Tensor);
      const ref = m.forward(audio, video, { ...opts, returnPred: true });
      return [
        predA
          .sub(ref.predA as Tensor)
          .abs()
          .max()
          .item(),
        predV
          .sub(ref.predV as Tensor)
          .abs()
          .max()
          .item(),
      ];
    });
    t.same(viaPublic, [0, 0], 'forwardDecoder(masks) = forward()');
    t.ok(Number.isFinite(loss));
    m.dispose();
    torch.dispose([audio, video, noiseA, noiseV]);
  });
}
