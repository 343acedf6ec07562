/**
 * The encoder shared by SocialMAE and SocialMAEFT: audio/video patch embeddings, positional embeddings
 * and modality tokens, the modality-specific stacks blocks_a / blocks_v, the unified blocks_u and the
 * three final norms (norm_a, norm_v, norm). Fields are declared in the reference's __init__ order,
 * which makes the state-dict keys and their order those of the reference.
 *
 * Token layouts: audio [B, T, 128] -> La = (128/p)*(T/p) tokens, m = f*(T/p) + t; video
 * [B, C, H, W, T] (time last) -> Lv = (H/p)*(W/p)*(T/s) tokens, m = (h*(W/p) + w)*(T/s) + t.
 */
import { Tensor, TorchError, torch } from '../../tensor';
import { Module, ModuleList, LayerNorm, Linear, Parameter, init } from '../../nn';
import { PatchEmbed, PatchEmbed3D, Block, runBlocks, Modality } from './layers';
import { EncoderConfig, MEL_BINS } from './options';
import { referenceSincos2d, sincos2d, sincos3d } from './pos_embed';

/** Receives named intermediate tensors during a forward pass (for tests and inspection). */
export type DebugHook = (name: string, t: Tensor) => void;

/** Pooled and token-level representations (see {@link SocialMAEEncoder.embed}). */
export interface Embeddings {
  /** mean of norm_a(U_a(A(audio))) over tokens [B, D] */
  audio?: Tensor;
  /** mean of norm_v(U_v(V(video))) over tokens [B, D] */
  video?: Tensor;
  /** mean of norm(U([A(audio); V(video)])) over tokens [B, D]: the input of an FT model's mlp_head */
  joint?: Tensor;
  audioTokens?: Tensor;
  videoTokens?: Tensor;
  jointTokens?: Tensor;
}

function shapeError(fn: string, arg: string, expected: string, t: unknown): never {
  const got = t instanceof Tensor ? `${t.dtype} ${JSON.stringify(t.shape)}` : String(t);
  throw new TorchError(`${fn}: argument '${arg}' expected ${expected}, got ${got}`, 'ERR_INVALID_ARG');
}

export abstract class SocialMAEEncoder extends Module {
  patch_embed_a: PatchEmbed;
  patch_embed_v: PatchEmbed3D;
  modality_a: Tensor;
  modality_v: Tensor;
  pos_embed_a: Tensor;
  pos_embed_v: Tensor;
  blocks_a: ModuleList<Block>;
  blocks_v: ModuleList<Block>;
  blocks_u: ModuleList<Block>;
  norm_a: LayerNorm;
  norm_v: LayerNorm;
  norm: LayerNorm;
  /** Set to receive intermediate tensors (they are freed after the forward unless kept). */
  debugHook?: DebugHook;
  readonly config: EncoderConfig;

  constructor(cfg: EncoderConfig) {
    super();
    this.config = cfg;
    const { embedDim: D, patchSize: p, numHeads, mlpRatio } = cfg;
    this.patch_embed_a = new PatchEmbed(p, 1, D);
    this.patch_embed_v = new PatchEmbed3D(p, cfg.stride, cfg.inChans, D);
    this.modality_a = Parameter(torch.zeros([1, 1, D]));
    this.modality_v = Parameter(torch.zeros([1, 1, D]));
    this.pos_embed_a = Parameter(torch.zeros([1, cfg.numPatchesA, D]), cfg.trPos);
    this.pos_embed_v = Parameter(torch.zeros([1, cfg.numPatchesV, D]), cfg.trPos);
    const stack = (n: number) => new ModuleList(Array.from({ length: n }, () => new Block(D, numHeads, mlpRatio)));
    this.blocks_a = stack(cfg.modalitySpecificDepth);
    this.blocks_v = stack(cfg.modalitySpecificDepth);
    this.blocks_u = stack(cfg.unifiedDepth);
    this.norm_a = new LayerNorm(D);
    this.norm_v = new LayerNorm(D);
    this.norm = new LayerNorm(D);
  }

  // ---- initialisation (the reference's initialize_weights, in its RNG order) ---------------------

  /** Sin-cos initial values [1, La, dim] / [1, Lv, dim]: reference helper in compat mode, else 2-D / 3-D. */
  protected posEmbedInit(dim: number): { a: Tensor; v: Tensor } {
    const { gridA, gridV, numPatchesA, numPatchesV } = this.config;
    return torch.tidy(() => {
      if (this.config.compat === 'reference') {
        const side = Math.trunc(Math.sqrt(numPatchesV));
        return { a: referenceSincos2d(dim, 8, Math.trunc(numPatchesA / 8)).unsqueeze(0), v: referenceSincos2d(dim, side, side).unsqueeze(0) };
      }
      return { a: sincos2d(dim, gridA[0], gridA[1]).unsqueeze(0), v: sincos3d(dim, gridV[0], gridV[1], gridV[2]).unsqueeze(0) };
    });
  }

  protected static copyInto(dst: Tensor, src: Tensor): void {
    torch.noGrad(() => dst.copy_(src));
    src.dispose();
  }

  /** xavier_uniform_ on the conv weights seen as [D, -1] (as a Linear), then N(0, 0.02) modality tokens. */
  protected initPatchEmbeds(): void {
    for (const w of [this.patch_embed_a.proj.weight, this.patch_embed_v.proj.weight]) {
      const flat = w.view([w.shape[0], -1]);
      init.xavierUniform_(flat);
      flat.dispose();
    }
  }

