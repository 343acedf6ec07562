/**
 * `social-mae predict (--run DIR [--epoch N] | --checkpoint FILE) [--json] INPUT...`: class probabilities.
 * From a finetune run, its config.json gives model, label names, mode and loss (the best checkpoint unless
 * --epoch); from a checkpoint file alone (e.g. the released Social-MAE-FT), the model options come from its
 * shapes (lib/models/social_mae/infer.ts) and --labels / --mode / --loss say the rest. INPUT is media
 * files, or one labelled dataset (then its metrics are printed too: evaluate.ts). The features are the loader's
 * evaluation features, the ones data.clipFeatures computes (README).
 */
import * as path from 'path';
import * as data from '../../data';
import { FT_MODE_INPUTS } from '../../models';
import { predictScores, reportFromScores, summarize } from '../../train';
import { defineCommand, type Flags } from '../args';
import { FINETUNED_FLAGS, resolveFinetuned } from '../finetuned';
import { LOADER_FLAGS, log, makeLoader, resolveDevice } from '../training';
import { openSplit } from '../splits';

export const command = defineCommand({
  name: 'predict',
  summary: 'class probabilities (or regression targets) for media files or a labelled dataset, from a finetune run or a checkpoint file',
  usage: '(--run DIR | --checkpoint FILE) [options] INPUT...',
  example: [
    'social-mae predict --run runs/ft clip1.mp4 clip2.mp4',
    'social-mae predict --checkpoint social-mae-ft.pth --labels anger,disgust,fear,happy,neutral,sad --json clip.mp4',
  ],
  flags: {
    ...FINETUNED_FLAGS,
    partition: { type: 'string', value: 'NAME', default: 'test', help: 'partition of a folder-layout INPUT' },
    json: { type: 'boolean', help: 'print a JSON array of {id, label, probability, probabilities} (regression: {id, targets})' },
    ...LOADER_FLAGS,
  },
  positionals: { name: 'INPUT...', min: 1, help: 'media files, or one labelled dataset (then its metrics are printed too)' },
});

type PredictFlags = Flags<typeof command.spec.flags>;

/** Probabilities of one row of logits: softmax (CE) or sigmoid (BCE). */
function probabilities(logits: Float32Array, loss: string): number[] {
  if (loss === 'BCE') return Array.from(logits, (x) => 1 / (1 + Math.exp(-x)));
  const m = Math.max(...logits);
  const e = Array.from(logits, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export async function run(f: PredictFlags, inputs: string[]): Promise<void> {
  const device = resolveDevice(f.device);
  const { model, labels, mode, loss, what } = await resolveFinetuned(f, device, 'predict');
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
    loader = makeLoader(f, source, { train: false, device, name: 'predict', log: note, inputs: FT_MODE_INPUTS[mode] });
    const r = await predictScores(model, loader, { mode });
    const K = labels.size;
    if (labels.task === 'regression') {
      // the outputs are the named targets themselves
      const rows = r.ids.map((id, i) => ({ id, targets: Object.fromEntries(labels.names.map((n, k) => [n, r.scores[i * K + k]!])) }));
      if (f.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else
        for (const row of rows)
          log(
            `${row.id}\t${Object.entries(row.targets)
              .map(([n, v]) => `${n} ${v.toFixed(4)}`)
              .join('\t')}`,
          );
    } else {
      const rows = r.ids.map((id, i) => {
        const p = probabilities(r.scores.subarray(i * K, (i + 1) * K), loss);
        const top = p.indexOf(Math.max(...p));
        return { id, label: labels.names[top]!, probability: p[top]!, probabilities: Object.fromEntries(labels.names.map((n, k) => [n, p[k]!])) };
      });
      if (f.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else for (const row of rows) log(`${row.id}\t${row.label}\t${row.probability.toFixed(4)}`);
    }
    if (r.targets.length === r.scores.length && r.targets.length > 0) {
      const report = reportFromScores(r.ids, r.scores, r.targets, { task: labels.task, names: labels.names, loss, what: 'predict' });
      const m = report.metrics;
      const n = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(4));
      (f.json ? note : log)(
        labels.task === 'classification'
          ? `balanced accuracy ${n(m.balancedAcc)}, macro-F1 ${n(m.macroF1)}, accuracy ${n(m.acc)}, mAP ${n(m.mAP)}, mAUC ${n(m.mAUC)} over ${r.ids.length} items`
          : `${summarize(report)} over ${r.ids.length} items`,
      );
    }
    const skipped = source.skipped.length + loader.stats.skipped.length;
    if (skipped > 0) note(`predict: ${skipped} of ${source.items.length + source.skipped.length} inputs skipped (--on-bad-item skip)`);
  } finally {
    model.dispose();
    await loader?.close();
  }
}
