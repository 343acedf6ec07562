/**
 * Cross-modal retrieval with CAV-MAE's protocol (its retrieval.py): the mean-pooled audio and video
 * embeddings of N paired clips (item i's audio belongs with item i's video) are L2-normalised, the
 * similarity is the cosine, and for each query the rank of its own partner among the N candidates gives
 * recall@1/5/10 and the median rank. Ties are counted as the reference's compute_metrics counts them:
 * every sorted position holding the partner's similarity counts as a hit position, so a query with tied
 * candidates contributes several positions.
 *
 * On a labelled set (`labelRetrievalMetrics`) a match is any candidate with the query's class: a query's
 * position is that of its first same-class candidate (candidates ranked by similarity, ties by index).
 */
import { TrainError } from './errors';

export interface RetrievalMetrics {
  R1: number;
  R5: number;
  R10: number;
  /** Median rank (1 = first), numpy's median of the positions plus 1. */
  MR: number;
}

/** sim[i][j] = cos(queries_i, keys_j) of row-major [N, D] arrays, in float64. */
export function cosineMatrix(queries: ArrayLike<number>, keys: ArrayLike<number>, N: number, D: number): Float64Array[] {
  if (queries.length !== N * D || keys.length !== N * D)
    throw new TrainError(`retrieval: expected two [${N}, ${D}] embedding arrays, got ${queries.length} and ${keys.length} values`, 'ERR_INVALID_ARG');
  const unit = (x: ArrayLike<number>) =>
    Array.from({ length: N }, (_, i) => {
      const v = Float64Array.from({ length: D }, (_, d) => x[i * D + d]!);
      const n = Math.hypot(...v);
      return n > 0 ? v.map((e) => e / n) : v;
    });
  const q = unit(queries);
  const k = unit(keys);
  return q.map((a) =>
    Float64Array.from(k, (b) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += a[d]! * b[d]!;
      return s;
    }),
  );
}

/** The reference's compute_metrics on a similarity matrix whose diagonal holds the true pairs. */
export function retrievalMetrics(sim: readonly ArrayLike<number>[]): RetrievalMetrics {
  const pos: number[] = [];
  sim.forEach((row, i) => {
    const sorted = Array.from(row).sort((a, b) => b - a);
    sorted.forEach((v, p) => v === row[i] && pos.push(p));
  });
  if (pos.length === 0) throw new TrainError('retrieval: no queries', 'ERR_INVALID_ARG');
  return summarize(pos);
}

/**
 * Retrieval by class on a labelled set: sim[i][j] between query i and candidate j (same item order),
 * labels[i] the class of item i (null: not a query, never a match). R@k: the fraction of queries with a
 * same-class candidate among their k best; MR: the median position of the first one, plus 1. The query's
 * own partner counts like any other same-class candidate.
 */
export function labelRetrievalMetrics(sim: readonly ArrayLike<number>[], labels: readonly (string | null)[]): RetrievalMetrics {
  if (labels.length !== sim.length) throw new TrainError(`retrieval: ${sim.length} queries but ${labels.length} labels`, 'ERR_INVALID_ARG');
  const pos: number[] = [];
  topK(sim, sim.length).forEach((ranked, i) => {
    if (labels[i] === null) return;
    const p = ranked.findIndex((j) => labels[j] === labels[i]);
    if (p >= 0) pos.push(p);
  });
  if (pos.length === 0) throw new TrainError('retrieval: no labelled query has a same-class candidate', 'ERR_INVALID_ARG');
  return summarize(pos);
}

/** Recall@1/5/10 and median rank (numpy's median, plus 1) of 0-based hit positions. */
function summarize(pos: number[]): RetrievalMetrics {
  const frac = (k: number) => pos.filter((p) => p < k).length / pos.length;
  const s = [...pos].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
  return { R1: frac(1), R5: frac(5), R10: frac(10), MR: median + 1 };
}

/** Ranked candidate indices for each query (most similar first), the top `k`. */
export function topK(sim: readonly ArrayLike<number>[], k: number): number[][] {
  return sim.map((row) =>
    Array.from({ length: row.length }, (_, j) => j)
      .sort((a, b) => row[b]! - row[a]! || a - b)
      .slice(0, k),
  );
}

/** Both directions: audio queries ranking videos (the reference's 'audio') and video queries ranking audio. */
export function crossModalRetrieval(
  audio: ArrayLike<number>,
  video: ArrayLike<number>,
  N: number,
  D: number,
): { audioToVideo: RetrievalMetrics; videoToAudio: RetrievalMetrics; simAV: Float64Array[] } {
  const simAV = cosineMatrix(audio, video, N, D);
  const simVA = simAV.map((_, j) => Float64Array.from(simAV, (row) => row[j]!));
  return { audioToVideo: retrievalMetrics(simAV), videoToAudio: retrievalMetrics(simVA), simAV };
}
