/**
 * The legacy (pre-1.6, non-zip) `torch.save` format, still written with
 * `torch.save(obj, f, _use_new_zipfile_serialization=False)`. The file is a sequence of pickles
 * followed by raw storages:
 *
 * 1. the magic number `0x1950a86a20f9469cfc6c` (a pickled int)
 * 2. the protocol version `1001`
 * 3. sys info `{protocol_version, little_endian, type_sizes}` (only little-endian is supported)
 * 4. the object itself; storages appear as persistent ids
 *    `('storage', torch.<T>Storage, root_key, location, numel, view_metadata)` where
 *    `view_metadata` is None or `(view_key, offset, numel)` (a slice of the root storage)
 * 5. the sorted list of root storage keys
 * 6. for each key in that order: `int64 numel` (little-endian) then `numel * itemsize` raw bytes
 *
 * The pickles are read from a prefix of the file that grows until they parse (they are small next
 * to the tensor data); each storage is then read into its own buffer (or the caller's, see
 * `allocStorage`); a view storage is handed over as a slice of its root. The older tar-based format
 * (PyTorch < 0.4) is not supported.
 */

import { check, corrupt, unsupported } from './errors';
import { PickleTruncatedError, unpickle, type StorageRef } from './pickle_reader';
import { DTYPE_INFO, RawStorage, deliverStorage, storageTarget, type RawValue, type StorageReadHooks } from './raw';
import type { ByteSource } from './source';

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
export const LEGACY_PROTOCOL_VERSION = 1001;

/** First bytes of a legacy file written with pickle protocol 2: PROTO 2, LONG1 of the magic number. */
export const LEGACY_PREFIX = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);

const INITIAL_WINDOW = 1 << 20;

/** true if `head` looks like a tar archive (the PyTorch < 0.4 format). */
export function isTar(head: Uint8Array): boolean {
  return head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar';
}

interface Parsed {
  value: RawValue;
  roots: Map<string, RawStorage>;
  views: { storage: RawStorage; root: RawStorage; offset: number }[];
  keys: string[];
  dataStart: number;
}

function parsePickles(head: Uint8Array): Parsed {
  const magic = unpickle(head, { what: 'legacy magic number' }, 0);
  check(
    magic.value === LEGACY_MAGIC || (typeof magic.value === 'bigint' && magic.value === LEGACY_MAGIC),
    'legacy checkpoint: invalid magic number (not a PyTorch file, or corrupt)',
  );
  const proto = unpickle(head, { what: 'legacy protocol version' }, magic.end);
  check(proto.value === LEGACY_PROTOCOL_VERSION, `legacy checkpoint: unsupported protocol version ${String(proto.value)}`);
  const sys = unpickle(head, { what: 'legacy sys info' }, proto.end);
  check(sys.value instanceof Map, 'legacy checkpoint: sys info is not a dict');
  if (sys.value.get('little_endian') === false) unsupported('legacy checkpoint: big-endian files are not supported');

  const roots = new Map<string, RawStorage>();
  const viewMap = new Map<string, RawStorage>();
  const views: Parsed['views'] = [];
  const loadStorage = (ref: StorageRef): RawStorage => {
    let root = roots.get(ref.key);
    if (!root) {
      root = new RawStorage(ref.key, ref.dtype, ref.numel, null, ref.location);
      roots.set(ref.key, root);
    }
    check(root.dtype === ref.dtype && root.numel === ref.numel, `legacy checkpoint: storage '${ref.key}' is referenced with different types or sizes`);
    if (!ref.view) return root;
    const v = ref.view;
    let view = viewMap.get(v.key);
    if (!view) {
      check(
        v.offset + v.numel <= root.numel,
        `legacy checkpoint: storage view '${v.key}' [${v.offset}, ${v.offset + v.numel}) exceeds storage '${ref.key}' (${root.numel} elements)`,
      );
      view = new RawStorage(`${ref.key}/${v.key}`, ref.dtype, v.numel, null, ref.location);
      viewMap.set(v.key, view);
      views.push({ storage: view, root, offset: v.offset });
    }
    return view;
  };
  const obj = unpickle(head, { what: 'legacy checkpoint pickle', loadStorage }, sys.end);
  const keysP = unpickle(head, { what: 'legacy storage key list' }, obj.end);
  const keys = keysP.value;
  check(Array.isArray(keys) && keys.every((k) => typeof k === 'string'), 'legacy checkpoint: storage key list is malformed');
  return { value: obj.value, roots, views, keys: keys as string[], dataStart: keysP.end };
}

/** Reads a legacy checkpoint from `source` (see the module comment). */
export async function readLegacy(source: ByteSource, hooks: StorageReadHooks = {}): Promise<RawValue> {
  const first = await source.read(0, Math.min(source.size, 512), 'legacy checkpoint header');
  if (first[0] !== 0x80 && isTar(first)) unsupported('this is a PyTorch < 0.4 tar checkpoint, which is not supported');
  let window = Math.min(source.size, INITIAL_WINDOW);
  let parsed: Parsed;
  for (;;) {
    const head = await source.read(0, window, 'legacy checkpoint header');
    try {
      parsed = parsePickles(head);
      break;
    } catch (e) {
      if (!(e instanceof PickleTruncatedError) || window >= source.size) throw e;
      window = Math.min(source.size, window * 4);
    }
  }
  const { value, roots, views, keys } = parsed;
  let offset = parsed.dataStart;
  const loaded = new Set<string>();
  for (const key of keys) {
    const s = roots.get(key);
    if (!s) corrupt(`legacy checkpoint: storage key '${key}' is listed but never used`);
    check(!loaded.has(key), `legacy checkpoint: storage key '${key}' is listed twice`);
    loaded.add(key);
    const hdr = await source.read(offset, 8, `legacy storage '${key}' size`);
    const numel = new DataView(hdr.buffer, hdr.byteOffset, 8).getBigInt64(0, true);
    check(numel === BigInt(s.numel), `legacy checkpoint: storage '${key}' has ${numel} elements in the file, ${s.numel} in the pickle`);
    offset += 8;
    const what = `legacy storage '${key}'`;
    // the claimed size is checked against the file before any memory is asked for
    check(offset + s.nbytes <= source.size, `${what}: bytes [${offset}, ${offset + s.nbytes}) lie outside the file (${source.size} bytes)`);
    const dest = storageTarget(s, hooks);
    let bytes: Uint8Array;
    if (dest) {
      await source.readInto(offset, dest, what);
      bytes = dest;
    } else {
      bytes = await source.read(offset, s.nbytes, what);
    }
    offset += s.nbytes;
    await deliverStorage(s, bytes, hooks);
    const item = DTYPE_INFO[s.dtype].itemsize;
    for (const v of views) {
      if (v.root !== s) continue;
      await deliverStorage(v.storage, bytes.subarray(v.offset * item, (v.offset + v.storage.numel) * item), hooks, { root: s, offset: v.offset });
    }
  }
  for (const [key, s] of roots) {
    if (!loaded.has(key) && s.numel > 0) corrupt(`legacy checkpoint: data for storage '${key}' is missing`);
  }
  return value;
}
