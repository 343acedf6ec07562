/**
 * Atomic file replacement: write a temporary file in the target's directory, fsync it, rename it
 * over the target, then fsync the directory. A crash at any point leaves either the old file or the
 * complete new one, never a torn mix.
 */

import { constants, promises as fsp } from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';

/** Largest single write handed to the OS (some platforms reject writes of 2 GiB or more). */
const MAX_WRITE = 1 << 30;

async function writeAll(fh: fsp.FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const n = Math.min(chunk.length - off, MAX_WRITE);
    const { bytesWritten } = await fh.write(chunk, off, n);
    off += bytesWritten;
  }
}

/** A temporary name next to `file` (same directory, so the final rename stays on one filesystem). */
function tempName(file: string): { dir: string; tmp: string } {
  const dir = path.dirname(path.resolve(file));
  return { dir, tmp: path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`) };
}

/** Whether a base name is one of tempName's temporary files. */
const TEMP_NAME = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temporary files that killed writers left in `dir` (a temporary file is never a complete
 * target: the rename is the commit). Only for a directory no other process is writing into. Returns
 * the removed names; a missing `dir` has none.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const stale = names.filter((n) => TEMP_NAME.test(n));
  for (const n of stale) await fsp.rm(path.join(dir, n), { force: true });
  return stale;
}

/** The existing file's permission bits, or null for a new file. */
async function modeOf(file: string): Promise<number | null> {
  try {
    return (await fsp.stat(file)).mode & 0o777;
  } catch {
    return null;
  }
}

/** Renames the complete, synced `tmp` over `file` (removing tmp on failure) and syncs the directory. */
async function commit(tmp: string, file: string, dir: string): Promise<void> {
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDir(dir);
}

/** Makes renames and removals in `dir` durable. Some platforms cannot fsync a directory; that is not an error. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // EISDIR / EPERM / EINVAL on platforms without directory fsync
  }
}

/**
 * Writes `chunks` (in order) to `file` atomically. The temporary file is removed on failure.
 * If `file` already exists its permission bits are kept.
 */
export async function writeFileAtomic(file: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const { dir, tmp } = tempName(file);
  const fh = await fsp.open(tmp, 'wx', (await modeOf(file)) ?? 0o666); // new file: default mode (minus umask)
  try {
    for (const c of chunks) await writeAll(fh, c);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await commit(tmp, file, dir);
}

/** Copies `src` to `file` atomically (the kernel copies the bytes; nothing is re-serialised). */
export async function copyFileAtomic(src: string, file: string): Promise<void> {
  const { dir, tmp } = tempName(file);
  try {
    await fsp.copyFile(src, tmp, constants.COPYFILE_EXCL);
    const mode = await modeOf(file);
    if (mode !== null) await fsp.chmod(tmp, mode); // else the source's bits, as a new file
    const fh = await fsp.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await commit(tmp, file, dir);
}
