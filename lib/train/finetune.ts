/**
 * Supervised finetuning of SocialMAEFT, as the reference's traintest_ft.py: Adam with two parameter
 * groups (the new head `mlp_head.*` at lr * headLr, everything else at lr; or the head alone with
 * `freezeBase`), cross-entropy or BCE with optional label smoothing, SpecAugment (`freqm`, `timem`) and
 * the fbank noise/roll (`noise`) on the training batches, and per epoch accuracy / mAP / mAUC on the validation set; the best epoch is the one
 * with the highest `metric`.
 */
import { torch, F, type Tensor } from '../tensor';
import { Adam, type Optimizer } from '../optim';
import { modeInputs, type SocialMAEFT, type FTMode } from '../models';
import type { Batch, DataLoader } from '../data/loader';
import { TrainError } from './errors';
import { fbankNoise, specAugment } from './augment';
import { fit, withAmp, type FitOptions } from './fit';
import { classificationStats } from './metrics';
import type { EpochRecord } from './run_dir';

export interface FinetuneLoopOptions extends FitOptions {
  lr?: number; // 1e-5
  /** The head's lr multiplier (the reference's head_lr; default 100). */
  headLr?: number;
  weightDecay?: number; // 5e-7
  betas?: [number, number]; // [0.95, 0.999]
  mode?: FTMode; // 'multimodal'
  /** 'CE' (default for single-label classes) or 'BCE' (default for multi-label). */
  loss?: 'CE' | 'BCE';
  labelSmooth?: number; // 0
  /** SpecAugment widths for training batches (0 = off). */
  freqm?: number;
  timem?: number;
  /** The reference's fbank noise + random time roll on training batches (after SpecAugment). */
  noise?: boolean;
  /** Train the head only. */
  freezeBase?: boolean;
  /** Validation metric that picks the best epoch: 'acc' (default for single-label) or 'mAP'. */
  metric?: 'acc' | 'mAP';
  val?: DataLoader;
  /** Use this optimizer (owned by the caller) instead of the reference's two-group Adam. */
  optimizer?: Optimizer;
  config?: Record<string, unknown>;
}

/** Inputs of one batch on `device` for `mode` (a missing modality is passed as null). */
function inputs(batch: Batch, device: string, mode: FTMode): [Tensor | null, Tensor | null] {
  const need = modeInputs(mode, 'finetune');
  if ((need.audio && !batch.audio) || (need.video && !batch.video))
    throw new TrainError(
      `finetune: mode '${mode}' needs ${need.audio ? 'audio' : ''}${need.audio && need.video ? ' and ' : ''}${need.video ? 'video' : ''} in every batch`,
      'ERR_INVALID_ARG',
    );
  return [need.audio ? batch.audio!.to(device) : null, need.video ? batch.video!.to(device) : null];
}

/** Targets as float32 [B, K] on `device` (class indices become one-hot). */
function targetMatrix(batch: Batch, K: number, device: string): Tensor {
  if (!batch.label) throw new TrainError('finetune: batches need labels (a labelled manifest or folder layout)', 'ERR_INVALID_ARG');
  const y = batch.label.dtype === 'int64' ? F.oneHot(batch.label, K).to('float32') : batch.label.to('float32');
  if (y.ndim !== 2 || y.size(1) !== K)
    throw new TrainError(`finetune: labels must be [B] class indices or [B, ${K}], got ${JSON.stringify(batch.label.shape)}`, 'ERR_INVALID_ARG');
  return y.to(device);
}

