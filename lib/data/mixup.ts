/**
 * Mixup as the reference dataloader does it (CAV-MAE's `__getitem__` with `mixup > 0`): with probability
 * p an item is mixed with a random partner of the dataset, lambda ~ Beta(10, 10):
 *   audio: both waveforms mean-removed, the partner's zero-padded or cut to the item's length, mixed
 *          lambda * w1 + (1 - lambda) * w2, then the usual recipe (mean removal, fbank, pad/trim, norm);
 *   video: lambda * frames1 + (1 - lambda) * frames2 (each clip with its own window);
 *   label: lambda * y1 + (1 - lambda) * y2 over the label space (a float target).
 * The draws (whether, partner, lambda) come from a per-(seed, epoch, index) Python Random, separate from
 * the one that picks video windows, so they are reproducible and independent of load order.
 */
import { PyRandom, betavariate, itemSeed } from './pyrandom';
import type { DataItem } from './source-types';

/** The partner of one mixed item (plain data: it crosses to worker threads). */
export interface MixPlan {
  partner: DataItem;
  /** The partner's index in the source (for its video window). */
  partnerIndex: number;
  /** Weight of the item itself; the partner gets 1 - lambda. */
  lambda: number;
  /** Size of the label space (one-hot length), or 0 when the items carry no labels. */
  labelCount: number;
}

/** Keeps mixup's random stream apart from the video-window stream of the same item. */
const MIX_SALT = 0x6d697875; // "mixu"

/** Whether item `index` of `epoch` is mixed, and with which partner; null when it is not. */
export function planMixup(
  items: readonly DataItem[],
  index: number,
  o: { seed: number; epoch: number; probability: number; labelCount: number },
): MixPlan | null {
  if (!(o.probability > 0)) return null;
  const rng = new PyRandom(itemSeed((o.seed ^ MIX_SALT) >>> 0, o.epoch, index));
  if (!(rng.random() < o.probability)) return null;
  const partnerIndex = rng.randbelow(items.length);
  return { partner: items[partnerIndex]!, partnerIndex, lambda: betavariate(rng, 10, 10), labelCount: o.labelCount };
}

/**
 * The reference's waveform mix: [C, N1] and [C2, N2] float32 (row-major) -> [C, N1]. Each input is
 * mean-removed first; the partner is zero-padded or cut to N1. Channel counts that differ use channel 0
 * of both (the reference assumes mono files).
 */
export function mixWaveforms(a: Float32Array, ca: number, b: Float32Array, cb: number, lambda: number): { data: Float32Array; channels: number } {
  const channels = ca === cb ? ca : 1;
  const na = a.length / ca;
  const nb = b.length / cb;
  const mean = (x: Float32Array, n: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]!;
    return n ? s / n : 0;
  };
  // the reference subtracts the mean over the whole tensor
  const ma = mean(a, channels === ca ? a.length : na);
  const mb = mean(b, channels === cb ? b.length : nb);
  const out = new Float32Array(channels * na);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < na; i++) {
      const w2 = i < nb ? b[c * nb + i]! - mb : 0;
      out[c * na + i] = lambda * (a[c * na + i]! - ma) + (1 - lambda) * w2;
    }
  }
  return { data: out, channels };
}

/** lambda * y1 + (1 - lambda) * y2 over `count` classes; y is a class index or a label vector. */
export function mixTargets(y1: number | number[], y2: number | number[], lambda: number, count: number): number[] {
  const vec = (y: number | number[]) => (typeof y === 'number' ? Array.from({ length: count }, (_, k) => (k === y ? 1 : 0)) : y);
  const a = vec(y1);
  const b = vec(y2);
  return a.map((v, k) => lambda * v + (1 - lambda) * (b[k] ?? 0));
}
