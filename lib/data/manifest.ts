/**
 * Dataset manifests: CSV (header row) or JSONL (one JSON object per line) listing clips.
 *
 * Fields (CSV column names are case-insensitive; JSONL keys as written):
 *   id                         optional identifier (default: the video/audio path as written)
 *   video | video_path         video file
 *   audio | audio_path | wav   optional audio file; without it the audio comes from the video
 *   label | labels | class     a class name, several names ("a|b" in CSV, an array in JSONL) for
 *                              multi-label, a class index (JSONL number), or a label vector
 *                              (JSON array of numbers)
 *   target | targets           regression vector (JSON array, or numbers separated by ';' or spaces)
 *   start_time | start         window start in seconds;   start_frame: window start frame
 * With `targetColumns` (e.g. the five personality traits) those numeric columns form the regression
 * target. A CSV without label and target columns whose other columns hold numbers with a fraction
 * (0.53) takes those columns as the regression targets, in header order; so does a label column that
 * holds such numbers (one target, named 'label'). In a regression manifest every row needs
 * every target: a missing or non-numeric one is an error naming the file, the line and the column.
 * Relative paths are relative to the manifest's folder (or `baseDir`).
 *
 * Class names are mapped with a sorted LabelMap (or the given one); when every label is a non-negative
 * integer written as text, the labels are taken as indices 0..max in numeric order.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseCsv } from './csv';
import { DataError } from './errors';
import { LabelMap, type Task } from './labels';
import { verifyItems, type DataItem, type DataSource, type SkippedItem, type SourceOptions } from './source-types';

/** Options of loadManifest. */
export interface ManifestOptions extends SourceOptions {
  /** 'csv' or 'jsonl'; default from the extension (.jsonl/.ndjson = JSONL, else CSV). */
  format?: 'csv' | 'jsonl';
  /** Folder that relative paths are relative to (default: the manifest's folder). */
  baseDir?: string;
  /** Numeric columns/keys forming the regression target, in output order. */
  targetColumns?: string[];
  /** Force the task instead of inferring it from the label fields. */
  task?: Task;
}

/** A label as written in the manifest, before mapping. */
type RawLabel = { names: string[] } | { index: number } | { vector: number[] } | null;

/** One parsed row before label mapping. */
interface RawRow {
  origin: string;
  id?: string;
  video?: string;
  audio?: string;
  label: RawLabel;
  target?: number[];
  startTime?: number;
  startFrame?: number;
}

const ALIASES: Record<string, string> = {
  id: 'id',
  video: 'video',
  video_path: 'video',
  video_file: 'video',
  audio: 'audio',
  audio_path: 'audio',
  audio_file: 'audio',
  wav: 'audio',
  label: 'label',
  labels: 'label',
  class: 'label',
  class_name: 'label',
  target: 'target',
  targets: 'target',
  start_time: 'startTime',
  starttime: 'startTime',
  start: 'startTime',
  start_frame: 'startFrame',
  startframe: 'startFrame',
};

function fail(origin: string, why: string, file: string): never {
  throw new DataError(`${origin}: ${why}`, 'ERR_DATASET', { file, message: `${origin}: ${why}` });
}

function parseNumberList(s: string, origin: string, file: string): number[] {
  const t = s.trim();
  const parts = t.startsWith('[')
    ? (() => {
        try {
          return JSON.parse(t);
        } catch {
          return fail(origin, `invalid JSON array ${JSON.stringify(t)}`, file);
        }
      })()
    : t.split(/[;\s]+/).filter((x) => x.length > 0);
  if (!Array.isArray(parts)) fail(origin, `expected a list of numbers, got ${JSON.stringify(t)}`, file);
  return parts.map((x: unknown) => {
    const v = typeof x === 'number' ? x : Number(x);
    if (!Number.isFinite(v)) fail(origin, `not a number: ${JSON.stringify(x)}`, file);
    return v;
  });
}

function labelFromText(s: string, origin: string, file: string): RawLabel {
  const t = s.trim();
  if (t === '') return null;
  if (t.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      fail(origin, `invalid JSON label ${JSON.stringify(t)}`, file);
    }
    return labelFromJson(v, origin, file);
  }
  if (t.includes('|'))
    return {
      names: t
        .split('|')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    };
  return { names: [t] };
}

