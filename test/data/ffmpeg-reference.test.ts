/**
 * Cross-checks against the reference stack (OpenCV + torchaudio from Debian's python3), when present:
 * decoded frames must be bit-identical to cv2.VideoCapture's, audio identical to torchaudio.load's.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { bundledBinary, decodeAudio, decodeVideoFrames, probe, useFfmpeg } from '../../lib/data/ffmpeg';
import { CLIP, WAV, LYING, referencePython, tmpDir, NO_FFMPEG } from './helpers';

const py = NO_FFMPEG ? null : referencePython();

function hasSystemFfmpeg(): boolean {
  try {
    useFfmpeg('system');
    return true;
  } catch {
    return false;
  } finally {
    useFfmpeg(null);
  }
}
if (!py) {
  t.comment('skipped: /usr/bin/python3 with torch, torchaudio and cv2 is not available');
} else {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const script = `
import sys, cv2, numpy as np, torchaudio
out = sys.argv[1]
for name, f, idx in [('lying', sys.argv[2], [0, 150, 298]), ('clip', sys.argv[3], [0, 53, 124])]:
    c = cv2.VideoCapture(f)
    n = 0
    frames = []
    while True:
        ok, fr = c.read()
        if not ok: break
        if n in idx: frames.append(fr)
        n += 1
    np.stack(frames).tofile(out + '/' + name + '.u8')
    open(out + '/' + name + '.txt', 'w').write('%r %r %d' % (c.get(cv2.CAP_PROP_FPS), c.get(cv2.CAP_PROP_FRAME_COUNT), n))
for name, f in [('wav', sys.argv[4]), ('mp4', sys.argv[3])]:
    w, sr = torchaudio.load(f)
    w.numpy().astype(np.float32).tofile(out + '/' + name + '.f32')
    open(out + '/' + name + '.txt', 'w').write('%d %d %d' % (sr, w.shape[0], w.shape[1]))
`;
  const r = spawnSync(py, ['-c', script, dir, LYING, CLIP, WAV], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });

  t.test('OpenCV frames and counts', async (t) => {
    t.equal(r.status, 0, r.stderr);
    for (const [name, file, idx] of [
      ['lying', LYING, [0, 150, 298]],
      ['clip', CLIP, [0, 53, 124]],
    ] as const) {
      const [fps, count, decoded] = fs
        .readFileSync(path.join(dir, `${name}.txt`), 'utf8')
        .split(' ')
        .map(Number);
      const info = await probe(file, { countFrames: true });
      t.equal(info.video!.fps, fps, `${name}: fps = CAP_PROP_FPS`);
      t.equal(info.video!.reportedFrames, count, `${name}: reportedFrames = CAP_PROP_FRAME_COUNT`);
      t.equal(info.video!.decodableFrames, decoded, `${name}: decodable = cv2 read() count`);
      const ref = fs.readFileSync(path.join(dir, `${name}.u8`));
      const v = await decodeVideoFrames(file, { indices: [...idx], info });
      const fb = v.width * v.height * 3;
      for (let i = 0; i < idx.length; i++) {
        t.ok(Buffer.from(v.frames[i]!).equals(ref.subarray(i * fb, (i + 1) * fb)), `${name} frame ${idx[i]}: identical to cv2`);
      }
      if (name === 'lying') {
        // BT.709-tagged HD: following the tags differs from OpenCV's BT.601 conversion
        const auto = await decodeVideoFrames(file, { indices: [0], info, colorMatrix: 'auto' });
        let maxDiff = 0;
        for (let p = 0; p < fb; p++) maxDiff = Math.max(maxDiff, Math.abs(auto.frames[0]![p]! - ref[p]!));
        t.comment(`colorMatrix 'auto' vs OpenCV on the BT.709 clip: max ${maxDiff} levels`);
        t.ok(maxDiff > 0);
      }
    }
  });

  t.test('torchaudio.load values', async (t) => {
    for (const [name, file] of [
      ['wav', WAV],
      ['mp4', CLIP],
    ] as const) {
      const [sr, ch, n] = fs
        .readFileSync(path.join(dir, `${name}.txt`), 'utf8')
        .split(' ')
        .map(Number);
      const ref = new Float32Array(fs.readFileSync(path.join(dir, `${name}.f32`)).buffer.slice(0));
      // Debian's ffmpeg (the one torchaudio links) is the bit-exact `compat: 'reference'` choice; the
      // bundled static build (an older ffmpeg) decodes AAC with float rounding differences.
      for (const which of ['system', 'bundled'] as const) {
        if (which === 'bundled' ? !bundledBinary('ffmpeg') : !hasSystemFfmpeg()) continue;
        useFfmpeg(which);
        try {
          const a = await decodeAudio(file);
          t.equal(a.sampleRate, sr);
          t.equal(a.channels, ch);
          t.equal(a.samples, n);
          let bad = 0;
          let max = 0;
          for (let i = 0; i < ref.length; i++) {
            if (ref[i] !== a.data[i]) bad++;
            max = Math.max(max, Math.abs(ref[i]! - a.data[i]!));
          }
          if (which === 'system' || name === 'wav') t.equal(bad, 0, `${name} (${which} ffmpeg): identical to torchaudio.load`);
          // Measured on this fixture: 32 of 882,688 samples differ, by at most 7.5e-9 (one float32 ulp
          // of values near 2^-20); the bound leaves 4x room.
          else t.ok(max <= 3e-8, `${name} (bundled ffmpeg): ${bad} samples differ, max ${max} (bound 3e-8)`);
        } finally {
          useFfmpeg(null);
        }
      }
    }
  });
}
