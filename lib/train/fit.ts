/**
 * The epoch loop shared by pretraining and finetuning, in the reference's order: for every batch
 * warm-up lr, forward (under autocast when `amp` is on), zero_grad, backward, optimizer step (through a
 * GradScaler for fp16); after every epoch validation, the MultiStepLR step, checkpoints, progress record.
 * Losses are summed on the device (weighted by batch size, as the reference's meters) and read back
 * every `logEvery` steps, not after every step. With a run directory the loop also appends to
 * metrics.jsonl (metrics_log.ts) and redraws plots/*.svg (plots.ts) after every epoch.
 */
import { torch, type Tensor } from '../tensor';
import * as dist from '../distributed';
import { GradScaler, type Optimizer } from '../optim';
import type { Module } from '../nn';
import type { Batch, DataLoader, LoaderThroughput } from '../data/loader';
import { TrainError } from './errors';
import { ReferenceSchedule, type LrScheduleOptions } from './schedule';
import { RunDir, type EpochRecord, type TrainerState } from './run_dir';
import { MetricsLog } from './metrics_log';
import { EpochBar } from './progress';
import { writeCurves } from './plots';

/** Options every training loop takes. */
export interface FitOptions {
  epochs: number;
  /** Mixed precision on CUDA: 'bf16' (autocast), 'fp16' (autocast + GradScaler, the reference's) or 'off'
   *  (default 'off'; ignored on the CPU). */
  amp?: 'off' | 'bf16' | 'fp16';
  /** Learning-rate policy (reference warm-up and MultiStepLR). */
  schedule?: LrScheduleOptions;
  /** Run directory for checkpoints and progress (see run_dir.ts); none when omitted. */
  runDir?: string;
  /** Continue the run in runDir (its config must match) after its newest complete epoch, from epoch 1 when
   *  none finished; an empty runDir starts a new run. Without it a runDir holding a run is refused. */
  resume?: boolean;
  /** Steps between progress messages (default 50). */
  logEvery?: number;
  /** Receives progress lines (default: none). */
  onLog?: (line: string) => void;
  /** A progress bar per epoch on stderr (progress.ts) instead of the step lines; for a terminal. */
  progressBar?: boolean;
  /** Stops between steps; the epoch in progress is not saved. */
  signal?: AbortSignal;
}

/** What a concrete loop (pretrain, finetune) plugs into fit(). */
export interface FitTask {
  model: Module;
  opt: Optimizer;
  train: DataLoader;
  val?: DataLoader;
  /** The device the model lives on. */
  device: string;
  /** Scalars to log for one batch in train mode; `loss` is the one trained. */
  step(batch: Batch): Record<string, Tensor> & { loss: Tensor };
  /** Validation metrics over a loader (eval mode, no grad). */
  evaluate(loader: DataLoader): Promise<Record<string, number>>;
  /** The validation metric that picks the best epoch, and its direction (no validation set: the
   *  lowest training loss). */
  best: { key: string; higherIsBetter: boolean };
  /** Written to config.json; a resumed run must have written the same. */
  config: unknown;
  /** After an epoch is committed (e.g. task-specific pictures into the run directory). */
  afterEpoch?(record: EpochRecord, runDir: string | null): Promise<void>;
}

/** Runs autocast on CUDA when amp is on; plain otherwise. */
export function withAmp<T>(device: string, amp: FitOptions['amp'], fn: () => T): T {
  if (!amp || amp === 'off' || !device.startsWith('cuda')) return fn();
  return torch.autocast(fn, { dtype: amp === 'fp16' ? 'float16' : 'bfloat16' });
}

/** Top-level keys of config.json that `--resume` may change (more epochs, a newer package or LibTorch):
 *  the record is rewritten with the new values; any other difference is another run. */
const RESUMABLE_KEYS = ['epochs', 'versions'];

function withoutResumable(config: unknown): string {
  if (!config || typeof config !== 'object' || Array.isArray(config)) return JSON.stringify(config);
  return JSON.stringify(Object.fromEntries(Object.entries(config).filter(([k]) => !RESUMABLE_KEYS.includes(k))));
}

/**
 * The epoch loop. Under an initialised process group (torch.distributed) it trains data-parallel: the
 * model is wrapped in DistributedDataParallel (rank 0's weights broadcast, gradients averaged in buckets
 * overlapped with backward), every rank reads the run directory on resume but only rank 0 writes it and
 * logs, epoch training means are averaged over the ranks, and every rank evaluates the whole validation
 * set (the same weights give the same numbers, so the best-epoch choice agrees without communication).
 * The training loader shards the data (data.DistributedSampler); the loop does not.
 */
