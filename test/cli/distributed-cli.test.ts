/**
 * `social-mae finetune --nproc-per-node 2`: the command re-starts itself as two Gloo ranks that shard
 * the training set; rank 0 alone logs and writes the run directory, which records the world size;
 * `--resume` with more epochs continues the same run. (DDP = one process on the union batch: pretraining
 * in distributed-pretrain-cli.test.ts, at the library level in test/distributed/ddp*.test.ts.)
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { isAvailable } from '../../lib/distributed';
import { tmpDir, NO_FFMPEG } from '../data/helpers';
import { freePort } from '../distributed/helpers';
import { fourClips, run } from './distributed-helpers';

const skip = NO_FFMPEG || (isAvailable() ? false : 'this LibTorch build has no c10d backend (Gloo headers missing at build time)');

t.test('finetune on two CPU processes; resume with more epochs', { skip, timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tmpDir('smae-ddp-cli-');
  t.teardown(cleanup);
  fourClips(dir);
  const common = ['finetune', '--train', 'm.csv', '--out', 'ft', '--size', 'small', '--batch-size', '1', '--cache', 'cache', '--nproc-per-node', '2'];
  const port = String(await freePort());

  const first = run(dir, [...common, '--epochs', '1', '--master-port', port]);
  t.equal(first.status, 0, first.stderr);
  t.equal(first.stdout.match(/epoch 1 done/g)?.length, 1, 'rank 0 alone logs the epoch');
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'ft', 'config.json'), 'utf8'));
  t.equal(config.worldSize, 2);
  t.equal(config.epochs, 1);
  t.ok(fs.existsSync(path.join(dir, 'ft', 'models', 'audio_model.1.pth')));

  const more = run(dir, [...common, '--epochs', '2', '--resume', '--master-port', port]);
  t.equal(more.status, 0, more.stderr);
  t.match(more.stdout, /resuming with a new epochs/);
  t.match(more.stdout, /resumed .* after epoch 1/);
  t.equal(more.stdout.match(/epoch 2 done/g)?.length, 1);
  t.equal(JSON.parse(fs.readFileSync(path.join(dir, 'ft', 'config.json'), 'utf8')).epochs, 2, 'the record says what the run now is');

  const other = run(dir, [...common, '--epochs', '3', '--resume', '--lr', '0.5', '--master-port', port]);
  t.not(other.status, 0, 'another learning rate is another run');
  t.match(other.stderr, /describes another run/);
});
