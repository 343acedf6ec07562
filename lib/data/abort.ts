/** The error an aborted media call rejects with (both decoders; see ffmpeg.ts and libav.ts). */

/** The error an aborted call rejects with (name 'AbortError', code 'ABORT_ERR', like Node's own). */
export function abortError(file?: string): Error {
  const e = new Error(file ? `${file}: aborted` : 'aborted');
  e.name = 'AbortError';
  (e as Error & { code: string }).code = 'ABORT_ERR';
  return e;
}
