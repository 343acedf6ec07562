/**
 * The raw checkpoint layer: PyTorch `.pth` (zip and legacy) and safetensors on a neutral
 * representation ({@link RawTensor} / {@link RawStorage}). Nothing here loads the native addon;
 * `index.ts` adds the Tensor-level `load` / `save` / conversion on top.
 */

export { CheckpointError, type CheckpointErrorCode } from './errors';
export {
  DTYPE_INFO,
  RAW_DTYPES,
  MAX_DIMS,
  PyOrderedDict,
  RawStorage,
  RawTensor,
  checkView,
  contiguousStrides,
  dtypeFromSafetensors,
  dtypeFromStorageName,
  isRawDType,
  isTuple,
  numelOf,
  tuple,
  type DTypeInfo,
  type RawDType,
  type RawKey,
  type RawTensorInit,
  type RawValue,
  type StorageReadHooks,
  type StorageViewOf,
} from './raw';
export {
  archiveNameFor,
  detectFormat,
  readCheckpointRaw,
  readCheckpointRawFile,
  readCheckpointSource,
  serializeCheckpointRaw,
  serializeSafetensorsRaw,
  writeCheckpointRaw,
  writeSafetensorsRaw,
  type CheckpointFormat,
  type RawCheckpoint,
  type ReadCheckpointOptions,
  type WriteCheckpointOptions,
} from './checkpoint_raw';
export { unpickle, type StorageRef, type UnpickleOptions, type UnpickleResult } from './pickle_reader';
export { pickle, type PickleWriteOptions } from './pickle_writer';
export { readSafetensors, parseSafetensorsHeader, safetensorsChunks, type SafetensorsContents } from './safetensors';
export { readLegacy } from './legacy';
export { readTorchZip, torchZipChunks } from './torch_zip';
export { ZipReader, type ZipEntry } from './zip';
export { ZIP_ALIGNMENT, zipChunks, zipToBuffer, type ZipWriteEntry } from './zip_writer';
export { BufferSource, FileSource, openSource, type ByteSource } from './source';
export { writeFileAtomic } from './atomic';
export { convertCheckpoint, extractStateDict, renameKeys, NESTED_KEYS, type ConvertOptions, type ConvertResult } from './convert';
