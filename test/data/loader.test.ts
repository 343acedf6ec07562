import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch } from '../../lib/tensor';
import { DataLoader, pyShuffle } from '../../lib/data/loader';
import { PyRandom } from '../../lib/data/pyrandom';
import { loadManifest } from '../../lib/data/manifest';
import type { Executor } from '../../lib/data/executor';
import type { HostSample, Recipe } from '../../lib/data/sample';
import type { DataItem, DataSource } from '../../lib/data/source-types';
import { LabelMap } from '../../lib/data/labels';
import { CLIP, WAV, LYING, tmpDir, noMediaChildren, NO_FFMPEG } from './helpers';

/** Per-subtest limit, so that a hang names its subtest instead of timing out the whole file. */
const HANG_MS = 240_000;

/** A small recipe so the tests decode little: 64 fbank frames, 2 frames of 32x32. */
const SMALL: Recipe = { audio: { targetLength: 64 }, video: { fps: 2, duration: 1, size: 32 } };

function fakeItems(n: number): DataItem[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `i${i}`,
    video: `/v${i}.mp4`,
    audio: `/v${i}.mp4`,
    audioFromVideo: true,
    label: i % 3,
    origin: `m.csv:${i + 2}`,
  }));
}

/** An executor producing synthetic samples, recording concurrency; items in `bad` fail. */
function fakeExecutor(bad: Set<number>, delay = 2) {
  const rec = { started: [] as number[], inFlight: 0, maxInFlight: 0 };
  const ex: Executor = {
    async run(item, index) {
      rec.started.push(index);
      rec.inFlight++;
      rec.maxInFlight = Math.max(rec.maxInFlight, rec.inFlight);
      await new Promise((r) => setTimeout(r, delay + (index % 3)));
      rec.inFlight--;
      if (bad.has(index)) throw Object.assign(new Error(`${item.video}: broken`), { code: 'ERR_MEDIA' });
      const s: HostSample = {
        index,
        id: item.id,
        audio: new Float32Array([index, index]),
        audioShape: [2],
        label: item.label!,
        warnings: [],
        cached: { audio: false, video: false },
      };
      return s;
    },
    async close() {},
  };
  return { ex, rec };
}

function withExecutor(l: DataLoader, ex: Executor): DataLoader {
  (l as unknown as { executor: Executor }).executor = ex;
  return l;
}

t.test('batching, order, dropLast, labels, bounded prefetch (synthetic items)', async (t) => {
  const live = torch.memory().liveTensors;
  const { ex, rec } = fakeExecutor(new Set());
  const l = withExecutor(new DataLoader(fakeItems(10), { batchSize: 4, concurrency: 8, prefetch: 1 }), ex);
  t.equal(l.length, 3);
  const seen: number[][] = [];
  for await (const b of l) {
    seen.push(b.indices);
    t.same(
      Array.from(b.audio!.toArray() as Float32Array).filter((_, i) => i % 2 === 0),
      b.indices,
    );
    t.same(
      Array.from(b.label!.toArray() as BigInt64Array, Number),
      b.indices.map((i) => i % 3),
    );
    t.equal(b.label!.dtype, 'int64');
    b.dispose();
  }
  t.same(seen, [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
    [8, 9],
  ]);
  t.ok(rec.maxInFlight <= 8);
  const drop = withExecutor(new DataLoader(fakeItems(10), { batchSize: 4, dropLast: true, labelFormat: 'onehot' }), fakeExecutor(new Set()).ex);
  t.equal(drop.length, 2);
  let n = 0;
  for await (const b of drop) {
    t.same(b.label!.shape, [4, 3]);
    n++;
    b.dispose();
  }
  t.equal(n, 2);
  // backpressure: with a slow consumer, no more than (prefetch + 1) batches are started ahead
  const slow = fakeExecutor(new Set(), 0);
  const l2 = withExecutor(new DataLoader(fakeItems(40), { batchSize: 4, concurrency: 16, prefetch: 1 }), slow.ex);
  let consumed = 0;
  for await (const b of l2) {
    consumed += b.indices.length;
    await new Promise((r) => setTimeout(r, 15));
    t.ok(slow.rec.started.length <= consumed + 2 * 4, `started ${slow.rec.started.length} <= consumed ${consumed} + 8`);
    b.dispose();
  }
  t.equal(torch.memory().liveTensors, live);
});

