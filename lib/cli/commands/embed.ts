/**
 * `social-mae embed (--run DIR | --checkpoint FILE) --data DATA --out DIR`: pooled audio, video and joint
 * embeddings of every clip (the mean over tokens of the encoder outputs, CAV-MAE's pooling), written as
 * DIR/embeddings.safetensors ('audio', 'video', 'joint': float32 [N, D]) and DIR/index.jsonl (row i's id
 * and label); lib/train/embed.ts. Any Social-MAE checkpoint works: pretraining or finetuning.
 */
import * as fs from 'fs';
import * as path from 'path';
import { torch } from '../../tensor';
import { SocialMAE, SocialMAEFT, loadCheckpoint, type SocialMAEEncoder } from '../../models';
import { RunDir, embedDataset, writeEmbeddings, type EmbeddingKind } from '../../train';
import { UsageError, defineCommand, type Flags } from '../args';
import { describeModel, readCheckpoint } from '../checkpoint-file';
import { withWeights } from '../finetuned';
import { openSplit } from '../splits';
import { LOADER_FLAGS, log, makeLoader, resolveDevice } from '../training';

const KINDS: readonly EmbeddingKind[] = ['audio', 'video', 'joint'];

export const command = defineCommand({
  name: 'embed',
  summary: 'pooled audio / video / joint embeddings of clips (safetensors + index.jsonl)',
  usage: '(--run DIR | --checkpoint FILE) --data DATA --out DIR [options]',
  example: 'social-mae embed --run runs/pre --data clips.csv --out emb/',
  flags: {
    run: { type: 'string', value: 'DIR', help: 'a pretrain or finetune run directory (its best checkpoint unless --epoch)' },
    epoch: { type: 'int', min: 1, defaultHelp: 'the best epoch', help: "with --run: this epoch's checkpoint" },
    checkpoint: { type: 'string', value: 'FILE', help: 'a Social-MAE checkpoint (pretraining or finetuning) used without a run directory' },
    data: { type: 'string', required: true, value: 'DATA', help: 'clips: a CSV/JSONL manifest or a folder layout' },
    partition: { type: 'string', value: 'NAME', default: 'test', help: 'partition of a folder-layout --data' },
    out: { type: 'string', required: true, value: 'DIR', help: 'output folder: embeddings.safetensors and index.jsonl' },
    kinds: { type: 'string', value: 'K,...', default: 'audio,video,joint', help: 'which embeddings: audio, video, joint' },
    ...LOADER_FLAGS,
  },
});

/** The encoder of a run (config.json: model options; pretrain or finetune) or of a checkpoint file. */
async function loadEncoder(f: Flags<typeof command.spec.flags>): Promise<{ model: SocialMAEEncoder; what: string }> {
  if ((f.run === undefined) === (f.checkpoint === undefined)) throw new UsageError('give either --run DIR or --checkpoint FILE');
  if (f.checkpoint !== undefined) {
    if (f.epoch !== undefined) throw new UsageError('--epoch goes with --run');
    const ck = await readCheckpoint(f.checkpoint);
    try {
      const m = ck.inferred;
      if (m.family !== 'Social-MAE' || m.kind === 'encoder')
        throw new UsageError(`${f.checkpoint} holds a ${describeModel(m)}; embed needs a Social-MAE pretraining or finetuning checkpoint`);
      const model = m.kind === 'finetune' ? new SocialMAEFT({ ...m.options, labelDim: m.options.labelDim! }) : new SocialMAE(m.options);
      try {
        loadCheckpoint(model, ck.stateDict);
      } catch (e) {
        model.dispose();
        throw e;
      }
      return { model, what: `${f.checkpoint} (${describeModel(m)})` };
    } finally {
      torch.dispose(ck.stateDict);
    }
  }
  const run = new RunDir(f.run!);
  if (!fs.existsSync(path.join(run.dir, 'config.json'))) throw new UsageError(`${run.dir}/config.json does not exist: --run needs a run directory`);
  const cfg = await run.readConfig<{ task: string; model: Record<string, unknown> }>();
  const file = f.epoch === undefined ? path.join(run.models, 'best_audio_model.pth') : run.file('audio_model', f.epoch);
  if (!fs.existsSync(file)) throw new UsageError(`${file} does not exist`);
  const model = await withWeights(cfg.task === 'finetune' ? new SocialMAEFT(cfg.model as never) : new SocialMAE(cfg.model), file);
  return { model, what: `${file} (${cfg.task} run)` };
}

export async function run(f: Flags<typeof command.spec.flags>): Promise<void> {
  const device = resolveDevice(f.device);
  const kinds = f.kinds.split(',').map((s) => s.trim()) as EmbeddingKind[];
  for (const k of kinds) if (!KINDS.includes(k)) throw new UsageError(`--kinds expects a comma-separated subset of ${KINDS.join(', ')}, got '${k}'`);
  const { model, what } = await loadEncoder(f);
  let loader;
  try {
    model.to(device);
    const source = await openSplit(f.data, f.partition, { skipMissing: f.onBadItem === 'skip' });
    for (const w of source.warnings) log(w);
    loader = makeLoader(f, source, { train: false, device, name: 'embed' });
    const set = await embedDataset(model, loader, { kinds });
    const files = await writeEmbeddings(f.out, set, { checkpoint: what });
    const done = KINDS.filter((k) => set[k]);
    log(`embed: ${what}; ${set.ids.length} clips x ${set.dim} (${done.join(', ')}) -> ${files.join(', ')}`);
  } finally {
    model.dispose();
    await loader?.close();
  }
}
