/**
 * Learning-rate schedulers with torch.optim.lr_scheduler's semantics (PyTorch 1.13/2.x): the
 * constructor performs the initial step (lastEpoch -1 -> 0, which may already change the lr), each
 * `step()` advances one epoch using the chainable (recursive) form, `step(epoch)` (deprecated in
 * PyTorch) jumps to an epoch with the closed form where one exists, and `getLastLr()` returns the lr
 * of each group after the last step. Arithmetic follows PyTorch's formulas operation by operation,
 * so sequences match `get_last_lr()` in double precision.
 *
 * State dicts use PyTorch's attribute names (`base_lrs`, `last_epoch`, `_step_count`, `_last_lr`,
 * `step_size`, `T_max`, ...), so they round-trip with Python's scheduler.state_dict().
 */
import { Optimizer, ParamGroup, entriesOf, invalidArg } from './optimizer';

/** [PyTorch attribute name, field name] pairs of a scheduler's own settings, in PyTorch's order. */
type Fields = [string, string][];

const BASE_FIELDS: Fields = [
  ['base_lrs', 'baseLrs'],
  ['last_epoch', 'lastEpoch'],
  ['verbose', 'verbose'],
  ['_step_count', '_stepCount'],
  ['_get_lr_called_within_step', '_getLrCalledWithinStep'],
  ['_last_lr', '_lastLr'],
];

function field(obj: object, name: string): unknown {
  return (obj as Record<string, unknown>)[name];
}
function setField(obj: object, name: string, v: unknown): void {
  (obj as Record<string, unknown>)[name] = v;
}
/** Numbers from state dicts may be bigint (Python ints from a .pth reader). */
function num(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(num);
  return v;
}

export abstract class LRScheduler {
  readonly optimizer: Optimizer;
  /** The initial lr of each group (its `initialLr`). */
  baseLrs: number[];
  /** The epoch of the last step (0 after construction). */
  lastEpoch: number;
  verbose: boolean;
  protected _stepCount = 0;
  protected _getLrCalledWithinStep = false;
  protected _lastLr: number[] = [];
  /** Scheduler-specific state dict entries. */
  protected readonly fields: Fields = [];

  /** Subclasses set their own fields, then call `this.initialStep()` (PyTorch sets them before super()). */
  constructor(optimizer: Optimizer, lastEpoch = -1, verbose = false) {
    if (!(optimizer instanceof Optimizer)) invalidArg(`${new.target.name}: ${String(optimizer)} is not an Optimizer`);
    this.optimizer = optimizer;
    if (lastEpoch === -1) {
      for (const g of optimizer.paramGroups) if (g.initialLr === undefined) g.initialLr = g.lr;
    } else {
      optimizer.paramGroups.forEach((g, i) => {
        if (g.initialLr === undefined) {
          invalidArg(`param 'initial_lr' is not specified in param_groups[${i}] when resuming an optimizer`);
        }
      });
    }
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
    this.verbose = verbose;
  }

  /** Resets the step count and performs the initial step (used by constructors and SequentialLR). */
  initialStep(): void {
    this._stepCount = 0;
    this.step();
  }

  /** The lr of each group after the last step. */
  getLastLr(): number[] {
    return this._lastLr.slice();
  }

  /** The chainable form: the lr of each group at `lastEpoch`, from the groups' current lr. */
  protected abstract getLr(): number[];
  /** The closed form (used by step(epoch)); undefined where PyTorch has none. */
  protected closedFormLr?(): number[];

  protected get groups(): ParamGroup[] {
    return this.optimizer.paramGroups;
  }

  /** Advances one epoch, or (deprecated in PyTorch) jumps to `epoch` using the closed form. */
  step(epoch?: number): void {
    this._stepCount++;
    this._getLrCalledWithinStep = true;
    let values: number[];
    try {
      if (epoch === undefined) {
        this.lastEpoch++;
        values = this.getLr();
      } else {
        this.lastEpoch = epoch;
        values = this.closedFormLr ? this.closedFormLr() : this.getLr();
      }
    } finally {
      this._getLrCalledWithinStep = false;
    }
    this.groups.forEach((g, i) => {
      g.lr = values[i];
      if (this.verbose) console.log(`Adjusting learning rate of group ${i} to ${values[i].toExponential(4)}.`);
    });
    this._lastLr = this.groups.map((g) => g.lr);
  }