  /** timm/JAX-style init of every Linear (xavier, zero bias) and LayerNorm (1, 0), children first. */
  protected initLinearsAndNorms(): void {
    this.apply((m) => {
      if (m instanceof Linear) {
        init.xavierUniform_(m.weight);
        if (m.bias) init.constant_(m.bias, 0);
      } else if (m instanceof LayerNorm) {
        if (m.bias) init.constant_(m.bias, 0);
        if (m.weight) init.constant_(m.weight, 1);
      }
    });
  }

  // ---- input checks ----------------------------------------------------------------------------

  protected checkAudio(fn: string, audio: unknown): Tensor {
    const { audioLength } = this.config;
    const expected = `a float tensor [B, ${audioLength}, ${MEL_BINS}]`;
    if (!(audio instanceof Tensor)) shapeError(fn, 'audio', expected, audio);
    const s = audio.shape;
    if (s.length !== 3 || s[1] !== audioLength || s[2] !== MEL_BINS || (!audio.dtype.startsWith('float') && audio.dtype !== 'bfloat16')) {
      shapeError(fn, 'audio', expected, audio);
    }
    return audio;
  }

  protected checkVideo(fn: string, video: unknown, batch?: number): Tensor {
    const { inChans, imgSize, nFrame } = this.config;
    const expected = `a float tensor [${batch ?? 'B'}, ${inChans}, ${imgSize[0]}, ${imgSize[1]}, ${nFrame}] (time last)`;
    if (!(video instanceof Tensor)) shapeError(fn, 'video', expected, video);
    const s = video.shape;
    if (
      s.length !== 5 ||
      s[1] !== inChans ||
      s[2] !== imgSize[0] ||
      s[3] !== imgSize[1] ||
      s[4] !== nFrame ||
      (batch !== undefined && s[0] !== batch) ||
      !(video.dtype.startsWith('float') || video.dtype === 'bfloat16')
    ) {
      shapeError(fn, 'video', expected, video);
    }
    return video;
  }

  protected hook(name: string, t: Tensor): void {
    if (this.debugHook) this.debugHook(name, t);
  }

  // ---- encoder pieces ---------------------------------------------------------------------------

  /** audio [B, T, 128] -> tokens [B, La, D] with pos_embed_a and modality_a added. */
  embedAudio(audio: Tensor): Tensor {
    return torch.tidy(() => {
      const patches = this.patch_embed_a.forward(audio.unsqueeze(1).transpose(2, 3));
      this.hook('patch_a', patches);
      return patches.add(this.pos_embed_a).add(this.modality_a);
    });
  }

  /** video [B, C, H, W, T] -> tokens [B, Lv, D] with pos_embed_v and modality_v added. */
  embedVideo(video: Tensor): Tensor {
    return torch.tidy(() => {
      const patches = this.patch_embed_v.forward(video);
      this.hook('patch_v', patches);
      return patches.add(this.pos_embed_v).add(this.modality_v);
    });
  }

  /** Audio tokens through blocks_a. */
  audioStream(tokens: Tensor): Tensor {
    const out = runBlocks(this.blocks_a, tokens);
    this.hook('blocks_a_out', out);
    return out;
  }

  /** Video tokens through blocks_v. */
  videoStream(tokens: Tensor): Tensor {
    const out = runBlocks(this.blocks_v, tokens);
    this.hook('blocks_v_out', out);
    return out;
  }

  /** Tokens through the chained unified blocks with one LayerNorm choice. */
  unified(x: Tensor, modality?: Modality): Tensor {
    const out = runBlocks(this.blocks_u, x, modality);
    this.hook(modality === undefined ? 'blocks_u_out' : `blocks_u_${modality}_out`, out);
    return out;
  }

  /**
   * CAV-MAE's forward_feat: token-level audio and video outputs of the modality-specific path
   * (blocks_a/v, unified blocks with the 'a'/'v' norms, norm_a/norm_v): [B, La, D] and [B, Lv, D].
   */
  forwardFeat(audio: Tensor, video: Tensor): { audio: Tensor; video: Tensor } {
    const e = this.embed(audio, video, { tokens: true, joint: false });
    const out = { audio: e.audioTokens as Tensor, video: e.videoTokens as Tensor };
    torch.dispose([e.audio, e.video]);
    return out;
  }

  /**
   * Representations for retrieval and downstream use. audio or video may be null (its entries are then
   * absent; joint needs both). joint (default true) also runs the unified path on [audio; video].
   * tokens (default false) adds the token-level outputs.
   */
  embed(audio: Tensor | null, video: Tensor | null, opts: { tokens?: boolean; joint?: boolean } = {}): Embeddings {
    const fn = 'embed';
    if (audio == null && video == null) throw new TorchError('embed: give audio, video or both', 'ERR_INVALID_ARG');
    if (audio != null) this.checkAudio(fn, audio);
    if (video != null) this.checkVideo(fn, video, audio?.shape[0]);
    return torch.tidy(() => {
      const out: Embeddings = {};
      const A = audio != null ? this.audioStream(this.embedAudio(audio)) : null;
      const V = video != null ? this.videoStream(this.embedVideo(video)) : null;
      if (A) out.audioTokens = this.norm_a.forward(this.unified(A, 'a'));
      if (V) out.videoTokens = this.norm_v.forward(this.unified(V, 'v'));
      if (A && V && (opts.joint ?? true)) out.jointTokens = this.norm.forward(this.unified(torch.cat([A, V], 1)));
      if (out.audioTokens) out.audio = out.audioTokens.mean(1);
      if (out.videoTokens) out.video = out.videoTokens.mean(1);
      if (out.jointTokens) out.joint = out.jointTokens.mean(1);
      if (!opts.tokens) {
        torch.dispose([out.audioTokens, out.videoTokens, out.jointTokens]);
        delete out.audioTokens;
        delete out.videoTokens;
        delete out.jointTokens;
      }
      return out;
    });
  }
}
