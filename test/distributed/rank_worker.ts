/**
 * One rank of a test process group, started by helpers.ts with torchrun's variables (RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT). argv[2] names the scenario; the last stdout line is a JSON report.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { Worker } from 'worker_threads';
import { torch, nn, optim, Tensor, SocialMAE, SocialMAEFT } from '../../lib';
import * as dist from '../../lib/distributed';

const scenario = process.argv[2];
const report = (r: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(r)}\n`);
const vals = (t: Tensor): number[] => Array.from(t.toArray() as ArrayLike<number>, Number);

async function collectives(): Promise<Record<string, unknown>> {
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  const rank = dist.getRank(),
    world = dist.getWorldSize();
  const out: Record<string, unknown> = { rank, world };
  const v = () => torch.tensor([rank + 1, 2 * (rank + 1), -rank], { dtype: 'float32' });
  for (const op of ['sum', 'avg', 'min', 'max', 'product'] as const) {
    const t = v();
    await dist.allReduce(t, op);
    out[op] = vals(t);
    t.dispose();
  }
  const ints = torch.tensor([rank + 1], { dtype: 'int64' });
  await dist.allReduce(ints, 'sum');
  out.intSum = Number(ints.toArray()[0]);
  const b = torch.full([4], rank === 1 ? 7 : rank);
  await dist.broadcast(b, 1);
  out.broadcast = vals(b);
  const gathered = Array.from({ length: world }, () => torch.zeros([2]));
  const mine = torch.tensor([rank, rank * 10], { dtype: 'float32' });
  await dist.allGather(gathered, mine);
  out.allGather = gathered.map(vals);
  out.metrics = await dist.reduceMetrics({ loss: rank + 1, acc: rank }); // one float64 all-reduce of [acc, loss]
  // The event loop lives while a collective waits: rank 0 waits ~300 ms for rank 1 at the barrier.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  if (rank === 1) await new Promise((r) => setTimeout(r, 300));
  await dist.barrier();
  clearInterval(timer);
  out.ticksDuringBarrier = ticks;
  try {
    await dist.reduceScatter(
      torch.zeros([1]),
      Array.from({ length: world }, () => torch.ones([1])),
    );
    out.reduceScatter = 'ok';
  } catch (e) {
    out.reduceScatter = (e as { code?: string }).code;
  }
  try {
    await dist.allReduce(torch.ones([1]), 'mean' as dist.ReduceOp);
  } catch (e) {
    out.badOp = (e as { code?: string }).code;
  }
  await dist.destroyProcessGroup();
  out.initializedAfterDestroy = dist.isInitialized();
  return out;
}

/** Rank 0 starts an all-reduce (timeout argv[3] ms) that rank 1 never joins; the parent may kill rank 1. */
async function killed(): Promise<Record<string, unknown>> {
  // A generous group timeout: ranks of a loaded machine may start seconds apart.
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  const rank = dist.getRank();
  process.stdout.write('ready\n');
  if (rank !== 0) {
    await new Promise((r) => setTimeout(r, 600_000)); // killed by the parent
    return {};
  }
  const t = torch.ones([1024]);
  const started = Date.now();
  const p = dist.allReduce(t, 'sum', { timeoutMs: Number(process.argv[3] ?? 20_000) });
  process.stdout.write('started\n');
  try {
    await p;
    return { rank, result: 'completed' };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { rank, code: err.code, message: err.message, elapsedMs: Date.now() - started };
  }
}

/**
 * process.exit while an all-reduce waits for a peer that never comes (group timeout 10 min): rank 0 must
 * exit at once, not when the timeout or the peer ends the wait. Rank 1 sleeps until the parent kills it.
 */
async function exitWhileWaiting(): Promise<Record<string, unknown>> {
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 600_000 });
  if (dist.getRank() === 1) {
    await new Promise((r) => setTimeout(r, 600_000));
    return {};
  }
  void dist.allReduce(torch.ones([4])).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  process.stdout.write(`${JSON.stringify({ rank: 0, exiting: true })}\n`);
  process.exit(0);
}

