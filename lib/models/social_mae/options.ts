/**
 * Configuration records of SocialMAE / SocialMAEFT: the options of docs/ARCHITECTURE.md ("Public API
 * contract") with their defaults (the released checkpoints' ViT-B configuration) and validation. Bad values throw TorchError with code
 * ERR_INVALID_ARG (a field of the wrong type or range, an unknown option) or ERR_CONFIG (fields that
 * are fine alone but do not fit together, e.g. an audio length that is not a multiple of the patch).
 */
import { TorchError } from '../../tensor';
import { describeValue } from '../../tensor/errors';

/**
 * 'reference' reproduces every quirk of the reference implementation (fixtures README); 'none' (the
 * default) is the corrected model. README.md ("Reference compatibility") lists the differences.
 */
export type CompatMode = 'none' | 'reference';

/** Mel bins of the fbank input: the reference hard-codes 128. */
export const MEL_BINS = 128;
/** Transformer blocks in total (modality-specific + unified): the reference hard-codes 12. */
export const REFERENCE_TOTAL_DEPTH = 12;

export interface EncoderOptions {
  /** video frame size: a number (square) or [height, width] */
  imgSize?: number | [number, number];
  /** fbank frames T of the audio input [B, T, 128] */
  audioLength?: number;
  patchSize?: number;
  inChans?: number;
  embedDim?: number;
  modalitySpecificDepth?: number;
  /** unified blocks; default 12 - modalitySpecificDepth as the reference */
  unifiedDepth?: number;
  numHeads?: number;
  mlpRatio?: number;
  /** frames T of the video input [B, C, H, W, T] */
  nFrame?: number;
  /** temporal patch size (Conv3d kernel and stride along time) */
  stride?: number;
  /** trainable positional embeddings */
  trPos?: boolean;
  compat?: CompatMode;
}

export interface FTOptions extends EncoderOptions {
  labelDim: number;
}

export interface PretrainOptions extends EncoderOptions {
  decoderEmbedDim?: number;
  decoderDepth?: number;
  decoderNumHeads?: number;
  /** normalise each target patch by its mean and (unbiased) variance before the MAE loss */
  normPixLoss?: boolean;
}

/** A validated, fully defaulted encoder configuration with the derived token grids. */
export interface EncoderConfig {
  imgSize: [number, number];
  audioLength: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  modalitySpecificDepth: number;
  unifiedDepth: number;
  numHeads: number;
  mlpRatio: number;
  nFrame: number;
  stride: number;
  trPos: boolean;
  compat: CompatMode;
  /** audio token grid: frequency rows x time columns; token m = f * gridA[1] + t */
  gridA: [number, number];
  /** video token grid: h x w x t; token m = (h * gridV[1] + w) * gridV[2] + t */
  gridV: [number, number, number];
  numPatchesA: number;
  numPatchesV: number;
}

export interface FTConfig extends EncoderConfig {
  labelDim: number;
}

export interface PretrainConfig extends EncoderConfig {
  decoderEmbedDim: number;
  decoderDepth: number;
  decoderNumHeads: number;
  normPixLoss: boolean;
}

const ENCODER_KEYS = [
  'imgSize',
  'audioLength',
  'patchSize',
  'inChans',
  'embedDim',
  'modalitySpecificDepth',
  'unifiedDepth',
  'numHeads',
  'mlpRatio',
  'nFrame',
  'stride',
  'trPos',
  'compat',
];
const PRETRAIN_KEYS = [...ENCODER_KEYS, 'decoderEmbedDim', 'decoderDepth', 'decoderNumHeads', 'normPixLoss'];
const FT_KEYS = [...ENCODER_KEYS, 'labelDim'];

export function invalid(owner: string, field: string, expected: string, actual: unknown): never {
  throw new TorchError(`${owner}: option '${field}' expected ${expected}, got ${describeValue(actual)}`, 'ERR_INVALID_ARG');
}

export function configError(owner: string, message: string): never {
  throw new TorchError(`${owner}: ${message}`, 'ERR_CONFIG');
}

