/**
 * Where a clip's CPU goes, per stage and per decoder (complements bench/data_loader.ts): probe, audio
 * decode (the recipe window), fbank, video decode (the reference sampling's 8 frames, seeking as the loader
 * does), frame transform. CPU seconds = this process (all threads) + its children (through the spawn
 * helper), per clip, averaged over the clips of each kind (Linux), stages interleaved per clip (libav,
 * process, libav, ...). With libav,
 * also the pictures it decoded per clip (DecodedFrames.pictures: from the keyframe before the window to the
 * last kept frame, H.264 non-reference pictures not kept left out).
 *
 *   node dist/bench/data_stages.js [--clips 4] [--out bench/results/data_stages.json]
 *
 * Clips: bench/media_clips.ts (as data_loader.ts): small = 224x224 25 fps 6 s H.264 + AAC 16 kHz mono; hd =
 * 1280x720 30 fps 8 s H.264 (B-frames, keyframe every 2 s) + AAC 44.1 kHz stereo.
 */
import * as os from 'os';
import * as path from 'path';
import { torch } from '../lib/tensor';
import { PyRandom, decodeAudio, decodeVideoFrames, libavAvailable, probe, recipeMaxSamples, waveformToFbank, type DecoderKind } from '../lib/data';
import { decodeVideoPlan, planVideo, seekTime, type LoadVideoFramesOptions } from '../lib/data/frames';
import { settleChildren } from '../lib/data/ffmpeg';
import { childCpuSeconds } from '../lib/data/cpu-time';
import { benchClip, inTempDir, runBench, writeResults } from './media_clips';

const args = process.argv.slice(2);
const at = (name: string) => args.indexOf(`--${name}`);
const CLIPS = at('clips') >= 0 ? Number(args[at('clips') + 1]) : 4;
const OUT = at('out') >= 0 ? args[at('out') + 1]! : path.join(__dirname, '..', '..', 'bench', 'results', 'data_stages.json');

/** This process's CPU (microseconds resolution) + its children's (reaped, and the spawn helper's: 10 ms ticks). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6 + childCpuSeconds();
}

type Stages = { probe: number; audio: number; fbank: number; videoDecode: number; transform: number };

async function stages(file: string, decoder: DecoderKind, seed: number): Promise<{ cpu: Stages; pictures?: number }> {
  const t = async <T>(f: () => Promise<T> | T): Promise<[T, number]> => {
    const c0 = cpuSeconds();
    const r = await f();
    await settleChildren();
    return [r, cpuSeconds() - c0];
  };
  const [info, p] = await t(() => probe(file, { decoder }));
  const audioOpts = { targetLength: 1024, frameShift: 10 };
  const [a, ad] = await t(() => decodeAudio(file, { decoder, maxSamples: recipeMaxSamples(audioOpts)! }));
  const [, fb] = await t(() =>
    torch.tidy(() => {
      waveformToFbank(torch.fromBuffer(a.data, 'float32', [a.channels, a.samples]), a.sampleRate, { ...audioOpts, numMelBins: 128, normalize: true }).toArray();
    }),
  );
  const vopts: LoadVideoFramesOptions = {
    fps: 2,
    duration: 4,
    size: 224,
    sampling: 'reference',
    channelOrder: 'bgr',
    info,
    rng: new PyRandom(seed),
    onWarning: () => undefined,
  };
  const plan = await planVideo(file, vopts);
  const idx = plan.plan.decodeIndices;
  const at0 = seekTime(info, info.video!, idx[0]!);
  const [decoded, vd] = await t(() =>
    decodeVideoFrames(file, at0 === null ? { decoder, info, indices: idx } : { decoder, info, startTime: at0, indices: idx.map((i) => i - idx[0]!) }),
  );
  const [v, all] = await t(() => decodeVideoPlan(file, { ...plan, rng: new PyRandom(seed) }, { ...vopts, decoder } as LoadVideoFramesOptions));
  v.video.dispose();
  const cpu = { probe: p, audio: ad, fbank: fb, videoDecode: vd, transform: Math.max(0, all - vd) };
  return decoded.pictures === undefined ? { cpu } : { cpu, pictures: decoded.pictures };
}

async function main() {
  torch.setNumThreads(1);
  process.env.SOCIAL_MAE_FFMPEG ??= 'bundled';
  const decoders: DecoderKind[] = libavAvailable() ? ['libav', 'process'] : ['process'];
  const out: Record<string, Record<string, Stages>> = {};
  const pictures: Record<string, number> = {};
  await inTempDir('smae-bench-stages-', async (dir) => {
    for (const kind of ['small', 'hd'] as const) {
      const files = Array.from({ length: CLIPS }, (_, i) => path.join(dir, `${kind}${i}.mp4`));
      files.forEach((f, i) => benchClip(f, kind, i));
      for (const d of decoders) await stages(files[0]!, d, 99); // warm-up
      const sum: Record<string, Stages> = {};
      for (const [i, f] of files.entries()) {
        for (const d of decoders) {
          const { cpu: s, pictures: n } = await stages(f, d, i);
          const acc = (sum[d] ??= { probe: 0, audio: 0, fbank: 0, videoDecode: 0, transform: 0 });
          for (const k of Object.keys(s) as (keyof Stages)[]) acc[k] += s[k] / files.length;
          if (n !== undefined) pictures[kind] = (pictures[kind] ?? 0) + n / files.length;
        }
      }
      out[kind] = sum;
      for (const [d, s] of Object.entries(sum)) {
        const total = Object.values(s).reduce((x, y) => x + y, 0);
        console.log(
          `${kind} ${d}: ${Object.entries(s)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(', ')}, total ${total.toFixed(4)} CPU-s/clip`,
        );
      }
      if (pictures[kind] !== undefined) console.log(`${kind} libav: ${pictures[kind]!.toFixed(1)} pictures decoded per clip`);
    }
    writeResults(OUT, { date: new Date().toISOString(), load: os.loadavg(), clips: CLIPS, cpuSecondsPerClip: out, libavPicturesPerClip: pictures });
  });
}

runBench(main);
