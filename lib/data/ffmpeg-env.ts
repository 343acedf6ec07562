/**
 * Where ffmpeg/ffprobe live, file pre-checks, and turning ffmpeg's stderr into DataErrors.
 * No processes are spawned here (see ffmpeg.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';

/**
 * Where the pair came from: 'bundled' (the static builds of the optional npm packages
 * `@ffmpeg-installer/<platform>-<arch>` / `@ffprobe-installer/<platform>-<arch>`), 'system' (PATH),
 * 'env' (FFMPEG_PATH / FFPROBE_PATH) or 'path' (a directory or executable named by SOCIAL_MAE_FFMPEG or
 * useFfmpeg()).
 */
export type FfmpegSource = 'bundled' | 'system' | 'env' | 'path';

/** Absolute paths of the two executables the pipeline runs, and how they were chosen. */
export interface FfmpegPaths {
  ffmpeg: string;
  ffprobe: string;
  source: FfmpegSource;
  /** What made the choice: 'useFfmpeg()', 'FFMPEG_PATH', 'SOCIAL_MAE_FFMPEG' or 'default'. */
  selectedBy: string;
}

/** The line every "ffmpeg is missing" error ends with. */
export const FFMPEG_INSTALL_HINT =
  'Install it with `sudo apt-get install -y ffmpeg` (Debian/Ubuntu), `sudo dnf install ffmpeg` (Fedora), ' +
  '`brew install ffmpeg` (macOS), `npm install @ffmpeg-installer/linux-x64 @ffprobe-installer/linux-x64` (static builds), ' +
  'or point FFMPEG_PATH and FFPROBE_PATH (or SOCIAL_MAE_FFMPEG) at the executables.';

let cached: FfmpegPaths | null = null;
/** The choice made with useFfmpeg() (wins over the environment), or null. */
let chosen: string | null = null;

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

function missing(what: string, message: string): DataError {
  return new DataError(what, 'ERR_FFMPEG_MISSING', { message: `${message} ${FFMPEG_INSTALL_HINT}` });
}

/** The static executable of an `@ffmpeg-installer` / `@ffprobe-installer` package, or null when not installed. */
export function bundledBinary(name: 'ffmpeg' | 'ffprobe'): string | null {
  const pkg = `@${name}-installer/${process.platform}-${process.arch}`;
  try {
    const dir = path.dirname(require.resolve(`${pkg}/package.json`));
    const exe = path.join(dir, name + (process.platform === 'win32' ? '.exe' : ''));
    if (!fs.existsSync(exe)) return null;
    // npm may skip the package's `chmod u+x` postinstall (install scripts not allowed): make it executable.
    if (!isExecutable(exe)) fs.chmodSync(exe, 0o755);
    return isExecutable(exe) ? exe : null;
  } catch {
    return null;
  }
}

function fromEnv(name: 'ffmpeg' | 'ffprobe', envVar: string): string | null {
  const v = process.env[envVar];
  if (v === undefined || v === '') return null;
  if (!isExecutable(v)) throw missing(`${envVar}=${v} is not an executable file`, `${name} not found: ${envVar}=${v} is not an executable file.`);
  return path.resolve(v);
}

/** Resolves one choice ('bundled' | 'system' | a directory | an ffmpeg executable) to the pair. */
function resolveChoice(choice: string, selectedBy: string): FfmpegPaths {
  if (choice === 'bundled') {
    const ffmpeg = bundledBinary('ffmpeg');
    const ffprobe = bundledBinary('ffprobe');
    if (!ffmpeg || !ffprobe) {
      const pkgs = `@ffmpeg-installer/${process.platform}-${process.arch} and @ffprobe-installer/${process.platform}-${process.arch}`;
      throw missing('bundled ffmpeg not installed', `${selectedBy} asks for the bundled ffmpeg, but ${pkgs} are not both installed.`);
    }
    return { ffmpeg, ffprobe, source: 'bundled', selectedBy };
  }
  if (choice === 'system') {
    const ffmpeg = searchPath('ffmpeg', []);
    if (!ffmpeg) throw missing('ffmpeg not found', `ffmpeg not found on PATH (${selectedBy} asks for the system ffmpeg).`);
    const ffprobe = searchPath('ffprobe', [path.dirname(ffmpeg)]);
    if (!ffprobe) throw missing('ffprobe not found', `ffprobe not found on PATH (${selectedBy} asks for the system ffmpeg).`);
    return { ffmpeg, ffprobe, source: 'system', selectedBy };
  }
  // A directory holding both, or the ffmpeg executable (ffprobe next to it).
  const abs = path.resolve(choice);
  const isDir = fs.existsSync(abs) && fs.statSync(abs).isDirectory();
  const ffmpeg = isDir ? path.join(abs, 'ffmpeg') : abs;
  const ffprobe = path.join(path.dirname(ffmpeg), 'ffprobe');
  for (const [n, p] of [
    ['ffmpeg', ffmpeg],
    ['ffprobe', ffprobe],
  ] as const) {
    if (!isExecutable(p)) throw missing(`${n} not found`, `${n} not found: ${selectedBy} names ${choice}, and ${p} is not an executable file.`);
  }
  return { ffmpeg, ffprobe, source: 'path', selectedBy };
}

