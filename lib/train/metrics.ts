/**
 * Evaluation metrics of the reference finetuning script (its `calculate_stats`, built on scikit-learn):
 * accuracy of the arg-max, and per class the average precision and the ROC AUC, averaged into mAP and
 * mAUC. Host-side, on flat row-major arrays: scores [N, K], targets [N, K] (one-/multi-hot or soft).
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
