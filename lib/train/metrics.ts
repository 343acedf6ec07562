/**
 * Evaluation metrics, with scikit-learn's definitions (the reference scripts call scikit-learn):
 * - `classificationStats`: the reference's `calculate_stats` (accuracy of the arg-max, per-class average
 *   precision and ROC AUC, averaged into mAP and mAUC);
 * - `classificationReport`: what `main_ft.py` reports for single-label tasks: balanced accuracy, the
 *   confusion matrix, per-class precision / recall / F1, macro-F1, and for two classes the ROC AUC;
 * - `regressionReport`: 1 - MAE per named target and their mean (`main_ft.py`, scikit-learn's
 *   `mean_absolute_error`), plus Pearson r per target.
 * Host-side, on flat row-major arrays: scores [N, K], targets [N, K] (one-/multi-hot, soft or regression).
 */

/**
 * Cumulative true/false positive counts at each distinct score, from the highest down (the points of
 * scikit-learn's precision-recall and ROC curves: a run of tied scores is one threshold).
 */
function thresholdCounts(scores: ArrayLike<number>, positive: ArrayLike<boolean>): { tp: number[]; fp: number[] } {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const tp: number[] = [];
  const fp: number[] = [];
  let t = 0;
  let f = 0;
  order.forEach((j, i) => {
    if (positive[j]) t++;
    else f++;
    if (i + 1 < order.length && scores[order[i + 1]!] === scores[j]) return;
    tp.push(t);
    fp.push(f);
  });
  return { tp, fp };
}

/** scikit-learn's average_precision_score for one class: sum over distinct thresholds (descending) of
 *  (R_k - R_{k-1}) * P_k. NaN when the class has no positive example. */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const { tp, fp } = thresholdCounts(scores, positive);
  const P = tp[tp.length - 1] ?? 0;
  if (P === 0) return NaN;
  let ap = 0;
  tp.forEach((t, k) => (ap += ((t - (tp[k - 1] ?? 0)) / P) * (t / (t + fp[k]!))));
  return ap;
}

/** scikit-learn's roc_auc_score for one class (trapezoids over distinct thresholds; ties count half).
 *  NaN when only one class is present. */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const { tp, fp } = thresholdCounts(scores, positive);
  const P = tp[tp.length - 1] ?? 0;
  const N = fp[fp.length - 1] ?? 0;
  if (P === 0 || N === 0) return NaN;
  let area = 0;
  tp.forEach((t, k) => (area += (((fp[k]! - (fp[k - 1] ?? 0)) / N) * ((t + (tp[k - 1] ?? 0)) / P)) / 2));
  return area;
}

/** Index of the first maximum of row r of a [N, K] array (numpy's argmax). */
export function argmaxRow(x: ArrayLike<number>, r: number, K: number): number {
  let best = 0;
  for (let k = 1; k < K; k++) if (x[r * K + k]! > x[r * K + best]!) best = k;
  return best;
}

export interface ClassificationStats {
  /** Fraction of rows whose arg-max score is the arg-max target. */
  acc: number;
  /** Mean of the per-class AP over the classes that have a positive example. */
  mAP: number;
  /** Mean of the per-class AUC over the classes that have both positives and negatives. */
  mAUC: number;
  /** Per class (NaN where undefined). */
  ap: number[];
  auc: number[];
}

/**
 * The reference's statistics. `scores`: [N, K] logits or probabilities (rank-based metrics: either);
 * `targets`: [N, K]; a target entry > 0.5 counts as positive (so label-smoothed targets work).
 */
