/**
 * safetensors (https://github.com/huggingface/safetensors) read and write.
 *
 * Layout: `u64 N` (little-endian) | N bytes of JSON header | data. The header maps tensor names to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the data section) and may hold
 * `__metadata__`, a string -> string map. Validation follows the reference implementation:
 * N <= 100 MB and inside the file, JSON strict (no duplicate keys), dtype known, shape of
 * non-negative ints, `end - begin == numel * itemsize`, and the tensors tile the data section
 * exactly (sorted by offset, no overlap, no gap, no trailing bytes).
 */

import { check, corrupt, invalid } from './errors';
import { parseJsonStrict, type JsonValue } from './json_strict';
import {
  DTYPE_INFO,
  MAX_DIMS,
  RawStorage,
  RawTensor,
  deliverStorage,
  dtypeFromSafetensors,
  numelOf,
  storageTarget,
  type RawDType,
  type StorageReadHooks,
} from './raw';
import type { ByteSource } from './source';

/** Largest header accepted (same bound as the reference implementation). */
export const MAX_SAFETENSORS_HEADER = 100_000_000;

export interface SafetensorsContents {
  /** tensors in header order; each owns its own storage (key = tensor name) */
  tensors: Map<string, RawTensor>;
  /** the `__metadata__` map, or null when absent */
  metadata: Map<string, string> | null;
}

interface HeaderEntry {
  name: string;
  dtype: RawDType;
  shape: number[];
  begin: number;
  end: number;
}

function asIndex(v: JsonValue | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) corrupt(`safetensors: ${what} must be a non-negative integer`);
  return v;
}

/** Parses and validates a header (`dataLength` = bytes after the header). */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataLength: number): { entries: HeaderEntry[]; metadata: Map<string, string> | null } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    corrupt('safetensors: header is not valid UTF-8');
  }
  const root = parseJsonStrict(text, 'safetensors header');
  if (!(root instanceof Map)) corrupt('safetensors: header must be a JSON object');
  let metadata: Map<string, string> | null = null;
  const entries: HeaderEntry[] = [];
  for (const [name, v] of root) {
    if (name === '__metadata__') {
      if (!(v instanceof Map)) corrupt('safetensors: __metadata__ must be an object');
      metadata = new Map();
      for (const [k, s] of v) {
        if (typeof s !== 'string') corrupt(`safetensors: __metadata__["${k}"] must be a string`);
        metadata.set(k, s);
      }
      continue;
    }
    if (!(v instanceof Map)) corrupt(`safetensors: entry "${name}" must be an object`);
    for (const k of v.keys()) {
      check(k === 'dtype' || k === 'shape' || k === 'data_offsets', `safetensors: entry "${name}" has unknown field "${k}"`);
    }
    const tag = v.get('dtype');
    if (typeof tag !== 'string') corrupt(`safetensors: entry "${name}" lacks a dtype`);
    const dtype = dtypeFromSafetensors(tag);
    if (!dtype) corrupt(`safetensors: entry "${name}" has unknown or unsupported dtype "${tag.slice(0, 20)}"`);
    const shapeV = v.get('shape');
    if (!Array.isArray(shapeV) || shapeV.length > MAX_DIMS) corrupt(`safetensors: entry "${name}" has an invalid shape`);
    const shape = shapeV.map((d, i) => asIndex(d, `"${name}" shape[${i}]`));
    const off = v.get('data_offsets');
    if (!Array.isArray(off) || off.length !== 2) corrupt(`safetensors: entry "${name}" needs data_offsets [begin, end]`);
    const begin = asIndex(off[0], `"${name}" begin offset`);
    const end = asIndex(off[1], `"${name}" end offset`);
    check(begin <= end && end <= dataLength, `safetensors: "${name}" data [${begin}, ${end}) lies outside the ${dataLength}-byte data section`);
    const nbytes = numelOf(shape) * DTYPE_INFO[dtype].itemsize;
    check(end - begin === nbytes, `safetensors: "${name}" (${dtype} [${shape.join(', ')}]) needs ${nbytes} bytes but its offsets span ${end - begin}`);
    entries.push({ name, dtype, shape, begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    check(
      e.begin === at,
      e.begin < at
        ? `safetensors: "${e.name}" overlaps another tensor at byte ${e.begin}`
        : `safetensors: gap before "${e.name}" (bytes [${at}, ${e.begin}) belong to no tensor)`,
    );
    at = e.end;
  }
  check(at === dataLength, `safetensors: ${dataLength - at} trailing bytes after the last tensor`);
  return { entries, metadata };
}

/**
 * Reads a safetensors file; each tensor is read into its own buffer (a view for in-memory input), or
 * into the caller's memory with `allocStorage`.
 */
export async function readSafetensors(source: ByteSource, hooks: StorageReadHooks = {}): Promise<SafetensorsContents> {
  check(source.size >= 8, `safetensors: file too short (${source.size} bytes)`);
  const head = await source.read(0, 8, 'safetensors header length');
  const n64 = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  check(n64 <= BigInt(MAX_SAFETENSORS_HEADER), `safetensors: header length ${n64} exceeds ${MAX_SAFETENSORS_HEADER}`);
  const n = Number(n64);
  check(8 + n <= source.size, `safetensors: header length ${n} runs past the end of the file (${source.size} bytes)`);
  const header = await source.read(8, n, 'safetensors header');
  const dataStart = 8 + n;
  const { entries, metadata } = parseSafetensorsHeader(header, source.size - dataStart);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    const storage = new RawStorage(e.name, e.dtype, numelOf(e.shape), null);
    tensors.set(e.name, new RawTensor({ storage, shape: e.shape }));
    const what = `safetensors tensor "${e.name}"`;
    const dest = storageTarget(storage, hooks);
    let bytes: Uint8Array;
    if (dest) {
      await source.readInto(dataStart + e.begin, dest, what);
      bytes = dest;
    } else {
      bytes = await source.read(dataStart + e.begin, e.end - e.begin, what);
    }
    await deliverStorage(storage, bytes, hooks);
  }
  return { tensors, metadata };
}

