/**
 * The host block cache of the CPU allocator (native/common/host_cache.h, native/tensor/alloc_guard.cc):
 * freed blocks of at least minBlockBytes are reused (hits counted), smaller ones bypass it, the cap holds (oldest evicted), a cap of 0 keeps
 * nothing, SOCIAL_MAE_HOST_CACHE_BYTES sets the cap at load, zeros/ones still fill a reused block, and
 * worker threads sharing the cache each see their own data; glibc's malloc thresholds (native/common/malloc_tune.h)
 * are set at load unless SOCIAL_MAE_MALLOC_TUNE=0 or the environment sets them. LibTorch 2.x builds keep LibTorch's allocator:
 * there the cache reports `installed: false` and the reuse tests are skipped with that reason.
 */
import t from 'tap';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { torch } from '../../lib/tensor';
import { CHILD_TIMEOUT_MS, withTimeout } from '../helpers/wait';

const MiB = 1024 * 1024;
/** float32 elements in 1 MiB: a size class of its own (classes step by 128 KiB between 1 and 2 MiB). */
const N1 = MiB / 4;
const MIN = 128 * 1024;
const installed = torch.memory().hostCache.installed;
const skip = installed ? false : `no host cache in this build: ${torch.memory().hostCache.source}`;

t.test('bad caps are refused with ERR_INVALID_ARG', async (t) => {
  for (const bad of [-1, 1.5, NaN, '1' as unknown as number]) {
    t.throws(() => torch.setHostCacheBytes(bad), { code: 'ERR_INVALID_ARG' }, String(bad));
    t.throws(() => torch.setHostCacheBytes(MiB, bad), { code: 'ERR_INVALID_ARG' }, `minBlockBytes ${String(bad)}`);
  }
});

t.test('a freed large block is reused; zeros and ones still fill it', { skip }, async (t) => {
  t.ok(torch.setHostCacheBytes(64 * MiB, MIN));
  const s0 = torch.memory().hostCache;
  t.equal(s0.capBytes, 64 * MiB);
  t.equal(s0.minBlockBytes, MIN);
  t.equal(s0.source, 'torch.setHostCacheBytes');
  torch.full([N1], 7).dispose();
  const s1 = torch.memory().hostCache;
  t.equal(s1.cachedBytes - s0.cachedBytes, MiB, 'the freed 1 MiB block is kept');
  t.equal(s1.cachedBlocks - s0.cachedBlocks, 1);
  // empty() does not initialize: the reused block still holds the 7s (it is the most recently freed one)
  const e = torch.empty([N1]);
  const s2 = torch.memory().hostCache;
  t.equal(s2.hits - s1.hits, 1, 'served from the cache');
  t.equal(s2.misses, s1.misses);
  t.equal(s2.cachedBytes, s0.cachedBytes);
  t.ok(
    (e.toArray() as Float32Array).every((v) => v === 7),
    'the block that was reused held the 7s',
  );
  e.dispose();
  const z = torch.zeros([N1]);
  t.equal(torch.memory().hostCache.hits - s2.hits, 1, 'zeros() got the same reused block');
  t.ok(
    (z.toArray() as Float32Array).every((v) => v === 0),
    'zeros() on a reused block is all zeros',
  );
  z.fill_(7);
  z.dispose();
  const s5 = torch.memory().hostCache;
  const o = torch.ones([N1]);
  t.equal(torch.memory().hostCache.hits - s5.hits, 1, 'ones() got the reused block of 7s');
  t.ok(
    (o.toArray() as Float32Array).every((v) => v === 1),
    'ones() on a reused block is all ones',
  );
  o.dispose();
  // a block below minBlockBytes is not cached and changes nothing
  const s3 = torch.memory().hostCache;
  torch.zeros([MIN / 4 - 1]).dispose();
  const s4 = torch.memory().hostCache;
  t.same([s4.hits, s4.misses, s4.cachedBytes], [s3.hits, s3.misses, s3.cachedBytes], 'a block below minBlockBytes bypasses the cache');
  torch.setHostCacheBytes(64 * MiB, 2 * MiB);
  torch.full([N1], 5).dispose();
  t.equal(torch.memory().hostCache.cachedBytes, s4.cachedBytes, 'a raised minBlockBytes keeps 1 MiB blocks out');
  t.equal(torch.memory().hostCache.misses, s4.misses, 'and does not count them');
  torch.setHostCacheBytes(64 * MiB, MIN);
});

