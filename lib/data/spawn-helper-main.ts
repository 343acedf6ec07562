/**
 * The spawn helper's process: it starts the ffmpeg and ffprobe children of the process decoder so that the
 * process that decodes (a training process with a large heap) never forks. Why and the protocol:
 * spawn-helper.ts, which forks this file once per thread.
 *
 * Requests arrive as IPC messages; every child's end is reported with `{op: 'exit'}` (ffmpeg) or
 * `{op: 'exec'}` (ffprobe) once it has exited and been reaped. ffmpeg's stdout is a Unix socket to the
 * requesting thread, which this process connects and prefixes with the 4-byte request id. When the IPC
 * channel closes (the requester exited), every child is killed and the helper exits.
 */
import { execFile, spawn, type ChildProcess } from 'child_process';
import * as net from 'net';
import type { HelperReply, HelperRequest, RunRequest, ExecRequest } from './spawn-helper';

const running = new Map<number, () => void>();
const reply = (m: HelperReply) => process.send?.(m);

/** Resolves once `proc` has exited (and been reaped), at once when it never started or has already exited. */
function reaped(proc: ChildProcess | undefined): Promise<void> {
  if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((r) => proc.once('exit', () => r()));
}

/** The lines of ffmpeg's stderr after the last one that starts with a space or '[' (its error message). */
function errorLines(stderr: string): string {
  const lines: string[] = [];
  for (const l of stderr.split(/\r\n|\r|\n/)) {
    if (l.startsWith(' ') || l.startsWith('[')) lines.length = 0;
    else lines.push(l);
  }
  return lines.join('\n');
}

/**
 * ffmpeg with the socket as its stdout: its output never passes through this process. (fluent-ffmpeg, which
 * ran the decodes before, can only relay stdout through a Node stream; here that relay faulted in ~9 MB of
 * this process's pages after every fork, 0.1 CPU-s per 720p clip.)
 */
function run(m: RunRequest): void {
  let child: ChildProcess | undefined;
  let killed = false;
  const kill = () => {
    killed = true;
    child?.kill('SIGKILL');
  };
  running.set(m.id, kill);
  let ended = false;
  const end = (error?: { message: string; stderr: string }) => {
    if (ended) return;
    ended = true;
    void reaped(child).then(() => {
      running.delete(m.id);
      reply({ op: 'exit', id: m.id, ...(error ? { error } : {}) });
    });
  };
  const sock = net.connect(m.socket);
  sock.on('error', (e) => {
    kill();
    if (!child) end({ message: `cannot reach the requesting thread (${e.message})`, stderr: '' });
  });
  const header = Buffer.alloc(4);
  header.writeUInt32LE(m.id);
  sock.write(header, (err) => {
    if (err) return end({ message: `cannot reach the requesting thread (${err.message})`, stderr: '' });
    if (killed) return end({ message: 'ffmpeg was killed with signal SIGKILL', stderr: '' });
    const args = [...m.inputOptions, '-i', m.input, ...m.outputOptions, 'pipe:1'];
    child = spawn(m.ffmpeg, args, { stdio: ['ignore', sock, 'pipe'], windowsHide: true });
    // ffmpeg holds the socket now; this copy is closed (not ended: that would shut it down for ffmpeg too),
    // so the requester sees the end of the stream when ffmpeg exits.
    sock.destroy();
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-65536);
    });
    child.on('error', (e) => end({ message: e.message, stderr }));
    child.on('close', (code, signal) => {
      if (code === 0) end();
      else if (signal) end({ message: `ffmpeg was killed with signal ${signal}`, stderr });
      else end({ message: `ffmpeg exited with code ${code}: ${errorLines(stderr)}`, stderr });
    });
  });
}

function exec(m: ExecRequest): void {
  const child = execFile(m.file, m.args, { maxBuffer: m.maxBuffer, encoding: 'utf8', killSignal: 'SIGKILL', windowsHide: true }, (err, stdout, stderr) => {
    void reaped(child).then(() => {
      running.delete(m.id);
      const e = err as NodeJS.ErrnoException | null;
      reply({
        op: 'exec',
        id: m.id,
        stdout,
        stderr,
        ...(e ? { error: { message: e.message, code: typeof e.code === 'string' ? e.code : '' } } : {}),
      });
    });
  });
  running.set(m.id, () => child.kill('SIGKILL'));
}

process.on('message', (m: HelperRequest) => {
  if (m.op === 'kill') running.get(m.id)?.();
  else if (m.op === 'run') run(m);
  else exec(m);
});
process.on('disconnect', () => {
  for (const kill of running.values()) kill();
  process.exit(0);
});