/** Row-major bytes of `t`, taking them from the storage's provider when the storage is not loaded. */
function tensorBytes(t: RawTensor): Uint8Array {
  const s = t.storage;
  if (s.loaded || !s.provider) return t.contiguousBytes();
  const b = s.provider();
  const tmp = new RawStorage(s.key, s.dtype, s.numel, b, s.location);
  return new RawTensor({ storage: tmp, shape: t.shape, stride: t.stride, storageOffset: t.storageOffset }).contiguousBytes();
}

/**
 * The bytes of a safetensors file holding `tensors` (made contiguous; views are copied) and an
 * optional string metadata map, as chunks to write in order. Tensor bytes are produced one at a
 * time as the chunks are consumed (storages with a `provider` are fetched then).
 */
export function* safetensorsChunks(
  tensors: Iterable<[string, RawTensor]>,
  metadata?: Map<string, string> | Record<string, string> | null,
): Generator<Uint8Array> {
  // The header is assembled by hand so that it keeps the caller's order (an object would move
  // integer-like names such as "0" to the front).
  const parts: string[] = [];
  if (metadata) {
    const md: Record<string, string> = {};
    for (const [k, v] of metadata instanceof Map ? metadata : Object.entries(metadata)) {
      if (typeof v !== 'string') invalid(`safetensors metadata "${k}" must be a string`);
      Object.defineProperty(md, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    parts.push(`"__metadata__":${JSON.stringify(md)}`);
  }
  const list: RawTensor[] = [];
  const seen = new Set<string>();
  let at = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') invalid('a tensor cannot be called "__metadata__" in safetensors');
    if (seen.has(name)) invalid(`duplicate tensor name "${name}"`);
    if (!(t instanceof RawTensor)) invalid(`safetensors entry "${name}" is not a tensor`);
    if (!t.storage.loaded && !t.storage.provider) invalid(`safetensors entry "${name}": its storage holds no data`);
    seen.add(name);
    const nbytes = t.numel * DTYPE_INFO[t.dtype].itemsize;
    const entry = { dtype: DTYPE_INFO[t.dtype].safetensors, shape: [...t.shape], data_offsets: [at, at + nbytes] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    list.push(t);
    at += nbytes;
  }
  let json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  yield len;
  yield json;
  for (const t of list) {
    const b = tensorBytes(t);
    if (b.length > 0) yield b;
  }
}