  /** Settings and progress in PyTorch's layout (`optimizer` excluded). */
  stateDict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [py, js] of [...this.fields, ...BASE_FIELDS]) {
      const v = field(this, js);
      out[py] = Array.isArray(v) ? v.slice() : v instanceof Map ? new Map(v) : v;
    }
    return out;
  }

  /** Restores what stateDict() (here or in PyTorch) saved. Unknown keys are ignored. */
  loadStateDict(sd: Map<string, unknown> | Record<string, unknown>): void {
    const table = new Map([...this.fields, ...BASE_FIELDS]);
    for (const [k, v] of entriesOf(sd, `${this.constructor.name}.loadStateDict`)) {
      const js = table.get(String(k));
      if (js) setField(this, js, this.importField(js, num(v)));
    }
  }

  /** Converts a loaded value for field `js` (subclasses: Counter-like milestones). */
  protected importField(_js: string, v: unknown): unknown {
    return Array.isArray(v) ? v.slice() : v;
  }
}

/** lr = initial lr * lrLambda(epoch), one function for all groups or one per group. */
export class LambdaLR extends LRScheduler {
  lrLambdas: ((epoch: number) => number)[];
  constructor(
    optimizer: Optimizer,
    lrLambda: ((epoch: number) => number) | ((epoch: number) => number)[],
    opts: { lastEpoch?: number; verbose?: boolean } = {},
  ) {
    super(optimizer, opts.lastEpoch ?? -1, opts.verbose ?? false);
    const n = optimizer.paramGroups.length;
    if (Array.isArray(lrLambda)) {
      if (lrLambda.length !== n) invalidArg(`Expected ${n} lr_lambdas, but got ${lrLambda.length}`);
      this.lrLambdas = lrLambda.slice();
    } else {
      this.lrLambdas = new Array(n).fill(lrLambda);
    }
    this.initialStep();
  }
  protected getLr(): number[] {
    return this.baseLrs.map((base, i) => base * this.lrLambdas[i](this.lastEpoch));
  }
  /** Functions are not saved (PyTorch saves None for plain functions). */
  override stateDict(): Record<string, unknown> {
    return { ...super.stateDict(), lr_lambdas: this.lrLambdas.map(() => null) };
  }
}

/** Multiplies the lr by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;
  protected override readonly fields: Fields = [
    ['step_size', 'stepSize'],
    ['gamma', 'gamma'],
  ];
  constructor(optimizer: Optimizer, stepSize: number, opts: { gamma?: number; lastEpoch?: number; verbose?: boolean } = {}) {
    super(optimizer, opts.lastEpoch ?? -1, opts.verbose ?? false);
    this.stepSize = stepSize;
    this.gamma = opts.gamma ?? 0.1;
    this.initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/** Multiplies the lr by gamma at each milestone epoch (a milestone listed twice applies gamma twice). */
export class MultiStepLR extends LRScheduler {
  /** epoch -> how many times it is listed (PyTorch's Counter). */
  milestones: Map<number, number>;
  gamma: number;
  protected override readonly fields: Fields = [
    ['milestones', 'milestones'],
    ['gamma', 'gamma'],
  ];
  constructor(optimizer: Optimizer, milestones: number[], opts: { gamma?: number; lastEpoch?: number; verbose?: boolean } = {}) {
    super(optimizer, opts.lastEpoch ?? -1, opts.verbose ?? false);
    this.milestones = new Map();
    for (const m of milestones) this.milestones.set(m, (this.milestones.get(m) ?? 0) + 1);
    this.gamma = opts.gamma ?? 0.1;
    this.initialStep();
  }
  protected getLr(): number[] {
    const k = this.milestones.get(this.lastEpoch);
    if (k === undefined) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma ** k);
  }
  protected override closedFormLr(): number[] {
    let passed = 0;
    for (const [m, c] of this.milestones) if (m <= this.lastEpoch) passed += c;
    return this.baseLrs.map((base) => base * this.gamma ** passed);
  }
  protected override importField(js: string, v: unknown): unknown {
    if (js !== 'milestones') return super.importField(js, v);
    const out = new Map<number, number>();
    if (Array.isArray(v)) for (const m of v) out.set(Number(m), (out.get(Number(m)) ?? 0) + 1);
    else for (const [m, c] of entriesOf(v, 'MultiStepLR milestones')) out.set(Number(m), Number(c));
    return out;
  }
}

