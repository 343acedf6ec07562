/**
 * SocialMAEFT: the finetuning model (encoder + mlp_head = LayerNorm, Linear(D, labelDim)).
 *
 * forward(audio [B, T, 128], video [B, 3, H, W, nFrame], mode) -> logits [B, labelDim]:
 *   'multimodal'        norm(U([A(a); V(v)])) averaged over tokens
 *   'audioonly'         norm_a(U_a(A(a))) averaged               (video may be null)
 *   'videoonly'         norm_v(U_v(V(v))) averaged               (audio may be null)
 *   'missingaudioonly'  CAV-MAE: a model finetuned on both modalities, only audio given at test time:
 *                       (mean norm(U(A(a))) + mean norm_a(U_a(A(a)))) / 2
 *   'missingvideoonly'  the same for video
 * A = blocks_a, V = blocks_v, U = the unified blocks (chained) with the shared, 'a' or 'v' norms.
 *
 * The head is the reference's (LayerNorm, Linear) for every task. For regression (e.g. the five
 * First Impressions traits, targets in [0, 1]) its output is the target vector itself, unbounded: no
 * sigmoid is applied, so checkpoints stay the reference's, MSE/L1 gradients do not vanish at the ends of
 * the range, and a prediction may fall slightly outside [0, 1] (the metrics take it as it is).
 */
import { Tensor, TorchError, torch } from '../../tensor';
import { LayerNorm, Linear, Sequential, init } from '../../nn';
import { describeValue } from '../../tensor/errors';
import { SocialMAEEncoder } from './encoder';
import { FTConfig, FTOptions, ftConfig } from './options';
import { loadCheckpoint } from './checkpoint';
import { inferConfig, type GivenOptions } from './infer';

export type FTMode = 'multimodal' | 'audioonly' | 'videoonly' | 'missingaudioonly' | 'missingvideoonly';
export const FT_MODES: readonly FTMode[] = ['multimodal', 'audioonly', 'videoonly', 'missingaudioonly', 'missingvideoonly'];

/** Which inputs each mode reads (the other one may be null); the one table the model and the loops share. */
export const FT_MODE_INPUTS: Readonly<Record<FTMode, Readonly<{ audio: boolean; video: boolean }>>> = {
  multimodal: { audio: true, video: true },
  audioonly: { audio: true, video: false },
  videoonly: { audio: false, video: true },
  missingaudioonly: { audio: true, video: false },
  missingvideoonly: { audio: false, video: true },
};

/** The inputs `mode` needs; ERR_INVALID_ARG naming `fn` for a mode that is not one of FT_MODES. */
export function modeInputs(mode: FTMode, fn = 'SocialMAEFT.forward'): Readonly<{ audio: boolean; video: boolean }> {
  if (!FT_MODES.includes(mode)) {
    throw new TorchError(`${fn}: argument 'mode' expected one of ${FT_MODES.join(', ')}, got ${describeValue(mode)}`, 'ERR_INVALID_ARG');
  }
  return FT_MODE_INPUTS[mode];
}

export class SocialMAEFT extends SocialMAEEncoder {
  mlp_head: Sequential;
  declare readonly config: FTConfig;

  /**
   * A finetuning model built from a Social-MAE-FT state dict alone (keys with or without `module.`): the
   * options come from its shapes (infer.ts; `given` overrides what shapes cannot tell, e.g. numHeads),
   * then every key loads strictly. ERR_CONFIG when the state dict is not a Social-MAE finetuning model's.
   */
  static fromStateDict(sd: Map<string, Tensor> | Record<string, Tensor>, given: GivenOptions = {}): SocialMAEFT {
    const m = inferConfig(sd, given);
    if (m.kind !== 'finetune' || m.family !== 'Social-MAE' || m.options.labelDim === undefined) {
      throw new TorchError(`SocialMAEFT.fromStateDict: the state dict holds a ${m.family} ${m.kind} model, not a Social-MAE finetuning model`, 'ERR_CONFIG');
    }
    const model = new SocialMAEFT({ ...m.options, labelDim: m.options.labelDim });
    try {
      loadCheckpoint(model, sd);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  constructor(opts: FTOptions) {
    const cfg = ftConfig(opts);
    super(cfg);
    this.mlp_head = new Sequential([new LayerNorm(cfg.embedDim), new Linear(cfg.embedDim, cfg.labelDim)]);
    this.initializeWeights();
  }

  /** The reference's initialize_weights: pos-embeds, patch-embed xavier, modality tokens, Linear/LayerNorm. */
  private initializeWeights(): void {
    const pe = this.posEmbedInit(this.config.embedDim);
    SocialMAEFT.copyInto(this.pos_embed_a, pe.a);
    SocialMAEFT.copyInto(this.pos_embed_v, pe.v);
    this.initPatchEmbeds();
    init.normal_(this.modality_a, 0, 0.02);
    init.normal_(this.modality_v, 0, 0.02);
    this.initLinearsAndNorms();
  }

  /** The classifier head's input [B, D] for a mode (see the class comment). */
  pooled(audio: Tensor | null, video: Tensor | null, mode: FTMode = 'multimodal'): Tensor {
    const fn = 'SocialMAEFT.forward';
    const need = modeInputs(mode, fn);
    const a = need.audio ? this.checkAudio(fn, audio) : null;
    const v = need.video ? this.checkVideo(fn, video, a?.shape[0]) : null;
    return torch.tidy(() => {
      const A = a ? this.audioStream(this.embedAudio(a)) : null;
      const V = v ? this.videoStream(this.embedVideo(v)) : null;
      let x: Tensor;
      switch (mode) {
        case 'multimodal':
          x = this.norm.forward(this.unified(torch.cat([A as Tensor, V as Tensor], 1))).mean(1);
          break;
        case 'audioonly':
          x = this.norm_a.forward(this.unified(A as Tensor, 'a')).mean(1);
          break;
        case 'videoonly':
          x = this.norm_v.forward(this.unified(V as Tensor, 'v')).mean(1);
          break;
        case 'missingaudioonly': {
          const u = this.norm.forward(this.unified(A as Tensor)).mean(1);
          x = u.add(this.norm_a.forward(this.unified(A as Tensor, 'a')).mean(1)).div(2);
          break;
        }
        case 'missingvideoonly': {
          const u = this.norm.forward(this.unified(V as Tensor)).mean(1);
          x = u.add(this.norm_v.forward(this.unified(V as Tensor, 'v')).mean(1)).div(2);
          break;
        }
      }
      this.hook('pooled', x);
      return x;
    });
  }

  /** logits [B, labelDim] = mlp_head(pooled(audio, video, mode)). */
  forward(audio: Tensor | null, video: Tensor | null, mode: FTMode = 'multimodal'): Tensor {
    return torch.tidy(() => this.mlp_head.forward(this.pooled(audio, video, mode)));
  }
}
