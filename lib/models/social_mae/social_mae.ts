/**
 * SocialMAE: the pretraining model. Encoder (see encoder.ts) on the kept tokens of both modalities,
 * a light decoder reconstructing every token, and the losses:
 *   loss = maeLossWeight * (lossMaeA + lossMaeV) + contrastLossWeight * InfoNCE(mean ca, mean cv).
 * A loss weight of 0 skips its branch entirely (no decoder / no contrastive path is run).
 */
import { Tensor, TorchError, torch } from '../../tensor';
import { LayerNorm, Linear, ModuleList, Parameter, init } from '../../nn';
import { describeValue } from '../../tensor/errors';
import { SocialMAEEncoder } from './encoder';
import { Block, runBlocks } from './layers';
import { contrastiveLoss, maeLoss } from './losses';
import { MASK_MODES, MaskMode, checkNoise, checkRatio, lenKeep, randomMasking, structuredNoise } from './masking';
import { PretrainConfig, PretrainOptions, pretrainConfig } from './options';
import { patchifyAudio, patchifyVideo } from './patchify';

export interface MaskingOptions {
  /** [B, La] noise replacing the random draw for audio (ascending order = kept first) */
  noiseA?: Tensor;
  /** [B, Lv] noise replacing the random draw for video */
  noiseV?: Tensor;
  /** audio masking: 'unstructured' (default) or CAV-MAE's structured 'time' | 'freq' | 'tf' */
  maskMode?: MaskMode;
}

export interface PretrainForwardOptions extends MaskingOptions {
  maskRatioA?: number;
  maskRatioV?: number;
  maeLossWeight?: number;
  contrastLossWeight?: number;
  /** average both InfoNCE directions (default: one direction, audio index softmax, as the reference) */
  bidirectionalContrast?: boolean;
  /** also return predA / predV */
  returnPred?: boolean;
  /**
   * Data-parallel training: gathers the contrastive representations of every rank, [n, 2D] (audio then
   * video mean latents) -> [N, 2D] over the global batch, so InfoNCE contrasts the global batch instead
   * of this rank's shard (torch.distributed.allGatherRows; lib/train's pretrain passes it under a process
   * group with contrastScope 'global'). Without it the loss sees only this call's batch.
   */
  contrastGather?: (rows: Tensor) => Tensor;
}

export interface EncoderOutput {
  /** norm(U([a_kept; v_kept])) [B, ka + kv, D] */
  x: Tensor;
  /** [B, La] 1 = removed */
  maskA: Tensor;
  /** [B, La] int64 */
  idsRestoreA: Tensor;
  maskV: Tensor;
  idsRestoreV: Tensor;
  /** norm_a(U_a(a_kept)) [B, ka, D] */
  ca: Tensor;
  /** norm_v(U_v(v_kept)) [B, kv, D] */
  cv: Tensor;
}

export interface PretrainOutput {
  loss: Tensor;
  lossMae: Tensor;
  lossMaeA: Tensor;
  lossMaeV: Tensor;
  lossC: Tensor;
  maskA: Tensor;
  maskV: Tensor;
  cAcc: Tensor;
  predA?: Tensor;
  predV?: Tensor;
}

function finiteNumber(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new TorchError(`${fn}: option '${name}' expected a finite number, got ${describeValue(v)}`, 'ERR_INVALID_ARG');
  return v;
}

/** Audio and video representations [n, D] through `gather` as one [n, 2D] tensor -> two [N, D]. */
function gatherReps(fn: string, gather: unknown, a: Tensor, v: Tensor): [Tensor, Tensor] {
  if (typeof gather !== 'function') throw new TorchError(`${fn}: option 'contrastGather' expected a function, got ${describeValue(gather)}`, 'ERR_INVALID_ARG');
  const D = a.shape[1]!;
  const all = (gather as (rows: Tensor) => Tensor)(torch.cat([a, v], 1));
  if (!(all instanceof Tensor) || all.ndim !== 2 || all.shape[1] !== 2 * D || all.shape[0]! < a.shape[0]!)
    throw new TorchError(
      `${fn}: option 'contrastGather' must return [N >= ${a.shape[0]}, ${2 * D}], got ${all instanceof Tensor ? JSON.stringify(all.shape) : describeValue(all)}`,
      'ERR_INVALID_ARG',
    );
  return [all.narrow(1, 0, D), all.narrow(1, D, D)];
}

