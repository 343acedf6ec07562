/**
 * Zip writer producing what PyTorch's `torch.save` writes: entries stored uncompressed, each
 * entry's data aligned to 64 bytes by padding in a `FB` extra field (PyTorch's `getPadding()`),
 * CRC-32 filled in, ZIP64 records when offsets or sizes reach 4 GB (or when forced).
 */

import { crc32 } from './crc32';
import {
  CENTRAL_SIZE,
  EOCD64_SIZE,
  EOCD_SIZE,
  LOCAL_SIZE,
  LOCATOR64_SIZE,
  SIG_CENTRAL,
  SIG_EOCD,
  SIG_EOCD64,
  SIG_LOCAL,
  SIG_LOCATOR64,
  U16_MAX,
  U32_MAX,
} from './zip';

/** PyTorch aligns each entry's data to this many bytes. */
export const ZIP_ALIGNMENT = 64;

/** One entry to write: stored uncompressed. */
export interface ZipWriteEntry {
  /** full name inside the archive, e.g. `model/data/0` */
  name: string;
  /** the bytes, or a function producing them when the entry is reached (keeps one in memory at a time) */
  data: Uint8Array | (() => Uint8Array);
}

export interface ZipWriteOptions {
  /** align each entry's data to this many bytes (default 64, like PyTorch) */
  alignment?: number;
  /** write ZIP64 records even for small archives (for tests) */
  forceZip64?: boolean;
}

interface CentralRecord {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
  utf8: boolean;
}

function le(bytes: number): { buf: Uint8Array; dv: DataView } {
  const buf = new Uint8Array(bytes);
  return { buf, dv: new DataView(buf.buffer) };
}

/**
 * Yields the bytes of a zip archive holding `entries` (stored, data aligned; see module comment).
 * Consumers write the chunks in order; entry data is yielded as-is (no copy).
 */
export function* zipChunks(entries: Iterable<ZipWriteEntry>, opts: ZipWriteOptions = {}): Generator<Uint8Array> {
  const align = opts.alignment ?? ZIP_ALIGNMENT;
  const force = opts.forceZip64 === true;
  const central: CentralRecord[] = [];
  let pos = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = typeof entry.data === 'function' ? entry.data() : entry.data;
    const size = data.length;
    const crc = crc32(data);
    const zip64 = force || size >= U32_MAX || pos >= U32_MAX;
    const z64Len = zip64 ? 20 : 0;
    // PyTorch's getPadding(): pad so that the data starts on an `align` boundary.
    const start = pos + LOCAL_SIZE + name.length + z64Len + 4;
    const pad = (align - (start % align)) % align;
    const { buf, dv } = le(LOCAL_SIZE + name.length + z64Len + 4 + pad);
    dv.setUint32(0, SIG_LOCAL, true);
    dv.setUint16(4, zip64 ? 45 : 20, true);
    dv.setUint16(6, isAscii(name) ? 0 : 0x0800, true);
    dv.setUint16(8, 0, true); // stored
    dv.setUint32(14, crc, true);
    dv.setUint32(18, zip64 ? U32_MAX : size, true);
    dv.setUint32(22, zip64 ? U32_MAX : size, true);
    dv.setUint16(26, name.length, true);
    dv.setUint16(28, z64Len + 4 + pad, true);
    buf.set(name, LOCAL_SIZE);
    let q = LOCAL_SIZE + name.length;
    if (zip64) {
      dv.setUint16(q, 1, true);
      dv.setUint16(q + 2, 16, true);
      dv.setBigUint64(q + 4, BigInt(size), true);
      dv.setBigUint64(q + 12, BigInt(size), true);
      q += 20;
    }
    buf[q] = 0x46; // 'F'
    buf[q + 1] = 0x42; // 'B'
    dv.setUint16(q + 2, pad, true);
    buf.fill(0x5a, q + 4, q + 4 + pad); // 'Z'
    central.push({ name, crc, size, offset: pos, utf8: !isAscii(name) });
    yield buf;
    pos += buf.length;
    if (size > 0) yield data;
    pos += size;
  }
  // Central directory.
  const cdOffset = pos;
  for (const r of central) {
    const need64 = force || r.size >= U32_MAX || r.offset >= U32_MAX;
    const fields: number[] = [];
    if (force || r.size >= U32_MAX) fields.push(r.size, r.size);
    if (force || r.offset >= U32_MAX) fields.push(r.offset);
    const extraLen = need64 ? 4 + 8 * fields.length : 0;
    const { buf, dv } = le(CENTRAL_SIZE + r.name.length + extraLen);
    dv.setUint32(0, SIG_CENTRAL, true);
    dv.setUint16(4, need64 ? 45 : 20, true);
    dv.setUint16(6, need64 ? 45 : 20, true);
    dv.setUint16(8, r.utf8 ? 0x0800 : 0, true);
    dv.setUint32(16, r.crc, true);
    dv.setUint32(20, force || r.size >= U32_MAX ? U32_MAX : r.size, true);
    dv.setUint32(24, force || r.size >= U32_MAX ? U32_MAX : r.size, true);
    dv.setUint16(28, r.name.length, true);
    dv.setUint16(30, extraLen, true);
    dv.setUint32(42, force || r.offset >= U32_MAX ? U32_MAX : r.offset, true);
    buf.set(r.name, CENTRAL_SIZE);
    if (need64) {
      const q = CENTRAL_SIZE + r.name.length;
      dv.setUint16(q, 1, true);
      dv.setUint16(q + 2, 8 * fields.length, true);
      fields.forEach((v, i) => dv.setBigUint64(q + 4 + 8 * i, BigInt(v), true));
    }
    yield buf;
    pos += buf.length;
  }
  const cdSize = pos - cdOffset;
  const n = central.length;
  const end64 = force || n >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  if (end64) {
    const { buf, dv } = le(EOCD64_SIZE + LOCATOR64_SIZE);
    dv.setUint32(0, SIG_EOCD64, true);
    dv.setBigUint64(4, BigInt(EOCD64_SIZE - 12), true);
    dv.setUint16(12, 45, true);
    dv.setUint16(14, 45, true);
    dv.setBigUint64(24, BigInt(n), true);
    dv.setBigUint64(32, BigInt(n), true);
    dv.setBigUint64(40, BigInt(cdSize), true);
    dv.setBigUint64(48, BigInt(cdOffset), true);
    dv.setUint32(EOCD64_SIZE, SIG_LOCATOR64, true);
    dv.setBigUint64(EOCD64_SIZE + 8, BigInt(pos), true);
    dv.setUint32(EOCD64_SIZE + 16, 1, true);
    yield buf;
    pos += buf.length;
  }
  const { buf, dv } = le(EOCD_SIZE);
  dv.setUint32(0, SIG_EOCD, true);
  dv.setUint16(8, end64 ? U16_MAX : n, true);
  dv.setUint16(10, end64 ? U16_MAX : n, true);
  dv.setUint32(12, end64 ? U32_MAX : cdSize, true);
  dv.setUint32(16, end64 ? U32_MAX : cdOffset, true);
  yield buf;
}

function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] > 0x7f) return false;
  return true;
}

/** The whole archive in one buffer (for tests and small files). */
export function zipToBuffer(entries: Iterable<ZipWriteEntry>, opts: ZipWriteOptions = {}): Uint8Array {
  return Buffer.concat([...zipChunks(entries, opts)]);
}
