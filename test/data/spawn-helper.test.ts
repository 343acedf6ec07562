/**
 * The process decoder's children are started by the spawn helper (lib/data/spawn-helper.ts), not by this
 * process: ffmpeg runs as the helper's child; its CPU reaches processCpuSeconds; a helper killed mid-run
 * fails that run with ERR_MEDIA (no hang) and the next run starts a new helper; an idle helper does not keep
 * a script from exiting; loader worker threads stop their helpers when the loader closes (no zombies).
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { decodeVideoFrames, probe, settleChildren } from '../../lib/data/ffmpeg';
import { processCpuSeconds } from '../../lib/data/cpu-time';
import { SPAWN_HELPER_SCRIPT } from '../../lib/data/spawn-helper';
import { DataLoader } from '../../lib/data/loader';
import type { DataItem } from '../../lib/data/source-types';
import { LYING, childMediaProcesses, longClip, tmpDir, NO_FFMPEG } from './helpers';

/** Pids of this process's children (every thread's). */
function children(): string[] {
  return fs
    .readdirSync('/proc/self/task')
    .flatMap((tid) => fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' '))
    .filter((pid) => pid.trim() !== '');
}

/** Pids of this process's children whose command line runs the spawn helper. */
function helpers(): number[] {
  return children()
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(SPAWN_HELPER_SCRIPT);
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

const ppid = (pid: string) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);

t.test(
  'ffmpeg runs under the helper; its CPU is counted; a killed helper fails the run and is replaced',
  { skip: NO_FFMPEG || (process.platform !== 'linux' && 'needs /proc') },
  async (t) => {
    const { dir, cleanup } = tmpDir();
    t.teardown(cleanup);
    // six copies of the 299-frame clip: a decode to the end takes long enough to be seen running
    const long = longClip(dir);
    const info = await probe(long, { decoder: 'process' });
    const last = 6 * 299 - 1;

    const own0 = process.cpuUsage();
    const cpu0 = processCpuSeconds();
    const run = decodeVideoFrames(long, { indices: [0, last], info, decoder: 'process' });
    let seen: string[] = [];
    for (let i = 0; i < 3000 && seen.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      seen = childMediaProcesses();
    }
    t.equal(seen.length, 1, `one ffmpeg descends from this process: ${seen.join(', ')}`);
    if (seen.length === 1) {
      const parent = ppid(seen[0]!.split(' ')[0]!);
      t.not(parent, process.pid, 'ffmpeg is not a child of the decoding process');
      t.ok(helpers().includes(parent), 'ffmpeg is a child of the spawn helper');
    }
    const r = await run;
    await settleChildren();
    t.same([r.decoded, r.endOfStream], [2, false], 'the decode completes through the helper');
    const own = process.cpuUsage(own0);
    const counted = processCpuSeconds() - cpu0;
    t.ok(counted > (own.user + own.system) / 1e6 + 0.2, `processCpuSeconds counts ffmpeg's CPU (${counted.toFixed(2)} s in all)`);

    // the helper dies mid-run: the run fails with a coded error, nothing is left running, the next run works
    const doomed = decodeVideoFrames(long, { indices: [0, last], info, decoder: 'process' });
    let running: string[] = [];
    for (let i = 0; i < 3000 && running.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      running = childMediaProcesses();
    }
    const orphan = running[0]?.split(' ')[0];
    const [h] = helpers();
    t.ok(h, 'a helper is running');
    process.kill(h!, 'SIGKILL');
    await t.rejects(doomed, { code: 'ERR_MEDIA' }, 'the run whose helper died fails with ERR_MEDIA');
    // orphaned, ffmpeg is no longer our descendant: watched by pid until it is gone (or a zombie of init)
    const alive = () => {
      try {
        return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${orphan}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 3000 && orphan && alive(); i++) await new Promise((r) => setTimeout(r, 10));
    t.ok(orphan && !alive(), 'the orphaned ffmpeg ends (its output socket is closed)');
    const again = await decodeVideoFrames(long, { indices: [0, 5], info, decoder: 'process' });
    t.equal(again.decoded, 2, 'the next run starts a new helper');
    t.not(helpers()[0], h, 'a different helper');
  },
);

t.test('an idle helper does not keep a script alive', { skip: NO_FFMPEG }, async (t) => {
  const script = `const d = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib', 'data', 'ffmpeg.js'))});
    d.probe(${JSON.stringify(LYING)}, { decoder: 'process' }).then((i) => console.log(i.video.width));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' }); // a helper holding it open would hang here
  t.equal(r.status, 0, `the script exits by itself (${r.stderr.trim().split('\n').pop() ?? ''})`);
  t.match(r.stdout, /^\d+\n$/, 'after probing through the helper');
});

t.test(
  'loader worker threads stop and reap their helpers when the loader closes',
  { skip: NO_FFMPEG || (process.platform !== 'linux' && 'needs /proc') },
  async (t) => {
    const items: DataItem[] = Array.from({ length: 4 }, (_, i) => ({ id: `w${i}`, video: LYING, audio: LYING, audioFromVideo: true, origin: `w${i}` }));
    const before = helpers().length; // this thread's own, from the tests above
    const l = new DataLoader(items, {
      recipe: { audio: false, video: { size: 32, duration: 1 } },
      batchSize: 2,
      workers: 2,
      decoder: 'process',
      onWarning: () => undefined,
    });
    let n = 0;
    for await (const b of l) {
      n += b.video!.shape[0]!;
      b.dispose();
    }
    t.equal(n, 4, 'the worker threads decoded through their helpers');
    const during = helpers().length;
    await l.close();
    const zombies = children().filter((pid) => /^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')));
    t.equal(during - before, 2, 'each worker thread had a helper');
    t.same([helpers().length - before, zombies], [0, []], "after close: no worker thread's helper running, no zombie left");
  },
);
