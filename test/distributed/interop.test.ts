/**
 * One process group, two languages: a Node rank (rank_worker.ts, this package over LibTorch's c10d) and a
 * Python rank (/usr/bin/python3, torch.distributed with gloo, init_method env://) rendezvous on one
 * TCPStore and run all-reduce (sum, min, max, product; avg as sum then divide), broadcast, all-gather and
 * barrier together — the proof that this is PyTorch's engine and wire protocol, not a look-alike. Both
 * directions: the Node rank hosting the store (rank 0) and the Python rank hosting it.
 */
import t from 'tap';
import * as path from 'path';
import * as dist from '../../lib/distributed';
import { freePort, pythonWithGloo, start, WORKER } from './helpers';

const LIMIT_MS = 120_000;
const PEER = path.join(__dirname, '..', '..', '..', 'test', 'distributed', 'py_peer.py');
const py = dist.availableBackends().includes('gloo') ? pythonWithGloo() : null;
const skip = py ? false : 'needs this build with Gloo and /usr/bin/python3 with torch.distributed (gloo)';

for (const nodeRank of [0, 1]) {
  t.test(`Node rank ${nodeRank} and Python rank ${1 - nodeRank} share one process group`, { skip }, async (t) => {
    const port = await freePort();
    const env = (rank: number) => ({ RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), SOCIAL_MAE_NUM_THREADS: '1' });
    const node = start(process.execPath, [WORKER, 'collectives'], env(nodeRank), LIMIT_MS);
    const python = start(py!, [PEER], env(1 - nodeRank), LIMIT_MS);
    const [n, p] = await Promise.all([node.done, python.done]);
    t.equal(n.code, 0, `node rank exits 0 (${n.stderr.slice(-400)})`);
    t.equal(p.code, 0, `python rank exits 0 (${p.stderr.slice(-400)})`);
    const a = n.report!,
      b = p.report!;
    t.equal(a.rank, nodeRank);
    t.equal(b.rank, 1 - nodeRank);
    // Expected values from the contributions [r+1, 2(r+1), -r] of ranks 0 and 1.
    const expected = {
      sum: [3, 6, -1],
      avg: [1.5, 3, -0.5],
      min: [1, 2, -1],
      max: [2, 4, 0],
      product: [2, 8, 0],
      intSum: 3,
      broadcast: [7, 7, 7, 7],
      metrics: { acc: 0.5, loss: 1.5 },
    };
    for (const [k, v] of Object.entries(expected)) {
      t.same(a[k], v, `node: ${k}`);
      t.same(b[k], v, `python: ${k}`);
    }
    const gathered = [
      [0, 0],
      [1, 10],
    ];
    t.same(a.allGather, gathered);
    t.same(b.allGather, gathered);
  });
}

// torchrun (torch elastic) hosts the TCPStore in its agent and sets TORCHELASTIC_USE_AGENT_STORE: every
// rank is then a client under the prefix /worker/attempt_N. Debian's torchrun itself fails before starting
// workers under Python 3.11 (to_map on a None redirect), so the agent's store is started directly here.
t.test("torchrun's agent store: two Node ranks join a TCPStore hosted by a Python agent", { skip }, async (t) => {
  const port = await freePort();
  const agent = start(
    py!,
    [
      '-c',
      `import torch.distributed as d, datetime, time\ns = d.TCPStore('127.0.0.1', ${port}, 3, True, datetime.timedelta(seconds=60), wait_for_workers=False)\nprint('up', flush=True)\ntime.sleep(600)`,
    ],
    {},
    LIMIT_MS,
  );
  await agent.waitFor('up');
  const env = (rank: number) => ({
    RANK: String(rank),
    WORLD_SIZE: '2',
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    TORCHELASTIC_USE_AGENT_STORE: 'True',
    TORCHELASTIC_RESTART_COUNT: '0',
    SOCIAL_MAE_NUM_THREADS: '1',
  });
  const ranks = await Promise.all([0, 1].map((r) => start(process.execPath, [WORKER, 'collectives'], env(r), LIMIT_MS).done));
  agent.child.kill('SIGKILL');
  await agent.done;
  for (const [rank, r] of ranks.entries()) {
    t.equal(r.code, 0, `rank ${rank}: ${r.stderr.slice(-400)}`);
    t.same(r.report!.sum, [3, 6, -1]);
    t.same(r.report!.broadcast, [7, 7, 7, 7]);
  }
});
