/**
 * Format-independent entry points of the checkpoint layer, working on {@link RawValue} trees.
 *
 * - {@link readCheckpointRaw}: a path (read piece by piece) or bytes in memory; the format (zip
 *   `torch.save`, legacy `torch.save`, safetensors) is detected from the first bytes.
 * - {@link writeCheckpointRaw} / {@link serializeCheckpointRaw}: the zip `torch.save` format,
 *   written atomically.
 * - {@link writeSafetensorsRaw} / {@link serializeSafetensorsRaw}: safetensors.
 */

import * as path from 'path';
import { writeFileAtomic } from './atomic';
import { corrupt, unsupported } from './errors';
import { isTar, readLegacy } from './legacy';
import { PyOrderedDict, type RawTensor, type RawValue, type StorageReadHooks } from './raw';
import { readSafetensors, safetensorsChunks, MAX_SAFETENSORS_HEADER } from './safetensors';
import { BufferSource, FileSource, type ByteSource } from './source';
import { readTorchZip, torchZipChunks, type TorchZipWriteOptions } from './torch_zip';
import type { ZipReadOptions } from './zip';

export type CheckpointFormat = 'zip' | 'legacy' | 'safetensors';

const WHOLE_FILE_LIMIT = 32 * 1024 * 1024;

export interface ReadCheckpointOptions extends StorageReadHooks, ZipReadOptions {
  /**
   * Files up to this size (bytes) are read with one read and parsed in memory; larger ones are
   * read piece by piece, one storage at a time. Default 32 MiB.
   */
  wholeFileLimit?: number;
}

export interface RawCheckpoint {
  format: CheckpointFormat;
  /** the object tree; for safetensors a PyOrderedDict of tensors */
  value: RawValue;
  /** safetensors `__metadata__` (null otherwise or when absent) */
  metadata: Map<string, string> | null;
}

/** Identifies the format from the first bytes (at least 16, or the whole file) and the size. */
export function detectFormat(head: Uint8Array, size: number): CheckpointFormat {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))) return 'zip';
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'legacy';
  if (head.length >= 9 && head[8] === 0x7b /* { */) {
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n <= BigInt(MAX_SAFETENSORS_HEADER) && 8n + n <= BigInt(size)) return 'safetensors';
  }
  if (isTar(head)) unsupported('this is a PyTorch < 0.4 tar checkpoint, which is not supported');
  corrupt('unrecognised checkpoint format (expected a torch.save zip, a legacy torch.save file or safetensors)');
}

/** Reads `source` whatever its format. */
export async function readCheckpointSource(source: ByteSource, opts: ReadCheckpointOptions = {}): Promise<RawCheckpoint> {
  const head = await source.read(0, Math.min(source.size, 512), 'checkpoint header');
  const format = detectFormat(head, source.size);
  switch (format) {
    case 'zip':
      return { format, value: await readTorchZip(source, opts), metadata: null };
    case 'legacy':
      return { format, value: await readLegacy(source, opts), metadata: null };
    case 'safetensors': {
      const { tensors, metadata } = await readSafetensors(source, opts);
      const value = new PyOrderedDict<string, RawValue>();
      for (const [k, t] of tensors) value.set(k, t);
      return { format, value: value as RawValue, metadata };
    }
  }
}

/**
 * Reads a checkpoint (zip or legacy `torch.save`, or safetensors) with its format. A path is read
 * piece by piece (each storage into its own buffer); for bytes in memory, storages are views of them.
 */
export async function readCheckpointRawFile(input: string | Uint8Array, opts: ReadCheckpointOptions = {}): Promise<RawCheckpoint> {
  if (typeof input !== 'string') return readCheckpointSource(new BufferSource(input), opts);
  const file = await FileSource.open(input);
  try {
    const limit = opts.wholeFileLimit ?? WHOLE_FILE_LIMIT;
    const source = file.size <= limit ? new BufferSource(await file.read(0, file.size, input)) : file;
    return await readCheckpointSource(source, opts);
  } finally {
    await file.close();
  }
}

/**
 * Reads a checkpoint and returns its object tree: `Map`s for dicts (order kept), {@link PyOrderedDict}
 * for OrderedDicts, {@link RawTensor} leaves sharing {@link RawStorage}s as in the file.
 */
export async function readCheckpointRaw(input: string | Uint8Array, opts: ReadCheckpointOptions = {}): Promise<RawValue> {
  return (await readCheckpointRawFile(input, opts)).value;
}

/** The archive folder name PyTorch 1.x uses for `file`: its base name up to the first dot. */
export function archiveNameFor(file: string): string {
  const base = path.basename(file);
  const dot = base.indexOf('.');
  const stem = dot >= 0 ? base.slice(0, dot) : base;
  return stem || 'archive';
}

export type WriteCheckpointOptions = TorchZipWriteOptions;

/** The bytes of a zip `torch.save` file holding `tree`. */
export function serializeCheckpointRaw(tree: unknown, opts: WriteCheckpointOptions = {}): Uint8Array {
  return Buffer.concat([...torchZipChunks(tree, opts)]);
}

/**
 * Writes `tree` to `file` in the zip `torch.save` format (readable by Python's
 * `torch.load(file, weights_only=True)`), atomically: temp file, fsync, rename, fsync directory.
 */
export async function writeCheckpointRaw(file: string, tree: unknown, opts: WriteCheckpointOptions = {}): Promise<void> {
  const chunks = torchZipChunks(tree, { archiveName: archiveNameFor(file), ...opts });
  await writeFileAtomic(file, chunks);
}

/** The bytes of a safetensors file holding `tensors` (non-contiguous views are copied). */
export function serializeSafetensorsRaw(tensors: Iterable<[string, RawTensor]>, metadata?: Map<string, string> | Record<string, string> | null): Uint8Array {
  return Buffer.concat([...safetensorsChunks(tensors, metadata)]);
}

/** Writes a safetensors file atomically. */
export async function writeSafetensorsRaw(
  file: string,
  tensors: Iterable<[string, RawTensor]>,
  metadata?: Map<string, string> | Record<string, string> | null,
): Promise<void> {
  await writeFileAtomic(file, safetensorsChunks(tensors, metadata));
}
