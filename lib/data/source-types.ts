/**
 * What a dataset source produces: a list of items (which files, which label, where to start) plus the
 * label space. Shared by the folder-layout scanner and the manifest readers; no decoding happens here.
 */
import * as fs from 'fs';
import { DataError } from './errors';
import type { LabelMap, Task } from './labels';

/** One clip of a dataset. */
export interface DataItem {
  /** Stable identifier: the manifest's id column, or the path below the partition without extension. */
  id: string;
  /** Absolute path of the video file, or null for an audio-only item. */
  video: string | null;
  /** Absolute path of the file the audio is decoded from (the video itself when `audioFromVideo`). */
  audio: string | null;
  /** True when no separate audio file was given and the audio track of `video` is used. */
  audioFromVideo: boolean;
  /** Class index (single-label classification). */
  label?: number;
  /**
   * Label vector: multi-hot (multilabel), a given label/soft-label vector, or regression targets.
   * Length = `labels.size` of the source.
   */
  target?: number[];
  /** Where the video window starts: seconds, or a 0-based frame index (takes precedence). */
  startTime?: number;
  startFrame?: number;
  /** Where the item was defined, for messages: "train.csv:12", "video/train/happy/g1/a.mp4". */
  origin: string;
}

/** An item left out (missing files with `missing: 'skip'`), and why. */
export interface SkippedItem {
  origin: string;
  reason: string;
}

/** A dataset source: items plus their label space. */
export interface DataSource {
  kind: 'folder' | 'csv' | 'jsonl' | 'files';
  /** The folder root or the manifest file. */
  root: string;
  items: DataItem[];
  /** Label space (null for unlabeled sources, e.g. prediction inputs). */
  labels: LabelMap | null;
  task: Task | null;
  /** Items dropped because of missing files (only with `missing: 'skip'`). */
  skipped: SkippedItem[];
  /** Notes worth logging (audio taken from the video, unmatched audio files, ...). */
  warnings: string[];
}

/** Options shared by every source. */
export interface SourceOptions {
  /** Use this label space (e.g. the one saved with a checkpoint) instead of building one. */
  labels?: LabelMap;
  /** Check that every referenced file exists (default true). */
  checkFiles?: boolean;
  /** What to do with items whose files are missing: 'error' (default, lists them) or 'skip'. */
  missing?: 'error' | 'skip';
}

/** Default extensions, in lookup order. */
export const VIDEO_EXTENSIONS = ['.mp4', '.mkv', '.webm', '.avi', '.mov', '.m4v', '.mpg', '.mpeg', '.flv', '.wmv'];
export const AUDIO_EXTENSIONS = ['.wav', '.flac', '.mp3', '.m4a', '.aac', '.ogg', '.opus'];

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * Checks that every item's files exist. With `missing: 'error'` throws ERR_FILE_NOT_FOUND listing (up
 * to 10 of) the missing files and where they were referenced; with 'skip' returns the kept items and
 * records the others in `skipped`.
 */
export async function verifyItems(items: DataItem[], where: string, opts: SourceOptions, skipped: SkippedItem[]): Promise<DataItem[]> {
  if (opts.checkFiles === false) return items;
  const problems: { i: number; item: DataItem; files: string[] }[] = [];
  const flags = new Array<boolean>(items.length).fill(true);
  const limit = 64;
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const it = items[i]!;
      const paths = [...new Set([it.video, it.audio].filter((p): p is string => p !== null))];
      const missing: string[] = [];
      for (const p of paths) if (!(await isFile(p))) missing.push(p);
      if (missing.length > 0) {
        flags[i] = false;
        problems.push({ i, item: it, files: missing });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (problems.length === 0) return items;
  problems.sort((a, b) => a.i - b.i);
  if ((opts.missing ?? 'error') === 'skip') {
    for (const p of problems) skipped.push({ origin: p.item.origin, reason: `missing ${p.files.join(', ')}` });
    return items.filter((_, i) => flags[i]);
  }
  const list = problems
    .slice(0, 10)
    .map((p) => `${p.item.origin}: ${p.files.join(', ')}`)
    .join('; ');
  const more = problems.length > 10 ? ` and ${problems.length - 10} more` : '';
  throw new DataError(`${problems.length} of ${items.length} items reference missing files`, 'ERR_FILE_NOT_FOUND', {
    file: where,
    message: `${where}: ${problems.length} of ${items.length} items reference missing files: ${list}${more} (pass missing: 'skip' to leave them out)`,
  });
}
