/**
 * Supervised finetuning of SocialMAEFT, as the reference's traintest_ft.py: Adam with two parameter
 * groups (the new head `mlp_head.*` at lr * headLr, everything else at lr; or the head alone with
 * `freezeBase`), SpecAugment (`freqm`, `timem`) and the fbank noise/roll (`noise`) on the training
 * batches, per epoch the validation loss and metrics (evaluate.ts), and the best epoch by `metric`.
 * Tasks (supervised.ts): classification (CE; BCE selectable; label smoothing), multi-label (BCE) and
 * regression (the head's outputs are the targets; MSE, or L1). With `test` the best checkpoint is
 * evaluated on the test set at the end, as the reference's main_ft.py does, into eval.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as io from '../io';
import { type Tensor } from '../tensor';
import { Adam, type Optimizer } from '../optim';
import { loadCheckpoint, type SocialMAEFT, type FTMode } from '../models';
import type { Task } from '../data/labels';
import type { DataLoader } from '../data/loader';
import { TrainError } from './errors';
import { fbankNoise, specAugment } from './augment';
import { fit, type FitOptions } from './fit';
import { evaluate, writeEvalReport, type EvalReport } from './evaluate';
import { MetricsLog } from './metrics_log';
import { writeConfusion } from './plots';
import { lossFunction, modelInputs, resolveLoss, targetMatrix, type LossKind } from './supervised';
import type { EpochRecord } from './run_dir';

/** Validation keys that may pick the best epoch per task (evaluate.ts computes them); only 'loss' is lower-is-better. */
export const BEST_METRICS: Readonly<Record<Task, readonly string[]>> = {
  classification: ['loss', 'acc', 'balancedAcc', 'macroF1', 'mAP', 'mAUC', 'rocAuc'],
  multilabel: ['loss', 'acc', 'mAP', 'mAUC'],
  regression: ['loss', 'meanScore'],
};

export interface FinetuneLoopOptions extends FitOptions {
  lr?: number; // 1e-5
  /** The head's lr multiplier (the reference's head_lr; default 100). */
  headLr?: number;
  weightDecay?: number; // 5e-7
  betas?: [number, number]; // [0.95, 0.999]
  mode?: FTMode; // 'multimodal'
  /** Default: the training loader's label task (classification when it has none). */
  task?: Task;
  /** Default: 'CE' for classification, 'BCE' for multi-label, 'MSE' for regression. */
  loss?: LossKind;
  labelSmooth?: number; // 0
  /** SpecAugment widths for training batches (0 = off). */
  freqm?: number;
  timem?: number;
  /** The reference's fbank noise + random time roll on training batches (after SpecAugment). */
  noise?: boolean;
  /** Train the head only. */
  freezeBase?: boolean;
  /** Validation key that picks the best epoch (BEST_METRICS): 'loss' is the lowest validation loss (the
   *  reference's rule). Default: 'acc' for classification, 'mAP' for multi-label, 'loss' for regression. */
  metric?: string;
  val?: DataLoader;
  /** Evaluated with the best checkpoint after training (the final model without a run directory);
   *  the report goes to runDir/eval.json (+ plots/confusion_test.svg). */
  test?: DataLoader;
  /** Output names for reports (default: the training loader's label names, else '0', '1', ...). */
  names?: readonly string[];
  /** Use this optimizer (owned by the caller) instead of the reference's two-group Adam. */
  optimizer?: Optimizer;
  config?: Record<string, unknown>;
}

/** What finetune returns: the epoch records, and the test report when a test set was given. */
export interface FinetuneResult extends Array<EpochRecord> {
  test?: EvalReport;
}

