/** Starting ranks of a process group as child processes, each bounded in time (test/helpers/wait.ts). */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as path from 'path';
import { withTimeout } from '../helpers/wait';

/** The compiled rank script (rank_worker.ts). */
export const WORKER = path.join(__dirname, 'rank_worker.js');

export { freePort } from '../../lib/distributed';

export interface RankResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (the worker's report), or null. */
  report: Record<string, unknown> | null;
}

/** A started child: its process and the promise of its result (killed with SIGKILL after `ms`). */
export interface Started {
  child: ChildProcess;
  done: Promise<RankResult>;
  /** Resolves when a stdout line equals `line`. */
  waitFor(line: string): Promise<void>;
}

/** Starts `cmd args` with `env` added to this process's environment (GLOO_SOCKET_IFNAME=lo: loopback only). */
export function start(cmd: string, args: string[], env: Record<string, string>, ms: number): Started {
  const child = spawn(cmd, args, { env: { ...process.env, GLOO_SOCKET_IFNAME: 'lo', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '',
    stderr = '';
  const watchers: { line: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    const lines = stdout.split('\n');
    for (const w of watchers.slice()) if (lines.includes(w.line)) w.resolve();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<RankResult>((resolve) => {
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let report: Record<string, unknown> | null = null;
      try {
        report = JSON.parse(last) as Record<string, unknown>;
      } catch {
        report = null;
      }
      resolve({ code, signal, stdout, stderr, report });
    });
  });
  const done = withTimeout(exited, ms, `${path.basename(args[0] ?? cmd)} ${args.slice(1).join(' ')}`, () => child.kill('SIGKILL'));
  const waitFor = (line: string) =>
    withTimeout(
      new Promise<void>((resolve) => {
        if (stdout.split('\n').includes(line)) resolve();
        else watchers.push({ line, resolve });
      }),
      ms,
      `waiting for '${line}'`,
    );
  return { child, done, waitFor };
}

/** Starts rank_worker.js for each rank of `worldSize` with torchrun's variables. */
export function startNodeRanks(scenario: string, worldSize: number, port: number, ms: number, extra: string[] = []): Started[] {
  return Array.from({ length: worldSize }, (_, rank) =>
    start(
      process.execPath,
      [WORKER, scenario, ...extra],
      {
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        SOCIAL_MAE_NUM_THREADS: '1',
      },
      ms,
    ),
  );
}

/** /usr/bin/python3 when it has torch.distributed with Gloo, else null. */
export function pythonWithGloo(): string | null {
  const py = '/usr/bin/python3';
  const r = spawnSync(py, ['-c', 'import torch.distributed as d; assert d.is_available() and d.is_gloo_available()'], {
    stdio: 'ignore',
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  return r.status === 0 ? py : null;
}
