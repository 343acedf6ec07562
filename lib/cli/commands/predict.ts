/**
 * `social-mae predict (--run DIR [--epoch N] | --checkpoint FILE) [--json] INPUT...`: class probabilities.
 * From a finetune run, its config.json gives model, label names, mode and loss (the best checkpoint unless
 * --epoch); from a checkpoint file alone (e.g. the released Social-MAE-FT), the model options come from its
 * shapes (lib/models/social_mae/infer.ts) and --labels / --mode / --loss say the rest. INPUT is media
 * files, or one labelled dataset (then accuracy and mAP are printed too). The features are the loader's
 * evaluation features, the ones data.clipFeatures computes (README).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as io from '../../io';
import * as data from '../../data';
import { torch, type Tensor } from '../../tensor';
import { FT_MODES, SocialMAEFT, loadCheckpoint, type FTMode, type FTOptions } from '../../models';
import { RunDir, predictScores, classificationStats } from '../../train';
import { UsageError, defineCommand, type Flags } from '../args';
import { describeModel, finetuneModelFrom } from '../checkpoint-file';
import { LOADER_FLAGS, log, makeLoader, resolveDevice } from '../training';
import { openSplit } from '../splits';

export const command = defineCommand({
  name: 'predict',
  summary: 'class probabilities for media files (or a labelled dataset) from a finetune run or a checkpoint file',
  usage: '(--run DIR | --checkpoint FILE) [options] INPUT...',
  example: [
    'social-mae predict --run runs/ft clip1.mp4 clip2.mp4',
    'social-mae predict --checkpoint social-mae-ft.pth --labels anger,disgust,fear,happy,neutral,sad --json clip.mp4',
  ],
  flags: {
    run: { type: 'string', value: 'DIR', help: 'finetune run directory (config.json and models/)' },
    epoch: { type: 'int', min: 1, defaultHelp: 'the best epoch', help: "with --run: this epoch's checkpoint" },
    checkpoint: { type: 'string', value: 'FILE', help: 'a finetuning checkpoint (.pth / .safetensors) used without a run directory' },
    labels: { type: 'string', value: 'A,B,...', defaultHelp: '0,1,...', help: 'with --checkpoint: the class names in output order' },
    mode: { type: 'choice', choices: FT_MODES, defaultHelp: "the run's, else multimodal", help: 'which modalities the model sees' },
    loss: { type: 'choice', choices: ['CE', 'BCE'], defaultHelp: "the run's, else CE", help: 'CE: softmax probabilities, BCE: sigmoid (multi-label)' },
    partition: { type: 'string', value: 'NAME', default: 'test', help: 'partition of a folder-layout INPUT' },
    json: { type: 'boolean', help: 'print a JSON array of {id, label, probability, probabilities}' },
    ...LOADER_FLAGS,
  },
  positionals: { name: 'INPUT...', min: 1, help: 'media files, or one labelled dataset (then accuracy and mAP are printed too)' },
});

type PredictFlags = Flags<typeof command.spec.flags>;

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

/** The model, label names, mode and loss: from a run directory or from a checkpoint file. */
async function resolveModel(f: PredictFlags, device: string) {
  if ((f.run === undefined) === (f.checkpoint === undefined)) throw new UsageError('give either --run DIR or --checkpoint FILE');
  if (f.run === undefined) {
    if (f.epoch !== undefined) throw new UsageError('--epoch goes with --run');
    const { model, inferred } = await finetuneModelFrom(f.checkpoint!, device);
    const K = model.config.labelDim;
    const names = f.labels === undefined ? Array.from({ length: K }, (_, i) => String(i)) : f.labels.split(',').map((s) => s.trim());
    if (names.length !== K) {
      model.dispose();
      throw new UsageError(`--labels names ${names.length} classes, the checkpoint's head has ${K}`);
    }
    const what = `${f.checkpoint} (${describeModel(inferred)}; assumed: ${inferred.assumed.join(', ') || 'nothing'})`;
    return { model, labels: data.LabelMap.fromJSON(names), mode: f.mode ?? 'multimodal', loss: f.loss ?? 'CE', what };
  }
  if (f.labels !== undefined) throw new UsageError("--labels goes with --checkpoint (a run's config.json names its classes)");
  const runDir = new RunDir(f.run);
  const cfg = await runDir.readConfig<FinetuneConfig>();
  if (cfg.task !== 'finetune') throw new UsageError(`${runDir.dir} is a ${cfg.task} run; predict needs a finetune run`);
  const labels = data.LabelMap.fromJSON(cfg.labels, path.join(runDir.dir, 'config.json'));
  const file = f.epoch === undefined ? path.join(runDir.models, 'best_audio_model.pth') : runDir.file('audio_model', f.epoch);
  if (!fs.existsSync(file)) throw new UsageError(`${file} does not exist`);
  const model = new SocialMAEFT(cfg.model);
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
  return {
    model: model.to(device),
    labels,
    mode: f.mode ?? cfg.mode,
    loss: f.loss ?? cfg.loss,
    what: `${file} (${f.epoch === undefined ? 'best epoch' : `epoch ${f.epoch}`})`,
  };
}

export async function run(f: PredictFlags, inputs: string[]): Promise<void> {
  const device = resolveDevice(f.device);
  const { model, labels, mode, loss, what } = await resolveModel(f, device);
  // stderr, so --json output stays one JSON document
  const note = (m: string) => process.stderr.write(`${m}\n`);
  note(`predict: checkpoint ${what}, mode ${mode}, ${device}`);
  let loader;
  try {
    const ext = path.extname(inputs[0]!).toLowerCase();
    const dataset = inputs.length === 1 && !data.VIDEO_EXTENSIONS.includes(ext) && !data.AUDIO_EXTENSIONS.includes(ext);
    const skipMissing = f.onBadItem === 'skip';
    const source = dataset
      ? await openSplit(inputs[0]!, f.partition, { labels, skipMissing })
      : await data.sourceFromFiles(inputs, skipMissing ? { missing: 'skip' } : {});
    for (const w of source.warnings) note(w);
    for (const s of source.skipped) note(`skipped ${s.origin}: ${s.reason}`);
    loader = makeLoader(f, source, { train: false, device, name: 'predict', log: note });
    const r = await predictScores(model, loader, { mode });
    const K = labels.size;
    const rows = r.ids.map((id, i) => {
      const p = probabilities(r.scores.subarray(i * K, (i + 1) * K), loss);
      const top = p.indexOf(Math.max(...p));
      return { id, label: labels.names[top]!, probability: p[top]!, probabilities: Object.fromEntries(labels.names.map((n, k) => [n, p[k]!])) };
    });
    if (f.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else for (const row of rows) log(`${row.id}\t${row.label}\t${row.probability.toFixed(4)}`);
    if (r.targets.length === r.scores.length && r.targets.length > 0) {
      const s = classificationStats(r.scores, r.targets, K);
      (f.json ? note : log)(
        `accuracy ${s.acc.toFixed(4)}, mAP ${s.mAP.toFixed(4)}, mAUC ${Number.isNaN(s.mAUC) ? 'n/a' : s.mAUC.toFixed(4)} over ${r.ids.length} items`,
      );
    }
    const skipped = source.skipped.length + loader.stats.skipped.length;
    if (skipped > 0) note(`predict: ${skipped} of ${source.items.length + source.skipped.length} inputs skipped (--on-bad-item skip)`);
  } finally {
    model.dispose();
    await loader?.close();
  }
}
