/**
 * torch.distributed: process groups over PyTorch's c10d (Gloo on CPU, NCCL on CUDA builds), DDP for
 * nn.Module, the differentiable all-gather of a loss over the global batch (allGatherRows), metric
 * reduction. README "Distributed training" shows how to launch.
 */
export {
  initProcessGroup,
  destroyProcessGroup,
  isInitialized,
  isAvailable,
  availableBackends,
  getRank,
  getWorldSize,
  getBackend,
  getLocalRank,
  isMainProcess,
  allReduce,
  broadcast,
  allGather,
  reduceScatter,
  barrier,
  DEFAULT_TIMEOUT_MS,
} from './process_group';
export type { Backend, ReduceOp, InitOptions, GroupInfo } from './process_group';
export { DistributedDataParallel, bucketize } from './ddp';
export { allGatherRows } from './gather';
export type { DDPOptions } from './ddp';
export { reduceMetrics } from './metrics';
export { readLaunchEnv, launchEnvFor, isLaunched } from './env';
export { launch, freePort } from './launch';
export type { LaunchOptions, LaunchResult } from './launch';
export type { LaunchEnv } from './env';