t.test('the cap holds: oldest blocks are evicted; a block above the cap is not kept', { skip }, async (t) => {
  t.ok(torch.setHostCacheBytes(4 * MiB));
  const s0 = torch.memory().hostCache;
  t.ok(s0.cachedBytes <= 4 * MiB);
  const xs = Array.from({ length: 8 }, () => torch.full([N1], 3));
  for (const x of xs) x.dispose();
  const s1 = torch.memory().hostCache;
  t.equal(s1.cachedBytes, 4 * MiB, 'kept up to the cap');
  t.equal(s1.cachedBlocks, 4);
  t.ok(s1.evictions - s0.evictions >= 4, `evicted ${s1.evictions - s0.evictions}`);
  torch.zeros([8 * N1]).dispose();
  const s2 = torch.memory().hostCache;
  t.equal(s2.cachedBytes, 4 * MiB, 'an 8 MiB block does not fit a 4 MiB cap');
  t.ok(torch.setHostCacheBytes(2 * MiB));
  t.equal(torch.memory().hostCache.cachedBytes, 2 * MiB, 'lowering the cap frees what no longer fits');
});

t.test('a cap of 0 keeps nothing and reuses nothing', { skip }, async (t) => {
  t.ok(torch.setHostCacheBytes(0));
  const s0 = torch.memory().hostCache;
  t.equal(s0.cachedBytes, 0, 'what was kept is freed');
  t.equal(s0.cachedBlocks, 0);
  for (let i = 0; i < 4; i++) torch.full([N1], i).dispose();
  const s1 = torch.memory().hostCache;
  t.equal(s1.hits, s0.hits, 'no hits');
  t.equal(s1.misses - s0.misses, 4);
  t.equal(s1.cachedBytes, 0);
  torch.setHostCacheBytes(64 * MiB);
});

const LIB = path.join(__dirname, '..', '..', 'lib', 'tensor', 'index.js');

