/**
 * Patchify / unpatchify: cut inputs into the flattened patches the decoder predicts, and back.
 *
 * Audio [B, T, F] is seen as the image [B, 1, F, T]; patch m = f*(T/p) + t (as the audio tokens); inside
 * a patch element i*p + j is (mel row i, frame j).
 *
 * Video [B, C, H, W, T], T = gt*s: inside a patch element ((si*p + y)*p + x)*C + c holds pixel (y, x) of
 * channel c at frame ti*s + si. Patch order:
 *   'token'     (h, w, t), t fastest: the order of the video tokens, the mask and predV (correct);
 *   'reference' (t, h, w), w fastest: the reference's target order (the fixtures README quirk).
 */
import { Tensor, TorchError, torch } from '../../tensor';

export type VideoPatchOrder = 'token' | 'reference';

function fail(fn: string, msg: string): never {
  throw new TorchError(`${fn}: ${msg}`, 'ERR_INVALID_ARG');
}

/** audio [B, T, F] -> [B, (F/p)*(T/p), p*p] */
export function patchifyAudio(audio: Tensor, p = 16): Tensor {
  const s = audio.shape;
  if (s.length !== 3 || s[1] % p !== 0 || s[2] % p !== 0)
    fail('patchifyAudio', `expected audio [B, T, F] with T and F multiples of ${p}, got ${JSON.stringify(s)}`);
  const [B, T, Fq] = s;
  const h = Fq / p,
    w = T / p;
  return torch.tidy(() =>
    audio
      .transpose(1, 2)
      .reshape([B, h, p, w, p])
      .permute([0, 1, 3, 2, 4])
      .reshape([B, h * w, p * p]),
  );
}

/** patches [B, (F/p)*(T/p), p*p] -> audio [B, T, F] (F = 128 by default) */
export function unpatchifyAudio(x: Tensor, T: number, p = 16, Fq = 128): Tensor {
  const [B, L, E] = x.shape;
  const h = Fq / p,
    w = T / p;
  if (x.ndim !== 3 || L !== h * w || E !== p * p) fail('unpatchifyAudio', `expected patches [B, ${h * w}, ${p * p}], got ${JSON.stringify(x.shape)}`);
  return torch.tidy(() => x.reshape([B, h, w, p, p]).permute([0, 1, 3, 2, 4]).reshape([B, Fq, T]).transpose(1, 2).contiguous());
}

/** video [B, C, H, W, T] -> [B, (H/p)*(W/p)*(T/s), s*p*p*C] in the given patch order (default 'token') */
export function patchifyVideo(video: Tensor, p = 16, s = 2, order: VideoPatchOrder = 'token'): Tensor {
  const sh = video.shape;
  if (sh.length !== 5 || sh[2] % p !== 0 || sh[3] % p !== 0 || sh[4] % s !== 0) {
    fail('patchifyVideo', `expected video [B, C, H, W, T] with H, W multiples of ${p} and T of ${s}, got ${JSON.stringify(sh)}`);
  }
  const [B, C, H, W, T] = sh;
  const h = H / p,
    w = W / p,
    t = T / s;
  // [n, c, h, p, w, q, t, s]
  const perm = order === 'reference' ? [0, 6, 2, 4, 7, 3, 5, 1] : [0, 2, 4, 6, 7, 3, 5, 1];
  if (order !== 'reference' && order !== 'token') fail('patchifyVideo', `order must be 'token' or 'reference', got ${String(order)}`);
  return torch.tidy(() =>
    video
      .reshape([B, C, h, p, w, p, t, s])
      .permute(perm)
      .reshape([B, h * w * t, s * p * p * C]),
  );
}

/** patches [B, L, s*p*p*C] in `order` -> video [B, C, H, W, T] */
export function unpatchifyVideo(x: Tensor, shape: { C: number; H: number; W: number; T: number }, p = 16, s = 2, order: VideoPatchOrder = 'token'): Tensor {
  const { C, H, W, T } = shape;
  const h = H / p,
    w = W / p,
    t = T / s;
  const [B, L, E] = x.shape;
  if (x.ndim !== 3 || L !== h * w * t || E !== s * p * p * C) {
    fail('unpatchifyVideo', `expected patches [B, ${h * w * t}, ${s * p * p * C}], got ${JSON.stringify(x.shape)}`);
  }
  return torch.tidy(() => {
    if (order === 'reference') {
      // [n, t, h, w, s, p, q, c] -> [n, c, h, p, w, q, t, s]
      return x.reshape([B, t, h, w, s, p, p, C]).permute([0, 7, 2, 5, 3, 6, 1, 4]).reshape([B, C, H, W, T]);
    }
    // [n, h, w, t, s, p, q, c] -> [n, c, h, p, w, q, t, s]
    return x.reshape([B, h, w, t, s, p, p, C]).permute([0, 7, 1, 5, 2, 6, 3, 4]).reshape([B, C, H, W, T]);
  });
}