t.test('label tensors: indices, one-hot, target vectors, targets beside labels (mixup)', async (t) => {
  const rows = async (l: DataLoader) => {
    const out: { shape: number[]; dtype: string; values: number[] }[] = [];
    for await (const b of l) {
      out.push({ shape: b.label!.shape, dtype: b.label!.dtype, values: Array.from(b.label!.toArray() as Float32Array, Number) });
      b.dispose();
    }
    return out;
  };
  /** Samples whose items in `targets` carry a target vector instead of (or beside) their label. */
  const executor = (targets: Map<number, number[]>, keepLabel: boolean): Executor => ({
    async run(item, index) {
      const s: HostSample = { index, id: item.id, warnings: [], cached: { audio: false, video: false } };
      const target = targets.get(index);
      if (target) s.target = target;
      if (!target || keepLabel) s.label = item.label!;
      return s;
    },
    async close() {},
  });
  const items = fakeItems(3); // labels 0, 1, 2
  const source = { items, labels: LabelMap.fromNames(['a', 'b', 'c']) } as unknown as DataSource;
  const idx = await rows(withExecutor(new DataLoader(source, { batchSize: 3 }), executor(new Map(), false)));
  t.same(idx, [{ shape: [3], dtype: 'int64', values: [0, 1, 2] }]);
  const onehot = await rows(withExecutor(new DataLoader(source, { batchSize: 3, labelFormat: 'onehot' }), executor(new Map(), false)));
  t.same(onehot[0]!.values, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const all = new Map([
    [0, [0.5, 0.5, 0]],
    [1, [0, 1, 0]],
    [2, [0.25, 0, 0.75]],
  ]);
  const targets = await rows(withExecutor(new DataLoader(source, { batchSize: 3 }), executor(all, false)));
  t.same(targets, [{ shape: [3, 3], dtype: 'float32', values: [0.5, 0.5, 0, 0, 1, 0, 0.25, 0, 0.75] }], 'every sample a target vector');
  const mixed = await rows(withExecutor(new DataLoader(source, { batchSize: 3 }), executor(new Map([[1, [0.75, 0.25, 0]]]), false)));
  t.same(mixed[0]!.values, [1, 0, 0, 0.75, 0.25, 0, 0, 0, 1], 'a mixed target beside one-hot labels');
  const both = await rows(withExecutor(new DataLoader(source, { batchSize: 3 }), executor(all, true)));
  t.same(both, idx, 'labels win when every sample has one');
});

t.test('seeded shuffling', async (t) => {
  t.same(pyShuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], new PyRandom(0)), [7, 8, 1, 5, 3, 4, 2, 0, 9, 6], 'Python: random.Random(0).shuffle(list(range(10)))');
  const mk = (seed: number) => new DataLoader(fakeItems(20), { shuffle: true, seed });
  t.same(mk(5).order(0), mk(5).order(0), 'same seed, same order');
  t.not(mk(5).order(0).join(), mk(5).order(1).join(), 'new order each epoch');
  t.not(mk(5).order(0).join(), mk(6).order(0).join());
  t.same(
    [...mk(5).order(3)].sort((a, b) => a - b),
    [...Array(20).keys()],
  );
  const l = withExecutor(new DataLoader(fakeItems(9), { shuffle: true, seed: 1, batchSize: 3 }), fakeExecutor(new Set()).ex);
  const got: number[] = [];
  for await (const b of l) {
    got.push(...b.indices);
    b.dispose();
  }
  t.same(got, l.order(0), 'batches follow the epoch order');
});

