/**
 * Adam and AdamW with torch.optim's exact update rules (torch/optim/adam.py `_single_tensor_adam`,
 * adamw.py), run natively: per parameter (`native.adamStep`), or with LibTorch's fused multi-tensor
 * kernel (`native.fusedAdamStep` = at::_fused_adam_ / _fused_adamw_; LibTorch >= 2.0 on CUDA, >= 2.4 on
 * the CPU).
 *
 * Which path: `fused: true` forces the fused kernel, `fused: false` the per-parameter step, and the
 * default (`fused` unset / null) picks the fused kernel for a group whose parameters are all CUDA
 * floating-point tensors on LibTorch >= 2.0 (where PyTorch itself defaults to a multi-tensor path), and
 * the per-parameter step otherwise (the CPU default, which reproduces torch's default single-tensor
 * numerics bit for bit on the same LibTorch 1.x). The fused kernel computes the same update with
 * different rounding (within ~1e-6 after a few steps).
 *
 * Per parameter p with gradient g, at step t (after incrementing):
 *   g = maximize ? -g : g
 *   Adam:  g = g + weightDecay * p        AdamW: p = p * (1 - lr * weightDecay)
 *   m = beta1 * m + (1 - beta1) * g;      v = beta2 * v + (1 - beta2) * g * g
 *   vmax = max(vmax, v) (amsgrad)
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
 * Parameters whose grad is undefined are skipped entirely: no decay, no state change.
 *
 * State per parameter (PyTorch names in state dicts): step (a float32 0-d tensor in state dicts),
 * exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad.
 */
import { native as N } from '../native/binding';
import { Tensor, TorchError, torch } from '../tensor';
import { Optimizer, ParamGroup, ParamState, Params, invalidArg } from './optimizer';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  /** Accepted for PyTorch compatibility (state dicts); the implementation is chosen by `fused`. */
  foreach?: boolean | null;
  /** Accepted for state-dict compatibility; CUDA-graph capture is not supported. */
  capturable?: boolean;
  differentiable?: boolean;
  /**
   * true: LibTorch's fused multi-tensor kernel (LibTorch >= 2.0 on CUDA, >= 2.4 on the CPU); false: the
   * per-parameter native step; unset/null: fused for all-CUDA groups on LibTorch >= 2.0, else per-parameter.
   */
  fused?: boolean | null;
}

/** The state of one parameter. `step` is a JS number here (a float32 tensor in state dicts). */
export interface AdamState extends ParamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq?: Tensor;
}

const FLOATING = ['float32', 'float16', 'bfloat16', 'float64'];

function torchMajor(): number {
  return Number(torch.version().split('.')[0]);
}

abstract class AdamBase extends Optimizer {
  protected abstract readonly decoupled: boolean;

  protected override validateGroup(g: ParamGroup): void {
    const lr = g.lr as number,
      eps = g.eps as number,
      wd = g.weightDecay as number;
    const betas = g.betas as number[];
    if (!(typeof lr === 'number' && lr >= 0)) invalidArg(`Invalid learning rate: ${lr}`);
    if (!(typeof eps === 'number' && eps >= 0)) invalidArg(`Invalid epsilon value: ${eps}`);
    if (!Array.isArray(betas) || betas.length !== 2) invalidArg(`Invalid betas: ${JSON.stringify(betas)} (expected two numbers)`);
    if (!(betas[0] >= 0 && betas[0] < 1)) invalidArg(`Invalid beta parameter at index 0: ${betas[0]}`);
    if (!(betas[1] >= 0 && betas[1] < 1)) invalidArg(`Invalid beta parameter at index 1: ${betas[1]}`);
    if (!(typeof wd === 'number' && wd >= 0)) invalidArg(`Invalid weight_decay value: ${wd}`);
    if (g.fused === true) {
      if (torchMajor() < 2) {
        throw new TorchError('Adam: fused=true needs LibTorch >= 2.0 (linked: ' + torch.version() + '); leave fused off', 'ERR_UNSUPPORTED');
      }
      if (g.differentiable) invalidArg('`fused` does not support `differentiable`');
      for (const p of g.params) {
        if (!FLOATING.includes(p.dtype)) {
          invalidArg(`\`fused=true\` requires all the params to be floating point, got ${p.dtype}`);
        }
      }
    }
  }

  /** Whether a group's update uses the fused kernel (see the module comment). */
  protected usesFused(group: ParamGroup, params: Tensor[]): boolean {
    if (group.fused === true) return true;
    if (group.fused === false || torchMajor() < 2) return false;
    return params.every((p) => p.device.startsWith('cuda') && FLOATING.includes(p.dtype));
  }

