/**
 * Adam and AdamW with torch.optim's exact update rules (torch/optim/adam.py `_single_tensor_adam`,
 * adamw.py), run natively per parameter (`native.adamStep`), or with LibTorch's fused multi-tensor
 * kernel (`fused: true`, LibTorch >= 2.0; CUDA, and CPU from 2.4).
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
  /** Accepted for PyTorch compatibility; the per-parameter native step is always used. */
  foreach?: boolean | null;
  /** Accepted for state-dict compatibility; CUDA-graph capture is not supported. */
  capturable?: boolean;
  differentiable?: boolean;
  /** LibTorch's fused multi-tensor kernel (LibTorch >= 2.0; CUDA, CPU from 2.4). */
  fused?: boolean;
}

/** The state of one parameter. `step` is a JS number here (a float32 tensor in state dicts). */
export interface AdamState extends ParamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq?: Tensor;
  /** fused path only: the step as a float32 tensor on the parameter's device (the kernel reads it). */
  stepTensor?: Tensor;
}

function torchMajor(): number {
  return Number(torch.version().split('.')[0]);
}

abstract class AdamBase extends Optimizer {
  protected abstract readonly decoupled: boolean;

  protected override validateGroup(g: ParamGroup): void {
    const lr = g.lr as number, eps = g.eps as number, wd = g.weightDecay as number;
    const betas = g.betas as number[];
    if (!(typeof lr === 'number' && lr >= 0)) invalidArg(`Invalid learning rate: ${lr}`);
    if (!(typeof eps === 'number' && eps >= 0)) invalidArg(`Invalid epsilon value: ${eps}`);
    if (!Array.isArray(betas) || betas.length !== 2) invalidArg(`Invalid betas: ${JSON.stringify(betas)} (expected two numbers)`);
    if (!(betas[0] >= 0 && betas[0] < 1)) invalidArg(`Invalid beta parameter at index 0: ${betas[0]}`);
    if (!(betas[1] >= 0 && betas[1] < 1)) invalidArg(`Invalid beta parameter at index 1: ${betas[1]}`);
    if (!(typeof wd === 'number' && wd >= 0)) invalidArg(`Invalid weight_decay value: ${wd}`);
    if (g.fused) {
      if (torchMajor() < 2) {
        throw new TorchError('Adam: fused=true needs LibTorch >= 2.0 (linked: ' + torch.version() + '); leave fused off', 'ERR_UNSUPPORTED');
      }
      if (g.differentiable) invalidArg('`fused` does not support `differentiable`');
      for (const p of g.params) {
        if (!['float32', 'float16', 'bfloat16', 'float64'].includes(p.dtype)) {
          invalidArg(`\`fused=true\` requires all the params to be floating point, got ${p.dtype}`);
        }
      }
    }
  }

  protected override updateGroup(group: ParamGroup): void {
    const { params, grads } = this.gradsOf(group);
    if (params.length === 0) return;
    try {
      const amsgrad = !!group.amsgrad;
      const m: number[] = [], v: number[] = [], vmax: number[] = [], steps: number[] = [];
      const stepTensors: number[] = [];
      const fused = !!group.fused;
      for (const p of params) {
        let s = this.state.get(p) as AdamState | undefined;
        if (!s) {
          s = { step: 0, expAvg: this.zerosLike(p), expAvgSq: this.zerosLike(p) };
          if (amsgrad) s.maxExpAvgSq = this.zerosLike(p);
          this.state.set(p, s);
        } else if (amsgrad && !s.maxExpAvgSq) {
          s.maxExpAvgSq = this.zerosLike(p);
        }
        s.step += 1;
        m.push(s.expAvg.id);
        v.push(s.expAvgSq.id);
        if (amsgrad) vmax.push(s.maxExpAvgSq!.id);
        steps.push(s.step);
        if (fused) {
          // PyTorch increments the step tensors itself, then the kernel reads them.
          if (!s.stepTensor) s.stepTensor = torch.keep(torch.full([], s.step, { dtype: 'float32', device: p.device }));
          else s.stepTensor.fill_(s.step);
          stepTensors.push(s.stepTensor.id);
        }
      }
      const [b1, b2] = group.betas as number[];
      const args = [group.lr as number, b1, b2, group.eps as number, group.weightDecay as number, amsgrad,
        !!group.maximize, this.decoupled] as const;
      const ids = params.map((p) => p.id);
      if (fused) N.fusedAdamStep(ids, grads, m, v, amsgrad ? vmax : null, stepTensors, ...args);
      else N.adamStep(ids, grads, m, v, amsgrad ? vmax : null, steps, ...args);
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
      fused: opts.fused ?? false,
    });
  }
}

/** AdamW: decoupled weight decay, p *= 1 - lr * weightDecay (torch.optim.AdamW; default decay 1e-2). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Params, opts: AdamOptions = {}) {
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
      fused: opts.fused ?? false,
    });
  }
}
