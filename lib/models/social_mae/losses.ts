/**
 * Pretraining losses: masked reconstruction (MSE on removed patches only) and the audio-visual InfoNCE
 * contrastive loss with its accuracy, written with the reference's operations so fp32 results match.
 */
import { F, Tensor, TorchError, torch } from '../../tensor';

/**
 * Per-patch normalisation of targets (normPixLoss): (t - mean) / sqrt(var + 1e-6) over the last axis,
 * with the unbiased variance as the reference. target: [B, L, E].
 */
export function normalizePatches(target: Tensor): Tensor {
  return torch.tidy(() => {
    const mean = target.mean(-1, true);
    const v = target.var(-1, { keepdim: true });
    return target.sub(mean).div(v.add(1e-6).pow(0.5));
  });
}

/**
 * Mean squared error averaged over the removed patches only:
 * sum_{b,m} mask[b,m] * mean_e (pred - target)^2 / sum(mask). pred, target: [B, L, E]; mask: [B, L] (1 = removed).
 */
export function maeLoss(pred: Tensor, target: Tensor, mask: Tensor, opts: { normPixLoss?: boolean } = {}): Tensor {
  const ps = pred.shape,
    ts = target.shape;
  if (ps.length !== 3 || ps.some((s, i) => s !== ts[i]) || ts.length !== 3) {
    throw new TorchError(`maeLoss: pred ${JSON.stringify(ps)} and target ${JSON.stringify(ts)} must both be [B, L, E]`, 'ERR_INVALID_ARG');
  }
  if (mask.ndim !== 2 || mask.shape[0] !== ps[0] || mask.shape[1] !== ps[1]) {
    throw new TorchError(`maeLoss: mask must be [${ps[0]}, ${ps[1]}], got ${JSON.stringify(mask.shape)}`, 'ERR_INVALID_ARG');
  }
  return torch.tidy(() => {
    const t = opts.normPixLoss ? normalizePatches(target) : target;
    const perPatch = pred.sub(t).pow(2).mean(-1);
    return perPatch.mul(mask).sum().div(mask.sum());
  });
}

export interface ContrastiveResult {
  /** InfoNCE (0-d), before the loss weight */
  nce: Tensor;
  /** fraction of correct top-1 matches (0-d float32) */
  cAcc: Tensor;
}

/** -mean_j log_softmax(S, dim 0)[j, j] and the fraction of columns whose argmax is the diagonal. */
function oneDirection(S: Tensor): { nce: Tensor; acc: Tensor } {
  const B = S.shape[0];
  const idx = torch.arange(B, undefined, 1, { device: S.device });
  const diag = S.logSoftmax(0).gather(0, idx.unsqueeze(0));
  const nce = diag.mean().neg();
  const hits = S.softmax(0).argmax(0).eq(idx).sum();
  return { nce, acc: hits.div(B) };
}

/**
 * InfoNCE between audio and video representations [B, D] (L2-normalised, eps 1e-12):
 * S = a v^T / temperature (rows audio, columns video). One-directional (the reference): softmax over
 * the audio index for each video column. bidirectional: the mean of both directions (CAV-MAE's option).
 */
export function contrastiveLoss(audioRep: Tensor, videoRep: Tensor, opts: { bidirectional?: boolean; temperature?: number } = {}): ContrastiveResult {
  if (audioRep.ndim !== 2 || videoRep.ndim !== 2 || audioRep.shape[0] !== videoRep.shape[0] || audioRep.shape[1] !== videoRep.shape[1]) {
    throw new TorchError(
      `contrastiveLoss: expected two [B, D] tensors of the same shape, got ${JSON.stringify(audioRep.shape)} and ${JSON.stringify(videoRep.shape)}`,
      'ERR_INVALID_ARG',
    );
  }
  const temperature = opts.temperature ?? 0.05;
  return torch.tidy(() => {
    const a = F.normalize(audioRep, { dim: -1 });
    const v = F.normalize(videoRep, { dim: -1 });
    const S = a.mm(v.transpose(0, 1)).div(temperature);
    const d1 = oneDirection(S);
    if (!opts.bidirectional) return { nce: d1.nce, cAcc: d1.acc };
    const d2 = oneDirection(S.t());
    return { nce: d1.nce.add(d2.nce).div(2), cAcc: d1.acc.add(d2.acc).div(2) };
  });
}
