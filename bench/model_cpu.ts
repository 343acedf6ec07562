/**
 * Social-MAE on the CPU, ours vs PyTorch (bench/py/model_cpu.py: the same architecture written directly in
 * PyTorch, checked against the fixtures) on the same machine, LibTorch and thread count.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/model_cpu.js [--threads 2[,1]] [--reps 3] [--pairs 2] [--only CASE,...] [--no-py]
 *
 * Cases: ft_tiny_fwdbwd (dim 64, batch 8), ft_full_fwd and ft_full_fwdbwd (ViT-B, batch 1),
 * pretrain_full_fwdbwd (ViT-B encoder + 512x8 decoder, batch 2, 75% masking). Every (side, case) runs in
 * its own process (so the peak RSS is per case): one warm-up step, then `reps` timed steps (6x for the tiny
 * case); each side runs `pairs` times in ABBA order so drifting background load hits both alike; the figures
 * are the medians over all timed steps of wall time and of process CPU time. Results:
 * bench/results/model_cpu.json.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch } from '../lib/tensor';
import { SocialMAE, SocialMAEFT } from '../lib/models';

const CASES = ['ft_tiny_fwdbwd', 'ft_full_fwd', 'ft_full_fwdbwd', 'pretrain_full_fwdbwd'] as const;
type Case = (typeof CASES)[number];
const TINY = { imgSize: 32, audioLength: 64, embedDim: 64, numHeads: 4, nFrame: 8, stride: 2 };

interface Result {
  case: string;
  times_s: number[];
  median_s: number;
  cpu_s: number[];
  median_cpu_s: number;
  max_rss_mb: number;
  threads: number;
  torch: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One training/inference step of a case, with its model and inputs. */
function makeCase(c: Case): () => void {
  if (c === 'pretrain_full_fwdbwd') {
    const m = new SocialMAE();
    const a = torch.randn([2, 1024, 128]),
      v = torch.randn([2, 3, 224, 224, 8]);
    return () => {
      m.zeroGrad();
      const out = m.forward(a, v);
      out.loss.backward();
      torch.dispose(out);
    };
  }
  const tiny = c === 'ft_tiny_fwdbwd';
  const m = new SocialMAEFT({ labelDim: 6, ...(tiny ? TINY : {}) });
  const b = tiny ? 8 : 1;
  const a = torch.randn([b, tiny ? 64 : 1024, 128]),
    v = torch.randn([b, 3, tiny ? 32 : 224, tiny ? 32 : 224, 8]);
  if (c === 'ft_full_fwd') {
    m.eval();
    return () => torch.noGrad(() => m.forward(a, v).dispose());
  }
  return () => {
    m.zeroGrad();
    const y = torch.tidy(() => m.forward(a, v).sum());
    y.backward();
    y.dispose();
  };
}

