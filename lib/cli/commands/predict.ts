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
import { UsageError, defineCommand, type Flags } from '../args';
import { LOADER_FLAGS, log, makeLoader, openData, resolveDevice } from '../training';

export const command = defineCommand({
  name: 'predict',
  summary: 'class probabilities for media files (or a labelled dataset) from a finetune run',
  example: ['social-mae predict --run runs/ft clip1.mp4 clip2.mp4', 'social-mae predict --run runs/ft --json test.csv'],
  flags: {
    run: { type: 'string', required: true, value: 'DIR', help: 'finetune run directory (config.json and models/)' },
    epoch: { type: 'int', min: 1, defaultHelp: 'the best epoch', help: "use this epoch's checkpoint" },
    json: { type: 'boolean', help: 'print a JSON array of {id, label, probability, probabilities}' },
    ...LOADER_FLAGS,
  },
  positionals: { name: 'INPUT...', min: 1, help: 'media files, or one labelled dataset (then accuracy and mAP are printed too)' },
});

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

export async function run(f: Flags<typeof command.spec.flags>, inputs: string[]): Promise<void> {
  const runDir = new RunDir(f.run);
  const cfg = await runDir.readConfig<FinetuneConfig>();
  if (cfg.task !== 'finetune') throw new UsageError(`${runDir.dir} is a ${cfg.task} run; predict needs a finetune run`);
  const labels = data.LabelMap.fromJSON(cfg.labels, path.join(runDir.dir, 'config.json'));
  const epoch = f.epoch;
  const file = epoch === undefined ? path.join(runDir.models, 'best_audio_model.pth') : runDir.file('audio_model', epoch);
  if (!fs.existsSync(file)) throw new UsageError(`${file} does not exist`);
  const device = resolveDevice(f.device);
  const single =
    inputs.length === 1 &&
    !data.VIDEO_EXTENSIONS.includes(path.extname(inputs[0]!).toLowerCase()) &&
    !data.AUDIO_EXTENSIONS.includes(path.extname(inputs[0]!).toLowerCase());
  const source = single ? await openData(f, inputs[0]!, labels) : await data.sourceFromFiles(inputs);
  const loader = makeLoader(f, source, { train: false, device });
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
    if (f.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else for (const row of rows) log(`${row.id}\t${row.label}\t${row.probability.toFixed(4)}`);
    if (r.targets.length === r.scores.length && r.targets.length > 0) {
      const s = classificationStats(r.scores, r.targets, K);
      (f.json ? (m: string) => process.stderr.write(`${m}\n`) : log)(
        `accuracy ${s.acc.toFixed(4)}, mAP ${s.mAP.toFixed(4)}, mAUC ${Number.isNaN(s.mAUC) ? 'n/a' : s.mAUC.toFixed(4)} over ${r.ids.length} items`,
      );
    }
  } finally {
    model.dispose();
    await loader.close();
  }
}
