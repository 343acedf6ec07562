/**
 * GradScaler: dynamic loss scaling for fp16 training (torch.amp.GradScaler). The loss is multiplied by
 * `scale` before backward; `step(opt)` unscales the gradients, skips the update when any gradient is
 * inf/NaN, and `update()` halves the scale after an overflow or doubles it after `growthInterval` clean
 * steps. One host read per step (the overflow flag), as in PyTorch's `step`.
 */
import { Tensor, TorchError, torch } from '../tensor';
import { Optimizer } from './optimizer';

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  enabled?: boolean;
}

export class GradScaler {
  private scaleValue: number;
  private growthTracker = 0;
  private foundInf: boolean | null = null;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  readonly enabled: boolean;

  constructor(opts: GradScalerOptions = {}) {
    this.scaleValue = opts.initScale ?? 65536;
    this.growthFactor = opts.growthFactor ?? 2;
    this.backoffFactor = opts.backoffFactor ?? 0.5;
    this.growthInterval = opts.growthInterval ?? 2000;
    this.enabled = opts.enabled ?? true;
    if (!(this.scaleValue > 0) || !(this.growthFactor > 1) || !(this.backoffFactor > 0 && this.backoffFactor < 1)) {
      throw new TorchError('GradScaler: need initScale > 0, growthFactor > 1 and 0 < backoffFactor < 1', 'ERR_INVALID_ARG');
    }
  }

  /** The current scale. */
  getScale(): number {
    return this.enabled ? this.scaleValue : 1;
  }

  /** loss * scale (a new tensor; call backward on it). */
  scale(loss: Tensor): Tensor {
    return this.enabled ? loss.mul(this.scaleValue) : loss.mul(1);
  }

  /** Divides every gradient of `opt` by the scale in place and records whether any is inf/NaN. */
  unscale_(opt: Optimizer): void {
    if (!this.enabled || this.foundInf !== null) return;
    const inv = 1 / this.scaleValue;
    let bad = false;
    torch.noGrad(() =>
      torch.tidy(() => {
        // One flag per gradient, gathered on the first gradient's device: a single host sync per step.
        const flags: Tensor[] = [];
        let device: string | null = null;
        for (const group of opt.paramGroups) {
          for (const p of group.params) {
            const g = p.grad;
            if (!g) continue;
            g.mul_(inv);
            device ??= g.device;
            flags.push(g.isfinite().all().logicalNot().to(device).view([1]));
          }
        }
        if (flags.length) bad = torch.cat(flags).any().item() !== 0;
      }),
    );
    this.foundInf = bad;
  }

  /** Unscales (if not done yet) and runs `opt.step()` unless a gradient overflowed. Returns whether it stepped. */
  step(opt: Optimizer): boolean {
    if (!this.enabled) {
      opt.step();
      return true;
    }
    this.unscale_(opt);
    if (this.foundInf) return false;
    opt.step();
    return true;
  }

  /** Adjusts the scale after a step: back off on overflow, grow after growthInterval clean steps. */
  update(): void {
    if (!this.enabled) return;
    if (this.foundInf === null) throw new TorchError('GradScaler.update: call step(opt) first', 'ERR_INVALID_ARG');
    if (this.foundInf) {
      this.scaleValue *= this.backoffFactor;
      this.growthTracker = 0;
    } else if (++this.growthTracker === this.growthInterval) {
      this.scaleValue *= this.growthFactor;
      this.growthTracker = 0;
    }
    this.foundInf = null;
  }

  /** PyTorch's layout: { scale, growth_factor, backoff_factor, growth_interval, _growth_tracker }. */
  stateDict(): Map<string, number> {
    return new Map([
      ['scale', this.scaleValue],
      ['growth_factor', this.growthFactor],
      ['backoff_factor', this.backoffFactor],
      ['growth_interval', this.growthInterval],
      ['_growth_tracker', this.growthTracker],
    ]);
  }

  loadStateDict(sd: Map<string, unknown>): void {
    const scale = sd.get('scale'),
      tracker = sd.get('_growth_tracker');
    if (typeof scale !== 'number' || typeof tracker !== 'number') {
      throw new TorchError('GradScaler.loadStateDict: expected numeric scale and _growth_tracker', 'ERR_INVALID_ARG');
    }
    this.scaleValue = scale;
    this.growthTracker = tracker;
  }
}
