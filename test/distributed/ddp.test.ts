/**
 * DistributedDataParallel: 2 and 3 Gloo ranks on loopback train a small MLP on disjoint shards of one
 * batch and end with the parameters of a single-process run on the whole batch; with gradient
 * accumulation (noSync) too. The ranks start from different random weights: DDP's broadcast at wrap
 * must align them. Plus bucketing and reduceMetrics.
 */
import t from 'tap';
import { torch } from '../../lib';
import * as dist from '../../lib/distributed';
import { freePort, start, startNodeRanks, WORKER } from './helpers';

const LIMIT_MS = 120_000;
const skip = dist.availableBackends().includes('gloo') ? false : 'this build has no Gloo (needs libgloo-dev at build time)';
type Params = Record<string, number[]>;

/** The single-process reference: the whole batch in one process, no process group. */
async function reference(micro: number): Promise<Params> {
  const env = { WORLD_SIZE: '', RANK: '', SOCIAL_MAE_NUM_THREADS: '1' };
  const r = await start(process.execPath, [WORKER, 'train', String(micro)], env, LIMIT_MS).done;
  if (r.code !== 0) throw new Error(`reference run failed: ${r.stdout} ${r.stderr}`);
  return r.report!.params as Params;
}

function maxDiff(a: Params, b: Params): number {
  let d = 0;
  for (const k of Object.keys(b)) for (let i = 0; i < b[k]!.length; i++) d = Math.max(d, Math.abs(a[k]![i]! - b[k]![i]!));
  return d;
}

for (const [world, micro] of [
  [2, 1],
  [3, 1],
  [2, 2],
] as const) {
  t.test(`${world} ranks${micro > 1 ? `, ${micro} accumulation steps (noSync)` : ''} = one process on the union batch`, { skip }, async (t) => {
    const port = await freePort();
    const [ref, ...ranks] = await Promise.all([reference(micro), ...startNodeRanks('train', world, port, LIMIT_MS, [String(micro)]).map((r) => r.done)]);
    for (const [rank, r] of ranks.entries()) {
      t.equal(r.code, 0, `rank ${rank} exits 0 (${r.stderr.slice(-400)} ${r.stdout.slice(-400)})`);
      t.same(r.report!.keys, ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'], 'state-dict keys unchanged');
      // reverse parameter order: [fc2.bias, fc2.weight, fc1.bias] = 104 bytes, then [fc1.weight]
      t.same(r.report!.buckets, [3, 1], 'a 104-byte bucket cap gives two buckets');
      // Every rank applied the same averaged gradients: identical parameters, bit for bit.
      t.same(r.report!.params, ranks[0]!.report!.params, `rank ${rank} equals rank 0`);
    }
    // float32: per-shard means averaged across ranks vs one mean over the batch differ in summation
    // order (~1e-7 relative per step); 5 SGD steps with momentum stay well inside 1e-5.
    const d = maxDiff(ranks[0]!.report!.params as Params, ref);
    t.ok(d < 1e-5, `max |param - reference| = ${d.toExponential(2)} < 1e-5`);
  });
}

// The MAE loss alone (contrastLossWeight 0): per-sample terms, so plain DDP averaging is the union batch.
// The contrastive loss compares every clip with every other clip of the batch: ddp_contrast.test.ts.
for (const kind of ['ft', 'pretrain'] as const) {
  t.test(`Social-MAE ${kind === 'ft' ? 'finetuning' : 'pretraining (MAE loss)'}: 2 ranks = one process on the union batch`, { skip }, async (t) => {
    const port = await freePort();
    const env = { WORLD_SIZE: '', RANK: '', SOCIAL_MAE_NUM_THREADS: '1' };
    const [ref, ...ranks] = await Promise.all([
      start(process.execPath, [WORKER, 'trainModel', kind], env, LIMIT_MS).done,
      ...startNodeRanks('trainModel', 2, port, LIMIT_MS, [kind]).map((r) => r.done),
    ]);
    for (const [rank, r] of [ref, ...ranks].entries()) t.equal(r.code, 0, `process ${rank}: ${r.stderr.slice(-400)} ${r.stdout.slice(-400)}`);
    t.same(ranks[1]!.report!.params, ranks[0]!.report!.params, 'both ranks hold identical parameters');
    // float32 transformer (LayerNorm, softmax): shard means averaged across ranks vs one batch mean reorder
    // sums (~1e-7 relative per gradient); 3 SGD steps (lr 0.05, momentum 0.9) keep parameter differences
    // around 1e-6; 1e-5 leaves room for BLAS kernels that block differently by batch size.
    const d = maxDiff(ranks[0]!.report!.params as Params, ref.report!.params as Params);
    t.ok(d < 1e-5, `max |param - reference| = ${d.toExponential(2)} < 1e-5`);
  });
}

t.test('gradient hooks: reductions start during backward, not under noSync; a double backward is refused', { skip }, async (t) => {
  const port = await freePort();
  const results = await Promise.all(startNodeRanks('hooks', 2, port, LIMIT_MS).map((r) => r.done));
  for (const [rank, r] of results.entries()) {
    t.equal(r.code, 0, `rank ${rank}: ${r.stderr.slice(-400)} ${r.stdout.slice(-400)}`);
    const rep = r.report!;
    t.equal(rep.startedUnderNoSync, 0);
    t.equal(rep.startedAfterBackward, rep.buckets, 'every bucket started by the hooks before the sync was called');
    t.equal(rep.startedAfterSync, 0);
    t.equal(rep.twice, 'ERR_INVALID_STATE');
    t.same(rep.gradBias, [3, 3], 'the next step averages again (2 and 4 -> 3)');
  }
});

t.test('bucketize: cap, dtype boundaries, oversized tensors alone', async (t) => {
  const a = torch.zeros([10]),
    b = torch.zeros([10]),
    c = torch.zeros([100]),
    d = torch.zeros([5], { dtype: 'float64' });
  t.same(
    dist.bucketize([a, b, c, d], 80).map((bk) => bk.map((x) => x.numel())),
    [[10, 10], [100], [5]],
  );
  t.same(
    dist.bucketize([a, b, c, d], 1e6).map((bk) => bk.length),
    [3, 1],
  );
  t.same(
    dist.bucketize([a, b, c, d], 1e6, 40).map((bk) => bk.length),
    [1, 2, 1],
    'a smaller first bucket (PyTorch: 1 MB)',
  );
  torch.dispose([a, b, c, d]);
});

t.test('DDP needs a process group; reduceMetrics without one is a copy', async (t) => {
  await t.rejects(dist.DistributedDataParallel.wrap({} as never), { code: 'ERR_DIST_NOT_INITIALIZED' });
  t.same(await dist.reduceMetrics({ loss: 1.5 }), { loss: 1.5 });
  await t.rejects(dist.reduceMetrics({ loss: 'x' as unknown as number }), { code: 'ERR_INVALID_ARG' });
});
