/**
 * Zip container as written by `torch.save` (PyTorch's `PyTorchStreamWriter`, built on miniz).
 *
 * Reading: the end-of-central-directory record (and its ZIP64 form for archives > 4 GB) is located
 * from the end of the file, then the central directory lists the entries. Entries are stored
 * (method 0) or deflated (method 8). Every offset and length is checked against the file size, entry
 * data ranges must not overlap one another or the central directory (so reading all entries never
 * reads more than the file), deflate output is capped by the declared size, and CRC-32 is verified.
 * Entries are read one at a time from a {@link ByteSource}, so a large checkpoint is never loaded
 * whole.
 *
 * Writing: {@link zipChunks} yields the bytes of an archive that PyTorch reads: entries stored
 * uncompressed, each entry's data aligned to 64 bytes by padding in a `FB` extra field (exactly
 * like PyTorch's writer), ZIP64 fields when offsets or sizes reach 4 GB.
 */

import * as zlib from 'zlib';
import { crc32 } from './crc32';
import { check, corrupt, unsupported } from './errors';
import type { ByteSource } from './source';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const EOCD_SIZE = 22;
const LOCATOR64_SIZE = 20;
const EOCD64_SIZE = 56;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/** deflate cannot expand data by more than ~1032:1; a larger claimed ratio is a lie (zip bomb). */
const MAX_DEFLATE_RATIO = 1032;

/** PyTorch aligns each entry's data to this many bytes. */
export const ZIP_ALIGNMENT = 64;

/** One central-directory record. Sizes and offsets are plain numbers (< 2^53). */
export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflated */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** offset of the local file header */
  readonly localHeaderOffset: number;
  /** the entry's bytes must end before this offset (next entry's header or the central directory) */
  readonly limit: number;
}

export interface ZipReadOptions {
  /** verify CRC-32 (default true; a stored CRC of 0 on non-empty data is treated as "not computed") */
  verifyCrc?: boolean;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) corrupt(`zip: ${what} ${v} is too large`);
  return Number(v);
}

const utf8 = new TextDecoder('utf-8');

/** Reads the central directory of a zip archive and its entries, on demand. */
export class ZipReader {
  private readonly byName = new Map<string, ZipEntry>();

  private constructor(private readonly source: ByteSource, readonly entries: readonly ZipEntry[]) {
    for (const e of entries) this.byName.set(e.name, e);
  }

