/**
 * Every kill point of a run directory's writes, deterministically: the file-system calls of
 * RunDir.saveEpoch (and of the rollBack a resume does) are intercepted in this process and, at the k-th
 * mutating call, the call never returns (a write first writes half its bytes) and the open files are
 * closed, which leaves on disk exactly what a `kill -9` at that moment leaves. For every k the directory
 * must hold only complete files under their final names, and a resume (restoreLatest + rollBack) must
 * continue from the newest committed epoch with the files' weights and a consistent directory.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch, io, nn, optim, train, Tensor } from '../../lib';
import { tmpDir } from '../data/helpers';

const fsp = fs.promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
const PATCHED = ['open', 'rename', 'copyFile', 'chmod', 'unlink', 'rm', 'mkdir', 'writeFile'] as const;

/** A file-system call that mutates state (an open for reading does not). */
const mutating = (name: string, args: unknown[]) => name !== 'open' || (typeof args[1] === 'string' && args[1] !== 'r');

/**
 * Runs `work` with the k-th mutating file-system call (1-based) frozen as by a kill; returns the calls
 * made ('op path', the last one the frozen call) and whether `work` finished before reaching call k.
 */
async function killAt(k: number, work: () => Promise<unknown>): Promise<{ ops: string[]; finished: boolean }> {
  const orig = Object.fromEntries(PATCHED.map((n) => [n, fsp[n]!]));
  const ops: string[] = [];
  const handles: fs.promises.FileHandle[] = [];
  let freeze!: () => void;
  const frozen = new Promise<void>((r) => (freeze = r));
  const hang = () => new Promise<never>(() => undefined);
  /** Counts a call; true when it is the one to freeze. */
  const hit = (what: string) => {
    ops.push(what);
    return ops.length === k;
  };
  for (const n of PATCHED) {
    fsp[n] = async (...args: unknown[]) => {
      if (mutating(n, args) && hit(`${n} ${path.basename(String(args[0]))}`)) {
        if (n === 'copyFile') await orig.writeFile!(String(args[1]), fs.readFileSync(String(args[0])).subarray(0, fs.statSync(String(args[0])).size >> 1));
        freeze();
        return hang();
      }
      const r = await orig[n]!(...args);
      if (n === 'open') wrapHandle(r as fs.promises.FileHandle, String(args[0]));
      return r;
    };
  }
  function wrapHandle(fh: fs.promises.FileHandle, file: string) {
    handles.push(fh);
    const write = fh.write.bind(fh) as (b: Uint8Array, off: number, n: number) => Promise<unknown>;
    const sync = fh.sync.bind(fh);
    (fh as unknown as { write: unknown }).write = async (b: Uint8Array, off: number, n: number) => {
      if (hit(`write ${path.basename(file)}`)) {
        await write(b, off, n >> 1); // torn mid-write
        freeze();
        return hang();
      }
      return write(b, off, n);
    };
    fh.sync = async () => {
      if (hit(`sync ${path.basename(file)}`)) {
        freeze();
        return hang();
      }
      return sync();
    };
  }
  try {
    const finished = await Promise.race([work().then(() => true), frozen.then(() => false)]);
    return { ops, finished };
  } finally {
    for (const n of PATCHED) fsp[n] = orig[n]!;
    for (const fh of handles) await fh.close().catch(() => undefined); // the kernel closes a killed process's files
  }
}

const SCHEDULE = { last_epoch: 0 };

/** A Linear and its Adam after `steps` steps (seeded), so both have state to save. */
function trained(seed: number, steps: number) {
  torch.manualSeed(seed);
  const model = new nn.Linear(6, 4);
  const opt = new optim.Adam(model.parameters(), { lr: 0.1 });
  for (let i = 0; i < steps; i++) {
    torch.tidy(() => {
      opt.zeroGrad();
      model
        .forward(torch.randn([3, 6]))
        .square()
        .mean()
        .backward();
    });
    opt.step();
  }
  return { model, opt };
}

const record = (epoch: number): train.EpochRecord => ({ epoch, globalStep: epoch, lr: [0.1], seconds: 0, train: { loss: 1 / epoch } });
const state = (epoch: number, bestEpoch: number | null): train.TrainerState => ({
  epoch,
  globalStep: epoch,
  best: bestEpoch === null ? null : 1 / bestEpoch,
  bestEpoch,
  schedule: { ...SCHEDULE, last_epoch: epoch },
  scaler: null,
});

