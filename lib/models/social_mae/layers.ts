/**
 * The building blocks of Social-MAE, with the reference's parameter names: the audio and video patch
 * embeddings, timm 0.4.5's Attention and Mlp, and the pre-norm Block with three LayerNorm pairs
 * (none / 'a' / 'v') chosen by a modality flag. Every forward frees its temporaries (torch.tidy).
 */
import { F, Tensor, TorchError, torch } from '../../tensor';
import { Module, Conv2d, Conv3d, Linear, LayerNorm } from '../../nn';

/**
 * LibTorch >= 2: at::scaled_dot_product_attention (fused flash / memory-efficient kernels). 1.13 has only
 * the math path, which is written out here with the scale applied to q when it is a power of two (exact,
 * so bit-identical to timm's `(q @ k^T) * scale`, and one pass over [B, H, N, hd] instead of [B, H, N, N]).
 */
const FUSED_SDPA = Number(torch.version().split('.')[0]) >= 2;

/** Which LayerNorm pair a Block uses: the shared one (undefined), audio ('a') or video ('v'). */
export type Modality = 'a' | 'v' | undefined;

/**
 * Audio patch embedding: Conv2d(inChans, D, p, stride p) on the image [B, C, F, T] (frequency is the
 * height, time the width). forward -> [B, (F/p)*(T/p), D], token m = f*(T/p) + t (time fastest).
 */
export class PatchEmbed extends Module {
  proj: Conv2d;
  constructor(
    readonly patchSize: number,
    inChans: number,
    embedDim: number,
  ) {
    super();
    this.proj = new Conv2d(inChans, embedDim, [patchSize, patchSize], { stride: [patchSize, patchSize] });
  }
  /** x: [B, C, F, T] -> [B, L, D] (a transposed view of the conv output, as the reference) */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.proj.forward(x).flatten(2).transpose(1, 2));
  }
}

/**
 * Video patch embedding: Conv3d(inChans, D, kernel (p, p, s), stride (p, p, s)) on [B, C, H, W, T] (time
 * LAST). forward -> [B, (H/p)*(W/p)*(T/s), D], token m = (h*(W/p) + w)*(T/s) + t (time fastest).
 */
export class PatchEmbed3D extends Module {
  proj: Conv3d;
  constructor(
    readonly patchSize: number,
    readonly tStride: number,
    inChans: number,
    embedDim: number,
  ) {
    super();
    this.proj = new Conv3d(inChans, embedDim, [patchSize, patchSize, tStride], { stride: [patchSize, patchSize, tStride] });
  }
  /** x: [B, C, H, W, T] -> [B, L, D] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.proj.forward(x).flatten(2).transpose(1, 2));
  }
}

/**
 * timm 0.4.5 multi-head self-attention: qkv = Linear(D, 3D) split as [B, N, 3, heads, D/heads],
 * softmax(q k^T * (D/heads)^-0.5) v, heads concatenated head-major, then proj = Linear(D, D).
 */
export class Attention extends Module {
  qkv: Linear;
  proj: Linear;
  readonly headDim: number;
  readonly scale: number;
  private readonly scaleIsPow2: boolean;
  constructor(
    readonly dim: number,
    readonly numHeads: number,
  ) {
    super();
    if (dim % numHeads !== 0) throw new TorchError(`Attention: dim ${dim} is not divisible by numHeads ${numHeads}`, 'ERR_CONFIG');
    this.headDim = dim / numHeads;
    this.scale = this.headDim ** -0.5;
    this.scaleIsPow2 = Number.isInteger(Math.log2(this.scale));
    this.qkv = new Linear(dim, dim * 3);
    this.proj = new Linear(dim, dim);
  }
  /** x: [B, N, D] -> [B, N, D] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const [B, N, C] = x.shape;
      const qkv = this.qkv.forward(x).reshape([B, N, 3, this.numHeads, this.headDim]).permute([2, 0, 3, 1, 4]);
      const [q, k, v] = qkv.unbind(0);
      let o: Tensor;
      if (FUSED_SDPA) o = F.scaledDotProductAttention(q, k, v, { scale: this.scale });
      else if (this.scaleIsPow2) o = q.mul(this.scale).matmul(k.transpose(-2, -1)).softmax(-1).matmul(v);
      else o = q.matmul(k.transpose(-2, -1)).mul(this.scale).softmax(-1).matmul(v);
      return this.proj.forward(o.transpose(1, 2).reshape([B, N, C]));
    });
  }
}

/** timm Mlp: fc1 Linear(D, hidden), exact (erf) GELU, fc2 Linear(hidden, D). */
export class Mlp extends Module {
  fc1: Linear;
  fc2: Linear;
  constructor(inFeatures: number, hiddenFeatures: number) {
    super();
    this.fc1 = new Linear(inFeatures, hiddenFeatures);
    this.fc2 = new Linear(hiddenFeatures, inFeatures);
  }
  /** x: [*, D] -> [*, D] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.fc2.forward(F.gelu(this.fc1.forward(x))));
  }
}

/**
 * Pre-norm ViT block: x = x + Attn(LN1(x)); x = x + MLP(LN2(x)). No drop-path, dropout or layer
 * scale. The LayerNorm pair is norm1/norm2 (modality undefined), norm1_a/norm2_a ('a') or
 * norm1_v/norm2_v ('v'); the other pairs are unused (and get no gradient).
 */
export class Block extends Module {
  norm1: LayerNorm;
  norm1_a: LayerNorm;
  norm1_v: LayerNorm;
  attn: Attention;
  norm2: LayerNorm;
  norm2_a: LayerNorm;
  norm2_v: LayerNorm;
  mlp: Mlp;
  constructor(dim: number, numHeads: number, mlpRatio = 4) {
    super();
    this.norm1 = new LayerNorm(dim);
    this.norm1_a = new LayerNorm(dim);
    this.norm1_v = new LayerNorm(dim);
    this.attn = new Attention(dim, numHeads);
    this.norm2 = new LayerNorm(dim);
    this.norm2_a = new LayerNorm(dim);
    this.norm2_v = new LayerNorm(dim);
    this.mlp = new Mlp(dim, Math.trunc(dim * mlpRatio));
  }
  /** x: [B, N, D] -> [B, N, D] */
  forward(x: Tensor, modality?: Modality): Tensor {
    const [n1, n2] =
      modality === undefined
        ? [this.norm1, this.norm2]
        : modality === 'a'
          ? [this.norm1_a, this.norm2_a]
          : modality === 'v'
            ? [this.norm1_v, this.norm2_v]
            : (() => {
                throw new TorchError(`Block: modality must be undefined, 'a' or 'v', got ${String(modality)}`, 'ERR_INVALID_ARG');
              })();
    return torch.tidy(() => {
      const h = x.add(this.attn.forward(n1.forward(x)));
      return h.add(this.mlp.forward(n2.forward(h)));
    });
  }
}

/** Runs x through blocks in order (chained), with one modality flag for all; frees each step's input. */
export function runBlocks(blocks: Iterable<Block>, x: Tensor, modality?: Modality): Tensor {
  let h = x;
  try {
    for (const blk of blocks) {
      const next = blk.forward(h, modality);
      if (h !== x) h.dispose();
      h = next;
    }
  } catch (e) {
    if (h !== x) h.dispose();
    throw e;
  }
  return h === x ? x.view(x.shape) : h;
}
