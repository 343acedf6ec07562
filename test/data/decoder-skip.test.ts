/**
 * The in-process decoder leaves H.264 non-reference pictures that are not kept undecoded
 * (native/media/video_skip.cc): the selected frames must stay byte-identical to the ffmpeg process's, the
 * skipping must really happen on B-frame clips (`skipped` > 0), interlaced coding is not tried, and a clip
 * that breaks its assumptions (duplicated or missing pts, a truncated file) must be redone with every
 * picture decoded (`redone`) and still give the same bytes; packets the demuxer marks discard are handled;
 * nothing after the last kept picture's packet is decoded (the decoder is flushed there).
 */
import t from 'tap';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { decodeVideoFrames, locateFfmpeg, probe, useFfmpeg } from '../../lib/data/ffmpeg';
import { libavDecodeVideo } from '../../lib/data/libav';
import { ffmpegSync, tmpDir, NO_LIBAV, md5 } from './helpers';

const skip = NO_LIBAV;

interface Window {
  indices: number[];
  startTime?: number;
}

/** Decodes `w` with the ffmpeg process and in-process; asserts identical bytes and returns the native result's facts. */
async function same(t: tap.Test, file: string, w: Window): Promise<{ skipped: number; redone: boolean; sent: number }> {
  const info = await probe(file, { decoder: 'process' });
  const p = await decodeVideoFrames(file, { ...w, info, decoder: 'process' });
  // decodeVideoFrames' own -ss text and -vf chain for these options (bt601, no scaling)
  const l = await libavDecodeVideo(file, {
    streamIndex: info.videoStreams[0]!.index,
    indices: w.indices,
    ...(w.startTime !== undefined ? { startTime: w.startTime.toFixed(6) } : {}),
    filters: 'scale=in_color_matrix=bt601:flags=bicubic',
    pixelFormat: 'bgr24',
    timeoutMs: 60000,
  });
  t.same(l.frames.map(md5), p.frames.map(md5), `${path.basename(file)} ${JSON.stringify(w)}: same frames (skipped ${l.skipped}, redone ${l.redone})`);
  return { skipped: l.skipped, redone: l.redone, sent: l.pictures + l.skipped };
}

/** 1 + the decode-order position of the packet whose picture is the `n`-th in display order (ffprobe's packet pts). */
function packetsThrough(file: string, n: number): number {
  const out = execFileSync(locateFfmpeg().ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
  });
  // one line per packet, "pts," where the packet has side data (MPEG-TS), and blank lines after those
  const pts = out
    .split('\n')
    .map((l) => l.split(',')[0]!.trim())
    .filter((v) => v !== '')
    .map(Number);
  const nth = [...pts].sort((a, b) => a - b)[n];
  return pts.indexOf(nth!) + 1;
}

