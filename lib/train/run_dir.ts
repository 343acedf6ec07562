/**
 * A training run's directory, laid out as the reference's `exp_dir` so its files are what PyTorch users
 * already handle:
 *   config.json                      what was trained (model options, training options, label names)
 *   progress.json                    one record per finished epoch (losses, metrics, lr, seconds)
 *   models/audio_model.E.pth         model state dict after epoch E, keys prefixed 'module.' (the
 *                                    reference saves its nn.DataParallel wrapper; torch.load reads it)
 *   models/optim_state.E.pth         torch.optim.Adam state dict after epoch E
 *   models/trainer_state.E.pth       epoch, global step, best metric, lr schedule and GradScaler state
 *   models/best_audio_model.pth      the model of the best epoch so far (+ best_optim_state.pth)
 * Every file is written atomically, trainer_state last: an epoch whose trainer_state exists is complete.
 */
import * as fs from 'fs';
import * as path from 'path';
import { torch, type Tensor } from '../tensor';
import * as io from '../io';
import { copyFileAtomic, writeFileAtomic } from '../io/atomic';
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
}

/** What trainer_state.E.pth holds (besides model and optimizer). */
export interface TrainerState {
  epoch: number;
  globalStep: number;
  best: number | null;
  schedule: Record<string, unknown>;
  scaler: Map<string, number> | null;
}

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

  /** The last epoch saved completely (its trainer_state exists), or 0. */
  lastEpoch(): number {
    if (!fs.existsSync(this.models)) return 0;
    let last = 0;
    for (const f of fs.readdirSync(this.models)) {
      const m = /^trainer_state\.(\d+)\.pth$/.exec(f);
      if (m && fs.existsSync(this.file('audio_model', Number(m[1])))) last = Math.max(last, Number(m[1]));
    }
    return last;
  }

  file(kind: 'audio_model' | 'optim_state' | 'trainer_state', epoch: number): string {
    return path.join(this.models, `${kind}.${epoch}.pth`);
  }

  /** Saves the model after `record.epoch` (and as best when `isBest`), then the progress record. */
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
    if (isBest) {
      // the best epoch's files are copies of what was just written, not a second serialisation
      await copyFileAtomic(this.file('audio_model', state.epoch), path.join(this.models, 'best_audio_model.pth'));
      await copyFileAtomic(this.file('optim_state', state.epoch), path.join(this.models, 'best_optim_state.pth'));
    }
    const history = (await this.progress()).filter((r) => r.epoch < record.epoch);
    await writeJson(path.join(this.dir, 'progress.json'), [...history, record]);
    await io.save(
      { epoch: state.epoch, global_step: state.globalStep, best: state.best, schedule: state.schedule, scaler: state.scaler },
      this.file('trainer_state', state.epoch),
    );
  }

  /** Loads epoch `epoch` into model and optimizer; returns the trainer state. */
  async restore(epoch: number, model: Module, opt: Optimizer): Promise<TrainerState> {
    const sd = (await io.load(this.file('audio_model', epoch))) as Map<string, Tensor>;
    try {
      const plain = new Map([...sd].map(([k, v]) => [k.startsWith('module.') ? k.slice(7) : k, v]));
      model.loadStateDict(plain, { strict: true });
    } finally {
      torch.dispose(sd);
    }
    const osd = await io.load(this.file('optim_state', epoch));
    try {
      opt.loadStateDict(osd as Map<string, unknown>);
    } finally {
      torch.dispose(osd);
    }
    const st = (await io.load(this.file('trainer_state', epoch))) as Map<string, unknown>;
    const get = (k: string) => (st instanceof Map ? st.get(k) : (st as Record<string, unknown>)[k]);
    if (Number(get('epoch')) !== epoch) throw new TrainError(`${this.file('trainer_state', epoch)}: holds epoch ${String(get('epoch'))}, expected ${epoch}`, 'ERR_BAD_STATE');
    const scaler = get('scaler');
    return {
      epoch,
      globalStep: Number(get('global_step')),
      best: get('best') === null || get('best') === undefined ? null : Number(get('best')),
      schedule: get('schedule') as Record<string, unknown>,
      scaler: scaler instanceof Map ? (scaler as Map<string, number>) : null,
    };
  }

  async progress(): Promise<EpochRecord[]> {
    const f = path.join(this.dir, 'progress.json');
    return fs.existsSync(f) ? readJson<EpochRecord[]>(f) : [];
  }
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
