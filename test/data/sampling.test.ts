import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { PyRandom } from '../../lib/data/pyrandom';
import { npArange, padPlan, pyFloorDiv, referenceIndices, uniformIndices } from '../../lib/data/sampling';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const meta = JSON.parse(fs.readFileSync(path.join(FIX, 'media_meta.json'), 'utf8'));

// Values printed by CPython 3.11 (`random.Random(seed)`), see the comment in pyrandom.ts.
const PY: Record<string, { randint: number[]; random: number[]; bits40: number; bits53: number }> = {
  '0': {
    randint: [49, 53, 5, 33, 65, 0, 424607],
    random: [0.9182343317851318, 0.8298529036589914, 0.9677999949201714],
    bits40: 641487937455,
    bits53: 8179554296520568,
  },
  '1': {
    randint: [17, 72, 8, 32, 15, 0, 797929],
    random: [0.4494910647887381, 0.651592972722763, 0.7887233511355132],
    bits40: 532979068556,
    bits53: 8046282048391080,
  },
  '4242': {
    randint: [53, 16, 3, 49, 48, 0, 288481],
    random: [0.18491019692677046, 0.49365064519599167, 0.8136733209280013],
    bits40: 168179674447,
    bits53: 6873801268920686,
  },
  '4294967301': {
    randint: [20, 62, 36, 1, 45, 0, 815379],
    random: [0.9525330061387068, 0.8256912206327391, 0.9739667512161593],
    bits40: 389683729113,
    bits53: 6794749657802013,
  },
  '123456789012': {
    randint: [48, 2, 33, 17, 53, 0, 154207],
    random: [0.8270071951417254, 0.44877761026549035, 0.9453287711260339],
    bits40: 432309663123,
    bits53: 3541100957340479,
  },
  '-7': {
    randint: [41, 19, 50, 6, 9, 0, 383455],
    random: [0.5827880059033551, 0.9097040631431023, 0.21469818083566172],
    bits40: 477110510426,
    bits53: 629201619997851,
  },
};

t.test('PyRandom reproduces CPython random', async (t) => {
  for (const [seed, exp] of Object.entries(PY)) {
    const r = new PyRandom(Number(seed));
    const got = [0, 1, 2, 3, 4].map(() => r.randint(0, 75));
    got.push(r.randint(0, 0), r.randint(3, 1000000));
    t.same(got, exp.randint, `randint seed ${seed}`);
    t.same([r.random(), r.random(), r.random()], exp.random, `random seed ${seed}`);
    t.equal(r.getrandbits(40), exp.bits40, `getrandbits(40) seed ${seed}`);
    t.equal(r.getrandbits(53), exp.bits53, `getrandbits(53) seed ${seed}`);
  }
  t.throws(() => new PyRandom(1.5));
  t.throws(() => new PyRandom(0).randint(3, 2));
});

t.test('pyFloorDiv and npArange follow Python/numpy', async (t) => {
  t.equal(pyFloorDiv(12.5, 2), 6);
  t.equal(pyFloorDiv(30000 / 1001, 2), 14);
  t.equal(pyFloorDiv(25, 2), 12);
  t.equal(pyFloorDiv(0.1, 0.01), 10);
  t.equal(pyFloorDiv(1.0, 0.1), 9); // famous: 1.0 // 0.1 == 9.0
  t.equal(pyFloorDiv(7.5, 2.5), 3);
  t.equal(pyFloorDiv(-7, 2), -4);
  t.same(npArange(53, 103, 6), [53, 59, 65, 71, 77, 83, 89, 95, 101]);
  t.equal(npArange(0, (30000 / 1001) * 4, 14).length, 9);
  t.same(npArange(5, 5, 1), []);
});

t.test('referenceIndices reproduces the fixture (seed 4242 -> start 53)', async (t) => {
  const v = meta.video;
  const plan = referenceIndices({ fps: v.cv2_fps, reportedFrames: v.cv2_frame_count, rng: new PyRandom(meta.python_random_seed_for_getitem) });
  t.equal(plan.start, v.start_idx);
  t.equal(plan.interval, v.frame_interval);
  t.same(plan.frameIndices, v.keep_indices);
  t.same(plan.decodeIndices, v.keep_indices);
  t.equal(plan.length, 8);
  t.equal(plan.padded, false);
  t.same(plan.warnings, []);
  const fixed = referenceIndices({ fps: 12.5, reportedFrames: 125, startFrame: 53 });
  t.same(fixed.frameIndices, v.keep_indices);
  // the random range is [0, int(length - n_keep)] = [0, 75], inclusive on both ends
  const seen = new Set<number>();
  const rng = new PyRandom(1);
  for (let i = 0; i < 3000; i++) seen.add(referenceIndices({ fps: 12.5, reportedFrames: 125, rng }).start);
  t.equal(Math.min(...seen), 0);
  t.equal(Math.max(...seen), 75);
});

