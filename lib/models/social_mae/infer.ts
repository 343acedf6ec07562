/**
 * Model options from a checkpoint's tensor shapes, so a released or bare checkpoint (Social-MAE,
 * Social-MAE-FT, CAV-MAE, CAV-MAE-FT; keys with or without DataParallel's `module.`) builds its model
 * without a run directory or a size preset.
 *
 * Read from shapes (names as in encoder.ts / social_mae.ts / social_mae_ft.ts):
 *   patch_embed_a.proj.weight [D, 1, p, p]              embedDim D, patchSize p
 *   patch_embed_v.proj.weight [D, C, p, p, s] (CAV-MAE: [D, C, p, p])   inChans C, stride s
 *   pos_embed_a [1, 128/p * audioLength/p, D]           audioLength
 *   pos_embed_v [1, (H/p)(W/p)(nFrame/s), D]            imgSize and nFrame (see below)
 *   blocks_a.N / blocks_u.N                              modalitySpecificDepth, unifiedDepth
 *   blocks_a.0.mlp.fc1.weight [D * mlpRatio, D]          mlpRatio
 *   mlp_head.1.weight [labelDim, D]                      finetuning model, labelDim
 *   decoder_embed.weight [Dd, D], decoder_blocks.N       pretraining model, decoder size and depth
 * Not in the shapes, so assumed (listed in `assumed`; pass them in `given` to override):
 *   - numHeads = D / 64 and decoderNumHeads = Dd / 32: the head sizes of the released ViT-B configuration
 *     (768 / 12, 512 / 16) and of the CLI's small preset (192 / 3, 128 / 4).
 *   - imgSize and nFrame share one number (the video token count): a square 224 frame when the count
 *     fits it (the released models), otherwise 8 frames (the reference's default) on a square grid.
 *   - compat, trPos, normPixLoss keep their defaults (they change no shape).
 * A CAV-MAE checkpoint gives the options of the Social-MAE model it initialises (initFromCavMae): its
 * sizes, with nFrame 8 and stride 2.
 */
import { TorchError } from '../../tensor';
import { stripModulePrefix } from './checkpoint';
import { MEL_BINS, type FTOptions, type PretrainOptions } from './options';

/** Anything with a shape: Tensor, io.RawTensor. */
type Shaped = { readonly shape: readonly number[] };

export interface InferredModel {
  family: 'Social-MAE' | 'CAV-MAE';
  /** 'finetune': has mlp_head (SocialMAEFT); 'pretrain': has the decoder (SocialMAE); 'encoder': neither. */
  kind: 'finetune' | 'pretrain' | 'encoder';
  /** Options of the model to build: SocialMAEFT for 'finetune' (labelDim set), SocialMAE otherwise. */
  options: PretrainOptions & Partial<FTOptions>;
  /** The options that were assumed rather than read from a shape, e.g. "numHeads = 768 / 64". */
  assumed: string[];
}

/** Options that cannot be read from shapes and may be given instead of assumed. */
export interface GivenOptions {
  numHeads?: number;
  decoderNumHeads?: number;
  imgSize?: number;
  nFrame?: number;
}

function fail(message: string): never {
  throw new TorchError(`inferConfig: ${message}`, 'ERR_CONFIG');
}

/** Number of consecutive `prefix.N.` blocks (0 when none). */
function depth(keys: Set<string>, prefix: string): number {
  let n = 0;
  while ([...keys].some((k) => k.startsWith(`${prefix}.${n}.`))) n++;
  return n;
}

