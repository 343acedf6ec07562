/**
 * Self-supervised pretraining of SocialMAE, as the reference's traintest_cavmae.py: Adam over the
 * trainable parameters (betas (0.95, 0.999), weight decay 5e-7), reconstruction + contrastive loss with
 * random masking, validation loss every epoch, best epoch = lowest validation (else training) loss.
 * With a run directory, plots/reconstruction.E.png after every epoch (recon_picture.ts): the first clip of
 * the validation (else training) data, masked with a fixed per-epoch noise so the global RNG is untouched.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Tensor } from '../tensor';
import { torch } from '../tensor';
import * as dist from '../distributed';
import { Adam, type Optimizer } from '../optim';
import type { SocialMAE, PretrainForwardOptions } from '../models';
import type { Batch, DataLoader } from '../data/loader';
import { TrainError } from './errors';
import { fbankNoise } from './augment';
import { fit, withAmp, type FitOptions } from './fit';
import type { EpochRecord } from './run_dir';
import { reconstructionPng } from './recon_picture';
import { PLOTS_DIR } from './plots';
import { writeFileAtomic } from '../io/atomic';

/**
 * What the contrastive loss contrasts under data parallelism (a process group of W > 1 ranks):
 * - 'global' (default): every clip against the whole global batch (all ranks' rows, gathered with
 *   distributed.allGatherRows), so W ranks with batch b train as one process with batch W*b;
 * - 'local': each rank's own shard, as the reference's nn.DataParallel (each GPU's replica computes the
 *   loss on its shard) — the reference then sums the replicas' losses, DDP averages them: the same
 *   direction, gradients 1/W as large.
 * In one process both are the same.
 */
export type ContrastScope = 'global' | 'local';
export const CONTRAST_SCOPES: readonly ContrastScope[] = ['global', 'local'];

export interface PretrainLoopOptions extends FitOptions {
  /** The contrastive loss's batch under data parallelism (default 'global'; see ContrastScope). */
  contrastScope?: ContrastScope;
  lr?: number; // 1e-4
  weightDecay?: number; // 5e-7
  betas?: [number, number]; // [0.95, 0.999]
  /** Masking ratios and loss weights passed to every forward (model defaults otherwise). */
  forward?: Omit<PretrainForwardOptions, 'noiseA' | 'noiseV' | 'returnPred' | 'contrastGather'>;
  val?: DataLoader;
  /** The reference's fbank noise + random time roll on training batches. */
  noise?: boolean;
  /** Use this optimizer (owned by the caller) instead of the reference's Adam built from lr/betas/weightDecay. */
  optimizer?: Optimizer;
  /** Anything else to record in config.json (model options, data recipe). */
  config?: Record<string, unknown>;
  /** The reconstruction picture after every epoch (default true with a runDir); `channelOrder` of the
   *  loader's video recipe (default 'bgr', the reference's). */
  reconstruction?: boolean | { channelOrder?: 'rgb' | 'bgr'; frames?: number };
}

/** [1, n] uniform noise from a fixed seed (mulberry32), so the picture's masks are not drawn from the global RNG. */
function fixedNoise(n: number, seed: number, device: string): Tensor {
  let a = seed >>> 0;
  const x = Float32Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  });
  return torch.tidy(() => torch.tensor(x, { shape: [1, n] }).to(device));
}

/** Writes plots/reconstruction.E.png of the first clip of `loader`. */
async function writeReconstruction(model: SocialMAE, loader: DataLoader, dir: string, epoch: number, o: PretrainLoopOptions, device: string): Promise<void> {
  const ro = typeof o.reconstruction === 'object' ? o.reconstruction : {};
  for await (const batch of loader.epoch(0)) {
    try {
      const png = torch.noGrad(() =>
        torch.tidy(() => {
          const { audio, video } = batchInputs(batch, device, 'pretrain');
          const a = audio.slice(0, 0, 1);
          const v = video.slice(0, 0, 1);
          const { patchSize: p, stride: s } = model.config;
          const La = (a.shape[1]! / p) * (a.shape[2]! / p);
          const Lv = (v.shape[2]! / p) * (v.shape[3]! / p) * (v.shape[4]! / s);
          model.eval();
          return reconstructionPng(model, a, v, {
            forward: { ...(o.forward ?? {}), noiseA: fixedNoise(La, 1000 + epoch, device), noiseV: fixedNoise(Lv, 2000 + epoch, device) },
            ...(ro.frames !== undefined ? { frames: ro.frames } : {}),
            channelOrder: ro.channelOrder ?? 'bgr',
          });
        }),
      );
      await fs.promises.mkdir(path.join(dir, PLOTS_DIR), { recursive: true });
      await writeFileAtomic(path.join(dir, PLOTS_DIR, `reconstruction.${epoch}.png`), [png]);
    } finally {
      batch.dispose();
    }
    break;
  }
}

/** Batch tensors on the model's device: audio [B, T, 128], video [B, 3, H, W, T']. */
export function batchInputs(batch: Batch, device: string, fn: string): { audio: Tensor; video: Tensor } {
  if (!batch.audio || !batch.video) throw new TrainError(`${fn}: batches need audio and video (the loader's recipe has one of them off)`, 'ERR_INVALID_ARG');
  return { audio: batch.audio.to(device), video: batch.video.to(device) };
}

