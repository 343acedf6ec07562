/** What the data-parallel CLI tests share: running the CLI (bounded) and a four-clip manifest. */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { CLIP, LYING } from '../data/helpers';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');

/** `social-mae ARGS` in `cwd` (Gloo on loopback, one BLAS thread), killed after CHILD_TIMEOUT_MS. */
export const run = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--no-warnings', MAIN, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, GLOO_SOCKET_IFNAME: 'lo', SOCIAL_MAE_NUM_THREADS: '1', ...env },
  });

/** Four clips (two files, twice each) and m.csv listing them. */
export function fourClips(dir: string): void {
  const rows = ['video,label'];
  for (const [i, [clip, label]] of [CLIP, LYING, CLIP, LYING].map((c, i) => [c, i % 2 ? 'sad' : 'happy'] as const).entries()) {
    fs.copyFileSync(clip, path.join(dir, `c${i}.mp4`));
    rows.push(`c${i}.mp4,${label}`);
  }
  fs.writeFileSync(path.join(dir, 'm.csv'), rows.join('\n') + '\n');
}
