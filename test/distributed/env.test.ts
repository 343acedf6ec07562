/** The launcher environment: torchrun's variables, SLURM's, the torch elastic agent store, bad values. */
import t from 'tap';
import * as dist from '../../lib/distributed';

t.test('torchrun variables', async (t) => {
  const env = { RANK: '3', LOCAL_RANK: '1', WORLD_SIZE: '4', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29511' };
  t.same(dist.readLaunchEnv(env), { rank: 3, localRank: 1, worldSize: 4, masterPort: 29511, masterAddr: '10.0.0.1' });
  t.equal(dist.isLaunched(env), true);
  t.same(dist.launchEnvFor(1, 2, '127.0.0.1', 29500), {
    RANK: '1',
    LOCAL_RANK: '1',
    WORLD_SIZE: '2',
    LOCAL_WORLD_SIZE: '2',
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: '29500',
  });
  t.same(dist.readLaunchEnv(dist.launchEnvFor(1, 2, '127.0.0.1', 29500)), { rank: 1, localRank: 1, worldSize: 2, masterPort: 29500, masterAddr: '127.0.0.1' });
});

t.test('SLURM variables; torchrun wins where both are set', async (t) => {
  const slurm = { SLURM_PROCID: '5', SLURM_LOCALID: '1', SLURM_NTASKS: '8', MASTER_ADDR: 'node01' };
  t.same(dist.readLaunchEnv(slurm), { rank: 5, localRank: 1, worldSize: 8, masterPort: undefined, masterAddr: 'node01' });
  t.equal(dist.readLaunchEnv({ ...slurm, RANK: '2' }).rank, 2);
});

t.test('torch elastic agent store; nothing set', async (t) => {
  const e = dist.readLaunchEnv({ RANK: '0', WORLD_SIZE: '2', TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2' });
  t.equal(e.agentStorePrefix, '/worker/attempt_2');
  t.equal(dist.isLaunched({}), false);
  t.same(dist.readLaunchEnv({}), { rank: undefined, localRank: undefined, worldSize: undefined, masterPort: undefined });
});

t.test('a malformed value is a coded error naming the variable', async (t) => {
  t.throws(() => dist.readLaunchEnv({ RANK: 'one' }), { code: 'ERR_INVALID_ARG', message: /RANK/ });
  t.throws(() => dist.readLaunchEnv({ WORLD_SIZE: '-2' }), { code: 'ERR_INVALID_ARG', message: /WORLD_SIZE/ });
});
