/**
 * The finetuned model a command uses (predict, evaluate, embed): from a finetune run directory (its
 * config.json gives model options, label space, mode and loss; the best checkpoint unless --epoch), or
 * from a checkpoint file alone (model options from its shapes; --labels, --task, --mode, --loss say the
 * rest). The flags are declared once here and spread into each command's spec.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as io from '../io';
import * as data from '../data';
import { torch, type Tensor } from '../tensor';
import { FT_MODES, SocialMAEFT, loadCheckpoint, type FTMode, type FTOptions, type SocialMAE } from '../models';
import { LOSS_KINDS, RunDir, TASKS, resolveLoss, type LossKind } from '../train';
import { UsageError, type FlagSet, type Flags } from './args';
import { describeModel, finetuneModelFrom } from './checkpoint-file';

export const FINETUNED_FLAGS = {
  run: { type: 'string', value: 'DIR', help: 'finetune run directory (config.json and models/)' },
  epoch: { type: 'int', min: 1, defaultHelp: 'the best epoch', help: "with --run: this epoch's checkpoint" },
  checkpoint: { type: 'string', value: 'FILE', help: 'a finetuning checkpoint (.pth / .safetensors) used without a run directory' },
  labels: {
    type: 'string',
    value: 'A,B,...',
    defaultHelp: '0,1,...',
    help: 'with --checkpoint: the class (or regression target) names in output order',
  },
  task: { type: 'choice', choices: TASKS, defaultHelp: "the run's, else classification", help: 'with --checkpoint: what the outputs are' },
  mode: { type: 'choice', choices: FT_MODES, defaultHelp: "the run's, else multimodal", help: 'which modalities the model sees' },
  loss: {
    type: 'choice',
    choices: LOSS_KINDS,
    defaultHelp: "the run's, else the task's (CE, BCE, MSE)",
    help: 'CE: softmax probabilities, BCE: sigmoid (multi-label); MSE / L1: regression',
  },
} as const satisfies FlagSet;
type FinetunedFlags = Flags<typeof FINETUNED_FLAGS>;

/** What config.json of a finetune run holds (the fields read here). */
interface FinetuneConfig {
  task: string;
  model: FTOptions;
  labels: data.LabelMapJSON;
  mode: FTMode;
  loss: LossKind;
}

export interface Finetuned {
  model: SocialMAEFT;
  labels: data.LabelMap;
  mode: FTMode;
  loss: LossKind;
  /** The checkpoint file and which epoch, for messages and reports. */
  what: string;
  file: string;
}

/** The model (on `device`, caller disposes), label space, mode and loss of --run or --checkpoint; `command` names the caller in errors. */
export async function resolveFinetuned(f: FinetunedFlags, device: string, command: string): Promise<Finetuned> {
  if ((f.run === undefined) === (f.checkpoint === undefined)) throw new UsageError('give either --run DIR or --checkpoint FILE');
  if (f.run === undefined) {
    if (f.epoch !== undefined) throw new UsageError('--epoch goes with --run');
    const { model, inferred } = await finetuneModelFrom(f.checkpoint!, device);
    const K = model.config.labelDim;
    const names = f.labels === undefined ? Array.from({ length: K }, (_, i) => String(i)) : f.labels.split(',').map((s) => s.trim());
    const task = f.task ?? (f.loss === 'BCE' ? 'multilabel' : f.loss === 'MSE' || f.loss === 'L1' ? 'regression' : 'classification');
    if (names.length !== K) {
      model.dispose();
      throw new UsageError(`--labels names ${names.length} ${task === 'regression' ? 'targets' : 'classes'}, the checkpoint's head has ${K}`);
    }
    const labels = data.LabelMap.fromJSON({ task, names });
    const what = `${f.checkpoint} (${describeModel(inferred)}; assumed: ${inferred.assumed.join(', ') || 'nothing'})`;
    return { model, labels, mode: f.mode ?? 'multimodal', loss: lossFor(task, f.loss), what, file: f.checkpoint! };
  }
  for (const k of ['labels', 'task'] as const) if (f[k] !== undefined) throw new UsageError(`--${k} goes with --checkpoint (a run's config.json says it)`);
  const runDir = new RunDir(f.run);
  if (!fs.existsSync(path.join(runDir.dir, 'config.json')))
    throw new UsageError(`${runDir.dir}/config.json does not exist: --run needs a finetune run directory`);
  const cfg = await runDir.readConfig<FinetuneConfig>();
  if (cfg.task !== 'finetune') throw new UsageError(`${runDir.dir} is a ${cfg.task} run; ${command} needs a finetune run`);
  const labels = data.LabelMap.fromJSON(cfg.labels, path.join(runDir.dir, 'config.json'));
  const file = f.epoch === undefined ? path.join(runDir.models, 'best_audio_model.pth') : runDir.file('audio_model', f.epoch);
  if (!fs.existsSync(file)) throw new UsageError(`${file} does not exist`);
  const model = await withWeights(new SocialMAEFT(cfg.model), file);
  return {
    model: model.to(device),
    labels,
    mode: f.mode ?? cfg.mode,
    loss: lossFor(labels.task, f.loss ?? cfg.loss),
    what: `${file} (${f.epoch === undefined ? 'best epoch' : `epoch ${f.epoch}`})`,
    file,
  };
}

/** The loss of `task` (its default when none is given); a loss the task cannot use is a usage error. */
function lossFor(task: data.Task, loss: LossKind | undefined): LossKind {
  try {
    return resolveLoss(task, loss, '--loss');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Loads the state dict in `file` into `model` (disposed when that fails) and returns the model. */
export async function withWeights<M extends SocialMAE | SocialMAEFT>(model: M, file: string): Promise<M> {
  try {
    const sd = (await io.load(file)) as Map<string, Tensor>;
    try {
      loadCheckpoint(model, sd);
    } finally {
      torch.dispose(sd);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
