/**
 * ffmpeg and ffprobe children started by a small helper process instead of by this one.
 *
 * Why: Node's child_process forks. A fork write-protects every page of the forking process, and afterwards
 * each page the process writes faults once: the cost grows with the process's memory, not the child's
 * work. Measured on the 2-core dev box (bench/RESULTS.md, issue 10): rewriting 200 MB after one spawn cost
 * 0.68 CPU-s in 49,000 faults; a loader decoding 720p clips through ffmpeg processes took ~30,000 faults
 * and 0.5 of its 0.9 CPU-s per clip in this process. A training process (GBs of heap, pinned buffers that a
 * fork copies) pays more. The helper is a bare Node process (~45 MB), started once per thread on first use;
 * its forks are cheap and the decoding process never forks again.
 *
 * Protocol (spawn-helper-main.ts is the other side): requests and replies are IPC messages. ffmpeg's stdout
 * reaches this thread over a Unix socket (abstract namespace) that it listens on: the helper connects, writes
 * the request id (uint32 LE) and starts ffmpeg with the socket as its stdout. A run is over when the helper
 * reports the child's exit (it has been reaped) and, on success, the socket has ended. When the helper dies,
 * every pending request fails (ERR_MEDIA via the caller's classification) and the next one starts a new
 * helper. A worker thread stops its helper before it ends (stopSpawnHelper); when the process exits, the
 * helper's IPC channel closes and it kills its children and exits.
 */
import { fork, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as net from 'net';
import * as path from 'path';
import { threadId } from 'worker_threads';

/** The helper's script (cpu-time.ts finds live helpers by it). */
export const SPAWN_HELPER_SCRIPT = 'spawn-helper-main.js';

/** Run `ffmpeg inputOptions -i input outputOptions pipe:1` with stdout to `socket`. */
export interface RunRequest {
  op: 'run';
  id: number;
  socket: string;
  ffmpeg: string;
  input: string;
  inputOptions: string[];
  outputOptions: string[];
}
/** Run a program to completion and return its output (ffprobe). */
export interface ExecRequest {
  op: 'exec';
  id: number;
  file: string;
  args: string[];
  maxBuffer: number;
}
export type HelperRequest = RunRequest | ExecRequest | { op: 'kill'; id: number };

/** How a failed run ended ("ffmpeg exited with code N: ...", killed, spawn error) and ffmpeg's stderr. */
export interface RunFailure {
  message: string;
  stderr: string;
}
/** How an exec ended: `code` is the spawn error code (ENOENT, ...) or ''. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  error?: { message: string; code: string };
}
export type HelperReply = { op: 'exit'; id: number; error?: RunFailure } | ({ op: 'exec'; id: number } & ExecResult);

/** A started child: `kill()` SIGKILLs it; `reaped` resolves once it has exited (or its helper died). */
export interface HelperJob<T> {
  result: Promise<T>;
  reaped: Promise<void>;
  kill(): void;
}

/** A request in flight. `onReply(null)`: the helper died. `onClose`: its socket closed (runs). */
interface Pending {
  onData?: (chunk: Buffer) => void;
  onReply(m: HelperReply | null): void;
  onClose?: () => void;
  sock?: net.Socket;
  killed: boolean;
}

class Helper {
  readonly proc: ChildProcess;
  readonly server: net.Server;
  readonly socket = `\0social-mae-spawn-${process.pid}-${threadId}-${randomBytes(6).toString('hex')}`;
  readonly listening: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  dead = false;
  private nextId = 1;

  constructor() {
    this.server = net.createServer((sock) => this.accept(sock));
    this.listening = new Promise((resolve, reject) => {
      this.server.once('listening', resolve);
      this.server.once('error', reject);
    });
    this.server.listen(this.socket);
    this.server.unref();
    this.proc = fork(path.join(__dirname, SPAWN_HELPER_SCRIPT), [], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      execArgv: [],
      serialization: 'json',
    });
    this.proc.on('message', (m: HelperReply) => this.pending.get(m.id)?.onReply(m));
    const died = () => {
      if (this.dead) return;
      this.dead = true;
      this.server.close();
      const all = [...this.pending.values()];
      this.pending.clear();
      this.refs();
      for (const p of all) p.onReply(null);
    };
    this.proc.on('exit', died);
    this.proc.on('error', died);
    this.refs();
  }

  /** The helper keeps this process alive only while a request is pending. */
  private refs(): void {
    const channel = (this.proc as ChildProcess & { channel?: { ref(): void; unref(): void } }).channel;
    if (this.pending.size > 0) {
      this.proc.ref();
      channel?.ref();
    } else {
      this.proc.unref();
      channel?.unref();
    }
  }

  /** Routes a connection to its run by the id in its first 4 bytes. */
  private accept(sock: net.Socket): void {
    let head = Buffer.alloc(0);
    let p: Pending | undefined;
    sock.on('error', () => undefined); // a run that was killed or failed ends its socket abruptly
    sock.on('close', () => p?.onClose?.());
    sock.on('data', (chunk: Buffer) => {
      if (p) return p.onData?.(chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) return;
      p = this.pending.get(head.readUInt32LE(0));
      if (!p || p.killed) return void sock.destroy();
      p.sock = sock;
      if (head.length > 4) p.onData?.(head.subarray(4));
    });
  }

  /** Sends a request; `done(id)` must be called once it is over. Returns its id and a kill function. */
  send(req: Omit<RunRequest, 'id' | 'socket'> | Omit<ExecRequest, 'id'>, p: Omit<Pending, 'killed'>): { id: number; pending: Pending; kill(): void } {
    const id = this.nextId++;
    const pending: Pending = { ...p, killed: false };
    this.pending.set(id, pending);
    this.refs();
    void this.listening.then(
      () => {
        if (!this.dead && this.pending.has(id)) this.proc.send({ ...req, id, ...(req.op === 'run' ? { socket: this.socket } : {}) });
      },
      () => this.proc.kill('SIGKILL'), // no socket to listen on: the helper is useless, its exit fails every request
    );
    const kill = () => {
      if (pending.killed) return;
      pending.killed = true;
      pending.sock?.destroy();
      if (!this.dead && this.pending.has(id)) this.proc.send({ op: 'kill', id });
    };
    return { id, pending, kill };
  }

  done(id: number): void {
    this.pending.delete(id);
    this.refs();
  }
}

