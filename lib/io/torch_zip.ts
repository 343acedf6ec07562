/**
 * The zip-based `torch.save` format (PyTorch >= 1.6):
 *
 * - `<archive>/data.pkl`: the object, pickled (protocol 2); tensors reference storages through
 *   persistent ids `('storage', torch.<T>Storage, key, location, numel)`
 * - `<archive>/data/<key>`: the raw little-endian bytes of each storage (`numel * itemsize`)
 * - `<archive>/byteorder`: `little` (torch >= 1.11; absent means little)
 * - `<archive>/version`: `3\n`
 *
 * `<archive>` is the file name without extension (PyTorch 1.x) or `archive` (newer PyTorch);
 * the reader finds `data.pkl` by its suffix and takes the prefix from it.
 */

import { check, corrupt, unsupported } from './errors';
import { unpickle, type StorageRef } from './pickle_reader';
import { pickle } from './pickle_writer';
import { RawStorage, deliverStorage, storageTarget, type RawValue, type StorageReadHooks } from './raw';
import type { ByteSource } from './source';
import { ZipReader, type ZipEntry, type ZipReadOptions } from './zip';
import { zipChunks, type ZipWriteOptions } from './zip_writer';

export interface TorchZipReadOptions extends ZipReadOptions, StorageReadHooks {}

/** Finds `<prefix>data.pkl` at the top of the archive; returns the prefix (`'name/'` or `''`). */
function findPrefix(zip: ZipReader): string {
  const hits = zip.entries.map((e) => e.name).filter((n) => n === 'data.pkl' || (n.endsWith('/data.pkl') && n.indexOf('/') === n.length - '/data.pkl'.length));
  if (hits.length === 0) {
    if (zip.entries.some((e) => e.name.endsWith('/constants.pkl') || e.name.includes('/code/'))) {
      unsupported('this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; load it with torch.jit.load');
    }
    corrupt('zip checkpoint: no data.pkl entry');
  }
  check(hits.length === 1, `zip checkpoint: several data.pkl entries (${hits.slice(0, 4).join(', ')})`);
  return hits[0].slice(0, hits[0].length - 'data.pkl'.length);
}

/**
 * Reads a zip checkpoint from `source`: the pickle first, then each referenced storage into its own
 * buffer (for an in-memory source, a view of it). Returns the object tree.
 */
