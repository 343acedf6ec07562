/**
 * worker_threads: the addon loads in several environments at once, each with its own handle table,
 * scope stack and error class (per-environment state, docs/ARCHITECTURE.md, "Tensor representation"). Two
 * workers run concurrently with the main thread; a worker that is terminated mid-loop frees its tensors
 * without disturbing others.
 */
import t from 'tap';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { torch } from '../../lib/tensor';
import { withTimeout } from '../helpers/wait';

/** Limit for one worker's run (3000 small steps take about a second; generous for a loaded machine). */
const WORKER_MS = 120_000;

const LIB = path.join(__dirname, '..', '..', 'lib', 'tensor', 'index.js');

const WORK = `
const { parentPort, workerData } = require('worker_threads');
const { torch, TorchError } = require(${JSON.stringify(LIB)});
const out = { id: workerData.id };
try {
  const start = torch.memory().liveTensors;
  // a deterministic matrix: torch's default generator is process-wide, so seeding it in concurrent
  // threads races (as in PyTorch). Small integers, so w @ w and its sum are exact in float32.
  const w = torch.keep(torch.tidy(() => torch.arange(0, 1024, 1, { dtype: 'float32' }).reshape([32, 32]).mul(workerData.seed / 1000).sin().mul(8).round()));
  let acc = 0;
  for (let i = 0; i < workerData.steps; i++) {
    acc += torch.tidy(() => {
      const x = torch.ones([8, 32]).mul(i % 7);
      const y = x.matmul(w).softmax(-1).sum(0);
      return y.sum().item();
    });
  }
  out.acc = acc;
  out.checksum = torch.tidy(() => w.matmul(w).sum().item());
  let code = null;
  try { torch.tidy(() => torch.zeros([2]).add(torch.zeros([3]))); } catch (e) { code = (e instanceof TorchError) + ':' + e.code; }
  out.errorCode = code;
  let disposed = null;
  const d = torch.ones([1]); d.dispose();
  try { d.add(1); } catch (e) { disposed = e.code; }
  out.disposed = disposed;
  w.dispose();
  out.leaked = torch.memory().liveTensors - start;
  out.live = torch.memory().liveTensors;
} catch (e) {
  out.error = String(e && e.stack || e);
}
parentPort.postMessage(out);
`;

function runWorker(id: number, seed: number, steps: number): Promise<Record<string, unknown>> {
  const w = new Worker(WORK, { eval: true, workerData: { id, seed, steps } });
  return withTimeout(
    new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => {
        if (code !== 0) reject(new Error(`worker ${id} exited with ${code}`));
      });
    }),
    WORKER_MS,
    `worker ${id}`,
    () => w.terminate(),
  );
}

t.test('two workers and the main thread use the addon concurrently', async (t) => {
  const mainStart = torch.memory().liveTensors;
  const mainKeep = torch.ones([3]);
  const p = [runWorker(1, 11, 3000), runWorker(2, 22, 3000)];
  // the main thread keeps working while the workers run
  let mainAcc = 0;
  for (let i = 0; i < 2000; i++) mainAcc += torch.tidy(() => mainKeep.mul(i).sum().item());
  const [a, b] = await Promise.all(p);
  for (const r of [a, b]) {
    t.equal(r.error, undefined, `worker ${r.id} ran without error`);
    t.equal(r.errorCode, 'true:ERR_SHAPE_MISMATCH', `worker ${r.id}: TorchError with code (per-environment error class)`);
    t.equal(r.disposed, 'ERR_TENSOR_DISPOSED', `worker ${r.id}: own handle table`);
    t.equal(r.leaked, 0, `worker ${r.id}: liveTensors back to start`);
    t.equal(r.live, 0, `worker ${r.id}: its table does not see the main thread's tensors`);
  }
  // each worker's result equals what the main thread computes with the same seed
  for (const r of [a, b]) {
    const seed = r.id === 1 ? 11 : 22;
    const w = torch.tidy(() =>
      torch
        .arange(0, 1024, 1, { dtype: 'float32' })
        .reshape([32, 32])
        .mul(seed / 1000)
        .sin()
        .mul(8)
        .round(),
    );
    const here = torch.tidy(() => w.matmul(w).sum().item());
    // Exact whatever the summation order, kernel or thread count (the worker's pools may differ from the
    // main thread's): entries are integers in [-8, 8], each product <= 64, each of the 1024 dot products
    // <= 32*64 = 2^11 and their sum <= 2^21 < 2^24, so every partial sum is an exact float32 integer.
    t.equal(r.checksum, here, `worker ${r.id}: same numbers as the main thread`);
    w.dispose();
  }
  t.equal(mainAcc, (3 * (1999 * 2000)) / 2, 'main thread results unaffected');
  mainKeep.dispose();
  t.equal(torch.memory().liveTensors, mainStart, 'main thread table unaffected by workers');
});

t.test('terminating a busy worker frees its state; others keep going', async (t) => {
  const busy = new Worker(
    `
    const { parentPort } = require('worker_threads');
    const { torch } = require(${JSON.stringify(LIB)});
    const keep = [];
    for (let i = 0; i < 200; i++) keep.push(torch.ones([1000]));
    parentPort.postMessage('ready');
    for (;;) torch.tidy(() => torch.randn([64, 64]).matmul(torch.randn([64, 64])));
  `,
    { eval: true },
  );
  await withTimeout(new Promise((r) => busy.once('message', r)), WORKER_MS, 'busy worker ready', () => busy.terminate());
  const other = runWorker(3, 33, 500);
  const code = await withTimeout(busy.terminate(), WORKER_MS, 'terminating the busy worker');
  t.equal(code, 1, 'terminated');
  const r = await other;
  t.equal(r.error, undefined);
  t.equal(r.leaked, 0);
  t.equal(
    torch.tidy(() => torch.ones([2]).sum().item()),
    2,
    'main thread still works',
  );
  // sequential workers: loading the addon again in a fresh environment works every time
  for (let i = 0; i < 3; i++) {
    const s = await runWorker(10 + i, i, 10);
    t.equal(s.error, undefined, `fresh worker ${i}`);
  }
});