t.test('B-frame clips: non-reference pictures are skipped, frames stay identical', { skip }, async (t) => {
  useFfmpeg('system');
  t.teardown(() => useFfmpeg(null));
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const clip = (name: string, enc: string[], src = 'testsrc2=s=256x144:r=25:d=4') => {
    const f = path.join(dir, name);
    ffmpegSync(['-f', 'lavfi', '-i', src, '-c:v', 'libx264', '-g', '25', ...enc, f]);
    return f;
  };
  const clips = [
    clip('default.mp4', []), // x264 defaults: 3 B-frames, b-pyramid (referenced middle B)
    clip('bf2.mp4', ['-bf', '2']),
    clip('pyramid5.mkv', ['-x264-params', 'bframes=5:b-adapt=0:b-pyramid=strict']), // avcC in Matroska
    clip('annexb.ts', []), // start codes, no avcC
    // variable frame rate: irregular but consistent timestamps (1 ms time base)
    clip('vfr.mp4', ['-fps_mode', 'passthrough', '-video_track_timescale', '1000'], "testsrc2=s=256x144:r=25:d=4,setpts='(N*40+mod(N*N\\,7)*5)/1000/TB'"),
  ];
  for (const f of clips) {
    const sparse = await same(t, f, { indices: [0, 7, 53, 90] });
    t.ok(sparse.skipped > 0 && !sparse.redone, `${path.basename(f)}: the sparse window skipped ${sparse.skipped} pictures`);
    // the reorder delay holds the last kept picture back; a flush, not the next packets, brings it out
    t.equal(sparse.sent, packetsThrough(f, 90), `${path.basename(f)}: no packet after the last kept picture's is sent`);
    await same(t, f, { indices: [0, 1, 2, 3, 4, 5, 6, 7] }); // consecutive: kept B-frames
    await same(t, f, { indices: [1, 2, 3, 98, 99, 140] }); // B-frames kept, the stream ends before the last
  }
  for (const f of clips.filter((c) => !c.endsWith('.ts'))) {
    // windows starting inside a GOP (keyframes every second): the pictures before -ss are skipped too
    const inside = await same(t, f, { indices: [2, 9, 17, 30], startTime: 1.3 });
    t.ok(inside.skipped > 0 && !inside.redone, `${path.basename(f)}: the window from 1.3 s skipped ${inside.skipped} pictures`);
    await same(t, f, { indices: [0, 3, 20], startTime: 1.2 });
    await same(t, f, { indices: [5, 6], startTime: 0.5 });
  }
  // cut at a non-keyframe without re-encoding (as AudioSet-style clips are): the MP4 edit list makes the
  // demuxer mark the packets before the cut discard; their pictures never come out and are not counted
  const cut = path.join(dir, 'cut.mp4');
  ffmpegSync(['-ss', '1.3', '-i', clips[0]!, '-c', 'copy', cut]);
  for (const w of [{ indices: [0, 7, 53] }, { indices: [0, 1, 2, 3] }, { indices: [4, 30], startTime: 1.1 }, { indices: [1, 2, 3, 98, 99, 140] }]) {
    const r = await same(t, cut, w);
    t.ok(r.skipped > 0 && !r.redone, `cut clip ${JSON.stringify(w)}: skipped ${r.skipped} pictures`);
  }
  // a stream without B-frames has nothing to skip
  t.has(await same(t, clip('noB.mp4', ['-bf', '0']), { indices: [0, 7, 53, 90] }), { skipped: 0, redone: false }, 'no B-frames: nothing skipped');
  // interlaced coding (frame_mbs_only_flag 0: a packet may hold one field): not tried
  const il = clip('interlaced.mp4', ['-flags', '+ildct+ilme']);
  t.has(await same(t, il, { indices: [0, 7, 53, 90] }), { skipped: 0, redone: false }, 'interlaced: not tried');
  t.has(await same(t, il, { indices: [2, 9, 17, 30], startTime: 1.3 }), { skipped: 0, redone: false }, 'interlaced, window inside a GOP: not tried');
});

t.test('clips that break the assumptions are redone with every picture decoded', { skip }, async (t) => {
  useFfmpeg('system');
  t.teardown(() => useFfmpeg(null));
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const mkv = path.join(dir, 'src.mkv');
  ffmpegSync(['-f', 'lavfi', '-i', 'testsrc2=s=256x144:r=25:d=4', '-c:v', 'libx264', '-g', '25', mkv]);
  // the 10th packet takes the 9th's pts (the setts bitstream filter needs FFmpeg >= 4.4)
  const dup = path.join(dir, 'dup.mkv');
  let setts = true;
  try {
    ffmpegSync(['-i', mkv, '-c', 'copy', '-bsf:v', 'setts=pts=if(eq(N\\,9)\\,PREV_INPTS\\,PTS)', dup]);
  } catch {
    setts = false;
  }
  // two B-frames (the 4th and 8th packets) trade pts: the pts order is no longer the pictures' order
  const swapped = path.join(dir, 'swapped.mkv');
  if (setts) ffmpegSync(['-i', mkv, '-c', 'copy', '-bsf:v', 'setts=pts=if(eq(N\\,3)\\,200\\,if(eq(N\\,7)\\,40\\,PTS))', swapped]);
  if (setts) {
    t.has(await same(t, swapped, { indices: [0, 7, 53, 90] }), { skipped: 0, redone: true }, 'pts not in picture order: redone');
    t.has(await same(t, dup, { indices: [0, 7, 53, 90] }), { skipped: 0, redone: true }, 'duplicated pts: redone');
    t.has(await same(t, dup, { indices: [1, 2, 3, 98, 99, 140] }), { skipped: 0, redone: true }, 'duplicated pts, stream ends early: redone');
  } else t.comment('skipped the duplicated-pts clip: this ffmpeg has no setts bitstream filter');
  // an elementary stream: packets carry no pts
  const raw = path.join(dir, 'raw.h264');
  ffmpegSync(['-i', mkv, '-c', 'copy', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', raw]);
  t.has(await same(t, raw, { indices: [0, 7, 53, 90] }), { skipped: 0, redone: true }, 'no pts: redone');
  // a download cut short (index at the front): the packets past the end come back short or not at all
  const whole = path.join(dir, 'faststart.mp4');
  ffmpegSync(['-i', mkv, '-c', 'copy', '-movflags', '+faststart', whole]);
  const truncated = path.join(dir, 'truncated.mp4');
  fs.writeFileSync(truncated, fs.readFileSync(whole).subarray(0, Math.floor(fs.statSync(whole).size * 0.6)));
  t.has(await same(t, truncated, { indices: [0, 7, 53, 90] }), { skipped: 0, redone: true }, 'truncated: redone');
});
