/**
 * Errors raised by the checkpoint I/O layer.
 *
 * Every failure caused by the *contents* of a file carries a stable string `code`:
 *
 * | code                          | meaning                                                        |
 * |-------------------------------|----------------------------------------------------------------|
 * | `ERR_CHECKPOINT_CORRUPT`      | the bytes are inconsistent (bad offsets, lengths, CRC, opcodes) |
 * | `ERR_UNSAFE_PICKLE`           | the pickle names a global outside the allowlist               |
 * | `ERR_CHECKPOINT_UNSUPPORTED`  | well-formed but not supported (compression method, dtype, ...) |
 * | `ERR_CHECKPOINT_INVALID`      | a value handed to a *writer* cannot be serialised              |
 * | `ERR_CHECKPOINT_DEVICE`       | the tensors' device is not available (e.g. CUDA without a GPU)  |
 *
 * File-system failures keep Node's own codes (`ENOENT`, `EACCES`, ...).
 */

import { TorchError } from '../tensor/errors';

export type CheckpointErrorCode =
  'ERR_CHECKPOINT_CORRUPT' | 'ERR_UNSAFE_PICKLE' | 'ERR_CHECKPOINT_UNSUPPORTED' | 'ERR_CHECKPOINT_INVALID' | 'ERR_CHECKPOINT_DEVICE';

/** A TorchError (the package's one error base) with a checkpoint `code` (see the table above). */
export class CheckpointError extends TorchError {
  declare readonly code: CheckpointErrorCode;
  constructor(message: string, code: CheckpointErrorCode) {
    super(message, code);
    this.name = 'CheckpointError';
  }
}

/** Throws `ERR_CHECKPOINT_CORRUPT` with `message`. */
export function corrupt(message: string): never {
  throw new CheckpointError(message, 'ERR_CHECKPOINT_CORRUPT');
}

/** Throws `ERR_CHECKPOINT_UNSUPPORTED` with `message`. */
export function unsupported(message: string): never {
  throw new CheckpointError(message, 'ERR_CHECKPOINT_UNSUPPORTED');
}

/** Throws `ERR_CHECKPOINT_INVALID` with `message` (writer-side input errors). */
export function invalid(message: string): never {
  throw new CheckpointError(message, 'ERR_CHECKPOINT_INVALID');
}

/** Throws `ERR_UNSAFE_PICKLE` with `message`. */
export function unsafe(message: string): never {
  throw new CheckpointError(message, 'ERR_UNSAFE_PICKLE');
}

/** Asserts `cond`, otherwise throws `ERR_CHECKPOINT_CORRUPT`. */
export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) corrupt(typeof message === 'function' ? message() : message);
}