/** Multiplies the lr by `factor` until epoch totalIters, then restores it. */
export class ConstantLR extends LRScheduler {
  factor: number;
  totalIters: number;
  protected override readonly fields: Fields = [
    ['factor', 'factor'],
    ['total_iters', 'totalIters'],
  ];
  constructor(optimizer: Optimizer, opts: { factor?: number; totalIters?: number; lastEpoch?: number; verbose?: boolean } = {}) {
    super(optimizer, opts.lastEpoch ?? -1, opts.verbose ?? false);
    this.factor = opts.factor ?? 1 / 3;
    this.totalIters = opts.totalIters ?? 5;
    if (this.factor > 1 || this.factor < 0) invalidArg('Constant multiplicative factor expected to be between 0 and 1.');
    this.initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.groups.map((g) => g.lr * this.factor);
    if (this.lastEpoch !== this.totalIters) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * (1.0 / this.factor));
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * (this.factor + Number(this.lastEpoch >= this.totalIters) * (1 - this.factor)));
  }
}

/** Linear warmup/decay of the lr factor from startFactor to endFactor over totalIters epochs. */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;
  protected override readonly fields: Fields = [
    ['start_factor', 'startFactor'],
    ['end_factor', 'endFactor'],
    ['total_iters', 'totalIters'],
  ];
  constructor(optimizer: Optimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number; lastEpoch?: number; verbose?: boolean } = {}) {
    super(optimizer, opts.lastEpoch ?? -1, opts.verbose ?? false);
    this.startFactor = opts.startFactor ?? 1 / 3;
    this.endFactor = opts.endFactor ?? 1;
    this.totalIters = opts.totalIters ?? 5;
    if (this.startFactor > 1 || this.startFactor <= 0) {
      invalidArg('Starting multiplicative factor expected to be greater than 0 and less or equal to 1.');
    }
    if (this.endFactor > 1 || this.endFactor < 0) invalidArg('Ending multiplicative factor expected to be between 0 and 1.');
    this.initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.groups.map((g) => g.lr * this.startFactor);
    if (this.lastEpoch > this.totalIters) return this.groups.map((g) => g.lr);
    const { startFactor: s, endFactor: e, totalIters: n } = this;
    return this.groups.map((g) => g.lr * (1 + (e - s) / (n * s + (this.lastEpoch - 1) * (e - s))));
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n } = this;
    return this.baseLrs.map((base) => base * (s + ((e - s) * Math.min(n, this.lastEpoch)) / n));
  }
}

/** Multiplies the lr by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;
  protected override readonly fields: Fields = [['gamma', 'gamma']];
  constructor(optimizer: Optimizer, gamma: number, opts: { lastEpoch?: number; verbose?: boolean } = {}) {
    super(optimizer, opts.lastEpoch ?? -1, opts.verbose ?? false);
    this.gamma = gamma;
    this.initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** this.lastEpoch);
  }
}

/** Cosine annealing from the initial lr to etaMin over tMax epochs (SGDR without restarts). */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;
  protected override readonly fields: Fields = [
    ['T_max', 'tMax'],
    ['eta_min', 'etaMin'],
  ];
  constructor(optimizer: Optimizer, tMax: number, opts: { etaMin?: number; lastEpoch?: number; verbose?: boolean } = {}) {
    super(optimizer, opts.lastEpoch ?? -1, opts.verbose ?? false);
    this.tMax = tMax;
    this.etaMin = opts.etaMin ?? 0;
    this.initialStep();
  }
  protected getLr(): number[] {
    const { lastEpoch: e, tMax: T, etaMin: eta } = this;
    if (e === 0) return this.groups.map((g) => g.lr);
    if (this._stepCount === 1 && e > 0) {
      return this.baseLrs.map((base) => eta + ((base - eta) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    }
    if ((e - 1 - T) % (2 * T) === 0) {
      return this.groups.map((g, i) => g.lr + ((this.baseLrs[i] - eta) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    return this.groups.map((g) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (g.lr - eta) + eta);
  }
  protected override closedFormLr(): number[] {
    const { lastEpoch: e, tMax: T, etaMin: eta } = this;
    return this.baseLrs.map((base) => eta + ((base - eta) * (1 + Math.cos((Math.PI * e) / T))) / 2);
  }
}
