/**
 * Prepared for a machine with one GPU (not yet run there): the NCCL path at world size 1.
 *   1. collectives on CUDA tensors through ProcessGroupNCCL (allReduce sum/avg, broadcast, allGather)
 *      give the expected values (allGatherRows returns its input at world size 1: its synchronous NCCL
 *      all-gather needs 2 GPUs and is not exercised here);
 *   2. a Social-MAE pretraining step under DDP on NCCL (gradient buckets all-reduced, world size 1) ends
 *      with the parameters of the same steps without a process group (DDP's average over one rank is the
 *      identity: expected equal up to the bucket copy, i.e. bit for bit);
 *   3. the overhead: median step time with DDP + NCCL vs the plain step, in interleaved rounds.
 * Prints one JSON object; `--out file` writes it too.
 *
 *   node dist/bench/gpu/nccl_check.js [--steps 8] [--rounds 3] [--batch 36] [--out nccl.json]
 *   node dist/bench/gpu/nccl_check.js --device cpu --backend gloo --tiny --batch 4   # smoke test without a GPU
 *
 * Full size on CUDA runs under bf16 autocast as bench/gpu/ours.ts; --tiny is a small fp32 model.
 */
import * as fs from 'fs';
import { torch, optim, SocialMAE, type Tensor } from '../../lib';
import * as dist from '../../lib/distributed';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const DEVICE = arg('device', 'cuda:0');
const BACKEND = arg('backend', 'nccl') as dist.Backend;
const GPU = DEVICE.startsWith('cuda');
const TINY = process.argv.includes('--tiny');
const STEPS = Number(arg('steps', '8'));
const ROUNDS = Number(arg('rounds', '3'));
const BATCH = Number(arg('batch', TINY ? '4' : '36'));
const OPTS = TINY
  ? { imgSize: 64, audioLength: 128, nFrame: 4, embedDim: 64, numHeads: 4, modalitySpecificDepth: 1, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4 }
  : {};
const sync = () => (GPU ? torch.cuda.synchronize() : undefined);
const amp = <T>(fn: () => T): T => (GPU && !TINY ? torch.autocast(fn, { dtype: 'bfloat16' }) : fn());

async function collectives(): Promise<Record<string, unknown>> {
  const v = () => torch.tensor([1, 2, 3], { dtype: 'float32' }).to(DEVICE);
  const out: Record<string, unknown> = {};
  for (const op of ['sum', 'avg'] as const) {
    const t = v();
    await dist.allReduce(t, op);
    out[op] = Array.from(t.to('cpu').toArray() as Float32Array);
  }
  const b = v();
  await dist.broadcast(b, 0);
  out.broadcast = Array.from(b.to('cpu').toArray() as Float32Array);
  const g = [torch.zeros([3], { device: DEVICE })];
  await dist.allGather(g, v());
  out.allGather = Array.from(g[0]!.to('cpu').toArray() as Float32Array);
  const rows = dist.allGatherRows(torch.ones([2, 4], { device: DEVICE }));
  out.allGatherRows = rows.shape;
  out.ok = JSON.stringify(out.sum) === '[1,2,3]' && JSON.stringify(out.avg) === '[1,2,3]' && JSON.stringify(out.allGather) === '[1,2,3]';
  return out;
}

/** `steps` pretraining steps from seed 0 (DDP-wrapped when `ddp`); returns step times and the parameters. */
async function train(ddp: boolean, steps: number): Promise<{ times: number[]; params: Tensor[]; model: SocialMAE }> {
  torch.manualSeed(0);
  const model = new SocialMAE(OPTS);
  model.to(DEVICE).train();
  const wrapped = ddp ? await dist.DistributedDataParallel.wrap(model) : null;
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-4, betas: [0.95, 0.999], weightDecay: 5e-7, fused: GPU });
  const { audioLength, imgSize, nFrame } = model.config;
  torch.manualSeed(1);
  const a = torch.keep(torch.randn([BATCH, audioLength, 128], { device: DEVICE }));
  const v = torch.keep(torch.randn([BATCH, 3, imgSize[0], imgSize[1], nFrame], { device: DEVICE }));
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    sync();
    const t0 = performance.now();
    opt.zeroGrad();
    torch.tidy(() => amp(() => model.forward(a, v, wrapped ? { contrastGather: (x) => dist.allGatherRows(x) } : {}).loss).backward());
    if (wrapped) await wrapped.syncGradients();
    opt.step();
    sync();
    times.push((performance.now() - t0) / 1000);
  }
  wrapped?.dispose();
  opt.dispose();
  torch.dispose([a, v]);
  return { times, params: model.parameters(), model };
}

async function main(): Promise<void> {
  const info = await dist.initProcessGroup({ backend: BACKEND, rank: 0, worldSize: 1, masterPort: await dist.freePort(), timeoutMs: 120_000 });
  const result: Record<string, unknown> = { bench: 'nccl_check', date: new Date().toISOString(), device: DEVICE, group: info, tiny: TINY, batch: BATCH };
  result.collectives = await collectives();
  // parity: the same steps with and without DDP
  const plain = await train(false, 3);
  const ddp = await train(true, 3);
  let maxDiff = 0;
  torch.tidy(() => {
    for (const [k, p] of plain.params.entries()) maxDiff = Math.max(maxDiff, p.sub(ddp.params[k]!).abs().max().item());
  });
  result.parity = { steps: 3, maxAbsDiff: maxDiff, bitExact: maxDiff === 0 };
  plain.model.dispose();
  ddp.model.dispose();
  // overhead, interleaved rounds (the first 2 steps of every run are warm-up)
  const t: Record<'plain' | 'ddp', number[]> = { plain: [], ddp: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of r % 2 ? (['ddp', 'plain'] as const) : (['plain', 'ddp'] as const)) {
      const run = await train(kind === 'ddp', STEPS + 2);
      t[kind].push(...run.times.slice(2));
      run.model.dispose();
    }
  }
  result.overhead = {
    plain_median_s: median(t.plain),
    ddp_median_s: median(t.ddp),
    ratio: median(t.ddp) / median(t.plain),
    samples_per_s: { plain: BATCH / median(t.plain), ddp: BATCH / median(t.ddp) },
    steps: t.plain.length,
  };
  await dist.destroyProcessGroup();
  const json = JSON.stringify(result, null, 2);
  console.log(json);
  const out = arg('out', '');
  if (out) fs.writeFileSync(out, `${json}\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