t.test('onError raise and skip (synthetic)', async (t) => {
  const raise = withExecutor(new DataLoader(fakeItems(10), { batchSize: 4 }), fakeExecutor(new Set([5])).ex);
  await t.rejects(
    (async () => {
      for await (const b of raise) b.dispose();
    })(),
    { code: 'ERR_MEDIA', message: /v5\.mp4: broken/ },
  );
  const warnings: string[] = [];
  const skip = withExecutor(
    new DataLoader(fakeItems(10), { batchSize: 4, onError: 'skip', onWarning: (m) => warnings.push(m) }),
    fakeExecutor(new Set([1, 5])).ex,
  );
  const batches: number[][] = [];
  for await (const b of skip) {
    batches.push(b.indices);
    b.dispose();
  }
  t.same(
    batches,
    [
      [0, 2, 3, 4],
      [6, 7, 8, 9],
    ],
    'batches are filled with the next items',
  );
  t.same(
    skip.stats.skipped.map((s) => [s.index, s.origin, s.code]),
    [
      [1, 'm.csv:3', 'ERR_MEDIA'],
      [5, 'm.csv:7', 'ERR_MEDIA'],
    ],
  );
  t.ok(warnings.some((w) => /2 item\(s\) skipped/.test(w)));
});

t.test('real clips: features, labels, reproducible windows, broken files', { skip: NO_FFMPEG, timeout: HANG_MS }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(WAV, path.join(dir, 'a.wav'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'broken.mp4'), Buffer.alloc(5000, 7));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'video,audio,label\na.mp4,a.wav,happy\nb.mp4,,sad\nbroken.mp4,,sad\na.mp4,,happy\n');
  const src = await loadManifest(path.join(dir, 'm.csv'));
  const live = torch.memory().liveTensors;
  const raise = new DataLoader(src, { recipe: SMALL, batchSize: 2 });
  await t.rejects(
    (async () => {
      for await (const b of raise) b.dispose();
    })(),
    { code: 'ERR_MEDIA', message: /broken\.mp4.*m\.csv:4/ },
  );
  const run = async (concurrency: number, workers = 0) => {
    const l = new DataLoader(src, { recipe: SMALL, batchSize: 2, onError: 'skip', concurrency, workers, seed: 3, onWarning: () => undefined });
    const out: { ids: string[]; frames: number[][]; audio: Float32Array; video: Float32Array; label: number[] }[] = [];
    for await (const b of l) {
      t.same(b.audio!.shape, [b.ids.length, 64, 128]);
      t.same(b.video!.shape, [b.ids.length, 3, 32, 32, 2]);
      out.push({
        ids: b.ids,
        frames: b.frameIndices!,
        audio: b.audio!.toArray() as Float32Array,
        video: b.video!.toArray() as Float32Array,
        label: Array.from(b.label!.toArray() as BigInt64Array, Number),
      });
      b.dispose();
    }
    await l.close();
    return { out, skipped: l.stats.skipped };
  };
  const a = await run(1);
  t.same(
    a.out.map((b) => b.ids),
    [['a.mp4', 'b.mp4'], ['a.mp4']],
  );
  t.same(
    a.out.map((b) => b.label),
    [[0, 1], [0]],
  );
  t.same(
    a.skipped.map((s) => s.origin),
    ['m.csv:4'],
  );
  const b = await run(4);
  t.same(
    b.out.map((x) => x.frames),
    a.out.map((x) => x.frames),
    'random windows do not depend on concurrency',
  );
  t.ok(
    b.out.every((x, i) => x.video.every((v, j) => v === a.out[i]!.video[j])),
    'identical video',
  );
  const w = await run(2, 2);
  t.same(
    w.out.map((x) => x.frames),
    a.out.map((x) => x.frames),
    'worker threads give the same windows',
  );
  t.ok(
    w.out.every((x, i) => x.audio.every((v, j) => v === a.out[i]!.audio[j]) && x.video.every((v, j) => v === a.out[i]!.video[j])),
    'and the same values',
  );
  t.equal(torch.memory().liveTensors, live, 'no tensors leaked');
});