export async function fit(task: FitTask, o: FitOptions): Promise<EpochRecord[]> {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new TrainError(`fit: epochs must be an integer >= 1, got ${o.epochs}`, 'ERR_INVALID_ARG');
  const amp = o.amp ?? 'off';
  if (!['off', 'bf16', 'fp16'].includes(amp)) throw new TrainError(`fit: amp must be 'off', 'bf16' or 'fp16', got ${String(amp)}`, 'ERR_INVALID_ARG');
  const logEvery = o.logEvery ?? 50;
  const distributed = dist.isInitialized();
  const main = !distributed || dist.isMainProcess();
  const log = (main && o.onLog) || (() => undefined);
  const { model, opt } = task;
  const schedule = new ReferenceSchedule(opt, o.schedule);
  const scaler = amp === 'fp16' && task.device.startsWith('cuda') ? new GradScaler() : null;
  const run = o.runDir ? new RunDir(o.runDir) : null;
  /** Writes to the run directory happen on rank 0 only. */
  const write = run && main ? run : null;
  let first = 1;
  let globalStep = 0;
  let best: number | null = null;
  let bestEpoch: number | null = null;
  if (run) {
    // A directory holds a run from its config.json on, finished epochs or not: only --resume goes on with it.
    const started = run.started();
    if (distributed) await dist.barrier(); // every rank has looked before rank 0 writes config.json
    if (started && !o.resume) {
      const last = run.committed()[0];
      throw new TrainError(
        `${run.dir} already holds a run (${last ? `up to epoch ${last}` : 'started, no epoch finished'}): resume it or use another directory`,
        'ERR_BAD_STATE',
      );
    }
    let st: TrainerState | null = null;
    if (started) {
      const saved = await run.readConfig();
      if (withoutResumable(saved) !== withoutResumable(task.config))
        throw new TrainError(
          `${run.dir}: config.json describes another run; resume with the same model, data and training options (only ${RESUMABLE_KEYS.join(' and ')} may change) or use a new directory`,
          'ERR_BAD_STATE',
        );
      if (JSON.stringify(saved) !== JSON.stringify(task.config)) {
        log(
          `resuming with a new ${RESUMABLE_KEYS.filter((k) => JSON.stringify((saved as Record<string, unknown>)?.[k]) !== JSON.stringify((task.config as Record<string, unknown>)?.[k])).join(', ')}`,
        );
        await write?.init(task.config);
      }
      st = await run.restoreLatest(model, opt, log);
    } else {
      await write?.init(task.config);
    }
    await write?.rollBack(st);
    if (st) {
      schedule.loadStateDict(st.schedule);
      if (scaler && st.scaler) scaler.loadStateDict(st.scaler);
      first = st.epoch + 1;
      globalStep = st.globalStep;
      best = st.best;
      bestEpoch = st.bestEpoch;
      log(`resumed ${run.dir} after epoch ${st.epoch} (step ${globalStep})`);
    } else if (started) {
      log(`resumed ${run.dir}: no epoch was finished, starting at epoch 1`);
    }
  }
  if (distributed) await dist.barrier(); // rank 0 has rolled the directory back before anyone goes on
  const history = run ? (await run.progress()).filter((r) => r.epoch < first) : [];
  const metricsLog = write ? new MetricsLog(write.dir) : null;
  await metricsLog?.truncate(first - 1);
  const ddp = distributed ? await dist.DistributedDataParallel.wrap(model) : null;
  try {
    await epochs();
  } finally {
    ddp?.dispose();
  }
  return history;

  async function epochs(): Promise<void> {
    for (let epoch = first; epoch <= o.epochs; epoch++) {
      const t0 = Date.now();
      model.train();
      const sums = new Map<string, Tensor>();
      let steps = 0;
      let samples = 0;
      let bar = o.progressBar && main ? new EpochBar(epoch, o.epochs, task.train.length) : null;
      task.train.throughput({ reset: true }); // the epoch's input statistics start here
      try {
        for await (const batch of task.train.epoch(epoch - 1)) {
          try {
            if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
            schedule.beforeStep(globalStep);
            torch.tidy(() => {
              const out = withAmp(task.device, amp, () => task.step(batch));
              opt.zeroGrad();
              (scaler ? scaler.scale(out.loss) : out.loss).backward();
              torch.noGrad(() => accumulate(sums, out, batch.ids.length));
            });
            // DDP: the bucket all-reduces started during backward; wait for the averaged gradients
            if (ddp) await ddp.syncGradients();
            torch.tidy(() => {
              if (scaler) {
                scaler.step(opt);
                scaler.update();
              } else {
                opt.step();
              }
            });
          } finally {
            batch.dispose();
          }
          globalStep++;
          steps++;
          samples += batch.ids.length;
          if (steps % logEvery === 0) {
            const means = readMeans(sums, samples, epoch, globalStep);
            const lrs = schedule.lrs();
            const rate = samples / Math.max(1e-3, (Date.now() - t0) / 1000);
            const input = task.train.throughput();
            if (bar) bar.update(steps, samples, means.loss!);
            else
              log(
                `epoch ${epoch} step ${steps} (global ${globalStep}): ${fmt(means)} lr ${lrs.map((x) => x.toExponential(2)).join('/')}, ${rate.toFixed(1)} items/s, ${fmtInput(input)}`,
              );
            await metricsLog?.append({ type: 'step', epoch, step: steps, globalStep, samples, itemsPerSecond: rate, lr: lrs, train: means, input });
          } else if (bar) {
            // the bar's running loss: one read-back every 10 steps (a sync), not every step
            bar.update(steps, samples, steps % 10 === 0 ? readMeans(sums, samples, epoch, globalStep).loss! : null);
          }
        }
        bar?.stop();
        bar = null;
        if (steps === 0) throw new TrainError(`epoch ${epoch}: the training loader produced no batch`, 'ERR_INVALID_ARG');
        const input = task.train.throughput({ reset: true });
        const local = readMeans(sums, samples, epoch, globalStep);
        // every rank sees as many samples (the sampler pads), so the mean of the rank means is the mean
        const train = distributed ? await dist.reduceMetrics(local) : local;
        const lr = schedule.lrs();
        const val = task.val ? await task.evaluate(task.val) : undefined;
        // Without a validation set the best epoch is the one with the lowest training loss.
        const [score, higher] = val ? [val[task.best.key], task.best.higherIsBetter] : [train.loss, false];
        const better = score !== undefined && !Number.isNaN(score) && (best === null || (higher ? score > best : score < best));
        if (better) {
          best = score!;
          bestEpoch = epoch;
        }
        schedule.afterEpoch();
        const record: EpochRecord = { epoch, globalStep, lr, seconds: (Date.now() - t0) / 1000, train, ...(val ? { val } : {}), input };
        history.push(record);
        log(`epoch ${epoch} done in ${record.seconds.toFixed(1)} s: train ${fmt(train)}${val ? `, val ${fmt(val)}` : ''}${better ? ' (best)' : ''}`);
        log(`epoch ${epoch} ${fmtInput(input)}`);
        if (input.inputBound > INPUT_BOUND_WARNING)
          log(
            `epoch ${epoch}: training waited for data ${(100 * input.inputBound).toFixed(0)} % of the time (input-bound): add loader workers or use the feature cache`,
          );
        if (write) {
          const state = { epoch, globalStep, best, bestEpoch, schedule: schedule.stateDict(), scaler: scaler ? scaler.stateDict() : null };
          await write.saveEpoch(model, opt, state, record, better);
          await metricsLog!.append({ type: 'epoch', ...record, best: better });
          await writeCurves(write.dir, history);
        }
        if (main) await task.afterEpoch?.(record, write ? write.dir : null);
        if (distributed) await dist.barrier(); // the epoch is committed on rank 0 before any rank goes on
      } finally {
        bar?.stop();
        torch.dispose([...sums.values()]);
      }
    }
  }
}

