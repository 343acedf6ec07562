/** The social-mae command: demo end to end (needs ffmpeg), inspect on a fixture, usage errors. */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { TorchError, io, data, train } from '../../lib';
import { UsageError } from '../../lib/cli/args';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');
const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');
const run = (args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, SOCIAL_MAE_NUM_THREADS: '1' },
  });
const noFfmpeg = spawnSync('ffmpeg', ['-version'], { timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' }).status === 0 ? false : 'ffmpeg is not installed';

t.test('demo decodes, trains, saves, reloads and leaks nothing', { skip: noFfmpeg }, async (t) => {
  const r = run(['demo', '--steps', '2']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /audio \[2,1024,128\], video \[2,3,224,224,8\]/);
  const losses = [...r.stdout.matchAll(/step \d: loss ([\d.]+)/g)].map((m) => Number(m[1]));
  t.equal(losses.length, 2);
  t.ok(losses.every(Number.isFinite));
  t.match(r.stdout, /SocialMAEFT from the checkpoint: \d+ keys loaded, \d+ unused \(decoder\), 4 fresh/);
  t.match(r.stdout, /logits: \[\[/);
  t.match(r.stdout, /live tensors: 0 left over/);
  const saved = /saved (\S+) /.exec(r.stdout)?.[1];
  t.match(r.stdout, `removed the temporary ${path.dirname(saved ?? '?')}`);
  t.notOk(saved && fs.existsSync(saved), 'the checkpoint in the temporary directory is gone');
});

t.test('inspect names the model of a checkpoint', async (t) => {
  const r = run(['inspect', path.join(FIXTURES, 'ft_state_dict.pt')]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /module\.mlp_head\.1\.weight\tfloat32\t\[6,64\]/);
  t.match(r.stdout, /478 tensors, 1,280,326 elements/);
  t.match(
    r.stdout,
    /looks like: Social-MAE finetuning model \(labelDim 6, embedDim 64, depth 11\+1, numHeads 1, mlpRatio 4, patchSize 16, imgSize 32, nFrame 8, stride 2, audioLength 64\)\nassumed \(not in the shapes\): nFrame = 8 .*numHeads = 1 \(64 \/ 64\)/,
  );
});

t.test('bad usage is an error with a message, not a crash', async (t) => {
  const unknown = run(['frobnicate']);
  t.equal(unknown.status, 1);
  t.match(unknown.stderr, /unknown command 'frobnicate'/);
  const missing = run(['inspect']);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /inspect needs CHECKPOINT/);
  const broken = run(['inspect', path.join(FIXTURES, 'media_meta.json')]);
  t.equal(broken.status, 1);
  t.match(broken.stderr, /ERR_CHECKPOINT/);
  const steps = run(['demo', '--steps', 'many']);
  t.equal(steps.status, 1);
  t.match(steps.stderr, /--steps expects an integer, got 'many'/);
});

t.test('every error class is a TorchError taking the text first and the code second', (t) => {
  const cases: [Error & { code: string }, string, string][] = [
    [new TorchError('bad', 'ERR_INVALID_ARG'), 'ERR_INVALID_ARG', 'bad'],
    [new io.CheckpointError('bad bytes', 'ERR_CHECKPOINT_CORRUPT'), 'ERR_CHECKPOINT_CORRUPT', 'bad bytes'],
    [new data.DataError('empty file', 'ERR_MEDIA', { file: 'a.mp4' }), 'ERR_MEDIA', 'a.mp4: empty file'],
    [new train.TrainError('no run', 'ERR_BAD_STATE'), 'ERR_BAD_STATE', 'no run'],
    [new UsageError('--x is required'), 'ERR_USAGE', '--x is required'],
  ];
  for (const [e, code, message] of cases) {
    t.ok(e instanceof TorchError, `${e.name} is a TorchError`);
    t.same([e.code, e.message], [code, message], e.name);
  }
  t.end();
});