  /** Parses the end records and the central directory of `source`. */
  static async open(source: ByteSource): Promise<ZipReader> {
    const size = source.size;
    check(size >= EOCD_SIZE, `zip: file is too short (${size} bytes) to hold an end-of-central-directory record`);
    const tailLen = Math.min(size, EOCD_SIZE + U16_MAX + LOCATOR64_SIZE);
    const tailStart = size - tailLen;
    const tail = await source.read(tailStart, tailLen, 'zip end records');
    const tdv = view(tail);
    // Find the EOCD signature; prefer one whose comment ends exactly at the end of the file.
    let eocd = -1;
    let fallback = -1;
    for (let p = tail.length - EOCD_SIZE; p >= 0; p--) {
      if (tdv.getUint32(p, true) !== SIG_EOCD) continue;
      const commentLen = tdv.getUint16(p + 20, true);
      if (p + EOCD_SIZE + commentLen === tail.length) { eocd = p; break; }
      if (fallback < 0 && p + EOCD_SIZE + commentLen <= tail.length) fallback = p;
    }
    if (eocd < 0) eocd = fallback;
    check(eocd >= 0, 'zip: no end-of-central-directory record (not a zip file, or truncated)');
    const eocdPos = tailStart + eocd;
    let disk = tdv.getUint16(eocd + 4, true);
    let cdDisk = tdv.getUint16(eocd + 6, true);
    let count = tdv.getUint16(eocd + 10, true);
    let diskCount = tdv.getUint16(eocd + 8, true);
    let cdSize = tdv.getUint32(eocd + 12, true);
    let cdOffset = tdv.getUint32(eocd + 16, true);
    let cdEnd = eocdPos; // the central directory must end before this
    // ZIP64: a locator right before the EOCD points to the ZIP64 end record.
    if (eocd >= LOCATOR64_SIZE && tdv.getUint32(eocd - LOCATOR64_SIZE, true) === SIG_LOCATOR64) {
      const loc = eocd - LOCATOR64_SIZE;
      const rec64 = u64(tdv, loc + 8, 'ZIP64 end record offset');
      check(rec64 + EOCD64_SIZE <= eocdPos - LOCATOR64_SIZE,
        `zip: ZIP64 end record at ${rec64} overlaps the end of the file`);
      const r = await source.read(rec64, EOCD64_SIZE, 'ZIP64 end record');
      const rdv = view(r);
      check(rdv.getUint32(0, true) === SIG_EOCD64, 'zip: bad ZIP64 end record signature');
      disk = rdv.getUint32(16, true);
      cdDisk = rdv.getUint32(20, true);
      diskCount = u64(rdv, 24, 'ZIP64 entry count');
      count = u64(rdv, 32, 'ZIP64 entry count');
      cdSize = u64(rdv, 40, 'ZIP64 central directory size');
      cdOffset = u64(rdv, 48, 'ZIP64 central directory offset');
      cdEnd = rec64;
    } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      corrupt('zip: end record needs ZIP64 values but there is no ZIP64 locator');
    }
    if (disk !== 0 || cdDisk !== 0 || diskCount !== count) unsupported('zip: multi-disk archives are not supported');
    check(cdOffset + cdSize <= cdEnd,
      `zip: central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${cdEnd}`);
    check(count * CENTRAL_SIZE <= cdSize, `zip: ${count} entries cannot fit in a ${cdSize}-byte central directory`);
    const cd = await source.read(cdOffset, cdSize, 'zip central directory');
    const entries = parseCentralDirectory(cd, count, cdOffset);
    return new ZipReader(source, entries);
  }

  /** The entry called `name`, if any. */
  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * Reads the local header of `entry` together with its data in one read (the region up to the next
   * record, capped by the largest possible header) and returns the raw (still compressed) data.
   */
  private async rawData(entry: ZipEntry): Promise<Uint8Array> {
    const at = entry.localHeaderOffset;
    const span = Math.min(entry.limit - at, LOCAL_SIZE + 2 * U16_MAX + entry.compressedSize);
    const region = await this.source.read(at, span, `zip entry '${entry.name}'`);
    const dv = view(region);
    check(dv.getUint32(0, true) === SIG_LOCAL, `zip: bad local header signature for '${entry.name}'`);
    const nameLen = dv.getUint16(26, true);
    const extraLen = dv.getUint16(28, true);
    const start = LOCAL_SIZE + nameLen + extraLen;
    check(at + start + entry.compressedSize <= entry.limit,
      `zip: data of '${entry.name}' [${at + start}, ${at + start + entry.compressedSize}) overlaps the next record at ${entry.limit}`);
    check(utf8.decode(region.subarray(LOCAL_SIZE, LOCAL_SIZE + nameLen)) === entry.name,
      `zip: local header name differs from the central directory for '${entry.name}'`);
    return region.subarray(start, start + entry.compressedSize);
  }

  /** The uncompressed bytes of `entry` (validated; see the module comment). */
  async read(entry: ZipEntry, opts: ZipReadOptions = {}): Promise<Uint8Array> {
    if (entry.flags & 1) unsupported(`zip: entry '${entry.name}' is encrypted`);
    let data: Uint8Array;
    if (entry.method === 0) {
      check(entry.compressedSize === entry.uncompressedSize,
        `zip: stored entry '${entry.name}' has compressed size ${entry.compressedSize} != size ${entry.uncompressedSize}`);
      data = await this.rawData(entry);
    } else if (entry.method === 8) {
      check(entry.uncompressedSize <= entry.compressedSize * MAX_DEFLATE_RATIO + 64,
        `zip: deflated entry '${entry.name}' claims an impossible size ${entry.uncompressedSize} from ${entry.compressedSize} bytes`);
      data = inflate(await this.rawData(entry), entry);
    } else {
      unsupported(`zip: entry '${entry.name}' uses compression method ${entry.method} (only stored and deflate are supported)`);
    }
    if (opts.verifyCrc !== false && !(entry.crc32 === 0 && data.length > 0)) {
      const c = crc32(data);
      check(c === entry.crc32, `zip: CRC-32 mismatch in '${entry.name}' (stored ${entry.crc32}, computed ${c})`);
    }
    return data;
  }
}

