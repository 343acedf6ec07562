/**
 * `kill -9` of the real `social-mae pretrain` at chosen moments, then `--resume`: the kills land when a
 * file shows up in the run directory (config.json, the commit records of epochs 1 and 2, which the
 * best_* copies follow) and on a timer; after each kill every file under a final name loads, and
 * the next `--resume` continues after the newest epoch committed at the kill, until the run completes
 * with exactly its epochs' files. Every kill before a commit costs an epoch of training, so the kills
 * inside file writes and between an epoch's files are left to run_dir_kill.test.ts, which covers every
 * single file-system call of saving an epoch.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { io, torch } from '../../lib';
import { CLIP, tmpDir, NO_FFMPEG } from '../data/helpers';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');
/** The longest one child may run (the suite runs under load on 2 cores). */
const CHILD_TIMEOUT_MS = 120_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/**
 * Runs the CLI in `cwd`; `killWhen` (checked every 10 ms with the output so far) sends SIGKILL when it
 * returns true. Rejects when the child outlives CHILD_TIMEOUT_MS (and kills it).
 */
function cli(cwd: string, args: string[], killWhen?: (out: string) => boolean): Promise<Exit> {
  const child = spawn(process.execPath, ['--no-warnings', MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const poll =
      killWhen &&
      setInterval(() => {
        if (killWhen(out)) child.kill('SIGKILL');
      }, 10);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`social-mae ${args.join(' ')}: still running after ${CHILD_TIMEOUT_MS} ms\n${out}\n${err}`));
    }, CHILD_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      if (poll) clearInterval(poll);
      clearTimeout(timer);
      // 'exit' can come before the pipes are drained; 'close' follows once they are
      child.on('close', () => resolve({ code, signal, out, err }));
    });
  });
}

t.test('pretrain killed with SIGKILL at several points resumes to the same complete run', { skip: NO_FFMPEG, timeout: 600_000 }, async (t) => {
  const started = Date.now();
  const { dir, cleanup } = tmpDir('smae-crash-');
  t.teardown(cleanup);
  fs.copyFileSync(CLIP, path.join(dir, 'a.mp4'));
  fs.writeFileSync(path.join(dir, 'm.csv'), 'video,label\na.mp4,happy\n');
  const args = ['pretrain', '--train', 'm.csv', '--out', 'run', '--size', 'small', '--batch-size', '1', '--cache', 'cache', '--epochs', '2'];
  const models = path.join(dir, 'run', 'models');
  const names = () => (fs.existsSync(models) ? fs.readdirSync(models) : []);
  const appears = (re: RegExp) => () => names().some((n) => re.test(n));

  /** Kills a run at `when`; checks the state it left; returns its output and the newest epoch committed at the kill. */
  async function killed(what: string, extra: string[], when: (out: string) => boolean): Promise<{ out: string; last: number }> {
    const r = await cli(dir, [...args, ...extra], when);
    if (!t.equal(r.signal, 'SIGKILL', `${what}: killed`)) t.comment(r.err);
    const left = names();
    t.comment(`${what}: left ${left.sort().join(' ') || 'no model files'}`);
    for (const n of left) if (n.endsWith('.pth')) torch.dispose(await io.load(path.join(models, n))); // final names hold complete files
    const committed = left
      .map((n) => /^trainer_state\.(\d+)\.pth$/.exec(n))
      .filter((m) => m !== null)
      .map((m) => Number(m![1]));
    return { out: r.out, last: Math.max(0, ...committed) };
  }
  const resumedAfter = (out: string, epoch: number) =>
    t.match(out, epoch === 0 ? /resumed run: no epoch was finished, starting at epoch 1/ : new RegExp(`resumed run after epoch ${epoch} \\(step ${epoch}\\)`));

  // 1. as soon as the run is started (config.json written, nothing trained)
  let k = await killed('kill once config.json is written', [], () => fs.existsSync(path.join(dir, 'run', 'config.json')));
  t.equal(k.last, 0);

  // 2. once epoch 1's commit record is there (the best_* copies follow it)
  k = await killed('kill at the epoch-1 commit record', ['--resume'], appears(/^trainer_state\.1\.pth$/));
  resumedAfter(k.out, 0);
  t.equal(k.last, 1, 'the commit record was written, so epoch 1 is committed');

  // 3. on a timer, 300 ms after the resume is logged (rolling back or training epoch 2)
  let since = 0;
  k = await killed('kill 300 ms after resuming', ['--resume'], (o) => {
    if (!/resumed run/.test(o)) return false;
    since ||= Date.now();
    return Date.now() - since >= 300;
  });
  resumedAfter(k.out, 1);

  // 4. once epoch 2's commit record is there
  const prev = k.last;
  k = await killed('kill at the epoch-2 commit record', ['--resume'], appears(/^trainer_state\.2\.pth$/));
  resumedAfter(k.out, prev);
  t.equal(k.last, 2);

  // 5. to the end
  const end = await cli(dir, [...args, '--resume']);
  t.equal(end.code, 0, end.err);
  resumedAfter(end.out, k.last);
  const run = path.join(dir, 'run');
  t.same(
    JSON.parse(fs.readFileSync(path.join(run, 'progress.json'), 'utf8')).map((r: { epoch: number }) => r.epoch),
    [1, 2],
  );
  t.same(
    names().sort(),
    [
      'audio_model.1.pth',
      'audio_model.2.pth',
      'best_audio_model.pth',
      'best_optim_state.pth',
      'optim_state.1.pth',
      'optim_state.2.pth',
      'trainer_state.1.pth',
      'trainer_state.2.pth',
    ],
    "the epochs' files and nothing else (no temp files)",
  );
  const st = (await io.load(path.join(models, 'trainer_state.2.pth'))) as Map<string, unknown>;
  t.equal(st.get('epoch'), 2);
  t.equal(st.get('global_step'), 2, 'one step per epoch: no epoch counted twice');
  const bestEpoch = st.get('best_epoch') as number;
  t.ok(bestEpoch === 1 || bestEpoch === 2);
  for (const kind of ['audio_model', 'optim_state'] as const) {
    t.ok(
      fs.readFileSync(path.join(models, `best_${kind}.pth`)).equals(fs.readFileSync(path.join(models, `${kind}.${bestEpoch}.pth`))),
      `best_${kind}.pth copies epoch ${bestEpoch}`,
    );
  }
  for (const n of names()) torch.dispose(await io.load(path.join(models, n)));
  t.comment(`crash/resume chain took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