const bytes = (f: string) => fs.readFileSync(f);
const TEMP = /\.tmp$/;

/** Every file under a final name loads (checkpoints) or parses (JSON); temps are the only partial files. */
async function completeUnderFinalNames(t: tap.Test, dir: string, when: string): Promise<void> {
  for (const sub of ['', 'models']) {
    const d = path.join(dir, sub);
    if (!fs.existsSync(d)) continue;
    for (const n of fs.readdirSync(d)) {
      if (TEMP.test(n) || n === 'models') continue;
      const f = path.join(d, n);
      if (n.endsWith('.json')) JSON.parse(fs.readFileSync(f, 'utf8'));
      else torch.dispose(await io.load(f));
    }
  }
  const rd = new train.RunDir(dir);
  const progress = (await rd.progress()).map((r) => r.epoch);
  for (const e of rd.committed()) {
    t.ok(
      fs.existsSync(rd.file('audio_model', e)) && fs.existsSync(rd.file('optim_state', e)) && progress.includes(e),
      `${when}: committed epoch ${e} has its files and record`,
    );
  }
  for (const [best, kind] of [
    ['best_audio_model.pth', 'audio_model'],
    ['best_optim_state.pth', 'optim_state'],
  ] as const) {
    const f = path.join(rd.models, best);
    if (fs.existsSync(f))
      t.ok(
        rd.committed().some((e) => bytes(f).equals(bytes(rd.file(kind, e)))),
        `${when}: ${best} copies a committed epoch`,
      );
  }
}

/** Resumes `dir` into a fresh model: the newest committed epoch, the files' weights, a rolled-back directory. */
async function resumeAndCheck(t: tap.Test, dir: string, expectEpoch: number, when: string): Promise<void> {
  const rd = new train.RunDir(dir);
  const { model, opt } = trained(99, 0);
  const logs: string[] = [];
  const st = await rd.restoreLatest(model, opt, (l) => logs.push(l));
  t.equal(st?.epoch, expectEpoch, `${when}: resumes after epoch ${expectEpoch}`);
  const saved = (await io.load(rd.file('audio_model', expectEpoch))) as Map<string, Tensor>;
  const own = model.stateDict();
  t.ok(
    [...own].every(([k, v]) => torch.tidy(() => v.equal(saved.get(`module.${k}`)!))),
    `${when}: the model holds epoch ${expectEpoch}'s file`,
  );
  torch.dispose([saved, own]);
  const osd = opt.stateDict();
  const again = path.join(dir, 'again', `optim_state.${expectEpoch}.pth`); // same name: same archive prefix
  fs.mkdirSync(path.dirname(again));
  await io.save(osd, again);
  torch.dispose(osd);
  t.ok(bytes(again).equals(bytes(rd.file('optim_state', expectEpoch))), `${when}: the optimizer holds epoch ${expectEpoch}'s file`);
  fs.rmSync(path.dirname(again), { recursive: true });
  await rd.rollBack(st);
  const names = fs.readdirSync(rd.models).sort();
  t.notOk(
    [...names, ...fs.readdirSync(dir)].some((n) => TEMP.test(n)),
    `${when}: no temp file left`,
  );
  const epochs = Array.from({ length: expectEpoch }, (_, i) => i + 1);
  t.same(
    names,
    [
      ...epochs.map((e) => `audio_model.${e}.pth`),
      'best_audio_model.pth',
      'best_optim_state.pth',
      ...epochs.map((e) => `optim_state.${e}.pth`),
      ...epochs.map((e) => `trainer_state.${e}.pth`),
    ].sort(),
    `${when}: only committed epochs' files`,
  );
  t.same(
    (await rd.progress()).map((r) => r.epoch),
    epochs,
    `${when}: progress holds the committed epochs`,
  );
  t.ok(
    bytes(path.join(rd.models, 'best_audio_model.pth')).equals(bytes(rd.file('audio_model', st!.bestEpoch!))),
    `${when}: best_audio_model copies epoch ${st!.bestEpoch}`,
  );
  t.ok(
    bytes(path.join(rd.models, 'best_optim_state.pth')).equals(bytes(rd.file('optim_state', st!.bestEpoch!))),
    `${when}: best_optim_state copies epoch ${st!.bestEpoch}`,
  );
  model.dispose();
}