/**
 * Finds ffmpeg and ffprobe. In this order:
 *  1. useFfmpeg(choice);
 *  2. FFMPEG_PATH / FFPROBE_PATH (each must be an executable; the other one is found as below);
 *  3. SOCIAL_MAE_FFMPEG = 'bundled' | 'system' | a directory | the ffmpeg executable;
 *  4. default: the system ffmpeg when PATH has both, else the bundled static builds.
 * The default keeps parity first: the system ffmpeg decodes AAC exactly as torchaudio (the reference's
 * fbank input); the bundled one (an older static build, 10-20x cheaper to start) differs on AAC audio
 * by up to 1.5e-8 per sample, 1.5e-4 in the fbank (measured: README "Which ffmpeg"). Frames, fps and
 * frame counts are identical with both. Choose 'bundled' for speed where that difference does not matter.
 * Cached after the first success; `refresh` re-reads the environment.
 * Throws DataError 'ERR_FFMPEG_MISSING' with install instructions.
 */
export function locateFfmpeg(opts: { refresh?: boolean } = {}): FfmpegPaths {
  if (cached && !opts.refresh) return cached;
  if (chosen !== null) return (cached = resolveChoice(chosen, 'useFfmpeg()'));
  const envFfmpeg = fromEnv('ffmpeg', 'FFMPEG_PATH');
  const envFfprobe = fromEnv('ffprobe', 'FFPROBE_PATH');
  const sel = process.env.SOCIAL_MAE_FFMPEG;
  let base: FfmpegPaths | null = null;
  const fallback = (): FfmpegPaths => {
    if (base) return base;
    if (sel !== undefined && sel !== '') return (base = resolveChoice(sel, `SOCIAL_MAE_FFMPEG=${sel}`));
    const onPath = searchPath('ffmpeg', []) && searchPath('ffprobe', []);
    const bundled = bundledBinary('ffmpeg') && bundledBinary('ffprobe');
    return (base = resolveChoice(onPath || !bundled ? 'system' : 'bundled', 'default'));
  };
  if (envFfmpeg || envFfprobe) {
    const ffmpeg = envFfmpeg ?? searchPath('ffmpeg', envFfprobe ? [path.dirname(envFfprobe)] : []);
    const ffprobe = envFfprobe ?? searchPath('ffprobe', ffmpeg ? [path.dirname(ffmpeg)] : []);
    if (!ffmpeg) throw missing('ffmpeg not found', 'ffmpeg not found (looked at FFMPEG_PATH and PATH).');
    if (!ffprobe) throw missing('ffprobe not found', 'ffprobe not found (looked at FFPROBE_PATH and PATH).');
    cached = { ffmpeg, ffprobe, source: 'env', selectedBy: envFfmpeg ? 'FFMPEG_PATH' : 'FFPROBE_PATH' };
    return cached;
  }
  cached = fallback();
  return cached;
}

/**
 * Chooses the ffmpeg build for this thread: 'bundled' (static npm builds, fast process start),
 * 'system' (PATH; the `compat: 'reference'` choice), a directory holding ffmpeg and ffprobe, or an
 * ffmpeg executable; `null` goes back to the environment / default. Returns the resolved pair.
 * Throws ERR_FFMPEG_MISSING when the choice does not resolve, ERR_INVALID_ARG for a non-string.
 * Worker threads of a DataLoader read the environment, or the loader's `ffmpeg` option.
 */
export function useFfmpeg(choice: 'bundled' | 'system' | string | null): FfmpegPaths {
  if (choice !== null && (typeof choice !== 'string' || choice === '')) {
    throw new DataError(`useFfmpeg: choice must be 'bundled', 'system', a path or null, got ${String(choice)}`, 'ERR_INVALID_ARG');
  }
  if (choice === chosen && cached) return cached;
  const resolved = choice === null ? null : resolveChoice(choice, 'useFfmpeg()');
  chosen = choice;
  cached = resolved;
  return locateFfmpeg();
}

/** Forgets the cached location (the next call re-reads FFMPEG_PATH / FFPROBE_PATH / SOCIAL_MAE_FFMPEG / PATH). */
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