export class SocialMAE extends SocialMAEEncoder {
  decoder_embed: Linear;
  mask_token: Tensor;
  decoder_modality_a: Tensor;
  decoder_modality_v: Tensor;
  decoder_pos_embed_a: Tensor;
  decoder_pos_embed_v: Tensor;
  decoder_blocks: ModuleList<Block>;
  decoder_norm: LayerNorm;
  decoder_pred_a: Linear;
  decoder_pred_v: Linear;
  declare readonly config: PretrainConfig;

  constructor(opts: PretrainOptions = {}) {
    const cfg = pretrainConfig(opts);
    super(cfg);
    const { embedDim: D, decoderEmbedDim: Dd, patchSize: p } = cfg;
    this.decoder_embed = new Linear(D, Dd);
    this.mask_token = Parameter(torch.zeros([1, 1, Dd]));
    this.decoder_modality_a = Parameter(torch.zeros([1, 1, Dd]));
    this.decoder_modality_v = Parameter(torch.zeros([1, 1, Dd]));
    this.decoder_pos_embed_a = Parameter(torch.zeros([1, cfg.numPatchesA, Dd]), cfg.trPos);
    this.decoder_pos_embed_v = Parameter(torch.zeros([1, cfg.numPatchesV, Dd]), cfg.trPos);
    this.decoder_blocks = new ModuleList(Array.from({ length: cfg.decoderDepth }, () => new Block(Dd, cfg.decoderNumHeads, cfg.mlpRatio)));
    this.decoder_norm = new LayerNorm(Dd);
    this.decoder_pred_a = new Linear(Dd, p * p);
    this.decoder_pred_v = new Linear(Dd, p * p * cfg.stride * cfg.inChans);
    this.initializeWeights();
  }

  /** The reference's initialize_weights, in its RNG order. */
  private initializeWeights(): void {
    const pe = this.posEmbedInit(this.config.embedDim);
    const dpe = this.posEmbedInit(this.config.decoderEmbedDim);
    SocialMAE.copyInto(this.pos_embed_a, pe.a);
    SocialMAE.copyInto(this.pos_embed_v, pe.v);
    SocialMAE.copyInto(this.decoder_pos_embed_a, dpe.a);
    SocialMAE.copyInto(this.decoder_pos_embed_v, dpe.v);
    this.initPatchEmbeds();
    for (const t of [this.modality_a, this.modality_v, this.decoder_modality_a, this.decoder_modality_v, this.mask_token]) init.normal_(t, 0, 0.02);
    this.initLinearsAndNorms();
  }

  /** Reconstruction targets: audio patches [B, La, p*p], video patches [B, Lv, s*p*p*C] (token order; the reference's (t, h, w) order in compat mode). */
  targets(audio: Tensor, video: Tensor): { targetA: Tensor; targetV: Tensor } {
    const { patchSize: p, stride: s, compat } = this.config;
    return { targetA: patchifyAudio(audio, p), targetV: patchifyVideo(video, p, s, compat === 'reference' ? 'reference' : 'token') };
  }

  /**
   * Embeds, masks (audio first, then video) and encodes. Returns the joint latent x, masks, restore
   * indices and the contrastive latents ca / cv. In compat mode ca/cv apply every unified block to the
   * same input (the reference's loop), otherwise the blocks are chained.
   */
  forwardEncoder(audio: Tensor, video: Tensor, maskRatioA = 0.75, maskRatioV = 0.75, opts: MaskingOptions = {}): EncoderOutput {
    return this.encode('SocialMAE.forwardEncoder', audio, video, maskRatioA, maskRatioV, opts, { x: true, c: true }) as EncoderOutput;
  }