function worker(c: Case, threads: number, reps: number): Result {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const step = makeCase(c);
  step();
  const times: number[] = [],
    cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    step();
    const dc = process.cpuUsage(c0);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    cpu.push((dc.user + dc.system) / 1e6);
  }
  return {
    case: c,
    times_s: times,
    median_s: median(times),
    cpu_s: cpu,
    median_cpu_s: median(cpu),
    max_rss_mb: process.resourceUsage().maxRSS / 1024,
    threads: torch.getNumThreads(),
    torch: torch.version(),
  };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Result | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, env });
  if (r.status !== 0) {
    process.stderr.write(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}\n`);
    return null;
  }
  const line = r.stdout.trim().split('\n').pop() as string;
  return JSON.parse(line) as Result;
}

/** Several runs of one side as one result: all steps pooled, medians over the pool, the largest peak RSS. */
function merge(rs: Result[]): Result | null {
  if (rs.length === 0) return null;
  const times = rs.flatMap((r) => r.times_s),
    cpu = rs.flatMap((r) => r.cpu_s);
  return { ...rs[0], times_s: times, median_s: median(times), cpu_s: cpu, median_cpu_s: median(cpu), max_rss_mb: Math.max(...rs.map((r) => r.max_rss_mb)) };
}

/** Ratios of one case (ours / pytorch), printed and returned. */
function compare(label: string, o: Result | null, p: Result | null): Record<string, unknown> {
  const load = os.loadavg()[0];
  const ratio = o && p ? o.median_s / p.median_s : null;
  const ratioCpu = o && p ? o.median_cpu_s / p.median_cpu_s : null;
  const best = (r: Result) => Math.min(...r.times_s);
  const ratioMin = o && p ? best(o) / best(p) : null;
  const mem = o && p ? o.max_rss_mb / p.max_rss_mb : null;
  process.stdout.write(
    `${label.padEnd(26)} ours ${o?.median_s.toFixed(3)} s  pytorch ${p?.median_s.toFixed(3) ?? '-'} s  ` +
      `ratio ${ratio?.toFixed(3) ?? '-'} (best-of-n ${ratioMin?.toFixed(3) ?? '-'}, cpu ${ratioCpu?.toFixed(3) ?? '-'})  rss ${o?.max_rss_mb.toFixed(0)} / ${p?.max_rss_mb.toFixed(0) ?? '-'} MB  load ${load.toFixed(1)}\n`,
  );
  return { ours: o, pytorch: p, ratio_time: ratio, ratio_best_of_n: ratioMin, ratio_cpu_time: ratioCpu, ratio_peak_rss: mem, loadavg_1min_after: load };
}

function main(): void {
  const threadList = (arg('--threads') ?? '2').split(',').map(Number);
  const reps = Number(arg('--reps') ?? 3);
  const pairs = Number(arg('--pairs') ?? 2);
  if (process.argv.includes('--worker')) {
    process.stdout.write(`${JSON.stringify(worker(arg('--case') as Case, threadList[0], reps))}\n`);
    return;
  }
  const only = (arg('--only') ?? CASES.join(',')).split(',') as Case[];
  const noPy = process.argv.includes('--no-py');
  const py = process.env.SMAE_PYTHON ?? '/usr/bin/python3';
  const root = path.resolve(__dirname, '..', '..');
  const results: Record<string, Record<string, unknown>> = {};
  const startLoad = os.loadavg();
  for (const threads of threadList) {
    const env = { ...process.env, SOCIAL_MAE_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
    // the tiny case takes ~0.1 s per step: more repetitions for a stable median
    const n = (c: Case) => String(c === 'ft_tiny_fwdbwd' ? reps * 6 : reps);
    const ours = (c: Case) => run(process.execPath, [__filename, '--worker', '--case', c, '--threads', String(threads), '--reps', n(c)], env);
    const theirs = (c: Case) =>
      noPy ? null : run(py, [path.join(root, 'bench', 'py', 'model_cpu.py'), '--case', c, '--threads', String(threads), '--reps', n(c)], env);
    results[`threads_${threads}`] = {};
    only.forEach((c, i) => {
      // ABBA...: each pair swaps the order, so drifting background load hits both sides alike
      const runsO: Result[] = [],
        runsP: Result[] = [];
      for (let k = 0; k < pairs; k++) {
        const first = (i + k) % 2 === 0 ? 'py' : 'ours';
        for (const side of first === 'py' ? ['py', 'ours'] : ['ours', 'py']) {
          const r = side === 'py' ? theirs(c) : ours(c);
          if (r) (side === 'py' ? runsP : runsO).push(r);
        }
      }
      results[`threads_${threads}`][c] = compare(`${threads}t ${c}`, merge(runsO), merge(runsP));
    });
  }
  const out = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, torch: torch.version(), loadavg_at_start: startLoad },
    threads: threadList,
    reps,
    pairs,
    note:
      'ratio_time: median wall seconds per step, ours / pytorch (< 1: we are faster); ratio_best_of_n: fastest step of ' +
      'each side; ratio_cpu_time: median process CPU seconds; ratio_peak_rss: peak RSS per process. On a shared machine the ' +
      'medians with 2 threads are dominated by OpenMP waiting for descheduled threads (see loadavg); best-of-n is then the ' +
      'robust estimate of the intrinsic speed.',
    results,
  };
  const file = arg('--out') ?? path.join(root, 'bench', 'results', 'model_cpu.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}

main();
