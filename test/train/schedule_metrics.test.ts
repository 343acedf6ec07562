/** The reference's lr policy, its evaluation statistics and SpecAugment, against hand-computed values. */
import t from 'tap';
import { torch, nn, optim, train } from '../../lib';

const { ReferenceSchedule, averagePrecision, rocAuc, classificationStats, specAugment, MASKED_FBANK_FILL } = train;

t.test('warm-up: lr = step/1000 * initial lr at every 50th step up to 1000; first 50 steps at 0', async (t) => {
  const lin = new nn.Linear(2, 2);
  const opt = new optim.Adam([
    { params: [lin.weight], lr: 1e-3 },
    { params: [lin.bias!], lr: 1e-1 },
  ]);
  const s = new ReferenceSchedule(opt, { warmup: true });
  const seen = new Map<number, number[]>();
  for (let step = 0; step <= 1100; step++) {
    s.beforeStep(step);
    if ([0, 1, 49, 50, 99, 100, 999, 1000, 1001, 1100].includes(step)) seen.set(step, s.lrs());
  }
  const close = (a: number[], b: number[]) => a.every((x, i) => Math.abs(x - b[i]!) <= 1e-15 + 1e-12 * Math.abs(b[i]!));
  const expect: [number, number[]][] = [
    [0, [0, 0]],
    [1, [0, 0]],
    [49, [0, 0]],
    [50, [5e-5, 5e-3]],
    [99, [5e-5, 5e-3]],
    [100, [1e-4, 1e-2]],
    [999, [9.5e-4, 9.5e-2]],
    [1000, [1e-3, 1e-1]],
    [1001, [1e-3, 1e-1]],
    [1100, [1e-3, 1e-1]],
  ];
  for (const [step, lrs] of expect) t.ok(close(seen.get(step)!, lrs), `step ${step}: ${seen.get(step)} vs ${lrs}`);
  opt.dispose();
  lin.dispose();
});

t.test('MultiStepLR part: milestones range(start, 1000, step), chainable on whatever lr the group has', async (t) => {
  const lin = new nn.Linear(2, 1);
  const opt = new optim.Adam(lin.parameters(), { lr: 1 });
  const s = new ReferenceSchedule(opt, { start: 2, step: 3, decay: 0.5 });
  const lrs: number[] = [];
  for (let epoch = 1; epoch <= 9; epoch++) {
    lrs.push(s.lrs()[0]!);
    s.afterEpoch();
  }
  // milestones 2, 5, 8: the lr used in epoch e+1 halves after epochs 2, 5 and 8
  t.same(lrs, [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]);
  const saved = s.stateDict();
  const opt2 = new optim.Adam(lin.parameters(), { lr: 1 });
  const s2 = new ReferenceSchedule(opt2, { start: 2, step: 3, decay: 0.5 });
  s2.loadStateDict(saved);
  opt2.paramGroups[0]!.lr = s.lrs()[0]!;
  s.afterEpoch();
  s2.afterEpoch();
  t.same(s2.lrs(), s.lrs(), 'a restored schedule continues where the saved one was');
  t.throws(() => new ReferenceSchedule(opt, { step: 0 }), { code: 'ERR_INVALID_ARG', message: /step must be an integer >= 1, got 0/ });
  t.throws(() => s2.loadStateDict({}), { code: 'ERR_BAD_STATE' });
  opt.dispose();
  opt2.dispose();
  lin.dispose();
});

t.test('average precision and ROC AUC follow scikit-learn (ties, no positives)', async (t) => {
  // sklearn: average_precision_score([0,0,1,1], [.1,.4,.35,.8]) = 0.8333..., roc_auc_score = 0.75
  t.ok(Math.abs(averagePrecision([0.1, 0.4, 0.35, 0.8], [false, false, true, true]) - 5 / 6) < 1e-12);
  t.ok(Math.abs(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]) - 0.75) < 1e-12);
  // a tie between a positive and a negative is one threshold: P(0.5) = 1/2 at R = 1/2, then P = 2/3 at R = 1
  t.ok(Math.abs(averagePrecision([0.5, 0.5, 0.2], [true, false, true]) - (0.5 * 0.5 + 0.5 * (2 / 3))) < 1e-12);
  t.ok(Math.abs(rocAuc([0.5, 0.5, 0.2], [true, false, true]) - 0.25) < 1e-12);
  t.ok(Number.isNaN(averagePrecision([0.3, 0.1], [false, false])), 'no positive: undefined');
  t.ok(Number.isNaN(rocAuc([0.3, 0.1], [true, true])), 'one class only: undefined');
  // 3 rows, 2 classes; row 2 is wrong; class 1 AP: positives rows 1 (0.7) and 2 (0.05) ranked 1st and 3rd
  const scores = [0.9, 0.1, 0.3, 0.7, 0.6, 0.05];
  const targets = [1, 0, 0, 1, 0, 1];
  const s = classificationStats(scores, targets, 2);
  t.ok(Math.abs(s.acc - 2 / 3) < 1e-12);
  t.ok(Math.abs(s.ap[1]! - (0.5 * 1 + 0.5 * (2 / 3))) < 1e-12);
  t.ok(Math.abs(s.ap[0]! - 1) < 1e-12);
  t.ok(Math.abs(s.mAP - (s.ap[0]! + s.ap[1]!) / 2) < 1e-12);
  t.throws(() => classificationStats([1, 2, 3], [1, 2, 3], 2), RangeError);
});

