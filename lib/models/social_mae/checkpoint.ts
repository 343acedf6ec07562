/**
 * Checkpoint adapters: what loads into SocialMAE / SocialMAEFT from which state dict, with a report of
 * every key. State dicts may carry the `module.` prefix of nn.DataParallel (stripped when all keys have it).
 *
 * - {@link loadCheckpoint}: a Social-MAE checkpoint of the same model, strictly (every key, every shape).
 * - {@link initFromCavMae}: a CAV-MAE checkpoint (2-D video patches, 14x14 video tokens).
 *     method 'reference' (main_pretrain.py): drop patch_embed_v.proj.{weight,bias}, pos_embed_v,
 *       decoder_pos_embed_v, decoder_pred_v.{weight,bias}; load the rest; those keep their fresh values.
 *     method 'inflate' (default): the 2-D kernel becomes a 3-D one split evenly over the temporal stride
 *       (w3[..., si] = w2 / s, so a static clip gives the same response), video pos-embeds are resampled
 *       (bicubic) to the new (h, w) grid and repeated over t, decoder_pred_v is repeated for each frame
 *       of a temporal patch.
 * - {@link initFinetuneFromPretrain}: SocialMAEFT from a SocialMAE pretrain checkpoint: every encoder
 *   key must load; decoder keys and mask_token are reported unused; mlp_head stays fresh.
 */
import { Tensor, torch } from '../../tensor';
import { Module, StateDictError } from '../../nn';
import type { StateDictIssue } from '../../nn';
import { SocialMAEEncoder } from './encoder';
import { inflateTime, resampleGrid2d } from './pos_embed';

export interface AdaptedKey {
  key: string;
  from: number[];
  to: number[];
  how: string;
}

export interface LoadReport {
  /** keys copied unchanged */
  loaded: string[];
  /** keys converted to the model's shape */
  adapted: AdaptedKey[];
  /** checkpoint keys deliberately not loaded (the reference's CAV-MAE recipe) */
  dropped: string[];
  /** checkpoint keys the model has no place for (e.g. the decoder when finetuning) */
  unused: string[];
  /** model keys the checkpoint does not provide: they keep their current (fresh) values */
  missing: string[];
}

type SD = Map<string, Tensor> | Record<string, Tensor>;

