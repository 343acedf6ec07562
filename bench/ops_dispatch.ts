/**
 * Per-op dispatch cost and big-kernel parity, ours vs Python torch on the same machine and LibTorch.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/ops_dispatch.js [--threads N] [--quick] [--no-py] [--out FILE]
 *
 * Each case runs n calls per round; the figure is the median over rounds of µs per call. The Python
 * peer (bench/py/ops_dispatch.py, run with /usr/bin/python3 = Debian python3-torch 1.13.1) runs the
 * same cases with torch.set_num_threads(N). Rounds of ours and Python's are interleaved case by case
 * so that background load hits both alike. Results go to bench/results/ops_dispatch.json.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, F, Tensor } from '../lib/tensor';
import { native as N } from '../lib/native/binding';

interface Case { name: string; n: number; rounds: number; run: (n: number) => void; py?: string; note: string }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function bench(c: Case, q: number): { us: number; rounds: number[] } {
  const n = Math.max(1, Math.round(c.n * q));
  c.run(Math.max(1, Math.floor(n / 10)));
  const per: number[] = [];
  for (let r = 0; r < c.rounds; r++) {
    const t0 = process.hrtime.bigint();
    c.run(n);
    per.push(Number(process.hrtime.bigint() - t0) / n / 1000);
  }
  return { us: median(per), rounds: per };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function python(threads: number, quick: boolean, only: string): Record<string, { us: number; rounds: number[] }> | null {
  const py = process.env.SMAE_PYTHON ?? '/usr/bin/python3';
  const script = path.join(__dirname, '..', '..', 'bench', 'py', 'ops_dispatch.py');
  const r = spawnSync(py, [script, '--threads', String(threads), '--only', only, ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    process.stderr.write(`python peer failed (${py}): ${r.error?.message ?? r.stderr}\n`);
    return null;
  }
  return JSON.parse(r.stdout).results;
}

function main(): void {
  const threads = Number(arg('--threads') ?? 1);
  const quick = process.argv.includes('--quick');
  const noPy = process.argv.includes('--no-py');
  const only = new Set((arg('--only') ?? '').split(',').filter(Boolean));
  const q = quick ? 0.2 : 1;
  torch.setNumThreads(threads);
  torch.manualSeed(0);

  const keepAll = <T extends Tensor>(t: T) => torch.keep(t);
  const a4 = keepAll(torch.randn([4])), b4 = keepAll(torch.randn([4]));
  const m1 = keepAll(torch.randn([64, 64])), m2 = keepAll(torch.randn([64, 64]));
  const lnX = keepAll(torch.randn([4, 16, 64])), lnW = keepAll(torch.randn([64])), lnB = keepAll(torch.randn([64]));
  const smX = keepAll(torch.randn([4, 64]));
  const big1 = keepAll(torch.randn([1024, 1024])), big2 = keepAll(torch.randn([1024, 1024]));
  const cvX = keepAll(torch.randn([2, 3, 224, 224, 8]));
  const cvW = keepAll(torch.tidy(() => torch.randn([768, 3, 16, 16, 2]).mul(0.02)));
  const cvB = keepAll(torch.zeros([768]));

  /** op(); result disposed right away, outside any tidy scope (leak-net registration included). */
  const disposeEach = (op: () => Tensor) => (n: number) => {
    for (let i = 0; i < n; i++) op().dispose();
  };
  /** op() inside tidy scopes of 1000 calls, results freed when each scope closes. */
  const tidyBatch = (op: () => Tensor) => (n: number) => {
    for (let done = 0; done < n;) {
      const k = Math.min(1000, n - done);
      torch.tidy(() => {
        for (let i = 0; i < k; i++) op();
      });
      done += k;
    }
  };
  const cases: Case[] = [
    { name: 'add_4', n: 200000, rounds: 15, py: 'add_4', note: 'a.add(b), 4 elements, result disposed (outside tidy)',
      run: disposeEach(() => a4.add(b4)) },
    { name: 'add_4_tidy', n: 200000, rounds: 15, py: 'add_4', note: 'a.add(b) inside tidy (1000 ops per scope)',
      run: tidyBatch(() => a4.add(b4)) },
    { name: 'add_4_tidy_dispose', n: 200000, rounds: 15, py: 'add_4', note: 'a.add(b) inside one tidy, result disposed (no leak-net registration)',
      run: (n) => torch.tidy(() => { for (let i = 0; i < n; i++) a4.add(b4).dispose(); }) },
    { name: 'add_4_raw_ids', n: 200000, rounds: 15, py: 'add_4', note: 'native add + dispose on raw ids, no Tensor wrapper (lower bound)',
      run: (n) => { const x = a4.id, y = b4.id; for (let i = 0; i < n; i++) N.dispose(N.add(x, y, 1)); } },
    { name: 'matmul_64', n: 20000, rounds: 15, py: 'matmul_64', note: '64x64 @ 64x64 float32, disposed',
      run: disposeEach(() => m1.matmul(m2)) },
    { name: 'layer_norm_4x16x64', n: 20000, rounds: 15, py: 'layer_norm_4x16x64', note: 'F.layerNorm([4,16,64], [64], w, b), disposed',
      run: disposeEach(() => F.layerNorm(lnX, [64], lnW, lnB, 1e-6)) },
    { name: 'softmax_4x64', n: 50000, rounds: 15, py: 'softmax_4x64', note: 'softmax([4,64], -1), disposed',
      run: disposeEach(() => smX.softmax(-1)) },
    { name: 'matmul_1024', n: 10, rounds: 7, py: 'matmul_1024', note: '1024x1024 @ 1024x1024 float32',
      run: disposeEach(() => big1.matmul(big2)) },
    { name: 'conv3d_patch_embed', n: 2, rounds: 5, py: 'conv3d_patch_embed',
      note: 'conv3d x[2,3,224,224,8] w[768,3,16,16,2] stride (16,16,2) (Social-MAE video patch embedding)',
      run: disposeEach(() => F.conv3d(cvX, cvW, cvB, { stride: [16, 16, 2] })) },
  ];

  const live0 = torch.memory().liveTensors;
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    if (only.size && !only.has(c.name)) continue;
    const ours = bench(c, q);
    const peer = noPy || !c.py ? null : python(threads, quick, c.py);
    const py = peer?.[c.py!] ?? null;
    const row = { name: c.name, note: c.note, ours_us: +ours.us.toFixed(3), py_us: py ? +py.us.toFixed(3) : null,
      ratio: py ? +(ours.us / py.us).toFixed(3) : null, ours_rounds: ours.rounds.map((v) => +v.toFixed(3)),
      py_rounds: py ? py.rounds.map((v) => +v.toFixed(3)) : null };
    results.push(row);
    process.stdout.write(`${c.name.padEnd(22)} ours ${ours.us.toFixed(3).padStart(10)} µs   python ${py ? py.us.toFixed(3).padStart(10) : '       n/a'} µs   ratio ${row.ratio ?? 'n/a'}\n`);
  }
  if (torch.memory().liveTensors !== live0) throw new Error(`bench leaked ${torch.memory().liveTensors - live0} tensors`);

  const report = {
    bench: 'ops_dispatch', date: new Date().toISOString(), machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length,
      memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), platform: `${os.platform()} ${os.release()}`, loadavg: os.loadavg() },
    node: process.version, torch: torch.version(), threads, quick, method: 'median over rounds of mean µs per call; python peer interleaved per case',
    results,
  };
  const out = arg('--out') ?? path.join(__dirname, '..', '..', 'bench', 'results', `ops_dispatch${threads === 1 ? '' : `_t${threads}`}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`wrote ${out}\n`);
}

main();
