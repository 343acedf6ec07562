/**
 * Worker-thread entry of the loader (see executor.ts): receives jobs `{ id, item, index, ctx, mix }`, runs
 * loadSample and posts `{ id, sample }` (audio/video buffers transferred) or `{ id, error }`.
 * `{ abort: id }` aborts a running job (its ffmpeg children are killed); `{ close: true }` aborts all and
 * answers `{ closed: true }` once every child process (and the spawn helper) has been reaped.
 */
import { parentPort, workerData } from 'worker_threads';
import { cacheFor, toWireError, type JobContext } from './executor';
import { settleChildren } from './ffmpeg';
import { stopSpawnHelper } from './spawn-helper';
import { loadSample, type Recipe } from './sample';
import type { DataItem } from './source-types';
import type { MixPlan } from './mixup';

const recipe = (workerData as { recipe: Recipe }).recipe;
const running = new Map<number, AbortController>();

parentPort!.on('message', (m: { id: number; item: DataItem; index: number; ctx: JobContext; mix: MixPlan | null } | { abort: number } | { close: true }) => {
  if ('close' in m) {
    // Abort what runs, wait until every ffmpeg child and the spawn helper have been reaped, then let the main
    // thread terminate us.
    for (const ac of running.values()) ac.abort();
    settleChildren()
      .then(stopSpawnHelper)
      .then(() => parentPort!.postMessage({ closed: true }));
    return;
  }
  if ('abort' in m) {
    running.get(m.abort)?.abort();
    return;
  }
  const ac = new AbortController();
  running.set(m.id, ac);
  loadSample(m.item, m.index, recipe, { ...m.ctx, cache: cacheFor(m.ctx.cacheDir), signal: ac.signal }, m.mix)
    .then((sample) => {
      const transfer: ArrayBuffer[] = [];
      for (const a of [sample.audio, sample.video]) if (a && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) transfer.push(a.buffer as ArrayBuffer);
      parentPort!.postMessage({ id: m.id, sample }, transfer);
    })
    .catch((e) => parentPort!.postMessage({ id: m.id, error: toWireError(e) }))
    .finally(() => running.delete(m.id));
});
