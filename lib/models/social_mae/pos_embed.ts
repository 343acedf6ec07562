/**
 * Sin-cos positional embeddings (initial values of pos_embed_a/v and decoder_pos_embed_a/v).
 *
 * - {@link referenceSincos2d}: the reference helper `get_2d_sincos_pos_embed(D, gh, gw)` bit for bit
 *   (float32 numpy): both halves encode the column index p = m mod gw, with frequencies
 *   k / (D/4) / 1000 instead of 1 / 10000^(k / (D/4)).
 * - {@link sincos2d}: the MAE / CAV-MAE 2-D embedding (first half the column, second half the row),
 *   used for audio (rows = frequency, columns = time).
 * - {@link sincos3d}: video tokens (h, w, t), t fastest: [2-D (h, w) in 3D/4 dims, 1-D t in D/4 dims].
 * - {@link resampleGrid2d} / {@link inflateTime}: adapt a 2-D (image) embedding to another grid and
 *   to the (h, w, t) token layout (used when initialising from CAV-MAE).
 */
import { F, Tensor, TorchError, torch } from '../../tensor';

const f32 = Math.fround;

function check(fn: string, cond: boolean, msg: string): void {
  if (!cond) throw new TorchError(`${fn}: ${msg}`, 'ERR_CONFIG');
}

/**
 * The reference helper's output [gh*gw, D] (float32): row m = [sin(p w), cos(p w), sin(p w), cos(p w)],
 * p = m mod gw, w_k = fl32(fl32(k / (D/4)) * fl32(0.001)), each block D/4 wide.
 */
export function referenceSincos2d(D: number, gh: number, gw: number): Tensor {
  check('referenceSincos2d', Number.isSafeInteger(D) && D > 0 && D % 4 === 0, `D must be a positive multiple of 4, got ${D}`);
  const q = D / 4;
  const omega = new Float32Array(q);
  for (let k = 0; k < q; k++) omega[k] = f32(f32(f32(k) / f32(q)) * f32(1 / 1000));
  const out = new Float32Array(gh * gw * D);
  for (let m = 0; m < gh * gw; m++) {
    const p = m % gw;
    const row = out.subarray(m * D, (m + 1) * D);
    for (let k = 0; k < q; k++) {
      const a = f32(p * omega[k]);
      const s = f32(Math.sin(a)),
        c = f32(Math.cos(a));
      row[k] = s;
      row[q + k] = c;
      row[2 * q + k] = s;
      row[3 * q + k] = c;
    }
  }
  return torch.tensor(out, { shape: [gh * gw, D] });
}

/** MAE's 1-D embedding of positions into `dst` rows (float64 math): [sin(pos w), cos(pos w)], w_k = 10000^(-k/(d/2)). */
function sincos1dInto(d: number, positions: ArrayLike<number>, dst: Float32Array, rowStride: number, offset: number): void {
  const half = d / 2;
  for (let m = 0; m < positions.length; m++) {
    for (let k = 0; k < half; k++) {
      const a = positions[m] * (1 / 10000 ** (k / half));
      dst[m * rowStride + offset + k] = Math.sin(a);
      dst[m * rowStride + offset + half + k] = Math.cos(a);
    }
  }
}

/**
 * MAE / CAV-MAE 2-D sin-cos [gh*gw, D] for a row-major (gh x gw) grid: the first D/2 values encode the
 * column index m mod gw, the last D/2 the row index floor(m / gw). D must be a multiple of 4.
 */
export function sincos2d(D: number, gh: number, gw: number): Tensor {
  check('sincos2d', Number.isSafeInteger(D) && D > 0 && D % 4 === 0, `D must be a positive multiple of 4, got ${D}`);
  const L = gh * gw;
  const out = new Float32Array(L * D);
  const col = Float64Array.from({ length: L }, (_, m) => m % gw);
  const row = Float64Array.from({ length: L }, (_, m) => Math.floor(m / gw));
  sincos1dInto(D / 2, col, out, D, 0);
  sincos1dInto(D / 2, row, out, D, D / 2);
  return torch.tensor(out, { shape: [L, D] });
}

/**
 * 3-D sin-cos [gh*gw*gt, D] for video tokens m = (h*gw + w)*gt + t: the first 3D/4 values are the 2-D
 * embedding of (h, w) (column half, then row half), the last D/4 the 1-D embedding of t. D % 16 == 0.
 */
export function sincos3d(D: number, gh: number, gw: number, gt: number): Tensor {
  check('sincos3d', Number.isSafeInteger(D) && D > 0 && D % 16 === 0, `D must be a positive multiple of 16, got ${D}`);
  const L = gh * gw * gt;
  const ds = (3 * D) / 4;
  const out = new Float32Array(L * D);
  const w = Float64Array.from({ length: L }, (_, m) => Math.floor(m / gt) % gw);
  const h = Float64Array.from({ length: L }, (_, m) => Math.floor(m / (gt * gw)));
  const t = Float64Array.from({ length: L }, (_, m) => m % gt);
  sincos1dInto(ds / 2, w, out, D, 0);
  sincos1dInto(ds / 2, h, out, D, ds / 2);
  sincos1dInto(D / 4, t, out, D, ds);
  return torch.tensor(out, { shape: [L, D] });
}

/**
 * Bicubic resampling (align_corners false, as timm/MAE do for pos-embeds) of a row-major grid embedding
 * pe: [1, gh*gw, D] -> [1, newH*newW, D]. Returns a copy when the grid is unchanged.
 */
export function resampleGrid2d(pe: Tensor, gh: number, gw: number, newH: number, newW: number): Tensor {
  const [one, L, D] = pe.shape;
  check('resampleGrid2d', one === 1 && L === gh * gw, `expected pe [1, ${gh * gw}, D], got ${JSON.stringify(pe.shape)}`);
  return torch.tidy(() => {
    if (gh === newH && gw === newW) return pe.clone();
    const img = pe.reshape([1, gh, gw, D]).permute([0, 3, 1, 2]);
    const r = F.interpolate(img, { size: [newH, newW], mode: 'bicubic', alignCorners: false });
    return r.permute([0, 2, 3, 1]).reshape([1, newH * newW, D]);
  });
}

/** Repeats each (h, w) embedding over t temporal slots: [1, h*w, D] -> [1, h*w*t, D] (t fastest). */
export function inflateTime(pe: Tensor, t: number): Tensor {
  return torch.tidy(() => {
    const [one, L, D] = pe.shape;
    return pe
      .reshape([one, L, 1, D])
      .expand([one, L, t, D])
      .reshape([one, L * t, D]);
  });
}
