/**
 * torch.distributed on real c10d Gloo over loopback: two Node ranks (child processes running
 * rank_worker.ts) run every collective; argument errors; a rendezvous nobody joins times out with a
 * coded error; a rank killed while its peer waits in an all-reduce makes the peer fail within the
 * timeout, nothing hangs.
 */
import t from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch } from '../../lib';
import * as dist from '../../lib/distributed';
import { freePort, start, startNodeRanks, WORKER } from './helpers';

const LIMIT_MS = 120_000; // per child: generous for a loaded 2-core machine
const glooSkip = dist.availableBackends().includes('gloo') ? false : 'this build has no Gloo (needs libgloo-dev at build time)';

t.test('two Node ranks: allReduce (every op), broadcast, allGather, barrier, reduceScatter refusal', { skip: glooSkip }, async (t) => {
  const port = await freePort();
  const results = await Promise.all(startNodeRanks('collectives', 2, port, LIMIT_MS).map((r) => r.done));
  for (const [rank, r] of results.entries()) {
    t.equal(r.code, 0, `rank ${rank} exits 0 (stderr: ${r.stderr.slice(-500)})`);
    const rep = r.report!;
    t.equal(rep.rank, rank);
    // rank r contributes [r+1, 2(r+1), -r]
    t.same(rep.sum, [3, 6, -1]);
    t.same(rep.avg, [1.5, 3, -0.5]);
    t.same(rep.min, [1, 2, -1]);
    t.same(rep.max, [2, 4, 0]);
    t.same(rep.product, [2, 8, -0]);
    t.equal(rep.intSum, 3, 'int64 tensors reduce too');
    t.same(rep.metrics, { acc: 0.5, loss: 1.5 }, 'reduceMetrics averages across ranks');
    t.same(rep.broadcast, [7, 7, 7, 7], 'broadcast from rank 1');
    t.same(rep.allGather, [
      [0, 0],
      [1, 10],
    ]);
    t.equal(rep.reduceScatter, 'ERR_UNSUPPORTED', 'Gloo in LibTorch 1.13 has no reduce_scatter: a coded refusal');
    t.equal(rep.badOp, 'ERR_INVALID_ARG');
    t.equal(rep.initializedAfterDestroy, false);
  }
  // rank 1 arrives 300 ms late at the barrier: rank 0's event loop kept running meanwhile (its wait is
  // off the JS thread); a blocked loop would count no ticks at all.
  t.ok((results[0]!.report!.ticksDuringBarrier as number) > 0, 'the event loop ran while rank 0 waited');
});

t.test('argument and state errors are coded, never a crash', async (t) => {
  await t.rejects(dist.allReduce(torch.ones([1])), { code: 'ERR_DIST_NOT_INITIALIZED' });
  t.throws(() => dist.getRank(), { code: 'ERR_DIST_NOT_INITIALIZED' });
  t.equal(dist.isInitialized(), false);
  t.equal(dist.isMainProcess(), true, 'no group: this process is the main one');
  await t.rejects(dist.initProcessGroup({ backend: 'mpi' as dist.Backend }), { code: 'ERR_INVALID_ARG' });
  await t.rejects(dist.initProcessGroup({ rank: 2, worldSize: 2 }), { code: 'ERR_INVALID_ARG', message: /rank/ });
  await t.rejects(dist.initProcessGroup({ worldSize: 2, rank: 0, masterPort: 70000 }), { code: 'ERR_INVALID_ARG', message: /masterPort/ });
  await t.rejects(dist.initProcessGroup({ timeoutMs: -1 }), { code: 'ERR_INVALID_ARG', message: /timeoutMs/ });
  await t.rejects(dist.initProcessGroup({ worldsize: 2 } as dist.InitOptions), { code: 'ERR_INVALID_ARG', message: /worldsize/ });
  await dist.destroyProcessGroup(); // no group: a no-op
});

