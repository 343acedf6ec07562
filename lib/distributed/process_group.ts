/**
 * torch.distributed for social-mae: one default process group over PyTorch's own c10d (ProcessGroupGloo
 * on CPU tensors, ProcessGroupNCCL in CUDA builds), rendezvous on a TCPStore laid out as Python's
 * `init_process_group` lays it out — a Python rank and a Node rank can share one group.
 *
 *   await initProcessGroup({ backend: 'gloo' });     // rank, world size, master from torchrun's env
 *   await allReduce(t, 'sum');                       // in place, every rank ends with the sum
 *   await destroyProcessGroup();
 *
 * Collectives return Promises: the wait runs off the JS thread (native/distributed/dist_ops.cc), the
 * event loop lives. A tensor handed to a collective is written in place until its Promise settles: do not
 * read, write or dispose it before. Collectives must be issued in the same order on every rank.
 * Errors carry codes: ERR_INVALID_ARG (bad arguments), ERR_DIST_NOT_INITIALIZED, ERR_INVALID_STATE
 * (initialised twice), ERR_DIST_TIMEOUT (a peer did not answer within the timeout), ERR_DIST_PEER (a peer
 * went away), ERR_DIST_ABORTED (abandoned because the process exits), ERR_UNSUPPORTED (backend or
 * collective not in this build).
 */
import { native as N } from '../native/binding';
import { Tensor, TorchError } from '../tensor';
import { argError } from '../tensor/errors';
import { readLaunchEnv } from './env';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'avg' | 'product' | 'min' | 'max';
const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'avg', 'product', 'min', 'max'];

/** torch.distributed's default: 30 minutes. */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

export interface InitOptions {
  /** 'gloo' (CPU tensors; the default) or 'nccl' (CUDA builds). */
  backend?: Backend;
  /** Defaults: RANK / SLURM_PROCID, else 0 when worldSize is 1. */
  rank?: number;
  /** Defaults: WORLD_SIZE / SLURM_NTASKS, else 1. */
  worldSize?: number;
  /** The TCPStore host (rank 0's address). Default MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** Default MASTER_PORT, else 29500. */
  masterPort?: number;
  /** Rendezvous, store and per-collective timeout (default 30 min, as torch.distributed). */
  timeoutMs?: number;
}

/** The resolved group. */
export interface GroupInfo {
  backend: Backend;
  rank: number;
  worldSize: number;
  timeoutMs: number;
}

let group: { id: number; info: GroupInfo } | null = null;
let pendingInit = false;
let exitHooked = false;

/** On exit, collectives still waiting give up at once: Node's exit joins the threads they wait on, and a
 *  collective whose peer never comes would otherwise hold the exit until the timeout. */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => N.distShutdown());
}

function notInitialized(fn: string): never {
  throw new TorchError(`${fn}: the default process group is not initialised (call torch.distributed.initProcessGroup first)`, 'ERR_DIST_NOT_INITIALIZED');
}

function current(fn: string): { id: number; info: GroupInfo } {
  return group ?? notInitialized(fn);
}

function checkIntIn(fn: string, arg: string, v: unknown, lo: number, hi: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < lo || (v as number) > hi) argError(fn, arg, `an integer in [${lo}, ${hi}]`, v);
  return v as number;
}

/** Backends this build has (Gloo needs Gloo's headers at build time; NCCL a CUDA LibTorch). */
export function availableBackends(): Backend[] {
  return N.distBackends() as Backend[];
}

/** Whether torch.distributed can be used at all in this build. */
export function isAvailable(): boolean {
  return availableBackends().length > 0;
}

/**
 * Joins the job's default process group: connects to (rank 0: hosts) the TCPStore at masterAddr:masterPort,
 * waits until all `worldSize` ranks arrived (at most `timeoutMs`), and connects the backend. Explicit
 * options win over the launcher's environment (env.ts).
 */
export async function initProcessGroup(opts: InitOptions = {}): Promise<GroupInfo> {
  const fn = 'initProcessGroup';
  if (opts === null || typeof opts !== 'object') argError(fn, 'opts', 'an options object', opts);
  const known = ['backend', 'rank', 'worldSize', 'masterAddr', 'masterPort', 'timeoutMs'];
  for (const k of Object.keys(opts)) if (!known.includes(k)) argError(fn, k, `one of the options ${known.join(', ')}`, k);
  if (group || pendingInit)
    throw new TorchError(`${fn}: the default process group is already initialised (call destroyProcessGroup first)`, 'ERR_INVALID_STATE');
  const env = readLaunchEnv();
  const backend = opts.backend ?? 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl') argError(fn, 'backend', "'gloo' or 'nccl'", backend);
  if (!availableBackends().includes(backend))
    throw new TorchError(`${fn}: backend '${backend}' is not in this build (available: ${availableBackends().join(', ') || 'none'})`, 'ERR_UNSUPPORTED');
  const worldSize = checkIntIn(fn, 'worldSize', opts.worldSize ?? env.worldSize ?? 1, 1, 1 << 20);
  const rankIn = opts.rank ?? env.rank ?? (worldSize === 1 ? 0 : undefined);
  if (rankIn === undefined) argError(fn, 'rank', `a rank in [0, ${worldSize - 1}] (option or RANK)`, rankIn);
  const rank = checkIntIn(fn, 'rank', rankIn, 0, worldSize - 1);
  const masterAddr = opts.masterAddr ?? env.masterAddr ?? '127.0.0.1';
  if (typeof masterAddr !== 'string' || masterAddr === '') argError(fn, 'masterAddr', 'a host name or address', masterAddr);
  const masterPort = checkIntIn(fn, 'masterPort', opts.masterPort ?? env.masterPort ?? 29500, 1, 65535);
  const timeoutMs = checkIntIn(fn, 'timeoutMs', opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1, 2 ** 31 - 1);
  const prefixes = env.agentStorePrefix ? [env.agentStorePrefix] : [];
  pendingInit = true;
  hookExit();
  try {
    const id = await N.distInit(backend, masterAddr, masterPort, rank, worldSize, rank === 0 && !env.agentStorePrefix, timeoutMs, prefixes);
    group = { id, info: { backend, rank, worldSize, timeoutMs } };
    return { ...group.info };
  } catch (e) {
    const err = e as TorchError;
    if (err.code !== 'ERR_DIST_TIMEOUT') throw e;
    throw new TorchError(
      `${err.message} — not all ${worldSize} ranks reached ${masterAddr}:${masterPort} within ${timeoutMs} ms ` +
        '(start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, and distinct RANKs)',
      err.code,
    );
  } finally {
    pendingInit = false;
  }
}

