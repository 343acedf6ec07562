/**
 * Evaluation metrics of the reference finetuning script (its `calculate_stats`, built on scikit-learn):
 * accuracy of the arg-max, and per class the average precision and the ROC AUC, averaged into mAP and
 * mAUC. Host-side, on flat row-major arrays: scores [N, K], targets [N, K] (one-/multi-hot or soft).
 */

/** scikit-learn's average_precision_score for one class: sum over distinct thresholds (descending) of
 *  (R_k - R_{k-1}) * P_k. NaN when the class has no positive example. */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const order = descending(scores);
  let totalPos = 0;
  for (let i = 0; i < positive.length; i++) if (positive[i]) totalPos++;
  if (totalPos === 0) return NaN;
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let prevRecall = 0;
  for (let i = 0; i < order.length; i++) {
    const j = order[i]!;
    if (positive[j]) tp++;
    else fp++;
    // one point per distinct score: only at the last element of a run of ties
    if (i + 1 < order.length && scores[order[i + 1]!] === scores[j]) continue;
    const recall = tp / totalPos;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}

/** scikit-learn's roc_auc_score for one class (trapezoids over distinct thresholds; ties count half).
 *  NaN when only one class is present. */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const order = descending(scores);
  let P = 0;
  for (let i = 0; i < positive.length; i++) if (positive[i]) P++;
  const N = positive.length - P;
  if (P === 0 || N === 0) return NaN;
  let tp = 0;
  let fp = 0;
  let area = 0;
  let prevTpr = 0;
  let prevFpr = 0;
  for (let i = 0; i < order.length; i++) {
    const j = order[i]!;
    if (positive[j]) tp++;
    else fp++;
    if (i + 1 < order.length && scores[order[i + 1]!] === scores[j]) continue;
    const tpr = tp / P;
    const fpr = fp / N;
    area += ((fpr - prevFpr) * (tpr + prevTpr)) / 2;
    prevTpr = tpr;
    prevFpr = fpr;
  }
  return area;
}

/** Indices sorted by descending score (stable). */
function descending(scores: ArrayLike<number>): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
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