  protected override updateGroup(group: ParamGroup): void {
    const { params, grads } = this.gradsOf(group);
    if (params.length === 0) return;
    try {
      const amsgrad = !!group.amsgrad;
      const states = params.map((p) => {
        let s = this.state.get(p) as AdamState | undefined;
        if (!s) {
          s = { step: 0, expAvg: this.zerosLike(p), expAvgSq: this.zerosLike(p) };
          this.state.set(p, s);
        }
        if (amsgrad && !s.maxExpAvgSq) s.maxExpAvgSq = this.zerosLike(p);
        s.step += 1;
        return s;
      });
      const [b1, b2] = group.betas as number[];
      const args = [group.lr as number, b1, b2, group.eps as number, group.weightDecay as number, amsgrad, !!group.maximize, this.decoupled] as const;
      if (!this.usesFused(group, params)) {
        N.adamStep(
          params.map((p) => p.id),
          grads,
          states.map((s) => s.expAvg.id),
          states.map((s) => s.expAvgSq.id),
          amsgrad ? states.map((s) => s.maxExpAvgSq!.id) : null,
          states.map((s) => s.step),
          ...args,
        );
        return;
      }
      // Fused: one kernel call per (device, dtype), as PyTorch groups them. The kernel reads each
      // parameter's step from a float32 tensor on its device (PyTorch increments them before the call);
      // parameters with the same step share one tensor, so there is one small fill per step, not one per
      // parameter.
      const buckets = new Map<string, number[]>();
      params.forEach((p, i) => {
        const key = `${p.device}|${p.dtype}`;
        const b = buckets.get(key);
        if (b) b.push(i);
        else buckets.set(key, [i]);
      });
      const stepTensors = new Map<string, Tensor>();
      try {
        for (const idx of buckets.values()) {
          const device = params[idx[0]].device;
          const steps = idx.map((i) => {
            const key = `${device}|${states[i].step}`;
            let t = stepTensors.get(key);
            if (!t) stepTensors.set(key, (t = torch.full([], states[i].step, { dtype: 'float32', device })));
            return t.id;
          });
          N.fusedAdamStep(
            idx.map((i) => params[i].id),
            idx.map((i) => grads[i]),
            idx.map((i) => states[i].expAvg.id),
            idx.map((i) => states[i].expAvgSq.id),
            amsgrad ? idx.map((i) => states[i].maxExpAvgSq!.id) : null,
            steps,
            ...args,
          );
        }
      } finally {
        for (const t of stepTensors.values()) t.dispose();
      }
    } finally {
      for (const g of grads) N.dispose(g);
    }
  }

  protected override exportState(s: ParamState): Record<string, unknown> {
    const st = s as AdamState;
    const out: Record<string, unknown> = {
      step: torch.scalarTensor(st.step, { dtype: 'float32' }),
      exp_avg: st.expAvg.detach(),
      exp_avg_sq: st.expAvgSq.detach(),
    };
    if (st.maxExpAvgSq) out.max_exp_avg_sq = st.maxExpAvgSq.detach();
    return out;
  }

  protected override importState(param: Tensor, saved: unknown): ParamState {
    const s = super.importState(param, saved);
    const step = s.step;
    if (step instanceof Tensor) {
      s.step = step.item();
      step.dispose();
    } else if (typeof step !== 'number') {
      torch.dispose(s);
      invalidArg(`loadStateDict: an Adam state entry has no step (got ${String(step)})`);
    }
    if (!(s.expAvg instanceof Tensor) || !(s.expAvgSq instanceof Tensor)) {
      torch.dispose(s);
      invalidArg('loadStateDict: an Adam state entry lacks exp_avg or exp_avg_sq');
    }
    return s;
  }
}

/** Adam: L2 weight decay added to the gradient (torch.optim.Adam). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: Params, opts: AdamOptions = {}) {
    super(params, {
      lr: opts.lr ?? 1e-3,
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
      amsgrad: opts.amsgrad ?? false,
      maximize: opts.maximize ?? false,
      foreach: opts.foreach ?? null,
      capturable: opts.capturable ?? false,
      differentiable: opts.differentiable ?? false,
      fused: opts.fused ?? null,
    });
  }
}

/** AdamW: decoupled weight decay, p *= 1 - lr * weightDecay (torch.optim.AdamW; default decay 1e-2). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Params, opts: AdamOptions = {}) {
    // Not shared with Adam's: the key order is the state dict's param_group order, and torch.optim
    // orders `foreach` and `maximize` differently in the two (test/optim/state_dict.test.ts pins it).
    super(params, {
      lr: opts.lr ?? 1e-3,
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 1e-2,
      amsgrad: opts.amsgrad ?? false,
      foreach: opts.foreach ?? null,
      maximize: opts.maximize ?? false,
      capturable: opts.capturable ?? false,
      differentiable: opts.differentiable ?? false,
      fused: opts.fused ?? null,
    });
  }
}
