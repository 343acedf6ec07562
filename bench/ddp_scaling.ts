/**
 * Data-parallel scaling on this CPU: one training step of a small Social-MAE FT model (dim 128, 23 blocks,
 * 64 px video of 4 frames, 128 fbank frames; 4.83 M parameters, gradient buckets of 1 MB then ~18 MB) on a global
 * batch of 8, as 1 process with 1 or 2 threads vs 2 processes (Gloo on loopback, batch 4 each) with 1
 * thread each — ours (lib/distributed DDP) and PyTorch's DDP (bench/py/ddp_scaling.py, the same model from
 * bench/py/model_cpu.py) side by side, in interleaved rounds.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/ddp_scaling.js [--rounds 2] [--steps 5] [--no-py]
 *
 * A step = zero grads, forward, backward, gradient all-reduce (both overlapped with backward: ours by
 * gradient hooks, PyTorch by its Reducer, with find_unused_parameters since the multimodal forward leaves
 * the modality-specific norms unused), SGD step. Reported per configuration: the median step time of
 * rank 0 over all rounds, samples/s of the global batch, and for ours the median time `syncGradients` waits
 * after backward (the reduction left over, plus waiting for a slower rank). Results: bench/results/ddp_scaling.json.
 *
 * Pretraining (ours only, 2 processes x 1 thread, interleaved with the rest): one step of a SocialMAE of the
 * same encoder (decoder dim 64, 2 blocks; MAE + contrastive loss, weight 0.01) with the contrastive loss
 * over the global batch ('global': representations all-gathered, distributed.allGatherRows) vs each
 * rank's shard ('local': no gather); also the median time inside the gather (two synchronous Gloo
 * all-gathers: row counts, then [4, 256] floats).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, SocialMAE, SocialMAEFT, optim, type Tensor } from '../lib';
import * as dist from '../lib/distributed';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const ROOT = path.join(__dirname, '..', '..');
const GLOBAL_BATCH = 8;
const CFG = { labelDim: 6, imgSize: 64, audioLength: 128, nFrame: 4, embedDim: 128, numHeads: 2 };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const { labelDim: _labelDim, ...ENCODER } = CFG;
const PRETRAIN = { ...ENCODER, decoderEmbedDim: 64, decoderDepth: 2, decoderNumHeads: 2 };

/** Worker mode, pretraining: one rank of a SocialMAE step, contrastive scope 'global' (gathered) or 'local'. */
async function pretrainWorker(batch: number, steps: number, warmup: number, scope: string): Promise<void> {
  await dist.initProcessGroup({ backend: 'gloo' });
  torch.manualSeed(0);
  const model = new SocialMAE(PRETRAIN);
  const ddp = await dist.DistributedDataParallel.wrap(model);
  const opt = new optim.SGD(model.parameters(), { lr: 1e-3 });
  const audio = torch.randn([batch, 128, 128]);
  const video = torch.randn([batch, 3, 64, 64, 4]);
  const times: number[] = [],
    gathers: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = performance.now();
    let tg = 0;
    const gather = (x: Tensor) => {
      const g0 = performance.now();
      const all = dist.allGatherRows(x);
      tg += performance.now() - g0;
      return all;
    };
    opt.zeroGrad();
    torch.tidy(() => model.forward(audio, video, scope === 'global' ? { contrastGather: gather } : {}).loss.backward());
    await ddp.syncGradients();
    opt.step();
    if (s >= warmup) {
      times.push((performance.now() - t0) / 1000);
      gathers.push(tg / 1000);
    }
  }
  await dist.destroyProcessGroup();
  process.stdout.write(`${JSON.stringify({ rank: dist.getLocalRank(), times_s: times, median_s: median(times), gather_s: gathers })}\n`);
}

/** Worker mode: one rank (or the single process) of ours. */
async function worker(batch: number, steps: number, warmup: number): Promise<void> {
  const distributed = !!process.env.WORLD_SIZE;
  if (distributed) await dist.initProcessGroup({ backend: 'gloo' });
  torch.manualSeed(0);
  const model = new SocialMAEFT(CFG);
  const ddp = distributed ? await dist.DistributedDataParallel.wrap(model) : null;
  const opt = new optim.SGD(model.parameters(), { lr: 1e-3 });
  const audio = torch.randn([batch, 128, 128]);
  const video = torch.randn([batch, 3, 64, 64, 4]);
  const times: number[] = [],
    syncs: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = performance.now();
    opt.zeroGrad();
    torch.tidy(() => model.forward(audio, video).square().mean().backward());
    const t1 = performance.now();
    if (ddp) await ddp.syncGradients();
    const t2 = performance.now();
    opt.step();
    if (s >= warmup) {
      times.push((performance.now() - t0) / 1000);
      syncs.push((t2 - t1) / 1000);
    }
  }
  if (distributed) await dist.destroyProcessGroup();
  const params = model.parameters().reduce((n, p) => n + p.numel(), 0);
  process.stdout.write(
    `${JSON.stringify({ rank: distributed ? dist.getLocalRank() : 0, times_s: times, median_s: median(times), sync_s: syncs, params, buckets: ddp?.bucketSizes })}\n`,
  );
}

