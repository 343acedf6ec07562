/**
 * Pooled embeddings of a dataset (SocialMAEEncoder.embed: the mean over tokens of norm_a(U_a(A(a))),
 * norm_v(U_v(V(v))) and norm(U([A; V])), CAV-MAE's pooling), and their files:
 *   embeddings.safetensors   'audio' / 'video' / 'joint': float32 [N, D] (those computed), metadata
 *                            {format: 'social-mae-embeddings', count, dim}
 *   index.jsonl              row i of every tensor: {"index": i, "id": ..., "label": ...}
 * Both are written atomically, the index last (a complete index names a complete tensor file).
 */
import * as fs from 'fs';
import * as path from 'path';
import { torch, type Tensor } from '../tensor';
import * as io from '../io';
import type { SocialMAEEncoder } from '../models';
import type { DataLoader } from '../data/loader';
import { writeFileAtomic } from '../io/atomic';
import { TrainError } from './errors';
import { withAmp, type FitOptions } from './fit';

export type EmbeddingKind = 'audio' | 'video' | 'joint';
export const EMBEDDINGS_FILE = 'embeddings.safetensors';
export const INDEX_FILE = 'index.jsonl';

export interface EmbeddingSet {
  ids: string[];
  /** Class name (or target values) of each item, when the data is labelled. */
  labels?: (string | number[] | null)[];
  dim: number;
  /** Row-major [N, dim] per kind computed. */
  audio?: Float32Array;
  video?: Float32Array;
  joint?: Float32Array;
}

/** Embeddings of every item of `loader` (eval mode, no grad); a kind needs its modalities in the batches
 *  (`joint`: both) and is left out when the data lacks them. */
export async function embedDataset(
  model: SocialMAEEncoder,
  loader: DataLoader,
  o: { kinds?: readonly EmbeddingKind[]; amp?: FitOptions['amp'] } = {},
): Promise<EmbeddingSet> {
  const device = model.parameters()[0]?.device ?? 'cpu';
  const kinds = new Set(o.kinds ?? ['audio', 'video', 'joint']);
  const acc: Record<EmbeddingKind, number[]> = { audio: [], video: [], joint: [] };
  const ids: string[] = [];
  const labels: (string | number[] | null)[] = [];
  const names = loader.labels?.names;
  model.eval();
  let seen: Set<EmbeddingKind> | null = null;
  for await (const batch of loader.epoch(0)) {
    try {
      torch.noGrad(() =>
        torch.tidy(() => {
          const a = kinds.has('audio') || kinds.has('joint') ? (batch.audio?.to(device) ?? null) : null;
          const v = kinds.has('video') || kinds.has('joint') ? (batch.video?.to(device) ?? null) : null;
          const e = withAmp(device, o.amp, () => model.embed(a, v, { joint: kinds.has('joint') }));
          const got = new Set((['audio', 'video', 'joint'] as const).filter((k) => kinds.has(k) && e[k]));
          if (seen && [...seen].join() !== [...got].join())
            throw new TrainError(`embed: batches differ in their modalities (${[...seen].join(', ')} vs ${[...got].join(', ')})`, 'ERR_INVALID_ARG');
          seen = got;
          for (const k of got) acc[k].push(...((e[k] as Tensor).to('float32').toArray() as Float32Array));
          if (batch.label) {
            const y = batch.label.toArray();
            const B = batch.ids.length;
            const K = y.length / B;
            for (let i = 0; i < B; i++)
              labels.push(batch.label.dtype === 'int64' ? (names?.[Number(y[i])] ?? String(y[i])) : Array.from(y.slice(i * K, (i + 1) * K) as Float32Array));
          } else labels.push(...batch.ids.map(() => null));
        }),
      );
      ids.push(...batch.ids);
    } finally {
      batch.dispose();
    }
  }
  if (ids.length === 0) throw new TrainError('embed: the dataset is empty', 'ERR_INVALID_ARG');
  const done = [...(seen ?? [])] as EmbeddingKind[];
  if (done.length === 0) throw new TrainError(`embed: the data has none of the modalities ${[...kinds].join(', ')} needs`, 'ERR_INVALID_ARG');
  const out: EmbeddingSet = { ids, dim: acc[done[0]!].length / ids.length };
  if (labels.some((l) => l !== null)) out.labels = labels;
  for (const k of done) out[k] = Float32Array.from(acc[k]);
  return out;
}

/** Writes `dir`/embeddings.safetensors and `dir`/index.jsonl (see the file comment). */
export async function writeEmbeddings(dir: string, set: EmbeddingSet, meta: Record<string, string> = {}): Promise<string[]> {
  await fs.promises.mkdir(dir, { recursive: true });
  const N = set.ids.length;
  const tensors = new Map<string, Tensor>();
  for (const k of ['audio', 'video', 'joint'] as const) if (set[k]) tensors.set(k, torch.tensor(set[k]!, { shape: [N, set.dim] }));
  const files = [path.join(dir, EMBEDDINGS_FILE), path.join(dir, INDEX_FILE)];
  try {
    await io.saveSafetensors(tensors, files[0]!, { ...meta, format: 'social-mae-embeddings', count: String(N), dim: String(set.dim) });
  } finally {
    torch.dispose(tensors);
  }
  const lines = set.ids.map((id, i) => JSON.stringify({ index: i, id, ...(set.labels ? { label: set.labels[i] } : {}) }) + '\n');
  await writeFileAtomic(files[1]!, [Buffer.from(lines.join(''))]);
  return files;
}

/** Reads what writeEmbeddings wrote (ERR_INVALID_ARG naming the file when it is not such a pair). */
export async function readEmbeddings(dir: string): Promise<EmbeddingSet> {
  const index = path.join(dir, INDEX_FILE);
  const file = path.join(dir, EMBEDDINGS_FILE);
  for (const f of [index, file]) if (!fs.existsSync(f)) throw new TrainError(`${f} does not exist (write it with social-mae embed)`, 'ERR_INVALID_ARG');
  const rows = (await fs.promises.readFile(index, 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as { index: number; id: string; label?: string | number[] | null };
      } catch (e) {
        throw new TrainError(`${index}:${i + 1}: ${(e as Error).message}`, 'ERR_INVALID_ARG');
      }
    });
  const sd = (await io.load(file)) as Map<string, Tensor>;
  try {
    const set: EmbeddingSet = { ids: rows.map((r) => r.id), dim: 0 };
    if (rows.some((r) => r.label !== undefined)) set.labels = rows.map((r) => r.label ?? null);
    for (const k of ['audio', 'video', 'joint'] as const) {
      const t = sd.get(k);
      if (!t) continue;
      if (t.ndim !== 2 || t.shape[0] !== rows.length)
        throw new TrainError(`${file}: '${k}' is ${JSON.stringify(t.shape)}, ${index} lists ${rows.length} items`, 'ERR_INVALID_ARG');
      set.dim = t.shape[1]!;
      set[k] = torch.tidy(() => t.to('float32').toArray() as Float32Array);
    }
    return set;
  } finally {
    torch.dispose(sd);
  }
}