function posInt(owner: string, field: string, v: unknown, min = 1): number {
  if (!Number.isSafeInteger(v) || (v as number) < min) invalid(owner, field, `an integer >= ${min}`, v);
  return v as number;
}

function checkKeys(owner: string, opts: object, allowed: string[]): void {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) invalid(owner, 'options', 'an options object', opts);
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k) && (opts as Record<string, unknown>)[k] !== undefined) {
      invalid(owner, k, `no such option (known: ${allowed.join(', ')})`, (opts as Record<string, unknown>)[k]);
    }
  }
}

function heads(owner: string, dimField: string, dim: number, headsField: string, n: number): void {
  if (dim % n !== 0) configError(owner, `${dimField} (${dim}) must be divisible by ${headsField} (${n})`);
}

/** Validates and defaults the encoder options shared by both models. */
export function encoderConfig(owner: string, o: EncoderOptions): EncoderConfig {
  const img = o.imgSize ?? 224;
  const imgSize: [number, number] =
    typeof img === 'number'
      ? [img, img]
      : Array.isArray(img) && img.length === 2
        ? [img[0], img[1]]
        : invalid(owner, 'imgSize', 'a number or [height, width]', img);
  imgSize.forEach((s) => posInt(owner, 'imgSize', s));
  const audioLength = posInt(owner, 'audioLength', o.audioLength ?? 1024);
  const patchSize = posInt(owner, 'patchSize', o.patchSize ?? 16);
  const inChans = posInt(owner, 'inChans', o.inChans ?? 3);
  const embedDim = posInt(owner, 'embedDim', o.embedDim ?? 768);
  const modalitySpecificDepth = posInt(owner, 'modalitySpecificDepth', o.modalitySpecificDepth ?? 11, 0);
  const numHeads = posInt(owner, 'numHeads', o.numHeads ?? 12);
  const mlpRatio = o.mlpRatio ?? 4;
  if (typeof mlpRatio !== 'number' || !(mlpRatio > 0) || !Number.isFinite(mlpRatio)) invalid(owner, 'mlpRatio', 'a positive number', mlpRatio);
  const nFrame = posInt(owner, 'nFrame', o.nFrame ?? 8);
  const stride = posInt(owner, 'stride', o.stride ?? 2);
  const trPos = o.trPos ?? true;
  if (typeof trPos !== 'boolean') invalid(owner, 'trPos', 'a boolean', trPos);
  const compat = o.compat ?? 'none';
  if (compat !== 'none' && compat !== 'reference') invalid(owner, 'compat', "'none' or 'reference'", compat);
  const unifiedDefault = REFERENCE_TOTAL_DEPTH - modalitySpecificDepth;
  if (o.unifiedDepth === undefined && unifiedDefault < 0) {
    configError(owner, `modalitySpecificDepth (${modalitySpecificDepth}) exceeds the 12 blocks of the reference; set unifiedDepth explicitly`);
  }
  const unifiedDepth = posInt(owner, 'unifiedDepth', o.unifiedDepth ?? unifiedDefault, 0);
  if (compat === 'reference') {
    if (unifiedDepth < 1) configError(owner, "compat 'reference' needs at least one unified block (modalitySpecificDepth <= 11)");
    if (modalitySpecificDepth + unifiedDepth !== REFERENCE_TOTAL_DEPTH) {
      configError(owner, `compat 'reference' has 12 blocks in total; modalitySpecificDepth + unifiedDepth = ${modalitySpecificDepth + unifiedDepth}`);
    }
    if (patchSize !== 16) configError(owner, `compat 'reference' hard-codes 16x16 patches (the audio token count and the patchify); patchSize = ${patchSize}`);
    if (embedDim % 4 !== 0) configError(owner, `embedDim (${embedDim}) must be a multiple of 4 for the sin-cos positional embedding`);
  }
  heads(owner, 'embedDim', embedDim, 'numHeads', numHeads);
  if (Math.trunc(embedDim * mlpRatio) < 1) configError(owner, `embedDim * mlpRatio = ${embedDim * mlpRatio} gives an empty MLP`);
  if (MEL_BINS % patchSize !== 0) configError(owner, `patchSize (${patchSize}) must divide the ${MEL_BINS} mel bins`);
  if (audioLength % patchSize !== 0) configError(owner, `audioLength (${audioLength}) must be a multiple of patchSize (${patchSize})`);
  if (imgSize[0] % patchSize !== 0 || imgSize[1] % patchSize !== 0) {
    configError(owner, `imgSize (${imgSize.join('x')}) must be a multiple of patchSize (${patchSize})`);
  }
  if (nFrame % stride !== 0) configError(owner, `nFrame (${nFrame}) must be a multiple of stride (${stride})`);
  const gridA: [number, number] = [MEL_BINS / patchSize, audioLength / patchSize];
  const gridV: [number, number, number] = [imgSize[0] / patchSize, imgSize[1] / patchSize, nFrame / stride];
  const numPatchesA = gridA[0] * gridA[1];
  const numPatchesV = gridV[0] * gridV[1] * gridV[2];
  if (compat === 'reference') {
    const side = Math.trunc(Math.sqrt(numPatchesV));
    if (side * side !== numPatchesV) {
      configError(
        owner,
        `compat 'reference' initialises pos_embed_v on a square grid, so the video token count ` +
          `(${gridV.join('x')} = ${numPatchesV}) must be a perfect square`,
      );
    }
  } else {
    if (embedDim % 16 !== 0)
      configError(owner, `embedDim (${embedDim}) must be a multiple of 16 for the 3-D sin-cos positional embedding (or use compat 'reference')`);
  }
  return {
    imgSize,
    audioLength,
    patchSize,
    inChans,
    embedDim,
    modalitySpecificDepth,
    unifiedDepth,
    numHeads,
    mlpRatio,
    nFrame,
    stride,
    trPos,
    compat,
    gridA,
    gridV,
    numPatchesA,
    numPatchesV,
  };
}

