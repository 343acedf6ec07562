/**
 * Adam step over the full Social-MAE pretrain parameter set (647 tensors, 192,772,608 parameters, shapes
 * from test/fixtures/manifest_socialmae_pretrain_full.json): ours (optim.Adam, native per-parameter
 * step) vs PyTorch's torch.optim.Adam (bench/py/optim_adam.py) on the same machine, LibTorch and
 * thread count. Hyperparameters are the reference pretraining's (lr 1e-3, betas (0.95, 0.999),
 * weight decay 5e-7).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/optim_adam.js [--threads N] [--reps 5] [--rounds 2]
 *       [--device cpu|cuda] [--ours native,fused] [--impls single,foreach,fused,default] [--no-py]
 *       [--python /usr/bin/python3] [--out bench/results/optim_adam.json]
 *
 * `--ours`: native (fused: false, the per-parameter native step), fused (fused: true, LibTorch's fused
 * kernel: LibTorch >= 2.0 on CUDA, >= 2.4 on the CPU), auto (the default choice: fused for CUDA groups on
 * LibTorch >= 2.0, else native); an entry `impl+tag=/path/addon.node` runs that side with another build
 * of the addon (SOCIAL_MAE_ADDON), e.g. `native+patched=...` for bench/optim_adam_native.patch. `--impls`
 * picks torch.optim.Adam's implementations to compare with (bench/py/optim_adam.py).
 *
 * Each side runs in its own process (about 3.1 GB each: parameters, gradients, two moments), one after
 * the other, alternating for `rounds` rounds so background load hits both alike. In each process the
 * first step (which allocates the state) is timed apart, then `reps` steps; a side's figure is the
 * median over all its timed steps. Threads: ours uses torch's default here (one per core) unless
 * --threads is given; PyTorch gets the same number (torch.set_num_threads).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch } from '../lib/tensor';
import { Adam } from '../lib/optim';

const ROOT = path.join(__dirname, '..', '..');
const MANIFEST = path.join(ROOT, 'test', 'fixtures', 'manifest_socialmae_pretrain_full.json');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface SideResult {
  side: string;
  impl: string;
  device: string;
  tensors: number;
  params: number;
  threads: number;
  torch: string;
  first_step_s: number;
  times_s: number[];
  median_s: number;
  cpu_median_s: number;
  max_rss_mb: number;
}

/** Child: our side, one process. */
function runOurs(reps: number, device: string, impl: string): SideResult {
  const fused = impl === 'fused' ? true : impl === 'native' ? false : undefined;
  const shapes = Object.values(JSON.parse(fs.readFileSync(MANIFEST, 'utf8'))) as number[][];
  torch.manualSeed(0);
  const params = shapes.map((s) => torch.keep(torch.randn(s, { device }).requiresGrad_(true)));
  torch.tidy(() =>
    params.forEach((p) => {
      p.grad = torch.randn(p.shape, { device }).mul_(1e-3);
    }),
  );
  const opt = new Adam(params, { lr: 1e-3, betas: [0.95, 0.999], weightDecay: 5e-7, fused });
  const sync = device.startsWith('cuda') ? () => torch.cuda.synchronize() : () => undefined;
  const cpu: number[] = [];
  const timed = () => {
    sync();
    const t0 = process.hrtime.bigint(),
      c0 = process.cpuUsage();
    opt.step();
    sync();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const first = timed();
  const times = Array.from({ length: reps }, timed);
  return {
    side: 'ours',
    impl: impl === 'native' ? 'native-per-parameter' : impl,
    device,
    tensors: params.length,
    params: params.reduce((n, p) => n + p.numel(), 0),
    threads: torch.getNumThreads(),
    torch: torch.version(),
    first_step_s: first,
    times_s: times,
    median_s: median(times),
    cpu_median_s: median(cpu.slice(1)),
    max_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
}

function lastJson(stdout: string, what: string): SideResult {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${what} printed no result:\n${stdout}`);
  return JSON.parse(line) as SideResult;
}

function main(): void {
  const reps = Number(arg('--reps') ?? 5);
  const device = arg('--device') ?? 'cpu';
  if (arg('--child') === 'ours') {
    if (arg('--threads')) torch.setNumThreads(Number(arg('--threads')));
    console.log(JSON.stringify(runOurs(reps, device, arg('--impl') ?? 'native')));
    return;
  }
  const threads = Number(arg('--threads') ?? torch.getNumThreads());
  const rounds = Number(arg('--rounds') ?? 2);
  const python = arg('--python') ?? '/usr/bin/python3';
  const withPy = !process.argv.includes('--no-py') && fs.existsSync(python);
  const out = arg('--out') ?? path.join(ROOT, 'bench', 'results', 'optim_adam.json');
  const pyImpls = (arg('--impls') ?? 'single').split(',');
  const ourImpls = (arg('--ours') ?? 'native').split(',');
  const common = ['--reps', String(reps), '--threads', String(threads), '--device', device];
  const runs: Record<string, SideResult[]> = {};
  const record = (key: string, r: SideResult) => {
    (runs[key] ??= []).push(r);
    console.log(`${key.padEnd(16)} median ${r.median_s.toFixed(4)} s  cpu ${r.cpu_median_s.toFixed(3)} s  first ${r.first_step_s.toFixed(3)} s`);
  };
  for (let r = 0; r < rounds; r++) {
    for (const entry of ourImpls) {
      // `impl` or `impl+tag=/path/to/addon.node` (another build of the addon, e.g. a native patch)
      const [spec, addon] = entry.split('=');
      const [impl, tag] = spec.split('+');
      const env = addon ? { ...process.env, SOCIAL_MAE_ADDON: addon } : process.env;
      const o = spawnSync(process.execPath, [__filename, '--child', 'ours', ...common, '--impl', impl], { encoding: 'utf8', maxBuffer: 16 << 20, env });
      if (o.status !== 0) {
        console.log(`ours (${entry}) failed: ${o.stderr.split('\n').find((l) => /Error/.test(l)) ?? o.stderr.slice(-300)}`);
        continue;
      }
      record(`ours_${impl}${tag ? `+${tag}` : ''}`, lastJson(o.stdout, 'ours'));
    }
    if (!withPy) continue;
    for (const impl of pyImpls) {
      const p = spawnSync(python, [path.join(ROOT, 'bench', 'py', 'optim_adam.py'), ...common, '--impl', impl], { encoding: 'utf8', maxBuffer: 16 << 20 });
      if (p.status !== 0) {
        console.log(`python (${impl}) failed: ${p.stderr.trim().split('\n').pop()}`);
        continue;
      }
      record(`pytorch_${impl}`, lastJson(p.stdout, 'python'));
    }
  }
  if (Object.keys(runs).length === 0) {
    console.log('no side produced a result');
    process.exitCode = 1;
    return;
  }
  const all = (rs: SideResult[], k: 'times_s') => rs.flatMap((x) => x[k]);
  const first = Object.values(runs)[0][0];
  const summary: Record<string, unknown> = {
    bench: 'optim_adam',
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}`,
    load_average: os.loadavg(),
    device,
    threads,
    tensors: first.tensors,
    params: first.params,
    hyper: { lr: 1e-3, betas: [0.95, 0.999], weightDecay: 5e-7 },
    rounds,
    reps_per_process: reps,
  };
  const med: Record<string, { wall: number; cpu: number }> = {};
  for (const [key, rs] of Object.entries(runs)) {
    med[key] = { wall: median(all(rs, 'times_s')), cpu: median(rs.map((x) => x.cpu_median_s)) };
    summary[key] = {
      impl: rs[0].impl,
      torch: rs[0].torch,
      median_s: med[key].wall,
      min_s: Math.min(...all(rs, 'times_s')),
      cpu_median_s: med[key].cpu,
      first_step_s: rs.map((x) => x.first_step_s),
      times_s: all(rs, 'times_s'),
      max_rss_mb: Math.max(...rs.map((x) => x.max_rss_mb)),
    };
  }
  const ratios: Record<string, number> = {};
  for (const o of Object.keys(med).filter((k) => k.startsWith('ours_'))) {
    for (const p of Object.keys(med).filter((k) => k.startsWith('pytorch_'))) {
      ratios[`${o}/${p}`] = med[o].wall / med[p].wall;
      ratios[`${o}/${p} (cpu time)`] = med[o].cpu / med[p].cpu;
      console.log(`${o}/${p} = ${(med[o].wall / med[p].wall).toFixed(3)} wall, ${(med[o].cpu / med[p].cpu).toFixed(3)} cpu time`);
    }
  }
  summary.ratios = ratios;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(summary, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

main();