export async function finetune(model: SocialMAEFT, train: DataLoader, o: FinetuneLoopOptions): Promise<FinetuneResult> {
  const device = model.parameters()[0]?.device ?? 'cpu';
  const K = model.config.labelDim;
  const task: Task = o.task ?? train.labels?.task ?? 'classification';
  const lossKind = resolveLoss(task, o.loss);
  const metric = o.metric ?? (task === 'multilabel' ? 'mAP' : task === 'regression' ? 'loss' : 'acc');
  const allowed = BEST_METRICS[task].filter((m) => m !== 'rocAuc' || K === 2);
  if (!allowed.includes(metric))
    throw new TrainError(`finetune: metric for a ${task} task must be one of ${allowed.join(', ')}, got ${metric}`, 'ERR_INVALID_ARG');
  const names = o.names ?? (train.labels && train.labels.size === K ? train.labels.names : Array.from({ length: K }, (_, i) => String(i)));
  if (names.length !== K) throw new TrainError(`finetune: ${names.length} output names for a model with ${K} outputs`, 'ERR_INVALID_ARG');
  const mode = o.mode ?? 'multimodal';
  const ls = o.labelSmooth ?? 0;
  if (task === 'regression' && ls > 0) throw new TrainError('finetune: labelSmooth applies to class labels, not to a regression task', 'ERR_INVALID_ARG');
  const lossOf = lossFunction(lossKind, K, ls);
  const hyper = { lr: o.lr ?? 1e-5, headLr: o.headLr ?? 100, weightDecay: o.weightDecay ?? 5e-7, betas: o.betas ?? ([0.95, 0.999] as [number, number]) };
  const named = model.namedParameters();
  const head = named.filter(([k]) => k.startsWith('mlp_head.')).map(([, p]) => p);
  const base = named.filter(([k]) => !k.startsWith('mlp_head.')).map(([, p]) => p);
  if (o.freezeBase) for (const p of base) p.requiresGrad = false;
  const headGroup = { params: head, lr: hyper.lr * hyper.headLr };
  const opt =
    o.optimizer ??
    new Adam(o.freezeBase ? [headGroup] : [{ params: base, lr: hyper.lr }, headGroup], { lr: hyper.lr, betas: hyper.betas, weightDecay: hyper.weightDecay });
  const evalOptions = { task, names, loss: lossKind, mode, amp: o.amp ?? 'off' } as const;
  let lastVal: EvalReport | null = null;
  try {
    const history: FinetuneResult = await fit(
      {
        model,
        opt,
        train,
        device,
        ...(o.val ? { val: o.val } : {}),
        step: (batch) => {
          let [a, v] = modelInputs(batch, device, mode);
          if (a && ((o.freqm ?? 0) > 0 || (o.timem ?? 0) > 0)) a = specAugment(a, { freqm: o.freqm ?? 0, timem: o.timem ?? 0 });
          if (a && o.noise) a = fbankNoise(a);
          return { loss: lossOf(model.forward(a, v, mode), targetMatrix(batch, K, device)) };
        },
        evaluate: async (loader) => {
          lastVal = await evaluate(model, loader, { ...evalOptions, what: 'finetune: validation' });
          return lastVal.metrics;
        },
        best: { key: metric, higherIsBetter: metric !== 'loss' },
        afterEpoch: async (_record, dir) => {
          const c = (lastVal as EvalReport | null)?.classification;
          if (dir && c) await writeConfusion(dir, c.confusion, names, `validation confusion matrix, epoch ${_record.epoch}`);
        },
        config: {
          task: 'finetune',
          ...(o.optimizer ? { optimizer: o.optimizer.constructor.name } : hyper),
          mode,
          labelTask: task,
          loss: lossKind,
          labelSmooth: ls,
          freqm: o.freqm ?? 0,
          timem: o.timem ?? 0,
          noise: !!o.noise,
          freezeBase: !!o.freezeBase,
          metric,
          amp: o.amp ?? 'off',
          schedule: o.schedule ?? {},
          ...(o.config ?? {}),
        },
      },
      o,
    );
    if (o.test) history.test = await testBest(model, o.test, o.runDir, { ...evalOptions, what: 'finetune: test' }, o.onLog);
    return history;
  } finally {
    if (!o.optimizer) opt.dispose();
  }
}

/** The test-set evaluation after training: the best checkpoint of the run directory (else the model as
 *  trained), into runDir/eval.json, plots/confusion_test.svg and a metrics.jsonl record. */
async function testBest(
  model: SocialMAEFT,
  test: DataLoader,
  runDir: string | undefined,
  o: Parameters<typeof evaluate>[2],
  log: ((line: string) => void) | undefined,
): Promise<EvalReport> {
  const best = runDir ? path.join(runDir, 'models', 'best_audio_model.pth') : null;
  if (best && fs.existsSync(best)) {
    const sd = (await io.load(best)) as Map<string, Tensor>;
    try {
      loadCheckpoint(model, sd);
    } finally {
      for (const t of sd.values()) t.dispose();
    }
  }
  const report = await evaluate(model, test, o);
  log?.(`test (${best && fs.existsSync(best) ? 'best checkpoint' : 'final model'}, ${report.items} items): ${summarize(report)}`);
  if (runDir) {
    await writeEvalReport(path.join(runDir, 'eval.json'), report, { checkpoint: best });
    if (report.classification) await writeConfusion(runDir, report.classification.confusion, report.names, 'test confusion matrix', 'confusion_test.svg');
    await new MetricsLog(runDir).append({ type: 'test', metrics: report.metrics });
  }
  return report;
}

/** One line of the headline numbers of a report. */
export function summarize(r: EvalReport): string {
  const keys =
    r.task === 'regression' ? ['loss', 'meanScore', ...r.names.map((n) => `score_${n}`)] : ['loss', 'acc', 'balancedAcc', 'macroF1', 'mAP', 'rocAuc'];
  return keys
    .filter((k) => r.metrics[k] !== undefined)
    .map((k) => `${k} ${Number.isNaN(r.metrics[k]) ? 'n/a' : r.metrics[k]!.toFixed(4)}`)
    .join(', ');
}
