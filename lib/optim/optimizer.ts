/**
 * torch.optim.Optimizer: parameter groups with their own hyperparameters, per-parameter state, and
 * state dicts in PyTorch's layout, so a PyTorch-saved optimizer state resumes here and vice versa:
 *
 *   { state: Map<paramIndex, { step, exp_avg, ... }>,
 *     param_groups: [{ lr, betas, eps, weight_decay, ..., params: [0, 1, ...] }, ...] }
 *
 * Parameter indices run over all groups in order. Inside this package hyperparameters and state
 * entries are camelCased (`group.weightDecay`, `state.expAvgSq`); state dicts use PyTorch's
 * snake_case names (`weight_decay`, `exp_avg_sq`). Tuples (`betas`) are frozen arrays (what the
 * checkpoint writer pickles as Python tuples).
 *
 * Lifetime: state tensors are created outside tidy scopes' reach (kept) and live until `dispose()`
 * or `loadStateDict()` replaces them. `stateDict()` returns new handles the caller disposes
 * (`torch.dispose(sd)`); they share storage with the live state, as PyTorch's state_dict does.
 */
import { native as N } from '../native/binding';
import { Tensor, TorchError, torch } from '../tensor';

/** Hyperparameters of one group (camelCase); `params` holds the tensors it optimises. */
export interface ParamGroup {
  params: Tensor[];
  lr: number;
  [option: string]: unknown;
}

/** What a constructor accepts for one group: params plus any per-group overrides. */
export type ParamGroupInit = { params: Iterable<Tensor> | Tensor } & Record<string, unknown>;
export type Params = Iterable<Tensor> | Iterable<ParamGroupInit>;

/** Per-parameter state: tensors, numbers (step), null (PyTorch's None) or nested values. */
export type ParamState = Record<string, unknown>;

/** PyTorch's Optimizer.state_dict() layout. Keys inside are snake_case. */
export interface OptimizerStateDict {
  state: Map<number, Record<string, unknown>>;
  param_groups: Record<string, unknown>[];
}

export function invalidArg(message: string): never {
  throw new TorchError(message, 'ERR_INVALID_ARG');
}