export async function finetune(model: SocialMAEFT, train: DataLoader, o: FinetuneLoopOptions): Promise<EpochRecord[]> {
  const device = model.parameters()[0]?.device ?? 'cpu';
  const K = model.config.labelDim;
  const multilabel = train.labels?.task === 'multilabel';
  const lossKind = o.loss ?? (multilabel ? 'BCE' : 'CE');
  const metric = o.metric ?? (multilabel ? 'mAP' : 'acc');
  const mode = o.mode ?? 'multimodal';
  const ls = o.labelSmooth ?? 0;
  if (!(ls >= 0 && ls < 1)) throw new TrainError(`finetune: labelSmooth must be in [0, 1), got ${ls}`, 'ERR_INVALID_ARG');
  if (lossKind !== 'CE' && lossKind !== 'BCE') throw new TrainError(`finetune: loss must be 'CE' or 'BCE', got ${String(lossKind)}`, 'ERR_INVALID_ARG');
  const hyper = { lr: o.lr ?? 1e-5, headLr: o.headLr ?? 100, weightDecay: o.weightDecay ?? 5e-7, betas: o.betas ?? ([0.95, 0.999] as [number, number]) };
  const named = model.namedParameters();
  const head = named.filter(([k]) => k.startsWith('mlp_head.')).map(([, p]) => p);
  const base = named.filter(([k]) => !k.startsWith('mlp_head.')).map(([, p]) => p);
  if (o.freezeBase) for (const p of base) p.requiresGrad = false;
  const headGroup = { params: head, lr: hyper.lr * hyper.headLr };
  const opt =
    o.optimizer ??
    new Adam(o.freezeBase ? [headGroup] : [{ params: base, lr: hyper.lr }, headGroup], { lr: hyper.lr, betas: hyper.betas, weightDecay: hyper.weightDecay });
  const lossOf = (logits: Tensor, y: Tensor) => {
    const target = ls > 0 ? y.mul(1 - ls).add(ls / K) : y;
    return lossKind === 'CE' ? F.crossEntropy(logits.to('float32'), target) : F.binaryCrossEntropyWithLogits(logits.to('float32'), target);
  };
  try {
    return await fit(
      {
        model,
        opt,
        train,
        device,
        ...(o.val ? { val: o.val } : {}),
        step: (batch) => {
          let [a, v] = inputs(batch, device, mode);
          if (a && ((o.freqm ?? 0) > 0 || (o.timem ?? 0) > 0)) a = specAugment(a, { freqm: o.freqm ?? 0, timem: o.timem ?? 0 });
          if (a && o.noise) a = fbankNoise(a);
          return { loss: lossOf(model.forward(a, v, mode), targetMatrix(batch, K, device)) };
        },
        evaluate: async (loader) => {
          const r = await predictScores(model, loader, { mode, amp: o.amp ?? 'off' });
          const stats = classificationStats(r.scores, r.targets, K);
          const loss = torch.tidy(() =>
            lossOf(torch.tensor(r.scores, { shape: [r.ids.length, K] }), torch.tensor(r.targets, { shape: [r.ids.length, K] })).item(),
          );
          return { loss, acc: stats.acc, mAP: stats.mAP, mAUC: stats.mAUC };
        },
        best: { key: metric, higherIsBetter: true },
        config: {
          task: 'finetune',
          ...(o.optimizer ? { optimizer: o.optimizer.constructor.name } : hyper),
          mode,
          loss: lossKind,
          labelSmooth: ls,
          freqm: o.freqm ?? 0,
          timem: o.timem ?? 0,
          noise: !!o.noise,
          freezeBase: !!o.freezeBase,
          metric,
          amp: o.amp ?? 'off',
          schedule: o.schedule ?? {},
          ...(o.config ?? {}),
        },
      },
      o,
    );
  } finally {
    if (!o.optimizer) opt.dispose();
  }
}

/** Logits of every item of a loader (eval mode, no grad): scores [N, K] and targets [N, K] row-major. */
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
          const [a, v] = inputs(batch, device, mode);
          const logits = withAmp(device, o.amp, () => model.forward(a, v, mode));
          scores.push(...(logits.to('float32').toArray() as Float32Array));
          if (batch.label) targets.push(...(targetMatrix(batch, K, 'cpu').toArray() as Float32Array));
        }),
      );
      ids.push(...batch.ids);
    } finally {
      batch.dispose();
    }
  }
  return { ids, scores: Float32Array.from(scores), targets: Float32Array.from(targets) };
}
