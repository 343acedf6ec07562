/**
 * Per-op dispatch cost and big-kernel parity: ours vs Python torch, same machine, same LibTorch
 * (Debian python3-torch 1.13.1 at /usr/bin/python3, or $SMAE_PYTHON), same thread count.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/ops_dispatch.js [--threads N] [--quick] [--only a,b] [--out FILE]
 *
 * The Python peer (bench/py/ops_dispatch.py --serve) runs as a child process; for every case the rounds
 * alternate ours / Python so that background load falls on both alike. A round is n calls; we report the
 * median and the minimum over rounds of µs per call, and ratio = ours / Python for both. Threads: LibTorch's
 * intra-op pool and OpenBLAS's pool are set to N on both sides.
 * Results: bench/results/ops_dispatch[_tN].json (see bench/RESULTS.md).
 */
import { spawn, ChildProcessWithoutNullStreams } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { torch, F, Tensor } from '../lib/tensor';
import { native as N } from '../lib/native/binding';

interface Case {
  name: string;
  n: number;
  rounds: number;
  run: (n: number) => void;
  py?: string;
  note: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

function timed(run: (n: number) => void, n: number): number {
  const t0 = process.hrtime.bigint();
  run(n);
  return Number(process.hrtime.bigint() - t0) / n / 1000;
}

/** The Python peer as a line-protocol server. */
class Peer {
  private lines: AsyncIterableIterator<string>;
  info: Record<string, unknown> = {};
  private constructor(private proc: ChildProcessWithoutNullStreams) {
    this.lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }
  static async start(threads: number): Promise<Peer | null> {
    const py = process.env.SMAE_PYTHON ?? '/usr/bin/python3';
    const script = path.join(__dirname, '..', '..', 'bench', 'py', 'ops_dispatch.py');
    if (!fs.existsSync(py)) return null;
    const proc = spawn(py, [script, '--threads', String(threads), '--serve']);
    proc.stderr.on('data', (d) => process.stderr.write(`[python] ${d}`));
    const p = new Peer(proc);
    const first = await p.lines.next();
    if (first.done) return null;
    p.info = JSON.parse(first.value);
    return p;
  }
  async run(name: string, n: number): Promise<number> {
    this.proc.stdin.write(`${name} ${n}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('python peer exited');
    return JSON.parse(r.value).us;
  }
  stop(): void {
    this.proc.stdin.end();
  }
}

async function main(): Promise<void> {
  const threads = Number(arg('--threads') ?? 1);
  const quick = process.argv.includes('--quick');
  const noPy = process.argv.includes('--no-py');
  const only = new Set((arg('--only') ?? '').split(',').filter(Boolean));
  const q = quick ? 0.2 : 1;
  torch.setNumThreads(threads);
  torch.manualSeed(0);

  const k = <T extends Tensor>(t: T) => torch.keep(t);
  const a4 = k(torch.randn([4])),
    b4 = k(torch.randn([4]));
  const m1 = k(torch.randn([64, 64])),
    m2 = k(torch.randn([64, 64]));
  const lnX = k(torch.randn([4, 16, 64])),
    lnW = k(torch.randn([64])),
    lnB = k(torch.randn([64]));
  const smX = k(torch.randn([4, 64]));
  const big1 = k(torch.randn([1024, 1024])),
    big2 = k(torch.randn([1024, 1024]));
  const cvX = k(torch.randn([2, 3, 224, 224, 8]));
  const cvW = k(torch.tidy(() => torch.randn([768, 3, 16, 16, 2]).mul(0.02)));
  const cvB = k(torch.zeros([768]));

  /** op(); result disposed right away, outside any tidy scope (leak-net registration included). */
  const disposeEach = (op: () => Tensor) => (n: number) => {
    for (let i = 0; i < n; i++) op().dispose();
  };
  /** op() inside tidy scopes of 1000 calls; results freed when each scope closes. */
  const tidyBatch = (op: () => Tensor) => (n: number) => {
    for (let done = 0; done < n;) {
      const m = Math.min(1000, n - done);
      torch.tidy(() => {
        for (let i = 0; i < m; i++) op();
      });
      done += m;
    }
  };
  const cases: Case[] = [
    {
      name: 'add_4',
      n: 50000,
      rounds: 21,
      py: 'add_4',
      note: 'c = a.add(b), 4 elements; ours: c.dispose() right away, outside tidy',
      run: disposeEach(() => a4.add(b4)),
    },
    {
      name: 'add_4_tidy',
      n: 50000,
      rounds: 21,
      py: 'add_4',
      note: 'a.add(b) inside torch.tidy (1000 ops per scope, freed at scope end)',
      run: tidyBatch(() => a4.add(b4)),
    },
    {
      name: 'add_4_tidy_dispose',
      n: 50000,
      rounds: 21,
      py: 'add_4',
      note: 'a.add(b).dispose() inside one tidy (no leak-net registration)',
      run: (n) =>
        torch.tidy(() => {
          for (let i = 0; i < n; i++) a4.add(b4).dispose();
        }),
    },
    {
      name: 'add_4_raw_ids',
      n: 50000,
      rounds: 21,
      py: 'add_4',
      note: 'native add + dispose on raw ids, no Tensor wrapper (lower bound)',
      run: (n) => {
        const x = a4.id,
          y = b4.id;
        for (let i = 0; i < n; i++) N.dispose(N.add(x, y, 1));
      },
    },
    {
      name: 'add_4_scalar',
      n: 30000,
      rounds: 21,
      py: 'add_4_scalar',
      note: 'a.add(1): a Python-number operand (LibTorch wraps it in a 0-d tensor), disposed',
      run: disposeEach(() => a4.add(1)),
    },
    { name: 'matmul_64', n: 10000, rounds: 15, py: 'matmul_64', note: '[64,64] @ [64,64] float32, disposed', run: disposeEach(() => m1.matmul(m2)) },
    {
      name: 'layer_norm_4x16x64',
      n: 10000,
      rounds: 15,
      py: 'layer_norm_4x16x64',
      note: 'layerNorm([4,16,64], [64], w, b, 1e-6), disposed',
      run: disposeEach(() => F.layerNorm(lnX, [64], lnW, lnB, 1e-6)),
    },
    { name: 'softmax_4x64', n: 30000, rounds: 21, py: 'softmax_4x64', note: 'softmax([4,64], -1), disposed', run: disposeEach(() => smX.softmax(-1)) },
    { name: 'matmul_1024', n: 5, rounds: 9, py: 'matmul_1024', note: '[1024,1024] @ [1024,1024] float32', run: disposeEach(() => big1.matmul(big2)) },
    {
      name: 'conv3d_patch_embed',
      n: 1,
      rounds: 7,
      py: 'conv3d_patch_embed',
      note: 'conv3d x[2,3,224,224,8] w[768,3,16,16,2] b[768] stride (16,16,2) -> [2,768,14,14,4] (Social-MAE video patch embedding)',
      run: disposeEach(() => F.conv3d(cvX, cvW, cvB, { stride: [16, 16, 2] })),
    },
  ];

  const peer = noPy ? null : await Peer.start(threads);
  if (!noPy && !peer) process.stderr.write('python peer unavailable: ours only\n');
  const live0 = torch.memory().liveTensors;
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    if (only.size && !only.has(c.name)) continue;
    const n = Math.max(1, Math.round(c.n * q));
    const warm = Math.max(1, Math.floor(n / 5));
    c.run(warm);
    if (peer && c.py) await peer.run(c.py, warm);
    const ours: number[] = [],
      py: number[] = [];
    for (let r = 0; r < c.rounds; r++) {
      ours.push(timed(c.run, n));
      if (peer && c.py) py.push(await peer.run(c.py, n));
    }
    const om = median(ours),
      omin = Math.min(...ours);
    const pm = py.length ? median(py) : null,
      pmin = py.length ? Math.min(...py) : null;
    const fix = (v: number | null, d = 3) => (v === null ? null : +v.toFixed(d));
    const row = {
      name: c.name,
      note: c.note,
      n,
      rounds: c.rounds,
      ours_median_us: fix(om),
      py_median_us: fix(pm),
      ratio_median: pm ? fix(om / pm) : null,
      ours_min_us: fix(omin),
      py_min_us: fix(pmin),
      ratio_min: pmin ? fix(omin / pmin) : null,
    };
    results.push(row);
    const us = (v: number | null) => (v === null ? 'n/a' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(3)} µs`).padStart(11);
    process.stdout.write(
      `${c.name.padEnd(20)} median ours ${us(om)} py ${us(pm)} ratio ${String(row.ratio_median ?? 'n/a').padEnd(6)}` +
        `| min ours ${us(omin)} py ${us(pmin)} ratio ${row.ratio_min ?? 'n/a'}\n`,
    );
  }
  peer?.stop();
  if (torch.memory().liveTensors !== live0) throw new Error(`bench leaked ${torch.memory().liveTensors - live0} tensors`);

  const report = {
    bench: 'ops_dispatch',
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model,
      logicalCores: os.cpus().length,
      memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
      platform: `${os.platform()} ${os.release()}`,
      loadavgAtEnd: os.loadavg().map((v) => +v.toFixed(2)),
    },
    node: process.version,
    torch: torch.version(),
    python: peer?.info ?? null,
    threads,
    quick,
    command: `node dist/bench/ops_dispatch.js ${process.argv.slice(2).join(' ')}`.trim(),
    method: 'rounds of n calls alternate ours / python (child process); median and min over rounds of µs per call',
    results,
  };
  const out = arg('--out') ?? path.join(__dirname, '..', '..', 'bench', 'results', `ops_dispatch${threads === 1 ? '' : `_t${threads}`}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