t.test('feature cache', { skip: NO_FFMPEG, timeout: HANG_MS }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const items: DataItem[] = [
    { id: 'a', video: CLIP, audio: WAV, audioFromVideo: false, label: 0, origin: 'a' },
    { id: 'b', video: CLIP, audio: CLIP, audioFromVideo: true, label: 1, origin: 'b', startFrame: 10 },
  ];
  const recipe: Recipe = { audio: { targetLength: 64 }, video: { fps: 2, duration: 1, size: 32, start: 'center' } };
  const cacheDir = path.join(dir, 'cache');
  const epoch = async (l: DataLoader) => {
    const r: Float32Array[] = [];
    for await (const b of l) {
      r.push(b.audio!.toArray() as Float32Array, b.video!.toArray() as Float32Array);
      b.dispose();
    }
    return r;
  };
  const plain = await epoch(new DataLoader(items, { recipe, batchSize: 2 }));
  const l = new DataLoader(items, { recipe, batchSize: 2, cacheDir });
  const cold = await epoch(l);
  t.same(l.stats.cacheHits, { audio: 0, video: 0 });
  const warm = await epoch(l);
  t.same(l.stats.cacheHits, { audio: 2, video: 2 }, 'second epoch: every feature from the cache');
  for (const r of [cold, warm])
    t.ok(
      r.every((x, i) => x.every((v, j) => v === plain[i]![j])),
      'cached values are identical',
    );
  const files = fs.readdirSync(cacheDir, { recursive: true }).map(String);
  t.ok(files.some((f) => f.endsWith('.safetensors')));
  t.ok(files.some((f) => f.startsWith('probe')));
  // a corrupt entry is a miss, not an error
  for (const f of files.filter((f) => f.endsWith('.safetensors'))) fs.writeFileSync(path.join(cacheDir, f), 'garbage');
  const l2 = new DataLoader(items, { recipe, batchSize: 2, cacheDir });
  const again = await epoch(l2);
  t.same(l2.stats.cacheHits, { audio: 0, video: 0 });
  t.ok(again.every((x, i) => x.every((v, j) => v === plain[i]![j])));
  // random windows are not cached (they change every epoch)
  const l3 = new DataLoader(items.slice(0, 1), { recipe: { ...recipe, video: { ...(recipe.video as object), start: 'random' } }, batchSize: 1, cacheDir });
  await epoch(l3);
  await epoch(l3);
  t.same(l3.stats.cacheHits, { audio: 2, video: 0 }, 'audio (already cached) hits, random video windows are never cached');
});

t.test('cancellation kills in-flight decodes', { skip: NO_FFMPEG, timeout: HANG_MS }, async (t) => {
  const items: DataItem[] = Array.from({ length: 12 }, (_, i) => ({ id: `k${i}`, video: LYING, audio: LYING, audioFromVideo: true, origin: `k${i}` }));
  const ac = new AbortController();
  const l = new DataLoader(items, {
    recipe: { audio: false, video: { size: 32, duration: 1 } },
    batchSize: 2,
    concurrency: 4,
    signal: ac.signal,
    onWarning: () => undefined,
  });
  let batches = 0;
  await t.rejects(
    (async () => {
      for await (const b of l) {
        batches++;
        b.dispose();
        ac.abort(new Error('stop'));
      }
    })(),
    { message: 'stop' },
  );
  t.equal(batches, 1);
  t.same(await noMediaChildren(), [], 'no ffmpeg left running');
  // leaving the loop early also stops the work
  const l2 = new DataLoader(items, { recipe: { audio: false, video: { size: 32, duration: 1 } }, batchSize: 2, concurrency: 4, onWarning: () => undefined });
  for await (const b of l2) {
    b.dispose();
    break;
  }
  t.same(await noMediaChildren(), []);
});
