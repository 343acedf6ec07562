/**
 * The data loader: dataset items -> batches of tensors
 *   { audio [B, targetLength, 128], video [B, 3, size, size, T], label [B] (int64) or [B, K] (float32) }.
 *
 * - Seeded shuffling per epoch (Python's random.shuffle on PyRandom(seed, epoch)); dropLast.
 * - `concurrency` items in flight (ffmpeg runs as child processes, so decodes overlap), at most
 *   `prefetch` batches computed ahead of the consumer (bounded memory); batches come out in order.
 * - `workers: n` moves decoding and feature math to n worker threads (the main thread only stacks).
 * - Random video windows are reproducible: item i of epoch e always gets PyRandom(seed, e, i).
 * - Cancellation: `signal`, or leaving the `for await` loop, kills in-flight ffmpeg processes.
 * - `onError: 'raise'` (default) stops at the first broken item (error names the file and manifest
 *   line); 'skip' leaves it out, fills the batch with the next items and reports `stats.skipped`.
 * - `cacheDir`: safetensors feature cache keyed by file content + recipe (audio always; video when the
 *   window is deterministic), so later epochs skip ffmpeg.
 * - `throughput()`: clips/s, CPU-s per clip, cache hits, skipped items and how much of the time the
 *   consumer waited for data, for the training log (the hook a training loop calls per logged interval).
 * Batch tensors belong to the caller: `batch.dispose()` (or dispose them inside a tidy).
 */
import * as os from 'os';
import { native as N } from '../native/binding';
import { torch, type Tensor } from '../tensor';
import { planMixup } from './mixup';
import { decoderKind } from './decoder';
import { DataError } from './errors';
import { InlineExecutor, WorkerExecutor, type Executor, type JobContext } from './executor';
import type { LabelMap } from './labels';
import { processCpuSeconds } from './cpu-time';
import { PyRandom, itemSeed } from './pyrandom';
import type { HostSample, Recipe } from './sample';
import type { DataItem, DataSource } from './source-types';
import type { Sampler } from './distributed_sampler';

/** Loader options. */
export interface LoaderOptions {
  batchSize?: number; // 8
  shuffle?: boolean; // false
  seed?: number; // 0
  dropLast?: boolean; // false
  /** What to compute per item (default: normalised fbank + 8 uniform BGR frames at 224). */
  recipe?: Recipe;
  /** Items processed at the same time (default: number of cores). */
  concurrency?: number;
  /** Batches prepared ahead of the consumer (default 2). */
  prefetch?: number;
  /** Worker threads for feature computation (default 0: the main thread). */
  workers?: number;
  onError?: 'raise' | 'skip';
  /** Feature cache directory (default none). */
  cacheDir?: string | null;
  signal?: AbortSignal;
  /** Per child process (ms). */
  timeoutMs?: number;
  /**
   * ffmpeg decoder threads per decode (default 1: a loader's parallelism is across items; ffmpeg's own
   * threads cost 10-15 % more CPU per clip, measured on 224x224 clips).
   */
  threads?: number;
  /**
   * The ffmpeg build for this loader's decodes, in the main thread and in its workers: 'bundled' (static
   * npm builds), 'system' (the bit-exact `compat: 'reference'` choice for AAC audio) or a path. Default:
   * SOCIAL_MAE_FFMPEG / the bundled build when installed (see useFfmpeg).
   */
  ffmpeg?: string;
  /**
   * 'libav' (in-process, no process start per clip; the default when the addon has it) or 'process'
   * (ffmpeg/ffprobe children). Default: SOCIAL_MAE_DECODER / the default of lib/data/decoder.ts.
   */
  decoder?: 'libav' | 'process';
  /** Classification labels as class indices (int64 [B], default) or one-hot float32 [B, K]. */
  labelFormat?: 'index' | 'onehot';
  /**
   * Mixup probability (default 0): an item is mixed with a random partner, lambda ~ Beta(10, 10), as the
   * reference dataloader does (mixup.ts); labels become float vectors [B, K]. For training loaders.
   */
  mixup?: number;
  /** Move batch tensors to this device (default 'cpu'). */
  device?: string;
  /** Receives warnings (short clips, lying metadata, skipped items); default process.emitWarning. */
  onWarning?: (message: string, item?: DataItem) => void;
  /** Chooses each epoch's items instead of `shuffle` (e.g. a DistributedSampler: this rank's shard). */
  sampler?: Sampler;
}