function labelFromJson(v: unknown, origin: string, file: string): RawLabel {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'string') return { names: [v] };
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) fail(origin, `class index must be a non-negative integer, got ${v}`, file);
    return { index: v };
  }
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return { names: v as string[] };
    if (v.every((x) => typeof x === 'number' && Number.isFinite(x))) return { vector: v as number[] };
  }
  return fail(origin, `label must be a name, a list of names, a class index or a vector of numbers, got ${JSON.stringify(v)}`, file);
}

function optNumber(v: unknown, what: string, origin: string, file: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  if (!Number.isFinite(n) || n < 0) fail(origin, `${what} must be a non-negative number, got ${JSON.stringify(v)}`, file);
  return n;
}

function optString(v: unknown, what: string, origin: string, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(origin, `${what} must be a string, got ${JSON.stringify(v)}`, file);
  return v.trim() === '' ? undefined : v.trim();
}

/** `detected` receives the float columns taken as regression targets (see the file comment). */
function readCsvRows(text: string, file: string, opts: ManifestOptions, detected: string[]): RawRow[] {
  const rows = parseCsv(text, { file });
  if (rows.length === 0) fail(path.basename(file), 'empty manifest', file);
  const header = rows[0]!.fields.map((h) => h.trim());
  const col = new Map<string, number>();
  header.forEach((h, i) => {
    const key = ALIASES[h.toLowerCase()];
    if (key && !col.has(key)) col.set(key, i);
  });
  // Float columns: regression targets when the manifest names no label, target or target columns.
  const FRACTION = /^\s*[-+]?\d*\.\d+(e[-+]?\d+)?\s*$/i;
  // A regression label space (e.g. the training set's, for a validation set) names its target columns.
  const pinned = opts.labels?.task === 'regression' && opts.labels.names.every((n) => header.includes(n)) ? [...opts.labels.names] : null;
  const floatCols = pinned
    ? pinned
    : opts.targetColumns || col.has('label') || col.has('target') || opts.task === 'classification' || opts.task === 'multilabel'
      ? []
      : header.filter((h, i) => !ALIASES[h.toLowerCase()] && rows.slice(1).some((r) => FRACTION.test(r.fields[i] ?? '')));
  detected.push(...floatCols);
  const tcols = (opts.targetColumns ?? floatCols).map((c) => {
    const i = header.findIndex((h) => h === c || h.toLowerCase() === c.toLowerCase());
    if (i < 0) fail(`${path.basename(file)}:${rows[0]!.line}`, `target column ${JSON.stringify(c)} not in the header (${header.join(', ')})`, file);
    return i;
  });
  if (!col.has('video') && !col.has('audio')) {
    fail(`${path.basename(file)}:${rows[0]!.line}`, `the header needs a "video" or "audio" column (got ${header.join(', ')})`, file);
  }
  return rows.slice(1).map(({ line, fields }) => {
    const origin = `${path.basename(file)}:${line}`;
    if (fields.length !== header.length) fail(origin, `${fields.length} fields, the header has ${header.length}`, file);
    const get = (k: string) => (col.has(k) ? fields[col.get(k)!]! : undefined);
    const row: RawRow = { origin, label: get('label') === undefined ? null : labelFromText(get('label')!, origin, file) };
    const set = <K extends keyof RawRow>(k: K, v: RawRow[K] | undefined) => {
      if (v !== undefined) row[k] = v;
    };
    set('id', optString(get('id'), 'id', origin, file));
    set('video', optString(get('video'), 'video', origin, file));
    set('audio', optString(get('audio'), 'audio', origin, file));
    set('startTime', optNumber(get('startTime'), 'start_time', origin, file));
    set('startFrame', optNumber(get('startFrame'), 'start_frame', origin, file));
    if (tcols.length > 0)
      set(
        'target',
        tcols.map((i) => {
          const v = fields[i]!.trim();
          if (v === '') fail(origin, `missing regression target in column ${JSON.stringify(header[i])}`, file);
          const n = Number(v);
          if (!Number.isFinite(n)) fail(origin, `regression target in column ${JSON.stringify(header[i])} is not a number: ${JSON.stringify(v)}`, file);
          return n;
        }),
      );
    else if (get('target') !== undefined && get('target')!.trim() !== '') set('target', parseNumberList(get('target')!, origin, file));
    return row;
  });
}