/** Only rank 0 starts: the rendezvous times out. */
async function alone(): Promise<Record<string, unknown>> {
  try {
    await dist.initProcessGroup({ backend: 'gloo', timeoutMs: Number(process.argv[3] ?? 2000) });
    return { result: 'joined' };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { code: err.code, message: err.message, initialized: dist.isInitialized() };
  }
}

/** A tiny MLP, the same initial weights on every rank only after DDP's broadcast (seeded per rank). */
class Mlp extends nn.Module {
  fc1 = new nn.Linear(4, 8);
  fc2 = new nn.Linear(8, 2);
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(x).tanh());
  }
}

/** The union batch: 12 samples (divisible by 1, 2, 3 ranks and 2 micro-steps), deterministic. */
const UNION = 12;
function unionBatch(): { x: Tensor; y: Tensor } {
  const x = torch
    .arange(0, UNION * 4, 1, { dtype: 'float32' })
    .reshape([UNION, 4])
    .mul(0.05)
    .sin();
  const y = torch
    .arange(0, UNION * 2, 1, { dtype: 'float32' })
    .reshape([UNION, 2])
    .mul(0.3)
    .cos();
  return { x, y };
}

/**
 * Trains Mlp for `steps` SGD steps (momentum, lr 0.1) on MSE. world 1: the whole batch; otherwise rank r
 * takes rows [r * 12/world, (r+1) * 12/world) and DDP averages gradients. argv[3] = accumulation micro-steps
 * (the shard split again, the first ones under noSync). Reports the final parameters.
 */
async function train(): Promise<Record<string, unknown>> {
  const steps = 5;
  const micro = Number(process.argv[3] ?? 1);
  const distributed = Boolean(process.env.WORLD_SIZE); // the references run with WORLD_SIZE empty: no process group
  if (distributed) await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  const rank = distributed ? dist.getRank() : 0,
    world = distributed ? dist.getWorldSize() : 1;
  torch.manualSeed(1234 + rank * 17); // different initial weights per rank: the broadcast must fix them
  const model = new Mlp();
  const ddp = distributed ? await dist.DistributedDataParallel.wrap(model, { bucketCapMb: 0.0001 }) : null; // tiny cap: several buckets
  const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const { x, y } = unionBatch();
  const per = UNION / world;
  const xs = x.narrow(0, rank * per, per),
    ys = y.narrow(0, rank * per, per);
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    const mb = per / micro;
    for (let m = 0; m < micro; m++) {
      // loss scaled so that the sum over micro-steps and the mean over ranks is the union batch's mean loss
      const loss = model
        .forward(xs.narrow(0, m * mb, mb))
        .sub(ys.narrow(0, m * mb, mb))
        .square()
        .mean()
        .div(micro);
      if (!ddp) loss.backward();
      else if (m < micro - 1) await ddp.noSync(() => ddp.backward(loss));
      else await ddp.backward(loss);
    }
    opt.step();
  }
  const params = Object.fromEntries(model.namedParameters().map(([k, p]) => [k, vals(p)]));
  const keys = [...model.stateDict().keys()];
  if (distributed) await dist.destroyProcessGroup();
  return { rank, world, params, keys, buckets: ddp?.bucketSizes ?? null };
}

/**
 * What the gradient hooks do: after a plain backward every bucket's all-reduce has started (before any
 * sync call); under noSync none has; a second backward before the sync is refused with a coded error
 * (on both ranks, after the collectives completed), and the next step works again.
 */