  private encode(
    fn: string,
    audio: Tensor,
    video: Tensor,
    ratioA: number,
    ratioV: number,
    opts: MaskingOptions,
    need: { x: boolean; c: boolean },
  ): Partial<EncoderOutput> & { maskA: Tensor; maskV: Tensor } {
    this.checkAudio(fn, audio);
    this.checkVideo(fn, video, audio.shape[0]);
    checkRatio(fn, 'maskRatioA', ratioA);
    checkRatio(fn, 'maskRatioV', ratioV);
    const B = audio.shape[0];
    const { numPatchesA: La, numPatchesV: Lv, gridA, compat } = this.config;
    const mode = opts.maskMode ?? 'unstructured';
    if (!MASK_MODES.includes(mode))
      throw new TorchError(`${fn}: option 'maskMode' expected one of ${MASK_MODES.join(', ')}, got ${describeValue(mode)}`, 'ERR_INVALID_ARG');
    if (opts.noiseA !== undefined) checkNoise(fn, 'noiseA', opts.noiseA, B, La);
    if (opts.noiseV !== undefined) checkNoise(fn, 'noiseV', opts.noiseV, B, Lv);
    return torch.tidy(() => {
      const a = this.embedAudio(audio);
      const v = this.embedVideo(video);
      const noiseA = mode === 'unstructured' ? opts.noiseA : structuredNoise(B, gridA[0], gridA[1], ratioA, mode, { device: audio.device, base: opts.noiseA });
      const mA = randomMasking(a, ratioA, noiseA);
      const mV = randomMasking(v, ratioV, opts.noiseV);
      this.hook('masked_a', mA.xMasked);
      this.hook('masked_v', mV.xMasked);
      const A = this.audioStream(mA.xMasked);
      const V = this.videoStream(mV.xMasked);
      const out: Partial<EncoderOutput> & { maskA: Tensor; maskV: Tensor } = {
        maskA: mA.mask,
        idsRestoreA: mA.idsRestore,
        maskV: mV.mask,
        idsRestoreV: mV.idsRestore,
      };
      if (need.x) out.x = this.norm.forward(this.unified(torch.cat([A, V], 1)));
      if (need.c) {
        const blocks = this.blocks_u;
        // reference: `for blk in blocks_u: ca = blk(a, 'a')` -- each block sees the same input
        const cUnified = (x: Tensor, m: 'a' | 'v') => (compat === 'reference' ? blocks.at(-1).forward(x, m) : runBlocks(blocks, x, m));
        out.ca = this.norm_a.forward(cUnified(A, 'a'));
        out.cv = this.norm_v.forward(cUnified(V, 'v'));
      }
      return out;
    });
  }

  /** Number of removed tokens per sample (the same for all; compat mode reads sample 0 only, as the reference). */
  private removedCount(fn: string, mask: Tensor, name: string): number {
    if (this.config.compat === 'reference') return Math.trunc(torch.tidy(() => mask.select(0, 0).sum().item()));
    const counts = torch.tidy(() => Array.from(mask.sum(1).toArray() as Float32Array));
    if (counts.some((c) => c !== counts[0])) {
      throw new TorchError(`${fn}: every sample must have the same number of removed tokens in ${name}, got ${counts.join(', ')}`, 'ERR_INVALID_ARG');
    }
    return counts[0];
  }

  /**
   * Decoder: x [B, ka + kv, D] -> predA [B, La, p*p], predV [B, Lv, p*p*s*C] (token order). Mask tokens
   * fill the removed positions, ids_restore un-shuffles, decoder pos-embeds and modality tokens are added.
   */
  forwardDecoder(x: Tensor, maskA: Tensor, idsRestoreA: Tensor, maskV: Tensor, idsRestoreV: Tensor): { predA: Tensor; predV: Tensor } {
    const fn = 'SocialMAE.forwardDecoder';
    const { numPatchesA: La, numPatchesV: Lv, embedDim: D } = this.config;
    const B = x.shape[0];
    const check = (t: Tensor, name: string, L: number) => {
      if (!(t instanceof Tensor) || t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== L) {
        throw new TorchError(
          `${fn}: argument '${name}' expected [${B}, ${L}], got ${t instanceof Tensor ? JSON.stringify(t.shape) : describeValue(t)}`,
          'ERR_INVALID_ARG',
        );
      }
    };
    if (x.ndim !== 3 || x.shape[2] !== D) throw new TorchError(`${fn}: argument 'x' expected [B, N, ${D}], got ${JSON.stringify(x.shape)}`, 'ERR_INVALID_ARG');
    check(maskA, 'maskA', La);
    check(idsRestoreA, 'idsRestoreA', La);
    check(maskV, 'maskV', Lv);
    check(idsRestoreV, 'idsRestoreV', Lv);
    const nA = this.removedCount(fn, maskA, 'maskA');
    const nV = this.removedCount(fn, maskV, 'maskV');
    if (this.config.compat !== 'reference' && x.shape[1] !== La - nA + Lv - nV) {
      throw new TorchError(`${fn}: x has ${x.shape[1]} tokens but the masks keep ${La - nA} audio + ${Lv - nV} video tokens`, 'ERR_INVALID_ARG');
    }
    return this.decode(x, nA, idsRestoreA, nV, idsRestoreV);
  }

