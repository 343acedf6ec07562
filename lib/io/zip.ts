/**
 * Zip reader for the container written by `torch.save` (PyTorch's `PyTorchStreamWriter`, built on
 * miniz); the writer is in zip_writer.ts.
 *
 * The end-of-central-directory record (and its ZIP64 form for archives > 4 GB) is located
 * from the end of the file, then the central directory lists the entries. Entries are stored
 * (method 0) or deflated (method 8). Every offset and length is checked against the file size, entry
 * data ranges must not overlap one another or the central directory (so reading all entries never
 * reads more than the file), deflate output is capped by the declared size, and CRC-32 is verified.
 * Entries are read one at a time from a {@link ByteSource}, so a large checkpoint is never loaded
 * whole.
 */

import * as zlib from 'zlib';
import { crc32, type Crc32 } from './crc32';
import { CheckpointError, check, corrupt, unsupported } from './errors';
import type { ByteSource } from './source';

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_EOCD = 0x06054b50;
export const SIG_EOCD64 = 0x06064b50;
export const SIG_LOCATOR64 = 0x07064b50;
export const EOCD_SIZE = 22;
export const LOCATOR64_SIZE = 20;
export const EOCD64_SIZE = 56;
export const CENTRAL_SIZE = 46;
export const LOCAL_SIZE = 30;
export const U16_MAX = 0xffff;
export const U32_MAX = 0xffffffff;
/** deflate cannot expand data by more than ~1032:1; a larger claimed ratio is a lie (zip bomb). */
const MAX_DEFLATE_RATIO = 1032;

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

  private constructor(
    private readonly source: ByteSource,
    readonly entries: readonly ZipEntry[],
  ) {
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
      if (p + EOCD_SIZE + commentLen === tail.length) {
        eocd = p;
        break;
      }
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
      check(rec64 + EOCD64_SIZE <= eocdPos - LOCATOR64_SIZE, `zip: ZIP64 end record at ${rec64} overlaps the end of the file`);
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
    check(cdOffset + cdSize <= cdEnd, `zip: central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${cdEnd}`);
    check(count * CENTRAL_SIZE <= cdSize, `zip: ${count} entries cannot fit in a ${cdSize}-byte central directory`);
    const cd = await source.read(cdOffset, cdSize, 'zip central directory');
    const entries = parseCentralDirectory(cd, count, cdOffset);
    return new ZipReader(source, entries);
  }

  /** The entry called `name`, if any. */
  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  private readonly offsets = new Map<ZipEntry, number>();
  private readonly locating = new Map<ZipEntry, Promise<number>>();

  /**
   * Reads and checks the local header of `entry` (signature, name, data range inside the entry's
   * region) and returns the file offset of its (still compressed) data. The result is remembered,
   * so a caller can locate an entry ahead of reading it: the read of a located entry is issued at
   * once, without waiting for a header read first (used to keep the next storage's read in flight
   * while the previous one's CRC is checked).
   */
  locate(entry: ZipEntry): Promise<number> {
    const known = this.offsets.get(entry);
    if (known !== undefined) return Promise.resolve(known);
    let p = this.locating.get(entry);
    if (!p) {
      p = (async () => {
        check(this.byName.get(entry.name) === entry, `zip: '${entry.name}' is not an entry of this archive`);
        return this.dataOffset(entry);
      })().then(
        (off) => {
          this.offsets.set(entry, off);
          this.locating.delete(entry);
          return off;
        },
        (e: unknown) => {
          this.locating.delete(entry);
          throw e;
        },
      );
      this.locating.set(entry, p);
    }
    return p;
  }

  private async dataOffset(entry: ZipEntry): Promise<number> {
    const at = entry.localHeaderOffset;
    const nameBytes = Buffer.byteLength(entry.name, 'utf8');
    const head = await this.source.read(at, Math.min(entry.limit - at, LOCAL_SIZE + nameBytes), `zip entry '${entry.name}'`);
    check(head.length >= LOCAL_SIZE, `zip: local header of '${entry.name}' is truncated`);
    const dv = view(head);
    check(dv.getUint32(0, true) === SIG_LOCAL, `zip: bad local header signature for '${entry.name}'`);
    const nameLen = dv.getUint16(26, true);
    const extraLen = dv.getUint16(28, true);
    const start = at + LOCAL_SIZE + nameLen + extraLen;
    check(
      start + entry.compressedSize <= entry.limit,
      `zip: data of '${entry.name}' [${start}, ${start + entry.compressedSize}) overlaps the next record at ${entry.limit}`,
    );
    check(
      nameLen === nameBytes && utf8.decode(head.subarray(LOCAL_SIZE, LOCAL_SIZE + nameLen)) === entry.name,
      `zip: local header name differs from the central directory for '${entry.name}'`,
    );
    return start;
  }

  /** The raw (still compressed) data of `entry`. */
  private async rawData(entry: ZipEntry): Promise<Uint8Array> {
    return this.source.read(await this.locate(entry), entry.compressedSize, `zip entry '${entry.name}'`);
  }

  /** Checks the method, encryption and size claims of `entry` before anything is decompressed. */
  private static checkEntry(entry: ZipEntry): void {
    if (entry.flags & 1) unsupported(`zip: entry '${entry.name}' is encrypted`);
    if (entry.method === 0) {
      check(
        entry.compressedSize === entry.uncompressedSize,
        `zip: stored entry '${entry.name}' has compressed size ${entry.compressedSize} != size ${entry.uncompressedSize}`,
      );
    } else if (entry.method === 8) {
      check(
        entry.uncompressedSize <= entry.compressedSize * MAX_DEFLATE_RATIO + 64,
        `zip: deflated entry '${entry.name}' claims an impossible size ${entry.uncompressedSize} from ${entry.compressedSize} bytes`,
      );
    } else {
      unsupported(`zip: entry '${entry.name}' uses compression method ${entry.method} (only stored and deflate are supported)`);
    }
  }

  /** The uncompressed bytes of `entry` (validated; see the module comment). */
  async read(entry: ZipEntry, opts: ZipReadOptions = {}): Promise<Uint8Array> {
    ZipReader.checkEntry(entry);
    const raw = await this.rawData(entry);
    const data = entry.method === 0 ? raw : inflate(raw, entry);
    if (opts.verifyCrc !== false && !(entry.crc32 === 0 && data.length > 0)) {
      const c = crc32(data);
      check(c === entry.crc32, `zip: CRC-32 mismatch in '${entry.name}' (stored ${entry.crc32}, computed ${c})`);
    }
    return data;
  }

  /**
   * Reads the first `dest.length` uncompressed bytes of `entry` straight into `dest` (stored data
   * is read into it, deflated data inflated into it) with the validation of {@link read}: the whole
   * entry is read and CRC-checked, bytes past `dest.length` are checked and dropped.
   */
  async readInto(entry: ZipEntry, dest: Uint8Array, opts: ZipReadOptions = {}): Promise<void> {
    (await this.readIntoDeferred(entry, dest, opts))();
  }

  /**
   * {@link readInto} in two steps: the returned promise settles once the bytes are in `dest`; the
   * function it gives runs the CRC check (synchronously, throwing `ERR_CHECKPOINT_CORRUPT`), so a
   * caller can start the next read before checking this one. `dest` must not be trusted before.
   */
  async readIntoDeferred(entry: ZipEntry, dest: Uint8Array, opts: ZipReadOptions = {}): Promise<() => void> {
    ZipReader.checkEntry(entry);
    check(dest.length <= entry.uncompressedSize, `zip: '${entry.name}' holds ${entry.uncompressedSize} bytes, ${dest.length} were asked for`);
    const verify = opts.verifyCrc !== false;
    let crcOf: () => number;
    if (entry.method === 0) {
      const start = this.offsets.get(entry) ?? (await this.locate(entry));
      const what = `zip entry '${entry.name}'`;
      await this.source.readInto(start, dest, what);
      // Bytes beyond what the caller needs still count for the CRC (PyTorch never writes any).
      const rest: Uint8Array[] = [];
      for (let p = dest.length; p < entry.uncompressedSize; p += REST_CHUNK) {
        rest.push(await this.source.read(start + p, Math.min(REST_CHUNK, entry.uncompressedSize - p), what));
      }
      crcOf = () => rest.reduce((c, b) => crc32(b, c), crc32(dest));
    } else {
      const c = await inflateInto(await this.rawData(entry), entry, dest, verify ? crc32 : null);
      crcOf = () => c;
    }
    return () => {
      if (!verify || (entry.crc32 === 0 && entry.uncompressedSize > 0)) return;
      const c = crcOf();
      check(c === entry.crc32, `zip: CRC-32 mismatch in '${entry.name}' (stored ${entry.crc32}, computed ${c})`);
    };
  }
}