t.test('a kill at every file-system call of saving an epoch leaves a resumable directory', async (t) => {
  const { dir, cleanup } = tmpDir('smae-kill-');
  t.teardown(cleanup);
  const base = path.join(dir, 'base');
  const rd = new train.RunDir(base);
  await rd.init({ task: 'kill-test' });
  const { model, opt } = trained(1, 1);
  await rd.saveEpoch(model, opt, state(1, 1), record(1), true);
  torch.tidy(() => {
    opt.zeroGrad();
    model
      .forward(torch.randn([3, 6]))
      .sum()
      .backward();
  });
  opt.step();

  let k = 1;
  const seen: string[] = [];
  for (; ; k++) {
    const caseDir = path.join(dir, `k${k}`);
    fs.cpSync(base, caseDir, { recursive: true });
    const { ops, finished } = await killAt(k, () => new train.RunDir(caseDir).saveEpoch(model, opt, state(2, 2), record(2), true));
    if (finished) break;
    const at = `killed at ${ops[ops.length - 1]} (call ${k})`;
    seen.push(ops[ops.length - 1]!);
    await completeUnderFinalNames(t, caseDir, at);
    const committed = fs.existsSync(path.join(caseDir, 'models', 'trainer_state.2.pth'));
    await resumeAndCheck(t, caseDir, committed ? 2 : 1, at);
    fs.rmSync(caseDir, { recursive: true, force: true });
  }
  t.ok(k > 20, `${k - 1} kill points`);
  // the commit order: model, optimizer, progress, trainer state, then the best copies
  const renames = seen.filter((o) => o.startsWith('rename')).map((o) => o.replace(/^rename \.(.*)\.\d+\.[0-9a-f]+\.tmp$/, '$1'));
  t.same(renames, ['audio_model.2.pth', 'optim_state.2.pth', 'progress.json', 'trainer_state.2.pth', 'best_audio_model.pth', 'best_optim_state.pth']);
  t.ok(seen.some((o) => o.startsWith('write .audio_model.2.pth')) && seen.some((o) => o.startsWith('copyFile')), 'torn writes and copies covered');
  model.dispose();
});

t.test('a damaged newest epoch is skipped and rolled back, and a kill during that rollback is resumed again', async (t) => {
  const { dir, cleanup } = tmpDir('smae-kill-');
  t.teardown(cleanup);
  const base = path.join(dir, 'base');
  const rd = new train.RunDir(base);
  await rd.init({ task: 'kill-test' });
  const { model, opt } = trained(2, 1);
  await rd.saveEpoch(model, opt, state(1, 1), record(1), true);
  await rd.saveEpoch(model, opt, state(2, 2), record(2), true);
  // a model file cut short (what a non-atomic write killed midway would leave) never loads: coded error
  const full = bytes(rd.file('audio_model', 2));
  for (const len of [0, 1, 100, full.length >> 2, full.length >> 1, full.length - 23, full.length - 1]) {
    await t.rejects(io.load(full.subarray(0, len)), { code: 'ERR_CHECKPOINT_CORRUPT' }, `truncated to ${len} of ${full.length} bytes`);
  }
  fs.writeFileSync(rd.file('audio_model', 2), full.subarray(0, full.length >> 1));

  let k = 1;
  for (; ; k++) {
    const caseDir = path.join(dir, `k${k}`);
    fs.cpSync(base, caseDir, { recursive: true });
    const first = new train.RunDir(caseDir);
    const { model: m, opt: o } = trained(99, 0);
    const logs: string[] = [];
    const st = await first.restoreLatest(m, o, (l) => logs.push(l));
    t.equal(st?.epoch, 1);
    t.match(logs, [/epoch 2 is not usable \(.*\[?.*\); trying the one before/]);
    m.dispose();
    const { ops, finished } = await killAt(k, () => first.rollBack(st));
    if (finished) break;
    const at = `rollback killed at ${ops[ops.length - 1]} (call ${k})`;
    await resumeAndCheck(t, caseDir, 1, at);
  }
  t.ok(k > 5, `${k - 1} kill points in the rollback`);
  model.dispose();
});