t.test('SpecAugment: one frequency and one time band per example, filled with normalize(0)', async (t) => {
  const live = torch.memory().liveTensors;
  const x = torch.randn([3, 100, 128]);
  torch.manualSeed(7);
  const y = specAugment(x, { freqm: 48, timem: 30 });
  torch.manualSeed(7);
  const y2 = specAugment(x, { freqm: 48, timem: 30 });
  t.ok(
    torch.tidy(() => y.equal(y2)),
    'reproducible under manualSeed',
  );
  t.same(y.shape, [3, 100, 128]);
  const xs = x.toArray() as Float32Array;
  const ys = y.toArray() as Float32Array;
  let bands = 0;
  for (let b = 0; b < 3; b++) {
    const fMasked: number[] = [];
    const tMasked: number[] = [];
    for (let f = 0; f < 128; f++) {
      let all = true;
      for (let tt = 0; tt < 100; tt++) all &&= ys[(b * 100 + tt) * 128 + f] === Math.fround(MASKED_FBANK_FILL);
      if (all) fMasked.push(f);
    }
    for (let tt = 0; tt < 100; tt++) {
      let all = true;
      for (let f = 0; f < 128; f++) all &&= ys[(b * 100 + tt) * 128 + f] === Math.fround(MASKED_FBANK_FILL);
      if (all) tMasked.push(tt);
    }
    bands += fMasked.length + tMasked.length;
    t.ok(fMasked.length < 48 && tMasked.length < 30, `example ${b}: band widths ${fMasked.length} < 48, ${tMasked.length} < 30`);
    const contiguous = (xs: number[]) => xs.every((v, i) => i === 0 || v === xs[i - 1]! + 1);
    t.ok(contiguous(fMasked) && contiguous(tMasked), 'each band is contiguous');
    // everything outside the two bands is unchanged
    let same = true;
    for (let tt = 0; tt < 100; tt++)
      for (let f = 0; f < 128; f++) {
        const i = (b * 100 + tt) * 128 + f;
        if (!fMasked.includes(f) && !tMasked.includes(tt)) same &&= ys[i] === xs[i];
      }
    t.ok(same, `example ${b}: the rest is unchanged`);
  }
  t.ok(bands > 20, `something was masked (${bands} rows and columns)`);
  const off = specAugment(x, { freqm: 0, timem: 0 });
  t.ok(
    torch.tidy(() => off.equal(x)),
    'widths 0: unchanged',
  );
  t.throws(() => specAugment(x, { freqm: -1, timem: 0 }), { code: 'ERR_INVALID_ARG', message: /freqm/ });
  t.throws(() => torch.tidy(() => specAugment(x.select(0, 0), { freqm: 1, timem: 0 })), { code: 'ERR_INVALID_ARG', message: /\[B, T, F\]/ });
  torch.dispose([x, y, y2, off]);
  t.equal(torch.memory().liveTensors, live);
});

t.test('fbank noise: x + rand * u/10 per example, then a time roll in [-T, T)', async (t) => {
  const live = torch.memory().liveTensors;
  const B = 4;
  const T = 20;
  const F = 6;
  const x = torch.randn([B, T, F]);
  torch.manualSeed(3);
  const y = train.fbankNoise(x);
  torch.manualSeed(3);
  const y2 = train.fbankNoise(x);
  t.ok(
    torch.tidy(() => y.equal(y2)),
    'reproducible under manualSeed',
  );
  t.same(y.shape, [B, T, F]);
  const xs = x.toArray() as Float32Array;
  const ys = y.toArray() as Float32Array;
  const shifts: number[] = [];
  for (let b = 0; b < B; b++) {
    // the shift k for which y[b] rolled back is x[b] plus noise in [0, 0.1)
    const fits = (k: number) => {
      for (let tt = 0; tt < T; tt++) {
        for (let f = 0; f < F; f++) {
          const d = ys[(b * T + ((tt + k + T) % T)) * F + f]! - xs[(b * T + tt) * F + f]!;
          if (!(d >= -1e-6 && d < 0.1 + 1e-6)) return false;
        }
      }
      return true;
    };
    const ks = Array.from({ length: T }, (_, k) => k).filter(fits);
    t.equal(ks.length, 1, `example ${b}: exactly one roll explains the output (${ks})`);
    shifts.push(ks[0]!);
  }
  t.ok(new Set(shifts).size > 1, `shifts differ between examples (${shifts})`);
  t.throws(() => torch.tidy(() => train.fbankNoise(x.reshape([B * T, F]))), { code: 'ERR_INVALID_ARG' });
  torch.dispose([x, y, y2]);
  t.equal(torch.memory().liveTensors, live);
});
