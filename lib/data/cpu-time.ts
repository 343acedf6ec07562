/**
 * CPU time of this process including its finished child processes (ffmpeg/ffprobe runs), for throughput
 * reports: Linux /proc/self/stat utime + stime + cutime + cstime; elsewhere process.cpuUsage() (this
 * process only, all threads).
 */
import * as fs from 'fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux architecture Node runs on). */
const USER_HZ = 100;

/** CPU seconds used so far by this process (all threads) and its reaped children. */
export function processCpuSeconds(): number {
  if (process.platform === 'linux') {
    try {
      const f = fs.readFileSync('/proc/self/stat', 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      // stat fields 14-17 (utime, stime, cutime, cstime) are rest[11..14]
      return [11, 12, 13, 14].reduce((a, i) => a + Number(rest[i]), 0) / USER_HZ;
    } catch {
      // fall through
    }
  }
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
