"""A Python rank for test/distributed/interop.test.ts: joins the same process group as a Node rank
(torch.distributed, gloo, init_method env:// from RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT) and runs
the collectives of rank_worker.ts's `collectives` scenario in the same order. Prints one JSON line."""
import json
import os
from datetime import timedelta

import torch
import torch.distributed as dist

dist.init_process_group("gloo", init_method="env://", timeout=timedelta(seconds=60))
rank, world = dist.get_rank(), dist.get_world_size()
out = {"rank": rank, "world": world, "python": torch.__version__}
for op, red in [("sum", dist.ReduceOp.SUM), ("avg", dist.ReduceOp.SUM), ("min", dist.ReduceOp.MIN),
                ("max", dist.ReduceOp.MAX), ("product", dist.ReduceOp.PRODUCT)]:
    t = torch.tensor([rank + 1, 2 * (rank + 1), -rank], dtype=torch.float32)
    dist.all_reduce(t, red)
    if op == "avg":  # Gloo has no AVG: the Node side sums and divides, so does this side
        t /= world
    out[op] = t.tolist()
ints = torch.tensor([rank + 1], dtype=torch.int64)
dist.all_reduce(ints)
out["intSum"] = int(ints[0])
b = torch.full((4,), 7.0 if rank == 1 else float(rank))
dist.broadcast(b, 1)
out["broadcast"] = b.tolist()
gathered = [torch.zeros(2) for _ in range(world)]
dist.all_gather(gathered, torch.tensor([float(rank), rank * 10.0]))
out["allGather"] = [g.tolist() for g in gathered]
m = torch.tensor([float(rank), rank + 1.0], dtype=torch.float64)  # reduceMetrics: keys sorted (acc, loss), mean
dist.all_reduce(m)
m /= world
out["metrics"] = {"acc": m[0].item(), "loss": m[1].item()}
dist.barrier()
dist.destroy_process_group()
print(json.dumps(out), flush=True)
