/**
 * Where the loader computes item features: in the main thread (`InlineExecutor`) or in worker threads
 * (`WorkerExecutor`, so decoding and feature math go on while the main thread trains or blocks on a GPU
 * sync). Both run `loadSample` (sample.ts); workers transfer the Float32Array buffers back without copies.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import { FeatureCache } from './cache';
import { DataError, type DataErrorCode } from './errors';
import { abortError } from './ffmpeg';
import { loadSample, type HostSample, type Recipe } from './sample';
import type { DataItem } from './source-types';
import type { MixPlan } from './mixup';

/** Context passed with every job (plain data, it crosses thread boundaries). */
export interface JobContext {
  seed: number;
  epoch: number;
  cacheDir: string | null;
  timeoutMs?: number;
  threads?: number;
  /** The ffmpeg build to use in this thread (useFfmpeg), when the loader was given one. */
  ffmpeg?: string;
  /** The decoder to use in this thread (useDecoder), when the loader was given one. */
  decoder?: 'libav' | 'process';
}

/** Runs item pipelines. */
export interface Executor {
  /** `mix`: the item's mixup partner (the sample is then the mix of both). */
  run(item: DataItem, index: number, ctx: JobContext, signal: AbortSignal, mix?: MixPlan | null): Promise<HostSample>;
  close(): Promise<void>;
}

const caches = new Map<string, FeatureCache>();
/** One FeatureCache object per directory and thread (keeps its in-memory probe table). */
export function cacheFor(dir: string | null): FeatureCache | null {
  if (!dir) return null;
  let c = caches.get(dir);
  if (!c) caches.set(dir, (c = new FeatureCache(dir)));
  return c;
}

/** Runs jobs in the calling thread. */
export class InlineExecutor implements Executor {
  constructor(private readonly recipe: Recipe) {}
  run(item: DataItem, index: number, ctx: JobContext, signal: AbortSignal, mix?: MixPlan | null): Promise<HostSample> {
    return loadSample(item, index, this.recipe, { ...ctx, cache: cacheFor(ctx.cacheDir), signal }, mix);
  }
  async close(): Promise<void> {}
}

/** A serialised error from a worker. */
interface WireError {
  name: string;
  message: string;
  code?: string;
  reason?: string;
  file?: string;
}

export function toWireError(e: unknown): WireError {
  const err = e as Error & { code?: string; reason?: string; file?: string };
  const w: WireError = { name: err?.name ?? 'Error', message: String(err?.message ?? e) };
  if (err?.code !== undefined) w.code = String(err.code);
  if (err?.reason !== undefined) w.reason = err.reason;
  if (err?.file !== undefined) w.file = err.file;
  return w;
}

function fromWireError(w: WireError): Error {
  if (w.name === 'AbortError') return abortError();
  if (w.name === 'DataError' && w.code) {
    return new DataError(w.reason ?? w.message, w.code as DataErrorCode, { ...(w.file !== undefined ? { file: w.file } : {}), message: w.message });
  }
  const e = new Error(w.message) as Error & { code?: string };
  e.name = w.name;
  if (w.code !== undefined) e.code = w.code;
  return e;
}

interface Pending {
  resolve: (s: HostSample) => void;
  reject: (e: Error) => void;
  worker: number;
}

/** Runs jobs in `n` worker threads (least-loaded dispatch). */
export class WorkerExecutor implements Executor {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(n: number, recipe: Recipe) {
    const script = path.join(__dirname, 'loader-worker.js');
    this.workers = Array.from({ length: n }, (_, w) => {
      const worker = new Worker(script, { workerData: { recipe } });
      worker.on('message', (m: { id: number; sample?: HostSample; error?: WireError }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (--this.load[p.worker]! === 0) this.workers[p.worker]!.unref();
        if (m.error) p.reject(fromWireError(m.error));
        else p.resolve(m.sample!);
      });
      worker.on('error', (e) => this.failWorker(w, e));
      worker.on('exit', (code) => {
        if (!this.closed) this.failWorker(w, new Error(`loader worker ${w} exited with code ${code}`));
      });
      worker.unref();
      return worker;
    });
    this.load = new Array(n).fill(0);
  }

  private failWorker(w: number, e: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker === w) {
        this.pending.delete(id);
        this.load[w] = 0;
        this.workers[w]!.unref();
        p.reject(e);
      }
    }
  }

  run(item: DataItem, index: number, ctx: JobContext, signal: AbortSignal, mix?: MixPlan | null): Promise<HostSample> {
    if (this.closed) return Promise.reject(new Error('executor closed'));
    if (signal.aborted) return Promise.reject(abortError());
    let w = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[w]!) w = i;
    const id = this.nextId++;
    if (this.load[w]!++ === 0) this.workers[w]!.ref();
    return new Promise<HostSample>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      const onAbort = () => this.workers[w]!.postMessage({ abort: id });
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      const p = this.pending.get(id)!;
      p.resolve = (s) => (done(), resolve(s));
      p.reject = (e) => (done(), reject(e));
      this.workers[w]!.postMessage({ id, item, index, ctx, mix: mix ?? null });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) p.reject(abortError());
    this.pending.clear();
    // Let each worker reap its ffmpeg children first (a terminated thread leaves zombies), 5 s at most.
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5000);
            w.on('message', (m: { closed?: boolean }) => {
              if (m && m.closed) {
                clearTimeout(timer);
                resolve();
              }
            });
            w.ref();
            w.postMessage({ close: true });
          }),
      ),
    );
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
