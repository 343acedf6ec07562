/**
 * `social-mae predict --run DIR [--epoch N] [--json] INPUT...`: class probabilities from a finetuning run
 * (its config.json gives model, label names, mode and loss; the best checkpoint unless --epoch). INPUT is
 * media files, or one labelled dataset (then accuracy and mAP are printed too).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as io from '../../io';
import * as data from '../../data';
import { torch, type Tensor } from '../../tensor';
import { SocialMAEFT, loadCheckpoint, type FTMode, type FTOptions } from '../../models';
import { RunDir, predictScores, classificationStats } from '../../train';
import { ParsedArgs, UsageError, checkFlags, intFlag, requiredFlag } from '../args';
import { deviceFlag, log, makeLoader, openData } from '../training';

const FLAGS = ['run', 'epoch', 'json', 'batch-size', 'workers', 'cache', 'device', 'partition'] as const;

interface FinetuneConfig {
  task: string;
  model: FTOptions;
  labels: data.LabelMapJSON;
  mode: FTMode;
  loss: 'CE' | 'BCE';
}

/** Probabilities of one row of logits: softmax (CE) or sigmoid (BCE). */
function probabilities(logits: Float32Array, loss: 'CE' | 'BCE'): number[] {
  if (loss === 'BCE') return Array.from(logits, (x) => 1 / (1 + Math.exp(-x)));
  const m = Math.max(...logits);
  const e = Array.from(logits, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Flags that take no value. */
export const BOOLEAN_FLAGS = ['json'];

export async function run(args: ParsedArgs): Promise<void> {
  checkFlags(args, FLAGS, { positionals: true });
  const runDir = new RunDir(requiredFlag(args, 'run'));
  const cfg = await runDir.readConfig<FinetuneConfig>();
  if (cfg.task !== 'finetune') throw new UsageError(`${runDir.dir} is a ${cfg.task} run; predict needs a finetune run`);
  const labels = data.LabelMap.fromJSON(cfg.labels, path.join(runDir.dir, 'config.json'));
  const epoch = args.flags.has('epoch') ? intFlag(args, 'epoch', 0) : null;
  const file = epoch === null ? path.join(runDir.models, 'best_audio_model.pth') : runDir.file('audio_model', epoch);
  if (!fs.existsSync(file)) throw new UsageError(`${file} does not exist`);
  const inputs = args.positionals;
  if (inputs.length === 0) throw new UsageError('predict needs media files or one labelled dataset');
  const device = deviceFlag(args);
  const single =
    inputs.length === 1 &&
    !data.VIDEO_EXTENSIONS.includes(path.extname(inputs[0]!).toLowerCase()) &&
    !data.AUDIO_EXTENSIONS.includes(path.extname(inputs[0]!).toLowerCase());
  const source = single ? await openData(args, inputs[0]!, labels) : await data.sourceFromFiles(inputs);
  const loader = makeLoader(args, source, { train: false, device });
  const model = new SocialMAEFT(cfg.model).to(device);
  try {
    const sd = (await io.load(file)) as Map<string, Tensor>;
    try {
      loadCheckpoint(model, sd);
    } finally {
      torch.dispose(sd);
    }
    const r = await predictScores(model, loader, { mode: cfg.mode });
    const K = labels.size;
    const rows = r.ids.map((id, i) => {
      const p = probabilities(r.scores.subarray(i * K, (i + 1) * K), cfg.loss);
      const top = p.indexOf(Math.max(...p));
      return { id, label: labels.names[top]!, probability: p[top]!, probabilities: Object.fromEntries(labels.names.map((n, k) => [n, p[k]!])) };
    });
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else for (const row of rows) log(`${row.id}\t${row.label}\t${row.probability.toFixed(4)}`);
    if (r.targets.length === r.scores.length && r.targets.length > 0) {
      const s = classificationStats(r.scores, r.targets, K);
      (args.flags.has('json') ? (m: string) => process.stderr.write(`${m}\n`) : log)(
        `accuracy ${s.acc.toFixed(4)}, mAP ${s.mAP.toFixed(4)}, mAUC ${Number.isNaN(s.mAUC) ? 'n/a' : s.mAUC.toFixed(4)} over ${r.ids.length} items`,
      );
    }
  } finally {
    model.dispose();
    await loader.close();
  }
}
