/**
 * What the host block cache (native/common/host_cache.h) and glibc's malloc settings change on the data
 * path: CPU seconds and minor page faults per recipe fbank call (10.24 s of 16 kHz audio -> [1024, 128]),
 * and CPU-s per clip of a cold DataLoader epoch (reference recipe, one LibTorch thread, workers 0) on
 * small (224x224 25 fps 6 s) and hd (1280x720 30 fps 8 s) clips, per decoder (libav when the addon has it),
 * CPU per DataLoader.collate of a batch of 36 recipe samples (its video tensor is 173 MB), and per collate
 * as it was before (`collate36_joined`: each field joined into one Float32Array, then copied into a tensor),
 * and µs per small op (add on 64 floats: the allocator's fixed cost).
 * Arms, each a fresh child process, interleaved in every round (before, cache, mallopt, default, before, ...):
 *  - before:   SOCIAL_MAE_HOST_CACHE_BYTES=0 SOCIAL_MAE_MALLOC_TUNE=0 (LibTorch's allocator and glibc's
 *              defaults, as before: a fresh mmap per large block)
 *  - cache:    the host block cache alone (native/common/host_cache.h)
 *  - mallopt:  the addon's malloc thresholds alone (native/common/malloc_tune.h)
 *  - default:  both (what the addon does unless told otherwise)
 *  - tunables: (--arms) neither, GLIBC_TUNABLES with 256 MiB / 1 GiB thresholds (the whole process)
 *  - min1m, min32m: (--arms) both, the cache keeping blocks from 1 MiB / 32 MiB on (SOCIAL_MAE_HOST_CACHE_MIN_BYTES;
 *              the default is 128 KiB)
 *  - moderate: (--arms) the cache, GLIBC_TUNABLES with the addon's 32 MiB / 128 MiB thresholds
 * CPU and faults per clip are the means over `epochs` cold epochs after a warm-up one (new random windows each).
 *
 *   node dist/bench/host_alloc.js [--rounds 3] [--calls 40] [--small 8] [--hd 2] [--epochs 3] [--arms before,cache,mallopt,default] [--out bench/results/host_alloc.json]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch } from '../lib/tensor';
import { DataLoader, REFERENCE_RECIPE, forgetProbes, libavAvailable, loadManifest, processCpuSeconds, waveformToFbank, type DecoderKind } from '../lib/data';
import { locateFfmpeg } from '../lib/data/ffmpeg';
import type { HostSample } from '../lib/data/sample';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const ROUNDS = Number(opt('rounds', '3'));
const CALLS = Number(opt('calls', '40'));
const SMALL = Number(opt('small', '8'));
const HD = Number(opt('hd', '2'));
const EPOCHS = Number(opt('epochs', '3'));
const OUT = opt('out', path.join(__dirname, '..', '..', 'bench', 'results', 'host_alloc.json'));
const TUNABLES = 'glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824';
const ARMS: Record<string, Record<string, string>> = {
  before: { SOCIAL_MAE_HOST_CACHE_BYTES: '0', SOCIAL_MAE_MALLOC_TUNE: '0' },
  cache: { SOCIAL_MAE_MALLOC_TUNE: '0' },
  mallopt: { SOCIAL_MAE_HOST_CACHE_BYTES: '0' },
  default: {},
  tunables: { SOCIAL_MAE_HOST_CACHE_BYTES: '0', SOCIAL_MAE_MALLOC_TUNE: '0', GLIBC_TUNABLES: TUNABLES },
  min1m: { SOCIAL_MAE_HOST_CACHE_MIN_BYTES: '1048576' },
  min32m: { SOCIAL_MAE_HOST_CACHE_MIN_BYTES: '33554432' },
  moderate: { SOCIAL_MAE_MALLOC_TUNE: '0', GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728' },
};
const PICK = opt('arms', 'before,cache,mallopt,default').split(',');

function ff(argv: string[]): void {
  execFileSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-y', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** n clips of one kind (as bench/data_loader.ts makes them, AAC audio in the mp4) and their manifest. */
