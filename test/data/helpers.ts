/** Test helpers for lib/data tests (not a test file itself). */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { locateFfmpeg } from '../../lib/data/ffmpeg-env';
import { libavAvailable, type DecoderKind } from '../../lib/data/decoder';

/** test/fixtures, from dist/test/data or test/data. */
export const FIX = fs.existsSync(path.join(__dirname, '..', 'fixtures', 'media_meta.json'))
  ? path.join(__dirname, '..', 'fixtures')
  : path.join(__dirname, '..', '..', '..', 'test', 'fixtures');

export const CLIP = path.join(FIX, '00W1lcxW-WU_40.000.mp4');
export const WAV = path.join(FIX, '00W1lcxW-WU_40.000_16k_mono.wav');
export const LYING = path.join(FIX, 'KlsG1EnBEjc_000361.mp4');

/** Entries of an uncompressed (stored) zip such as a torch.save file: name -> bytes. */
export function readStoredZip(file: string): Map<string, Buffer> {
  const buf = fs.readFileSync(file);
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error(`${file}: no zip end record`);
  let n = buf.readUInt16LE(eocd + 10);
  let off = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  while (n-- > 0) {
    if (buf.readUInt32LE(off) !== 0x02014b50) throw new Error('bad central directory');
    const method = buf.readUInt16LE(off + 10);
    const size = buf.readUInt32LE(off + 20);
    const nameLen = buf.readUInt16LE(off + 28);
    const extraLen = buf.readUInt16LE(off + 30);
    const commentLen = buf.readUInt16LE(off + 32);
    const local = buf.readUInt32LE(off + 42);
    const name = buf.toString('utf8', off + 46, off + 46 + nameLen);
    if (method !== 0) throw new Error(`${name}: compressed entry`);
    const lName = buf.readUInt16LE(local + 26);
    const lExtra = buf.readUInt16LE(local + 28);
    const start = local + 30 + lName + lExtra;
    out.set(name, buf.subarray(start, start + size));
    off += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** The reference's 8 decoded frames (cv2, BGR, [8, 144, 256, 3] uint8) from video_frames.pt. */
export function referenceRawFrames(): Buffer {
  const z = readStoredZip(path.join(FIX, 'video_frames.pt'));
  for (const [name, data] of z) if (/\/data\/\d+$/.test(name) && data.length === 8 * 144 * 256 * 3) return data;
  throw new Error('raw_frames_bgr_u8 not found in video_frames.pt');
}

/** A fresh temporary directory (removed by the returned cleanup). */
export function tmpDir(prefix = 'smae-data-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The ffmpeg that makes test media: the one on PATH, else the pipeline's (the bundled static build). */
function mediaMaker(): string {
  if (spawnSync('ffmpeg', ['-version'], { stdio: 'ignore', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' }).status === 0) return 'ffmpeg';
  return locateFfmpeg().ffmpeg;
}

/** Runs ffmpeg synchronously (to make test media); throws on failure. */
export function ffmpegSync(args: string[]): void {
  execFileSync(mediaMaker(), ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
}

/** Six copies of the 299-frame LYING clip back to back (stream copy, no audio) in `dir`: a long decode. */
export function longClip(dir: string): string {
  const list = path.join(dir, 'list.txt');
  fs.writeFileSync(list, `file '${LYING}'\n`.repeat(6));
  const long = path.join(dir, 'long.mp4');
  ffmpegSync(['-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', '-an', long]);
  return long;
}

/** Debian's python3 with torch/torchaudio/cv2 for reference checks, or null when unavailable. */
export function referencePython(): string | null {
  const py = '/usr/bin/python3';
  if (!fs.existsSync(py)) return null;
  const r = spawnSync(py, ['-c', 'import torch, torchaudio, cv2, numpy'], { stdio: 'ignore', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  return r.status === 0 ? py : null;
}

/** Waits (up to `ms`) until this process has no ffmpeg/ffprobe children; returns those left. */
export async function noMediaChildren(ms = 5000): Promise<string[]> {
  const end = Date.now() + ms;
  let left = childMediaProcesses();
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    left = childMediaProcesses();
  }
  return left;
}

/**
 * ffmpeg/ffprobe processes descending from this one (Linux): its children and theirs, since the process
 * decoder's runs are children of the spawn helper (lib/data/spawn-helper.ts). One line "pid stat comm" each.
 */
export function childMediaProcesses(): string[] {
  const r = spawnSync('ps', ['-e', '-o', 'pid=,ppid=,stat=,comm='], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.status !== 0 && !r.stdout) return [];
  const rows = r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => c.length >= 4);
  const mine = new Set([String(process.pid)]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of rows) {
      if (!mine.has(ppid!) || mine.has(pid!)) continue;
      mine.add(pid!);
      grew = true;
    }
  }
  return rows
    .filter(([pid, ppid, , comm]) => ppid !== undefined && mine.has(pid!) && /ffmpeg|ffprobe/.test(comm!))
    .map(([pid, , stat, comm]) => `${pid} ${stat} ${comm}`);
}

/** A skip reason when no ffmpeg/ffprobe can be found (system, env or bundled; media tests), else false. */
export const NO_FFMPEG: string | false = (() => {
  const ok = (bin: string) => spawnSync(bin, ['-version'], { stdio: 'ignore', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' }).status === 0;
  try {
    const p = locateFfmpeg();
    return ok(p.ffmpeg) && ok(p.ffprobe) ? false : 'ffmpeg/ffprobe do not run';
  } catch {
    return 'ffmpeg/ffprobe not installed';
  }
})();

/** The decoders this build can run (media tests that compare them loop over these). */
export const DECODERS: DecoderKind[] = libavAvailable() ? ['libav', 'process'] : ['process'];

/** Skip reason of the in-process decoder tests: no ffmpeg to compare with, or an addon built without libav. */
export const NO_LIBAV: string | false = NO_FFMPEG || (libavAvailable() ? false : 'the addon was built without the in-process decoder');

/** md5 of a view's bytes (decoded frames and samples compared across decoders). */
export const md5 = (b: ArrayBufferView): string =>
  crypto
    .createHash('md5')
    .update(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
    .digest('hex');