/** camelCase -> snake_case ('weightDecay' -> 'weight_decay', 'expAvgSq' -> 'exp_avg_sq'). */
export function toSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
/** snake_case -> camelCase; a leading underscore is kept ('_step_count' -> '_stepCount'). */
export function toCamel(key: string): string {
  const lead = key.match(/^_*/)![0];
  return lead + key.slice(lead.length).replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Entries of a Map or a plain object (state dicts read from .pth files hold Maps). */
export function entriesOf(x: unknown, what: string): [unknown, unknown][] {
  if (x instanceof Map) return [...x.entries()];
  if (x !== null && typeof x === 'object' && !Array.isArray(x)) return Object.entries(x);
  return invalidArg(`${what}: expected a dict (Map or object), got ${describe(x)}`);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (x instanceof Tensor) return `Tensor${JSON.stringify(x.shape)}`;
  return typeof x === 'object' ? ((x as object).constructor?.name ?? 'object') : typeof x;
}

/** A Python value for a group option: arrays (betas) become frozen arrays = tuples. */
function exportOption(v: unknown): unknown {
  return Array.isArray(v) ? Object.freeze(v.slice()) : v;
}

export abstract class Optimizer {
  /** The groups, each with its tensors and hyperparameters (camelCase). Schedulers edit `lr`. */
  paramGroups: ParamGroup[] = [];
  /** Per-parameter state, created lazily on a parameter's first update. */
  state = new Map<Tensor, ParamState>();
  /** Defaults a group falls back to (camelCase, in PyTorch's key order). */
  readonly defaults: Record<string, unknown>;
  /** Number of step() calls so far (PyTorch's optimizer._step_count, used by schedulers). */
  stepCount = 0;

  constructor(params: Params, defaults: Record<string, unknown>) {
    this.defaults = defaults;
    if (params instanceof Tensor) {
      invalidArg('optimizer: params should be an iterable of Tensors or parameter groups, got a single Tensor');
    }
    if (params === null || typeof (params as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      invalidArg(`optimizer: params should be an iterable of Tensors or parameter groups, got ${describe(params)}`);
    }
    const list = [...(params as Iterable<Tensor | ParamGroupInit>)];
    if (list.length === 0) invalidArg('optimizer got an empty parameter list');
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : (list as ParamGroupInit[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Checks one group's hyperparameters (subclasses: ranges, combinations). */
  protected validateGroup(_group: ParamGroup): void {}

  /** Adds a group (e.g. layers unfrozen during finetuning); unspecified options take the defaults. */
  addParamGroup(init: ParamGroupInit): void {
    if (init === null || typeof init !== 'object' || init instanceof Tensor || !('params' in init)) {
      invalidArg(`addParamGroup: expected { params, ...options }, got ${describe(init)}`);
    }
    const raw = init.params;
    if (raw instanceof Set) {
      invalidArg(
        'optimizer parameters need to be organized in ordered collections, but the ordering of tensors in sets ' +
          'will change between runs. Please use a list instead.',
      );
    }
    const params = raw instanceof Tensor ? [raw] : [...(raw as Iterable<Tensor>)];
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) invalidArg(`optimizer can only optimize Tensors, but params[${i}] is ${describe(p)}`);
      if (p.isDisposed) invalidArg(`optimizer: params[${i}] is disposed`);
      if (!p.isLeaf) invalidArg(`can't optimize a non-leaf Tensor (params[${i}])`);
    });
    if (new Set(params).size !== params.length) invalidArg('optimizer contains a parameter group with duplicate parameters');
    for (const g of this.paramGroups) {
      if (g.params.some((p) => params.includes(p))) invalidArg('some parameters appear in more than one parameter group');
    }
    const group: ParamGroup = { params, lr: 0 };
    for (const [k, v] of Object.entries(this.defaults)) {
      const given = (init as Record<string, unknown>)[k];
      if (given === undefined && v === undefined) invalidArg(`parameter group didn't specify a value of required optimization parameter ${k}`);
      group[k] = given === undefined ? (Array.isArray(v) ? v.slice() : v) : Array.isArray(given) ? given.slice() : given;
    }
    for (const [k, v] of Object.entries(init)) if (!(k in group)) group[k] = v;
    this.validateGroup(group);
    this.paramGroups.push(group);
  }

  /** One update of every parameter that has a gradient. Parameters whose grad is undefined are skipped. */
  step(closure?: () => number | Tensor): number | Tensor | undefined {
    let loss: number | Tensor | undefined;
    if (closure) loss = torch.enableGrad(closure);
    this.stepCount++;
    torch.noGrad(() => {
      for (const group of this.paramGroups) this.updateGroup(group);
    });
    return loss;
  }

  /** Updates one group's parameters (called under no-grad). */
  protected abstract updateGroup(group: ParamGroup): void;

  /**
   * Gradients of the group's parameters that have one: [params, grad ids]. The caller disposes the
   * ids (each is a fresh handle on the gradient).
   */
  protected gradsOf(group: ParamGroup): { params: Tensor[]; grads: number[] } {
    const params: Tensor[] = [];
    const grads: number[] = [];
    for (const p of group.params) {
      const g = N.grad(p.id);
      if (g === null) continue;
      params.push(p);
      grads.push(g);
    }
    return { params, grads };
  }

  /** Zeros like p, exempt from tidy scopes (optimizer state lives until dispose). */
  protected zerosLike(p: Tensor): Tensor {
    return torch.keep(torch.zerosLike(p));
  }

  /** Drops every gradient (PyTorch 2.x default); with setToNone false, zeros them in place instead. */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    const none = opts.setToNone ?? true;
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (none) {
          N.setGrad(p.id, null);
          continue;
        }
        const grad = N.grad(p.id);
        if (grad === null) continue;
        try {
          N.detach_(grad);
          N.requiresGrad_(grad, false);
          N.zero_(grad);
        } finally {
          N.dispose(grad);
        }
      }
    }
  }

  /** Index of each parameter over all groups in order (PyTorch's state-dict numbering). */
  private paramIndex(): Map<Tensor, number> {
    const index = new Map<Tensor, number>();
    let i = 0;
    for (const g of this.paramGroups) for (const p of g.params) index.set(p, i++);
    return index;
  }

  /** Converts one parameter's state to PyTorch's names (subclasses turn `step` into a tensor). */
  protected exportState(s: ParamState): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(s)) out[toSnake(k)] = v instanceof Tensor ? v.detach() : v;
    return out;
  }

  /** Converts one saved parameter state (snake_case) for `param`: tensors copied to its dtype/device. */
  protected importState(param: Tensor, saved: unknown): ParamState {
    const out: ParamState = {};
    for (const [k, v] of entriesOf(saved, 'loadStateDict: a state entry')) {
      const key = toCamel(String(k));
      if (v instanceof Tensor) {
        const floating = ['float32', 'float64', 'float16', 'bfloat16'].includes(param.dtype);
        out[key] = torch.keep(
          torch.tidy(() => {
            if (key === 'step') return v.clone();
            const cast = floating && v.dtype !== param.dtype ? v.to(param.dtype) : v;
            return cast.to(param.device, { copy: true }).detach();
          }),
        );
      } else {
        out[key] = v;
      }
    }
    return out;
  }

  /**
   * The optimizer state in PyTorch's layout. Tensors are new handles (share storage with the live
   * state): dispose them, e.g. `torch.dispose(sd)`, when done.
   */
  stateDict(): OptimizerStateDict {
    const index = this.paramIndex();
    const paramGroups = this.paramGroups.map((g) => {
      const packed: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') packed[toSnake(k)] = exportOption(v);
      packed.params = g.params.map((p) => index.get(p)!);
      return packed;
    });
    const state = new Map<number, Record<string, unknown>>();
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const s = this.state.get(p);
        if (s) state.set(index.get(p)!, this.exportState(s));
      }
    }
    return { state, param_groups: paramGroups };
  }

  /**
   * Loads a state dict in PyTorch's layout (from `stateDict()` or a PyTorch checkpoint read by
   * `torch.load`: dicts may be Maps). Group hyperparameters are replaced by the saved ones; state
   * tensors are copied (cast to each parameter's dtype and device, except `step`).
   */
  loadStateDict(sd: OptimizerStateDict | Map<string, unknown> | Record<string, unknown>): void {
    const top = new Map(entriesOf(sd, 'loadStateDict').map(([k, v]) => [String(k), v]));
    const savedGroups = top.get('param_groups');
    const savedState = top.get('state');
    if (!Array.isArray(savedGroups)) invalidArg('loadStateDict: the state dict has no param_groups list');
    if (savedState === undefined) invalidArg('loadStateDict: the state dict has no state');
    if (savedGroups.length !== this.paramGroups.length) {
      invalidArg(`loaded state dict has a different number of parameter groups (${savedGroups.length}, this optimizer has ` + `${this.paramGroups.length})`);
    }
    const groups = savedGroups.map((g, i) => new Map(entriesOf(g, `loadStateDict: param_groups[${i}]`).map(([k, v]) => [String(k), v])));
    const idMap = new Map<number, Tensor>();
    groups.forEach((g, i) => {
      const ids = g.get('params');
      const own = this.paramGroups[i].params;
      if (!Array.isArray(ids)) invalidArg(`loadStateDict: param_groups[${i}] has no params list`);
      if (ids.length !== own.length) {
        invalidArg(
          `loaded state dict contains a parameter group that doesn't match the size of optimizer's group ` +
            `(group ${i}: ${ids.length} saved, ${own.length} here)`,
        );
      }
      ids.forEach((id, j) => idMap.set(Number(id), own[j]));
    });
    const state = new Map<Tensor, ParamState>();
    try {
      for (const [k, v] of entriesOf(savedState, 'loadStateDict: state')) {
        const p = idMap.get(Number(k));
        if (!p) invalidArg(`loadStateDict: state refers to parameter ${String(k)}, which no group holds`);
        const s = this.importState(p, v);
        state.set(p, s);
        this.checkState(p, s);
      }
    } catch (e) {
      for (const s of state.values()) torch.dispose(s);
      throw e;
    }
    this.disposeState();
    this.state = state;
    groups.forEach((g, i) => {
      const group: ParamGroup = { params: this.paramGroups[i].params, lr: 0 };
      for (const [k, v] of g) if (k !== 'params') group[toCamel(k)] = Array.isArray(v) ? v.slice() : v;
      if (typeof group.lr !== 'number') invalidArg(`loadStateDict: param_groups[${i}].lr is not a number`);
      this.paramGroups[i] = group;
    });
  }

  /** Validates a loaded state entry against its parameter (subclasses: shapes of moment buffers). */
  protected checkState(p: Tensor, s: ParamState): void {
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof Tensor && k !== 'step') {
        const a = v.shape,
          b = p.shape;
        if (a.length !== b.length || a.some((n, i) => n !== b[i])) {
          throw new TorchError(
            `loadStateDict: state '${toSnake(k)}' has shape ${JSON.stringify(a)} but its parameter has ` + `shape ${JSON.stringify(b)}`,
            'ERR_SHAPE_MISMATCH',
          );
        }
      }
    }
  }

  private disposeState(): void {
    for (const s of this.state.values()) torch.dispose(s);
    this.state = new Map();
  }

  /** Frees every state tensor (the parameters are not touched). */
  dispose(): void {
    this.disposeState();
  }
}
