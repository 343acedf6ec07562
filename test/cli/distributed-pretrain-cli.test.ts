/**
 * `social-mae pretrain --nproc-per-node 2` with the contrastive loss on (its default 'global' scope) ends
 * where one process on the union batch ends: the same epoch losses, the same parameters up to Adam's
 * treatment of rounding-noise gradients (see TOL). config.json records the scope.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch } from '../../lib';
import { isAvailable } from '../../lib/distributed';
import { readCheckpoint } from '../../lib/cli/checkpoint-file';
import { tmpDir, NO_FFMPEG } from '../data/helpers';
import { freePort } from '../distributed/helpers';
import { fourClips, run } from './distributed-helpers';

const skip = NO_FFMPEG || (isAvailable() ? false : 'this LibTorch build has no c10d backend (Gloo headers missing at build time)');

// Adam (lr 1e-4) moves each element by about lr per step whatever its gradient's size, so an element
// whose gradient is rounding noise (the attention key biases: exactly 0 in exact arithmetic) moves by
// an amount no summation order decides. Measured (small model, 3.6M elements, 2 steps): 485 elements
// beyond 1e-6, the largest 1.8e-5; the 'local' scope instead: 1.9M beyond 1e-6, the largest 4e-4.
const TOL = 1e-6;
const MAX_APART_FRACTION = 1e-3;
const MAX_DIFF = 1e-4;

t.test('pretrain on two CPU processes (batch 2 each) = one process on the union batch (batch 4)', { skip, timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-ddp-pre-');
  t.teardown(cleanup);
  fourClips(dir);
  // 4 items, 2 epochs: each epoch is one step on the union of the two ranks' batches. Contrastive weight 1
  // (100x the default) so that its gradient, which the gather makes global, weighs in the update.
  const common = ['pretrain', '--train', 'm.csv', '--size', 'small', '--epochs', '2', '--contrast-weight', '1', '--cache', 'cache', '--seed', '3', '--quiet'];
  const two = run(dir, [...common, '--out', 'two', '--batch-size', '2', '--nproc-per-node', '2', '--master-port', String(await freePort())]);
  t.equal(two.status, 0, two.stderr);
  // The one-process reference is started as `torchrun --nproc-per-node 1` starts it (a group of one, in
  // which every collective is the identity), so that its sampler walks the epoch in the order the two
  // ranks share (data.DistributedSampler; a plain process shuffles with the reference's Python shuffle).
  const oneEnv = { WORLD_SIZE: '1', RANK: '0', LOCAL_RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(await freePort()) };
  const one = run(dir, [...common, '--out', 'one', '--batch-size', '4'], oneEnv);
  t.equal(one.status, 0, one.stderr);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'two', 'config.json'), 'utf8'));
  t.equal(config.contrastScope, 'global', 'config.json records the contrastive scope');
  t.equal(config.worldSize, 2);
  const epochs = (run: string) =>
    fs
      .readFileSync(path.join(dir, run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; train: Record<string, number> })
      .filter((r) => r.type === 'epoch')
      .map((r) => r.train);
  const [e2, e1] = [epochs('two'), epochs('one')];
  t.equal(e2.length, 2);
  for (const [k, m] of e1.entries())
    for (const key of ['loss', 'lossC', 'lossMae']) {
      // float32 sums in another order (2 + 2 rows vs 4): ~1e-7 relative per op through a small model
      const [a, b] = [e2[k]![key]!, m[key]!];
      t.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b), `epoch ${k + 1} ${key}: two ranks ${a} = one process ${b} (1e-5 relative)`);
    }
  const [p2, p1] = [
    await readCheckpoint(path.join(dir, 'two', 'models', 'audio_model.2.pth')),
    await readCheckpoint(path.join(dir, 'one', 'models', 'audio_model.2.pth')),
  ];
  t.teardown(() => torch.dispose([...p2.stateDict.values(), ...p1.stateDict.values()]));
  t.same([...p2.stateDict.keys()], [...p1.stateDict.keys()]);
  let worst = 0;
  let moved = 0;
  let total = 0;
  for (const [k, a] of p2.stateDict) {
    const [x, y] = [a.toArray() as Float32Array, p1.stateDict.get(k)!.toArray() as Float32Array];
    total += x.length;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i]! - y[i]!);
      worst = Math.max(worst, d);
      if (d > TOL) moved++;
    }
  }
  t.ok(moved <= MAX_APART_FRACTION * total, `${moved} of ${total} elements differ by more than ${TOL} (at most ${MAX_APART_FRACTION * 100}%)`);
  t.ok(worst < MAX_DIFF, `max |two ranks - one process| = ${worst.toExponential(2)} < ${MAX_DIFF}`);
});