async function hooks(): Promise<Record<string, unknown>> {
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  const rank = dist.getRank();
  torch.manualSeed(5);
  const model = new Mlp();
  const ddp = await dist.DistributedDataParallel.wrap(model, { bucketCapMb: 0.0001 });
  const x = torch.ones([2, 4]).mul(rank + 1);
  const out: Record<string, unknown> = { rank, buckets: ddp.bucketSizes.length };
  await ddp.noSync(() => model.forward(x).sum().backward());
  out.startedUnderNoSync = ddp.startedBuckets;
  model.forward(x).sum().backward();
  out.startedAfterBackward = ddp.startedBuckets;
  await ddp.syncGradients();
  out.startedAfterSync = ddp.startedBuckets;
  const loss = model.forward(x).sum();
  loss.backward(undefined, { retainGraph: true });
  loss.backward();
  try {
    await ddp.syncGradients();
    out.twice = 'ok';
  } catch (e) {
    out.twice = (e as { code?: string }).code;
  }
  for (const p of model.parameters()) p.grad = null;
  await ddp.backward(
    model
      .forward(x)
      .sum()
      .mul(rank + 1),
  );
  out.gradBias = vals(model.fc2.bias!.grad!); // d/d(bias) = 2 rows * (rank + 1): 2 and 4, average 3
  ddp.dispose();
  await dist.destroyProcessGroup();
  return out;
}

/**
 * The real models: a tiny SocialMAEFT (MSE on its logits) or SocialMAE (pretraining: MAE loss only —
 * `contrastLossWeight: 0`, see ddp.test.ts — and masking noise fixed per sample) trained 3 SGD steps on
 * a union batch of 4; rank r of `world` takes rows [r * 4/world, (r+1) * 4/world). argv[3] = 'ft' | 'pretrain'.
 */
