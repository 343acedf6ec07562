/**
 * CRC-32 (IEEE 802.3, as used by zip): `zlib.crc32`, Node's native one (Node >= 20.15, hence
 * `engines.node` in package.json). The zip reader and writer both use this function.
 */

import * as zlib from 'zlib';

/** A CRC-32 function: of `data`, continuing from `value` (0 to start), unsigned. */
export type Crc32 = (data: Uint8Array, value?: number) => number;

/** Largest piece handed to `zlib.crc32` at once (its length argument is 32-bit). */
const PIECE = 1 << 30;

/** CRC-32 of `data`, continuing from `value` (0 to start). Returns an unsigned 32-bit number. */
export function crc32(data: Uint8Array, value = 0): number {
  let crc = value;
  for (let i = 0; i < data.length; i += PIECE) crc = zlib.crc32(data.subarray(i, i + PIECE), crc);
  return crc >>> 0;
}
