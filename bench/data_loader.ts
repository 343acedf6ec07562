/**
 * Data pipeline benchmark: clips/s and CPU-s per clip of decode + fbank + frames for the reference recipe
 * (fbank 1024x128 + 8 BGR frames 224x224, reference sampling, random windows, no cache = cold), ours
 * (lib/data DataLoader) vs a Python loader doing the same recipe with OpenCV + torchaudio
 * (bench/py/data_loader.py), on the same files, in interleaved rounds (ours, Python, ours, Python, ...).
 *
 *   node dist/bench/data_loader.js [--rounds 2] [--small 16] [--hd 8] [--batch 4] [--out bench/results/data_loader.json]
 *
 * Two kinds of clip (bench/media_clips.ts), generated into a temp dir (distinct content each):
 *  - small, VoxCeleb2-like: 224x224 at 25 fps, 6 s, H.264 + AAC 16 kHz mono; every other clip with a
 *    separate 16 kHz wav (the reference's setup), the others decode the AAC track of the mp4;
 *  - hd: 1280x720 at 30 fps, 8 s, H.264 (B-frames, keyframe every 2 s) + AAC 44.1 kHz stereo.
 * Ours runs with one LibTorch intra-op thread, like the Python peer (its default here); `ours conc 2`
 * runs two items at once in the main thread, `ours 2 workers` in two worker threads (their start-up
 * included). Cold = nothing memoised (forgetProbes) and no feature cache; `epoch 2 (audio cached)` is the
 * pretraining steady state: probes memoised, fbanks from the cache, new random video windows decoded.
 * CPU seconds are this process's (all threads) plus its children's (ffmpeg runs, through the spawn helper),
 * from /proc (lib/data/cpu-time.ts). Every row is the second of two epochs on one loader, as the Python row
 * is its process's second epoch (its first is kept in the JSON): the first absorbs one-time costs, worker start-up, and the page faults that follow the
 * previous row's child processes (after a fork every page this process writes faults once; on the 2-core dev
 * box the first 720p epoch after spawning even /bin/sleep cost +0.1 CPU-s per clip, the next none).
 * Rows per decoder: `libav` (in-process, native/media; when the addon has it) and `process` (ffmpeg children).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch } from '../lib/tensor';
import {
  DataLoader,
  REFERENCE_RECIPE,
  forgetProbes,
  loadManifest,
  ffmpegConfig,
  processCpuSeconds,
  libavAvailable,
  type DecoderKind,
  type Recipe,
} from '../lib/data';
import { settleChildren } from '../lib/data/ffmpeg';
import { benchClip, benchWav, inTempDir, runBench, writeResults, type ClipKind } from './media_clips';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const outIdx = args.indexOf('--out');
const OUT = outIdx >= 0 ? args[outIdx + 1]! : path.join(__dirname, '..', '..', 'bench', 'results', 'data_loader.json');
const ROUNDS = flag('rounds', 2);
const SMALL = flag('small', 16);
const HD = flag('hd', 8);
const BATCH = flag('batch', 4);

/** Writes the clips of one kind (bench/media_clips.ts) and their manifest; returns the manifest path. */
function makeDataset(dir: string, kind: ClipKind, n: number): string {
  const rows = ['video,audio'];
  for (let i = 0; i < n; i++) {
    const v = `${kind}${i}.mp4`;
    benchClip(path.join(dir, v), kind, i);
    if (kind === 'small' && i % 2 === 0) {
      benchWav(path.join(dir, `${kind}${i}.wav`), i);
      rows.push(`${v},${kind}${i}.wav`);
    } else rows.push(`${v},`);
  }
  const m = path.join(dir, `${kind}.csv`);
  fs.writeFileSync(m, rows.join('\n') + '\n');
  return m;
}

