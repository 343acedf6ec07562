"""Python peer of bench/ops_dispatch.ts: the same ops, sizes, thread count and timing method.

  /usr/bin/python3 bench/py/ops_dispatch.py --threads N            # standalone: prints JSON
  /usr/bin/python3 bench/py/ops_dispatch.py --threads N --serve    # driven by ops_dispatch.ts

In --serve mode it reads lines "NAME N" from stdin, runs case NAME N times and prints the mean µs per
call, so that the TypeScript side can interleave its rounds with Python's (same background load).
Threads: torch.set_num_threads(N) and OpenBLAS's pool set to N as well (ours does the same).
"""
import argparse
import ctypes
import json
import sys
import time

import torch


def set_blas_threads(n):
    for lib in ('libopenblas.so.0', 'libblas.so.3'):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL).openblas_set_num_threads(n)
            return True
        except (OSError, AttributeError):
            continue
    return False


def make_cases():
    torch.manual_seed(0)
    F = torch.nn.functional
    a4, b4 = torch.randn(4), torch.randn(4)
    m1, m2 = torch.randn(64, 64), torch.randn(64, 64)
    ln_x, ln_w, ln_b = torch.randn(4, 16, 64), torch.randn(64), torch.randn(64)
    sm_x = torch.randn(4, 64)
    big1, big2 = torch.randn(1024, 1024), torch.randn(1024, 1024)
    cv_x = torch.randn(2, 3, 224, 224, 8)
    cv_w, cv_b = torch.randn(768, 3, 16, 16, 2) * 0.02, torch.zeros(768)

    def loop(op):
        def run(n):
            for _ in range(n):
                op()
        return run

    return {
        'add_4': loop(lambda: a4.add(b4)),
        'add_4_scalar': loop(lambda: a4.add(1)),
        'matmul_64': loop(lambda: m1.matmul(m2)),
        'layer_norm_4x16x64': loop(lambda: F.layer_norm(ln_x, (64,), ln_w, ln_b, 1e-6)),
        'softmax_4x64': loop(lambda: sm_x.softmax(-1)),
        'matmul_1024': loop(lambda: big1.matmul(big2)),
        'conv3d_patch_embed': loop(lambda: F.conv3d(cv_x, cv_w, cv_b, stride=(16, 16, 2))),
    }


def timed(fn, n):
    t0 = time.perf_counter_ns()
    fn(n)
    return (time.perf_counter_ns() - t0) / n / 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--serve', action='store_true')
    ap.add_argument('--n', type=int, default=20000)
    ap.add_argument('--rounds', type=int, default=9)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    blas = set_blas_threads(args.threads)
    cases = make_cases()
    if args.serve:
        print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas_threads_set': blas}), flush=True)
        for line in sys.stdin:
            name, n = line.split()
            print(json.dumps({'us': timed(cases[name], int(n))}), flush=True)
        return
    out = {}
    for name, fn in cases.items():
        n = 2 if name == 'conv3d_patch_embed' else 10 if name == 'matmul_1024' else args.n
        fn(max(1, n // 10))
        per = sorted(timed(fn, n) for _ in range(args.rounds))
        out[name] = {'median_us': per[len(per) // 2], 'min_us': per[0]}
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'results': out}, indent=1))


if __name__ == '__main__':
    main()