/** Size of the pieces in which bytes past the caller's buffer are read (stored entries). */
const REST_CHUNK = 1 << 24;

function inflate(packed: Uint8Array, entry: ZipEntry): Uint8Array {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(packed, { maxOutputLength: Math.max(entry.uncompressedSize, 1) });
  } catch (e) {
    corrupt(`zip: cannot inflate '${entry.name}': ${(e as Error).message}`);
  }
  check(out.length === entry.uncompressedSize, `zip: '${entry.name}' inflated to ${out.length} bytes, expected ${entry.uncompressedSize}`);
  return out;
}

/**
 * Inflates `packed` (the data of `entry`) in pieces, copying the first `dest.length` bytes of the
 * output into `dest`; the output must be exactly `entry.uncompressedSize` bytes (inflating stops
 * as soon as it exceeds that). Returns the CRC-32 of the whole output, computed with `crcFn` (0 without).
 */
function inflateInto(packed: Uint8Array, entry: ZipEntry, dest: Uint8Array, crcFn: Crc32 | null): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const z = zlib.createInflateRaw({ chunkSize: 1 << 20 });
    let pos = 0;
    let crc = 0;
    let done = false;
    const fail = (message: string): void => {
      if (done) return;
      done = true;
      z.destroy();
      reject(new CheckpointError(message, 'ERR_CHECKPOINT_CORRUPT'));
    };
    z.on('data', (chunk: Buffer) => {
      if (done) return;
      if (pos + chunk.length > entry.uncompressedSize) {
        fail(`zip: '${entry.name}' inflates to more than the ${entry.uncompressedSize} bytes it declares`);
        return;
      }
      if (pos < dest.length) dest.set(chunk.subarray(0, dest.length - pos), pos);
      if (crcFn) crc = crcFn(chunk, crc);
      pos += chunk.length;
    });
    z.on('error', (e: Error) => fail(`zip: cannot inflate '${entry.name}': ${e.message}`));
    z.on('end', () => {
      if (done) return;
      if (pos !== entry.uncompressedSize) {
        fail(`zip: '${entry.name}' inflated to ${pos} bytes, expected ${entry.uncompressedSize}`);
        return;
      }
      done = true;
      resolve(crcFn ? crc : 0);
    });
    z.end(packed);
  });
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
    check(local + LOCAL_SIZE + csize <= cdOffset, `zip: entry '${name}' (header at ${local}, ${csize} bytes) runs into the central directory at ${cdOffset}`);
    raw.push({ name, method, flags, crc32: crc, compressedSize: csize, uncompressedSize: usize, localHeaderOffset: local });
    p = end;
  }
  // Entries must not overlap: each one ends before the next header (or the central directory).
  const order = raw.map((_, i) => i).sort((a, b) => raw[a].localHeaderOffset - raw[b].localHeaderOffset);
  const limits = new Array<number>(raw.length);
  for (let k = 0; k < order.length; k++) {
    const e = raw[order[k]];
    const limit = k + 1 < order.length ? raw[order[k + 1]].localHeaderOffset : cdOffset;
    check(e.localHeaderOffset + LOCAL_SIZE + e.compressedSize <= limit, `zip: entry '${e.name}' overlaps the next record at ${limit}`);
    limits[order[k]] = limit;
  }
  return raw.map((e, i) => ({ ...e, limit: limits[i] }));
}
