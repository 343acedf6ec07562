/**
 * Checkpoint load time and peak memory, ours (`io.load`) vs Python's `torch.load`, on the same file: a
 * full-size Social-MAE pretraining state dict (647 float32 tensors, 192,772,608 parameters, 771 MB), made
 * by bench/py/io_load.py --make when missing.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/io_load.js [--file /tmp/socialmae_full.pth] [--reps 7] [--no-py]
 *     [--baseline OTHER/dist/bench/io_load.js] [--out FILE]
 *
 * Every load runs in a fresh process (node dist/bench/io_load.js --child FILE, and
 * /usr/bin/python3 bench/py/io_load.py --load FILE), so each peak RSS (ru_maxrss) is that of one load;
 * the child times only the load call itself (after its imports), on a file already in the page cache
 * (one untimed read first). Ours and Python alternate run by run, so background load hits both alike;
 * the figures are medians. Each round also runs ours with `verifyCrc: false` (PyTorch does not check zip
 * CRC-32s on load; we do by default), and records the CPU time (user + system) of the load.
 * `--baseline` adds the child of another build (e.g. the previous implementation) to every round.
 * Results: bench/results/io_load.json.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const PY_SCRIPT = path.join(ROOT, 'bench', 'py', 'io_load.py');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function rssMb(): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Run {
  time_s: number;
  cpu_user_s: number;
  cpu_sys_s: number;
  rss_before_mb: number;
  rss_after_mb: number;
  max_rss_mb: number;
  tensors: number;
  params: number;
}

/** One timed load in this process; prints a JSON {@link Run}. */
async function child(file: string, verifyCrc: boolean): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { torch } = require('../lib/tensor') as typeof import('../lib/tensor');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { load } = require('../lib/io') as typeof import('../lib/io');
  torch.setNumThreads(1);
  torch.zeros([1]).dispose(); // LibTorch initialised before the clock starts, as `import torch` is
  const before = rssMb();
  const r0 = process.resourceUsage();
  const t0 = process.hrtime.bigint();
  const sd = await load(file, { mapLocation: 'cpu', verifyCrc });
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const r1 = process.resourceUsage();
  let params = 0;
  for (const t of sd.values()) params += t.numel();
  const out: Run = {
    time_s: dt,
    cpu_user_s: (r1.userCPUTime - r0.userCPUTime) / 1e6,
    cpu_sys_s: (r1.systemCPUTime - r0.systemCPUTime) / 1e6,
    rss_before_mb: before,
    rss_after_mb: rssMb(),
    max_rss_mb: process.resourceUsage().maxRSS / 1024,
    tensors: sd.size,
    params,
  };
  process.stdout.write(`${JSON.stringify({ side: 'ours', verifyCrc, ...out })}\n`);
  for (const t of sd.values()) t.dispose();
}

function runJson(cmd: string, args: string[]): Run & Record<string, unknown> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line);
}

function summary(runs: Run[]): Record<string, unknown> {
  return {
    median_s: median(runs.map((r) => r.time_s)),
    min_s: Math.min(...runs.map((r) => r.time_s)),
    times_s: runs.map((r) => +r.time_s.toFixed(4)),
    median_cpu_s: median(runs.map((r) => r.cpu_user_s + r.cpu_sys_s)),
    median_max_rss_mb: median(runs.map((r) => r.max_rss_mb)),
    max_rss_mb: runs.map((r) => Math.round(r.max_rss_mb)),
    median_rss_before_mb: median(runs.map((r) => r.rss_before_mb)),
    median_load_growth_mb: median(runs.map((r) => r.max_rss_mb - r.rss_before_mb)),
  };
}

async function main(): Promise<void> {
  const c = arg('--child');
  if (c) return child(c, !process.argv.includes('--no-crc'));
  const file = arg('--file') ?? '/tmp/socialmae_full.pth';
  const reps = Number(arg('--reps') ?? 7);
  const python = process.env.SMAE_TORCH_PYTHON ?? '/usr/bin/python3';
  const withPy = !process.argv.includes('--no-py');
  if (!fs.existsSync(file)) {
    process.stderr.write(`making ${file}...\n`);
    runJson(python, [PY_SCRIPT, '--make', file]);
  }
  fs.readFileSync(file); // into the page cache
  const baselineJs = arg('--baseline');
  const loadStart = os.loadavg();
  const base: Run[] = [];
  const ours: Run[] = [];
  const noCrc: Run[] = [];
  const py: Run[] = [];
  let torchVersion = '';
  for (let i = 0; i < reps; i++) {
    const o = runJson(process.execPath, [__filename, '--child', file]);
    ours.push(o);
    const n = runJson(process.execPath, [__filename, '--child', file, '--no-crc']);
    noCrc.push(n);
    let line = `run ${i + 1}/${reps}: ours ${o.time_s.toFixed(3)} s, peak RSS ${o.max_rss_mb.toFixed(0)} MB` + ` (no CRC ${n.time_s.toFixed(3)} s)`;
    if (baselineJs) {
      const b = runJson(process.execPath, [baselineJs, '--child', file]);
      base.push(b);
      line += `; baseline ${b.time_s.toFixed(3)} s, peak RSS ${b.max_rss_mb.toFixed(0)} MB`;
    }
    if (withPy) {
      const p = runJson(python, [PY_SCRIPT, '--load', file]);
      torchVersion = String(p.torch);
      py.push(p);
      line += `; python ${p.time_s.toFixed(3)} s, peak RSS ${p.max_rss_mb.toFixed(0)} MB`;
    }
    process.stderr.write(`${line} (load ${os.loadavg()[0].toFixed(1)})\n`);
  }
  const fileBytes = fs.statSync(file).size;
  const result: Record<string, unknown> = {
    bench: 'io_load',
    date: new Date().toISOString(),
    machine: { os: `${os.type()} ${os.release()}`, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, mem_gb: Math.round(os.totalmem() / 2 ** 30) },
    node: process.version,
    // 1/5/15-minute load averages when the rounds began and ended (the machine is shared)
    load_avg: { start: loadStart.map((x) => +x.toFixed(2)), end: os.loadavg().map((x) => +x.toFixed(2)) },
    torch: torchVersion,
    // sizes in MiB (2^20 bytes), like every *_mb figure here (RSS from /proc and ru_maxrss, in KiB / 1024)
    file: { path: file, bytes: fileBytes, mib: +(fileBytes / 2 ** 20).toFixed(1), tensors: ours[0].tensors, params: ours[0].params },
    reps,
    threads: 1,
    ours: summary(ours),
    ours_no_crc: summary(noCrc),
  };
  if (baselineJs) result.baseline = { js: baselineJs, ...summary(base) };
  if (withPy) {
    result.pytorch = summary(py);
    result.ratio_time = +(median(ours.map((r) => r.time_s)) / median(py.map((r) => r.time_s))).toFixed(3);
    result.ratio_time_no_crc = +(median(noCrc.map((r) => r.time_s)) / median(py.map((r) => r.time_s))).toFixed(3);
    result.ratio_peak_rss = +(median(ours.map((r) => r.max_rss_mb)) / median(py.map((r) => r.max_rss_mb))).toFixed(3);
    result.ratio_cpu = +(median(ours.map((r) => r.cpu_user_s + r.cpu_sys_s)) / median(py.map((r) => r.cpu_user_s + r.cpu_sys_s))).toFixed(3);
  }
  const out = arg('--out') ?? path.join(ROOT, 'bench', 'results', 'io_load.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
