/**
 * Where a process sits in a distributed job, read from the launcher's environment: torchrun / torch
 * elastic (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`,
 * `TORCHELASTIC_USE_AGENT_STORE`, `TORCHELASTIC_RESTART_COUNT`), else SLURM (`SLURM_PROCID`,
 * `SLURM_LOCALID`, `SLURM_NTASKS`; the master address still comes from `MASTER_ADDR`). Explicit options
 * win over both. The one place that knows these variable names.
 */
import { TorchError } from '../tensor';

/** A process's place in the job. */
export interface LaunchEnv {
  rank?: number;
  localRank?: number;
  worldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /** torch elastic: the agent hosts the TCPStore, every rank is a client under `/worker/attempt_N`. */
  agentStorePrefix?: string;
}

function int(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new TorchError(`environment variable ${name}: expected a non-negative integer, got ${JSON.stringify(v)}`, 'ERR_INVALID_ARG');
  return n;
}

/** Reads the launcher's variables (absent ones stay undefined). */
export function readLaunchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv {
  const out: LaunchEnv = {
    rank: int(env, 'RANK') ?? int(env, 'SLURM_PROCID'),
    localRank: int(env, 'LOCAL_RANK') ?? int(env, 'SLURM_LOCALID'),
    worldSize: int(env, 'WORLD_SIZE') ?? int(env, 'SLURM_NTASKS'),
    masterPort: int(env, 'MASTER_PORT'),
  };
  if (env.MASTER_ADDR) out.masterAddr = env.MASTER_ADDR;
  // torch.distributed.rendezvous._torchelastic_use_agent_store
  if (env.TORCHELASTIC_USE_AGENT_STORE === 'True') out.agentStorePrefix = `/worker/attempt_${env.TORCHELASTIC_RESTART_COUNT ?? '0'}`;
  return out;
}

/** True when a launcher (torchrun, SLURM, `launch`) started this process as one rank of a job: the CLI and
 *  loops then initialise the default process group. */
export function isLaunched(env: NodeJS.ProcessEnv = process.env): boolean {
  const e = readLaunchEnv(env);
  return e.worldSize !== undefined && e.rank !== undefined;
}

/** The environment a launcher gives rank `rank` of `worldSize` on one machine (what `--nproc-per-node` sets). */
export function launchEnvFor(rank: number, worldSize: number, masterAddr: string, masterPort: number): Record<string, string> {
  return {
    RANK: String(rank),
    LOCAL_RANK: String(rank),
    WORLD_SIZE: String(worldSize),
    LOCAL_WORLD_SIZE: String(worldSize),
    MASTER_ADDR: masterAddr,
    MASTER_PORT: String(masterPort),
  };
}