/** imgSize and nFrame from the video token count `lv` (see the file header). */
function videoGrid(lv: number, p: number, s: number, given: GivenOptions, assumed: string[]): { imgSize: number; nFrame: number } {
  const square = (n: number) => Number.isInteger(Math.sqrt(n)) && n > 0;
  if (given.imgSize !== undefined) {
    const g = given.imgSize / p;
    if (!Number.isInteger(g) || lv % (g * g) !== 0) fail(`imgSize ${given.imgSize} does not fit ${lv} video tokens of patch ${p}`);
    return { imgSize: given.imgSize, nFrame: (lv / (g * g)) * s };
  }
  if (given.nFrame !== undefined) {
    const t = given.nFrame / s;
    if (!Number.isInteger(t) || lv % t !== 0 || !square(lv / t)) fail(`nFrame ${given.nFrame} does not fit ${lv} video tokens on a square grid`);
    return { imgSize: Math.sqrt(lv / t) * p, nFrame: given.nFrame };
  }
  const g224 = 224 / p;
  if (Number.isInteger(g224) && lv % (g224 * g224) === 0) {
    assumed.push(`imgSize = 224 (${lv} video tokens = ${g224}x${g224}x${lv / (g224 * g224)})`);
    return { imgSize: 224, nFrame: (lv / (g224 * g224)) * s };
  }
  const t8 = 8 / s;
  if (Number.isInteger(t8) && lv % t8 === 0 && square(lv / t8)) {
    assumed.push(`nFrame = 8 (${lv} video tokens = ${Math.sqrt(lv / t8)}x${Math.sqrt(lv / t8)}x${t8})`);
    return { imgSize: Math.sqrt(lv / t8) * p, nFrame: 8 };
  }
  return fail(`cannot split ${lv} video tokens into a square frame grid and a frame count; give imgSize or nFrame`);
}

function heads(dim: number, headDim: number, given: number | undefined, name: string, assumed: string[]): number {
  if (given !== undefined) return given;
  const n = Math.max(1, Math.round(dim / headDim));
  assumed.push(`${name} = ${n} (${dim} / ${headDim})`);
  return n;
}

/**
 * The model options a state dict was made with (see the file header). Throws ERR_CONFIG when the keys
 * are not a Social-MAE / CAV-MAE model's.
 */
export function inferConfig(stateDict: Map<string, Shaped> | Record<string, Shaped>, given: GivenOptions = {}): InferredModel {
  const sd = stripModulePrefix(stateDict);
  const shape = (k: string) => sd.get(k)?.shape;
  const pa = shape('patch_embed_a.proj.weight');
  const pv = shape('patch_embed_v.proj.weight');
  const posA = shape('pos_embed_a');
  const posV = shape('pos_embed_v');
  if (!pa || !pv || !posA || !posV) fail('not a Social-MAE / CAV-MAE state dict (patch_embed_a/v.proj.weight, pos_embed_a/v expected)');
  if (pa.length !== 4 || (pv.length !== 4 && pv.length !== 5) || posA.length !== 3 || posV.length !== 3) fail('unexpected patch or position embedding ranks');
  const family = pv.length === 5 ? 'Social-MAE' : 'CAV-MAE';
  const [D, , p] = pa as [number, number, number, number];
  const stride = family === 'Social-MAE' ? pv[4]! : 2;
  const keys = new Set(sd.keys());
  const assumed: string[] = [];
  if (family === 'CAV-MAE') assumed.push('stride = 2 (CAV-MAE has 2-D video patches)');
  const { imgSize, nFrame } =
    family === 'CAV-MAE' && given.imgSize === undefined
      ? { imgSize: Math.sqrt(posV[1]!) * p, nFrame: given.nFrame ?? 8 }
      : videoGrid(posV[1]!, p, stride, given, assumed);
  if (family === 'CAV-MAE' && given.nFrame === undefined) assumed.push('nFrame = 8');
  const fc1 = shape('blocks_a.0.mlp.fc1.weight') ?? shape('blocks_u.0.mlp.fc1.weight');
  const options: PretrainOptions & Partial<FTOptions> = {
    imgSize,
    audioLength: (posA[1]! / (MEL_BINS / p)) * p,
    patchSize: p,
    inChans: pv[1]!,
    embedDim: D,
    modalitySpecificDepth: depth(keys, 'blocks_a'),
    unifiedDepth: depth(keys, 'blocks_u'),
    numHeads: heads(D, 64, given.numHeads, 'numHeads', assumed),
    ...(fc1 ? { mlpRatio: fc1[0]! / D } : {}),
    nFrame,
    stride,
  };
  const head = shape('mlp_head.1.weight');
  if (head) return { family, kind: 'finetune', options: { ...options, labelDim: head[0]! }, assumed };
  const dec = shape('decoder_embed.weight');
  if (!dec) return { family, kind: 'encoder', options, assumed };
  const Dd = dec[0]!;
  const decoder = {
    decoderEmbedDim: Dd,
    decoderDepth: depth(keys, 'decoder_blocks'),
    decoderNumHeads: heads(Dd, 32, given.decoderNumHeads, 'decoderNumHeads', assumed),
  };
  return { family, kind: 'pretrain', options: { ...options, ...decoder }, assumed };
}
