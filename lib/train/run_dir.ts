/**
 * A training run's directory, laid out as the reference's `exp_dir` so its files are what PyTorch users
 * already handle:
 *   config.json                      what was trained (model options, training options, label names)
 *   progress.json                    one record per finished epoch (losses, metrics, lr, seconds)
 *   models/audio_model.E.pth         model state dict after epoch E, keys prefixed 'module.' (the
 *                                    reference saves its nn.DataParallel wrapper; torch.load reads it)
 *   models/optim_state.E.pth         torch.optim.Adam state dict after epoch E
 *   models/trainer_state.E.pth       epoch, global step, best metric, lr schedule and GradScaler state
 *   models/best_audio_model.pth      copies of the best committed epoch's files (+ best_optim_state.pth)
 * Commit protocol (a `kill -9` at any moment leaves a directory `--resume` continues): every file is
 * written atomically (temp file, rename); an epoch's model, optimizer state and progress record come
 * first, its trainer_state last: trainer_state.E.pth is the epoch's commit record, and epoch E exists
 * only once it does. The best_* copies are made after the commit, from committed files, and the
 * trainer state names the epoch they copy, so a resume can redo an interrupted copy. Resuming loads
 * the newest committed epoch whose three files load and agree, then rolls the directory back to it
 * (rollBack): temp files of killed writes, files of later (unfinished or damaged) epochs, their
 * progress records and stale best_* copies go.
 */
import * as fs from 'fs';
import * as path from 'path';
import { torch, type Tensor } from '../tensor';
import * as io from '../io';
import { copyFileAtomic, removeStaleTemps, syncDir, writeFileAtomic } from '../io/atomic';
import type { LoaderThroughput } from '../data/loader';
import type { Module } from '../nn';
import type { Optimizer } from '../optim';
import { TrainError } from './errors';

/** One finished epoch. */
export interface EpochRecord {
  epoch: number;
  globalStep: number;
  lr: number[];
  seconds: number;
  train: Record<string, number>;
  val?: Record<string, number>;
  /** The training loader over the epoch (this rank's): clips/s, CPU-s per clip, cache hits, skipped
   *  items, and `inputBound`, the fraction of the epoch the loop waited for data. */
  input?: LoaderThroughput;
}

/** What trainer_state.E.pth holds (besides model and optimizer). */
export interface TrainerState {
  epoch: number;
  globalStep: number;
  best: number | null;
  /** The epoch the best_* files copy (null: none scored yet, or a trainer state written before this was
   *  recorded, whose best_* files are left as they are). */
  bestEpoch: number | null;
  schedule: Record<string, unknown>;
  scaler: Map<string, number> | null;
}

type EpochFile = 'audio_model' | 'optim_state' | 'trainer_state';
const EPOCH_FILE = /^(audio_model|optim_state|trainer_state)\.(\d+)\.pth$/;
const BEST: Record<'audio_model' | 'optim_state', string> = { audio_model: 'best_audio_model.pth', optim_state: 'best_optim_state.pth' };

export class RunDir {
  readonly models: string;
  constructor(readonly dir: string) {
    this.models = path.join(dir, 'models');
  }

  async init(config: unknown): Promise<void> {
    await fs.promises.mkdir(this.models, { recursive: true });
    await writeJson(path.join(this.dir, 'config.json'), config);
  }

  async readConfig<T>(): Promise<T> {
    return readJson<T>(path.join(this.dir, 'config.json'));
  }

  /** Whether a run was started here (config.json or a committed epoch exists), finished epochs or not. */
  started(): boolean {
    return fs.existsSync(path.join(this.dir, 'config.json')) || this.committed().length > 0;
  }

  /** The epochs with a commit record (trainer_state.E.pth), newest first; not yet checked to load. */
  committed(): number[] {
    return this.epochFiles()
      .filter((f) => f.kind === 'trainer_state')
      .map((f) => f.epoch)
      .sort((a, b) => b - a);
  }

  file(kind: EpochFile, epoch: number): string {
    return path.join(this.models, `${kind}.${epoch}.pth`);
  }

  /** Saves epoch `record.epoch` in commit order (see the file comment); `isBest`: the best_* copies follow. */
  async saveEpoch(model: Module, opt: Optimizer, state: TrainerState, record: EpochRecord, isBest: boolean): Promise<void> {
    const sd = model.stateDict();
    const prefixed = new Map<string, Tensor>([...sd].map(([k, v]) => [`module.${k}`, v]));
    const osd = opt.stateDict();
    try {
      await io.save(prefixed, this.file('audio_model', state.epoch));
      await io.save(osd, this.file('optim_state', state.epoch));
    } finally {
      torch.dispose(sd);
      torch.dispose(osd);
    }
    const history = (await this.progress()).filter((r) => r.epoch < record.epoch);
    await writeJson(path.join(this.dir, 'progress.json'), [...history, record]);
    await io.save(
      { epoch: state.epoch, global_step: state.globalStep, best: state.best, best_epoch: state.bestEpoch, schedule: state.schedule, scaler: state.scaler },
      this.file('trainer_state', state.epoch),
    );
    if (isBest) await this.copyBest(state.epoch);
  }

