/**
 * A torchrun-style launcher for one machine: starts `nprocPerNode` Node processes of one script, each
 * with torchrun's variables (env.ts `launchEnvFor`: RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
 * MASTER_PORT), and supervises them like torchrun: when one fails (non-zero exit or a signal) the others
 * get SIGTERM, then SIGKILL after `graceMs`; SIGINT / SIGTERM to the launcher are passed on. What
 * `social-mae pretrain|finetune --nproc-per-node N` runs (the CLI re-starts itself without that flag).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'child_process';
import * as net from 'net';
import { TorchError } from '../tensor';
import { argError } from '../tensor/errors';
import { launchEnvFor } from './env';

export interface LaunchOptions {
  /** Processes to start (ranks 0..n-1). */
  nprocPerNode: number;
  /** The Node script every rank runs. */
  script: string;
  args?: string[];
  /** Node options for the children (default: this process's execArgv). */
  execArgv?: string[];
  masterAddr?: string; // 127.0.0.1
  masterPort?: number; // 29500
  /** Added to this process's environment in every child. */
  env?: Record<string, string>;
  /** After a failure, how long the other ranks get between SIGTERM and SIGKILL (default 5000 ms). */
  graceMs?: number;
  stdio?: StdioOptions; // 'inherit'
}

export interface LaunchResult {
  /** Per rank: exit code (null when ended by a signal). */
  exitCodes: (number | null)[];
  signals: (NodeJS.Signals | null)[];
  /** The first rank that failed, or null when all exited 0. */
  failedRank: number | null;
}

/** Starts the ranks and resolves when all have exited. */
export function launch(opts: LaunchOptions): Promise<LaunchResult> {
  const fn = 'launch';
  const n = opts.nprocPerNode;
  if (!Number.isSafeInteger(n) || n < 1) argError(fn, 'nprocPerNode', 'an integer >= 1', n);
  if (typeof opts.script !== 'string' || opts.script === '') argError(fn, 'script', 'a script path', opts.script);
  const port = opts.masterPort ?? 29500;
  if (!Number.isSafeInteger(port) || port < 1 || port > 65535) argError(fn, 'masterPort', 'an integer in [1, 65535]', port);
  const graceMs = opts.graceMs ?? 5000;
  const addr = opts.masterAddr ?? '127.0.0.1';
  const children: ChildProcess[] = [];
  const result: LaunchResult = { exitCodes: Array(n).fill(null), signals: Array(n).fill(null), failedRank: null };
  return new Promise((resolve, reject) => {
    let left = n;
    let killTimer: NodeJS.Timeout | undefined;
    const stopAll = (signal: NodeJS.Signals) => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
      if (!killTimer) {
        killTimer = setTimeout(() => {
          for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        }, graceMs);
        killTimer.unref();
      }
    };
    const forward = (signal: NodeJS.Signals) => () => stopAll(signal);
    const onInt = forward('SIGINT'),
      onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const finish = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      if (killTimer) clearTimeout(killTimer);
      resolve(result);
    };
    for (let rank = 0; rank < n; rank++) {
      let child: ChildProcess;
      try {
        child = spawn(process.execPath, [...(opts.execArgv ?? process.execArgv), opts.script, ...(opts.args ?? [])], {
          env: { ...process.env, ...opts.env, ...launchEnvFor(rank, n, addr, port) },
          stdio: opts.stdio ?? 'inherit',
        });
      } catch (e) {
        stopAll('SIGKILL');
        reject(new TorchError(`${fn}: could not start rank ${rank}: ${(e as Error).message}`, 'ERR_LAUNCH'));
        return;
      }
      children.push(child);
      child.on('error', () => undefined); // reported through 'exit' (code null) below
      child.on('exit', (code, signal) => {
        result.exitCodes[rank] = code;
        result.signals[rank] = signal;
        if ((code !== 0 || signal) && result.failedRank === null) {
          result.failedRank = rank;
          stopAll('SIGTERM');
        }
        if (--left === 0) finish();
      });
    }
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it), e.g. for `masterPort`. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