t.test('referenceIndices: 29.97 fps, short clips tile, fps < targetFps', async (t) => {
  const p = referenceIndices({ fps: 30000 / 1001, reportedFrames: 400, startFrame: 10 });
  t.equal(p.interval, 14);
  t.same(p.frameIndices, [10, 24, 38, 52, 66, 80, 94, 108]);
  // short clip: 30 reported frames at 12.5 fps < n_keep = 50 -> start 0, arange(0, 30, 6) = 5 frames, tiled
  const s = referenceIndices({ fps: 12.5, reportedFrames: 30, startFrame: 7 });
  t.equal(s.start, 0);
  t.same(s.frameIndices, [0, 6, 12, 18, 24, 0, 6, 12]);
  t.same(s.decodeIndices, [0, 6, 12, 18, 24]);
  t.equal(s.padded, true);
  t.ok(s.warnings.some((w) => /short clip/.test(w)));
  t.ok(s.warnings.some((w) => /startFrame 7 ignored/.test(w)));
  // a float reported length exactly equal to n_keep is not short
  t.same(referenceIndices({ fps: 12.5, reportedFrames: 50, rng: new PyRandom(0) }).frameIndices, [0, 6, 12, 18, 24, 30, 36, 42]);
  const slow = referenceIndices({ fps: 1.5, reportedFrames: 100, startFrame: 0 });
  t.equal(slow.interval, 1);
  t.equal(slow.frameIndices.length, 8);
  t.ok(slow.warnings.some((w) => /interval/.test(w)));
  t.throws(() => referenceIndices({ fps: 12.5, reportedFrames: 0 }), { code: 'ERR_MEDIA' });
  t.throws(() => referenceIndices({ fps: 0, reportedFrames: 10 }), { code: 'ERR_INVALID_ARG' });
  t.throws(() => referenceIndices({ fps: 25, reportedFrames: 10, targetFps: 3, duration: 2.5 }), { code: 'ERR_INVALID_ARG' });
});

t.test('uniformIndices samples true timestamps', async (t) => {
  const p = uniformIndices({ fps: 12.5, frameCount: 125, startFrame: 0 });
  // 12.5 / 2 = 6.25 frames per sample: round(k * 6.25)
  t.same(p.frameIndices, [0, 6, 13, 19, 25, 31, 38, 44]);
  t.equal(p.interval, 6.25);
  const q = uniformIndices({ fps: 30000 / 1001, frameCount: 299, startTime: 1 });
  t.equal(q.start, 30);
  t.same(
    q.frameIndices.map((f) => f - 30),
    [0, 15, 30, 45, 60, 75, 90, 105],
  );
  // the window is clamped to fit
  const c = uniformIndices({ fps: 25, frameCount: 100, startFrame: 90 });
  t.equal(c.frameIndices[7], 99);
  t.ok(c.warnings.some((w) => /moved/.test(w)));
  // random starts stay inside [0, count - span]
  const rng = new PyRandom(3);
  for (let i = 0; i < 500; i++) {
    const r = uniformIndices({ fps: 25, frameCount: 120, rng });
    t.ok(r.frameIndices[7]! < 120 && r.start >= 0, `in range (start ${r.start})`);
  }
  // short clip: the last frame is repeated, T slots always
  const s = uniformIndices({ fps: 10, frameCount: 12, startFrame: 0 });
  t.same(s.frameIndices, [0, 5, 10, 10, 10, 10, 10, 10]);
  t.equal(s.padded, true);
  // fps below targetFps: duplicates, decoded once
  const slow = uniformIndices({ fps: 1, frameCount: 100, startFrame: 0 });
  t.same(slow.frameIndices, [0, 1, 1, 2, 2, 3, 3, 4]);
  t.same(slow.decodeIndices, [0, 1, 2, 3, 4]);
  t.equal(uniformIndices({ fps: 25, frameCount: 100, targetFps: 4, duration: 4, startFrame: 0 }).length, 16);
});

t.test('padPlan handles a lying frame count', async (t) => {
  // KlsG1EnBEjc_000361.mp4: reports 400 frames at 29.97 fps, decodes 299
  const plan = referenceIndices({ fps: 30000 / 1001, reportedFrames: 400, startFrame: 250 });
  t.same(plan.decodeIndices, [250, 264, 278, 292, 306, 320, 334, 348]);
  const delivered = plan.decodeIndices.filter((f) => f < 299).length; // what decodeVideoFrames returns
  const tiled = padPlan(plan, delivered);
  t.same(tiled.frameIndices, [250, 264, 278, 292, 250, 264, 278, 292]);
  t.same(tiled.positions, [0, 1, 2, 3, 0, 1, 2, 3]);
  t.equal(tiled.length, 8);
  t.ok(tiled.warnings.some((w) => /only 4 of 8/.test(w)));
  const last = padPlan(plan, delivered, 'repeat-last');
  t.same(last.frameIndices, [250, 264, 278, 292, 292, 292, 292, 292]);
  t.same(last.positions, [0, 1, 2, 3, 3, 3, 3, 3]);
  // nothing missing: unchanged, no warning
  const full = padPlan(plan, 8);
  t.same(full.frameIndices, plan.frameIndices);
  t.same(full.positions, [0, 1, 2, 3, 4, 5, 6, 7]);
  t.same(full.warnings, []);
  // an already tiled short plan keeps tiling over what exists
  const short = referenceIndices({ fps: 12.5, reportedFrames: 30 });
  t.same(padPlan(short, 2).frameIndices, [0, 6, 0, 6, 0, 6, 0, 6]);
  t.throws(() => padPlan(plan, 0), { code: 'ERR_MEDIA' });
});
