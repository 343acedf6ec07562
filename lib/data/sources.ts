/**
 * Dataset sources: where clips come from and what their labels are.
 *
 * - A folder in the reference layout (`video/<partition>/<label>/<group>/<name>.mp4` with matching
 *   `audio/<partition>/<label>/<group>/<name>.wav`): `scanFolderLayout` (folder-layout.ts).
 * - A manifest, CSV or JSONL: `loadManifest` (manifest.ts).
 * - Plain files without labels (prediction, embedding): `sourceFromFiles`.
 * `openSource(pathOrDir, opts)` picks the right one. Every source yields `DataItem`s (video path, audio
 * path — the video itself when there is no separate audio file — label index or target vector, optional
 * start) and a `LabelMap` (sorted class names <-> indices, or named regression targets) that is saved
 * with the checkpoint so indices keep their meaning.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';
import { scanFolderLayout, type FolderLayoutOptions } from './folder-layout';
import { loadManifest, type ManifestOptions } from './manifest';
import { AUDIO_EXTENSIONS, verifyItems, type DataItem, type DataSource, type SkippedItem, type SourceOptions } from './source-types';

export { scanFolderLayout, folderLabelNames, type FolderLayoutOptions } from './folder-layout';
export { loadManifest, type ManifestOptions } from './manifest';
export { LabelMap, compareCodePoints, type Task, type LabelMapJSON } from './labels';
export { AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, verifyItems, type DataItem, type DataSource, type SkippedItem, type SourceOptions } from './source-types';

/** Options of openSource: those of the folder layout (partition required there) and of manifests. */
export type OpenSourceOptions = Partial<FolderLayoutOptions> & ManifestOptions;

/**
 * Opens a dataset: a directory is read as the reference folder layout (needs `partition`), a file as a
 * CSV/JSONL manifest. Throws ERR_FILE_NOT_FOUND when the path does not exist.
 */
export async function openSource(spec: string, opts: OpenSourceOptions = {}): Promise<DataSource> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(spec);
  } catch {
    throw new DataError('dataset path not found (expected a folder in the reference layout or a CSV/JSONL manifest)', 'ERR_FILE_NOT_FOUND', {
      file: path.resolve(spec),
    });
  }
  if (st.isDirectory()) {
    if (!opts.partition) {
      throw new DataError('a dataset folder needs a partition (e.g. "train"): video/<partition>/<label>/<group>/<name>.mp4', 'ERR_INVALID_ARG', {
        file: path.resolve(spec),
      });
    }
    return scanFolderLayout(spec, { ...opts, partition: opts.partition });
  }
  return loadManifest(spec, opts);
}

/**
 * Unlabeled items for a list of media files (e.g. `predict a.mp4 b.mp4`). Audio files (by extension)
 * become audio-only items; anything else is a video whose audio track is used.
 */
export async function sourceFromFiles(files: string[], opts: SourceOptions = {}): Promise<DataSource> {
  const items: DataItem[] = files.map((f) => {
    const abs = path.resolve(f);
    const isAudio = AUDIO_EXTENSIONS.includes(path.extname(f).toLowerCase());
    return { id: f, video: isAudio ? null : abs, audio: abs, audioFromVideo: !isAudio, origin: f };
  });
  const skipped: SkippedItem[] = [];
  const kept = await verifyItems(items, 'input files', opts, skipped);
  return { kind: 'files', root: process.cwd(), items: kept, labels: opts.labels ?? null, task: opts.labels?.task ?? null, skipped, warnings: [] };
}