function run(cmd: string, argv: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: { ...process.env, GLOO_SOCKET_IFNAME: 'lo', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '',
      err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${err.slice(-800)}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>);
    });
  });
}

type Side = 'ours' | 'pytorch' | 'pretrain-global' | 'pretrain-local';

/** Runs one configuration (procs x threads) of one side; returns rank 0's report. */
async function config(side: Side, procs: number, threads: number, steps: number): Promise<Record<string, unknown>> {
  const batch = GLOBAL_BATCH / procs;
  const port = await dist.freePort();
  const cmd = side === 'pytorch' ? '/usr/bin/python3' : process.execPath;
  const argv =
    side === 'ours'
      ? [__filename, '--worker', '--batch', String(batch), '--steps', String(steps)]
      : side === 'pytorch'
        ? [path.join(ROOT, 'bench', 'py', 'ddp_scaling.py'), '--batch', String(batch), '--threads', String(threads), '--steps', String(steps)]
        : [__filename, '--pretrain-worker', side.slice('pretrain-'.length), '--batch', String(batch), '--steps', String(steps)];
  const envFor = (rank: number): Record<string, string> =>
    procs === 1
      ? { SOCIAL_MAE_NUM_THREADS: String(threads) }
      : { ...dist.launchEnvFor(rank, procs, '127.0.0.1', port), SOCIAL_MAE_NUM_THREADS: String(threads) };
  const reports = await Promise.all(Array.from({ length: procs }, (_, r) => run(cmd, argv, envFor(r))));
  return reports[0]!;
}

async function main(): Promise<void> {
  if (args.includes('--worker')) return worker(flag('batch', 8), flag('steps', 5), 2);
  const pw = args.indexOf('--pretrain-worker');
  if (pw >= 0) return pretrainWorker(flag('batch', 4), flag('steps', 5), 2, args[pw + 1]!);
  const loadavg_before = os.loadavg();
  const rounds = flag('rounds', 2),
    steps = flag('steps', 5);
  const sides: Side[] = args.includes('--no-py') ? ['ours'] : ['ours', 'pytorch'];
  const configs = [
    { procs: 1, threads: 1 },
    { procs: 1, threads: 2 },
    { procs: 2, threads: 1 },
  ];
  const pretrain = args.includes('--no-pretrain') ? [] : (['pretrain-global', 'pretrain-local'] as const).map((side) => ({ side, procs: 2, threads: 1 }));
  const acc = new Map<string, { times: number[]; syncs: number[]; gathers: number[]; extra: Record<string, unknown> }>();
  for (let r = 0; r < rounds; r++) {
    // ABBA across rounds so that drifting background load hits every configuration alike
    const order = [...sides.flatMap((side) => configs.map((c) => ({ side, ...c }))), ...pretrain];
    for (const c of r % 2 ? order.reverse() : order) {
      const key = `${c.side} ${c.procs}x${c.threads}`;
      const rep = await config(c.side, c.procs, c.threads, steps);
      const a = acc.get(key) ?? { times: [], syncs: [], gathers: [], extra: {} };
      a.times.push(...(rep.times_s as number[]));
      if (rep.sync_s) a.syncs.push(...(rep.sync_s as number[]));
      if (rep.gather_s) a.gathers.push(...(rep.gather_s as number[]));
      a.extra = { params: rep.params, buckets: rep.buckets, torch: rep.torch };
      acc.set(key, a);
      process.stderr.write(`${key}: median ${(rep.median_s as number).toFixed(3)} s\n`);
    }
  }
  const loadavgAfter = os.loadavg();
  const results = [...acc.entries()].map(([key, a]) => ({
    config: key,
    median_step_s: median(a.times),
    samples_per_s: GLOBAL_BATCH / median(a.times),
    median_allreduce_s: a.syncs.length ? median(a.syncs) : null,
    ...(a.gathers.length ? { median_gather_s: median(a.gathers) } : {}),
    steps: a.times.length,
    ...a.extra,
  }));
  const out = {
    bench: 'ddp_scaling',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg_before },
    model: CFG,
    global_batch: GLOBAL_BATCH,
    rounds,
    steps_per_run: steps,
    loadavg_after: loadavgAfter,
    pretrain_model: PRETRAIN,
    results,
  };
  const file = path.join(ROOT, 'bench', 'results', 'ddp_scaling.json');
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