function makeDataset(dir: string, kind: 'small' | 'hd', n: number): string {
  const rows = ['video,audio'];
  for (let i = 0; i < n; i++) {
    const v = path.join(dir, `${kind}${i}.mp4`);
    const [src, snd, enc] =
      kind === 'small'
        ? [`testsrc2=s=224x224:r=25:d=6,hue=h=${i * 29}`, `sine=f=${220 + 37 * i}:r=16000:d=6`, ['-g', '50', '-ac', '1']]
        : [`testsrc2=s=1280x720:r=30:d=8,hue=h=${i * 41}`, `sine=f=${220 + 37 * i}:r=44100:d=8`, ['-g', '60', '-bf', '2', '-ac', '2']];
    ff([
      '-f',
      'lavfi',
      '-i',
      src,
      '-f',
      'lavfi',
      '-i',
      snd,
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      ...enc,
      '-shortest',
      v,
    ]);
    rows.push(`${v},`);
  }
  const m = path.join(dir, `${kind}.csv`);
  fs.writeFileSync(m, rows.join('\n') + '\n');
  return m;
}

const faults = () => process.resourceUsage().minorPageFault;

/** Child: fbank per call, then one warm-up and one measured cold epoch per manifest and decoder. */
async function child(dir: string): Promise<void> {
  torch.setNumThreads(1);
  const out: Record<string, unknown> = {};
  // a seeded chirp + noise, 10.24 s at 16 kHz (the recipe window), [1, N]
  const n = 163_840;
  const wave = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    wave[i] = 0.3 * Math.sin((2 * Math.PI * (200 + i / 400) * i) / 16000) + 0.01 * (s / 2147483648 - 0.5);
  }
  const w = torch.tensor(wave).reshape([1, n]);
  for (let i = 0; i < 5; i++) waveformToFbank(w, 16000).dispose();
  const c0 = process.cpuUsage();
  const f0 = faults();
  for (let i = 0; i < CALLS; i++) waveformToFbank(w, 16000).dispose();
  const c = process.cpuUsage(c0);
  out.fbank = { cpu_s_per_call: (c.user + c.system) / 1e6 / CALLS, system_s_per_call: c.system / 1e6 / CALLS, faults_per_call: (faults() - f0) / CALLS };
  // collate of a pretraining batch: 36 samples of fbank [1024, 128] + 8 frames [3, 224, 224, 8] (a 173 MB
  // video tensor, above glibc's mmap threshold even when raised), as DataLoader.collate builds it
  const samples: HostSample[] = Array.from({ length: 36 }, (_, i) => ({
    index: i,
    id: String(i),
    audio: new Float32Array(1024 * 128).fill(i),
    audioShape: [1024, 128],
    video: new Float32Array(3 * 224 * 224 * 8).fill(i),
    videoShape: [3, 224, 224, 8],
    warnings: [],
    cached: { audio: false, video: false },
  }));
  const collator = new DataLoader([], { batchSize: 36 });
  // what collate did before (each field joined into one Float32Array, then copied into a tensor)
  const joined = () => {
    const stack = (get: (s: HostSample) => Float32Array, shape: number[]) => {
      const len = get(samples[0]!).length;
      const all = new Float32Array(len * samples.length);
      samples.forEach((s, i) => all.set(get(s), i * len));
      return torch.fromBuffer(all, 'float32', [samples.length, ...shape]);
    };
    torch.dispose([stack((s) => s.audio!, [1024, 128]), stack((s) => s.video!, [3, 224, 224, 8])]);
  };
  const perBatch = (f: () => void) => {
    f();
    const b0 = process.cpuUsage();
    const bf0 = faults();
    for (let i = 0; i < 5; i++) f();
    const b = process.cpuUsage(b0);
    return { cpu_s_per_batch: (b.user + b.system) / 1e6 / 5, faults_per_batch: (faults() - bf0) / 5 };
  };
  out.collate36 = perBatch(() => collator.collate(samples).dispose());
  out.collate36_joined = perBatch(joined);
  // dispatch of a small op (64 floats: below the cache, the header and class check only)
  const small = torch.ones([64]);
  for (let i = 0; i < 10_000; i++) small.add(1).dispose();
  const d0 = process.cpuUsage();
  for (let i = 0; i < 100_000; i++) small.add(1).dispose();
  const d = process.cpuUsage(d0);
  out.small_op = { us_per_op: (d.user + d.system) / 100_000 };
  small.dispose();
  const decoders: DecoderKind[] = libavAvailable() ? ['libav'] : ['process'];
  for (const kind of ['small', 'hd']) {
    const src = await loadManifest(path.join(dir, `${kind}.csv`));
    for (const decoder of decoders) {
      const epoch = async (seed: number) => {
        forgetProbes();
        const loader = new DataLoader(src, { batchSize: 2, recipe: REFERENCE_RECIPE, workers: 0, concurrency: 1, seed, onWarning: () => undefined, decoder });
        // libav decodes in this process: its CPU to the microsecond; the process decoder adds reaped children
        const cpu = decoder === 'libav' ? () => process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 : processCpuSeconds;
        const cpu0 = cpu();
        const fa0 = faults();
        for await (const b of loader) b.dispose();
        await loader.close();
        return { cpu_s_per_clip: (cpu() - cpu0) / src.items.length, faults_per_clip: (faults() - fa0) / src.items.length };
      };
      await epoch(0);
      const runs = [];
      for (let e = 1; e <= EPOCHS; e++) runs.push(await epoch(e));
      out[`${kind}_${decoder}`] = {
        cpu_s_per_clip: runs.reduce((a, r) => a + r.cpu_s_per_clip, 0) / EPOCHS,
        faults_per_clip: runs.reduce((a, r) => a + r.faults_per_clip, 0) / EPOCHS,
      };
    }
  }
  out.hostCache = torch.memory().hostCache;
  process.stdout.write(JSON.stringify(out));
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'host-alloc-'));
  try {
    makeDataset(dir, 'small', SMALL);
    makeDataset(dir, 'hd', HD);
    const runs: Record<string, unknown>[] = [];
    const clean = { ...process.env };
    for (const k of ['SOCIAL_MAE_HOST_CACHE_BYTES', 'SOCIAL_MAE_HOST_CACHE_MIN_BYTES', 'SOCIAL_MAE_MALLOC_TUNE', 'GLIBC_TUNABLES']) delete clean[k];
    for (let r = 0; r < ROUNDS; r++) {
      for (const arm of PICK) {
        const env = ARMS[arm]!;
        const text = execFileSync(process.execPath, [__filename, '--child', dir, '--calls', String(CALLS), '--epochs', String(EPOCHS)], {
          encoding: 'utf8',
          env: { ...clean, ...env },
          timeout: 600_000,
        });
        const res = { round: r, arm, load: os.loadavg()[0], ...JSON.parse(text) };
        console.log(JSON.stringify({ ...res, hostCache: undefined }));
        runs.push(res);
      }
    }
    // medians per arm
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const keys = Object.keys(runs[0]!).filter((k) => typeof runs[0]![k] === 'object' && k !== 'hostCache');
    const summary: Record<string, Record<string, number>> = {};
    for (const arm of PICK) {
      const mine = runs.filter((x) => x.arm === arm);
      summary[arm] = {};
      for (const k of keys) {
        for (const m of Object.keys(mine[0]![k] as object)) {
          summary[arm]![`${k}.${m}`] = median(mine.map((x) => (x[k] as Record<string, number>)[m]!));
        }
      }
    }
    console.log(JSON.stringify(summary, null, 1));
    const result = {
      date: new Date().toISOString(),
      cores: os.cpus().length,
      load: os.loadavg(),
      calls: CALLS,
      small: SMALL,
      hd: HD,
      epochs: EPOCHS,
      tunables: TUNABLES,
      summary,
      runs,
    };
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ci = args.indexOf('--child');
if (ci >= 0) void child(args[ci + 1]!);
else void main();