/** Entries without the DataParallel `module.` prefix (removed only when every key has it). */
export function stripModulePrefix<T>(sd: Map<string, T> | Record<string, T>): Map<string, T> {
  const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
  const all = entries.length > 0 && entries.every(([k]) => k.startsWith('module.'));
  return new Map(all ? entries.map(([k, v]) => [k.slice(7), v]) : entries);
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((s, i) => s === b[i]);
const fmt = (s: number[]) => JSON.stringify(s);

/** Loads `plan` (model key -> tensor of the model's shape) and fills in the report's missing keys. */
function apply(model: Module, plan: Map<string, Tensor>, report: LoadReport): LoadReport {
  const res = model.loadStateDict(plan, { strict: false });
  report.missing = res.missingKeys;
  return report;
}

/** A Social-MAE checkpoint of exactly this model: strict (throws StateDictError listing every problem). */
export function loadCheckpoint(model: SocialMAEEncoder, sd: SD): LoadReport {
  const entries = stripModulePrefix(sd);
  model.loadStateDict(entries, { strict: true });
  return { loaded: [...entries.keys()], adapted: [], dropped: [], unused: [], missing: [] };
}

/** The video keys CAV-MAE and Social-MAE shape differently (main_pretrain.py deletes exactly these). */
export const CAVMAE_VIDEO_KEYS = [
  'patch_embed_v.proj.weight',
  'patch_embed_v.proj.bias',
  'pos_embed_v',
  'decoder_pos_embed_v',
  'decoder_pred_v.weight',
  'decoder_pred_v.bias',
] as const;

/** The inflated value of one CAV-MAE video key for the model, or null when no conversion applies. */
function inflateKey(model: SocialMAEEncoder, key: string, src: Tensor, target: number[]): { value: Tensor; how: string } | null {
  const { stride: s, gridV } = model.config;
  const sh = src.shape;
  if (key === 'patch_embed_v.proj.weight' && sh.length === 4 && same([...sh, s], target)) {
    return { value: torch.tidy(() => src.unsqueeze(-1).expand(target).div(s).contiguous()), how: `2-D kernel repeated over ${s} frames and divided by ${s}` };
  }
  if ((key === 'pos_embed_v' || key === 'decoder_pos_embed_v') && sh.length === 3 && sh[0] === 1 && sh[2] === target[2]) {
    const g = Math.round(Math.sqrt(sh[1]));
    if (g * g !== sh[1]) return null;
    const value = torch.tidy(() => inflateTime(resampleGrid2d(src, g, g, gridV[0], gridV[1]), gridV[2]));
    const how =
      (g === gridV[0] && g === gridV[1] ? `${g}x${g} grid` : `${g}x${g} grid resampled (bicubic) to ${gridV[0]}x${gridV[1]}`) +
      `, repeated over ${gridV[2]} temporal slots`;
    return { value, how };
  }
  if ((key === 'decoder_pred_v.weight' || key === 'decoder_pred_v.bias') && sh[0] * s === target[0] && same(sh.slice(1), target.slice(1))) {
    const reps = key.endsWith('weight') ? [s, 1] : [s];
    return { value: torch.tidy(() => src.repeat(reps)), how: `per-frame prediction repeated for the ${s} frames of a temporal patch` };
  }
  return null;
}

/**
 * Initialises a SocialMAE (or SocialMAEFT) from a CAV-MAE state dict. Keys with other shapes than the
 * model's (other than the video keys, and a finetuning head) are an error, as in PyTorch.
 */
export function initFromCavMae(model: SocialMAEEncoder, sd: SD, opts: { method?: 'reference' | 'inflate' } = {}): LoadReport {
  const method = opts.method ?? 'inflate';
  const entries = stripModulePrefix(sd);
  const own = new Map(model.namedParameters());
  const report: LoadReport = { loaded: [], adapted: [], dropped: [], unused: [], missing: [] };
  const plan = new Map<string, Tensor>();
  const temps: Tensor[] = [];
  const issues: StateDictIssue[] = [];
  try {
    for (const [key, src] of entries) {
      const target = own.get(key);
      if (!target) {
        report.unused.push(key);
        continue;
      }
      const isVideo = (CAVMAE_VIDEO_KEYS as readonly string[]).includes(key);
      if (isVideo && method === 'reference') {
        report.dropped.push(key);
        continue;
      }
      const tshape = target.shape;
      if (same(src.shape, tshape)) {
        plan.set(key, src);
        report.loaded.push(key);
        continue;
      }
      const inflated = isVideo ? inflateKey(model, key, src, tshape) : null;
      if (inflated) {
        temps.push(inflated.value);
        plan.set(key, inflated.value);
        report.adapted.push({ key, from: src.shape, to: tshape, how: inflated.how });
      } else if (key.startsWith('mlp_head.')) {
        report.unused.push(key);
      } else {
        issues.push({
          code: 'shape_mismatch',
          key,
          expected: tshape,
          found: src.shape,
          message: `size mismatch for ${key}: the model has ${fmt(tshape)}, the CAV-MAE checkpoint ${fmt(src.shape)}`,
        });
      }
    }
    if (issues.length) throw new StateDictError(model.constructor.name, issues);
    return apply(model, plan, report);
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** Keys of a pretrain checkpoint that a finetuning model does not have. */
function isPretrainOnly(key: string): boolean {
  return key.startsWith('decoder_') || key === 'mask_token';
}

/**
 * SocialMAEFT from a SocialMAE pretrain checkpoint (what main_ft.py does with strict=False, made
 * explicit): every encoder parameter must be present with the right shape (else StateDictError);
 * decoder keys and mask_token are reported unused; mlp_head.* is reported missing and stays fresh.
 */
export function initFinetuneFromPretrain(model: SocialMAEEncoder, sd: SD): LoadReport {
  const entries = stripModulePrefix(sd);
  const own = new Map(model.namedParameters());
  const report: LoadReport = { loaded: [], adapted: [], dropped: [], unused: [], missing: [] };
  const plan = new Map<string, Tensor>();
  const issues: StateDictIssue[] = [];
  for (const [key, src] of entries) {
    const target = own.get(key);
    if (!target) {
      if (isPretrainOnly(key)) report.unused.push(key);
      else issues.push({ code: 'unexpected_key', key, message: `unexpected key ${key} ${fmt(src.shape)}` });
    } else if (key.startsWith('mlp_head.')) {
      report.unused.push(key);
    } else if (!same(src.shape, target.shape)) {
      issues.push({
        code: 'shape_mismatch',
        key,
        expected: target.shape,
        found: src.shape,
        message: `size mismatch for ${key}: expected ${fmt(target.shape)}, found ${fmt(src.shape)}`,
      });
    } else {
      plan.set(key, src);
      report.loaded.push(key);
    }
  }
  for (const key of own.keys()) {
    if (!key.startsWith('mlp_head.') && !entries.has(key)) issues.push({ code: 'missing_key', key, message: `missing key ${key}` });
  }
  if (issues.length) throw new StateDictError(model.constructor.name, issues);
  return apply(model, plan, report);
}
