/**
 * The evaluation metrics against scikit-learn on fixed vectors: ties, classes absent from the targets,
 * one class only. Each case checks hard-coded values computed once with scikit-learn 1.2 (so the test
 * checks without the peer) and, where /usr/bin/python3 has sklearn (apt python3-sklearn), the live peer.
 */
import t from 'tap';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { train } from '../../lib';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';

const { classificationReport, regressionReport, balancedAccuracy, confusionMatrix } = train;

const PEER = `
import json, sys, warnings
import numpy as np
from sklearn import metrics
out = []
for c in json.load(sys.stdin):
    if c['kind'] == 'cls':
        K = c['K']
        s = np.array(c['scores'], dtype=np.float64).reshape(-1, K)
        yt = np.array(c['targets']).reshape(-1, K).argmax(1)
        yp = s.argmax(1)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            ba = metrics.balanced_accuracy_score(yt, yp)
        r = {'balancedAcc': ba, 'warned': any('y_pred contains classes not in y_true' in str(x.message) for x in w),
             'confusion': metrics.confusion_matrix(yt, yp, labels=list(range(K))).tolist()}
        p, rc, f, sup = metrics.precision_recall_fscore_support(yt, yp, labels=list(range(K)), zero_division=0)
        r.update(precision=p.tolist(), recall=rc.tolist(), f1=f.tolist(), support=sup.tolist(),
                 macroF1=metrics.f1_score(yt, yp, average='macro', zero_division=0))
        if K == 2:
            e = np.exp(s - s.max(1, keepdims=True))
            try: r['rocAuc'] = metrics.roc_auc_score(yt, (e / e.sum(1, keepdims=True))[:, 1])
            except ValueError: r['rocAuc'] = None
        out.append(r)
    else:
        D = len(c['names'])
        p = np.array(c['preds'], dtype=np.float64).reshape(-1, D)
        y = np.array(c['targets'], dtype=np.float64).reshape(-1, D)
        mae = metrics.mean_absolute_error(y, p, multioutput='raw_values')
        score = [1 - m for m in mae]
        out.append({'mae': mae.tolist(), 'score': score, 'meanScore': float(np.mean(score)),
                    'pearson': [float(np.corrcoef(p[:, j], y[:, j])[0, 1]) for j in range(D)]})
print(json.dumps(out))
`;

/** One-hot rows [N, K] of class indices. */
const oneHot = (ys: number[], K: number) => ys.flatMap((y) => Array.from({ length: K }, (_, k) => (k === y ? 1 : 0)));

interface ClsCase {
  kind: 'cls';
  name: string;
  K: number;
  scores: number[];
  targets: number[];
}
interface RegCase {
  kind: 'reg';
  name: string;
  names: string[];
  preds: number[];
  targets: number[];
}

const CASES: (ClsCase | RegCase)[] = [
  {
    kind: 'cls',
    name: '3 classes, a tied row (numpy argmax: the first maximum)',
    K: 3,
    scores: [2, 1, 0, 0.5, 0.5, 0, 0, 3, 1, 1, 2, 0, 0, 0, 5, 1, 0, 2, 0, 1, 1, 3, 0, 0],
    targets: oneHot([0, 0, 1, 1, 2, 2, 2, 0], 3),
  },
  {
    kind: 'cls',
    name: '4 classes: class 3 predicted but absent from the targets, class 2 absent from both',
    K: 4,
    scores: [1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 1, 0, 0],
    targets: oneHot([0, 0, 1, 1, 0, 1], 4),
  },
  {
    kind: 'cls',
    name: 'binary, tied scores across classes (ROC AUC counts ties half)',
    K: 2,
    scores: [0, 1, 0, 1, 0, 1, 1, 0, 0, 2, 0, 2, 2, 0, 0, 0.5],
    targets: oneHot([1, 0, 1, 0, 1, 0, 0, 1], 2),
  },
  {
    kind: 'cls',
    name: 'binary, one class only in the targets (no ROC AUC)',
    K: 2,
    scores: [1, 0, 0, 1, 2, 0, 1, 3],
    targets: oneHot([0, 0, 0, 0], 2),
  },
  {
    kind: 'reg',
    name: 'two named targets',
    names: ['extraversion', 'neuroticism'],
    preds: [0.5, 0.2, 0.6, 0.4, 0.55, 0.9, 0.3, 0.1, 0.7, 0.65],
    targets: [0.45, 0.3, 0.7, 0.35, 0.5, 0.8, 0.2, 0.2, 0.9, 0.6],
  },
];