function readJsonlRows(text: string, file: string, opts: ManifestOptions): RawRow[] {
  const out: RawRow[] = [];
  text
    .replace(/^\ufeff/, '')
    .split(/\r?\n/)
    .forEach((ln, i) => {
      const origin = `${path.basename(file)}:${i + 1}`;
      if (ln.trim() === '') return;
      let o: any;
      try {
        o = JSON.parse(ln);
      } catch (e: any) {
        fail(origin, `invalid JSON (${e?.message ?? e})`, file);
      }
      if (!o || typeof o !== 'object' || Array.isArray(o)) fail(origin, 'each line must be a JSON object', file);
      const pick = (...keys: string[]) => keys.map((k) => o[k]).find((v) => v !== undefined);
      const row: RawRow = { origin, label: labelFromJson(pick('label', 'labels', 'class'), origin, file) };
      const id = pick('id');
      if (id !== undefined) row.id = String(id);
      const video = optString(pick('video', 'video_path'), 'video', origin, file);
      const audio = optString(pick('audio', 'audio_path', 'wav'), 'audio', origin, file);
      const st = optNumber(pick('start_time', 'startTime', 'start'), 'start_time', origin, file);
      const sf = optNumber(pick('start_frame', 'startFrame'), 'start_frame', origin, file);
      if (video !== undefined) row.video = video;
      if (audio !== undefined) row.audio = audio;
      if (st !== undefined) row.startTime = st;
      if (sf !== undefined) row.startFrame = sf;
      if (opts.targetColumns && opts.targetColumns.length > 0) {
        row.target = opts.targetColumns.map((k) => {
          const v = o[k];
          if (typeof v !== 'number' || !Number.isFinite(v)) fail(origin, `target key ${JSON.stringify(k)} must be a number, got ${JSON.stringify(v)}`, file);
          return v;
        });
      } else {
        const t = pick('target', 'targets');
        if (t !== undefined && t !== null)
          row.target = Array.isArray(t) ? parseNumberList(JSON.stringify(t), origin, file) : parseNumberList(String(t), origin, file);
      }
      out.push(row);
    });
  return out;
}

/** Whether the labels are all single numbers and one has a fraction (or `anyNumber`: the task is
 *  regression), so they are regression values, not class names. */
function floatTargets(rows: RawRow[], anyNumber = false): boolean {
  const named = rows.flatMap((r) => (r.label && 'names' in r.label ? [r.label.names] : []));
  return (
    named.length > 0 &&
    named.length === rows.filter((r) => r.label !== null).length &&
    named.every((n) => n.length === 1 && n[0]!.trim() !== '' && Number.isFinite(Number(n[0]))) &&
    (anyNumber || named.some((n) => !Number.isInteger(Number(n[0]))))
  );
}

