/** Bounded waits: every child process or worker a test starts is waited for at most a fixed time. */

/**
 * Limit for one child process (python reference scripts, the CLI, ffmpeg) in milliseconds: generous for a
 * loaded 2-core machine, below tap's 600 s per file, so a hung child fails its test instead of the file.
 * Pass as `spawnSync(cmd, args, { timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' })`.
 */
export const CHILD_TIMEOUT_MS = 300_000;

/** `p`, or a rejection naming `what` after `ms` (then `onTimeout` runs, e.g. to terminate a worker). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => unknown): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what}: no result within ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
