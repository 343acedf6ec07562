/**
 * CRC-32 (IEEE 802.3, as used by zip), for the zip reader and writer: `@node-rs/crc32` (crc32fast:
 * carry-less multiplication where the CPU has it). Measured on the 771 MB checkpoint path, Node's own
 * `zlib.crc32` (table-driven, ~1.5–5 GB/s here) made CRC checking cost as much as reading the file;
 * this one runs at 2–4× its speed (bench/RESULTS.md, "Checkpoint loading"). test/io/crc32.test.ts
 * checks it against `zlib.crc32`.
 */

import { crc32 as simdCrc32 } from '@node-rs/crc32';

/** A CRC-32 function: of `data`, continuing from `value` (0 to start), unsigned. */
export type Crc32 = (data: Uint8Array, value?: number) => number;

/** CRC-32 of `data`, continuing from `value` (0 to start). Returns an unsigned 32-bit number. */
export function crc32(data: Uint8Array, value = 0): number {
  return simdCrc32(data, value) >>> 0;
}