/** The default group's native id and settings (for ddp.ts; not exported by the package). */
export function currentGroup(fn: string): { id: number; info: GroupInfo } {
  return current(fn);
}

export function isInitialized(): boolean {
  return group !== null;
}
export function getRank(): number {
  return current('getRank').info.rank;
}
export function getWorldSize(): number {
  return current('getWorldSize').info.worldSize;
}
export function getBackend(): Backend {
  return current('getBackend').info.backend;
}
/** LOCAL_RANK (or SLURM_LOCALID) of this process, 0 when not launched with one: selects its GPU. */
export function getLocalRank(): number {
  return readLaunchEnv().localRank ?? 0;
}
/** True in a single-process run and on rank 0: the process that writes files and logs. */
export function isMainProcess(): boolean {
  return group === null || group.info.rank === 0;
}

/** Leaves the group (waits for its queued collectives); a no-op when none is initialised. */
export async function destroyProcessGroup(): Promise<void> {
  const g = group;
  group = null;
  if (g) await N.distDestroy(g.id);
}

function tensors(fn: string, arg: string, v: unknown): Tensor[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || !list.every((t) => t instanceof Tensor)) argError(fn, arg, 'a Tensor or a non-empty array of Tensors', v);
  return list as Tensor[];
}

function timeout(fn: string, opts: { timeoutMs?: number }): number {
  return opts.timeoutMs === undefined ? current(fn).info.timeoutMs : checkIntIn(fn, 'timeoutMs', opts.timeoutMs, 1, 2 ** 31 - 1);
}

/** Reduces `tensor` (or each of several) across ranks, in place: every rank gets the result. */
export async function allReduce(tensor: Tensor | Tensor[], op: ReduceOp = 'sum', opts: { timeoutMs?: number } = {}): Promise<void> {
  const fn = 'allReduce';
  const g = current(fn);
  const ts = tensors(fn, 'tensor', tensor);
  if (!REDUCE_OPS.includes(op)) argError(fn, 'op', REDUCE_OPS.map((o) => `'${o}'`).join(' | '), op);
  await N.distAllReduce(
    g.id,
    ts.map((t) => t.id),
    op,
    timeout(fn, opts),
  );
}

/** Copies rank `src`'s `tensor` into every other rank's `tensor` (same shape and dtype everywhere). */
export async function broadcast(tensor: Tensor | Tensor[], src = 0, opts: { timeoutMs?: number } = {}): Promise<void> {
  const fn = 'broadcast';
  const g = current(fn);
  const ts = tensors(fn, 'tensor', tensor);
  checkIntIn(fn, 'src', src, 0, g.info.worldSize - 1);
  await N.distBroadcast(
    g.id,
    ts.map((t) => t.id),
    src,
    timeout(fn, opts),
  );
}

/** Fills `outputs[k]` with rank k's `input` (torch.distributed.all_gather; one output per rank, each shaped like input). */
export async function allGather(outputs: Tensor[], input: Tensor, opts: { timeoutMs?: number } = {}): Promise<void> {
  const fn = 'allGather';
  const g = current(fn);
  const outs = tensors(fn, 'outputs', outputs);
  if (!(input instanceof Tensor)) argError(fn, 'input', 'a Tensor', input);
  if (outs.length !== g.info.worldSize) argError(fn, 'outputs', `${g.info.worldSize} tensors (one per rank)`, `${outs.length} tensors`);
  await N.distAllGather(
    g.id,
    outs.map((t) => t.id),
    input.id,
    timeout(fn, opts),
  );
}

/** `output` = reduction over ranks of each rank's `inputs[rank]` (Gloo in LibTorch 1.13 lacks it: ERR_UNSUPPORTED). */
export async function reduceScatter(output: Tensor, inputs: Tensor[], op: ReduceOp = 'sum', opts: { timeoutMs?: number } = {}): Promise<void> {
  const fn = 'reduceScatter';
  const g = current(fn);
  if (!(output instanceof Tensor)) argError(fn, 'output', 'a Tensor', output);
  const ins = tensors(fn, 'inputs', inputs);
  if (!REDUCE_OPS.includes(op)) argError(fn, 'op', REDUCE_OPS.map((o) => `'${o}'`).join(' | '), op);
  await N.distReduceScatter(
    g.id,
    output.id,
    ins.map((t) => t.id),
    op,
    timeout(fn, opts),
  );
}

/** Waits until every rank reached the barrier. */
export async function barrier(opts: { timeoutMs?: number } = {}): Promise<void> {
  const g = current('barrier');
  await N.distBarrier(g.id, timeout('barrier', opts));
}
