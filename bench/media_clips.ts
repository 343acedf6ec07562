/**
 * What the data benchmarks (bench/data_loader.ts, bench/data_stages.ts) share: their clips, generated with
 * the bundled ffmpeg's lavfi sources (distinct content per index), a temp dir that is removed afterwards,
 * and the script entry point.
 *  - small, VoxCeleb2-like: 224x224 at 25 fps, 6 s, H.264 (x264 veryfast, keyframe every 2 s) + AAC
 *    16 kHz mono; `benchWav` writes the same tone as a separate 16 kHz wav (the reference's setup);
 *  - hd: 1280x720 at 30 fps, 8 s, H.264 (x264 veryfast: 3 B-frames, keyframe every 2 s) + AAC 44.1 kHz
 *    stereo.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { locateFfmpeg } from '../lib/data/ffmpeg';

export type ClipKind = 'small' | 'hd';

function ff(argv: string[]): void {
  execFileSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-y', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
}

const tone = (kind: ClipKind, i: number) => `sine=f=${220 + 37 * i}:r=${kind === 'small' ? 16000 : 44100}:d=${kind === 'small' ? 6 : 8}`;

/** Writes clip `i` of a kind (video + audio) to `file` (.mp4). */
export function benchClip(file: string, kind: ClipKind, i: number): void {
  const video = kind === 'small' ? `testsrc2=s=224x224:r=25:d=6,hue=h=${i * 29}` : `testsrc2=s=1280x720:r=30:d=8,hue=h=${i * 41}`;
  const [gop, channels] = kind === 'small' ? ['50', '1'] : ['60', '2'];
  ff(
    ['-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', tone(kind, i), '-c:v', 'libx264', '-preset', 'veryfast', '-g', gop, '-pix_fmt', 'yuv420p'].concat([
      '-c:a',
      'aac',
      '-ac',
      channels,
      '-shortest',
      file,
    ]),
  );
}

/** Writes the audio of small clip `i` as a 16 kHz pcm_s16le wav. */
export function benchWav(file: string, i: number): void {
  ff(['-f', 'lavfi', '-i', tone('small', i), '-c:a', 'pcm_s16le', file]);
}

/** Runs `fn` with a fresh temp dir, removed afterwards. */
export async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a benchmark's JSON (creating its folder) and says where. */
export function writeResults(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  console.log(`written ${file}`);
}

/** The script entry point: runs `main`, printing a failure and exiting 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
