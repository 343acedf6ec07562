/**
 * On-disk feature cache: one safetensors file per (input file content, recipe), so epoch 2+ (and later
 * runs) skip ffmpeg and the feature computation.
 *
 *   <dir>/<kk>/<key>.safetensors   key = sha256 of { cache version, kind, sha256(file content), recipe }
 *   <dir>/probe/<sha256(file)>.json  ffprobe results (saves a process start per clip)
 *
 * Content hashes are memoised per (path, size, mtime) for the life of the process. Entries are written
 * atomically (temp file + rename) and a corrupt or unreadable entry counts as a miss (and is replaced).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { BufferSource, RawTensor, readSafetensors, writeSafetensorsRaw } from '../io';
import type { MediaInfo } from './media-info';

/** Bump when the meaning of cached entries changes. */
export const CACHE_VERSION = 2;

/** A float32 array with its shape (what the cache stores per entry name). */
export interface CachedArray {
  data: Float32Array;
  shape: number[];
}

const hashMemo = new Map<string, { size: number; mtimeMs: number; hash: string }>();

/** sha256 (hex) of a file's content, memoised per (path, size, mtime). */
export async function fileContentHash(file: string): Promise<string> {
  const st = await fs.promises.stat(file);
  const m = hashMemo.get(file);
  if (m && m.size === st.size && m.mtimeMs === st.mtimeMs) return m.hash;
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('end', () => resolve())
      .on('error', reject);
  });
  const hash = h.digest('hex');
  hashMemo.set(file, { size: st.size, mtimeMs: st.mtimeMs, hash });
  return hash;
}

/** Stable JSON (sorted keys) for hashing recipes. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** Cache statistics. */
export interface CacheStats {
  hits: number;
  misses: number;
  writes: number;
  errors: number;
}

/** A directory of cached features. */
export class FeatureCache {
  readonly dir: string;
  readonly stats: CacheStats = { hits: 0, misses: 0, writes: 0, errors: 0 };
  private readonly probes = new Map<string, MediaInfo>();

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** The entry key for a file's content hash, an entry kind ('audio', 'video', ...) and a recipe. */
  key(contentHash: string, kind: string, recipe: unknown): string {
    return createHash('sha256')
      .update(stableStringify({ v: CACHE_VERSION, kind, file: contentHash, recipe }))
      .digest('hex');
  }

  private entryPath(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.safetensors`);
  }

  /** Reads an entry (null on a miss; corrupt entries are deleted and count as misses). */
  async get(key: string): Promise<Map<string, CachedArray> | null> {
    const file = this.entryPath(key);
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(file);
    } catch {
      this.stats.misses++;
      return null;
    }
    try {
      const { tensors } = await readSafetensors(new BufferSource(bytes));
      const out = new Map<string, CachedArray>();
      for (const [name, t] of tensors) {
        if (t.dtype !== 'float32') throw new Error(`entry ${name} is ${t.dtype}`);
        const b = t.contiguousBytes();
        const data = new Float32Array(b.byteLength / 4);
        new Uint8Array(data.buffer).set(b);
        out.set(name, { data, shape: [...t.shape] });
      }
      this.stats.hits++;
      return out;
    } catch {
      this.stats.errors++;
      this.stats.misses++;
      await fs.promises.rm(file, { force: true }).catch(() => undefined);
      return null;
    }
  }

  /** Writes an entry atomically. Failures (disk full, permissions) are counted, not thrown. */
  async put(key: string, arrays: Record<string, CachedArray>, meta: Record<string, string> = {}): Promise<void> {
    const file = this.entryPath(key);
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      const entries: [string, RawTensor][] = Object.entries(arrays).map(([name, a]) => [
        name,
        RawTensor.fromBytes('float32', a.shape, new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength)),
      ]);
      await writeSafetensorsRaw(file, entries, { format: 'social-mae-features', version: String(CACHE_VERSION), ...meta });
      this.stats.writes++;
    } catch {
      this.stats.errors++;
    }
  }

  /** A cached probe of a file with this content hash, if any (memory, then disk). */
  async getProbe(contentHash: string, file: string): Promise<MediaInfo | null> {
    const m = this.probes.get(contentHash);
    if (m) return { ...m, path: file };
    try {
      const info = JSON.parse(await fs.promises.readFile(path.join(this.dir, 'probe', `${contentHash}.json`), 'utf8')) as MediaInfo;
      this.probes.set(contentHash, info);
      return { ...info, path: file };
    } catch {
      return null;
    }
  }

  /** Stores a probe (memory and disk). */
  async putProbe(contentHash: string, info: MediaInfo): Promise<void> {
    this.probes.set(contentHash, info);
    try {
      const dir = path.join(this.dir, 'probe');
      await fs.promises.mkdir(dir, { recursive: true });
      const tmp = path.join(dir, `${contentHash}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
      await fs.promises.writeFile(tmp, JSON.stringify(info));
      await fs.promises.rename(tmp, path.join(dir, `${contentHash}.json`));
    } catch {
      this.stats.errors++;
    }
  }
}
