/**
 * Schedulers built on others (SequentialLR, ChainedScheduler) and the metric-driven
 * ReduceLROnPlateau, with torch.optim.lr_scheduler's semantics and state-dict layout.
 */
import { Tensor } from '../tensor';
import { LRScheduler } from './lr_scheduler';
import { Optimizer, entriesOf, invalidArg } from './optimizer';

const num = (v: unknown): number => Number(v);

/**
 * Runs `schedulers[i]` between milestones[i-1] and milestones[i]. At construction the groups' lr is
 * reset to their initial lr and only the first scheduler's initial step counts; at a milestone the
 * next scheduler is stepped to epoch 0 (closed form), as PyTorch does.
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: LRScheduler[];
  milestones: number[];
  constructor(optimizer: Optimizer, schedulers: LRScheduler[], milestones: number[], opts: { lastEpoch?: number } = {}) {
    super(optimizer, -1, false);
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) {
        invalidArg(
          'Sequential Schedulers expects all schedulers to belong to the same optimizer, but got schedulers at ' +
            `index ${i} to be different than the optimizer passed in.`,
        );
      }
    });
    if (milestones.length !== schedulers.length - 1) {
      invalidArg(
        'Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone ' +
          `points, but got number of schedulers ${schedulers.length} and the number of milestones to be equal to ${milestones.length}`,
      );
    }
    this.schedulers = schedulers.slice();
    this.milestones = milestones.slice();
    this.lastEpoch = (opts.lastEpoch ?? -1) + 1;
    for (const g of optimizer.paramGroups) g.lr = g.initialLr as number;
    for (const s of this.schedulers) s.lastEpoch -= 1;
    this.schedulers[0].initialStep();
    this._lastLr = this.schedulers[0].getLastLr();
  }

  protected getLr(): number[] {
    return this._lastLr.slice();
  }

  override step(): void {
    this.lastEpoch++;
    let idx = 0;
    while (idx < this.milestones.length && this.milestones[idx] <= this.lastEpoch) idx++;
    const s = this.schedulers[idx];
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this._lastLr = s.getLastLr();
  }

  override stateDict(): Record<string, unknown> {
    return {
      _milestones: this.milestones.slice(),
      last_epoch: this.lastEpoch,
      _last_lr: this._lastLr.slice(),
      _schedulers: this.schedulers.map((s) => s.stateDict()),
    };
  }

  override loadStateDict(sd: Map<string, unknown> | Record<string, unknown>): void {
    for (const [k, v] of entriesOf(sd, 'SequentialLR.loadStateDict')) {
      if (k === '_milestones') this.milestones = (v as unknown[]).map(num);
      else if (k === 'last_epoch') this.lastEpoch = num(v);
      else if (k === '_last_lr') this._lastLr = (v as unknown[]).map(num);
      else if (k === '_schedulers') {
        const list = v as unknown[];
        if (!Array.isArray(list) || list.length !== this.schedulers.length) {
          invalidArg(`SequentialLR.loadStateDict: expected ${this.schedulers.length} scheduler states`);
        }
        list.forEach((s, i) => this.schedulers[i].loadStateDict(s as Record<string, unknown>));
      }
    }
  }
}

/** Steps every scheduler at each step (their factors multiply). */
export class ChainedScheduler {
  readonly schedulers: LRScheduler[];
  readonly optimizer: Optimizer;
  private _lastLr: number[];
  constructor(schedulers: LRScheduler[]) {
    if (schedulers.length === 0) invalidArg('ChainedScheduler: expected at least one scheduler');
    this.optimizer = schedulers[0].optimizer;
    schedulers.forEach((s, i) => {
      if (s.optimizer !== this.optimizer) {
        invalidArg('ChainedScheduler expects all schedulers to belong to the same optimizer, but got schedulers at index ' + `0 and ${i} to be different`);
      }
    });
    this.schedulers = schedulers.slice();
    this._lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }
  step(): void {
    for (const s of this.schedulers) s.step();
    this._lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }
  getLastLr(): number[] {
    return this._lastLr.slice();
  }
  stateDict(): Record<string, unknown> {
    return { _last_lr: this._lastLr.slice(), _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }
  loadStateDict(sd: Map<string, unknown> | Record<string, unknown>): void {
    for (const [k, v] of entriesOf(sd, 'ChainedScheduler.loadStateDict')) {
      if (k === '_last_lr') this._lastLr = (v as unknown[]).map(num);
      else if (k === '_schedulers') (v as unknown[]).forEach((s, i) => this.schedulers[i]?.loadStateDict(s as Record<string, unknown>));
    }
  }
}

export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number | number[];
  eps?: number;
  verbose?: boolean;
}

