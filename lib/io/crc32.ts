/**
 * CRC-32 (IEEE 802.3, as used by zip). Uses `zlib.crc32` (Node >= 20.15 / 22.2) and falls back to
 * a table-driven implementation on older runtimes.
 */

import * as zlib from 'zlib';

type Crc32Fn = (data: Uint8Array, value?: number) => number;

const native: Crc32Fn | undefined = (zlib as unknown as { crc32?: Crc32Fn }).crc32;

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** CRC-32 of `data`, continuing from `value` (0 to start). Returns an unsigned 32-bit number. */
export function crc32(data: Uint8Array, value = 0): number {
  if (native) {
    // zlib.crc32 accepts at most 2^31-1 bytes in one call on some builds; feed it slices.
    let crc = value;
    const step = 1 << 30;
    for (let i = 0; i < data.length; i += step) crc = native(data.subarray(i, i + step), crc);
    if (data.length === 0) crc = native(data, crc);
    return crc >>> 0;
  }
  table ??= makeTable();
  let c = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
