/**
 * Embeddings of a dataset (pooled audio / video / joint, written as safetensors + index.jsonl and read
 * back) and CAV-MAE's retrieval protocol (cosine of L2-normalised embeddings, recall@k and median rank
 * with the reference's way of counting ties), against hand-computed values.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch, data, train, SocialMAE } from '../../lib';
import { CLIP, LYING, tmpDir, NO_FFMPEG } from '../data/helpers';

const RECIPE: data.Recipe = { audio: { targetLength: 64 }, video: { fps: 2, duration: 1, size: 32, start: 'center' } };
const ENCODER = { imgSize: 32, audioLength: 64, nFrame: 2, embedDim: 32, numHeads: 2, modalitySpecificDepth: 1 } as const;

t.test('cosine similarities and recall@k by hand, ties counted as the reference does', async (t) => {
  const sim = train.cosineMatrix([1, 0, 0, 2], [3, 0, 1, 1], 2, 2);
  const r = Math.SQRT1_2;
  t.ok(
    [1, r, 0, r].every((x, i) => Math.abs(sim[i >> 1]![i & 1]! - x) < 1e-15),
    `cosines ${sim.map((row) => Array.from(row))}`,
  );
  // row 0: partner first; row 1: partner third; row 2: all tied, so positions 0, 1 and 2 all count
  const m = train.retrievalMetrics([
    [0.9, 0.1, 0.2],
    [0.5, 0.4, 0.6],
    [0.3, 0.3, 0.3],
  ]);
  t.same(m, { R1: 2 / 5, R5: 1, R10: 1, MR: 2 });
  const big = Array.from({ length: 12 }, (_, i) => Array.from({ length: 12 }, (_, j) => (j === i ? 0 : 1 + j)));
  // the partner (0) is last of 12 in every row: position 11
  t.same(train.retrievalMetrics(big), { R1: 0, R5: 0, R10: 0, MR: 12 });
  t.same(train.topK([[0.1, 0.5, 0.5, 0.9]], 3), [[3, 1, 2]], 'ties keep the lower index first');
  t.throws(() => train.cosineMatrix([1, 2, 3], [1, 2], 2, 2), { code: 'ERR_INVALID_ARG' });
});

t.test('retrieval by class: the first same-class candidate, unlabelled items neither query nor match', async (t) => {
  const sim = [
    [0.9, 0.8, 0.1, 0.0], // a: best is itself (a)
    [0.9, 0.1, 0.8, 0.0], // b: a (wrong), then c (b's class) at position 1
    [0.1, 0.2, 0.3, 0.9], // b: unlabelled d first, then itself at position 1
    [0.5, 0.5, 0.5, 0.5], // unlabelled: not a query
  ];
  const m = train.labelRetrievalMetrics(sim, ['a', 'b', 'b', null]);
  t.same(m, { R1: 1 / 3, R5: 1, R10: 1, MR: 2 });
  t.throws(() => train.labelRetrievalMetrics(sim, ['a', 'b']), { code: 'ERR_INVALID_ARG' });
  t.throws(
    () =>
      train.labelRetrievalMetrics(
        [
          [1, 0],
          [0, 1],
        ],
        ['a', null].map(() => null),
      ),
    { code: 'ERR_INVALID_ARG' },
  );
});

t.test('embedDataset: pooled embeddings as the model computes them, files round-trip, retrieval runs', { skip: NO_FFMPEG, timeout: 240_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-embed-');
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.copyFileSync(LYING, path.join(dir, 'b.mp4'));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'id,video,label\nfirst,a.mp4,happy\nsecond,b.mp4,sad\n');
  const src = await data.loadManifest(path.join(dir, 'm.csv'));
  const loader = new data.DataLoader(src, { recipe: RECIPE, batchSize: 1, onWarning: () => undefined });
  torch.manualSeed(0);
  const model = new SocialMAE(ENCODER);
  const live = torch.memory().liveTensors;
  const set = await train.embedDataset(model, loader);
  t.same(set.ids, ['first', 'second']);
  t.same(set.labels, ['happy', 'sad']);
  t.equal(set.dim, 32);
  t.equal(set.joint!.length, 64);
  // the same numbers as the model's own embed() on a batch of both
  const all = new data.DataLoader(src, { recipe: RECIPE, batchSize: 2, onWarning: () => undefined });
  for await (const b of all.epoch(0)) {
    const e = torch.noGrad(() => model.embed(b.audio!, b.video!));
    for (const k of ['audio', 'video', 'joint'] as const) {
      const want = e[k]!.toArray() as Float32Array;
      // batch of 1 vs batch of 2: the same per-item maths; float32 matmul blocking may differ slightly
      t.ok(
        want.every((x, i) => Math.abs(x - set[k]![i]!) <= 1e-5 * (1 + Math.abs(x))),
        `${k} as embed() computes it`,
      );
    }
    torch.dispose([e.audio, e.video, e.joint]);
    b.dispose();
  }
  const files = await train.writeEmbeddings(path.join(dir, 'emb'), set);
  t.same(
    files.map((f) => path.basename(f)),
    ['embeddings.safetensors', 'index.jsonl'],
  );
  t.same(
    fs
      .readFileSync(files[1]!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [
      { index: 0, id: 'first', label: 'happy' },
      { index: 1, id: 'second', label: 'sad' },
    ],
  );
  const back = await train.readEmbeddings(path.join(dir, 'emb'));
  t.same(back, set, 'read back exactly');
  const r = train.crossModalRetrieval(set.audio!, set.video!, 2, set.dim);
  for (const m of [r.audioToVideo, r.videoToAudio]) t.ok([m.R1, m.R5, m.R10].every((x) => x >= 0 && x <= 1) && m.R5 === 1, JSON.stringify(m));
  t.equal(torch.memory().liveTensors, live, 'no tensors left behind');
  await t.rejects(train.readEmbeddings(dir), { code: 'ERR_INVALID_ARG', message: /index\.jsonl does not exist/ });
  model.dispose();
  await loader.close();
  await all.close();
});
