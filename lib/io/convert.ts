/**
 * Checkpoint conversion `.pth` <-> `.safetensors`, with an optional `module.` prefix strip/add
 * (DataParallel / DistributedDataParallel checkpoints prefix every key with `module.`).
 *
 * Works on the raw layer: no tensor is materialised on a device and values are copied bit for bit.
 * The output format follows the destination's extension (`.safetensors` or anything else =
 * zip `torch.save`), or `opts.format`.
 */

import * as path from 'path';
import { invalid } from './errors';
import { readCheckpointRawFile, writeCheckpointRaw, writeSafetensorsRaw, type CheckpointFormat } from './checkpoint_raw';
import { PyOrderedDict, RawTensor, type RawValue } from './raw';

export interface ConvertOptions {
  /** remove this prefix from keys that have it (`true` = `'module.'`) */
  stripPrefix?: string | boolean;
  /** add this prefix to every key (`true` = `'module.'`), after any strip */
  addPrefix?: string | boolean;
  /**
   * For nested checkpoints: the key of the state dict inside the root dict (e.g. `'model'`). By
   * default the root is used if it holds tensors only, else the first of `state_dict`, `model`,
   * `model_state_dict`, `module` that does.
   */
  key?: string;
  /** output format; default from the destination's extension */
  format?: 'safetensors' | 'pth';
  /** safetensors `__metadata__` (default `{ format: 'pt' }`, as Hugging Face writes) */
  metadata?: Record<string, string>;
}

export interface ConvertResult {
  from: CheckpointFormat;
  to: 'safetensors' | 'pth';
  /** tensors written */
  tensors: number;
  /** the key names written, in order */
  keys: string[];
}

/** Entries of a checkpoint dict that hold its state dict, in the order they are looked for (a training script's `{ model: sd, optimizer: ... }`). */
export const NESTED_KEYS = ['state_dict', 'model', 'model_state_dict', 'module'] as const;

function isStateDict(x: unknown): x is Map<string, RawValue> {
  if (!(x instanceof Map) || x.size === 0) return false;
  for (const [k, v] of x) if (typeof k !== 'string' || !(v instanceof RawTensor)) return false;
  return true;
}

/** Picks the flat `name -> tensor` map out of a checkpoint tree. */
export function extractStateDict(root: RawValue, key?: string): Map<string, RawTensor> {
  if (!(root instanceof Map)) invalid('convert: the checkpoint is not a dict');
  let sd: unknown = root;
  if (key !== undefined) {
    if (!root.has(key)) invalid(`convert: the checkpoint has no key '${key}' (keys: ${[...root.keys()].slice(0, 20).join(', ')})`);
    sd = root.get(key);
  } else if (!isStateDict(root)) {
    const k = NESTED_KEYS.find((n) => isStateDict(root.get(n)));
    if (k === undefined) {
      invalid(
        `convert: the root is not a state dict (a dict of tensors); pick one with { key } ` + `(keys: ${[...root.keys()].slice(0, 20).map(String).join(', ')})`,
      );
    }
    sd = root.get(k);
  }
  if (!isStateDict(sd)) invalid(`convert: '${key}' is not a dict of tensors`);
  return sd as Map<string, RawTensor>;
}

/** Applies prefix strip/add to the keys of `sd` (fails on collisions). */
export function renameKeys(sd: Map<string, RawTensor>, opts: Pick<ConvertOptions, 'stripPrefix' | 'addPrefix'>): Map<string, RawTensor> {
  const strip = opts.stripPrefix === true ? 'module.' : opts.stripPrefix || '';
  const add = opts.addPrefix === true ? 'module.' : opts.addPrefix || '';
  const out = new PyOrderedDict<string, RawTensor>();
  for (const [k, v] of sd) {
    const name = add + (strip && k.startsWith(strip) ? k.slice(strip.length) : k);
    if (out.has(name)) invalid(`convert: two keys become '${name}' after renaming`);
    out.set(name, v);
  }
  return out;
}

/** Converts `src` into `dst` (see the module comment). The write is atomic. */
export async function convertCheckpoint(src: string, dst: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const to = opts.format ?? (path.extname(dst).toLowerCase() === '.safetensors' ? 'safetensors' : 'pth');
  const { format, value } = await readCheckpointRawFile(src);
  const sd = renameKeys(extractStateDict(value, opts.key), opts);
  if (to === 'safetensors') {
    await writeSafetensorsRaw(dst, sd, opts.metadata ?? { format: 'pt' });
  } else {
    // Keep the source's OrderedDict attributes (`_metadata`) when keys were not renamed.
    const src0 = opts.key === undefined && value instanceof PyOrderedDict ? value : undefined;
    if (src0?.attributes && !opts.stripPrefix && !opts.addPrefix) (sd as PyOrderedDict<string, RawTensor>).attributes = src0.attributes;
    await writeCheckpointRaw(dst, sd);
  }
  return { from: format, to, tensors: sd.size, keys: [...sd.keys()] };
}
