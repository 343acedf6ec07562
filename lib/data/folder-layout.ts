/**
 * The reference dataset's folder layout:
 *
 *   <root>/video/<partition>/<label>/<group>/<name>.mp4
 *   <root>/audio/<partition>/<label>/<group>/<name>.wav     (same relative path, audio extension)
 *
 * `<group>` (e.g. a speaker or session) may be any number of folder levels, including none. A video
 * without a matching audio file takes its audio from the video's own track (or is an error with
 * `requireAudio`). Class names are the `<label>` folder names of ALL partitions (so train/val/test share
 * one index space), sorted by code point — never in filesystem order.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';
import { LabelMap, compareCodePoints } from './labels';
import { AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, verifyItems, type DataItem, type DataSource, type SkippedItem, type SourceOptions } from './source-types';

/** Options of scanFolderLayout. */
export interface FolderLayoutOptions extends SourceOptions {
  /** Partition folder to read, e.g. 'train' or 'test'. */
  partition: string;
  /** Video extensions to accept (lower case, with dot). */
  videoExtensions?: string[];
  /** Audio extensions looked for, in order (default: .wav first). */
  audioExtensions?: string[];
  /** Fail instead of falling back to the video's audio track when an audio file is missing. */
  requireAudio?: boolean;
}

async function readDirSafe(dir: string): Promise<fs.Dirent[]> {
  try {
    return await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (e: any) {
    if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR') return [];
    throw e;
  }
}

async function isDir(p: string, d?: fs.Dirent): Promise<boolean> {
  if (d && d.isDirectory()) return true;
  if (d && !d.isSymbolicLink()) return false;
  try {
    return (await fs.promises.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Sub-folder names of `dir` (hidden ones skipped), sorted by code point. */
async function subdirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readDirSafe(dir)) {
    if (!d.name.startsWith('.') && (await isDir(path.join(dir, d.name), d))) out.push(d.name);
  }
  return out.sort(compareCodePoints);
}

/** Every file below `dir` (recursively, hidden entries skipped) as paths relative to `dir`, sorted. */
async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readDirSafe(path.join(dir, rel))).filter((d) => !d.name.startsWith('.'));
  entries.sort((a, b) => compareCodePoints(a.name, b.name));
  for (const d of entries) {
    const r = rel ? path.join(rel, d.name) : d.name;
    if (await isDir(path.join(dir, r), d)) out.push(...(await walk(dir, r)));
    else out.push(r);
  }
  return out;
}

/** Class names of the layout: `<label>` folders under every `<root>/video/<partition>/`, sorted. */
export async function folderLabelNames(root: string): Promise<string[]> {
  const names = new Set<string>();
  for (const part of await subdirs(path.join(root, 'video'))) {
    for (const label of await subdirs(path.join(root, 'video', part))) names.add(label);
  }
  return [...names].sort(compareCodePoints);
}

/**
 * Lists the clips of one partition of the reference layout, with their labels.
 * Throws ERR_FILE_NOT_FOUND when `<root>/video/<partition>` does not exist, ERR_DATASET when it holds no
 * video or when a folder is not in the given `labels`.
 */
export async function scanFolderLayout(root: string, opts: FolderLayoutOptions): Promise<DataSource> {
  root = path.resolve(root);
  const videoRoot = path.join(root, 'video', opts.partition);
  const audioRoot = path.join(root, 'audio', opts.partition);
  if (!(await isDir(videoRoot))) {
    const parts = await subdirs(path.join(root, 'video'));
    const hint = parts.length
      ? ` (partitions found: ${parts.join(', ')})`
      : ` (expected ${path.join(root, 'video', '<partition>', '<label>', '<group>', '<name>.mp4')})`;
    throw new DataError(`partition folder not found${hint}`, 'ERR_FILE_NOT_FOUND', { file: videoRoot });
  }
  const vext = (opts.videoExtensions ?? VIDEO_EXTENSIONS).map((e) => e.toLowerCase());
  const aext = (opts.audioExtensions ?? AUDIO_EXTENSIONS).map((e) => e.toLowerCase());
  const labels = opts.labels ?? LabelMap.fromNames(await folderLabelNames(root));
  if (labels.task === 'regression')
    throw new DataError('the folder layout gives class labels; a regression label map does not apply', 'ERR_DATASET', { file: root });
  const items: DataItem[] = [];
  const warnings: string[] = [];
  const skipped: SkippedItem[] = [];
  const missingAudio: DataItem[] = [];
  const usedAudio = new Set<string>();
  for (const label of await subdirs(videoRoot)) {
    if (!labels.has(label)) {
      throw new DataError(`label folder ${JSON.stringify(label)} is not in the label map (${labels.names.join(', ')})`, 'ERR_DATASET', {
        file: path.join(videoRoot, label),
      });
    }
    const index = labels.index(label);
    for (const rel of await walk(path.join(videoRoot, label))) {
      const ext = path.extname(rel).toLowerCase();
      if (!vext.includes(ext)) continue;
      const stem = rel.slice(0, rel.length - ext.length);
      const video = path.join(videoRoot, label, rel);
      let audio: string | null = null;
      for (const a of aext) {
        const cand = path.join(audioRoot, label, stem + a);
        if (fs.existsSync(cand)) {
          audio = cand;
          break;
        }
      }
      const item: DataItem = {
        id: [label, ...stem.split(path.sep)].join('/'),
        video,
        audio: audio ?? video,
        audioFromVideo: audio === null,
        label: index,
        origin: path.relative(root, video),
      };
      if (audio) usedAudio.add(audio);
      else missingAudio.push(item);
      items.push(item);
    }
  }
  if (items.length === 0) {
    throw new DataError(`no video files (${vext.join(', ')}) below the partition folder`, 'ERR_DATASET', { file: videoRoot });
  }
  if (missingAudio.length > 0) {
    if (opts.requireAudio) {
      const list = missingAudio
        .slice(0, 10)
        .map((i) => i.origin)
        .join(', ');
      throw new DataError(`${missingAudio.length} videos have no audio file`, 'ERR_FILE_NOT_FOUND', {
        file: audioRoot,
        message: `${audioRoot}: ${missingAudio.length} of ${items.length} videos have no matching audio file (${aext.join('/')}): ${list}${missingAudio.length > 10 ? ', …' : ''}`,
      });
    }
    warnings.push(`${missingAudio.length} of ${items.length} videos have no audio file under ${audioRoot}; their audio is decoded from the video`);
  }
  const stray = (await walk(audioRoot)).filter((r) => aext.includes(path.extname(r).toLowerCase()) && !usedAudio.has(path.join(audioRoot, r)));
  if (stray.length > 0) warnings.push(`${stray.length} audio files under ${audioRoot} have no matching video (e.g. ${stray[0]})`);
  const kept = await verifyItems(items, videoRoot, opts, skipped);
  return { kind: 'folder', root, items: kept, labels, task: 'classification', skipped, warnings };
}