/** Adds each scalar of `out` times the batch size into its running sum (float32, kept across tidy scopes). */
function accumulate(sums: Map<string, Tensor>, out: Record<string, Tensor>, batchSize: number): void {
  for (const [k, v] of Object.entries(out)) {
    if (v.numel() !== 1) continue;
    const x = v.detach().to('float32').reshape([]).mul(batchSize);
    const s = sums.get(k);
    if (s) s.add_(x);
    else sums.set(k, torch.keep(x));
  }
}

/** Per-sample means of the running sums (one sync each); a non-finite loss is an error naming where. */
function readMeans(sums: Map<string, Tensor>, samples: number, epoch: number, globalStep: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, s] of sums) out[k] = s.item() / samples;
  if (!Number.isFinite(out.loss))
    throw new TrainError(`epoch ${epoch}, global step ${globalStep}: the mean training loss is ${out.loss}`, 'ERR_NONFINITE_LOSS');
  return out;
}

/** Above this fraction of an epoch spent waiting for the loader, the log says training is input-bound. */
const INPUT_BOUND_WARNING = 0.5;

/** The loader's side of a log line: rate, CPU per clip, cache hits, skips, time waited. */
function fmtInput(t: LoaderThroughput): string {
  const cache = t.cacheHits.audio + t.cacheHits.video > 0 ? `, cache hits ${t.cacheHits.audio} audio / ${t.cacheHits.video} video` : '';
  const skipped = t.skipped > 0 ? `, ${t.skipped} skipped` : '';
  return `input ${t.clipsPerSecond.toFixed(1)} clips/s, ${t.cpuSecondsPerClip.toFixed(3)} CPU-s/clip${cache}${skipped}, waited ${(100 * t.inputBound).toFixed(0)} %`;
}

function fmt(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(', ');
}