async function trainModel(): Promise<Record<string, unknown>> {
  const kind = process.argv[3];
  const distributed = Boolean(process.env.WORLD_SIZE); // the references run with WORLD_SIZE empty: no process group
  if (distributed) await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  const rank = distributed ? dist.getRank() : 0,
    world = distributed ? dist.getWorldSize() : 1;
  const enc = { imgSize: 32, audioLength: 64, nFrame: 2, embedDim: 32, numHeads: 2, modalitySpecificDepth: 1 };
  torch.manualSeed(1234 + rank * 17);
  const model = kind === 'ft' ? new SocialMAEFT({ labelDim: 3, ...enc }) : new SocialMAE({ ...enc, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
  const ddp = distributed ? await dist.DistributedDataParallel.wrap(model) : null;
  // SGD, not Adam: the key part of each qkv bias has an exactly-zero true gradient (softmax ignores a
  // constant added to every key), so its computed gradient is rounding noise, which Adam normalises into
  // full ±lr steps that differ between any two summation orders. SGD keeps differences proportional.
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  torch.manualSeed(99); // the union batch and masking noise: the same in every process
  const B = 4;
  const audio = torch.randn([B, 64, 128]),
    video = torch.randn([B, 3, 32, 32, 2]),
    target = torch.randn([B, 3]);
  const noiseA = torch.rand([B, 32]),
    noiseV = torch.rand([B, 4]);
  const per = B / world;
  const mine = (t: Tensor) => t.narrow(0, rank * per, per);
  for (let s = 0; s < 3; s++) {
    opt.zeroGrad();
    const loss =
      model instanceof SocialMAEFT
        ? model.forward(mine(audio), mine(video)).sub(mine(target)).square().mean()
        : model.forward(mine(audio), mine(video), { contrastLossWeight: 0, noiseA: mine(noiseA), noiseV: mine(noiseV) }).loss;
    if (ddp) await ddp.backward(loss);
    else loss.backward();
    opt.step();
  }
  const params = Object.fromEntries(model.namedParameters().map(([k, p]) => [k, vals(p)]));
  if (distributed) await dist.destroyProcessGroup();
  return { rank, world, params };
}

/**
 * SocialMAE pretraining WITH the contrastive loss, 2 SGD steps on a union batch of 6 (masking noise fixed
 * per sample), for each case of CONTRAST_CASES. Under a process group rank r of W takes rows
 * [r*6/W, (r+1)*6/W) and, for scope 'global', gathers the contrastive representations of all ranks
 * (distributed.allGatherRows). Without one (the reference, argv[3] = W): 'global' trains on the union
 * batch; 'local' averages the W shards' losses (per-shard contrast: what DDP without a gather computes).
 * Also: allGatherRows with a different row count per rank, and its gradient (world size, see gather.ts).
 */
export const CONTRAST_CASES = [
  { weight: 0.01, scope: 'global' },
  { weight: 1, scope: 'global' },
  { weight: 1, scope: 'local' },
] as const;
async function contrast(): Promise<Record<string, unknown>> {
  const distributed = Boolean(process.env.WORLD_SIZE); // the references run with WORLD_SIZE empty: no process group
  if (distributed) await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  const rank = distributed ? dist.getRank() : 0;
  const world = distributed ? dist.getWorldSize() : Number(process.argv[3]);
  const enc = { imgSize: 32, audioLength: 64, nFrame: 2, embedDim: 32, numHeads: 2, modalitySpecificDepth: 1 };
  const B = 6;
  const per = B / world;
  const out: Record<string, unknown> = { rank, world };
  const only = (process.argv[4] ?? '0,1,2').split(',').map(Number); // which CONTRAST_CASES
  for (const [k, c] of CONTRAST_CASES.entries()) {
    if (!only.includes(k)) continue;
    torch.manualSeed(1234 + (distributed ? rank * 17 : 0));
    const model = new SocialMAE({ ...enc, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
    const ddp = distributed ? await dist.DistributedDataParallel.wrap(model) : null;
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }); // SGD: see trainModel
    torch.manualSeed(99);
    const audio = torch.randn([B, 64, 128]),
      video = torch.randn([B, 3, 32, 32, 2]);
    const noiseA = torch.rand([B, 32]),
      noiseV = torch.rand([B, 4]);
    const rows = (t: Tensor, s: number) => t.narrow(0, s * per, per);
    const lossOf = (s: number | null, gather?: (x: Tensor) => Tensor) => {
      const pick = (t: Tensor) => (s === null ? t : rows(t, s));
      const opts = { contrastLossWeight: c.weight, noiseA: pick(noiseA), noiseV: pick(noiseV), ...(gather ? { contrastGather: gather } : {}) };
      return model.forward(pick(audio), pick(video), opts).loss;
    };
    const losses: number[] = [];
    for (let step = 0; step < 2; step++) {
      opt.zeroGrad();
      if (ddp) {
        const loss = lossOf(rank, c.scope === 'global' ? (x) => dist.allGatherRows(x) : undefined);
        losses.push(loss.item());
        await ddp.backward(loss);
      } else {
        const loss =
          c.scope === 'global'
            ? lossOf(null)
            : Array.from({ length: world }, (_, s) => lossOf(s))
                .reduce((a, b) => a.add(b))
                .div(world);
        losses.push(loss.item());
        loss.backward();
      }
      opt.step();
    }
    out[`case${k}`] = { losses, params: Object.fromEntries(model.namedParameters().map(([n, p]) => [n, vals(p)])) };
    ddp?.dispose();
    opt.dispose();
    model.dispose();
  }
  if (distributed) {
    const x = torch.full([rank + 1, 2], rank + 1).requiresGrad_(true);
    const all = dist.allGatherRows(x);
    out.gathered = { shape: all.shape, values: vals(all) };
    all
      .mul(torch.arange(0, all.shape[0]!, 1, { dtype: 'float32' }).unsqueeze(1))
      .sum()
      .backward();
    out.gatheredGrad = vals(x.grad!);
    try {
      dist.allGatherRows(torch.ones([1, rank + 1])); // rows of another size on every rank
      out.mismatch = 'gathered';
    } catch (e) {
      out.mismatch = (e as { code?: string }).code;
    }
    out.afterMismatch = vals(dist.allGatherRows(torch.full([1], rank))); // the group still works
    await dist.destroyProcessGroup();
  }
  return out;
}

/**
 * Rank 1 leaves the group right after joining (argv[4] 'exit') or stays silent until the parent kills it
 * ('silent'); rank 0's synchronous allGatherRows (timeout argv[3] ms) must end with a coded error.
 */
async function gatherDead(): Promise<Record<string, unknown>> {
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  const rank = dist.getRank();
  if (rank === 1) {
    if (process.argv[4] === 'silent') await new Promise((r) => setTimeout(r, 600_000));
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, 500));
  const started = Date.now();
  try {
    dist.allGatherRows(torch.ones([2, 3]), { timeoutMs: Number(process.argv[3] ?? 20_000) });
    return { rank, result: 'completed' };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { rank, code: err.code, message: err.message, elapsedMs: Date.now() - started };
  }
}

/**
 * A fork while the synchronous allGatherRows blocks the JS thread: rank 0 starts a worker thread that,
 * after ~300 ms, spawns a child (a fork from that thread: it passes the fork gate only if no native call
 * holds it) and then writes argv[3]; meanwhile rank 0's JS thread waits in the gather. Rank 1 joins the
 * gather only once that file exists. Were the waiting gather holding the gate: ERR_DIST_TIMEOUT (30 s).
 */
async function forkWhileGathering(): Promise<Record<string, unknown>> {
  const flag = process.argv[3]!;
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 30_000 });
  const rank = dist.getRank();
  const x = torch.full([1, 2], rank + 1);
  if (rank === 0) {
    const code = `const { spawnSync } = require('child_process');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      const r = spawnSync('/bin/sh', ['-c', 'exit 0'], { timeout: 60000, killSignal: 'SIGKILL' });
      require('fs').writeFileSync(${JSON.stringify(flag)}, String(r.status));`;
    const worker = new Worker(code, { eval: true });
    const all = dist.allGatherRows(x);
    await worker.terminate();
    return { rank, spawnStatus: Number(fs.readFileSync(flag, 'utf8')), rows: vals(all) };
  }
  while (!fs.existsSync(flag)) await new Promise((r) => setTimeout(r, 20));
  return { rank, rows: vals(dist.allGatherRows(x)) };
}

