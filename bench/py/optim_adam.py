"""PyTorch peer of bench/optim_adam.ts: one torch.optim.Adam step over the full Social-MAE pretrain
parameter set (647 tensors, 192,772,608 parameters; shapes from the fixtures manifest).

    /usr/bin/python3 bench/py/optim_adam.py --threads 2 --reps 5 [--device cuda] [--impl single|foreach|fused]

Hyperparameters are the reference pretraining's: lr 1e-3, betas (0.95, 0.999), weight_decay 5e-7.
`impl` picks torch's implementation: single (per-parameter `_single_tensor_adam`, what torch uses by
default on the CPU), foreach (multi-tensor), fused (2.x; CUDA, CPU from 2.4), default (torch decides:
foreach on CUDA in 2.x). cpu_median_s is the process CPU time per step (all threads), a steadier
figure than wall time on a shared machine. The first step (which
allocates the state) is timed separately; the figure is the median of `reps` further steps.
Prints one JSON object.
"""
import argparse
import json
import os
import resource
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'manifest_socialmae_pretrain_full.json')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--impl', default='single', choices=['default', 'single', 'foreach', 'fused'])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(MANIFEST) as f:
        shapes = list(json.load(f).values())
    torch.manual_seed(0)
    dev = torch.device(args.device)
    params = [torch.randn(s, device=dev).requires_grad_(True) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, device=dev).mul_(1e-3)
    kw = dict(lr=1e-3, betas=(0.95, 0.999), weight_decay=5e-7)
    if args.impl == 'foreach':
        kw['foreach'] = True
    elif args.impl == 'fused':
        kw['fused'] = True
    elif args.impl == 'single':
        kw['foreach'] = False
    opt = torch.optim.Adam(params, **kw)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)

    cpu = []

    def timed():
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        opt.step()
        sync()
        cpu.append(time.process_time() - c0)
        return time.perf_counter() - t0

    first = timed()
    times = [timed() for _ in range(args.reps)]
    med = sorted(times)[len(times) // 2]
    cpu_med = sorted(cpu[1:])[len(times) // 2]
    print(json.dumps({
        'side': 'pytorch', 'impl': args.impl, 'device': args.device, 'tensors': len(params),
        'params': sum(p.numel() for p in params), 'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'first_step_s': first, 'times_s': times, 'median_s': med, 'cpu_median_s': cpu_med,
        'max_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    main()