const LOSS_KEYS = ['loss', 'lossMae', 'lossMaeA', 'lossMaeV', 'lossC', 'cAcc'] as const;

/**
 * A training step's extra forward options under a process group of W > 1 ranks. Masking noise: every rank
 * draws it for the global batch (W*b rows, the ranks' generators agree) and keeps the rows of its items —
 * rank r holds positions r, r+W, ... of the epoch order (data.DistributedSampler) — so masks are those
 * one process would draw for the union batch, not the same masks on every rank. The contrastive gather
 * for the 'global' scope.
 */
function dataParallelStep(
  model: SocialMAE,
  batchSize: number,
  fwd: NonNullable<PretrainLoopOptions['forward']>,
  scope: ContrastScope,
): Partial<PretrainForwardOptions> {
  if (!dist.isInitialized() || dist.getWorldSize() === 1) return {};
  const [W, r] = [dist.getWorldSize(), dist.getRank()];
  const out: Partial<PretrainForwardOptions> = {};
  // (the model calls it only when the contrastive weight is not 0, on every rank alike)
  if (scope === 'global') out.contrastGather = (rows) => dist.allGatherRows(rows);
  if ((fwd.maskMode ?? 'unstructured') === 'unstructured') {
    const device = model.parameters()[0]?.device ?? 'cpu';
    const rows = (L: number) => torch.randn([W * batchSize, L], { device }).index(`${r}::${W}`);
    out.noiseA = rows(model.config.numPatchesA);
    out.noiseV = rows(model.config.numPatchesV);
  }
  return out;
}

export async function pretrain(model: SocialMAE, train: DataLoader, o: PretrainLoopOptions): Promise<EpochRecord[]> {
  const device = model.parameters()[0]?.device ?? 'cpu';
  const fwd = o.forward ?? {};
  const scope = o.contrastScope ?? 'global';
  if (!CONTRAST_SCOPES.includes(scope))
    throw new TrainError(`pretrain: contrastScope must be ${CONTRAST_SCOPES.map((c) => `'${c}'`).join(' or ')}, got ${String(scope)}`, 'ERR_INVALID_ARG');
  const hyper = { lr: o.lr ?? 1e-4, weightDecay: o.weightDecay ?? 5e-7, betas: o.betas ?? ([0.95, 0.999] as [number, number]) };
  const opt =
    o.optimizer ??
    new Adam(
      model.parameters().filter((p) => p.requiresGrad),
      hyper,
    );
  /** train: a training step (augmentation, and under a process group dataParallelStep's options). */
  const forward = (batch: Batch, train = false) => {
    const { audio, video } = batchInputs(batch, device, 'pretrain');
    const a = train && o.noise ? fbankNoise(audio) : audio;
    const out = model.forward(a, video, train ? { ...fwd, ...dataParallelStep(model, audio.shape[0]!, fwd, scope) } : fwd);
    return Object.fromEntries(LOSS_KEYS.map((k) => [k, out[k]])) as Record<(typeof LOSS_KEYS)[number], Tensor>;
  };
  try {
    return await fit(
      {
        model,
        opt,
        train,
        device,
        ...(o.val ? { val: o.val } : {}),
        step: (batch) => forward(batch, true),
        evaluate: async (loader) => {
          model.eval();
          const sums = new Map<string, number>();
          let n = 0;
          for await (const batch of loader.epoch(0)) {
            try {
              const B = batch.ids.length;
              const values = torch.noGrad(() =>
                torch.tidy(() => {
                  const out = withAmp(device, o.amp, () => forward(batch));
                  return Object.entries(out).map(([k, v]) => [k, v.item()] as const);
                }),
              );
              for (const [k, v] of values) sums.set(k, (sums.get(k) ?? 0) + v * B);
              n += B;
            } finally {
              batch.dispose();
            }
          }
          if (n === 0) throw new TrainError('pretrain: the validation loader produced no batch', 'ERR_INVALID_ARG');
          return Object.fromEntries([...sums].map(([k, v]) => [k, v / n]));
        },
        best: { key: 'loss', higherIsBetter: false },
        afterEpoch: async (record, dir) => {
          if (dir && o.reconstruction !== false) await writeReconstruction(model, o.val ?? train, dir, record.epoch, o, device);
        },
        config: {
          task: 'pretrain',
          ...(o.optimizer ? { optimizer: o.optimizer.constructor.name } : hyper),
          forward: fwd,
          // the scope changes results only across ranks: a one-process record leaves it out, so runs
          // started before the option existed still resume
          ...(dist.isInitialized() && dist.getWorldSize() > 1 ? { contrastScope: scope } : {}),
          noise: !!o.noise,
          amp: o.amp ?? 'off',
          schedule: o.schedule ?? {},
          ...(o.config ?? {}),
        },
      },
      o,
    );
  } finally {
    if (!o.optimizer) opt.dispose();
  }
}
