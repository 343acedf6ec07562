/**
 * CPU time of this process including its child processes, for throughput reports. Linux: /proc/self/stat
 * utime + stime + cutime + cstime (this process and its reaped children), plus the same four of every live
 * spawn helper (spawn-helper.ts: it starts the ffmpeg/ffprobe runs and reaps them, so their time is in its
 * cutime; once the helper itself is reaped, all of it is in ours). Elsewhere process.cpuUsage() (this
 * process only, all threads).
 */
import * as fs from 'fs';
import { SPAWN_HELPER_SCRIPT } from './spawn-helper';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux architecture Node runs on). */
const USER_HZ = 100;

/** Sum of the given fields of a /proc/<pid>/stat text, in ticks (default utime + stime + cutime + cstime). */
function ticks(stat: string, fields = [11, 12, 13, 14]): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // stat fields 14-17 (utime, stime, cutime, cstime) are rest[11..14]
  return fields.reduce((a, i) => a + Number(rest[i]), 0);
}

/** Ticks of the live spawn helpers among this process's children (/proc/self/task/<tid>/children). */
function helperTicks(): number {
  let sum = 0;
  for (const tid of fs.readdirSync('/proc/self/task')) {
    let kids = '';
    try {
      kids = fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread ended, or a kernel without the children file
    }
    for (const pid of kids.split(' ').filter((k) => k.trim() !== '')) {
      try {
        if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(SPAWN_HELPER_SCRIPT)) sum += ticks(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        // exited meanwhile: its time reaches our cutime when it is reaped
      }
    }
  }
  return sum;
}

/** CPU seconds used so far by this process (all threads), its reaped children and its live spawn helpers (with theirs). */
export function processCpuSeconds(): number {
  if (process.platform === 'linux') {
    try {
      return (ticks(fs.readFileSync('/proc/self/stat', 'utf8')) + helperTicks()) / USER_HZ;
    } catch {
      // fall through
    }
  }
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * CPU seconds of this process's child processes so far: the reaped ones and the live spawn helpers with
 * theirs (Linux, 10 ms ticks; 0 elsewhere). With process.cpuUsage() (microseconds) for this process itself,
 * a finer total than processCpuSeconds for short measurements (bench/data_stages.ts).
 */
export function childCpuSeconds(): number {
  if (process.platform !== 'linux') return 0;
  try {
    return (ticks(fs.readFileSync('/proc/self/stat', 'utf8'), [13, 14]) + helperTicks()) / USER_HZ;
  } catch {
    return 0;
  }
}