export function classificationStats(scores: ArrayLike<number>, targets: ArrayLike<number>, K: number): ClassificationStats {
  if (!Number.isInteger(K) || K < 1 || scores.length % K !== 0 || targets.length !== scores.length) {
    throw new RangeError(`classificationStats: expected scores and targets of the same length N*K with K=${K}, got ${scores.length} and ${targets.length}`);
  }
  const N = scores.length / K;
  let correct = 0;
  for (let r = 0; r < N; r++) if (argmaxRow(scores, r, K) === argmaxRow(targets, r, K)) correct++;
  const ap: number[] = [];
  const auc: number[] = [];
  for (let k = 0; k < K; k++) {
    const s = new Float64Array(N);
    const p = new Array<boolean>(N);
    for (let r = 0; r < N; r++) {
      s[r] = scores[r * K + k]!;
      p[r] = targets[r * K + k]! > 0.5;
    }
    ap.push(averagePrecision(s, p));
    auc.push(rocAuc(s, p));
  }
  const mean = (xs: number[]) => {
    const d = xs.filter((x) => !Number.isNaN(x));
    return d.length ? d.reduce((a, b) => a + b, 0) / d.length : NaN;
  };
  return { acc: N ? correct / N : NaN, mAP: mean(ap), mAUC: mean(auc), ap, auc };
}

/** Class indices [N] of the arg-max of each row of a [N, K] array. */
export function argmaxRows(x: ArrayLike<number>, K: number): Int32Array {
  const N = Math.floor(x.length / K);
  return Int32Array.from({ length: N }, (_, r) => argmaxRow(x, r, K));
}

/** scikit-learn's confusion_matrix(yTrue, yPred, labels=range(K)): [K][K], row = true class, column = predicted. */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, K: number): number[][] {
  if (yTrue.length !== yPred.length) throw new RangeError(`confusionMatrix: yTrue has ${yTrue.length} entries, yPred ${yPred.length}`);
  const m = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i]!;
    const p = yPred[i]!;
    if (!(Number.isInteger(t) && t >= 0 && t < K && Number.isInteger(p) && p >= 0 && p < K))
      throw new RangeError(`confusionMatrix: entry ${i} has classes ${t}, ${p}; expected integers in [0, ${K})`);
    m[t]![p]!++;
  }
  return m;
}

/**
 * scikit-learn's balanced_accuracy_score(yTrue, yPred) from a confusion matrix: the mean recall over the
 * classes that occur in yTrue. A class that is predicted but absent from yTrue has no recall; scikit-learn
 * drops it with the warning "y_pred contains classes not in y_true", returned here in `warning`.
 * NaN for no rows.
 */
export function balancedAccuracy(cm: number[][]): { value: number; warning?: string } {
  const recalls: number[] = [];
  let predictedOnly = false;
  cm.forEach((row, k) => {
    const n = row.reduce((a, b) => a + b, 0);
    if (n > 0) recalls.push(row[k]! / n);
    else if (cm.some((r) => r[k]! > 0)) predictedOnly = true;
  });
  const value = recalls.length ? recalls.reduce((a, b) => a + b, 0) / recalls.length : NaN;
  return predictedOnly ? { value, warning: 'y_pred contains classes not in y_true' } : { value };
}

export interface ClassificationReport extends ClassificationStats {
  /** scikit-learn's balanced_accuracy_score of the arg-max predictions. */
  balancedAcc: number;
  /** Per class (index = class): scikit-learn's precision_recall_fscore_support with zero_division=0
   *  (a class never predicted has precision 0, one absent from the targets recall 0, and then F1 0). */
  precision: number[];
  recall: number[];
  f1: number[];
  /** Number of true rows per class. */
  support: number[];
  /** scikit-learn's f1_score(average='macro'): the mean F1 over the classes that occur in the targets or
   *  the predictions (its default labels); classes absent from both are not averaged. */
  macroF1: number;
  /** [K][K] counts, row = true class, column = predicted class. */
  confusion: number[][];
  /** Two classes only: roc_auc_score of the class-1 softmax probability (NaN when one class is absent). */
  rocAuc?: number;
  /** scikit-learn's warnings for this input (classes predicted but absent from the targets, ...). */
  warnings: string[];
}

/**
 * What `main_ft.py` reports for a single-label task. `scores`: [N, K] logits; `targets`: [N, K] (the
 * arg-max of each row is its class).
 */
