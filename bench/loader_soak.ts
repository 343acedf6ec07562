/**
 * Soak benchmark for the fork gate (native/common/fork_gate.h): many DataLoader epochs with worker
 * threads (one loader, as in training) over the fixture clips, while the main thread runs BLAS between batches (as a training step
 * does) and other processes load every core. Before the gate, such runs deadlocked in fork() (OpenBLAS's
 * atfork handler) within a few epochs; the count of hung epochs is the result.
 *
 *   node dist/bench/loader_soak.js [--epochs 200] [--workers 2] [--hogs 2] [--epoch-timeout 120]
 *                                  [--out bench/results/loader_soak.json]
 *
 * An epoch that does not finish within --epoch-timeout seconds counts as a hang; the run stops there
 * (a deadlocked process does not recover). Not a test: minutes of wall time.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, type Tensor } from '../lib/tensor';
import { DataLoader, loadManifest, type Recipe } from '../lib/data';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const outIdx = args.indexOf('--out');
const OUT = outIdx >= 0 ? args[outIdx + 1]! : path.join(__dirname, '..', '..', 'bench', 'results', 'loader_soak.json');
const EPOCHS = flag('epochs', 200);
const WORKERS = flag('workers', 2);
const HOGS = flag('hogs', 2);
const EPOCH_TIMEOUT_MS = flag('epoch-timeout', 120) * 1000;
const FIX = path.join(__dirname, '..', '..', 'test', 'fixtures');
const RECIPE: Recipe = { audio: { targetLength: 256 }, video: { fps: 2, duration: 2, size: 64 } };

/** The two fixture clips (one with a separate wav), each listed twice: 4 items, 2 batches an epoch. */
function manifest(dir: string): string {
  const a = path.join(FIX, '00W1lcxW-WU_40.000.mp4');
  const w = path.join(FIX, '00W1lcxW-WU_40.000_16k_mono.wav');
  const b = path.join(FIX, 'KlsG1EnBEjc_000361.mp4');
  const file = path.join(dir, 'soak.csv');
  fs.writeFileSync(file, `video,audio\n${a},${w}\n${b},\n${a},\n${b},\n`);
  return file;
}

/** Processes that keep every core busy (a CPU hog outside this process). */
function startHogs(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

async function epoch(loader: DataLoader, w: Tensor): Promise<number> {
  let items = 0;
  for await (const b of loader) {
    items += b.ids.length;
    torch.tidy(() => w.matmul(w).sum()); // BLAS on the main thread while workers fork ffmpeg
    b.dispose();
  }
  return items;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  const t = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-soak-'));
  const src = await loadManifest(manifest(dir));
  const hogs = startHogs(HOGS);
  const w = torch.keep(torch.randn([512, 512]));
  const loadStart = os.loadavg()[0]!;
  const t0 = Date.now();
  const times: number[] = [];
  let hangs = 0;
  let items = 0;
  // One loader for the whole run, as training uses it: its worker threads live across epochs.
  const loader = new DataLoader(src, { recipe: RECIPE, batchSize: 2, shuffle: true, seed: 1, workers: WORKERS, onWarning: () => undefined });
  try {
    for (let e = 0; e < EPOCHS; e++) {
      const s = Date.now();
      const r = await withTimeout(epoch(loader, w), EPOCH_TIMEOUT_MS);
      if (r === 'timeout') {
        hangs++;
        console.log(`epoch ${e}: no progress in ${EPOCH_TIMEOUT_MS / 1000} s (hang)`);
        break;
      }
      items += r;
      times.push((Date.now() - s) / 1000);
      if (e % 20 === 0) console.log(`epoch ${e}: ${times[times.length - 1]!.toFixed(2)} s, load ${os.loadavg()[0]!.toFixed(1)}`);
    }
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
  }
  if (!hangs) await loader.close();
  const sorted = [...times].sort((a, b) => a - b);
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}`,
    openblasCoretype: process.env.OPENBLAS_CORETYPE ?? null,
    epochsRequested: EPOCHS,
    epochsCompleted: times.length,
    hangs,
    workers: WORKERS,
    hogs: HOGS,
    items,
    wallSeconds: (Date.now() - t0) / 1000,
    epochSecondsMedian: sorted[Math.floor(sorted.length / 2)] ?? null,
    epochSecondsMax: sorted[sorted.length - 1] ?? null,
    loadAvgStart: loadStart,
    loadAvgEnd: os.loadavg()[0],
  };
  console.log(JSON.stringify(result, null, 2));
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  // a hung worker thread would keep the process alive: exit explicitly
  process.exit(hangs ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
