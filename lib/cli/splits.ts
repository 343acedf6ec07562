/**
 * The train / val / test data of a training command: each split has its own source (`--train DATA`,
 * `--val DATA`, `--test DATA`) and, for the folder layout, its own partition (`--train-partition`, ...;
 * default: the split's name), so no partition is shared by accident. A validation or test set that shares
 * clips with the training set is refused (`--allow-overlap` turns this into a warning with the count):
 * metrics on training clips pick the wrong best epoch and report too good numbers, silently.
 *
 * `describeSource` is what config.json records of a source: path, partition, item count, total media
 * bytes and a SHA-256 over the item list (and the manifest's bytes), enough to tell whether a rerun sees
 * the same data without hashing the media.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as data from '../data';
import { UsageError, type FlagSet } from './args';

/** --train and its partition (required in both training commands). */
export const TRAIN_FLAGS = {
  train: { type: 'string', required: true, value: 'DATA', help: 'training data: a folder layout or a CSV/JSONL manifest' },
  trainPartition: { type: 'string', value: 'NAME', default: 'train', help: 'partition of --train when it is a folder layout' },
} as const satisfies FlagSet;

/** --val and its partition, --allow-overlap. */
export const VAL_FLAGS = {
  val: { type: 'string', value: 'DATA', help: 'validation data (picks the best epoch); must not share clips with --train' },
  valPartition: { type: 'string', value: 'NAME', default: 'val', help: 'partition of --val when it is a folder layout' },
  allowOverlap: { type: 'boolean', help: 'warn instead of failing when --val (or --test) shares clips with --train' },
} as const satisfies FlagSet;

/** --test and its partition (for commands that evaluate on a test split). */
export const TEST_FLAGS = {
  test: { type: 'string', value: 'DATA', help: 'test data, evaluated with the best checkpoint at the end; must not share clips with --train' },
  testPartition: { type: 'string', value: 'NAME', default: 'test', help: 'partition of --test when it is a folder layout' },
} as const satisfies FlagSet;

/** What openSplit needs: source options shared by all splits. */
export interface SplitOptions {
  labels?: data.LabelMap;
  /** leave out items whose files are missing (--on-bad-item skip) */
  skipMissing?: boolean;
  /** force the label task (e.g. integer scores as regression targets) instead of inferring it */
  task?: data.Task;
}

/** Opens one split; `partition` applies only when `spec` is a folder. */
export async function openSplit(spec: string, partition: string, o: SplitOptions = {}): Promise<data.DataSource> {
  return data.openSource(spec, {
    partition,
    ...(o.labels ? { labels: o.labels } : {}),
    ...(o.task ? { task: o.task } : {}),
    ...(o.skipMissing ? { missing: 'skip' as const } : {}),
  });
}

/** A clip's identity: its real video and audio paths (a symlink or another relative path is the same clip). */
function clipKey(item: data.DataItem): string {
  const real = (p: string | null) => {
    if (p === null) return '';
    try {
      return fs.realpathSync.native(p);
    } catch {
      return path.resolve(p);
    }
  };
  return `${real(item.video)}\n${item.audioFromVideo ? '' : real(item.audio)}`;
}

/** Items of `other` whose clip is also in `train`. */
export function overlap(train: data.DataSource, other: data.DataSource): data.DataItem[] {
  const seen = new Set(train.items.map(clipKey));
  return other.items.filter((it) => seen.has(clipKey(it)));
}

/**
 * Refuses (or with `allow` warns about) a `name` split sharing clips with the training split; returns the
 * warning line, or null when they are disjoint.
 */
export function checkDisjoint(train: data.DataSource, other: data.DataSource, name: string, allow: boolean): string | null {
  const shared = overlap(train, other);
  if (shared.length === 0) return null;
  const same = shared.length === other.items.length && other.items.length === train.items.length;
  const what = same
    ? `the --${name} set is the training set (${shared.length} clips)`
    : `${shared.length} of ${other.items.length} --${name} clips are training clips`;
  const example = ` (e.g. ${shared[0]!.origin})`;
  if (!allow) throw new UsageError(`${what}${example}: give disjoint data (or --allow-overlap to go on with a warning)`);
  return `WARNING: ${what}${example}; --${name} metrics are measured partly on training data`;
}

/** What config.json records of a data source (see the file header). */
export interface SourceRecord {
  spec: string;
  path: string;
  kind: data.DataSource['kind'];
  partition: string | null;
  items: number;
  mediaBytes: number;
  sha256: string;
}

export async function describeSource(spec: string, src: data.DataSource, partition: string): Promise<SourceRecord> {
  const h = createHash('sha256');
  if (src.kind === 'csv' || src.kind === 'jsonl') h.update(await fs.promises.readFile(src.root));
  const files = new Set<string>();
  for (const it of src.items) {
    h.update(JSON.stringify([it.id, it.video, it.audio, it.label ?? null, it.target ?? null, it.startTime ?? null, it.startFrame ?? null]));
    for (const f of [it.video, it.audio]) if (f !== null) files.add(f);
  }
  let mediaBytes = 0;
  for (const f of files) mediaBytes += (await fs.promises.stat(f).catch(() => ({ size: 0 }))).size;
  return {
    spec,
    path: path.resolve(spec),
    kind: src.kind,
    partition: src.kind === 'folder' ? partition : null,
    items: src.items.length,
    mediaBytes,
    sha256: h.digest('hex'),
  };
}