/** One batch. */
export interface Batch {
  audio?: Tensor;
  video?: Tensor;
  /** int64 [B] class indices, or float32 [B, K] (one-hot, multi-hot, regression targets). */
  label?: Tensor;
  ids: string[];
  /** Item indices in the source. */
  indices: number[];
  /** Frames used per item (when video was loaded). */
  frameIndices?: number[][];
  dispose(): void;
}

/** A skipped item. */
export interface SkippedRecord {
  index: number;
  id: string;
  origin: string;
  code: string;
  message: string;
}

/** Loader statistics (cumulative). */
export interface LoaderStats {
  loaded: number;
  skipped: SkippedRecord[];
  warnings: number;
  cacheHits: { audio: number; video: number };
}

/**
 * The loader's throughput since it was made or last reset (`throughput({ reset: true })`), for a training
 * log: when `inputBound` is near 1 the consumer spent its time waiting for data (the GPU starves).
 */
export interface LoaderThroughput {
  /** Items delivered, and skipped (onError 'skip'), in the interval. */
  clips: number;
  skipped: number;
  /** Wall seconds of the interval and clips per second over it. */
  seconds: number;
  clipsPerSecond: number;
  /**
   * CPU seconds per delivered clip: this process (all threads, the consumer's work included) plus finished
   * ffmpeg children, divided by clips. Linux; elsewhere without the children.
   */
  cpuSecondsPerClip: number;
  /** Feature-cache hits in the interval. */
  cacheHits: { audio: number; video: number };
  /** Seconds the consumer waited for the next item inside the loader, and that as a fraction of `seconds`. */
  waitSeconds: number;
  inputBound: number;
}