export function classificationReport(scores: ArrayLike<number>, targets: ArrayLike<number>, K: number): ClassificationReport {
  const stats = classificationStats(scores, targets, K);
  const yTrue = argmaxRows(targets, K);
  const yPred = argmaxRows(scores, K);
  const cm = confusionMatrix(yTrue, yPred, K);
  const warnings: string[] = [];
  const ba = balancedAccuracy(cm);
  if (ba.warning) warnings.push(ba.warning);
  const support = cm.map((row) => row.reduce((a, b) => a + b, 0));
  const predicted = cm[0]!.map((_, k) => cm.reduce((a, row) => a + row[k]!, 0));
  const precision = cm.map((row, k) => (predicted[k]! > 0 ? row[k]! / predicted[k]! : 0));
  const recall = cm.map((row, k) => (support[k]! > 0 ? row[k]! / support[k]! : 0));
  const f1 = precision.map((p, k) => (p + recall[k]! > 0 ? (2 * p * recall[k]!) / (p + recall[k]!) : 0));
  const present = f1.filter((_, k) => support[k]! > 0 || predicted[k]! > 0);
  const macroF1 = present.length ? present.reduce((a, b) => a + b, 0) / present.length : NaN;
  const report: ClassificationReport = { ...stats, balancedAcc: ba.value, precision, recall, f1, support, macroF1, confusion: cm, warnings };
  if (K === 2) {
    // softmax(l)[1] = sigmoid(l1 - l0), computed in float64 so that ranks (and ties) are those of the logits.
    const N = yTrue.length;
    const p1 = Float64Array.from({ length: N }, (_, r) => 1 / (1 + Math.exp(scores[r * 2]! - scores[r * 2 + 1]!)));
    report.rocAuc = rocAuc(
      p1,
      Array.from(yTrue, (y) => y === 1),
    );
  }
  return report;
}

export interface RegressionReport {
  /** Target names, in output order. */
  names: string[];
  /** scikit-learn's mean_absolute_error(y[:, j], p[:, j]) per target. */
  mae: number[];
  /** 1 - mae per target (the reference's score for each trait). */
  score: number[];
  /** Mean of `score` over the targets (= 1 - the mean MAE), the reference's headline number. */
  meanScore: number;
  /** Pearson correlation per target (NaN where predictions or targets are constant). */
  pearson: number[];
  /** Mean squared error over all entries. */
  mse: number;
}

/** Regression metrics of predictions [N, D] against targets [N, D], with `names` of length D. */
export function regressionReport(preds: ArrayLike<number>, targets: ArrayLike<number>, names: readonly string[]): RegressionReport {
  const D = names.length;
  if (D < 1 || preds.length % D !== 0 || targets.length !== preds.length || preds.length === 0)
    throw new RangeError(
      `regressionReport: expected predictions and targets of the same length N*D > 0 with D=${D}, got ${preds.length} and ${targets.length}`,
    );
  const N = preds.length / D;
  const mae: number[] = [];
  const pearson: number[] = [];
  let se = 0;
  for (let j = 0; j < D; j++) {
    let abs = 0;
    let mp = 0;
    let mt = 0;
    for (let r = 0; r < N; r++) {
      const d = preds[r * D + j]! - targets[r * D + j]!;
      abs += Math.abs(d);
      se += d * d;
      mp += preds[r * D + j]!;
      mt += targets[r * D + j]!;
    }
    mae.push(abs / N);
    mp /= N;
    mt /= N;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let r = 0; r < N; r++) {
      const x = preds[r * D + j]! - mp;
      const y = targets[r * D + j]! - mt;
      sxy += x * y;
      sxx += x * x;
      syy += y * y;
    }
    pearson.push(sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN);
  }
  const score = mae.map((m) => 1 - m);
  return { names: [...names], mae, score, meanScore: score.reduce((a, b) => a + b, 0) / D, pearson, mse: se / (N * D) };
}