/** Values computed once with scikit-learn 1.2.1 (Debian python3-sklearn) by PEER on CASES. */
const EXPECTED: Record<string, unknown>[] = [
  {
    balancedAcc: 0.8888888888888888,
    warned: false,
    confusion: [
      [3, 0, 0],
      [0, 2, 0],
      [0, 1, 2],
    ],
    precision: [1.0, 0.6666666666666666, 1.0],
    recall: [1.0, 1.0, 0.6666666666666666],
    f1: [1.0, 0.8, 0.8],
    support: [3, 2, 3],
    macroF1: 0.8666666666666667,
  },
  {
    balancedAcc: 0.6666666666666666,
    warned: true,
    confusion: [
      [2, 0, 0, 1],
      [0, 2, 0, 1],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ],
    precision: [1.0, 1.0, 0.0, 0.0],
    recall: [0.6666666666666666, 0.6666666666666666, 0.0, 0.0],
    f1: [0.8, 0.8, 0.0, 0.0],
    support: [3, 3, 0, 0],
    macroF1: 0.5333333333333333,
  },
  {
    balancedAcc: 0.75,
    warned: false,
    confusion: [
      [2, 2],
      [0, 4],
    ],
    precision: [1.0, 0.6666666666666666],
    recall: [0.5, 1.0],
    f1: [0.6666666666666666, 0.8],
    support: [4, 4],
    macroF1: 0.7333333333333334,
    rocAuc: 0.65625,
  },
  {
    balancedAcc: 0.5,
    warned: true,
    confusion: [
      [2, 2],
      [0, 0],
    ],
    precision: [1.0, 0.0],
    recall: [0.5, 0.0],
    f1: [0.6666666666666666, 0.0],
    support: [4, 0],
    macroF1: 0.3333333333333333,
    rocAuc: null,
  },
  { mae: [0.1, 0.08], score: [0.9, 0.92], meanScore: 0.91, pearson: [0.9715149586779739, 0.9883343301039457] },
];

function ours(c: ClsCase | RegCase): Record<string, unknown> {
  if (c.kind === 'reg') {
    const r = regressionReport(c.preds, c.targets, c.names);
    return { mae: r.mae, score: r.score, meanScore: r.meanScore, pearson: r.pearson };
  }
  const r = classificationReport(c.scores, c.targets, c.K);
  const out: Record<string, unknown> = {
    balancedAcc: r.balancedAcc,
    warned: r.warnings.includes('y_pred contains classes not in y_true'),
    confusion: r.confusion,
    precision: r.precision,
    recall: r.recall,
    f1: r.f1,
    support: r.support,
    macroF1: r.macroF1,
  };
  if (c.K === 2) out.rocAuc = Number.isNaN(r.rocAuc) ? null : r.rocAuc;
  return out;
}

/** Deep comparison with a relative tolerance of 1e-12 on numbers (both sides are float64 sums of the same terms). */
function close(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => close(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object')
    return Object.keys(b).every((k) => close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  return a === b;
}

t.test('hard-coded scikit-learn values', async (t) => {
  t.equal(EXPECTED.length, CASES.length, 'one expected record per case');
  CASES.forEach((c, i) => {
    const got = ours(c);
    t.ok(close(got, EXPECTED[i]), `${c.name}: ${JSON.stringify(got)} vs ${JSON.stringify(EXPECTED[i])}`);
  });
});

const noPeer =
  spawnSync('/usr/bin/python3', ['-c', 'import sklearn'], { timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' }).status === 0
    ? false
    : '/usr/bin/python3 has no sklearn (apt-get install python3-sklearn)';

t.test('live scikit-learn peer', { skip: noPeer }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-sk-'));
  try {
    fs.writeFileSync(path.join(dir, 'peer.py'), PEER);
    const r = spawnSync('/usr/bin/python3', [path.join(dir, 'peer.py')], {
      input: JSON.stringify(CASES),
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
    });
    t.equal(r.status, 0, r.stderr);
    const peer = JSON.parse(r.stdout) as Record<string, unknown>[];
    CASES.forEach((c, i) => {
      const got = ours(c);
      t.ok(close(got, peer[i]), `${c.name}: ${JSON.stringify(got)} vs sklearn ${JSON.stringify(peer[i])}`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.test('edge cases by hand', async (t) => {
  t.same(confusionMatrix([0, 1, 1], [1, 1, 0], 3), [
    [0, 1, 0],
    [1, 1, 0],
    [0, 0, 0],
  ]);
  t.throws(() => confusionMatrix([0, 3], [0, 0], 3), RangeError, 'a class outside [0, K) is an error');
  t.ok(Number.isNaN(balancedAccuracy([[0]]).value), 'no rows: NaN');
  const one = classificationReport([1, 0, 1, 0], [1, 0, 1, 0], 2);
  t.equal(one.balancedAcc, 1, 'one class, all right');
  t.ok(Number.isNaN(one.rocAuc), 'one class: ROC AUC undefined');
  t.throws(() => regressionReport([1, 2, 3], [1, 2], ['a']), RangeError);
  const flat = regressionReport([0.5, 0.5], [0.1, 0.9], ['t']);
  t.ok(Number.isNaN(flat.pearson[0]), 'constant predictions: Pearson r undefined');
  t.equal(flat.meanScore, 1 - 0.4);
});
