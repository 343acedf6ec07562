/**
 * DistributedSampler against torch.utils.data.DistributedSampler (Python peer): the same indices per
 * rank and epoch, shuffled and not, padded and dropLast; and its use by the loader.
 */
import t from 'tap';
import { spawnSync } from 'child_process';
import { data } from '../../lib';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';

const CASES = [
  { n: 10, replicas: 3, shuffle: true, seed: 0, dropLast: false },
  { n: 10, replicas: 3, shuffle: true, seed: 42, dropLast: true },
  { n: 7, replicas: 2, shuffle: false, seed: 0, dropLast: false },
  { n: 2, replicas: 5, shuffle: true, seed: 3, dropLast: false }, // padding longer than the dataset
  { n: 1000, replicas: 4, shuffle: true, seed: 7, dropLast: false },
];
const EPOCHS = [0, 1, 5];

function pythonIndices(): number[][][][] | null {
  const script = `
import json, sys
from torch.utils.data import DistributedSampler
cases = json.loads(sys.argv[1]); epochs = json.loads(sys.argv[2]); out = []
for c in cases:
    per = []
    for r in range(c["replicas"]):
        s = DistributedSampler(range(c["n"]), num_replicas=c["replicas"], rank=r, shuffle=c["shuffle"], seed=c["seed"], drop_last=c["dropLast"])
        ep = []
        for e in epochs:
            s.set_epoch(e); ep.append(list(iter(s)))
        per.append(ep)
    out.append(per)
print(json.dumps(out))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, JSON.stringify(CASES), JSON.stringify(EPOCHS)], {
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  return r.status === 0 ? (JSON.parse(r.stdout) as number[][][][]) : null;
}

const expected = pythonIndices();

t.test('same indices as torch.utils.data.DistributedSampler', { skip: expected ? false : 'needs /usr/bin/python3 with torch' }, async (t) => {
  CASES.forEach((c, ci) => {
    for (let rank = 0; rank < c.replicas; rank++) {
      const s = new data.DistributedSampler(c.n, { numReplicas: c.replicas, rank, shuffle: c.shuffle, seed: c.seed, dropLast: c.dropLast });
      EPOCHS.forEach((e, ei) => {
        const want = expected![ci]![rank]![ei]!;
        t.same(s.indices(e), want, `n=${c.n} replicas=${c.replicas} rank=${rank} epoch=${e} shuffle=${c.shuffle} dropLast=${c.dropLast}`);
        t.equal(s.numSamples, want.length);
      });
    }
  });
});

t.test('shards are disjoint and cover the dataset (no padding case)', async (t) => {
  const all = [0, 1, 2, 3].flatMap((rank) => new data.DistributedSampler(12, { numReplicas: 4, rank, seed: 9 }).indices(2));
  t.same(
    [...all].sort((a, b) => a - b),
    Array.from({ length: 12 }, (_, i) => i),
  );
});

t.test('bad options are coded errors; the loader takes a sampler instead of shuffle', async (t) => {
  t.throws(() => new data.DistributedSampler(10, { numReplicas: 2, rank: 2 }), { code: 'ERR_INVALID_ARG', message: /rank/ });
  t.throws(() => new data.DistributedSampler(-1, { numReplicas: 2, rank: 0 }), { code: 'ERR_INVALID_ARG' });
  t.throws(() => new data.DistributedSampler(10, { numReplicas: 0, rank: 0 }), { code: 'ERR_INVALID_ARG' });
  const items = Array.from({ length: 5 }, (_, i) => ({ id: String(i), video: `/nonexistent/${i}.mp4`, audio: null, audioFromVideo: true }));
  const sampler = new data.DistributedSampler(5, { numReplicas: 2, rank: 1, seed: 1 });
  t.throws(() => new data.DataLoader(items as never, { sampler, shuffle: true }), { code: 'ERR_INVALID_ARG', message: /sampler/ });
  const loader = new data.DataLoader(items as never, { sampler, batchSize: 2 });
  t.same(loader.order(3), sampler.indices(3));
  t.equal(loader.length, 2, '3 samples per rank in batches of 2');
});