export async function readTorchZip(source: ByteSource, opts: TorchZipReadOptions = {}): Promise<RawValue> {
  const zip = await ZipReader.open(source);
  const prefix = findPrefix(zip);
  const bo = zip.get(`${prefix}byteorder`);
  if (bo) {
    check(bo.uncompressedSize <= 16, 'zip checkpoint: byteorder record is too long');
    const order = Buffer.from(await zip.read(bo, opts))
      .toString('latin1')
      .trim();
    if (order === 'big') unsupported('zip checkpoint: big-endian files are not supported');
    check(order === 'little', `zip checkpoint: unknown byte order '${order.slice(0, 16)}'`);
  }
  const pklEntry = zip.get(`${prefix}data.pkl`);
  if (!pklEntry) corrupt('zip checkpoint: data.pkl vanished');
  const pkl = await zip.read(pklEntry, opts);
  const storages = new Map<string, RawStorage>();
  const loadStorage = (ref: StorageRef): RawStorage => {
    check(!ref.view, `zip checkpoint: storage '${ref.key}' has legacy view metadata`);
    let s = storages.get(ref.key);
    if (!s) {
      s = new RawStorage(ref.key, ref.dtype, ref.numel, null, ref.location);
      storages.set(ref.key, s);
    }
    check(s.dtype === ref.dtype && s.numel === ref.numel, `zip checkpoint: storage '${ref.key}' is referenced with different types or sizes`);
    return s;
  };
  const { value, end } = unpickle(pkl, { what: `${prefix}data.pkl`, loadStorage });
  check(end === pkl.length, `${prefix}data.pkl: ${pkl.length - end} bytes after the pickle's STOP`);
  // Check every record first, then read them with one read in flight while the previous storage
  // is handed over (its copy to a tensor overlaps with the next read).
  const jobs = [...storages].map(([key, s]) => {
    const entry = zip.get(`${prefix}data/${key}`);
    if (!entry) corrupt(`zip checkpoint: storage '${key}' is referenced but ${prefix}data/${key} is missing`);
    check(
      entry.uncompressedSize >= s.nbytes,
      `zip checkpoint: ${entry.name} holds ${entry.uncompressedSize} bytes, storage '${key}' (${s.dtype} x ${s.numel}) needs ${s.nbytes}`,
    );
    return { s, entry };
  });
  // With `allocStorage`, bytes go straight into the caller's memory and the CRC check of one
  // storage runs while the next one is read. Each read goes out together with a read of the next
  // entry's local header, so that the next read can be issued the moment the main thread gets to it.
  interface Fetched {
    bytes: Uint8Array;
    verify?: () => void;
  }
  const start = (i: number): Promise<Fetched> | null => {
    if (i >= jobs.length) return null;
    const { s, entry } = jobs[i];
    if (opts.allocStorage && i + 1 < jobs.length) zip.locate(jobs[i + 1].entry).catch(() => undefined);
    const dest = plausibleSize(entry) ? storageTarget(s, opts) : undefined;
    const p: Promise<Fetched> = dest
      ? zip.readIntoDeferred(entry, dest, opts).then((verify) => ({ bytes: dest, verify }))
      : zip.read(entry, opts).then((bytes) => ({ bytes }));
    p.catch(() => undefined); // handled below, or abandoned after an earlier failure
    return p;
  };
  let pending = start(0);
  for (let i = 0; i < jobs.length; i++) {
    const { bytes, verify } = await (pending as Promise<Fetched>);
    pending = start(i + 1);
    verify?.();
    const { s } = jobs[i];
    await deliverStorage(s, bytes.length === s.nbytes ? bytes : bytes.subarray(0, s.nbytes), opts);
  }
  return value;
}

/**
 * Whether memory may be set aside for `entry`'s declared size before reading it: always for stored
 * entries (their size is bounded by the file), for deflated ones only at a compression ratio that
 * tensor data plausibly has. A larger claim is inflated first (bounded by what it really holds)
 * and copied, so a small hostile file cannot make the caller allocate gigabytes.
 */
function plausibleSize(entry: ZipEntry): boolean {
  return entry.method === 0 || entry.uncompressedSize <= entry.compressedSize * 16 + (1 << 20);
}

/** The bytes to write for `s`: its own, or its provider's (length-checked). */
function storageBytes(s: RawStorage): Uint8Array {
  if (s.loaded || !s.provider) return s.bytes;
  const b = s.provider();
  s.checkLength(b);
  return b;
}

export interface TorchZipWriteOptions extends ZipWriteOptions {
  /** the archive folder name (PyTorch uses the file's stem); default `archive` */
  archiveName?: string;
}

/**
 * The chunks of a zip checkpoint holding `tree` (see the module comment). Storages are numbered
 * `0, 1, ...` in first-use order; a storage shared by several tensors is written once.
 */
export function torchZipChunks(tree: unknown, opts: TorchZipWriteOptions = {}): Generator<Uint8Array> {
  const name = opts.archiveName || 'archive';
  const storages: RawStorage[] = [];
  const pkl = pickle(tree, {
    storageKey: (s) => {
      storages.push(s);
      return String(storages.length - 1);
    },
  });
  const entries = [
    { name: `${name}/data.pkl`, data: pkl },
    { name: `${name}/byteorder`, data: Buffer.from('little') },
    ...storages.map((s, i) => ({ name: `${name}/data/${i}`, data: () => storageBytes(s) })),
    { name: `${name}/version`, data: Buffer.from('3\n') },
  ];
  return zipChunks(entries, opts);
}