  /**
   * forwardDecoder after validation: nA / nV removed tokens per sample, known to the caller. forward()
   * knows them from the mask ratios, so a training step reads nothing back from the device (the public
   * forwardDecoder reads the masks once to count them).
   */
  private decode(x: Tensor, nA: number, idsRestoreA: Tensor, nV: number, idsRestoreV: Tensor): { predA: Tensor; predV: Tensor } {
    const { numPatchesA: La, numPatchesV: Lv, decoderEmbedDim: Dd } = this.config;
    const B = x.shape[0];
    const ka = La - nA;
    return torch.tidy(() => {
      const y = this.decoder_embed.forward(x);
      this.hook('decoder_embed_out', y);
      const unshuffle = (kept: Tensor, n: number, ids: Tensor, L: number) =>
        torch.cat([kept, this.mask_token.expand([B, n, Dd])], 1).gather(1, ids.unsqueeze(-1).expand([B, L, Dd]));
      const a = unshuffle(y.slice(1, 0, ka), nA, idsRestoreA, La);
      const v = unshuffle(y.slice(1, ka), nV, idsRestoreV, Lv);
      const h = torch.cat([a, v], 1).add(torch.cat([this.decoder_pos_embed_a, this.decoder_pos_embed_v], 1));
      const hin = torch.cat([h.slice(1, 0, La).add(this.decoder_modality_a), h.slice(1, La).add(this.decoder_modality_v)], 1);
      this.hook('decoder_in', hin);
      const out = this.decoder_norm.forward(runBlocks(this.decoder_blocks, hin));
      this.hook('decoder_norm_out', out);
      return { predA: this.decoder_pred_a.forward(out.slice(1, 0, La)), predV: this.decoder_pred_v.forward(out.slice(1, La)) };
    });
  }

  /** Full pretraining step (see the file comment); the reference's SocialMAE.forward in docs/ARCHITECTURE.md. */
  forward(audio: Tensor, video: Tensor, opts: PretrainForwardOptions = {}): PretrainOutput {
    const fn = 'SocialMAE.forward';
    const maeW = finiteNumber(fn, 'maeLossWeight', opts.maeLossWeight ?? 1);
    const cW = finiteNumber(fn, 'contrastLossWeight', opts.contrastLossWeight ?? 0.01);
    return torch.tidy(() => {
      const [ratioA, ratioV] = [opts.maskRatioA ?? 0.75, opts.maskRatioV ?? 0.75];
      const enc = this.encode(fn, audio, video, ratioA, ratioV, opts, { x: maeW !== 0, c: cW !== 0 });
      const zero = () => torch.scalarTensor(0, { device: audio.device });
      let lossMaeA: Tensor,
        lossMaeV: Tensor,
        lossMae: Tensor,
        pred: { predA?: Tensor; predV?: Tensor } = {};
      if (maeW !== 0) {
        const { numPatchesA: La, numPatchesV: Lv } = this.config;
        const nA = La - lenKeep(La, ratioA);
        const nV = Lv - lenKeep(Lv, ratioV);
        const { predA, predV } = this.decode(enc.x as Tensor, nA, enc.idsRestoreA as Tensor, nV, enc.idsRestoreV as Tensor);
        const { targetA, targetV } = this.targets(audio, video);
        lossMaeA = maeLoss(predA, targetA, enc.maskA, { normPixLoss: this.config.normPixLoss });
        lossMaeV = maeLoss(predV, targetV, enc.maskV, { normPixLoss: this.config.normPixLoss });
        lossMae = lossMaeA.add(lossMaeV).mul(maeW);
        if (opts.returnPred) pred = { predA, predV };
      } else {
        [lossMaeA, lossMaeV, lossMae] = [zero(), zero(), zero()];
      }
      let lossC: Tensor, cAcc: Tensor;
      if (cW !== 0) {
        let [aRep, vRep] = [(enc.ca as Tensor).mean(1), (enc.cv as Tensor).mean(1)];
        if (opts.contrastGather) [aRep, vRep] = gatherReps(fn, opts.contrastGather, aRep, vRep);
        const c = contrastiveLoss(aRep, vRep, { bidirectional: opts.bidirectionalContrast });
        lossC = c.nce.mul(cW);
        cAcc = c.cAcc;
      } else {
        [lossC, cAcc] = [zero(), zero()];
      }
      const loss = lossMae.add(lossC);
      return { loss, lossMae, lossMaeA, lossMaeV, lossC, maskA: enc.maskA, maskV: enc.maskV, cAcc, ...pred };
    });
  }
}