/**
 * A fork while an all-reduce waits: rank 0 starts the all-reduce, then spawns a child process (Node forks
 * on this thread; the fork gate makes a fork wait for native calls in flight), then writes argv[3]; rank 1
 * joins the all-reduce only once that file exists. Were the waiting collective holding the fork gate, the
 * spawn would wait for rank 1 and rank 1 for the spawn: the all-reduce would end in ERR_DIST_TIMEOUT.
 */
async function forkWhileWaiting(): Promise<Record<string, unknown>> {
  const flag = process.argv[3]!;
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 30_000 });
  const rank = dist.getRank();
  const t = torch.ones([4]);
  if (rank === 0) {
    const p = dist.allReduce(t, 'sum');
    const child = spawnSync('/bin/sh', ['-c', 'exit 0'], { timeout: 60_000, killSignal: 'SIGKILL' });
    fs.writeFileSync(flag, 'go');
    await p;
    return { rank, spawnStatus: child.status, sum: vals(t) };
  }
  while (!fs.existsSync(flag)) await new Promise((r) => setTimeout(r, 20));
  await dist.allReduce(t, 'sum');
  return { rank, sum: vals(t) };
}

/** Under the launcher: rank 1 fails after joining, rank 0 would wait forever (the launcher must stop it). */
async function failOne(): Promise<Record<string, unknown>> {
  await dist.initProcessGroup({ backend: 'gloo', timeoutMs: 60_000 });
  if (dist.getRank() === 1) process.exit(3);
  await new Promise((r) => setTimeout(r, 600_000));
  return {};
}

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  collectives,
  killed,
  alone,
  train,
  trainModel,
  contrast,
  gatherDead,
  forkWhileGathering,
  hooks,
  forkWhileWaiting,
  failOne,
  exitWhileWaiting,
};

(async () => {
  const run = scenarios[scenario ?? ''];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  report(await run());
})().catch((e: unknown) => {
  const err = e as { code?: string; message?: string; stack?: string };
  report({ error: err.message ?? String(e), code: err.code, stack: err.stack });
  process.exitCode = 1;
});
