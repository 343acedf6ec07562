/**
 * SGD with momentum, dampening, Nesterov, weight decay and maximize: torch.optim.SGD's exact update
 * (torch/optim/sgd.py `_single_tensor_sgd`). Per parameter p with gradient g:
 *   d = maximize ? -g : g;  d = d + weightDecay * p          (if weightDecay != 0)
 *   momentum != 0: buf = (first step) clone(d) : momentum * buf + (1 - dampening) * d
 *                  d = nesterov ? d + momentum * buf : buf
 *   p = p - lr * d
 * Parameters whose grad is undefined are skipped. State: `momentum_buffer` (null without momentum).
 */
import { native as N } from '../native/binding';
import { Tensor, torch } from '../tensor';
import { Optimizer, ParamGroup, ParamState, Params, invalidArg } from './optimizer';

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maximize?: boolean;
  /** Accepted for PyTorch compatibility (state dicts); the update is the same. */
  foreach?: boolean | null;
  differentiable?: boolean;
}

export interface SGDState extends ParamState {
  momentumBuffer: Tensor | null;
}

export class SGD extends Optimizer {
  constructor(params: Params, opts: SGDOptions = {}) {
    super(params, {
      lr: opts.lr ?? 1e-3,
      momentum: opts.momentum ?? 0,
      dampening: opts.dampening ?? 0,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
      maximize: opts.maximize ?? false,
      foreach: opts.foreach ?? null,
      differentiable: opts.differentiable ?? false,
    });
  }

  protected override validateGroup(g: ParamGroup): void {
    const lr = g.lr,
      momentum = g.momentum as number,
      wd = g.weightDecay as number,
      damp = g.dampening as number;
    if (!(typeof lr === 'number' && lr >= 0)) invalidArg(`Invalid learning rate: ${lr}`);
    if (!(typeof momentum === 'number' && momentum >= 0)) invalidArg(`Invalid momentum value: ${momentum}`);
    if (!(typeof wd === 'number' && wd >= 0)) invalidArg(`Invalid weight_decay value: ${wd}`);
    if (typeof damp !== 'number') invalidArg(`Invalid dampening value: ${damp}`);
    if (g.nesterov && (momentum <= 0 || damp !== 0)) invalidArg('Nesterov momentum requires a momentum and zero dampening');
  }

  protected override updateGroup(group: ParamGroup): void {
    const { params, grads } = this.gradsOf(group);
    const lr = group.lr,
      momentum = group.momentum as number,
      damp = group.dampening as number;
    const wd = group.weightDecay as number,
      nesterov = !!group.nesterov,
      maximize = !!group.maximize;
    try {
      params.forEach((p, i) => {
        let s = this.state.get(p) as SGDState | undefined;
        if (!s) {
          s = { momentumBuffer: null };
          this.state.set(p, s);
        }
        // Raw ids: a few temporaries per parameter, freed here (no per-op JS wrappers).
        const temps: number[] = [];
        const tmp = (id: number) => (temps.push(id), id);
        try {
          let d = grads[i];
          if (maximize) d = tmp(N.neg(d));
          if (wd !== 0) d = tmp(N.add(d, p.id, wd));
          if (momentum !== 0) {
            const buf = s.momentumBuffer;
            if (!buf) {
              s.momentumBuffer = torch.keep(new Tensor(N.clone(d)));
              if (!nesterov) d = s.momentumBuffer.id;
              else d = tmp(N.add(d, s.momentumBuffer.id, momentum));
            } else {
              N.add_(N.mulS_(buf.id, momentum), d, 1 - damp);
              d = nesterov ? tmp(N.add(d, buf.id, momentum)) : buf.id;
            }
          }
          N.add_(p.id, d, -lr);
        } finally {
          for (const t of temps) N.dispose(t);
        }
      });
    } finally {
      for (const g of grads) N.dispose(g);
    }
  }

  protected override exportState(s: ParamState): Record<string, unknown> {
    const buf = (s as SGDState).momentumBuffer;
    return { momentum_buffer: buf ? buf.detach() : null };
  }

  protected override importState(param: Tensor, saved: unknown): ParamState {
    const s = super.importState(param, saved);
    if (s.momentumBuffer === undefined) s.momentumBuffer = null;
    return s;
  }
}
