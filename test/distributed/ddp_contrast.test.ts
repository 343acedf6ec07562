/**
 * The pretraining contrastive loss under DDP (lib/distributed/gather.ts): 2 and 3 Gloo ranks train a tiny
 * SocialMAE with the contrastive loss on (weight 0.01, the reference's, and 1) and end with the parameters
 * of one process on the union batch (scope 'global': the representations all-gathered), or of the mean of
 * the per-shard losses (scope 'local', the reference's nn.DataParallel semantics). Plus allGatherRows with
 * unequal row counts and its gradient, and a rank gone before the synchronous gather.
 */
import t from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, train, SocialMAE } from '../../lib';
import * as dist from '../../lib/distributed';
import { freePort, start, startNodeRanks, WORKER } from './helpers';

const LIMIT_MS = 120_000;
const skip = dist.availableBackends().includes('gloo') ? false : 'this build has no Gloo (needs libgloo-dev at build time)';
type Params = Record<string, number[]>;

function maxDiff(a: Params, b: Params): number {
  let d = 0;
  for (const k of Object.keys(b)) for (let i = 0; i < b[k]!.length; i++) d = Math.max(d, Math.abs(a[k]![i]! - b[k]![i]!));
  return d;
}

type Case = { losses: number[]; params: Params };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

for (const [world, cases] of [
  [2, [0, 1, 2]],
  [3, [0, 1]],
] as const) {
  t.test(
    `Social-MAE pretraining WITH the contrastive loss: ${world} ranks, scope global = one process on the union batch, local = per shard`,
    { skip },
    async (t) => {
      const port = await freePort();
      const env = { WORLD_SIZE: '', RANK: '', SOCIAL_MAE_NUM_THREADS: '1' };
      const [ref, ...ranks] = await Promise.all([
        start(process.execPath, [WORKER, 'contrast', String(world), cases.join(',')], env, LIMIT_MS).done,
        ...startNodeRanks('contrast', world, port, LIMIT_MS, ['', cases.join(',')]).map((r) => r.done),
      ]);
      for (const [p, r] of [ref, ...ranks].entries()) t.equal(r.code, 0, `process ${p}: ${r.stderr.slice(-400)} ${r.stdout.slice(-400)}`);
      if (ranks.some((r) => r.code !== 0) || ref.code !== 0) return;
      const read = (r: (typeof ranks)[number]) => [0, 1, 2].map((k) => r.report![`case${k}`] as Case);
      const refCases = read(ref);
      const rankCases = ranks.map(read);
      for (const k of cases) {
        const name = ['weight 0.01, global', 'weight 1, global', 'weight 1, local'][k]!;
        for (const [rank, rc] of rankCases.entries()) t.same(rc[k]!.params, rankCases[0]![k]!.params, `${name}: rank ${rank} holds rank 0's parameters`);
        // float32, as the MAE-only test in ddp.test.ts: the gathered [N, N] similarity matrix is computed
        // from representations each rank encoded on its shard (sums in another order than one batch of N:
        // ~1e-7 relative; temperature 0.05 amplifies the similarity's rounding 20-fold); the gradient of the
        // own rows is scaled by W and averaged by DDP (exact for W = 2, a rounding for W = 3). 2 SGD steps
        // (lr 0.05, momentum 0.9) measured <= 1.9e-7 with weight 1 (3.4e-7 after 3 steps); 2e-5 leaves room
        // for other BLAS kernels. A missing or wrongly scaled gather moves parameters by > 1e-3.
        const d = maxDiff(rankCases[0]![k]!.params, refCases[k]!.params);
        t.ok(d < 2e-5, `${name}: max |param - one process| = ${d.toExponential(2)} < 2e-5`);
        // each rank's loss: its shard's MAE loss + the contrastive loss (global: the same on every rank);
        // their mean is the union batch's loss (local: the mean of the shard losses)
        for (let s = 0; s < 2; s++) {
          const m = mean(rankCases.map((rc) => rc[k]!.losses[s]!));
          const want = refCases[k]!.losses[s]!;
          t.ok(Math.abs(m - want) <= 1e-5 * Math.abs(want), `${name}, step ${s}: mean rank loss ${m} = one process ${want} (1e-5 relative)`);
        }
      }
      // The scope matters (the check above can fail): local contrast trains to other parameters than global.
      if ((cases as readonly number[]).includes(2)) {
        const apart = maxDiff(rankCases[0]![2]!.params, refCases[1]!.params);
        t.ok(apart > 1e-3, `local differs from global by ${apart.toExponential(2)} > 1e-3`);
      }
      // allGatherRows with rank r holding r + 1 rows of value r + 1: rank order, every rank the same; the
      // gradient of sum(row index * row) reaches the own rows times the world size
      const n = (world * (world + 1)) / 2;
      const rowsOf = (r: number) => Array.from({ length: r + 1 }, () => r + 1);
      const expected = Array.from({ length: world }, (_, r) => rowsOf(r)).flat();
      for (const [rank, r] of ranks.entries()) {
        const g = r.report!.gathered as { shape: number[]; values: number[] };
        t.same(g.shape, [n, 2], `rank ${rank}: ${n} gathered rows`);
        t.same(
          g.values,
          expected.flatMap((v) => [v, v]),
        );
        const first = (rank * (rank + 1)) / 2;
        t.same(
          r.report!.gatheredGrad,
          Array.from({ length: rank + 1 }, (_, i) => [world * (first + i), world * (first + i)]).flat(),
          `rank ${rank}: gradient = world size x row index`,
        );
        t.equal(r.report!.mismatch, 'ERR_SHAPE_MISMATCH', `rank ${rank}: rows of different sizes are refused on every rank`);
        t.same(
          r.report!.afterMismatch,
          Array.from({ length: world }, (_, k) => k),
          'the group works on',
        );
      }
    },
  );
}

