"""PyTorch peer of bench/ddp_scaling.ts: the same Social-MAE FT model (bench/py/model_cpu.py's FT) trained
with torch.nn.parallel.DistributedDataParallel (gloo, env://) when WORLD_SIZE is set, else alone.

    RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 python3 bench/py/ddp_scaling.py --batch 4 --threads 1

Prints one JSON line: {"rank", "world", "times_s", "median_s", "torch"} (step = zero_grad, forward,
backward with DDP's overlapped bucket all-reduce, SGD step)."""
import argparse
import importlib.util
import json
import os
import statistics
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('model_cpu', os.path.join(HERE, 'model_cpu.py'))
model_cpu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model_cpu)

ap = argparse.ArgumentParser()
ap.add_argument('--batch', type=int, required=True)
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--steps', type=int, default=5)
ap.add_argument('--warmup', type=int, default=2)
ap.add_argument('--dim', type=int, default=128)
ap.add_argument('--heads', type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
cfg = dict(img=64, audio_length=128, n_frame=4, dim=a.dim, heads=a.heads)
model = model_cpu.FT(6, **cfg)
world = int(os.environ.get('WORLD_SIZE', '1') or '1')
rank = 0
if 'WORLD_SIZE' in os.environ:
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method='env://')
    rank = dist.get_rank()
    # the multimodal forward leaves the modality-specific norms unused: DDP must be told
    model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
audio = torch.randn(a.batch, 128, 128)
video = torch.randn(a.batch, 3, 64, 64, 4)
times = []
for s in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    model(audio, video).square().mean().backward()
    opt.step()
    if s >= a.warmup:
        times.append(time.perf_counter() - t0)
if world > 1:
    dist.destroy_process_group()
print(json.dumps({'rank': rank, 'world': world, 'times_s': times, 'median_s': statistics.median(times), 'torch': torch.__version__}), flush=True)
