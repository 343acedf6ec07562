/**
 * Where ffmpeg/ffprobe live, file pre-checks, and turning ffmpeg's stderr into DataErrors.
 * No processes are spawned here (see ffmpeg.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';

/** Absolute paths of the two executables the pipeline runs. */
export interface FfmpegPaths {
  ffmpeg: string;
  ffprobe: string;
}

/** The line every "ffmpeg is missing" error ends with. */
export const FFMPEG_INSTALL_HINT =
  'Install it with `sudo apt-get install -y ffmpeg` (Debian/Ubuntu), `sudo dnf install ffmpeg` (Fedora), ' +
  '`brew install ffmpeg` (macOS), or point FFMPEG_PATH and FFPROBE_PATH at the executables.';

let cached: FfmpegPaths | null = null;

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function searchPath(name: string, extraDirs: string[]): string | null {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d.length > 0);
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const d of [...extraDirs, ...dirs, '/usr/bin', '/usr/local/bin', '/opt/homebrew/bin']) {
    for (const e of exts) {
      const p = path.join(d, name + e);
      if (isExecutable(p)) return p;
    }
  }
  return null;
}

function locateOne(name: 'ffmpeg' | 'ffprobe', envVar: string, siblingOf: string | null): string {
  const fromEnv = process.env[envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isExecutable(fromEnv)) {
      throw new DataError(`${envVar}=${fromEnv} is not an executable file`, 'ERR_FFMPEG_MISSING', {
        message: `${name} not found: ${envVar}=${fromEnv} is not an executable file. ${FFMPEG_INSTALL_HINT}`,
      });
    }
    return path.resolve(fromEnv);
  }
  const found = searchPath(name, siblingOf ? [path.dirname(siblingOf)] : []);
  if (!found) {
    throw new DataError(`${name} not found`, 'ERR_FFMPEG_MISSING', {
      message: `${name} not found (looked at ${envVar} and PATH). ${FFMPEG_INSTALL_HINT}`,
    });
  }
  return found;
}

/**
 * Finds ffmpeg and ffprobe: FFMPEG_PATH / FFPROBE_PATH when set (they must exist), else PATH (ffprobe
 * is also looked for next to ffmpeg). Cached after the first success; `refresh` re-reads the env.
 * Throws DataError 'ERR_FFMPEG_MISSING' with install instructions.
 */
export function locateFfmpeg(opts: { refresh?: boolean } = {}): FfmpegPaths {
  if (cached && !opts.refresh) return cached;
  const ffmpeg = locateOne('ffmpeg', 'FFMPEG_PATH', null);
  const ffprobe = locateOne('ffprobe', 'FFPROBE_PATH', ffmpeg);
  cached = { ffmpeg, ffprobe };
  return cached;
}

/** Forgets the cached location (the next call re-reads FFMPEG_PATH / FFPROBE_PATH / PATH). */
export function resetFfmpegLocation(): void {
  cached = null;
}

/**
 * How a media path goes on an ffmpeg/ffprobe command line: made absolute and behind the `file:` protocol,
 * so a name starting with `-` (`-report`, `-i`) is never read as an option and a name with a colon
 * (`concat:a|b`, `http:x`) never selects another protocol. Every input path passes through here.
 */
export function mediaInputArg(file: string): string {
  return 'file:' + path.resolve(file);
}

/**
 * Checks a media path before any process is started: it must exist (ERR_FILE_NOT_FOUND), be a regular
 * file (a FIFO or device would block ffmpeg forever) and be non-empty (ERR_MEDIA 'empty file').
 * Returns the file size in bytes.
 */
export async function checkMediaFile(file: string): Promise<number> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch (e: any) {
    if (e && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) {
      throw new DataError('file not found', 'ERR_FILE_NOT_FOUND', { file });
    }
    throw new DataError(`cannot stat file (${e?.code ?? e})`, 'ERR_MEDIA', { file });
  }
  if (st.isDirectory()) throw new DataError('is a directory, not a media file', 'ERR_MEDIA', { file });
  if (!st.isFile()) throw new DataError('not a regular file', 'ERR_MEDIA', { file });
  if (st.size === 0) throw new DataError('empty file (0 bytes)', 'ERR_MEDIA', { file });
  return st.size;
}

/**
 * Last meaningful lines of ffmpeg's stderr (for error details), at most `max` characters: banner lines,
 * "[demuxer @ 0x...]" prefixes, the file path and repeated lines are removed.
 */
export function stderrTail(stderr: string, max = 300, file?: string): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (let l of stderr.split(/\r?\n|\r/)) {
    l = l
      .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '')
      .replace(/^(ffmpeg|ffprobe) exited with code \d+:\s*/, '')
      .trim();
    if (file) l = l.split(mediaInputArg(file)).join(file).split(`${file}: `).join('').split(file).join('<file>');
    if (l.length === 0 || /^(ffmpeg|ffprobe) version|^built with|^configuration:|^lib\w+\s+\d/.test(l) || seen.has(l)) continue;
    seen.add(l);
    lines.push(l);
  }
  const text = lines.slice(-3).join('; ');
  return text.length > max ? '…' + text.slice(-max) : text;
}

/** What was being done when ffmpeg failed: picks ERR_NO_AUDIO vs ERR_NO_VIDEO for missing streams. */
export type MediaTask = 'probe' | 'count' | 'audio' | 'video';

/** Maps ffmpeg/ffprobe stderr of a failed run to a DataError naming the file and the reason. */
export function classifyFfmpegError(stderr: string, file: string, task: MediaTask, fallback: string): DataError {
  const details = stderrTail(stderr, 300, file);
  const opts = details ? { file, details } : { file };
  const has = (re: RegExp) => re.test(stderr);
  if (has(/No such file or directory/i)) return new DataError('file not found', 'ERR_FILE_NOT_FOUND', { file });
  if (has(/matches no streams|does not contain any stream|Output file #\d+ does not contain any stream/i)) {
    if (task === 'audio') return new DataError('no audio stream', 'ERR_NO_AUDIO', opts);
    if (task === 'video' || task === 'count') return new DataError('no video stream', 'ERR_NO_VIDEO', opts);
  }
  if (has(/moov atom not found/i)) return new DataError('truncated or corrupt MP4 (moov atom not found)', 'ERR_MEDIA', opts);
  if (has(/Invalid data found when processing input/i)) {
    return new DataError('invalid data: corrupt or not a media file', 'ERR_MEDIA', opts);
  }
  const dec = /Decoder \(codec ([\w-]+)\) not found|Unsupported codec with id \d+ for input stream|Could not find codec parameters/i.exec(stderr);
  if (dec) return new DataError(dec[1] ? `no decoder for codec ${dec[1]}` : 'unreadable codec', 'ERR_MEDIA', opts);
  if (has(/Permission denied/i)) return new DataError('permission denied', 'ERR_MEDIA', opts);
  return new DataError(fallback, 'ERR_MEDIA', opts);
}