t.test('a rank gone before the synchronous all-gather: the other ends with a coded error, not a hang', { skip }, async (t) => {
  const port = await freePort();
  const [r0, r1] = await Promise.all(startNodeRanks('gatherDead', 2, port, LIMIT_MS, ['20000', 'exit']).map((r) => r.done));
  t.equal(r1!.code, 0);
  t.equal(r0!.code, 0, r0!.stderr.slice(-400));
  t.equal(r0!.report!.code, 'ERR_DIST_PEER', String(r0!.report!.message));
  t.match(r0!.report!.message, /allGather/);
  // the bound is the timeout plus slack for a loaded machine, not a speed claim
  t.ok((r0!.report!.elapsedMs as number) < 20_000 + 10_000, 'within the timeout (20 s) plus slack');
});

t.test('a silent rank during the synchronous all-gather: ERR_DIST_TIMEOUT after the timeout, not a hang', { skip }, async (t) => {
  const port = await freePort();
  const [s0, s1] = startNodeRanks('gatherDead', 2, port, LIMIT_MS, ['3000', 'silent']);
  const r0 = await s0!.done;
  s1!.child.kill('SIGKILL');
  await s1!.done;
  t.equal(r0.code, 0, r0.stderr.slice(-400));
  t.equal(r0.report!.code, 'ERR_DIST_TIMEOUT', String(r0.report!.message));
  t.match(r0.report!.message, /timed out after 3000 ms/);
  t.ok((r0.report!.elapsedMs as number) >= 2900, 'not before the timeout');
});

t.test('the synchronous gather does not hold the fork gate: a fork from another thread proceeds meanwhile', { skip }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-gather-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const results = await Promise.all(startNodeRanks('forkWhileGathering', 2, port, LIMIT_MS, [path.join(dir, 'go')]).map((r) => r.done));
  for (const [rank, r] of results.entries()) {
    t.equal(r.code, 0, `rank ${rank}: ${r.stdout.slice(-400)} ${r.stderr.slice(-400)}`);
    t.same(r.report!.rows, [1, 1, 2, 2]);
  }
  t.equal(results[0]!.report!.spawnStatus, 0, 'the child process ran while the JS thread waited in the gather');
});

t.test('without a process group: allGatherRows refuses, contrastGather is checked, an identity gather changes nothing', async (t) => {
  t.throws(() => dist.allGatherRows(torch.ones([2, 2])), { code: 'ERR_DIST_NOT_INITIALIZED' });
  torch.manualSeed(7);
  const model = new SocialMAE({
    imgSize: 32,
    audioLength: 64,
    nFrame: 2,
    embedDim: 32,
    numHeads: 2,
    modalitySpecificDepth: 1,
    decoderEmbedDim: 16,
    decoderDepth: 1,
    decoderNumHeads: 2,
  });
  const [audio, video, noiseA, noiseV] = [torch.randn([3, 64, 128]), torch.randn([3, 3, 32, 32, 2]), torch.rand([3, 32]), torch.rand([3, 4])];
  const opts = { contrastLossWeight: 1, noiseA, noiseV };
  t.throws(() => model.forward(audio, video, { ...opts, contrastGather: 'all' as never }), { code: 'ERR_INVALID_ARG', message: /contrastGather/ });
  t.throws(() => model.forward(audio, video, { ...opts, contrastGather: (x) => x.narrow(1, 0, 4) }), { code: 'ERR_INVALID_ARG', message: /must return/ });
  const plain = model.forward(audio, video, opts).lossC.item();
  t.equal(model.forward(audio, video, { ...opts, contrastGather: (x) => x }).lossC.item(), plain, 'bit for bit');
  await t.rejects(train.pretrain(model, {} as never, { epochs: 1, contrastScope: 'all' as never }), { code: 'ERR_INVALID_ARG', message: /contrastScope/ });
  t.same(train.CONTRAST_SCOPES, ['global', 'local']);
  model.dispose();
});