  /**
   * Loads the newest committed epoch whose three files load and agree into `model` and `opt` (nothing
   * is applied before all three have loaded) and returns its trainer state; null when no epoch does. A
   * newer committed epoch that does not load (a truncated or missing file, a trainer state of another
   * epoch) is skipped with a line to `log`; rollBack then removes it.
   */
  async restoreLatest(model: Module, opt: Optimizer, log: (line: string) => void): Promise<TrainerState | null> {
    for (const epoch of this.committed()) {
      let sd: Map<string, Tensor> | undefined;
      let osd: unknown;
      try {
        const state = await this.readTrainerState(epoch);
        sd = (await io.load(this.file('audio_model', epoch))) as Map<string, Tensor>;
        osd = await io.load(this.file('optim_state', epoch));
        model.loadStateDict(new Map([...sd].map(([k, v]) => [k.startsWith('module.') ? k.slice(7) : k, v])), { strict: true });
        opt.loadStateDict(osd as Map<string, unknown>);
        return state;
      } catch (e) {
        if (!isDamage(e)) throw e;
        log(`${this.dir}: epoch ${epoch} is not usable (${(e as Error).message}); trying the one before`);
      } finally {
        if (sd) torch.dispose(sd);
        torch.dispose(osd);
      }
    }
    return null;
  }

  /**
   * Makes the directory hold exactly what `state` committed (null: nothing) before training goes on:
   * temp files of killed writes are removed, then every file of a later epoch (its commit record
   * first, so no later epoch is ever half-committed), the later progress records, and the best_*
   * copies are redone from the best epoch's files (removed when no epoch scored yet).
   */
  async rollBack(state: TrainerState | null): Promise<void> {
    const last = state?.epoch ?? 0;
    await removeStaleTemps(this.dir);
    await removeStaleTemps(this.models);
    const later = this.epochFiles().filter((f) => f.epoch > last);
    for (const kind of ['trainer_state', 'audio_model', 'optim_state'] as const) {
      for (const f of later) if (f.kind === kind) await fs.promises.rm(this.file(kind, f.epoch), { force: true });
    }
    if (later.length > 0) await syncDir(this.models);
    const progress = await this.progress();
    const kept = progress.filter((r) => r.epoch <= last);
    if (kept.length < progress.length) await writeJson(path.join(this.dir, 'progress.json'), kept);
    if (!state || state.best === null) {
      for (const name of Object.values(BEST)) await fs.promises.rm(path.join(this.models, name), { force: true });
    } else if (state.bestEpoch !== null) {
      await this.copyBest(state.bestEpoch);
    }
  }

  async progress(): Promise<EpochRecord[]> {
    const f = path.join(this.dir, 'progress.json');
    return fs.existsSync(f) ? readJson<EpochRecord[]>(f) : [];
  }

  /** The best_* files as copies of epoch `epoch`'s files (the bytes, not a second serialisation). */
  private async copyBest(epoch: number): Promise<void> {
    for (const kind of ['audio_model', 'optim_state'] as const) await copyFileAtomic(this.file(kind, epoch), path.join(this.models, BEST[kind]));
  }

  /** trainer_state.E.pth, checked to be epoch E's. */
  private async readTrainerState(epoch: number): Promise<TrainerState> {
    const file = this.file('trainer_state', epoch);
    const st = (await io.load(file)) as Map<string, unknown>;
    const get = (k: string) => (st instanceof Map ? st.get(k) : (st as Record<string, unknown>)[k]);
    if (Number(get('epoch')) !== epoch) throw new TrainError(`${file}: holds epoch ${String(get('epoch'))}, expected ${epoch}`, 'ERR_BAD_STATE');
    const scaler = get('scaler');
    const num = (v: unknown) => (v === null || v === undefined ? v : Number(v));
    return {
      epoch,
      globalStep: Number(get('global_step')),
      best: num(get('best')) ?? null,
      bestEpoch: num(get('best_epoch')) ?? null,
      schedule: get('schedule') as Record<string, unknown>,
      scaler: scaler instanceof Map ? (scaler as Map<string, number>) : null,
    };
  }

  /** The per-epoch files in models/ (by name; none when models/ is missing). */
  private epochFiles(): { kind: EpochFile; epoch: number }[] {
    if (!fs.existsSync(this.models)) return [];
    return fs.readdirSync(this.models).flatMap((n) => {
      const m = EPOCH_FILE.exec(n);
      return m ? [{ kind: m[1] as EpochFile, epoch: Number(m[2]) }] : [];
    });
  }
}

/** Whether a failed restore means damaged epoch files (skip the epoch), not a failure to report. */
function isDamage(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'ERR_CHECKPOINT_CORRUPT' || code === 'ENOENT' || (e instanceof TrainError && code === 'ERR_BAD_STATE');
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, [Buffer.from(JSON.stringify(value, null, 2) + '\n')]);
}

async function readJson<T>(file: string): Promise<T> {
  try {
    return JSON.parse(await fs.promises.readFile(file, 'utf8')) as T;
  } catch (e) {
    throw new TrainError(`${file}: ${(e as Error).message}`, 'ERR_BAD_STATE');
  }
}
