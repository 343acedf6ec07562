"""Python peer of bench/ops_dispatch.ts: the same ops, sizes, thread count and timing method.

Usage: /usr/bin/python3 bench/py/ops_dispatch.py --threads N [--quick] [--only name,name]
Prints one JSON object: { torch, threads, results: { name: { us, rounds } } }.
"""
import argparse
import json
import time

import torch


def bench(fn, n, rounds):
    """Median over `rounds` of the mean µs per call of n calls (after a warm-up round)."""
    fn(max(1, n // 10))
    per = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn(n)
        per.append((time.perf_counter_ns() - t0) / n / 1000.0)
    per.sort()
    return per[len(per) // 2], per


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--only', default='')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    q = 0.2 if args.quick else 1.0
    only = set(filter(None, args.only.split(',')))

    a4, b4 = torch.randn(4), torch.randn(4)
    m1, m2 = torch.randn(64, 64), torch.randn(64, 64)
    ln_x, ln_w, ln_b = torch.randn(4, 16, 64), torch.randn(64), torch.randn(64)
    sm_x = torch.randn(4, 64)
    big1, big2 = torch.randn(1024, 1024), torch.randn(1024, 1024)
    cv_x = torch.randn(2, 3, 224, 224, 8)
    cv_w, cv_b = torch.randn(768, 3, 16, 16, 2) * 0.02, torch.zeros(768)
    F = torch.nn.functional

    def loop(op):
        def run(n):
            for _ in range(n):
                op()
        return run

    cases = {
        # name: (fn(n), n, rounds)
        'add_4': (loop(lambda: a4.add(b4)), 200000, 15),
        'add_4_noalloc_out': (loop(lambda: torch.add(a4, b4, out=a4.new_empty(0))), 100000, 7),
        'matmul_64': (loop(lambda: m1.matmul(m2)), 20000, 15),
        'layer_norm_4x16x64': (loop(lambda: F.layer_norm(ln_x, (64,), ln_w, ln_b, 1e-6)), 20000, 15),
        'softmax_4x64': (loop(lambda: sm_x.softmax(-1)), 50000, 15),
        'matmul_1024': (loop(lambda: big1.matmul(big2)), 10, 7),
        'conv3d_patch_embed': (loop(lambda: F.conv3d(cv_x, cv_w, cv_b, stride=(16, 16, 2))), 2, 5),
    }
    out = {}
    with torch.no_grad() if False else torch.enable_grad():
        for name, (fn, n, rounds) in cases.items():
            if only and name not in only:
                continue
            med, per = bench(fn, max(1, int(n * q)), rounds)
            out[name] = {'us': med, 'rounds': per}
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'results': out}))


if __name__ == '__main__':
    main()