const PLATEAU_FIELDS: [string, string][] = [
  ['factor', 'factor'],
  ['min_lrs', 'minLrs'],
  ['patience', 'patience'],
  ['verbose', 'verbose'],
  ['cooldown', 'cooldown'],
  ['cooldown_counter', 'cooldownCounter'],
  ['mode', 'mode'],
  ['threshold', 'threshold'],
  ['threshold_mode', 'thresholdMode'],
  ['best', 'best'],
  ['num_bad_epochs', 'numBadEpochs'],
  ['mode_worse', 'modeWorse'],
  ['eps', 'eps'],
  ['last_epoch', 'lastEpoch'],
  ['_last_lr', '_lastLr'],
];

/**
 * Multiplies the lr by `factor` once the metric has not improved for more than `patience` epochs
 * (then waits `cooldown` epochs). `step(metric)` takes a number or a one-element tensor.
 */
export class ReduceLROnPlateau {
  readonly optimizer: Optimizer;
  factor: number;
  minLrs: number[];
  patience: number;
  verbose: boolean;
  cooldown: number;
  cooldownCounter = 0;
  mode: 'min' | 'max';
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  best: number;
  numBadEpochs = 0;
  modeWorse: number;
  eps: number;
  lastEpoch = 0;
  private _lastLr: number[];

  constructor(optimizer: Optimizer, opts: ReduceLROnPlateauOptions = {}) {
    if (!(optimizer instanceof Optimizer)) invalidArg(`ReduceLROnPlateau: ${String(optimizer)} is not an Optimizer`);
    this.factor = opts.factor ?? 0.1;
    if (this.factor >= 1) invalidArg('Factor should be < 1.0.');
    this.optimizer = optimizer;
    const n = optimizer.paramGroups.length;
    const minLr = opts.minLr ?? 0;
    if (Array.isArray(minLr)) {
      if (minLr.length !== n) invalidArg(`expected ${n} min_lrs, got ${minLr.length}`);
      this.minLrs = minLr.slice();
    } else {
      this.minLrs = new Array(n).fill(minLr);
    }
    this.patience = opts.patience ?? 10;
    this.verbose = opts.verbose ?? false;
    this.cooldown = opts.cooldown ?? 0;
    this.mode = opts.mode ?? 'min';
    this.threshold = opts.threshold ?? 1e-4;
    this.thresholdMode = opts.thresholdMode ?? 'rel';
    this.eps = opts.eps ?? 1e-8;
    this.modeWorse = this.initIsBetter();
    this.best = this.modeWorse;
    this._lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  private initIsBetter(): number {
    if (this.mode !== 'min' && this.mode !== 'max') invalidArg(`mode ${String(this.mode)} is unknown!`);
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs') invalidArg(`threshold mode ${String(this.thresholdMode)} is unknown!`);
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min' && this.thresholdMode === 'rel') return a < best * (1 - this.threshold);
    if (this.mode === 'min') return a < best - this.threshold;
    if (this.thresholdMode === 'rel') return a > best * (this.threshold + 1);
    return a > best + this.threshold;
  }

  step(metric: number | Tensor, epoch?: number): void {
    const current = metric instanceof Tensor ? metric.item() : Number(metric);
    this.lastEpoch = epoch ?? this.lastEpoch + 1;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs++;
    }
    if (this.inCooldown) {
      this.cooldownCounter--;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.reduceLr();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this._lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  private reduceLr(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      const old = g.lr;
      const next = Math.max(old * this.factor, this.minLrs[i]);
      if (old - next > this.eps) {
        g.lr = next;
        if (this.verbose) console.log(`Epoch ${this.lastEpoch}: reducing learning rate of group ${i} to ${next.toExponential(4)}.`);
      }
    });
  }

  getLastLr(): number[] {
    return this._lastLr.slice();
  }

  stateDict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [py, js] of PLATEAU_FIELDS) {
      const v = (this as unknown as Record<string, unknown>)[js];
      out[py] = Array.isArray(v) ? v.slice() : v;
    }
    return out;
  }

  loadStateDict(sd: Map<string, unknown> | Record<string, unknown>): void {
    const table = new Map(PLATEAU_FIELDS);
    for (const [k, v] of entriesOf(sd, 'ReduceLROnPlateau.loadStateDict')) {
      const js = table.get(String(k));
      if (!js) continue;
      const val = typeof v === 'bigint' ? Number(v) : Array.isArray(v) ? v.map((x) => (typeof x === 'bigint' ? Number(x) : x)) : v;
      (this as unknown as Record<string, unknown>)[js] = val;
    }
    this.initIsBetter();
  }
}
