/**
 * Data pipeline benchmark: clips/s of decode + fbank + frames for the reference recipe, ours
 * (lib/data DataLoader) vs a Python loader doing the same recipe with OpenCV + torchaudio
 * (bench/py/data_loader.py), on the same files and machine.
 *
 *   node dist/bench/data_loader.js [--clips 16] [--epochs 2] [--batch 4] [--out bench/results/data_loader.json]
 *
 * The dataset is made from the two fixture clips (256x144 12.5 fps with a 16 kHz wav; 1280x720
 * 29.97 fps with AAC audio decoded from the mp4), each copy re-muxed with a distinct title so content
 * hashes (the cache key) differ. Reported: ours cold (no cache), ours with the cache warm (epoch 2; random
 * windows: audio and probes cached, video decoded; centred windows: everything cached), and Python.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch } from '../lib/tensor';
import { DataLoader, REFERENCE_RECIPE, loadManifest, type Recipe } from '../lib/data';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const outIdx = args.indexOf('--out');
const OUT = outIdx >= 0 ? args[outIdx + 1]! : path.join(__dirname, '..', '..', 'bench', 'results', 'data_loader.json');
const CLIPS = flag('clips', 16);
const EPOCHS = flag('epochs', 2);
const BATCH = flag('batch', 4);
const FIX = path.join(__dirname, '..', '..', 'test', 'fixtures');

function makeDataset(dir: string): string {
  const rows = ['video,audio'];
  for (let i = 0; i < CLIPS; i++) {
    const hd = i % 4 === 3;
    const v = `clip${i}.mp4`;
    const src = path.join(FIX, hd ? 'KlsG1EnBEjc_000361.mp4' : '00W1lcxW-WU_40.000.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', src, '-c', 'copy', '-metadata', `title=copy${i}`, path.join(dir, v)]);
    if (hd) rows.push(`${v},`);
    else {
      const a = `clip${i}.wav`;
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-y',
        '-i',
        path.join(FIX, '00W1lcxW-WU_40.000_16k_mono.wav'),
        '-c',
        'copy',
        '-metadata',
        `title=copy${i}`,
        path.join(dir, a),
      ]);
      rows.push(`${v},${a}`);
    }
  }
  fs.writeFileSync(path.join(dir, 'manifest.csv'), rows.join('\n') + '\n');
  return path.join(dir, 'manifest.csv');
}

/** CPU seconds used by this process and its waited-for children (ffmpeg), from /proc/self/stat. */
function cpuSeconds(): number {
  try {
    const f = fs.readFileSync('/proc/self/stat', 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // fields 14-17 of stat (utime, stime, cutime, cstime) are rest[11..14]
    const ticks = [11, 12, 13, 14].reduce((a, i) => a + Number(rest[i]), 0);
    return ticks / 100;
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
}

async function ours(manifest: string, label: string, opts: { workers: number; cacheDir: string | null; recipe: Recipe; concurrency?: number }) {
  const src = await loadManifest(manifest);
  const loader = new DataLoader(src, {
    batchSize: BATCH,
    recipe: opts.recipe,
    workers: opts.workers,
    cacheDir: opts.cacheDir,
    seed: 0,
    onWarning: () => undefined,
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
  });
  const epochs: number[] = [];
  const cpu: number[] = [];
  for (let e = 0; e < EPOCHS; e++) {
    const t0 = process.hrtime.bigint();
    const c0 = cpuSeconds();
    for await (const b of loader) b.dispose();
    epochs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    cpu.push(cpuSeconds() - c0);
  }
  await loader.close();
  const r = {
    label,
    epoch_s: epochs,
    clips_per_s: epochs.map((s) => CLIPS / s),
    cpu_s_per_clip: cpu.map((c) => c / CLIPS),
    cacheHits: loader.stats.cacheHits,
  };
  console.log(JSON.stringify(r));
  return r;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-bench-data-'));
  try {
    const manifest = makeDataset(dir);
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    console.log(`${CLIPS} clips, batch ${BATCH}, ${EPOCHS} epochs, ${cores} cores, LibTorch ${torch.version()} (${torch.getNumThreads()} threads)`);
    const results: unknown[] = [];
    results.push(await ours(manifest, 'ours inline, no cache', { workers: 0, cacheDir: null, recipe: REFERENCE_RECIPE }));
    results.push(await ours(manifest, `ours ${cores} workers, no cache`, { workers: cores, cacheDir: null, recipe: REFERENCE_RECIPE }));
    results.push(await ours(manifest, 'ours inline, cache (random windows)', { workers: 0, cacheDir: path.join(dir, 'cache1'), recipe: REFERENCE_RECIPE }));
    const centred: Recipe = { ...REFERENCE_RECIPE, video: { ...(REFERENCE_RECIPE.video as object), start: 'center' } };
    results.push(await ours(manifest, 'ours inline, cache (centred windows)', { workers: 0, cacheDir: path.join(dir, 'cache2'), recipe: centred }));
    const py = execFileSync('/usr/bin/python3', [path.join(__dirname, '..', '..', 'bench', 'py', 'data_loader.py'), manifest, String(BATCH), String(EPOCHS)], {
      encoding: 'utf8',
    });
    const pyr = { label: 'python (cv2 + torchaudio + torchvision), single process', ...JSON.parse(py.trim().split('\n').pop()!) };
    console.log(JSON.stringify(pyr));
    results.push(pyr);
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), cores, clips: CLIPS, batch: BATCH, load: os.loadavg(), results }, null, 2));
    console.log(`written ${OUT}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
