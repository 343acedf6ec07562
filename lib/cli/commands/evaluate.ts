/**
 * `social-mae evaluate (--run DIR [--epoch N] | --checkpoint FILE) --data DATA [--out FILE]`: evaluates a
 * finetuned model on a labelled dataset with the reference's metrics (lib/train/evaluate.ts): loss,
 * balanced accuracy, confusion matrix, per-class precision / recall / F1, macro-F1 and, for two classes,
 * ROC AUC; 1 - MAE per target, their mean and Pearson r for regression. Writes the report (with every
 * item's prediction) to FILE (default DIR/eval.json, or ./eval.json with --checkpoint) and, for classes,
 * the confusion matrix as FILE's name + _confusion.svg.
 */
import * as path from 'path';
import * as fs from 'fs';
import { FT_MODE_INPUTS } from '../../models';
import { evaluate, summarize, writeEvalReport, confusionSvg } from '../../train';
import { writeFileAtomic } from '../../io/atomic';
import { defineCommand, type Flags } from '../args';
import { FINETUNED_FLAGS, resolveFinetuned } from '../finetuned';
import { openSplit } from '../splits';
import { LOADER_FLAGS, log, makeLoader, resolveDevice } from '../training';

export const command = defineCommand({
  name: 'evaluate',
  summary: "the reference's metrics of a finetuned model on a labelled dataset; eval.json and the confusion matrix",
  usage: '(--run DIR | --checkpoint FILE) --data DATA [options]',
  example: [
    'social-mae evaluate --run runs/ft --data test.csv',
    'social-mae evaluate --checkpoint ft.pth --labels no,yes --data laughter_test.csv --out eval.json',
  ],
  flags: {
    ...FINETUNED_FLAGS,
    data: { type: 'string', required: true, value: 'DATA', help: 'labelled data: a CSV/JSONL manifest or a folder layout' },
    partition: { type: 'string', value: 'NAME', default: 'test', help: 'partition of a folder-layout --data' },
    out: { type: 'string', value: 'FILE', defaultHelp: 'DIR/eval.json with --run, else ./eval.json', help: 'where the report goes' },
    json: { type: 'boolean', help: 'also print the report (without the per-item predictions) as JSON' },
    ...LOADER_FLAGS,
  },
});

export async function run(f: Flags<typeof command.spec.flags>): Promise<void> {
  const device = resolveDevice(f.device);
  const out = f.out ?? (f.run !== undefined ? path.join(f.run, 'eval.json') : 'eval.json');
  const { model, labels, mode, loss, what, file } = await resolveFinetuned(f, device, 'evaluate');
  let loader;
  try {
    const source = await openSplit(f.data, f.partition, { labels, skipMissing: f.onBadItem === 'skip' });
    for (const w of source.warnings) log(w);
    loader = makeLoader(f, source, { train: false, device, name: 'evaluate', inputs: FT_MODE_INPUTS[mode] });
    const report = await evaluate(model, loader, { task: labels.task, names: labels.names, loss, mode, what: `evaluate ${f.data}` });
    await fs.promises.mkdir(path.dirname(path.resolve(out)), { recursive: true });
    await writeEvalReport(out, report, { checkpoint: file, data: path.resolve(f.data) });
    log(`evaluate: ${what}, ${report.items} items of ${f.data}`);
    log(summarize(report));
    const c = report.classification;
    if (c) {
      const w = Math.max(5, ...labels.names.map((n) => n.length));
      log(`${'class'.padEnd(w)}  precision  recall  f1      support`);
      labels.names.forEach((n, k) =>
        log(`${n.padEnd(w)}  ${c.precision[k]!.toFixed(4)}     ${c.recall[k]!.toFixed(4)}  ${c.f1[k]!.toFixed(4)}  ${c.support[k]}`),
      );
      for (const warning of c.warnings) log(`note: ${warning} (those classes have no recall; balanced accuracy leaves them out, as scikit-learn)`);
      const svg = path.join(path.dirname(out), `${path.basename(out, '.json')}_confusion.svg`);
      await writeFileAtomic(svg, [Buffer.from(confusionSvg(c.confusion, labels.names, `confusion matrix: ${path.basename(f.data)}`))]);
      log(`confusion matrix (rows: true, columns: predicted): ${svg}`);
    }
    if (report.regression) {
      const r = report.regression;
      r.names.forEach((n, j) => log(`${n}: 1 - MAE ${r.score[j]!.toFixed(4)}, Pearson r ${Number.isNaN(r.pearson[j]) ? 'n/a' : r.pearson[j]!.toFixed(4)}`));
    }
    log(`report: ${out}`);
    if (f.json) {
      const { predictions: _p, ...rest } = report;
      process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
    }
  } finally {
    model.dispose();
    await loader?.close();
  }
}
