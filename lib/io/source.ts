/**
 * Random-access byte sources for the readers: an in-memory buffer, or an open file read piece by
 * piece (so a 700 MB checkpoint is never held twice: each storage is read into its own buffer, or
 * with `readInto` straight into memory the caller provides, such as a tensor's).
 */

import { promises as fsp } from 'fs';
import { corrupt } from './errors';

/** Reads `length` bytes at `offset`; both must lie inside `[0, size]` (checked). */
export interface ByteSource {
  /** total length in bytes */
  readonly size: number;
  /**
   * Bytes `[offset, offset + length)`. A buffer source returns a view (no copy); a file source
   * returns a fresh buffer. Out-of-range requests throw `ERR_CHECKPOINT_CORRUPT` naming `what`.
   */
  read(offset: number, length: number, what: string): Promise<Uint8Array>;
  /**
   * Reads bytes `[offset, offset + dest.length)` into `dest` (range-checked as {@link read}), e.g. a
   * view of a freshly allocated tensor, so that file bytes reach their destination in one copy.
   */
  readInto(offset: number, dest: Uint8Array, what: string): Promise<void>;
  close(): Promise<void>;
}

function checkRange(size: number, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    corrupt(`${what}: bytes [${offset}, ${offset + length}) lie outside the file (${size} bytes)`);
  }
}

/** A source over bytes already in memory. */
export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  async read(offset: number, length: number, what: string): Promise<Uint8Array> {
    return this.readSync(offset, length, what);
  }
  readSync(offset: number, length: number, what: string): Uint8Array {
    checkRange(this.size, offset, length, what);
    return this.bytes.subarray(offset, offset + length);
  }
  async readInto(offset: number, dest: Uint8Array, what: string): Promise<void> {
    dest.set(this.readSync(offset, dest.length, what));
  }
  async close(): Promise<void> {}
}

/** A source over an open file; every `read` allocates exactly the bytes asked for. */
export class FileSource implements ByteSource {
  private constructor(
    private readonly fh: fsp.FileHandle,
    readonly size: number,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<FileSource> {
    const fh = await fsp.open(path, 'r');
    try {
      const st = await fh.stat();
      return new FileSource(fh, st.size, path);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /**
   * A source over a file handle the caller opened; `close()` then leaves the handle open unless
   * `own` is true.
   */
  static async fromHandle(fh: fsp.FileHandle, name = 'file', own = false): Promise<FileSource> {
    const src = new FileSource(fh, (await fh.stat()).size, name);
    src.owned = own;
    return src;
  }

  private owned = true;

  async read(offset: number, length: number, what: string): Promise<Uint8Array> {
    checkRange(this.size, offset, length, what);
    const out = Buffer.allocUnsafe(length);
    await this.fill(offset, out, what);
    return out;
  }

  async readInto(offset: number, dest: Uint8Array, what: string): Promise<void> {
    checkRange(this.size, offset, dest.length, what);
    await this.fill(offset, dest, what);
  }

  private async fill(offset: number, out: Uint8Array, what: string): Promise<void> {
    const length = out.length;
    let done = 0;
    while (done < length) {
      const chunk = Math.min(length - done, 1 << 30);
      const { bytesRead } = await this.fh.read(out, done, chunk, offset + done);
      if (bytesRead === 0) corrupt(`${what}: file ${this.path} ended early (it shrank while being read?)`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.fh.close();
  }
}

/** Opens `input` as a source: a path is opened as a file, bytes are wrapped. */
export async function openSource(input: string | Uint8Array): Promise<ByteSource> {
  return typeof input === 'string' ? FileSource.open(input) : new BufferSource(input);
}
