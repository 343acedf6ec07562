/**
 * Per-sample random masking by argsort of noise (MAE / CAV-MAE): tokens are ordered by ascending noise,
 * the first floor(L * (1 - ratio)) are kept, in that (ascending-noise) order. The noise is injectable
 * for reproducibility; the default draw is Gaussian (torch.randn) like the reference. Structured audio
 * masking ('time', 'freq', 'tf') as CAV-MAE offers it removes whole time columns / frequency rows first.
 */
import { Tensor, TorchError, torch } from '../../tensor';
import { describeValue } from '../../tensor/errors';

export type MaskMode = 'unstructured' | 'time' | 'freq' | 'tf';
export const MASK_MODES: readonly MaskMode[] = ['unstructured', 'time', 'freq', 'tf'];

export interface MaskingResult {
  /** kept tokens [N, lenKeep, D], in ascending-noise order */
  xMasked: Tensor;
  /** [N, L] float: 1 = removed, 0 = kept, in the original token order */
  mask: Tensor;
  /** [N, L] int64: argsort(argsort(noise)); position j of the unshuffled sequence takes element idsRestore[j] */
  idsRestore: Tensor;
  /** [N, lenKeep] int64: indices of the kept tokens, in the order they are fed to the encoder */
  idsKeep: Tensor;
}

/** int(L * (1 - ratio)) as Python computes it (float64 product, truncated). */
export function lenKeep(L: number, ratio: number): number {
  return Math.trunc(L * (1 - ratio));
}

/** Validates a mask ratio in [0, 1). */
export function checkRatio(fn: string, name: string, ratio: unknown): number {
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio < 1)) {
    throw new TorchError(`${fn}: argument '${name}' expected a number in [0, 1), got ${describeValue(ratio)}`, 'ERR_INVALID_ARG');
  }
  return ratio;
}

/** Validates injected noise: a floating tensor [N, L] on x's device. */
export function checkNoise(fn: string, name: string, noise: unknown, N: number, L: number): Tensor {
  if (!(noise instanceof Tensor))
    throw new TorchError(`${fn}: argument '${name}' expected a Tensor [${N}, ${L}], got ${describeValue(noise)}`, 'ERR_INVALID_ARG');
  const s = noise.shape;
  if (s.length !== 2 || s[0] !== N || s[1] !== L || !['float32', 'float64', 'float16', 'bfloat16'].includes(noise.dtype)) {
    throw new TorchError(`${fn}: argument '${name}' expected a float Tensor [${N}, ${L}], got ${noise.dtype} ${JSON.stringify(s)}`, 'ERR_INVALID_ARG');
  }
  return noise;
}

/**
 * Masks x: [N, L, D] with noise [N, L] (default: torch.randn on x's device). Returns the kept tokens,
 * the mask, the restore and keep indices. Masked tokens get no gradient; kept ones carry x's graph.
 */
export function randomMasking(x: Tensor, ratio: number, noise?: Tensor): MaskingResult {
  checkRatio('randomMasking', 'ratio', ratio);
  const [N, L, D] = x.shape;
  const keep = lenKeep(L, ratio);
  return torch.tidy(() => {
    const nz = noise ? checkNoise('randomMasking', 'noise', noise, N, L) : torch.randn([N, L], { device: x.device });
    const idsShuffle = nz.argsort(1);
    const idsRestore = idsShuffle.argsort(1);
    const idsKeep = idsShuffle.slice(1, 0, keep);
    const xMasked = x.gather(1, idsKeep.unsqueeze(-1).expand([N, keep, D]));
    // ones with the first `keep` zeroed, unshuffled: removed <=> restored rank >= keep
    const mask = idsRestore.ge(keep).to('float32');
    return { xMasked, mask, idsRestore, idsKeep };
  });
}

/**
 * CAV-MAE's structured noise for audio tokens on a (f rows x t columns) grid, token m = row*t + col:
 * uniform noise, plus 2 on the tokens of int(t*ratio) random time columns ('time'), int(f*ratio) random
 * frequency rows ('freq'), or int(t*ratio*0.7) columns and int(f*ratio*0.7) rows ('tf'), so those are
 * removed first. 'unstructured' returns plain uniform noise. base: optional [N, f*t] noise in [0, 1).
 */
export function structuredNoise(N: number, f: number, t: number, ratio: number, mode: MaskMode, opts: { device?: string; base?: Tensor } = {}): Tensor {
  if (!MASK_MODES.includes(mode)) {
    throw new TorchError(`structuredNoise: argument 'mode' expected one of ${MASK_MODES.join(', ')}, got ${describeValue(mode)}`, 'ERR_INVALID_ARG');
  }
  checkRatio('structuredNoise', 'ratio', ratio);
  const device = opts.device ?? 'cpu';
  return torch.tidy(() => {
    const base = opts.base ? checkNoise('structuredNoise', 'base', opts.base, N, f * t) : torch.rand([N, f * t], { device });
    if (mode === 'unstructured') return base.clone();
    const pick = (n: number, k: number) => torch.rand([N, n], { device }).argsort(1).argsort(1).lt(k).to('float32');
    const scale = mode === 'tf' ? 0.7 : 1;
    let hit = torch.zeros([N, f, t], { device });
    if (mode === 'time' || mode === 'tf')
      hit = hit.maximum(
        pick(t, Math.trunc(t * ratio * scale))
          .reshape([N, 1, t])
          .expand([N, f, t]),
      );
    if (mode === 'freq' || mode === 'tf')
      hit = hit.maximum(
        pick(f, Math.trunc(f * ratio * scale))
          .reshape([N, f, 1])
          .expand([N, f, t]),
      );
    return base.add(hit.reshape([N, f * t]).mul(2));
  });
}