let helper: Helper | null = null;

/**
 * Ends this thread's helper (if any) and resolves once it has been reaped. A worker thread calls this before
 * it ends: a helper whose thread is gone can no longer be reaped and stays a zombie (its CPU then never
 * reaches processCpuSeconds). Runs still pending fail as if the helper had died.
 */
export function stopSpawnHelper(): Promise<void> {
  const h = helper;
  helper = null;
  if (!h || h.dead) return Promise.resolve();
  const exited = new Promise<void>((r) => h.proc.once('exit', () => r()));
  h.proc.ref(); // keeps this thread's loop alive until the exit is seen
  h.proc.disconnect(); // the helper kills its children and exits
  return exited;
}

function current(): Helper {
  if (!helper || helper.dead) helper = new Helper();
  return helper;
}

const HELPER_DIED = 'the spawn helper process exited (lib/data/spawn-helper.ts)';

/**
 * Runs `ffmpeg inputOptions -i input outputOptions pipe:1` in the helper and hands stdout to `onData`.
 * `result` resolves once ffmpeg has exited and been reaped: with undefined after a clean exit once every
 * byte has arrived, else with the failure.
 */
export function helperRun(
  req: { ffmpeg: string; input: string; inputOptions: string[]; outputOptions: string[] },
  onData: (chunk: Buffer) => void,
): HelperJob<RunFailure | undefined> {
  let settle: (v: RunFailure | undefined) => void = () => undefined;
  let reapedNow: () => void = () => undefined;
  const result = new Promise<RunFailure | undefined>((r) => (settle = r));
  const reaped = new Promise<void>((r) => (reapedNow = r));
  const h = current();
  let exited = false;
  let closed = false;
  const job = h.send(
    { op: 'run', ...req },
    {
      onData,
      // A clean exit is complete when the socket has closed too: its last bytes may arrive after the reply.
      onClose: () => {
        closed = true;
        if (!exited) return;
        h.done(job.id);
        settle(undefined);
      },
      onReply: (m) => {
        reapedNow();
        const error = !m ? { message: HELPER_DIED, stderr: '' } : m.op === 'exit' ? m.error : undefined;
        exited = true;
        if (!error && !closed) return;
        h.done(job.id);
        job.pending.sock?.destroy();
        settle(error);
      },
    },
  );
  return { result, reaped, kill: job.kill };
}

/** Runs `file args` to completion in the helper (execFile: output as text, at most `maxBuffer` bytes). */
export function helperExec(file: string, args: string[], maxBuffer: number): HelperJob<ExecResult> {
  let settle: (v: ExecResult) => void = () => undefined;
  let reapedNow: () => void = () => undefined;
  const result = new Promise<ExecResult>((r) => (settle = r));
  const reaped = new Promise<void>((r) => (reapedNow = r));
  const h = current();
  const job = h.send(
    { op: 'exec', file, args, maxBuffer },
    {
      onReply: (m) => {
        h.done(job.id);
        reapedNow();
        settle(m && m.op === 'exec' ? m : { stdout: '', stderr: '', error: { message: HELPER_DIED, code: '' } });
      },
    },
  );
  return { result, reaped, kill: job.kill };
}