export function ftConfig(o: FTOptions): FTConfig {
  const owner = 'SocialMAEFT';
  if (o === undefined || o === null) invalid(owner, 'options', "an options object with 'labelDim'", o);
  checkKeys(owner, o, FT_KEYS);
  const base = encoderConfig(owner, o);
  return { ...base, labelDim: posInt(owner, 'labelDim', o.labelDim) };
}

export function pretrainConfig(o: PretrainOptions = {}): PretrainConfig {
  const owner = 'SocialMAE';
  checkKeys(owner, o, PRETRAIN_KEYS);
  const base = encoderConfig(owner, o);
  const decoderEmbedDim = posInt(owner, 'decoderEmbedDim', o.decoderEmbedDim ?? 512);
  const decoderDepth = posInt(owner, 'decoderDepth', o.decoderDepth ?? 8, 0);
  const decoderNumHeads = posInt(owner, 'decoderNumHeads', o.decoderNumHeads ?? 16);
  const normPixLoss = o.normPixLoss ?? false;
  if (typeof normPixLoss !== 'boolean') invalid(owner, 'normPixLoss', 'a boolean', normPixLoss);
  heads(owner, 'decoderEmbedDim', decoderEmbedDim, 'decoderNumHeads', decoderNumHeads);
  if (base.compat === 'reference' && decoderEmbedDim % 4 !== 0) {
    configError(owner, `decoderEmbedDim (${decoderEmbedDim}) must be a multiple of 4 for the sin-cos positional embedding`);
  }
  if (base.compat !== 'reference' && decoderEmbedDim % 16 !== 0) {
    configError(owner, `decoderEmbedDim (${decoderEmbedDim}) must be a multiple of 16 for the 3-D sin-cos positional embedding (or use compat 'reference')`);
  }
  if (Math.trunc(decoderEmbedDim * base.mlpRatio) < 1) configError(owner, 'decoderEmbedDim * mlpRatio gives an empty MLP');
  return { ...base, decoderEmbedDim, decoderDepth, decoderNumHeads, normPixLoss };
}
