/**
 * The fork gate (native/common/fork_gate.h): starting child processes while other threads run BLAS
 * must not deadlock in OpenBLAS's fork handler. The stress runs in a child Node process with a bounded
 * wait: without the gate it hangs within the first few spawns on a machine with ≥ 2 cores (OpenBLAS's
 * pool then has threads to shut down); with it, every spawn completes.
 */
import t from 'tap';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { native } from '../../lib/native/binding';
import { torch } from '../../lib/tensor';

const LIB = path.join(__dirname, '..', '..', 'lib', 'tensor', 'index.js');

/** Two worker threads multiply 384×384 matrices (OpenBLAS's threaded path) in a loop; the main thread
 *  spawns `/bin/true` `spawns` times, optionally also multiplying and resizing the thread pools. */
const STRESS = `
const { Worker, isMainThread, workerData } = require('worker_threads');
const { spawn } = require('child_process');
const { torch } = require(${JSON.stringify(LIB)});
if (isMainThread) {
  const n = Number(process.argv[1]);
  const workers = [0, 1].map(() => new Worker(process.argv[2], { eval: true, workerData: {} }));
  const a = torch.randn([384, 384]);
  (async () => {
    for (let i = 0; i < n; i++) {
      await new Promise((res, rej) => { const c = spawn('/bin/true'); c.on('exit', res); c.on('error', rej); });
      torch.tidy(() => a.matmul(a));
      if (i % 10 === 0) torch.setNumThreads(1 + (i % 20 === 0 ? 1 : 0));
    }
    await Promise.all(workers.map((w) => w.terminate()));
    console.log('spawned ' + n);
  })();
} else {
  const a = torch.randn([384, 384]);
  for (;;) torch.tidy(() => a.matmul(a));
}
`;

t.test('spawning while worker threads run BLAS completes (no fork deadlock)', { timeout: 200_000 }, async (t) => {
  const spawns = 60;
  const res = await new Promise<{ code: number | null; out: string; timedOut: boolean }>((resolve) => {
    const c = spawn(process.execPath, ['-e', STRESS, String(spawns), STRESS], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Without the gate the child deadlocks in fork(); 150 s is far above the seconds it needs even
    // on a loaded 2-core machine.
    const timer = setTimeout(() => c.kill('SIGKILL'), 150_000);
    c.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, timedOut: code === null });
    });
  });
  t.notOk(res.timedOut, 'the child did not hang');
  t.equal(res.code, 0);
  t.match(res.out, `spawned ${spawns}`);
});

t.test('re-entering the addon from a callback inside a native call', (t) => {
  const live = torch.memory().liveTensors;
  const a = torch.ones([2]);
  const b = torch.ones([2]);
  // An accessor element runs while native `stack` reads its argument array, i.e. inside the native call.
  const reentrant = (onRead: () => void) => {
    const ids = [a.id, b.id];
    Object.defineProperty(ids, 0, { get: () => (onRead(), a.id) });
    return ids;
  };
  // A fork from inside a native call must not wait for that call to end (it would wait forever).
  const stacked = native.stack(
    reentrant(() => spawnSync('/bin/true', { timeout: 30_000 })),
    0,
  );
  t.same(native.shape(stacked), [2, 2], 'spawnSync inside a native call returned');
  native.dispose(stacked);
  // An exclusive op (resizing the BLAS pool) inside a native call of the same thread is refused.
  t.throws(
    () =>
      native.stack(
        reentrant(() => native.setNumThreads(1)),
        0,
      ),
    { code: 'ERR_INVALID_STATE' },
  );
  a.dispose();
  b.dispose();
  torch.setNumThreads(torch.getNumThreads());
  t.equal(torch.memory().liveTensors, live);
  t.end();
});

t.test('an array element whose getter throws is a JS error, not a crash', (t) => {
  const a = torch.ones([2]);
  const ids = [a.id, a.id];
  Object.defineProperty(ids, 1, {
    get: () => {
      throw new RangeError('from the getter');
    },
  });
  t.throws(() => native.stack(ids, 0), { name: 'RangeError', message: 'from the getter' });
  const nums = [1, 2];
  Object.defineProperty(nums, 0, {
    get: () => {
      throw new RangeError('shape getter');
    },
  });
  t.throws(() => native.reshape(a.id, nums), { name: 'RangeError' });
  a.dispose();
  t.end();
});
