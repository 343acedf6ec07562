/**
 * Data-parallel pretrain / finetune from the CLI. `--nproc-per-node N` (N > 1) makes this process a
 * launcher: it starts N ranks of the same command with torchrun's variables (lib/distributed/launch.ts)
 * and supervises them. A process started by a launcher (that one, torchrun or SLURM: RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT) joins the process group (Gloo on the CPU, NCCL on CUDA) and shards the
 * training set with data.DistributedSampler; the loop (lib/train/fit.ts) does the rest.
 */
import * as data from '../data';
import * as dist from '../distributed';
import { TorchError } from '../tensor';
import type { FlagSet } from './args';

export const DIST_FLAGS = {
  nprocPerNode: {
    type: 'int',
    min: 1,
    default: 1,
    value: 'N',
    help: 'data-parallel processes on this machine (torchrun-style; see README "Distributed training")',
  },
  masterPort: { type: 'int', min: 1, max: 65535, default: 29500, value: 'PORT', help: 'rendezvous port of --nproc-per-node' },
} as const satisfies FlagSet;

/** What this process does: supervise ranks ('launcher'), train as one rank ('rank') or alone ('single'). */
export type DistRole =
  | { role: 'launcher' }
  | { role: 'single'; device: string }
  | { role: 'rank'; device: string; rank: number; worldSize: number; sampler: (datasetLength: number, seed: number) => data.DistributedSampler };

/** argv of this command without `--nproc-per-node` (the ranks must not launch again). */
function rankArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nproc-per-node') i++;
    else if (!argv[i].startsWith('--nproc-per-node=')) out.push(argv[i]);
  }
  return out;
}

export async function startDistributed(f: { nprocPerNode: number; masterPort: number }, device: string): Promise<DistRole> {
  if (f.nprocPerNode > 1 && !dist.isLaunched()) {
    const r = await dist.launch({ nprocPerNode: f.nprocPerNode, script: process.argv[1], args: rankArgs(process.argv.slice(2)), masterPort: f.masterPort });
    if (r.failedRank !== null) {
      const how = r.signals[r.failedRank] ? `signal ${r.signals[r.failedRank]}` : `exit code ${r.exitCodes[r.failedRank]}`;
      throw new TorchError(`rank ${r.failedRank} of ${f.nprocPerNode} failed (${how}); the others were stopped`, 'ERR_DIST_PEER');
    }
    return { role: 'launcher' };
  }
  if (!dist.isLaunched()) return { role: 'single', device };
  const cuda = device.startsWith('cuda');
  await dist.initProcessGroup({ backend: cuda ? 'nccl' : 'gloo' });
  const rank = dist.getRank();
  const worldSize = dist.getWorldSize();
  return {
    role: 'rank',
    device: cuda ? `cuda:${dist.getLocalRank()}` : device,
    rank,
    worldSize,
    sampler: (n, seed) => new data.DistributedSampler(n, { numReplicas: worldSize, rank, seed }),
  };
}

/** Leaves the process group of a 'rank'. */
export async function endDistributed(d: DistRole): Promise<void> {
  if (d.role === 'rank') await dist.destroyProcessGroup();
}

/** Whether this process prints: every process but ranks other than 0 of a launched job. */
export function printsLogs(): boolean {
  return !dist.isLaunched() || dist.readLaunchEnv().rank === 0;
}
