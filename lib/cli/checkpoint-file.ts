/**
 * Checkpoint files on the command line: a state dict read from a .pth / .safetensors file with the model
 * options its shapes give (models.inferConfig), so `predict --checkpoint FILE`, `finetune --init FILE` and
 * `pretrain --init FILE` need no run directory and no --size.
 */
import * as io from '../io';
import { Tensor, torch } from '../tensor';
import { SocialMAEFT, inferConfig, type InferredModel } from '../models';
import { UsageError } from './args';

/** A checkpoint's state dict (caller disposes) and what its shapes say. */
export interface CheckpointFile {
  file: string;
  stateDict: Map<string, Tensor>;
  inferred: InferredModel;
}

/** One line naming the model a checkpoint holds, e.g. "Social-MAE finetuning model (labelDim 6, embedDim 768, ...)". */
export function describeModel(m: InferredModel): string {
  const kind = { finetune: 'finetuning model', pretrain: 'pretraining model', encoder: 'encoder' }[m.kind];
  const o = m.options;
  const sizes = [
    ...(o.labelDim !== undefined ? [`labelDim ${o.labelDim}`] : []),
    `embedDim ${o.embedDim}`,
    `depth ${o.modalitySpecificDepth}+${o.unifiedDepth}`,
    `numHeads ${o.numHeads}`,
    `mlpRatio ${o.mlpRatio ?? 4}`,
    `patchSize ${o.patchSize}`,
    `imgSize ${String(o.imgSize)}`,
    `nFrame ${o.nFrame}`,
    `stride ${o.stride}`,
    `audioLength ${o.audioLength}`,
    ...(o.decoderEmbedDim !== undefined ? [`decoder ${o.decoderEmbedDim} x ${o.decoderDepth} (${o.decoderNumHeads} heads)`] : []),
  ];
  return `${m.family} ${kind} (${sizes.join(', ')})`;
}

const isStateDict = (x: unknown): x is Map<string, Tensor> => x instanceof Map && x.size > 0 && [...x.values()].every((v) => v instanceof Tensor);

/**
 * Reads a checkpoint's state dict: the file's root, or the entry of a training script's dict that holds it
 * (io.NESTED_KEYS: `{ model: sd, optimizer: ... }`); ERR_USAGE when there is none.
 */
export async function readCheckpoint(file: string): Promise<CheckpointFile> {
  const tree: unknown = await io.load<unknown>(file);
  const nested = tree instanceof Map ? io.NESTED_KEYS.map((k) => tree.get(k)).find(isStateDict) : undefined;
  const found = isStateDict(tree) ? tree : nested;
  if (!found) {
    torch.dispose(tree);
    throw new UsageError(`${file}: holds no state dict (a dict of tensors, or one under ${io.NESTED_KEYS.join(' / ')}); see social-mae inspect ${file}`);
  }
  if (found !== tree) for (const v of (tree as Map<unknown, unknown>).values()) if (v !== found) torch.dispose(v);
  const stateDict = found;
  try {
    return { file, stateDict, inferred: inferConfig(stateDict) };
  } catch (e) {
    torch.dispose(stateDict);
    throw e;
  }
}

/** A finetuning model built and loaded (strictly) from a Social-MAE-FT checkpoint file alone. */
export async function finetuneModelFrom(file: string, device: string): Promise<{ model: SocialMAEFT; inferred: InferredModel }> {
  const ck = await readCheckpoint(file);
  try {
    const { inferred } = ck;
    if (inferred.kind !== 'finetune' || inferred.family !== 'Social-MAE')
      throw new UsageError(`${file} holds a ${describeModel(inferred)}; predicting needs a Social-MAE finetuning checkpoint (with mlp_head)`);
    return { model: SocialMAEFT.fromStateDict(ck.stateDict).to(device), inferred };
  } finally {
    torch.dispose(ck.stateDict);
  }
}
