/**
 * Errors raised by the media pipeline (lib/data).
 *
 * Every error carries a stable `code` (what a caller switches on), the `file` it is about (when there
 * is one) and a short machine-readable `reason`. The message always names the file and the reason, so
 * a log line alone tells which clip of a dataset is broken and why.
 */

import { TorchError } from '../tensor/errors';

/** Stable error codes of lib/data. */
export type DataErrorCode =
  /** ffmpeg/ffprobe could not be found or started (message holds the install line). */
  | 'ERR_FFMPEG_MISSING'
  /** The file exists but ffmpeg cannot read it: empty, corrupt, unknown format, no decoder, timeout. */
  | 'ERR_MEDIA'
  /** The media is readable but beyond the pipeline's limits (e.g. frames larger than maxPixels). */
  | 'ERR_MEDIA_TOO_LARGE'
  /** The file has no (selected) audio stream. */
  | 'ERR_NO_AUDIO'
  /** The file has no (selected) video stream. */
  | 'ERR_NO_VIDEO'
  /** A file (media, manifest, label map) does not exist. */
  | 'ERR_FILE_NOT_FOUND'
  /** A manifest / folder layout / label map is malformed. */
  | 'ERR_DATASET'
  /** A caller passed an invalid argument (bad indices, bad options). */
  | 'ERR_INVALID_ARG';

/** An Error with a stable `code`, the `file` concerned and a short `reason`. */
export class DataError extends TorchError {
  declare readonly code: DataErrorCode;
  /** The file this error is about, when there is one. */
  readonly file?: string;
  /** Short reason, e.g. 'empty file', 'timeout', 'no decoder', 'ffmpeg exited with code 1'. */
  readonly reason: string;
  /** Extra diagnostic text (ffmpeg's stderr tail), when available. */
  readonly details?: string;

  constructor(reason: string, code: DataErrorCode, opts: { file?: string; details?: string; message?: string } = {}) {
    const where = opts.file !== undefined ? `${opts.file}: ` : '';
    super(opts.message ?? `${where}${reason}${opts.details ? ` (${opts.details})` : ''}`, code);
    this.name = 'DataError';
    this.reason = reason;
    if (opts.file !== undefined) this.file = opts.file;
    if (opts.details !== undefined) this.details = opts.details;
  }
}

/** True when `e` is a DataError (optionally with the given code). */
export function isDataError(e: unknown, code?: DataErrorCode): e is DataError {
  return e instanceof DataError && (code === undefined || e.code === code);
}