t.test('a single-rank group works in process (world size 1)', { skip: glooSkip }, async (t) => {
  const port = await freePort();
  const info = await dist.initProcessGroup({ backend: 'gloo', rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 30_000 });
  t.same(info, { backend: 'gloo', rank: 0, worldSize: 1, timeoutMs: 30_000 });
  await t.rejects(dist.initProcessGroup({ worldSize: 1, masterPort: port }), { code: 'ERR_INVALID_STATE' });
  await t.rejects(dist.allReduce(torch.tensor([1, 2, 3]), 'avg'), { code: 'ERR_DTYPE', message: /floating point/ });
  const x = torch.tensor([1, 2, 3], { dtype: 'float32' });
  await dist.allReduce(x, 'avg');
  t.same(Array.from(x.toArray() as Float32Array), [1, 2, 3]);
  await t.rejects(dist.allGather([torch.zeros([3]), torch.zeros([3])], x), { code: 'ERR_INVALID_ARG', message: /1 tensors/ });
  await t.rejects(dist.allGather([torch.zeros([3], { dtype: 'int64' })], x), { code: 'ERR_DTYPE' });
  await t.rejects(dist.broadcast(x, 1), { code: 'ERR_INVALID_ARG', message: /src/ });
  await t.rejects(dist.allReduce([] as never), { code: 'ERR_INVALID_ARG' });
  t.same(await dist.reduceMetrics({ loss: 2, acc: 0.5 }), { loss: 2, acc: 0.5 });
  await dist.destroyProcessGroup();
  t.equal(dist.isInitialized(), false);
});

t.test('a rendezvous nobody else joins times out with ERR_DIST_TIMEOUT', { skip: glooSkip }, async (t) => {
  const port = await freePort();
  const r = await start(
    process.execPath,
    [WORKER, 'alone', '1500'],
    { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
    LIMIT_MS,
  ).done;
  t.equal(r.code, 0, r.stderr);
  t.equal(r.report!.code, 'ERR_DIST_TIMEOUT');
  t.match(r.report!.message as string, /rank 0\/2/);
  t.equal(r.report!.initialized, false);
});

t.test('a rank killed while its peer waits in allReduce: the peer fails with a coded error, nothing hangs', { skip: glooSkip }, async (t) => {
  const port = await freePort();
  const timeoutMs = 20_000;
  const [r0, r1] = startNodeRanks('killed', 2, port, LIMIT_MS, [String(timeoutMs)]);
  await Promise.all([r0!.waitFor('ready'), r1!.waitFor('ready')]);
  await r0!.waitFor('started');
  r1!.child.kill('SIGKILL');
  const [a, b] = await Promise.all([r0!.done, r1!.done]);
  t.equal(b.signal, 'SIGKILL');
  t.equal(a.code, 0, a.stderr);
  const rep = a.report!;
  t.not(rep.result, 'completed');
  t.ok(['ERR_DIST_PEER', 'ERR_DIST_TIMEOUT'].includes(rep.code as string), `coded error (${String(rep.code)}: ${String(rep.message)})`);
  // The bound is the group's timeout (plus slack for a loaded machine), not a speed claim: a lost peer
  // is reported by the socket at once, a silent one by the timeout.
  t.ok((rep.elapsedMs as number) < timeoutMs + 10_000, `failed within the timeout (${String(rep.elapsedMs)} ms)`);
});

t.test('a collective waiting for a peer does not hold the fork gate: a spawn meanwhile proceeds', { skip: glooSkip }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-dist-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const results = await Promise.all(startNodeRanks('forkWhileWaiting', 2, port, LIMIT_MS, [path.join(dir, 'go')]).map((r) => r.done));
  for (const [rank, r] of results.entries()) {
    t.equal(r.code, 0, `rank ${rank}: ${r.stdout.slice(-400)} ${r.stderr.slice(-400)}`);
    t.same(r.report!.sum, [2, 2, 2, 2]);
  }
  t.equal(results[0]!.report!.spawnStatus, 0, 'the child process ran while the all-reduce waited');
});

t.test('process.exit while a collective waits for an absent peer exits at once (not after the 10 min timeout)', { skip: glooSkip }, async (t) => {
  const port = await freePort();
  const [r0, r1] = startNodeRanks('exitWhileWaiting', 2, port, LIMIT_MS);
  // LIMIT_MS (2 min) < the group's timeout (10 min): a hanging exit fails here instead of passing late.
  const a = await r0!.done;
  r1!.child.kill('SIGKILL');
  await r1!.done;
  t.equal(a.code, 0, a.stderr.slice(-400));
  t.equal(a.report!.exiting, true);
});

t.test('a peer that stays alive but never joins: ERR_DIST_TIMEOUT after the timeout', { skip: glooSkip }, async (t) => {
  const port = await freePort();
  const [r0, r1] = startNodeRanks('killed', 2, port, LIMIT_MS, ['1500']); // rank 1 joins the group, then sleeps
  // the 1.5 s is the all-reduce's own timeout (the group's is 60 s)
  const a = await r0!.done;
  r1!.child.kill('SIGKILL');
  await r1!.done;
  t.equal(a.code, 0, a.stderr.slice(-400));
  t.equal(a.report!.code, 'ERR_DIST_TIMEOUT', String(a.report!.message));
});