/** Python's random.shuffle with a PyRandom. */
export function pyShuffle<T>(xs: T[], rng: PyRandom): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.randbelow(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Iterates a dataset in batches; `for await (const b of loader)` runs the next epoch. */
export class DataLoader implements AsyncIterable<Batch> {
  readonly items: DataItem[];
  readonly labels: LabelMap | null;
  readonly stats: LoaderStats = { loaded: 0, skipped: [], warnings: 0, cacheHits: { audio: 0, video: 0 } };
  private readonly o: Required<Omit<LoaderOptions, 'signal' | 'timeoutMs' | 'threads' | 'cacheDir' | 'onWarning' | 'ffmpeg' | 'decoder' | 'sampler'>> &
    LoaderOptions;
  private executor: Executor | null = null;
  private nextEpoch = 0;
  /** Start of the throughput interval: wall time (ns), CPU seconds, counters. */
  private interval = { t0: process.hrtime.bigint(), cpu0: processCpuSeconds(), loaded: 0, skipped: 0, audio: 0, video: 0, wait: 0 };

  constructor(source: DataSource | DataItem[], opts: LoaderOptions = {}) {
    this.items = Array.isArray(source) ? source : source.items;
    this.labels = Array.isArray(source) ? null : source.labels;
    const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    this.o = {
      batchSize: 8,
      shuffle: false,
      seed: 0,
      dropLast: false,
      recipe: { audio: {}, video: {} },
      concurrency: cores,
      prefetch: 2,
      workers: 0,
      onError: 'raise',
      labelFormat: 'index',
      device: 'cpu',
      ...opts,
      mixup: opts.mixup ?? 0,
    };
    const { batchSize, concurrency, prefetch, workers } = this.o;
    for (const [k, v, min] of [
      ['batchSize', batchSize, 1],
      ['concurrency', concurrency, 1],
      ['prefetch', prefetch, 0],
      ['workers', workers, 0],
    ] as const) {
      if (!Number.isInteger(v) || v < min) throw new DataError(`${k} must be an integer >= ${min}, got ${v}`, 'ERR_INVALID_ARG');
    }
    if (opts.sampler && opts.shuffle)
      throw new DataError('sampler option is mutually exclusive with shuffle (the sampler decides the order)', 'ERR_INVALID_ARG');
    const mixup = this.o.mixup;
    if (typeof mixup !== 'number' || !(mixup >= 0 && mixup <= 1))
      throw new DataError(`mixup must be a probability in [0, 1], got ${String(mixup)}`, 'ERR_INVALID_ARG');
    if (opts.decoder !== undefined) decoderKind(opts.decoder); // a bad or unavailable choice fails here, not per item
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.o.sampler ? this.o.sampler.numSamples : this.items.length;
    return this.o.dropLast ? Math.floor(n / this.o.batchSize) : Math.ceil(n / this.o.batchSize);
  }

  /** Item order of an epoch (a permutation of 0..n-1, or the sampler's indices). */
  order(epoch: number): number[] {
    if (this.o.sampler) return this.o.sampler.indices(epoch);
    const idx = this.items.map((_, i) => i);
    return this.o.shuffle ? pyShuffle(idx, new PyRandom(itemSeed(this.o.seed, epoch, 0x7fffffff))) : idx;
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.epoch(this.nextEpoch++);
  }

  /**
   * Throughput since the loader was made or last reset (see LoaderThroughput). `reset: true` starts a new
   * interval after reading, e.g. once per logged step or epoch.
   */
  throughput(opts: { reset?: boolean } = {}): LoaderThroughput {
    const now = process.hrtime.bigint();
    const cpu = processCpuSeconds();
    const i = this.interval;
    const seconds = Number(now - i.t0) / 1e9;
    const clips = this.stats.loaded - i.loaded;
    const r: LoaderThroughput = {
      clips,
      skipped: this.stats.skipped.length - i.skipped,
      seconds,
      clipsPerSecond: seconds > 0 ? clips / seconds : 0,
      cpuSecondsPerClip: clips > 0 ? (cpu - i.cpu0) / clips : 0,
      cacheHits: { audio: this.stats.cacheHits.audio - i.audio, video: this.stats.cacheHits.video - i.video },
      waitSeconds: i.wait,
      inputBound: seconds > 0 ? Math.min(1, i.wait / seconds) : 0,
    };
    if (opts.reset) {
      this.interval = {
        t0: now,
        cpu0: cpu,
        loaded: this.stats.loaded,
        skipped: this.stats.skipped.length,
        audio: this.stats.cacheHits.audio,
        video: this.stats.cacheHits.video,
        wait: 0,
      };
    }
    return r;
  }

  /** Stops the worker threads (the loader can not be used afterwards with workers). */
  async close(): Promise<void> {
    await this.executor?.close();
    this.executor = null;
  }

  private warn(message: string, item?: DataItem): void {
    this.stats.warnings++;
    if (this.o.onWarning) this.o.onWarning(message, item);
    else process.emitWarning(message, { type: 'SocialMaeDataWarning' });
  }

  private getExecutor(): Executor {
    if (!this.executor) this.executor = this.o.workers > 0 ? new WorkerExecutor(this.o.workers, this.o.recipe) : new InlineExecutor(this.o.recipe);
    return this.executor;
  }

  /** The batches of one epoch, in order. */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    const o = this.o;
    const order = this.order(epoch);
    const ac = new AbortController();
    const ctx: JobContext = {
      seed: o.seed,
      epoch,
      cacheDir: o.cacheDir ?? null,
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      threads: o.threads ?? 1,
      ...(o.ffmpeg !== undefined ? { ffmpeg: o.ffmpeg } : {}),
      ...(o.decoder !== undefined ? { decoder: o.decoder } : {}),
    };
    const exec = this.getExecutor();
    const results = new Map<number, { sample?: HostSample; error?: unknown }>();
    let consumed = 0; // positions handed to the consumer (or skipped)
    let started = 0;
    let wake: () => void = () => undefined;
    let changed = new Promise<void>((r) => (wake = r));
    const notify = () => {
      wake();
      changed = new Promise<void>((r) => (wake = r));
    };
    const limit = () => consumed + (o.prefetch + 1) * o.batchSize;
    const onOuterAbort = () => {
      ac.abort();
      notify();
    };
    o.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (o.signal?.aborted) ac.abort();
    const aborted = () => o.signal?.reason ?? new DataError('loader aborted', 'ERR_INVALID_ARG');
    const runner = async () => {
      while (!ac.signal.aborted && started < order.length) {
        if (started >= limit()) {
          await changed;
          continue;
        }
        const pos = started++;
        const index = order[pos]!;
        try {
          const mix = planMixup(this.items, index, { seed: o.seed, epoch, probability: o.mixup, labelCount: this.labels?.size ?? 0 });
          results.set(pos, { sample: await exec.run(this.items[index]!, index, ctx, ac.signal, mix) });
        } catch (error) {
          results.set(pos, { error });
        }
        notify();
      }
    };
    const runners = Array.from({ length: Math.min(o.concurrency, order.length) }, runner);
    const settled = Promise.all(runners);
    let batch: HostSample[] = [];
    try {
      for (let pos = 0; pos < order.length; pos++) {
        // An abort stops the epoch at once, also when later samples are already decoded.
        if (ac.signal.aborted) throw aborted();
        if (!results.has(pos)) {
          const w0 = process.hrtime.bigint();
          while (!results.has(pos)) {
            await changed;
            if (ac.signal.aborted) throw aborted();
          }
          this.interval.wait += Number(process.hrtime.bigint() - w0) / 1e9;
        }
        const r = results.get(pos)!;
        results.delete(pos);
        consumed = pos + 1;
        notify();
        const item = this.items[order[pos]!]!;
        if (r.error !== undefined) {
          if ((r.error as Error)?.name === 'AbortError') throw o.signal?.reason ?? r.error;
          if (o.onError === 'raise') throw r.error;
          const e = r.error as Error & { code?: string };
          this.stats.skipped.push({ index: order[pos]!, id: item.id, origin: item.origin, code: String(e?.code ?? 'ERR'), message: String(e?.message ?? e) });
          continue;
        }
        const s = r.sample!;
        this.stats.loaded++;
        if (s.cached.audio) this.stats.cacheHits.audio++;
        if (s.cached.video) this.stats.cacheHits.video++;
        for (const w of s.warnings) this.warn(`${item.origin}: ${w}`, item);
        batch.push(s);
        if (batch.length === o.batchSize) {
          yield this.collate(batch);
          batch = [];
        }
      }
      if (batch.length > 0 && !o.dropLast) yield this.collate(batch);
      const skipped = this.stats.skipped.length;
      if (skipped > 0 && o.onError === 'skip') this.warn(`epoch ${epoch}: ${skipped} item(s) skipped so far (see loader.stats.skipped)`);
    } finally {
      ac.abort();
      o.signal?.removeEventListener('abort', onOuterAbort);
      notify();
      await settled;
    }
  }

  /** Stacks host samples into batch tensors. */
  collate(samples: HostSample[]): Batch {
    const B = samples.length;
    // Each sample is copied once, straight into its row of the batch tensor (whose memory the host block
    // cache recycles, native/common/host_cache.h), not through a joined Float32Array: that was one more
    // full-size copy per clip into fresh pages (bench/host_alloc.ts). A sample of another size fails with
    // ERR_SHAPE_MISMATCH.
    const stack = (get: (s: HostSample) => Float32Array | undefined, shape: number[] | undefined): Tensor | undefined => {
      if (!get(samples[0]!) || !shape) return undefined;
      const host = torch.empty([B, ...shape]);
      try {
        samples.forEach((s, i) => {
          const row = host.select(0, i);
          try {
            N.copyFromBuffer_(row.id, get(s)!);
          } finally {
            row.dispose();
          }
        });
      } catch (e) {
        host.dispose();
        throw e;
      }
      if (this.o.device === 'cpu') return host;
      const moved = host.to(this.o.device);
      host.dispose();
      return moved;
    };
    const batch: Batch = {
      ids: samples.map((s) => s.id),
      indices: samples.map((s) => s.index),
      dispose() {
        torch.dispose([batch.audio, batch.video, batch.label]);
      },
    };
    const audio = stack((s) => s.audio, samples[0]!.audioShape);
    const video = stack((s) => s.video, samples[0]!.videoShape);
    if (audio) batch.audio = audio;
    if (video) batch.video = video;
    if (samples[0]!.frameIndices) batch.frameIndices = samples.map((s) => s.frameIndices ?? []);
    const label = this.labelTensor(samples);
    if (label) batch.label = label;
    return batch;
  }

  /**
   * int64 [B] class indices (labelFormat 'index'), else float32 [B, K] rows: the one-hot of each label
   * ('onehot'), or each sample's target vector, where samples without one (mixup leaves some unmixed)
   * contribute the one-hot of their label.
   */
  private labelTensor(samples: HostSample[]): Tensor | undefined {
    const dev = { device: this.o.device };
    const allLabels = samples.every((s) => s.label !== undefined);
    if (allLabels && this.o.labelFormat === 'index') {
      return torch.fromBuffer(
        BigInt64Array.from(samples, (s) => BigInt(s.label!)),
        'int64',
        [samples.length],
        dev,
      );
    }
    const withTarget = allLabels ? undefined : samples.find((s) => s.target !== undefined);
    if (!allLabels && (!withTarget || !samples.every((s) => s.target !== undefined || s.label !== undefined))) return undefined;
    const k = withTarget ? withTarget.target!.length : (this.labels?.size ?? Math.max(...samples.map((s) => s.label!)) + 1);
    const v = new Float32Array(samples.length * k);
    samples.forEach((s, i) => (withTarget && s.target !== undefined ? v.set(s.target, i * k) : (v[i * k + s.label!] = 1)));
    return torch.fromBuffer(v, 'float32', [samples.length, k], dev);
  }
}

/** Shorthand: `new DataLoader(source, opts)`. */
export function createLoader(source: DataSource | DataItem[], opts: LoaderOptions = {}): DataLoader {
  return new DataLoader(source, opts);
}
