/**
 * What finetuning, evaluation and prediction share for a SocialMAEFT: the task and its loss, the model
 * inputs a mode needs, and the model's outputs over a loader.
 *   classification  outputs [B, K] logits, targets one-hot [B, K]; loss 'CE' (default) or 'BCE'
 *   multilabel      outputs [B, K] logits, targets multi-hot [B, K]; loss 'BCE' (default) or 'CE'
 *   regression      outputs [B, D] = the target vector itself (no sigmoid: see social_mae_ft.ts);
 *                   loss 'MSE' (default) or 'L1'
 */
import { torch, F, type Tensor } from '../tensor';
import { modeInputs, type SocialMAEFT, type FTMode } from '../models';
import type { Task } from '../data/labels';
import type { Batch, DataLoader } from '../data/loader';
import { TrainError } from './errors';
import { withAmp, type FitOptions } from './fit';

export type LossKind = 'CE' | 'BCE' | 'MSE' | 'L1';
export const LOSS_KINDS: readonly LossKind[] = ['CE', 'BCE', 'MSE', 'L1'];
const LOSSES: Record<Task, readonly LossKind[]> = { classification: ['CE', 'BCE'], multilabel: ['BCE', 'CE'], regression: ['MSE', 'L1'] };
export const TASKS: readonly Task[] = ['classification', 'multilabel', 'regression'];

/** The loss for `task` (its default when `loss` is undefined); ERR_INVALID_ARG for a loss the task cannot use. */
export function resolveLoss(task: Task, loss: LossKind | undefined, fn = 'finetune'): LossKind {
  if (!TASKS.includes(task)) throw new TrainError(`${fn}: task must be one of ${TASKS.join(', ')}, got ${String(task)}`, 'ERR_INVALID_ARG');
  const ok = LOSSES[task];
  if (loss === undefined) return ok[0]!;
  if (!ok.includes(loss)) throw new TrainError(`${fn}: loss for a ${task} task must be ${ok.join(' or ')}, got ${String(loss)}`, 'ERR_INVALID_ARG');
  return loss;
}

/** loss(outputs [B, K], targets [B, K]) as a float32 scalar; label smoothing applies to class targets only. */
export function lossFunction(kind: LossKind, K: number, labelSmooth = 0): (out: Tensor, y: Tensor) => Tensor {
  if (!(labelSmooth >= 0 && labelSmooth < 1)) throw new TrainError(`finetune: labelSmooth must be in [0, 1), got ${labelSmooth}`, 'ERR_INVALID_ARG');
  return (out, y) => {
    const x = out.to('float32');
    if (kind === 'MSE') return F.mseLoss(x, y);
    if (kind === 'L1') return F.l1Loss(x, y);
    const target = labelSmooth > 0 ? y.mul(1 - labelSmooth).add(labelSmooth / K) : y;
    return kind === 'CE' ? F.crossEntropy(x, target) : F.binaryCrossEntropyWithLogits(x, target);
  };
}

/** Inputs of one batch on `device` for `mode` (a modality the mode does not read is passed as null). */
export function modelInputs(batch: Batch, device: string, mode: FTMode, fn = 'finetune'): [Tensor | null, Tensor | null] {
  const need = modeInputs(mode, fn);
  if ((need.audio && !batch.audio) || (need.video && !batch.video))
    throw new TrainError(
      `${fn}: mode '${mode}' needs ${need.audio ? 'audio' : ''}${need.audio && need.video ? ' and ' : ''}${need.video ? 'video' : ''} in every batch`,
      'ERR_INVALID_ARG',
    );
  return [need.audio ? batch.audio!.to(device) : null, need.video ? batch.video!.to(device) : null];
}

/** Targets as float32 [B, K] on `device` (class indices become one-hot; vectors are taken as they are). */
export function targetMatrix(batch: Batch, K: number, device: string, fn = 'finetune'): Tensor {
  if (!batch.label) throw new TrainError(`${fn}: batches need labels (a labelled manifest or folder layout)`, 'ERR_INVALID_ARG');
  const y = batch.label.dtype === 'int64' ? F.oneHot(batch.label, K).to('float32') : batch.label.to('float32');
  if (y.ndim !== 2 || y.size(1) !== K)
    throw new TrainError(`${fn}: labels must be [B] class indices or [B, ${K}], got ${JSON.stringify(batch.label.shape)}`, 'ERR_INVALID_ARG');
  return y.to(device);
}

/** Outputs of every item of a loader (eval mode, no grad): scores [N, K] (logits, or the regression
 *  outputs) and, when every batch is labelled, targets [N, K]; row-major. */
export async function predictScores(
  model: SocialMAEFT,
  loader: DataLoader,
  o: { mode?: FTMode; amp?: FitOptions['amp'] } = {},
): Promise<{ ids: string[]; scores: Float32Array; targets: Float32Array }> {
  const device = model.parameters()[0]?.device ?? 'cpu';
  const mode = o.mode ?? 'multimodal';
  const K = model.config.labelDim;
  model.eval();
  const ids: string[] = [];
  const scores: number[] = [];
  const targets: number[] = [];
  for await (const batch of loader.epoch(0)) {
    try {
      torch.noGrad(() =>
        torch.tidy(() => {
          const [a, v] = modelInputs(batch, device, mode, 'predict');
          const logits = withAmp(device, o.amp, () => model.forward(a, v, mode));
          scores.push(...(logits.to('float32').toArray() as Float32Array));
          if (batch.label) targets.push(...(targetMatrix(batch, K, 'cpu', 'predict').toArray() as Float32Array));
        }),
      );
      ids.push(...batch.ids);
    } finally {
      batch.dispose();
    }
  }
  return { ids, scores: Float32Array.from(scores), targets: Float32Array.from(targets) };
}