async function ours(manifest: string, label: string, opts: { workers: number; concurrency: number; recipe: Recipe; cacheDir?: string; decoder: DecoderKind }) {
  const src = await loadManifest(manifest);
  forgetProbes();
  const loader = new DataLoader(src, {
    batchSize: BATCH,
    recipe: opts.recipe,
    workers: opts.workers,
    concurrency: opts.concurrency,
    seed: 0,
    onWarning: () => undefined,
    decoder: opts.decoder,
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
  });
  // The first epoch is not recorded (see the header). Cold rows forget the probes it memoised; the steady
  // row (pretraining's steady state) keeps them and the audio cache it filled, and decodes new random video
  // windows.
  for await (const b of loader) b.dispose();
  if (!opts.cacheDir) forgetProbes();
  loader.throughput({ reset: true });
  // Children of an earlier row (killed ffmpeg processes) are reaped before this row starts, and this row's
  // are reaped before its CPU is read: each row is charged its own children only.
  await settleChildren();
  const t0 = process.hrtime.bigint();
  const c0 = processCpuSeconds();
  for await (const b of loader) b.dispose();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const tp = loader.throughput();
  await loader.close();
  await settleChildren();
  const cpu = processCpuSeconds() - c0;
  const n = src.items.length;
  const r = { label, clips: n, epoch_s: s, clips_per_s: n / s, cpu_s_per_clip: cpu / n, throughput: tp };
  console.log(JSON.stringify({ ...r, throughput: undefined }));
  return r;
}

/**
 * The Python loader, two epochs in one process: the first is its warm-up (first calls of torchaudio's
 * fbank and OpenCV's decoder, as ours has its unrecorded first epoch) and is kept as `first_epoch_cpu_s_per_clip`;
 * the second (new random windows, nothing cached) is the row.
 */
function python(manifest: string, label: string) {
  const py = execFileSync('/usr/bin/python3', [path.join(__dirname, '..', '..', 'bench', 'py', 'data_loader.py'), manifest, String(BATCH), '2'], {
    encoding: 'utf8',
  });
  const j = JSON.parse(py.trim().split('\n').pop()!);
  const r = {
    label,
    clips: j.clips,
    epoch_s: j.epoch_s[1],
    clips_per_s: j.clips_per_s[1],
    cpu_s_per_clip: j.cpu_s_per_clip[1],
    first_epoch_cpu_s_per_clip: j.cpu_s_per_clip[0],
    pictures_per_clip: j.pictures_per_clip[1],
    torch_threads: j.torch_threads,
  };
  console.log(JSON.stringify(r));
  return r;
}

async function main() {
  // The fast-start static build unless the caller chooses (SOCIAL_MAE_FFMPEG=system measures Debian's).
  process.env.SOCIAL_MAE_FFMPEG ??= 'bundled';
  torch.setNumThreads(1);
  await inTempDir('smae-bench-data-', async (dir) => {
    const sets = { small: makeDataset(dir, 'small', SMALL), hd: makeDataset(dir, 'hd', HD) };
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    console.log(
      `${SMALL} small + ${HD} hd clips, batch ${BATCH}, ${ROUNDS} rounds, ${cores} cores, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(ffmpegConfig());
    const decoders: DecoderKind[] = libavAvailable() ? ['libav', 'process'] : ['process'];
    const results: unknown[] = [];
    const base = { recipe: REFERENCE_RECIPE };
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of ['small', 'hd'] as const) {
        const m = sets[kind];
        const row = async (label: string, o: { workers: number; concurrency: number; decoder: DecoderKind; cacheDir?: string }) =>
          results.push({ round: r, kind, decoder: o.decoder, ...(await ours(m, label, { ...base, ...o })) });
        for (const decoder of decoders) await row(`ours ${decoder} ${kind} conc 1`, { workers: 0, concurrency: 1, decoder });
        results.push({ round: r, kind, ...python(m, `python ${kind}`) });
        for (const decoder of decoders) {
          await row(`ours ${decoder} ${kind} conc 2`, { workers: 0, concurrency: 2, decoder });
          await row(`ours ${decoder} ${kind} 2 workers`, { workers: 2, concurrency: 2, decoder });
        }
        const decoder = decoders[0]!;
        await row(`ours ${decoder} ${kind} conc 1, epoch 2 (audio cached)`, {
          workers: 0,
          concurrency: 1,
          decoder,
          cacheDir: path.join(dir, `cache-${kind}-${r}`),
        });
      }
    }
    writeResults(OUT, { date: new Date().toISOString(), cores, small: SMALL, hd: HD, batch: BATCH, load: os.loadavg(), ffmpeg: ffmpegConfig(), results });
  });
}

runBench(main);
