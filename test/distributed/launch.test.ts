/**
 * The one-machine launcher (what `--nproc-per-node` runs): N ranks with torchrun's variables form a
 * group; when one rank fails, the others are stopped and the launcher returns, nothing hangs.
 */
import t from 'tap';
import * as dist from '../../lib/distributed';
import { withTimeout } from '../helpers/wait';
import { freePort, WORKER } from './helpers';

const LIMIT_MS = 120_000;
const skip = dist.availableBackends().includes('gloo') ? false : 'this build has no Gloo (needs libgloo-dev at build time)';
const env = { GLOO_SOCKET_IFNAME: 'lo', SOCIAL_MAE_NUM_THREADS: '1' };

t.test('launch: 2 ranks run the collectives and exit 0', { skip }, async (t) => {
  const port = await freePort();
  const r = await withTimeout(
    dist.launch({ nprocPerNode: 2, script: WORKER, args: ['collectives'], masterPort: port, env, stdio: 'ignore' }),
    LIMIT_MS,
    'launch',
  );
  t.same(r, { exitCodes: [0, 0], signals: [null, null], failedRank: null });
});

t.test('launch: a failing rank stops the others', { skip }, async (t) => {
  const port = await freePort();
  const r = await withTimeout(
    dist.launch({ nprocPerNode: 2, script: WORKER, args: ['failOne'], masterPort: port, env, stdio: 'ignore', graceMs: 2000 }),
    LIMIT_MS,
    'launch',
  );
  t.equal(r.failedRank, 1);
  t.equal(r.exitCodes[1], 3);
  t.equal(r.signals[0], 'SIGTERM', 'rank 0 (waiting forever) was terminated');
});

t.test('launch: bad options are coded errors', async (t) => {
  t.throws(() => dist.launch({ nprocPerNode: 0, script: WORKER }), { code: 'ERR_INVALID_ARG', message: /nprocPerNode/ });
  t.throws(() => dist.launch({ nprocPerNode: 2, script: '' }), { code: 'ERR_INVALID_ARG', message: /script/ });
});
