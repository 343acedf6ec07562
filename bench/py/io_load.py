"""PyTorch peer of bench/io_load.ts: `torch.load` of a full-size Social-MAE state dict.

    /usr/bin/python3 bench/py/io_load.py --make /tmp/socialmae_full.pth     # write the file (once)
    /usr/bin/python3 bench/py/io_load.py --load /tmp/socialmae_full.pth     # one timed load

--make writes an OrderedDict with every parameter of the full-size pretraining model (the shapes of
test/fixtures/manifest_socialmae_pretrain_full.json, keys with their `module.` prefix, as in the
released DataParallel checkpoints), random float32 values (seed 0), in the default zip format.
--load runs in a fresh process: imports torch, records the RSS, then times one
`torch.load(path, map_location='cpu')` (plus `weights_only=True` with --weights-only) and prints one
JSON object with the time, the RSS before the load and the peak RSS (ru_maxrss) after it.
"""
import argparse
import collections
import json
import os
import resource
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'manifest_socialmae_pretrain_full.json')


def rss_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def make(path):
    with open(MANIFEST) as f:
        shapes = json.load(f)
    torch.manual_seed(0)
    sd = collections.OrderedDict((k, torch.randn(s)) for k, s in shapes.items())
    torch.save(sd, path)
    n = sum(t.numel() for t in sd.values())
    print(json.dumps({'file': path, 'tensors': len(sd), 'params': n, 'bytes': os.path.getsize(path)}))


def load(path, weights_only):
    torch.set_num_threads(1)
    before = rss_mb()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    sd = torch.load(path, map_location='cpu', weights_only=True) if weights_only else torch.load(path, map_location='cpu')
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = sum(t.numel() for t in sd.values())
    print(json.dumps({
        'side': 'pytorch', 'torch': torch.__version__, 'weights_only': weights_only, 'tensors': len(sd), 'params': n,
        'time_s': dt, 'cpu_user_s': r1.ru_utime - r0.ru_utime, 'cpu_sys_s': r1.ru_stime - r0.ru_stime, 'rss_before_mb': before, 'rss_after_mb': rss_mb(),
        'max_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--make')
    ap.add_argument('--load')
    ap.add_argument('--weights-only', action='store_true')
    args = ap.parse_args()
    if args.make:
        make(args.make)
    if args.load:
        load(args.load, args.weights_only)


if __name__ == '__main__':
    main()