/** Decides the task and label space of the rows, and maps each row's label. */
function mapLabels(
  rows: RawRow[],
  file: string,
  opts: ManifestOptions,
): { labels: LabelMap | null; task: Task | null; items: Pick<DataItem, 'label' | 'target'>[] } {
  const forced = (opts.task ?? opts.labels?.task) === 'regression';
  if ((forced || !(opts.task ?? opts.labels?.task)) && floatTargets(rows, forced)) {
    // A label column of numbers with a fraction: one regression target named 'label'.
    for (const r of rows) if (r.label && 'names' in r.label) r.target = [Number(r.label.names[0])];
    for (const r of rows) r.label = null;
    return mapLabels(rows, file, { ...opts, targetColumns: ['label'] });
  }
  const labeled = rows.filter((r) => r.label !== null);
  const withTarget = rows.filter((r) => r.target !== undefined);
  let task: Task | null = opts.task ?? opts.labels?.task ?? null;
  if (task === null) {
    if (withTarget.length > 0) task = 'regression';
    else if (labeled.some((r) => 'vector' in r.label! || ('names' in r.label! && r.label.names.length > 1))) task = 'multilabel';
    else if (labeled.length > 0) task = 'classification';
  }
  if (task === null) return { labels: null, task: null, items: rows.map(() => ({})) };
  const where = path.basename(file);
  if (task === 'regression') {
    const dims = new Set(withTarget.map((r) => r.target!.length));
    if (dims.size > 1) fail(where, `regression targets have different lengths (${[...dims].join(', ')})`, file);
    const d = [...dims][0] ?? opts.labels?.size ?? 0;
    const labels = opts.labels ?? (opts.targetColumns ? LabelMap.regression(opts.targetColumns) : LabelMap.fromCount(Math.max(1, d), 'regression'));
    if (d !== 0 && labels.size !== d) fail(where, `targets have ${d} values, the label map has ${labels.size}`, file);
    if (withTarget.length === 0 && labeled.length > 0)
      fail(labeled[0]!.origin, `regression targets (${labels.names.join(', ')}) expected, the manifest has class labels and no targets`, file);
    const missing = withTarget.length > 0 ? rows.find((r) => r.target === undefined) : undefined;
    if (missing) fail(missing.origin, `missing regression target (${labels.names.join(', ')}); other rows have one`, file);
    return { labels, task, items: rows.map((r) => (r.target ? { target: r.target } : {})) };
  }
  let labels = opts.labels ?? null;
  if (!labels) {
    const names = labeled.flatMap((r) => ('names' in r.label! ? r.label.names : []));
    const indices = labeled.flatMap((r) => ('index' in r.label! ? [r.label.index] : []));
    const vectors = labeled.flatMap((r) => ('vector' in r.label! ? [r.label.vector.length] : []));
    if ([names.length, indices.length, vectors.length].filter((n) => n > 0).length > 1) fail(where, 'labels mix names, indices and vectors', file);
    if (vectors.length > 0) {
      if (new Set(vectors).size > 1) fail(where, `label vectors have different lengths (${[...new Set(vectors)].join(', ')})`, file);
      labels = LabelMap.fromCount(vectors[0]!, task);
    } else if (indices.length > 0 || (names.length > 0 && names.every((n) => /^\d+$/.test(n)))) {
      const all = indices.length > 0 ? indices : names.map(Number);
      labels = LabelMap.fromCount(Math.max(...all) + 1, task);
    } else {
      labels = LabelMap.fromNames(names, task);
    }
  }
  const items = rows.map((r) => {
    const l = r.label;
    if (l === null) return {};
    try {
      if ('vector' in l) {
        if (l.vector.length !== labels!.size) fail(r.origin, `label vector has ${l.vector.length} values, the label map has ${labels!.size}`, file);
        return { target: l.vector };
      }
      const idx = 'index' in l ? [l.index] : l.names.map((n) => labels!.index(n));
      for (const i of idx) if (i >= labels!.size) fail(r.origin, `class index ${i} out of range (${labels!.size} classes)`, file);
      if (task === 'multilabel') {
        const v = new Array<number>(labels!.size).fill(0);
        for (const i of idx) v[i] = 1;
        return { target: v };
      }
      if (idx.length !== 1) fail(r.origin, `one label expected for classification, got ${idx.length}`, file);
      return { label: idx[0]! };
    } catch (e) {
      if (e instanceof DataError && e.code === 'ERR_DATASET' && !e.message.startsWith(r.origin)) fail(r.origin, e.reason, file);
      throw e;
    }
  });
  return { labels, task, items };
}

/**
 * Reads a CSV or JSONL manifest. Throws ERR_FILE_NOT_FOUND (manifest or referenced files missing, unless
 * `missing: 'skip'`), ERR_DATASET (malformed rows, unknown labels; messages give file:line).
 */
export async function loadManifest(file: string, opts: ManifestOptions = {}): Promise<DataSource> {
  file = path.resolve(file);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e: any) {
    if (e?.code === 'ENOENT') throw new DataError('manifest not found', 'ERR_FILE_NOT_FOUND', { file });
    throw e;
  }
  const format = opts.format ?? (/\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : 'csv');
  const detected: string[] = [];
  const rows = format === 'jsonl' ? readJsonlRows(text, file, opts) : readCsvRows(text, file, opts, detected);
  if (rows.length === 0) fail(path.basename(file), 'the manifest lists no items', file);
  const base = path.resolve(opts.baseDir ?? path.dirname(file));
  const { labels, task, items: mapped } = mapLabels(rows, file, detected.length > 0 ? { ...opts, targetColumns: detected } : opts);
  const items: DataItem[] = rows.map((r, i) => {
    if (r.video === undefined && r.audio === undefined) fail(r.origin, 'neither a video nor an audio path', file);
    const video = r.video === undefined ? null : path.resolve(base, r.video);
    const audio = r.audio === undefined ? video : path.resolve(base, r.audio);
    const item: DataItem = { id: r.id ?? r.video ?? r.audio!, video, audio, audioFromVideo: r.audio === undefined, origin: r.origin, ...mapped[i] };
    if (r.startTime !== undefined) item.startTime = r.startTime;
    if (r.startFrame !== undefined) item.startFrame = r.startFrame;
    return item;
  });
  const skipped: SkippedItem[] = [];
  const kept = await verifyItems(items, file, opts, skipped);
  const fromVideo = kept.filter((i) => i.audioFromVideo && i.video !== null).length;
  const warnings = fromVideo > 0 ? [`${fromVideo} of ${kept.length} items have no audio path; their audio is decoded from the video`] : [];
  return { kind: format, root: file, items: kept, labels, task, skipped, warnings };
}
