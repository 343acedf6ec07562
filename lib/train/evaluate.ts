/**
 * Evaluation of a SocialMAEFT on a labelled dataset, as `main_ft.py` reports it: the loss, the task's
 * metrics (metrics.ts), for single-label tasks the confusion matrix, and every item's prediction.
 * `writeEvalReport` stores the report as JSON atomically (eval.json of a run directory).
 */
import { torch } from '../tensor';
import type { SocialMAEFT, FTMode } from '../models';
import type { Task } from '../data/labels';
import type { DataLoader } from '../data/loader';
import { writeFileAtomic } from '../io/atomic';
import { TrainError } from './errors';
import type { FitOptions } from './fit';
import { classificationReport, classificationStats, regressionReport, type ClassificationReport, type RegressionReport } from './metrics';
import { lossFunction, predictScores, resolveLoss, type LossKind } from './supervised';

export interface EvalOptions {
  task: Task;
  /** Output names (classes or regression targets), length = the model's labelDim. */
  names: readonly string[];
  /** Default: the task's (resolveLoss). */
  loss?: LossKind;
  mode?: FTMode;
  amp?: FitOptions['amp'];
  /** Named in error messages (e.g. the data file). */
  what?: string;
}

/** One item's result: the model outputs (logits or regression values) and, for classes, the arg-max. */
export interface EvalPrediction {
  id: string;
  output: number[];
  target: number[];
  /** Single-label tasks: predicted and true class names. */
  predicted?: string;
  label?: string;
}

export interface EvalReport {
  task: Task;
  names: string[];
  items: number;
  lossKind: LossKind;
  loss: number;
  /** The scalars (what progress.json and metrics.jsonl record): loss and the task's metrics. */
  metrics: Record<string, number>;
  classification?: ClassificationReport;
  regression?: RegressionReport;
  predictions: EvalPrediction[];
}

/** The report of outputs `scores` [N, K] against `targets` [N, K]. */
export function reportFromScores(ids: readonly string[], scores: Float32Array, targets: Float32Array, o: EvalOptions): EvalReport {
  const K = o.names.length;
  const what = o.what ?? 'evaluate';
  if (ids.length === 0) throw new TrainError(`${what}: the dataset is empty (no item to evaluate)`, 'ERR_INVALID_ARG');
  if (targets.length !== scores.length || scores.length !== ids.length * K)
    throw new TrainError(`${what}: evaluation needs a label for every item (got ${targets.length / K} of ${ids.length})`, 'ERR_INVALID_ARG');
  const lossKind = resolveLoss(o.task, o.loss, what);
  const loss = torch.tidy(() =>
    lossFunction(lossKind, K)(torch.tensor(scores, { shape: [ids.length, K] }), torch.tensor(targets, { shape: [ids.length, K] })).item(),
  );
  const report: EvalReport = { task: o.task, names: [...o.names], items: ids.length, lossKind, loss, metrics: { loss }, predictions: [] };
  const row = (x: Float32Array, i: number) => Array.from(x.subarray(i * K, (i + 1) * K));
  if (o.task === 'regression') {
    const r = regressionReport(scores, targets, o.names);
    report.regression = r;
    Object.assign(report.metrics, { meanScore: r.meanScore, mae: 1 - r.meanScore, mse: r.mse });
    r.names.forEach((n, j) => Object.assign(report.metrics, { [`score_${n}`]: r.score[j]!, [`pearson_${n}`]: r.pearson[j]! }));
    report.predictions = ids.map((id, i) => ({ id, output: row(scores, i), target: row(targets, i) }));
  } else if (o.task === 'multilabel') {
    const s = classificationStats(scores, targets, K);
    Object.assign(report.metrics, { acc: s.acc, mAP: s.mAP, mAUC: s.mAUC });
    report.predictions = ids.map((id, i) => ({ id, output: row(scores, i), target: row(targets, i) }));
  } else {
    const c = classificationReport(scores, targets, K);
    report.classification = c;
    Object.assign(report.metrics, { acc: c.acc, mAP: c.mAP, mAUC: c.mAUC, balancedAcc: c.balancedAcc, macroF1: c.macroF1 });
    if (c.rocAuc !== undefined) report.metrics.rocAuc = c.rocAuc;
    report.predictions = ids.map((id, i) => {
      const out = row(scores, i);
      const t = row(targets, i);
      return { id, output: out, target: t, predicted: o.names[out.indexOf(Math.max(...out))]!, label: o.names[t.indexOf(Math.max(...t))]! };
    });
  }
  return report;
}

/** Evaluates `model` on every item of `loader` (eval mode, no grad). */
export async function evaluate(model: SocialMAEFT, loader: DataLoader, o: EvalOptions): Promise<EvalReport> {
  if (o.names.length !== model.config.labelDim)
    throw new TrainError(
      `${o.what ?? 'evaluate'}: the model has ${model.config.labelDim} outputs, the label space ${o.names.length} (${o.names.join(', ')})`,
      'ERR_INVALID_ARG',
    );
  const r = await predictScores(model, loader, { ...(o.mode ? { mode: o.mode } : {}), ...(o.amp ? { amp: o.amp } : {}) });
  return reportFromScores(r.ids, r.scores, r.targets, o);
}

/** Writes `report` (plus `extra` fields, e.g. the checkpoint evaluated) as pretty JSON, atomically; NaN is written as null. */
export async function writeEvalReport(file: string, report: EvalReport, extra: Record<string, unknown> = {}): Promise<void> {
  await writeFileAtomic(file, [Buffer.from(JSON.stringify({ ...extra, ...report }, null, 2) + '\n')]);
}
