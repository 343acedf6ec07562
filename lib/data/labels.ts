/**
 * Label spaces: class names <-> indices (classification, multi-label) or named regression targets,
 * persisted as JSON next to a dataset or inside a checkpoint's metadata, so that index i means the same
 * class at training and at inference time.
 *
 * Class names are sorted by Unicode code point (Python's `sorted()`), never taken in filesystem order:
 * `readdir` order differs between filesystems and would silently permute the classifier's outputs.
 * Regression target names keep the given order (the order of the output vector).
 */
import * as fs from 'fs';
import { DataError } from './errors';

/** What the label vector means. */
export type Task = 'classification' | 'multilabel' | 'regression';

/** The JSON form (`LabelMap.toJSON()`), stable across versions. */
export interface LabelMapJSON {
  format: 'social-mae-labels';
  version: 1;
  task: Task;
  names: string[];
}

/** Python-style string ordering (by code point). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** An immutable label space: `names[i]` is the name of output i. */
export class LabelMap {
  readonly task: Task;
  readonly names: readonly string[];
  private readonly byName: Map<string, number>;

  private constructor(task: Task, names: string[]) {
    this.task = task;
    this.names = Object.freeze([...names]);
    this.byName = new Map(names.map((n, i) => [n, i] as [string, number]));
    if (this.byName.size !== names.length) throw new DataError(`duplicate label names in ${JSON.stringify(names)}`, 'ERR_DATASET');
    for (const n of names)
      if (typeof n !== 'string' || n.length === 0) throw new DataError(`label names must be non-empty strings, got ${JSON.stringify(n)}`, 'ERR_DATASET');
  }

  /** Classes from any collection of names (duplicates merged), sorted by code point. */
  static fromNames(names: Iterable<string>, task: 'classification' | 'multilabel' = 'classification'): LabelMap {
    return new LabelMap(task, [...new Set(names)].sort(compareCodePoints));
  }

  /** Classes that are already indices 0..k-1 (named '0', '1', ... in numeric order). */
  static fromCount(k: number, task: Task = 'classification'): LabelMap {
    if (!Number.isInteger(k) || k < 1) throw new DataError(`label count must be a positive integer, got ${k}`, 'ERR_DATASET');
    return new LabelMap(
      task,
      Array.from({ length: k }, (_, i) => String(i)),
    );
  }

  /** Named regression targets, in the given (output) order, e.g. the five personality traits. */
  static regression(names: string[]): LabelMap {
    return new LabelMap('regression', names);
  }

  /** Number of outputs (classes or target dimensions). */
  get size(): number {
    return this.names.length;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Index of a class name; throws ERR_DATASET naming the unknown label and the known ones. */
  index(name: string): number {
    const i = this.byName.get(name);
    if (i === undefined) {
      const known = this.names.length > 20 ? `${this.names.slice(0, 20).join(', ')}, … (${this.names.length})` : this.names.join(', ');
      throw new DataError(`unknown label ${JSON.stringify(name)} (known: ${known})`, 'ERR_DATASET');
    }
    return i;
  }

  /** Name of output i. */
  name(i: number): string {
    const n = this.names[i];
    if (n === undefined) throw new DataError(`label index ${i} out of range [0, ${this.size})`, 'ERR_DATASET');
    return n;
  }

  /** One-hot (one name) or multi-hot (several names) float vector of length `size`. */
  encode(names: string | readonly string[]): Float32Array {
    const v = new Float32Array(this.size);
    for (const n of typeof names === 'string' ? [names] : names) v[this.index(n)] = 1;
    return v;
  }

  /** Same label space (task and names in the same order). */
  equals(other: LabelMap): boolean {
    return this.task === other.task && this.size === other.size && this.names.every((n, i) => n === other.names[i]);
  }

  toJSON(): LabelMapJSON {
    return { format: 'social-mae-labels', version: 1, task: this.task, names: [...this.names] };
  }

  /** Validates and rebuilds a LabelMap from its JSON form (a bare array of names is accepted too). */
  static fromJSON(obj: unknown, file?: string): LabelMap {
    const where = file === undefined ? {} : { file };
    if (Array.isArray(obj)) return new LabelMap('classification', obj as string[]);
    const o = obj as Partial<LabelMapJSON> | null;
    if (!o || typeof o !== 'object' || !Array.isArray(o.names)) throw new DataError('not a label map (expected {"names": [...]})', 'ERR_DATASET', where);
    const task = o.task ?? 'classification';
    if (!['classification', 'multilabel', 'regression'].includes(task)) throw new DataError(`unknown task ${JSON.stringify(task)}`, 'ERR_DATASET', where);
    if (o.version !== undefined && o.version !== 1) throw new DataError(`unsupported label map version ${o.version}`, 'ERR_DATASET', where);
    // The stored order is authoritative (it is the order of the trained outputs): never re-sort here.
    return new LabelMap(task, o.names);
  }

  /** Writes the JSON form to `file` (written to a temporary name, then renamed). */
  async save(file: string): Promise<void> {
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.promises.writeFile(tmp, JSON.stringify(this.toJSON(), null, 2) + '\n');
    await fs.promises.rename(tmp, file);
  }

  /** Reads a label map written by `save` (ERR_FILE_NOT_FOUND / ERR_DATASET on problems). */
  static async load(file: string): Promise<LabelMap> {
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch (e: any) {
      if (e?.code === 'ENOENT') throw new DataError('label map not found', 'ERR_FILE_NOT_FOUND', { file });
      throw e;
    }
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e: any) {
      throw new DataError(`label map is not valid JSON (${e?.message ?? e})`, 'ERR_DATASET', { file });
    }
    return LabelMap.fromJSON(obj, file);
  }
}