t.test('SOCIAL_MAE_HOST_CACHE_BYTES sets the cap at load; 0 turns the cache off', { skip }, async (t) => {
  const child = `
const { torch } = require(${JSON.stringify(LIB)});
for (let i = 0; i < 4; i++) torch.full([${N1}], i).dispose();
process.stdout.write(JSON.stringify(torch.memory().hostCache));`;
  const run = (value: string, min = '') => {
    const r = spawnSync(process.execPath, ['-e', child], {
      encoding: 'utf8',
      env: { ...process.env, SOCIAL_MAE_HOST_CACHE_BYTES: value, SOCIAL_MAE_HOST_CACHE_MIN_BYTES: min },
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    t.equal(r.status, 0, `child with ${value}: ${r.stderr.slice(-500)}`);
    return JSON.parse(r.stdout);
  };
  const off = run('0');
  t.same([off.capBytes, off.hits, off.cachedBytes, off.source], [0, 0, 0, 'SOCIAL_MAE_HOST_CACHE_BYTES']);
  const on = run(String(3 * MiB));
  t.equal(on.capBytes, 3 * MiB);
  t.equal(on.minBlockBytes, MIN, 'blocks from 128 KiB on by default');
  const big = run(String(3 * MiB), String(2 * MiB));
  t.same([big.minBlockBytes, big.hits, big.cachedBytes], [2 * MiB, 0, 0], 'SOCIAL_MAE_HOST_CACHE_MIN_BYTES keeps 1 MiB blocks out');
  t.match(run(String(3 * MiB), '0').source, /SOCIAL_MAE_HOST_CACHE_MIN_BYTES='0' ignored/);
  t.ok(on.hits >= 3, `hits ${on.hits}`);
  const bad = run('lots');
  t.match(bad.source, /SOCIAL_MAE_HOST_CACHE_BYTES='lots' ignored/);
  t.ok(bad.capBytes > 0 && bad.capBytes <= 1024 * MiB, `default cap ${bad.capBytes}`);
});

t.test('glibc malloc thresholds: set at load, SOCIAL_MAE_MALLOC_TUNE=0 or the environment leaves glibc alone', async (t) => {
  const child = `const c = require(${JSON.stringify(LIB)}).torch.memory().hostCache; process.stdout.write(JSON.stringify({ ...c.malloc, min: c.minBlockBytes }));`;
  const run = (env: Record<string, string>) => {
    const clean = { ...process.env };
    for (const k of ['SOCIAL_MAE_MALLOC_TUNE', 'GLIBC_TUNABLES', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']) delete clean[k];
    const r = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8', env: { ...clean, ...env }, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
    t.equal(r.status, 0, `child with ${JSON.stringify(env)}: ${r.stderr.slice(-500)}`);
    const { min, ...malloc } = JSON.parse(r.stdout) as { tuned: boolean; source: string; min: number };
    if (installed) t.equal(min, MIN, 'the cache keeps blocks from 128 KiB on either way');
    return malloc;
  };
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  const dflt = run({});
  if (glibc) t.same(dflt, { tuned: true, source: "glibc mmap_threshold 32 MiB, trim_threshold 128 MiB (SOCIAL_MAE_MALLOC_TUNE=0 leaves glibc's defaults)" });
  else t.same(dflt, { tuned: false, source: 'not set: not glibc' });
  t.same(run({ SOCIAL_MAE_MALLOC_TUNE: '0' }), glibc ? { tuned: false, source: 'off (SOCIAL_MAE_MALLOC_TUNE=0)' } : dflt);
  const user = run({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1048576' });
  t.equal(user.tuned, false, 'a threshold the user set wins');
  if (glibc) t.match(user.source, /environment sets glibc's thresholds/);
});

t.test('worker threads share the cache and each sees its own data', { skip }, async (t) => {
  torch.setHostCacheBytes(16 * MiB, MIN);
  const s0 = torch.memory().hostCache;
  // Each worker fills blocks of several classes (128 KiB .. 3 MiB) with its own value, checks every element
  // after a reduction, and frees them, 150 times: a block handed to two threads at once, or freed while in
  // use, shows as a wrong sum or a crash.
  const work = `
const { parentPort, workerData } = require('worker_threads');
const { torch } = require(${JSON.stringify(LIB)});
let bad = 0;
for (let i = 0; i < 150; i++) {
  const n = (32 + ((i * 37 + workerData.id * 11) % 736)) * 1024;
  bad += torch.tidy(() => {
    const a = torch.full([n], workerData.id + 1);
    const b = a.mul(2);
    const c = torch.zeros([n]).add(b);
    return c.sum().item() === 2 * (workerData.id + 1) * n && c.max().item() === c.min().item() ? 0 : 1;
  });
}
parentPort.postMessage({ bad, live: torch.memory().liveTensors });`;
  const runs = [0, 1, 2, 3].map((id) => {
    const w = new Worker(work, { eval: true, workerData: { id } });
    return withTimeout(
      new Promise<{ bad: number; live: number }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }),
      120_000,
      `worker ${id}`,
      () => w.terminate(),
    ).finally(() => w.terminate());
  });
  const results = await Promise.all(runs);
  for (const r of results) t.same(r, { bad: 0, live: 0 });
  const s1 = torch.memory().hostCache;
  t.ok(s1.hits - s0.hits > 100, `blocks were reused across the workers: ${s1.hits - s0.hits} hits`);
  t.ok(s1.cachedBytes <= 16 * MiB, `cap held: ${s1.cachedBytes}`);
});

t.test('torch.config() reports the cache', async (t) => {
  t.match(torch.config(), /host allocator cache: /);
});
