/**
 * The learning-rate policy of the reference training scripts (CAV-MAE's traintest_cavmae.py and
 * traintest_ft.py, which Social-MAE keeps):
 * - warm-up: before global step s (0-based) with s <= 1000 and s % 50 == 0, every group's lr is set to
 *   (s / 1000) * its initial lr. The first 50 steps therefore run at lr 0, as in the reference.
 * - after every epoch, MultiStepLR with milestones range(start, 1000, step) and gamma `decay`, in its
 *   chainable form (it multiplies whatever lr the group has, warm-up included).
 */
import { MultiStepLR, type Optimizer } from '../optim';
import { TrainError } from './errors';

export interface LrScheduleOptions {
  /** Reference warm-up (default false). */
  warmup?: boolean;
  /** Warm-up length and update interval in optimizer steps (1000 and 50 in the reference). */
  warmupSteps?: number;
  warmupEvery?: number;
  /** First milestone epoch, distance between milestones and decay factor (`lrscheduler_start/step/decay`). */
  start?: number;
  step?: number;
  decay?: number;
}

export class ReferenceSchedule {
  readonly multiStep: MultiStepLR;
  private readonly initialLrs: number[];
  private readonly o: Required<LrScheduleOptions>;

  constructor(
    private readonly opt: Optimizer,
    opts: LrScheduleOptions = {},
  ) {
    this.o = { warmup: false, warmupSteps: 1000, warmupEvery: 50, start: 10, step: 5, decay: 0.5, ...opts };
    for (const k of ['warmupSteps', 'warmupEvery', 'start', 'step'] as const) {
      if (!Number.isInteger(this.o[k]) || this.o[k] < 1) throw new TrainError(`schedule: ${k} must be an integer >= 1, got ${this.o[k]}`, 'ERR_INVALID_ARG');
    }
    if (!(this.o.decay > 0)) throw new TrainError(`schedule: decay must be > 0, got ${this.o.decay}`, 'ERR_INVALID_ARG');
    this.initialLrs = opt.paramGroups.map((g) => g.lr);
    const milestones: number[] = [];
    for (let e = this.o.start; e < 1000; e += this.o.step) milestones.push(e);
    this.multiStep = new MultiStepLR(opt, milestones, { gamma: this.o.decay });
  }

  /** Call before optimizer step `globalStep` (0-based count of steps taken so far). */
  beforeStep(globalStep: number): void {
    const { warmup, warmupSteps, warmupEvery } = this.o;
    if (!warmup || globalStep > warmupSteps || globalStep % warmupEvery !== 0) return;
    this.opt.paramGroups.forEach((g, i) => {
      g.lr = (globalStep / warmupSteps) * this.initialLrs[i]!;
    });
  }

  /** Call once at the end of every epoch. */
  afterEpoch(): void {
    this.multiStep.step();
  }

  /** The current lr of every parameter group. */
  lrs(): number[] {
    return this.opt.paramGroups.map((g) => g.lr);
  }

  stateDict(): Record<string, unknown> {
    return { multi_step: this.multiStep.stateDict(), initial_lrs: this.initialLrs.slice() };
  }

  loadStateDict(sd: Map<string, unknown> | Record<string, unknown>): void {
    const get = (k: string) => (sd instanceof Map ? sd.get(k) : sd[k]);
    const ms = get('multi_step');
    const lrs = get('initial_lrs');
    if (!ms || !Array.isArray(lrs) || lrs.length !== this.initialLrs.length) {
      throw new TrainError(`schedule state: expected multi_step and ${this.initialLrs.length} initial_lrs`, 'ERR_BAD_STATE');
    }
    this.multiStep.loadStateDict(ms as Record<string, unknown>);
    lrs.forEach((v, i) => (this.initialLrs[i] = Number(v)));
  }
}