function inflate(packed: Uint8Array, entry: ZipEntry): Uint8Array {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(packed, { maxOutputLength: Math.max(entry.uncompressedSize, 1) });
  } catch (e) {
    corrupt(`zip: cannot inflate '${entry.name}': ${(e as Error).message}`);
  }
  check(out.length === entry.uncompressedSize,
    `zip: '${entry.name}' inflated to ${out.length} bytes, expected ${entry.uncompressedSize}`);
  return out;
}

/** Parses `count` central-directory records from `cd` (which starts at file offset `cdOffset`). */
function parseCentralDirectory(cd: Uint8Array, count: number, cdOffset: number): ZipEntry[] {
  const dv = view(cd);
  const raw: Omit<ZipEntry, 'limit'>[] = [];
  const seen = new Set<string>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    check(p + CENTRAL_SIZE <= cd.length, `zip: central directory record ${i} is truncated`);
    check(dv.getUint32(p, true) === SIG_CENTRAL, `zip: bad central directory signature in record ${i}`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let local = dv.getUint32(p + 42, true);
    const end = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    check(end <= cd.length, `zip: central directory record ${i} runs past the directory`);
    const name = utf8.decode(cd.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));
    // ZIP64 extended information: only the saturated fields are present, in this order.
    if (usize === U32_MAX || csize === U32_MAX || local === U32_MAX) {
      let q = p + CENTRAL_SIZE + nameLen;
      const qEnd = q + extraLen;
      let found = false;
      while (q + 4 <= qEnd) {
        const id = dv.getUint16(q, true);
        const len = dv.getUint16(q + 2, true);
        check(q + 4 + len <= qEnd, `zip: extra field of '${name}' runs past its record`);
        if (id === 1) {
          let r = q + 4;
          const take = (what: string): number => {
            check(r + 8 <= q + 4 + len, `zip: ZIP64 field of '${name}' lacks the ${what}`);
            const v = u64(dv, r, what);
            r += 8;
            return v;
          };
          if (usize === U32_MAX) usize = take('uncompressed size');
          if (csize === U32_MAX) csize = take('compressed size');
          if (local === U32_MAX) local = take('local header offset');
          found = true;
          break;
        }
        q += 4 + len;
      }
      check(found, `zip: entry '${name}' needs a ZIP64 extra field but has none`);
    }
    check(!seen.has(name), `zip: duplicate entry name '${name}'`);
    seen.add(name);
    check(local + LOCAL_SIZE + csize <= cdOffset,
      `zip: entry '${name}' (header at ${local}, ${csize} bytes) runs into the central directory at ${cdOffset}`);
    raw.push({ name, method, flags, crc32: crc, compressedSize: csize, uncompressedSize: usize, localHeaderOffset: local });
    p = end;
  }
  // Entries must not overlap: each one ends before the next header (or the central directory).
  const order = raw.map((_, i) => i).sort((a, b) => raw[a].localHeaderOffset - raw[b].localHeaderOffset);
  const limits = new Array<number>(raw.length);
  for (let k = 0; k < order.length; k++) {
    const e = raw[order[k]];
    const limit = k + 1 < order.length ? raw[order[k + 1]].localHeaderOffset : cdOffset;
    check(e.localHeaderOffset + LOCAL_SIZE + e.compressedSize <= limit,
      `zip: entry '${e.name}' overlaps the next record at ${limit}`);
    limits[order[k]] = limit;
  }
  return raw.map((e, i) => ({ ...e, limit: limits[i] }));
}

// ---------------------------------------------------------------------------------------------
// Writing

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
